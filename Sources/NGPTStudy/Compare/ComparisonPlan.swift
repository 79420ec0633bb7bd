import Foundation
import NGPTNumerics
import NGPTModels

/// What `ngpt compare` measures: the shape, the grid of contexts × budgets × seeds, the learning
/// rates to try, and how each run is trained and evaluated.
public struct ComparisonSettings: Codable, Sendable, Equatable {
    /// The data directory (absolute path).
    public var data: String
    /// The model shape; `kind` and `context` are set per run. nGPT ablation switches apply to
    /// the nGPT runs.
    public var model: ModelConfig
    public var contexts: [Int]
    /// Optimiser steps per run of both models, ascending; each run has its own full cosine
    /// schedule.
    public var budgets: [Int]
    /// Budgets only GPT trains at, beyond nGPT's largest, so that GPT's loss curve reaches
    /// nGPT's final losses (the speedup is then a number rather than a bound).
    public var gptBudgets: [Int]
    /// Seeds `0..<seeds` for every final run.
    public var seeds: Int
    /// Learning rates tried for each model at `tuneBudget`.
    public var lrGrid: [Double]
    /// Fixed learning rates that skip tuning.
    public var lrGPT: Double?
    public var lrNGPT: Double?
    public var tuneBudget: Int
    /// How the learning rates are chosen.
    public var tuning: TuningProcedure
    /// The training seed of the tuning runs (``TuningProcedure/separate``): not one of the final
    /// runs' seeds.
    public var tuningSeed: Int
    /// Sequences per batch at the first context.
    public var batchSize: Int
    /// Keep the tokens per step (batch × context) of the first context at every context.
    public var constantTokensPerStep: Bool
    public var evalBatches: Int
    /// Evaluations along each run (the validation curve), besides the start and the end.
    public var evalPoints: Int
    /// Context multiples at which every final model is also evaluated.
    public var extrapolation: [Int]
    public var extrapolationWindows: ExtrapolationWindows
    public var precision: ParameterPrecision
    /// BLAS threads of each run.
    public var threadsPerRun: Int

    /// GPT's extra budgets by default: 2× and 4× nGPT's largest.
    public static func defaultGPTBudgets(_ budgets: [Int]) -> [Int] {
        guard let largest = budgets.max(), largest <= Int.max / 4 else { return [] }
        return [2 * largest, 4 * largest]
    }

    public init(data: String, model: ModelConfig, contexts: [Int], budgets: [Int], gptBudgets: [Int]? = nil, seeds: Int,
                lrGrid: [Double], lrGPT: Double? = nil, lrNGPT: Double? = nil, tuneBudget: Int? = nil,
                tuning: TuningProcedure = .separate, tuningSeed: Int = 1000, batchSize: Int = 16,
                constantTokensPerStep: Bool = true, evalBatches: Int = 10, evalPoints: Int = 10,
                extrapolation: [Int] = [2, 4], extrapolationWindows: ExtrapolationWindows = .shared,
                precision: ParameterPrecision = .fp32, threadsPerRun: Int = 1) {
        self.data = data
        self.model = model
        self.contexts = contexts
        self.budgets = budgets.sorted()
        self.gptBudgets = (gptBudgets ?? Self.defaultGPTBudgets(budgets)).sorted()
        self.seeds = seeds
        self.lrGrid = lrGrid
        self.lrGPT = lrGPT
        self.lrNGPT = lrNGPT
        self.tuneBudget = tuneBudget ?? self.budgets[(self.budgets.count - 1) / 2]
        self.tuning = tuning
        self.tuningSeed = tuningSeed
        self.batchSize = batchSize
        self.constantTokensPerStep = constantTokensPerStep
        self.evalBatches = evalBatches
        self.evalPoints = evalPoints
        self.extrapolation = extrapolation
        self.extrapolationWindows = extrapolationWindows
        self.precision = precision
        self.threadsPerRun = threadsPerRun
    }

    /// Decodes a `settings.json`. Comparisons written before GPT's extra budgets, per-context
    /// tuning and shared extrapolation windows existed decode as what they were (no extra
    /// budgets, ``TuningProcedure/shared``, a fixed batch, separate windows), so they still
    /// resume and collect to the same numbers.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(data: try c.decode(String.self, forKey: .data), model: try c.decode(ModelConfig.self, forKey: .model),
                  contexts: try c.decode([Int].self, forKey: .contexts), budgets: try c.decode([Int].self, forKey: .budgets),
                  gptBudgets: try c.decodeIfPresent([Int].self, forKey: .gptBudgets) ?? [],
                  seeds: try c.decode(Int.self, forKey: .seeds), lrGrid: try c.decode([Double].self, forKey: .lrGrid),
                  lrGPT: try c.decodeIfPresent(Double.self, forKey: .lrGPT), lrNGPT: try c.decodeIfPresent(Double.self, forKey: .lrNGPT),
                  tuneBudget: try c.decode(Int.self, forKey: .tuneBudget),
                  tuning: try c.decodeIfPresent(TuningProcedure.self, forKey: .tuning) ?? .shared,
                  tuningSeed: try c.decodeIfPresent(Int.self, forKey: .tuningSeed) ?? 0,
                  batchSize: try c.decode(Int.self, forKey: .batchSize),
                  constantTokensPerStep: try c.decodeIfPresent(Bool.self, forKey: .constantTokensPerStep) ?? false,
                  evalBatches: try c.decode(Int.self, forKey: .evalBatches), evalPoints: try c.decode(Int.self, forKey: .evalPoints),
                  extrapolation: try c.decode([Int].self, forKey: .extrapolation),
                  extrapolationWindows: try c.decodeIfPresent(ExtrapolationWindows.self, forKey: .extrapolationWindows) ?? .separate,
                  precision: try c.decode(ParameterPrecision.self, forKey: .precision),
                  threadsPerRun: try c.decode(Int.self, forKey: .threadsPerRun))
        // an old file's budgets were written sorted; a hand-edited one is checked by validate()
    }

    /// Sequences per batch at context `t`: the first context's batch, scaled so that batch ×
    /// context stays the same when ``constantTokensPerStep``.
    public func batchSize(at t: Int) -> Int {
        constantTokensPerStep && t > 0 ? max(1, batchSize * contexts[0] / t) : batchSize
    }

    /// Training tokens per optimiser step at context `t`.
    public func tokensPerStep(at t: Int) -> Int { batchSize(at: t) * t }

    /// Every budget GPT trains at: the common ones and its extra ones.
    public var allGPTBudgets: [Int] { Array(Set(budgets + gptBudgets)).sorted() }

    public func validate() throws {
        func fail(_ s: String) -> TrainingError { .invalidOption(s) }
        guard !contexts.isEmpty, contexts.allSatisfy({ $0 >= 2 }) else { throw fail("--contexts needs values of at least 2") }
        guard Set(contexts).count == contexts.count else { throw fail("--contexts has repeated values: \(contexts)") }
        guard !budgets.isEmpty, budgets.allSatisfy({ $0 >= 1 }) else { throw fail("--budgets needs step counts of at least 1") }
        guard Set(budgets).count == budgets.count else { throw fail("--budgets has repeated values: \(budgets)") }
        if let largest = budgets.max(), let small = gptBudgets.first(where: { $0 <= largest }) {
            let example = largest <= Int.max / 4 ? " (e.g. --gpt-budgets \(2 * largest),\(4 * largest))" : ""
            throw fail("--gpt-budgets \(small) is not above nGPT's largest budget (\(largest)): GPT's extra budgets extend its curve beyond --budgets\(example)")
        }
        guard Set(gptBudgets).count == gptBudgets.count else { throw fail("--gpt-budgets has repeated values: \(gptBudgets)") }
        guard seeds >= 1 else { throw fail("--seeds must be at least 1") }
        guard tuneBudget >= 1 else { throw fail("--tune-budget must be at least 1") }
        guard tuningSeed >= 0 else { throw fail("the tuning runs' seed must be ≥ 0, got \(tuningSeed)") }
        if tuning == .separate && (needsTuning(.gpt) || needsTuning(.ngpt)) {
            guard tuningSeed >= seeds else {
                throw fail("the tuning runs' seed (\(tuningSeed)) is one of the final runs' seeds 0..<\(seeds); use fewer --seeds")
            }
        }
        guard (lrGPT != nil && lrNGPT != nil) || !lrGrid.isEmpty else { throw fail("--lr-grid is empty: give learning rates to try, or --lr-gpt and --lr-ngpt") }
        guard (lrGrid + [lrGPT, lrNGPT].compactMap { $0 }).allSatisfy({ $0 > 0 && $0.isFinite }) else { throw fail("learning rates must be positive") }
        guard batchSize >= 1, evalBatches >= 1, evalPoints >= 0, threadsPerRun >= 1 else {
            throw fail("--batch, --eval-batches and --threads-per-run must be at least 1")
        }
        if constantTokensPerStep {
            let (tokens, overflow) = batchSize.multipliedReportingOverflow(by: contexts[0])
            guard !overflow else { throw fail("--batch \(batchSize) at context \(contexts[0]) is more tokens per step than can be counted") }
            if let t = contexts.first(where: { tokens % $0 != 0 }) {
                throw fail("--batch \(batchSize) at context \(contexts[0]) is \(tokens) tokens per step, which context \(t) does not divide: tokens per step are kept equal across contexts, so choose contexts that divide \(tokens) (or a larger --batch), or give --fixed-batch")
            }
        }
        if extrapolationWindows == .shared, let longest = extrapolation.max(), let m = extrapolation.first(where: { longest % $0 != 0 }) {
            throw fail("--extrapolate \(m) does not divide the longest multiplier \(longest): every context reads slices of the same windows, so each multiplier must divide the largest (e.g. 2,4)")
        }
        for t in contexts {
            var c = model
            c.context = t
            try c.validate()
        }
    }

    /// Whether tuning runs are needed for `kind` (no fixed rate given).
    public func needsTuning(_ kind: ModelKind) -> Bool { (kind == .gpt ? lrGPT : lrNGPT) == nil }
}

/// How a comparison chooses each model's learning rate.
public enum TuningProcedure: String, Codable, Sendable {
    /// At every context, one run per rate of the grid for each model, at the tuning budget, with
    /// a seed of their own; each is scored on the validation file's first half (the
    /// ``/NGPTModels/ValidationPart/selection`` windows) while every reported loss comes from its
    /// second half. Tuning runs are never reused as final runs.
    case separate
    /// As comparisons written before per-context tuning: tuned once, at the first context with
    /// seed 0, on the same windows the report uses; the winning run is also the seed-0 final
    /// run at the tuning budget.
    case shared
}

/// One training run of a comparison. Its directory name is derived from everything that defines
/// it.
public struct PlannedRun: Codable, Sendable, Equatable, Hashable {
    /// A tuning run chooses a learning rate; a final run is reported.
    public enum Purpose: String, Codable, Sendable { case tuning, final }

    public var kind: ModelKind
    public var context: Int
    public var steps: Int
    public var seed: Int
    public var lr: Double
    public var purpose: Purpose

    public init(kind: ModelKind, context: Int, steps: Int, seed: Int, lr: Double, purpose: Purpose = .final) {
        self.kind = kind
        self.context = context
        self.steps = steps
        self.seed = seed
        self.lr = lr
        self.purpose = purpose
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try c.decode(ModelKind.self, forKey: .kind), context: try c.decode(Int.self, forKey: .context),
                  steps: try c.decode(Int.self, forKey: .steps), seed: try c.decode(Int.self, forKey: .seed),
                  lr: try c.decode(Double.self, forKey: .lr), purpose: try c.decodeIfPresent(Purpose.self, forKey: .purpose) ?? .final)
    }

    /// `gpt-t256-n500-lr2e-03-seed0`; tuning runs start with `tune-`.
    public var id: String {
        let lr = String(format: "%.2e", lr).replacingOccurrences(of: "+", with: "")
        return (purpose == .tuning ? "tune-" : "") + "\(kind.rawValue)-t\(context)-n\(steps)-lr\(lr)-seed\(seed)"
    }

    /// Training tokens of the whole run.
    public func tokens(_ s: ComparisonSettings) -> Int { steps * s.tokensPerStep(at: context) }

    /// The run as the library's own configuration (what `ngpt train --config` runs): the
    /// comparison's shape at this context, the model's recipe with this run's steps, learning
    /// rate and seed, the batch of this context, and the comparison's evaluation, storage and
    /// extrapolation. Tuning runs (``TuningProcedure/separate``) are scored on the validation
    /// file's selection half and skip the curve and the extrapolation; final runs are scored on
    /// its report half. GPT takes no nGPT switches (it has no scalers), so its configuration is
    /// that of a GPT run of the same shape, with q/k normalisation if the comparison asks for it.
    public func configuration(_ s: ComparisonSettings) -> RunConfiguration {
        var run = RunConfiguration.study(kind, shape: s.model, context: context, steps: steps, batchSize: s.batchSize(at: context),
                                         seed: seed, learningRate: lr, evalPoints: s.evalPoints, evalBatches: s.evalBatches, data: s.data)
        var o = run.training
        o.parameterPrecision = s.precision
        o.extrapolation = s.extrapolation
        o.extrapolationWindows = s.extrapolationWindows
        if s.tuning == .separate {
            o.validationPart = purpose == .tuning ? .selection : .report
            if purpose == .tuning {
                o.evalEvery = 0
                o.extrapolation = []
            }
        }
        run.training = o
        return run
    }

    /// The run as a study schedules it.
    public func scheduled(_ s: ComparisonSettings) -> ScheduledRun { ScheduledRun(id: id, configuration: configuration(s)) }

    /// The file in a run's directory that describes it before it starts.
    public static let configurationFile = ScheduledRun.configurationFile
}

/// The learning rate each model trains with at each context.
public struct LearningRates: Sendable, Equatable {
    public var byContext: [Int: [ModelKind: Double]]

    public init(_ byContext: [Int: [ModelKind: Double]]) { self.byContext = byContext }

    /// The same two rates at every context of `s`.
    public init(_ s: ComparisonSettings, gpt: Double, ngpt: Double) {
        byContext = Dictionary(uniqueKeysWithValues: s.contexts.map { ($0, [.gpt: gpt, .ngpt: ngpt]) })
    }

    public func rate(_ kind: ModelKind, context: Int) -> Double { byContext[context]?[kind] ?? .nan }
}

/// Which runs a comparison needs.
public enum ComparisonPlanner {
    /// One run per learning rate in the grid for each model that needs tuning, at the tuning
    /// budget: at every context with the tuning seed (``TuningProcedure/separate``), or at the
    /// first context with seed 0 (``TuningProcedure/shared``).
    public static func tuningRuns(_ s: ComparisonSettings) -> [PlannedRun] {
        let contexts = s.tuning == .separate ? s.contexts : [s.contexts[0]]
        return contexts.flatMap { t in
            ModelKind.allCases.filter(s.needsTuning).flatMap { kind in
                s.lrGrid.map {
                    s.tuning == .separate
                        ? PlannedRun(kind: kind, context: t, steps: s.tuneBudget, seed: s.tuningSeed, lr: $0, purpose: .tuning)
                        : PlannedRun(kind: kind, context: t, steps: s.tuneBudget, seed: 0, lr: $0)
                }
            }
        }
    }

    /// Separate full-schedule runs of both models for every context, budget and seed, at each
    /// model's chosen learning rate, then GPT's runs at its extra budgets. Interleaved
    /// GPT/nGPT so that an interrupted comparison has both models at the same budgets.
    public static func finalRuns(_ s: ComparisonSettings, rates: LearningRates) -> [PlannedRun] {
        var runs = [PlannedRun]()
        for t in s.contexts {
            let (g, n) = (rates.rate(.gpt, context: t), rates.rate(.ngpt, context: t))
            for steps in s.budgets {
                for seed in 0..<s.seeds {
                    runs.append(PlannedRun(kind: .gpt, context: t, steps: steps, seed: seed, lr: g))
                    runs.append(PlannedRun(kind: .ngpt, context: t, steps: steps, seed: seed, lr: n))
                }
            }
            for steps in s.gptBudgets {
                for seed in 0..<s.seeds { runs.append(PlannedRun(kind: .gpt, context: t, steps: steps, seed: seed, lr: g)) }
            }
        }
        return runs
    }
}
