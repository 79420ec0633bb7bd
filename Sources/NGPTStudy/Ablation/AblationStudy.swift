import Foundation
import NGPTNumerics
import NGPTModels

/// One of nGPT's four learnable scalers, as an ablation names it.
public enum NGPTScaler: String, Codable, Sendable, CaseIterable {
    case alpha, sqk, suv, sz

    /// The scaler's configuration in `config`.
    public var keyPath: WritableKeyPath<ModelConfig, ScalerConfig> {
        switch self {
        case .alpha: return \.alpha
        case .sqk: return \.sqk
        case .suv: return \.suv
        case .sz: return \.sz
        }
    }

    /// The scaler's name as the paper writes it.
    public var symbol: String {
        switch self {
        case .alpha: return "α"
        case .sqk: return "s_qk"
        case .suv: return "s_uv"
        case .sz: return "s_z"
        }
    }
}

/// One value for each of nGPT's scalers: the values a trained default nGPT reaches, which the
/// scale-matched rows fix their scaler at.
public struct ScalerValues: Codable, Sendable, Equatable {
    /// Mean effective |α| over α_A and α_M, every layer.
    public var alpha: Double
    /// Mean effective s_qk.
    public var sqk: Double
    /// Mean effective |s_u| and |s_ν| (without the √d factor).
    public var suv: Double
    /// Mean effective s_z.
    public var sz: Double

    public init(alpha: Double, sqk: Double, suv: Double, sz: Double) {
        self.alpha = alpha
        self.sqk = sqk
        self.suv = suv
        self.sz = sz
    }

    public subscript(scaler: NGPTScaler) -> Double {
        switch scaler {
        case .alpha: return alpha
        case .sqk: return sqk
        case .suv: return suv
        case .sz: return sz
        }
    }

    /// Each value to three significant digits (what the scale-matched rows fix, so that run
    /// files show round numbers).
    public var rounded: ScalerValues {
        func r(_ v: Double) -> Double { Double(String(format: "%.3g", v)) ?? v }
        return ScalerValues(alpha: r(alpha), sqk: r(sqk), suv: r(suv), sz: r(sz))
    }

    /// The final scalers of finished default-nGPT runs, averaged over layers and runs; nil if a
    /// run lacks them.
    public static func mean(of runs: [TrainedRun]) -> ScalerValues? {
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        var a = [Double](), q = [Double](), uv = [Double](), z = [Double]()
        for r in runs {
            guard let alphaA = r.alphaA, let alphaM = r.alphaM, let sqk = r.sqk, let su = r.su, let sv = r.sv, let sz = r.szMean,
                  let ma = mean(alphaA + alphaM), let mq = mean(sqk), let muv = mean(su + sv) else { return nil }
            a.append(ma); q.append(mq); uv.append(muv); z.append(sz)
        }
        guard let alpha = mean(a), let sqk = mean(q), let suv = mean(uv), let sz = mean(z) else { return nil }
        return ScalerValues(alpha: alpha, sqk: sqk, suv: suv, sz: sz)
    }

    /// Parses `alpha=0.3,sqk=1.9,suv=1.1,sz=22` (all four).
    public init(parsing text: String) throws {
        var v = [String: Double]()
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, let scaler = NGPTScaler(rawValue: kv[0]), let x = Double(kv[1]), x.isFinite, x > 0 else {
                throw TrainingError.invalidOption("--trained-values: '\(ErrorText.cut(String(part)))' is not SCALER=VALUE with SCALER one of alpha, sqk, suv, sz and a positive VALUE; e.g. --trained-values alpha=0.3,sqk=1.9,suv=1.1,sz=22")
            }
            v[scaler.rawValue] = x
        }
        let missing = NGPTScaler.allCases.map(\.rawValue).filter { v[$0] == nil }
        guard missing.isEmpty else {
            throw TrainingError.invalidOption("--trained-values lacks \(missing.joined(separator: ", ")): give all four, e.g. --trained-values alpha=0.3,sqk=1.9,suv=1.1,sz=22")
        }
        self.init(alpha: v["alpha"]!, sqk: v["sqk"]!, suv: v["suv"]!, sz: v["sz"]!)
    }
}

/// One row of an ablation study: a named change to the default run of one model.
///
/// A variant the library can describe is a change to the run's configuration (``change``);
/// `ngpt train --config` can then run it, so the CLI runs it as a child process and a Slurm job
/// array can too. A variant written outside the library also gives ``architecture``, which
/// builds its model; such studies run in-process (``AblationStudy/run(in:progress:)``).
///
/// A row may fix scalers at the values a trained default nGPT reaches (``fixedAtTrainedValue``:
/// it then waits for the study's default-nGPT runs) and may need a learning rate of its own
/// (``rate``: it is then tuned by the study, on the selection half of the validation text, the
/// way `ngpt compare` tunes).
///
/// ```swift
/// var study = AblationStudy(settings: settings)
/// study.variants.append(AblationVariant(name: "qk-norm-gpt", summary: "GPT with RMS-normalised q and k",
///                                       kind: .gpt, architecture: { QKNormGPT(config: $0) }))
/// ```
public struct AblationVariant: Sendable {
    /// Which learning rate a row trains with.
    public enum Rate: Sendable, Equatable {
        /// Its model's (default GPT's or default nGPT's) rate.
        case model
        /// A rate tuned for this row (when the study retunes, ``AblationSettings/retune``).
        case own
        /// A rate tuned for this row at each of these weight decays; the best pair wins.
        case ownWithWeightDecay([Double])
    }

    /// The row's name: also its run directories' prefix and what `--variants` selects.
    public var name: String
    /// What the row changes, in a few words.
    public var summary: String
    /// The model whose default run (its recipe, its learning rate) the variant starts from.
    public var kind: ModelKind
    /// Where the row comes from: "Table 4", "Table 5", "Table 6" of the paper, "scale-matched",
    /// "beyond the paper" or "reference".
    public var group: String
    /// The paper's reported change of the final validation loss against default nGPT, where the
    /// paper gives one (Tables 4–6), as text such as "+1.94 %".
    public var paper: String?
    /// Turns the default run of ``kind`` into this variant.
    public var change: @Sendable (inout RunConfiguration) -> Void
    /// Scalers fixed (after ``change``) at the value a trained default nGPT reaches.
    public var fixedAtTrainedValue: [NGPTScaler]
    public var rate: Rate
    /// Builds the model when the configuration cannot describe it (an architecture written
    /// outside the library); nil for the library's own architectures.
    public var architecture: (@Sendable (ModelConfig) -> any Architecture)?

    public init(name: String, summary: String, kind: ModelKind, group: String = "beyond the paper", paper: String? = nil,
                fixedAtTrainedValue: [NGPTScaler] = [], rate: Rate = .model,
                change: @escaping @Sendable (inout RunConfiguration) -> Void = { _ in },
                architecture: (@Sendable (ModelConfig) -> any Architecture)? = nil) {
        self.name = name
        self.summary = summary
        self.kind = kind
        self.group = group
        self.paper = paper
        self.fixedAtTrainedValue = fixedAtTrainedValue
        self.rate = rate
        self.change = change
        self.architecture = architecture
    }

    /// The row every other is measured against.
    public static let referenceName = "ngpt"

    /// The row whose rate a ``Rate/model`` row of `kind` trains with.
    public static func referenceName(of kind: ModelKind) -> String { kind.rawValue }

    /// A variant that changes only nGPT's model configuration.
    static func ngpt(_ name: String, _ group: String, _ summary: String, paper: String? = nil,
                     _ edit: @escaping @Sendable (inout ModelConfig) -> Void) -> AblationVariant {
        AblationVariant(name: name, summary: summary, kind: .ngpt, group: group, paper: paper) { edit(&$0.model) }
    }

    /// A variant that sets one scaler's s_init and s_scale (`nil` keeps the default).
    static func scales(_ name: String, _ scalers: [NGPTScaler], _ summary: String, paper: String,
                       initial: @escaping @Sendable (Double) -> Double?, scale: @escaping @Sendable (Double) -> Double?) -> AblationVariant {
        ngpt(name, "Table 4", summary, paper: paper) { c in
            let d = Double(c.width)
            for s in scalers {
                if let v = initial(d) { c[keyPath: s.keyPath].initValue = Float(v) }
                if let v = scale(d) { c[keyPath: s.keyPath].scale = Float(v) }
            }
        }
    }

    /// A variant that sets the mode of some scalers.
    static func modes(_ name: String, _ group: String, _ summary: String, paper: String?, _ modes: [NGPTScaler: ScalerMode]) -> AblationVariant {
        ngpt(name, group, summary, paper: paper) { c in
            for (s, mode) in modes { c[keyPath: s.keyPath].mode = mode }
        }
    }

    /// A row for every architecture this program registered besides `gpt` and `ngpt`
    /// (``/NGPTModels/ArchitectureRegistry``): its base model's default run with that architecture, at
    /// a rate tuned for it. Run files name the architecture, so `ngpt ablate`'s child processes,
    /// `--plan` scripts and resumed runs build it as long as the program registers it.
    public static func registeredRows() -> [AblationVariant] {
        ArchitectureRegistry.known.filter { !["gpt", "ngpt"].contains($0.name) }.map { e in
            AblationVariant(name: e.name, summary: e.summary, kind: e.baseKind, group: "registered", rate: .own) { $0.architecture = e.name }
        }
    }

    /// The value of s_qk that gives a head of width `dk` the attention-logit scale the paper's
    /// heads (width 64) have at s_qk = 1: the logit of unit q and k is s_qk² · cos · √dk, so
    /// s_qk = (64 / dk)^¼ (√2 at dk = 16).
    public static func paperAttentionScale(headWidth dk: Int) -> Double { pow(64 / Double(dk), 0.25) }

    /// The default set: default nGPT and GPT; every row of the paper's Tables 4–6 with the
    /// paper's reported change; the scale-matched rows (each scaler fixed at the value a trained
    /// default nGPT reaches, s_qk fixed at the paper's attention scale); and rows beyond the
    /// paper: α and s_z fixed at their initial values, signed α, nGPT without weight
    /// normalisation or without the normalisation after the residual update, nGPT with GPT's
    /// recipe, GPT with q/k normalisation (the last three with rates of their own), and bfloat16
    /// storage of the block matrices for both models.
    public static let defaultSet: [AblationVariant] = {
        let fixed = ScalerMode.fixed, scalar = ScalerMode.scalar
        var rows = [
            AblationVariant(name: "ngpt", summary: "default nGPT (the reference)", kind: .ngpt, group: "reference"),
            AblationVariant(name: "gpt", summary: "default GPT", kind: .gpt, group: "reference"),
        ]
        // Table 4: s_init / s_scale (effective value = stored · s_init / s_scale)
        let isqrt: @Sendable (Double) -> Double? = { 1 / $0.squareRoot() }
        let sqrt: @Sendable (Double) -> Double? = { $0.squareRoot() }
        let one: @Sendable (Double) -> Double? = { _ in 1 }
        let keep: @Sendable (Double) -> Double? = { _ in nil }
        rows += [
            scales("sqk-init0.33", [.sqk], "s_qk with s_init 0.33 (paper: trained mean 1.36)", paper: "−0.33 %", initial: { _ in 0.33 }, scale: keep),
            scales("sqk-init0.05", [.sqk], "s_qk with s_init 0.05 (paper: trained mean 1.01)", paper: "−0.09 %", initial: { _ in 0.05 }, scale: keep),
            scales("sqk-scale1", [.sqk], "s_qk with s_scale 1 (paper: trained mean 1.38)", paper: "−0.09 %", initial: keep, scale: one),
            scales("sqk-init0.33-scale1", [.sqk], "s_qk with s_init 0.33, s_scale 1 (paper: trained mean 1.11)", paper: "−0.08 %",
                   initial: { _ in 0.33 }, scale: one),
            scales("sqk-init0.05-scale1", [.sqk], "s_qk with s_init 0.05, s_scale 1 (paper: trained mean 0.29)", paper: "+1.94 %",
                   initial: { _ in 0.05 }, scale: one),
            scales("suv-init-isqrtd", [.suv], "s_u, s_ν with s_init 1/√d (paper: trained means 0.03, 0.03)", paper: "+0.92 %", initial: isqrt, scale: keep),
            scales("suv-scale-isqrtd", [.suv], "s_u, s_ν with s_scale 1/√d (paper: trained means 2.75, 11.2)", paper: "+0.05 %", initial: keep, scale: isqrt),
            scales("suv-init-isqrtd-scale-isqrtd", [.suv], "s_u, s_ν with s_init 1/√d, s_scale 1/√d (paper: trained means 0.40, 0.25)",
                   paper: "+0.48 %", initial: isqrt, scale: isqrt),
            scales("sz-init-sqrtd", [.sz], "s_z with s_init √d (paper: trained mean 106.1)", paper: "+1.06 %", initial: sqrt, scale: keep),
            scales("sz-scale1", [.sz], "s_z with s_scale 1 (paper: trained mean 23.6)", paper: "+3.12 %", initial: keep, scale: one),
            scales("sz-init-sqrtd-scale1", [.sz], "s_z with s_init √d, s_scale 1 (paper: trained mean 63.6)", paper: "+1.66 %", initial: sqrt, scale: one),
        ]
        // Table 5: one learned scalar instead of a vector, or fixed at 1
        rows += [
            modes("sqk-scalar", "Table 5", "s_qk one learnable scalar", paper: "+0.22 %", [.sqk: scalar]),
            modes("suv-scalar", "Table 5", "s_u and s_ν each one learnable scalar", paper: "+0.07 %", [.suv: scalar]),
            modes("sz-scalar", "Table 5", "s_z one learnable scalar (paper: trained 95.7)", paper: "+0.20 %", [.sz: scalar]),
            modes("alpha-scalar", "Table 5", "α_A and α_M each one learnable scalar (paper: trained 0.30, 0.36)", paper: "+0.22 %", [.alpha: scalar]),
            modes("sqk-suv-scalar", "Table 5", "s_qk, s_u and s_ν scalars", paper: "+0.17 %", [.sqk: scalar, .suv: scalar]),
            modes("sqk-suv-sz-scalar", "Table 5", "s_qk, s_u, s_ν and s_z scalars", paper: "+0.30 %", [.sqk: scalar, .suv: scalar, .sz: scalar]),
            modes("all-scalar", "Table 5", "every scaler one learnable scalar", paper: "+0.62 %", [.alpha: scalar, .sqk: scalar, .suv: scalar, .sz: scalar]),
            modes("sqk-fixed", "Table 5", "s_qk fixed at 1", paper: "+0.11 %", [.sqk: fixed]),
            modes("suv-fixed", "Table 5", "s_u and s_ν fixed at 1", paper: "+0.05 %", [.suv: fixed]),
            modes("sqk-suv-fixed", "Table 5", "s_qk, s_u and s_ν fixed at 1", paper: "+0.20 %", [.sqk: fixed, .suv: fixed]),
            modes("sqk-suv-fixed-sz-scalar", "Table 5", "s_qk, s_u and s_ν fixed at 1, s_z one scalar", paper: "+0.40 %",
                  [.sqk: fixed, .suv: fixed, .sz: scalar]),
            ngpt("no-qk-norm", "Table 6", "q and k not normalised (only rotated and scaled)", paper: "+0.12 %") { $0.qkNormalization = false },
            ngpt("signed-alpha", "appendix", "α used signed instead of |α|", paper: "same results") { $0.alpha.absolute = false },
        ]
        // fixed where a trained default model ends, and at the paper's attention scale
        for s in NGPTScaler.allCases {
            rows.append(AblationVariant(name: "\(s.rawValue)-fixed-trained", summary: "\(s.symbol) fixed at default nGPT's trained mean",
                                        kind: .ngpt, group: "scale-matched", fixedAtTrainedValue: [s]))
        }
        rows.append(AblationVariant(name: "sqk-fixed-paper-scale", summary: "s_qk fixed at (64/dk)^¼: the paper's attention-logit scale at s_qk = 1",
                                    kind: .ngpt, group: "scale-matched") { run in
            run.model.sqk.mode = .fixed
            run.model.sqk.initValue = Float((paperAttentionScale(headWidth: run.model.width / run.model.heads) * 1e4).rounded() / 1e4)
        })
        // beyond the paper
        let gptDecay = TrainingRecipe.gpt.weightDecay
        rows += [
            modes("alpha-fixed", "beyond the paper", "α fixed at its initial 0.05 (the paper never fixes α)", paper: nil, [.alpha: fixed]),
            modes("sz-fixed", "beyond the paper", "s_z fixed at its initial 1: logits are cosines (the paper never fixes s_z)", paper: nil, [.sz: fixed]),
            AblationVariant(name: "no-weight-norm", summary: "matrices not renormalised after each step", kind: .ngpt,
                            rate: .ownWithWeightDecay([0, gptDecay])) { $0.model.weightNormalization = false },
            ngpt("no-residual-norm", "beyond the paper", "no normalisation after the LERP update") { $0.residualNormalization = false },
            AblationVariant(name: "ngpt-gpt-recipe", summary: "nGPT with GPT's weight decay and warm-up", kind: .ngpt, rate: .own) { run in
                let gpt = TrainingOptions(recipe: .gpt, steps: run.training.steps)
                run.training.weightDecay = gpt.weightDecay
                run.training.warmup = gpt.warmup
            },
            AblationVariant(name: "gpt-qk-norm", summary: "GPT with RMS-normalised q and k", kind: .gpt, rate: .own) {
                $0.model.gptQKNormalization = true
            },
            AblationVariant(name: "ngpt-bf16", summary: "nGPT, block matrices stored in bfloat16", kind: .ngpt) { $0.training.parameterPrecision = .bf16 },
            AblationVariant(name: "gpt-bf16", summary: "GPT, block matrices stored in bfloat16", kind: .gpt) { $0.training.parameterPrecision = .bf16 },
        ]
        return rows
    }()
}
