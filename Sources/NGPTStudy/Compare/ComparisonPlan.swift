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
    /// Optimiser steps per run, ascending; each run has its own full cosine schedule.
    public var budgets: [Int]
    /// Seeds `0..<seeds` for every final run.
    public var seeds: Int
    /// Learning rates tried for each model at `tuneBudget` (seed 0, first context).
    public var lrGrid: [Double]
    /// Fixed learning rates that skip tuning.
    public var lrGPT: Double?
    public var lrNGPT: Double?
    public var tuneBudget: Int
    public var batchSize: Int
    public var evalBatches: Int
    /// Evaluations along each run (the validation curve), besides the start and the end.
    public var evalPoints: Int
    /// Context multiples at which every final model is also evaluated.
    public var extrapolation: [Int]
    public var precision: ParameterPrecision
    /// BLAS threads of each run.
    public var threadsPerRun: Int

    public init(data: String, model: ModelConfig, contexts: [Int], budgets: [Int], seeds: Int, lrGrid: [Double],
                lrGPT: Double? = nil, lrNGPT: Double? = nil, tuneBudget: Int? = nil, batchSize: Int = 16,
                evalBatches: Int = 10, evalPoints: Int = 10, extrapolation: [Int] = [2, 4],
                precision: ParameterPrecision = .fp32, threadsPerRun: Int = 1) {
        self.data = data
        self.model = model
        self.contexts = contexts
        self.budgets = budgets.sorted()
        self.seeds = seeds
        self.lrGrid = lrGrid
        self.lrGPT = lrGPT
        self.lrNGPT = lrNGPT
        self.tuneBudget = tuneBudget ?? self.budgets[(self.budgets.count - 1) / 2]
        self.batchSize = batchSize
        self.evalBatches = evalBatches
        self.evalPoints = evalPoints
        self.extrapolation = extrapolation
        self.precision = precision
        self.threadsPerRun = threadsPerRun
    }

    public func validate() throws {
        func fail(_ s: String) -> TrainingError { .invalidOption(s) }
        guard !contexts.isEmpty, contexts.allSatisfy({ $0 >= 2 }) else { throw fail("--contexts needs values of at least 2") }
        guard !budgets.isEmpty, budgets.allSatisfy({ $0 >= 1 }) else { throw fail("--budgets needs step counts of at least 1") }
        guard Set(budgets).count == budgets.count else { throw fail("--budgets has repeated values: \(budgets)") }
        guard seeds >= 1 else { throw fail("--seeds must be at least 1") }
        guard tuneBudget >= 1 else { throw fail("--tune-budget must be at least 1") }
        guard (lrGPT != nil && lrNGPT != nil) || !lrGrid.isEmpty else { throw fail("--lr-grid is empty: give learning rates to try, or --lr-gpt and --lr-ngpt") }
        guard (lrGrid + [lrGPT, lrNGPT].compactMap { $0 }).allSatisfy({ $0 > 0 && $0.isFinite }) else { throw fail("learning rates must be positive") }
        guard batchSize >= 1, evalBatches >= 1, evalPoints >= 0, threadsPerRun >= 1 else {
            throw fail("--batch, --eval-batches and --threads-per-run must be at least 1")
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

/// One training run of a comparison. Its directory name is derived from everything that defines
/// it, so a tuning run and a final run with the same settings are the same run.
public struct PlannedRun: Codable, Sendable, Equatable, Hashable {
    public var kind: ModelKind
    public var context: Int
    public var steps: Int
    public var seed: Int
    public var lr: Double

    public init(kind: ModelKind, context: Int, steps: Int, seed: Int, lr: Double) {
        self.kind = kind
        self.context = context
        self.steps = steps
        self.seed = seed
        self.lr = lr
    }

    /// `gpt-t256-n500-lr2e-03-seed0`.
    public var id: String {
        "\(kind.rawValue)-t\(context)-n\(steps)-lr\(String(format: "%.2e", lr).replacingOccurrences(of: "+", with: ""))-seed\(seed)"
    }

    /// Training tokens of the whole run.
    public func tokens(batchSize: Int) -> Int { steps * batchSize * context }

    /// The run as the library's own configuration (what `ngpt train --config` runs): the
    /// comparison's shape at this context, the model's recipe with this run's steps, learning
    /// rate and seed, and the comparison's batch, evaluation, storage and extrapolation. GPT
    /// takes no scaler settings (it has no scalers), so its configuration is that of a plain GPT
    /// run of the same shape.
    public func configuration(_ s: ComparisonSettings) -> RunConfiguration {
        var c = s.model
        c.kind = kind
        c.context = context
        if kind == .gpt {
            c = ModelConfig(kind: .gpt, vocabularySize: c.vocabularySize, width: c.width, heads: c.heads, layers: c.layers,
                            context: context)
        }
        var o = TrainingOptions(recipe: c.architecture().recipe, steps: steps, batchSize: s.batchSize, seed: UInt64(seed))
        o.learningRate = lr
        o.evalEvery = s.evalPoints > 0 ? max(1, steps / s.evalPoints) : 0
        o.evalBatches = s.evalBatches
        o.checkpointEvery = max(1, steps / 4)
        o.parameterPrecision = s.precision
        o.extrapolation = s.extrapolation
        return RunConfiguration(model: c, training: o, data: s.data)
    }

    /// The file in a run's directory that describes it before it starts.
    public static let configurationFile = "run.json"

    /// Writes ``configuration(_:)`` to `directory/run.json` (creating the directory).
    public func writeConfiguration(_ s: ComparisonSettings, to directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(Self.configurationFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(configuration(s)).write(to: url, options: .atomic)
        return url
    }
}

/// Which runs a comparison needs.
public enum ComparisonPlanner {
    /// One run per learning rate in the grid for each model that needs tuning: the tuning budget,
    /// seed 0, the first context.
    public static func tuningRuns(_ s: ComparisonSettings) -> [PlannedRun] {
        ModelKind.allCases.filter(s.needsTuning).flatMap { kind in
            s.lrGrid.map { PlannedRun(kind: kind, context: s.contexts[0], steps: s.tuneBudget, seed: 0, lr: $0) }
        }
    }

    /// Separate full-schedule runs of both models for every context, budget and seed, at each
    /// model's chosen learning rate. Interleaved GPT/nGPT so that an interrupted comparison has
    /// both models at the same budgets.
    public static func finalRuns(_ s: ComparisonSettings, lrGPT: Double, lrNGPT: Double) -> [PlannedRun] {
        var runs = [PlannedRun]()
        for t in s.contexts {
            for n in s.budgets {
                for seed in 0..<s.seeds {
                    runs.append(PlannedRun(kind: .gpt, context: t, steps: n, seed: seed, lr: lrGPT))
                    runs.append(PlannedRun(kind: .ngpt, context: t, steps: n, seed: seed, lr: lrNGPT))
                }
            }
        }
        return runs
    }
}
