import Foundation
import NGPTNumerics
import NGPTModels

/// One row of an ablation study: a named change to the default run of one model.
///
/// A variant the library can describe is a change to the run's configuration (``change``);
/// `ngpt train --config` can then run it, so the CLI runs it as a child process and a Slurm job
/// array can too. A variant written outside the library also gives ``architecture``, which
/// builds its model; such studies run in-process (``AblationStudy/run(in:progress:)``).
///
/// ```swift
/// var study = AblationStudy(settings: settings)
/// study.variants.append(AblationVariant(name: "qk-norm-gpt", summary: "GPT with RMS-normalised q and k",
///                                       kind: .gpt, architecture: { QKNormGPT(config: $0) }))
/// ```
public struct AblationVariant: Sendable {
    /// The row's name: also its run directories' prefix and what `--variants` selects.
    public var name: String
    /// What the row changes, in a few words.
    public var summary: String
    /// The model whose default run (its recipe, its learning rate) the variant starts from.
    public var kind: ModelKind
    /// The paper's reported change of the final validation loss against default nGPT, where the
    /// paper gives one (Tables 4–6), as text such as "+1.94 %".
    public var paper: String?
    /// Turns the default run of ``kind`` into this variant.
    public var change: @Sendable (inout RunConfiguration) -> Void
    /// Builds the model when the configuration cannot describe it (an architecture written
    /// outside the library); nil for the library's own architectures.
    public var architecture: (@Sendable (ModelConfig) -> any Architecture)?

    public init(name: String, summary: String, kind: ModelKind, paper: String? = nil,
                change: @escaping @Sendable (inout RunConfiguration) -> Void = { _ in },
                architecture: (@Sendable (ModelConfig) -> any Architecture)? = nil) {
        self.name = name
        self.summary = summary
        self.kind = kind
        self.paper = paper
        self.change = change
        self.architecture = architecture
    }

    /// The row every other is measured against.
    public static let referenceName = "ngpt"

    /// A variant that changes only nGPT's model configuration.
    static func ngpt(_ name: String, _ summary: String, paper: String? = nil, _ edit: @escaping @Sendable (inout ModelConfig) -> Void) -> AblationVariant {
        AblationVariant(name: name, summary: summary, kind: .ngpt, paper: paper) { edit(&$0.model) }
    }

    private static func setMode(_ c: inout ModelConfig, _ scaler: String, _ mode: ScalerMode) {
        switch scaler {
        case "alpha": c.alpha.mode = mode
        case "sqk": c.sqk.mode = mode
        case "suv": c.suv.mode = mode
        default: c.sz.mode = mode
        }
    }

    /// The default set: default nGPT and GPT, every ablation of the paper's Tables 4–6 (each
    /// scaler as one scalar or fixed, the s_init/s_scale changes the paper reports, all
    /// scalers scalar, fixed s_qk and s_uv with a scalar s_z, no q/k normalisation, signed α),
    /// and what the paper's critics ask: nGPT without weight normalisation, without the
    /// normalisation after the residual update, with GPT's recipe (weight decay and warm-up),
    /// GPT with q/k normalisation, and bfloat16 storage of the block matrices for both models.
    public static let defaultSet: [AblationVariant] = {
        var rows = [
            AblationVariant(name: "ngpt", summary: "default nGPT (the reference)", kind: .ngpt),
            AblationVariant(name: "gpt", summary: "default GPT", kind: .gpt),
        ]
        for scaler in ["alpha", "sqk", "suv", "sz"] {
            for mode in [ScalerMode.scalar, .fixed] {
                rows.append(ngpt("\(scaler)-\(mode.rawValue)", "\(scaler) as \(mode == .scalar ? "one learnable scalar" : "a fixed constant (its s_init)")") {
                    setMode(&$0, scaler, mode)
                })
            }
        }
        rows += [
            ngpt("sqk-init0.05-scale1", "s_qk with s_init 0.05, s_scale 1", paper: "+1.94 %") {
                $0.sqk.initValue = 0.05
                $0.sqk.scale = 1
            },
            ngpt("sz-scale1", "s_z with s_scale 1", paper: "+3.12 %") { $0.sz.scale = 1 },
            ngpt("all-scalar", "every scaler one learnable scalar", paper: "+0.62 %") {
                for scaler in ["alpha", "sqk", "suv", "sz"] { setMode(&$0, scaler, .scalar) }
            },
            ngpt("sqk-suv-fixed-sz-scalar", "s_qk and s_uv fixed, s_z one scalar", paper: "≤ +0.4 %") {
                $0.sqk.mode = .fixed
                $0.suv.mode = .fixed
                $0.sz.mode = .scalar
            },
            ngpt("no-qk-norm", "q and k not normalised", paper: "+0.12 %") { $0.qkNormalization = false },
            ngpt("signed-alpha", "α used signed instead of |α|") { $0.alpha.absolute = false },
            ngpt("no-weight-norm", "matrices not renormalised after each step") { $0.weightNormalization = false },
            ngpt("no-residual-norm", "no normalisation after the LERP update") { $0.residualNormalization = false },
            AblationVariant(name: "ngpt-gpt-recipe", summary: "nGPT with GPT's weight decay and warm-up", kind: .ngpt) { run in
                let gpt = TrainingOptions(recipe: .gpt, steps: run.training.steps)
                run.training.weightDecay = gpt.weightDecay
                run.training.warmup = gpt.warmup
            },
            AblationVariant(name: "gpt-qk-norm", summary: "GPT with RMS-normalised q and k", kind: .gpt) { $0.model.gptQKNormalization = true },
            AblationVariant(name: "ngpt-bf16", summary: "nGPT, block matrices stored in bfloat16", kind: .ngpt) { $0.training.parameterPrecision = .bf16 },
            AblationVariant(name: "gpt-bf16", summary: "GPT, block matrices stored in bfloat16", kind: .gpt) { $0.training.parameterPrecision = .bf16 },
        ]
        return rows
    }()
}

/// What `ngpt ablate` measures: the shape, the one budget, the seeds, the learning rate of each
/// model, and how runs are evaluated. Every variant of a model trains at that model's rate.
public struct AblationSettings: Codable, Sendable, Equatable {
    /// The data directory (absolute path).
    public var data: String
    /// The shape (`kind` is set per variant).
    public var model: ModelConfig
    /// Optimiser steps of every run (one full cosine schedule).
    public var budget: Int
    /// Seeds `0..<seeds` for every variant; a seed means the same initial draw and the same
    /// batches in every variant of a model.
    public var seeds: Int
    public var batchSize: Int
    public var lrGPT: Double
    public var lrNGPT: Double
    /// Where the learning rates came from (e.g. "the recipes' defaults", a comparison report).
    public var lrSource: String
    /// The rows, by name, in report order.
    public var variants: [String]
    public var evalBatches: Int
    /// Evaluations along each run (the learning curve), besides the start and the end.
    public var evalPoints: Int
    /// BLAS threads of each run.
    public var threadsPerRun: Int

    public init(data: String, model: ModelConfig, budget: Int, seeds: Int = 3, batchSize: Int = 16,
                lrGPT: Double? = nil, lrNGPT: Double? = nil, lrSource: String? = nil,
                variants: [String] = AblationVariant.defaultSet.map(\.name), evalBatches: Int = 10, evalPoints: Int = 10,
                threadsPerRun: Int = 1) {
        self.data = data
        self.model = model
        self.budget = budget
        self.seeds = seeds
        self.batchSize = batchSize
        self.lrGPT = lrGPT ?? TrainingRecipe.gpt.learningRate
        self.lrNGPT = lrNGPT ?? TrainingRecipe.ngpt.learningRate
        self.lrSource = lrSource ?? (lrGPT == nil && lrNGPT == nil ? "the recipes' defaults" : "given")
        self.variants = variants
        self.evalBatches = evalBatches
        self.evalPoints = evalPoints
        self.threadsPerRun = threadsPerRun
    }

    public func validate() throws {
        func fail(_ s: String) -> TrainingError { .invalidOption(s) }
        guard budget >= 1 else { throw fail("--budget must be at least 1, got \(budget)") }
        guard seeds >= 1, seeds <= 10_000 else { throw fail("--seeds must be between 1 and 10000, got \(seeds)") }
        guard batchSize >= 1, evalBatches >= 1, evalPoints >= 0, threadsPerRun >= 1 else {
            throw fail("--batch, --eval-batches and --threads-per-run must be at least 1")
        }
        guard [lrGPT, lrNGPT].allSatisfy({ $0 > 0 && $0.isFinite }) else { throw fail("learning rates must be positive") }
        guard !variants.isEmpty else { throw fail("--variants is empty: name at least one row") }
        guard Set(variants).count == variants.count else { throw fail("--variants names a row twice: \(variants)") }
        guard variants.contains(AblationVariant.referenceName) else {
            throw fail("--variants lacks \(AblationVariant.referenceName), the default nGPT every row's change is measured against; add it (e.g. --variants \(([AblationVariant.referenceName] + variants).joined(separator: ",")))")
        }
        try model.validate()
    }
}

/// An ablation study: the settings and the rows. The library's rows are
/// ``AblationVariant/defaultSet``; a study may add its own (also architectures written outside
/// the library).
public struct AblationStudy: Sendable {
    public var settings: AblationSettings
    /// Every variant the study knows; ``AblationSettings/variants`` selects and orders the rows.
    public var variants: [AblationVariant]

    public init(settings: AblationSettings, variants: [AblationVariant] = AblationVariant.defaultSet) {
        self.settings = settings
        self.variants = variants
    }

    /// The selected rows, in the settings' order; throws for a name no variant has.
    public func rows() throws -> [AblationVariant] {
        try settings.variants.map { name in
            guard let v = variants.first(where: { $0.name == name }) else {
                let known = variants.map(\.name).joined(separator: ", ")
                throw TrainingError.invalidOption("--variants: no row is called '\(ErrorText.cut(name))'; the rows are \(known)")
            }
            return v
        }
    }

    /// The default run of `kind`: the study's shape, the model's recipe with the study's budget,
    /// batch, rate and `seed`, evaluated on the report half of the validation text (so rates
    /// chosen on its selection half by `ngpt compare` are never scored on the text that chose
    /// them).
    public func defaultRun(_ kind: ModelKind, seed: Int) -> RunConfiguration {
        let s = settings
        var run = RunConfiguration.study(kind, shape: s.model, context: s.model.context, steps: s.budget, batchSize: s.batchSize,
                                         seed: seed, learningRate: kind == .gpt ? s.lrGPT : s.lrNGPT, evalPoints: s.evalPoints,
                                         evalBatches: s.evalBatches, data: s.data)
        run.training.validationPart = .report
        return run
    }

    /// The run of `variant` at `seed`.
    public func run(_ variant: AblationVariant, seed: Int) -> ScheduledRun {
        var c = defaultRun(variant.kind, seed: seed)
        variant.change(&c)
        return ScheduledRun(id: "\(variant.name)-seed\(seed)", configuration: c)
    }

    /// Every run of the study, seed by seed (so an interrupted study has every row at the
    /// first seeds).
    public func runs() throws -> [ScheduledRun] {
        let rows = try rows()
        return (0..<settings.seeds).flatMap { seed in rows.map { run($0, seed: seed) } }
    }

    /// Checks every run's configuration, naming the row of the first that cannot be built.
    public func validate() throws {
        try settings.validate()
        for v in try rows() {
            let c = run(v, seed: 0).configuration
            do {
                try c.model.validate()
                try c.training.validate()
                if let build = v.architecture { _ = build(c.model).parameters }
            } catch {
                throw TrainingError.invalidOption("row \(v.name): \(error)")
            }
        }
    }
}
