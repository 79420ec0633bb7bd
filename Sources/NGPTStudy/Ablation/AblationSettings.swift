import Foundation
import NGPTNumerics
import NGPTModels

/// What `ngpt ablate` measures: the shape, the one budget, the seeds, how each row's learning
/// rate is chosen, and how runs are evaluated.
///
/// A row trains at its model's rate (``lrGPT``/``lrNGPT`` when given, else tuned by the study at
/// the budget) unless it declares a rate of its own (``AblationVariant/Rate``), which the study
/// tunes when ``retune`` is on. Tuning runs are scored on the selection half of the validation
/// text and every reported run on its report half, as in `ngpt compare`.
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
    /// GPT's rate, or nil: tuned by the study (row `gpt`'s configuration) at the budget.
    public var lrGPT: Double?
    /// nGPT's rate, or nil: tuned by the study (row `ngpt`'s configuration) at the budget.
    public var lrNGPT: Double?
    /// Where the given learning rates came from (e.g. "given", a comparison report).
    public var lrSource: String
    /// Whether rows that declare a rate of their own get it tuned (otherwise they train at their
    /// model's rate). Settings written before tuning in ablations read as `false`.
    public var retune: Bool
    /// The starting grid of every tuned rate.
    public var lrGrid: [Double]
    /// Rates a grid may grow by at each end (``RateGrid``).
    public var gridExtensions: Int
    /// The first tuning seed (not one of the reported seeds) and how many seeds score a rate.
    public var tuningSeed: Int
    public var tuningSeeds: Int
    /// The values the scale-matched rows fix their scaler at, when given; nil: measured from the
    /// study's default-nGPT runs once they have finished.
    public var trainedValues: ScalerValues?
    /// The rows, by name, in report order.
    public var variants: [String]
    public var evalBatches: Int
    /// Evaluations along each run (the learning curve), besides the start and the end.
    public var evalPoints: Int
    /// BLAS threads of each run.
    public var threadsPerRun: Int

    /// The starting grid of tuned rates unless given: the demo's grid.
    public static let defaultGrid = [2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2]

    public init(data: String, model: ModelConfig, budget: Int, seeds: Int = 3, batchSize: Int = 16,
                lrGPT: Double? = nil, lrNGPT: Double? = nil, lrSource: String? = nil, retune: Bool = true,
                lrGrid: [Double] = AblationSettings.defaultGrid, gridExtensions: Int = 2, tuningSeed: Int = 1000, tuningSeeds: Int = 1,
                trainedValues: ScalerValues? = nil,
                variants: [String] = AblationVariant.defaultSet.map(\.name), evalBatches: Int = 10, evalPoints: Int = 10,
                threadsPerRun: Int = 1) {
        self.data = data
        self.model = model
        self.budget = budget
        self.seeds = seeds
        self.batchSize = batchSize
        self.lrGPT = lrGPT
        self.lrNGPT = lrNGPT
        self.lrSource = lrSource ?? "given"
        self.retune = retune
        self.lrGrid = lrGrid
        self.gridExtensions = gridExtensions
        self.tuningSeed = tuningSeed
        self.tuningSeeds = tuningSeeds
        self.trainedValues = trainedValues
        self.variants = variants
        self.evalBatches = evalBatches
        self.evalPoints = evalPoints
        self.threadsPerRun = threadsPerRun
    }

    private enum CodingKeys: String, CodingKey {
        case data, model, budget, seeds, batchSize, lrGPT, lrNGPT, lrSource, retune, lrGrid, gridExtensions, tuningSeed, tuningSeeds
        case trainedValues, variants, evalBatches, evalPoints, threadsPerRun
    }

    /// Settings written before rows were retuned and trained values measured read as what they
    /// were: both rates given, no row retuned.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(data: try c.decode(String.self, forKey: .data), model: try c.decode(ModelConfig.self, forKey: .model),
                  budget: try c.decode(Int.self, forKey: .budget), seeds: try c.decode(Int.self, forKey: .seeds),
                  batchSize: try c.decode(Int.self, forKey: .batchSize),
                  lrGPT: try c.decodeIfPresent(Double.self, forKey: .lrGPT), lrNGPT: try c.decodeIfPresent(Double.self, forKey: .lrNGPT),
                  lrSource: try c.decode(String.self, forKey: .lrSource), retune: try c.decodeIfPresent(Bool.self, forKey: .retune) ?? false,
                  lrGrid: try c.decodeIfPresent([Double].self, forKey: .lrGrid) ?? AblationSettings.defaultGrid,
                  gridExtensions: try c.decodeIfPresent(Int.self, forKey: .gridExtensions) ?? 2,
                  tuningSeed: try c.decodeIfPresent(Int.self, forKey: .tuningSeed) ?? 1000,
                  tuningSeeds: try c.decodeIfPresent(Int.self, forKey: .tuningSeeds) ?? 1,
                  trainedValues: try c.decodeIfPresent(ScalerValues.self, forKey: .trainedValues),
                  variants: try c.decode([String].self, forKey: .variants), evalBatches: try c.decode(Int.self, forKey: .evalBatches),
                  evalPoints: try c.decode(Int.self, forKey: .evalPoints), threadsPerRun: try c.decode(Int.self, forKey: .threadsPerRun))
    }

    /// The given rate of `kind`, or nil when the study tunes it.
    public func givenRate(_ kind: ModelKind) -> Double? { ["gpt": lrGPT, "ngpt": lrNGPT][kind.rawValue] ?? nil }

    /// The tuning seeds.
    public var tuningSeedList: [Int] { Array(tuningSeed..<(tuningSeed + max(1, tuningSeeds))) }

    public func validate() throws {
        func fail(_ s: String) -> TrainingError { .invalidOption(s) }
        guard budget >= 1 else { throw fail("--budget must be at least 1, got \(budget)") }
        guard seeds >= 1, seeds <= 10_000 else { throw fail("--seeds must be between 1 and 10000, got \(seeds)") }
        guard batchSize >= 1, evalBatches >= 1, evalPoints >= 0, threadsPerRun >= 1 else {
            throw fail("--batch, --eval-batches and --threads-per-run must be at least 1")
        }
        guard [lrGPT, lrNGPT].allSatisfy({ $0.map { $0 > 0 && $0.isFinite } ?? true }) else { throw fail("learning rates must be positive") }
        guard !lrGrid.isEmpty, lrGrid.allSatisfy({ $0 > 0 && $0.isFinite }), Set(lrGrid).count == lrGrid.count else {
            throw fail("--lr-grid must list distinct positive rates, got \(lrGrid)")
        }
        guard gridExtensions >= 0, gridExtensions <= 20 else { throw fail("--grid-extensions must be between 0 and 20, got \(gridExtensions)") }
        guard tuningSeeds >= 1, tuningSeeds <= 100 else { throw fail("--tuning-seeds must be between 1 and 100, got \(tuningSeeds)") }
        guard tuningSeed <= 1 << 31 else { throw fail("the tuning runs' seed must be at most 2^31, got \(tuningSeed)") }
        guard tuningSeed >= seeds else {
            throw fail("the tuning runs' seed (\(tuningSeed)) is one of the reported seeds 0..<\(seeds); use fewer --seeds")
        }
        if let v = trainedValues {
            guard NGPTScaler.allCases.allSatisfy({ v[$0] > 0 && v[$0].isFinite }) else { throw fail("--trained-values must be positive and finite") }
        }
        guard !variants.isEmpty else { throw fail("--variants is empty: name at least one row") }
        guard Set(variants).count == variants.count else { throw fail("--variants names a row twice: \(variants)") }
        guard variants.contains(AblationVariant.referenceName) else {
            throw fail("--variants lacks \(AblationVariant.referenceName), the default nGPT every row's change is measured against; add it (e.g. --variants \(([AblationVariant.referenceName] + variants).joined(separator: ",")))")
        }
        try model.validate()
    }
}
