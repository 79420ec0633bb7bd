import Foundation
import NGPTNumerics
import NGPTModels

/// What `ngpt compare` measures: the models, the shape, the grid of contexts × budgets × seeds,
/// the learning rates to try, and how each run is trained and evaluated.
///
/// The models are ``modelList``: GPT and nGPT unless ``models`` names others. The first is the
/// baseline: it also trains at ``gptBudgets``, and every other model's speedup and loss gap are
/// measured against its curve.
public struct ComparisonSettings: Codable, Sendable, Equatable {
    /// The data directory (absolute path).
    public var data: String
    /// The model shape; each model takes it as its architecture's base kind
    /// (``/NGPTModels/ModelConfig/asKind(_:)``) and `context` is set per run. nGPT ablation
    /// switches apply to the models built on nGPT.
    public var model: ModelConfig
    public var contexts: [Int]
    /// Optimiser steps per run of every model, ascending; each run has its own full cosine
    /// schedule.
    public var budgets: [Int]
    /// Budgets only the baseline (the first model, GPT by default) trains at, beyond the largest
    /// of ``budgets``, so that its loss curve reaches the other models' final losses (the speedup
    /// is then a number rather than a bound).
    public var gptBudgets: [Int]
    /// Seeds `0..<seeds` for every final run.
    public var seeds: Int
    /// Learning rates tried for each model at `tuneBudget`.
    public var lrGrid: [Double]
    /// Fixed learning rates of the models named `gpt` and `ngpt` that skip their tuning
    /// (``fixedRates`` gives any model's).
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
    /// The model shapes of a size study (each tuned on its own, at the same tokens per step);
    /// nil: the one shape of ``model`` (comparisons written before size studies).
    public var shapes: [ModelShape]?
    /// The budgets each model is tuned at with ``TuningProcedure/budgets``: nil for the smallest
    /// and the largest of that model's own budgets (GPT's extra budgets included), else those of
    /// the listed budgets that the model trains at.
    public var tuneBudgets: [Int]?
    /// Seeds of every tuning point (``tuningSeed`` and the next ones); a rate's score is the mean
    /// of their losses.
    public var tuningSeeds: Int
    /// Points the grid may grow by at each end when a best rate lies on its edge.
    public var gridExtensions: Int
    /// How the rate at an untuned budget follows from the tuned ones.
    public var rateRule: RateRule
    /// The models compared, the baseline first; nil: GPT and nGPT (``StudyModel/pair``, every
    /// comparison written before models had names).
    public var models: [StudyModel]?
    /// Fixed learning rates by model name, which skip that model's tuning (beside ``lrGPT`` and
    /// ``lrNGPT``); nil: none.
    public var fixedRates: [String: Double]?

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
                precision: ParameterPrecision = .fp32, threadsPerRun: Int = 1, shapes: [ModelShape]? = nil,
                tuneBudgets: [Int]? = nil, tuningSeeds: Int = 1, gridExtensions: Int = 0, rateRule: RateRule = .logLog,
                models: [StudyModel]? = nil, fixedRates: [String: Double]? = nil) {
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
        self.shapes = shapes
        self.tuneBudgets = tuneBudgets
        self.tuningSeeds = tuningSeeds
        self.gridExtensions = gridExtensions
        self.rateRule = rateRule
        self.models = models
        self.fixedRates = fixedRates
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
                  threadsPerRun: try c.decode(Int.self, forKey: .threadsPerRun),
                  shapes: try c.decodeIfPresent([ModelShape].self, forKey: .shapes),
                  tuneBudgets: try c.decodeIfPresent([Int].self, forKey: .tuneBudgets),
                  tuningSeeds: try c.decodeIfPresent(Int.self, forKey: .tuningSeeds) ?? 1,
                  gridExtensions: try c.decodeIfPresent(Int.self, forKey: .gridExtensions) ?? 0,
                  rateRule: try c.decodeIfPresent(RateRule.self, forKey: .rateRule) ?? .logLog,
                  models: try c.decodeIfPresent([StudyModel].self, forKey: .models),
                  fixedRates: try c.decodeIfPresent([String: Double].self, forKey: .fixedRates))
        // an old file's budgets were written sorted; a hand-edited one is checked by validate()
    }

    /// Sequences per batch at context `t`: the first context's batch, scaled so that batch ×
    /// context stays the same when ``constantTokensPerStep``.
    public func batchSize(at t: Int) -> Int {
        constantTokensPerStep && t > 0 ? max(1, batchSize * contexts[0] / t) : batchSize
    }

    /// Training tokens per optimiser step at context `t`.
    public func tokensPerStep(at t: Int) -> Int { batchSize(at: t) * t }

    /// Every budget the baseline trains at: the common ones and its extra ones.
    public var allGPTBudgets: [Int] { Array(Set(budgets + gptBudgets)).sorted() }

    /// The models compared, the baseline first: ``models``, or GPT and nGPT.
    public var modelList: [StudyModel] { models ?? StudyModel.pair }

    /// The model every other one is measured against (the first).
    public var baseline: StudyModel { modelList[0] }

    /// The models measured against the baseline.
    public var comparedModels: [StudyModel] { Array(modelList.dropFirst()) }

    /// The model called `name` (a model of that architecture if the list has none).
    public func studyModel(named name: String) -> StudyModel { modelList.first { $0.name == name } ?? StudyModel(name) }

    /// The rate given for model `name` (``fixedRates``, ``lrGPT``, ``lrNGPT``), which skips its tuning.
    public func fixedRate(_ name: String) -> Double? {
        fixedRates?[name] ?? ["gpt": lrGPT, "ngpt": lrNGPT][name] ?? nil
    }

    /// Every budget model `name` trains at.
    public func budgets(of name: String) -> [Int] { name == baseline.name ? allGPTBudgets : budgets }

    /// The shapes the study trains: ``shapes``, or the one shape of ``model``.
    public var shapeList: [ModelShape?] { shapes ?? [nil] }

    /// The model of `shape` (nil: ``model`` itself): ``model`` resized
    /// (``/NGPTModels/ModelConfig/resized(width:layers:heads:)``), so width-derived defaults
    /// follow the shape's width.
    public func model(for shape: ModelShape?) -> ModelConfig {
        guard let shape else { return model }
        return model.resized(width: shape.width, layers: shape.layers, heads: shape.heads)
    }

    /// The budgets model `name` is tuned at (``TuningProcedure/budgets``), ascending.
    public func tuningBudgets(of name: String) -> [Int] {
        let own = budgets(of: name)
        guard let list = tuneBudgets else { return Array(Set([own.first, own.last].compactMap { $0 })).sorted() }
        return own.filter(list.contains)
    }

    /// The seeds of every tuning point.
    public var tuningSeedList: [Int] { Array(tuningSeed..<(tuningSeed + max(1, tuningSeeds))) }

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
        guard tuningSeeds >= 1, tuningSeeds <= 100 else { throw fail("--tuning-seeds must be between 1 and 100, got \(tuningSeeds)") }
        guard gridExtensions >= 0, gridExtensions <= 10 else { throw fail("--grid-extensions must be between 0 and 10, got \(gridExtensions)") }
        guard Set(lrGrid).count == lrGrid.count else { throw fail("--lr-grid has repeated rates: \(lrGrid)") }
        if let shapes {
            guard !shapes.isEmpty else { throw fail("--shapes is empty") }
            guard Set(shapes).count == shapes.count else { throw fail("--shapes has repeated shapes: \(shapes.map(\.description).joined(separator: ","))") }
        }
        if tuning == .budgets {
            if let list = tuneBudgets {
                guard Set(list).count == list.count else { throw fail("--tune-budgets has repeated values: \(list)") }
                if let stray = list.first(where: { !allGPTBudgets.contains($0) }) {
                    throw fail("--tune-budgets \(stray) is not one of the budgets (\(allGPTBudgets.map(String.init).joined(separator: ","))): a rate is tuned at a budget the models train at")
                }
                for m in modelList where needsTuning(m.name) && tuningBudgets(of: m.name).isEmpty {
                    throw fail("--tune-budgets \(list.map(String.init).joined(separator: ",")) holds none of \(m.name)'s budgets (\(budgets(of: m.name).map(String.init).joined(separator: ",")))")
                }
            }
        }
        if tuning != .shared && modelList.contains(where: { needsTuning($0.name) }) {
            guard tuningSeed >= seeds else {
                throw fail("the tuning runs' seed (\(tuningSeed)) is one of the final runs' seeds 0..<\(seeds); use fewer --seeds")
            }
        }
        guard modelList.allSatisfy({ fixedRate($0.name) != nil }) || !lrGrid.isEmpty else {
            throw fail("--lr-grid is empty: give learning rates to try, or every model's rate (--lr-gpt and --lr-ngpt, or --lr NAME=RATE)")
        }
        guard (lrGrid + [lrGPT, lrNGPT].compactMap { $0 } + (fixedRates ?? [:]).values).allSatisfy({ $0 > 0 && $0.isFinite }) else { throw fail("learning rates must be positive") }
        guard modelList.count >= 2 else { throw fail("--models needs at least two models (the first is the baseline the others are measured against)") }
        guard Set(modelList.map(\.name)).count == modelList.count else {
            throw fail("--models has repeated names: \(modelList.map(\.name).joined(separator: ",")); name a second model of one architecture NAME=ARCHITECTURE")
        }
        for m in modelList { if let problem = m.nameProblem { throw fail(problem) } }
        if let stray = fixedRates?.keys.sorted().first(where: { name in !modelList.contains { $0.name == name } }) {
            throw fail("--lr \(stray)=… names no model of the comparison (\(modelList.map(\.name).joined(separator: ",")))")
        }
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
        if extrapolationWindows == .shared, !extrapolation.contains(where: { $0 < 1 }), let longest = extrapolation.max(), let m = extrapolation.first(where: { longest % $0 != 0 }) {
            throw fail("--extrapolate \(m) does not divide the longest multiplier \(longest): every context reads slices of the same windows, so each multiplier must divide the largest (e.g. 2,4)")
        }
        if let m = extrapolation.first(where: { $0 < 2 }) {
            throw fail("--extrapolate \(m) is not a context multiple of at least 2 (e.g. 2,4; 'none' to skip)")
        }
        guard Set(extrapolation).count == extrapolation.count else { throw fail("--extrapolate has repeated multiples: \(extrapolation)") }
        for shape in shapeList {
            for t in contexts {
                var c = model(for: shape)
                c.context = t
                try c.validate()
            }
        }
        // every model's architecture is known to this program and takes its options
        var first = model(for: shapeList[0])
        first.context = contexts[0]
        for m in modelList {
            do { _ = try m.build(first) } catch let e as ArchitectureError { throw fail("model \(m.name): \(e.message)") }
        }
    }

    /// Whether tuning runs are needed for model `name` (no fixed rate given).
    public func needsTuning(_ name: String) -> Bool { fixedRate(name) == nil }
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
    /// At every shape and context, each model is tuned at several of its budgets (by default its
    /// smallest and its largest, GPT's extra budgets included) with ``ComparisonSettings/tuningSeeds``
    /// seeds of their own, on the selection half of the validation text; a best rate on the
    /// grid's edge grows the grid by one point in that direction and tunes again, up to
    /// ``ComparisonSettings/gridExtensions`` points. The rate at every other budget follows by
    /// ``ComparisonSettings/rateRule``.
    case budgets
}

/// How the learning rate at a budget follows from the rates tuned at other budgets.
public enum RateRule: String, Codable, Sendable, CaseIterable {
    /// Linear in log rate against log steps between the two tuned budgets around it; the nearest
    /// tuned budget's rate outside them.
    case logLog = "log-log"
    /// The rate of the tuned budget nearest in log steps (the smaller on a tie).
    case nearest
}

/// A model shape of a size study: width, layers and attention heads.
public struct ModelShape: Codable, Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var layers: Int
    public var heads: Int

    public init(width: Int, layers: Int, heads: Int) {
        self.width = width
        self.layers = layers
        self.heads = heads
    }

    /// `128x4x8`: width × layers × heads, as `--shapes` takes it.
    public var description: String { "\(width)x\(layers)x\(heads)" }

    /// `d128-l4-h8`, the prefix of a run's directory name.
    public var runPrefix: String { "d\(width)-l\(layers)-h\(heads)" }

    /// Parameters outside the embeddings: the block matrices, 16·L·d² (q, k, v and the attention
    /// output 4d², SwiGLU's 8d² in and 4d² out); the per-layer vectors are left out.
    public var nonEmbeddingParameters: Int { 16 * layers * width * width }

    /// Parses `WIDTHxLAYERS` (heads = `heads` if given, else width ÷ `headWidth`) or
    /// `WIDTHxLAYERSxHEADS`.
    public static func parse(_ text: String, headWidth: Int, heads: Int? = nil) throws -> ModelShape {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ ($0 ?? 0) >= 1 }), let w = parts[0], let l = parts[1] else {
            throw TrainingError.invalidOption("--shapes: '\(ErrorText.cut(text))' is not WIDTHxLAYERS or WIDTHxLAYERSxHEADS with positive numbers (e.g. 64x2,128x4)")
        }
        if parts.count == 3, let h = parts[2] { return ModelShape(width: w, layers: l, heads: h) }
        if let heads { return ModelShape(width: w, layers: l, heads: heads) }
        guard headWidth >= 1, w % headWidth == 0 else {
            throw TrainingError.invalidOption("--shapes \(text): width \(w) is not a multiple of the head width \(headWidth); give the heads (\(text)xHEADS) or another --head-width")
        }
        return ModelShape(width: w, layers: l, heads: w / headWidth)
    }
}

/// One training run of a comparison. Its directory name is derived from everything that defines
/// it.
public struct PlannedRun: Codable, Sendable, Equatable, Hashable {
    /// A tuning run chooses a learning rate; a final run is reported.
    public enum Purpose: String, Codable, Sendable { case tuning, final }

    /// The name of the model (``StudyModel/name``).
    public var model: String
    public var context: Int
    public var steps: Int
    public var seed: Int
    public var lr: Double
    public var purpose: Purpose
    /// The shape of a size study's run; nil: the comparison's one shape.
    public var shape: ModelShape?

    public init(model: String, context: Int, steps: Int, seed: Int, lr: Double, purpose: Purpose = .final, shape: ModelShape? = nil) {
        self.shape = shape
        self.model = model
        self.context = context
        self.steps = steps
        self.seed = seed
        self.lr = lr
        self.purpose = purpose
    }

    private enum CodingKeys: String, CodingKey { case model, context, steps, seed, lr, purpose, shape, kind }

    /// Decodes a run; one written before models had names has its model's kind (`gpt`, `ngpt`)
    /// under `kind`, which is the name of that model.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let model = try c.decodeIfPresent(String.self, forKey: .model) ?? c.decode(String.self, forKey: .kind)
        self.init(model: model, context: try c.decode(Int.self, forKey: .context),
                  steps: try c.decode(Int.self, forKey: .steps), seed: try c.decode(Int.self, forKey: .seed),
                  lr: try c.decode(Double.self, forKey: .lr), purpose: try c.decodeIfPresent(Purpose.self, forKey: .purpose) ?? .final,
                  shape: try c.decodeIfPresent(ModelShape.self, forKey: .shape))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(context, forKey: .context)
        try c.encode(steps, forKey: .steps)
        try c.encode(seed, forKey: .seed)
        try c.encode(lr, forKey: .lr)
        try c.encode(purpose, forKey: .purpose)
        try c.encodeIfPresent(shape, forKey: .shape)
    }

    /// `gpt-t256-n500-lr2e-03-seed0` (the model's name first); tuning runs start with `tune-`, a
    /// size study's runs with their shape (`d128-l4-h8-gpt-…`).
    public var id: String {
        let lr = String(format: "%.2e", lr).replacingOccurrences(of: "+", with: "")
        return (purpose == .tuning ? "tune-" : "") + (shape.map { $0.runPrefix + "-" } ?? "") + "\(model)-t\(context)-n\(steps)-lr\(lr)-seed\(seed)"
    }

    /// Training tokens of the whole run.
    public func tokens(_ s: ComparisonSettings) -> Int { steps * s.tokensPerStep(at: context) }

    /// The run as the library's own configuration (what `ngpt train --config` runs): the
    /// comparison's shape at this context as the run's model (``StudyModel/config(_:)``: a model
    /// built on GPT takes no nGPT switches), its architecture's recipe with this run's steps,
    /// learning rate and seed, the batch of this context, and the comparison's evaluation, storage
    /// and extrapolation. Tuning runs (``TuningProcedure/separate``) are scored on the validation
    /// file's selection half and skip the curve and the extrapolation; final runs are scored on
    /// its report half.
    public func configuration(_ s: ComparisonSettings) -> RunConfiguration {
        var run = RunConfiguration.study(s.studyModel(named: model), shape: s.model(for: shape), context: context, steps: steps, batchSize: s.batchSize(at: context),
                                         seed: seed, learningRate: lr, evalPoints: s.evalPoints, evalBatches: s.evalBatches, data: s.data)
        var o = run.training
        o.parameterPrecision = s.precision
        o.extrapolation = s.extrapolation
        o.extrapolationWindows = s.extrapolationWindows
        if s.tuning != .shared {
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

/// The learning rate each model trains with, at every shape, context and budget.
public struct LearningRates: Sendable, Equatable {
    /// Where a rate applies: a shape (nil: the comparison's one shape), a context and a model
    /// (its name).
    public struct Key: Hashable, Sendable {
        public var shape: ModelShape?
        public var context: Int
        public var model: String

        public init(shape: ModelShape?, context: Int, model: String) {
            self.shape = shape
            self.context = context
            self.model = model
        }
    }

    /// A rate chosen at one budget.
    public struct Point: Codable, Sendable, Equatable {
        public var steps: Int
        public var lr: Double
    }

    /// The rates chosen (tuned or given) for each key, ascending in steps.
    public var points: [Key: [Point]]
    public var rule: RateRule

    public init(points: [Key: [Point]], rule: RateRule = .logLog) {
        self.points = points.mapValues { $0.sorted { $0.steps < $1.steps } }
        self.rule = rule
    }

    /// One rate per model (by name) and context, at every budget (the comparison's one shape).
    public init(_ byContext: [Int: [String: Double]]) {
        var points = [Key: [Point]]()
        for (t, rates) in byContext {
            for (model, lr) in rates { points[Key(shape: nil, context: t, model: model)] = [Point(steps: 1, lr: lr)] }
        }
        self.init(points: points)
    }

    /// Each model's rate (by name) at every shape, context and budget of `s`.
    public init(_ s: ComparisonSettings, byModel rates: [String: Double]) {
        var points = [Key: [Point]]()
        for shape in s.shapeList {
            for t in s.contexts {
                for (model, lr) in rates { points[Key(shape: shape, context: t, model: model)] = [Point(steps: 1, lr: lr)] }
            }
        }
        self.init(points: points)
    }

    /// The same rate for every model at every shape, context and budget of `s` (a placeholder for
    /// rates not chosen yet: the runs' count and cost do not depend on it).
    public init(_ s: ComparisonSettings, every lr: Double) {
        self.init(s, byModel: Dictionary(uniqueKeysWithValues: s.modelList.map { ($0.name, lr) }))
    }

    /// The rate at the comparison's one shape (or the first budget's where rates follow the budget).
    public func rate(_ model: String, context: Int) -> Double {
        points[Key(shape: nil, context: context, model: model)]?.first?.lr ?? .nan
    }

    /// The rate model `model` trains with at `steps`: the rule applied to the rates chosen at
    /// other budgets (a single chosen rate holds at every budget).
    public func rate(_ model: String, shape: ModelShape?, context: Int, steps: Int) -> Double {
        guard let p = points[Key(shape: shape, context: context, model: model)], let first = p.first, let last = p.last else { return .nan }
        if p.count == 1 || steps <= first.steps { return first.lr }
        if steps >= last.steps { return last.lr }
        let i = p.firstIndex { $0.steps >= steps }!
        let (a, b) = (p[i - 1], p[i])
        if b.steps == steps { return b.lr }
        let f = (log(Double(steps)) - log(Double(a.steps))) / (log(Double(b.steps)) - log(Double(a.steps)))
        switch rule {
        case .nearest: return f <= 0.5 ? a.lr : b.lr
        case .logLog:
            // rounded to three significant digits so that the rate is the same number wherever it is written
            let r = exp(log(a.lr) + f * (log(b.lr) - log(a.lr)))
            return Double(String(format: "%.2e", r)) ?? r
        }
    }
}

/// Which runs a comparison needs.
public enum ComparisonPlanner {
    /// The tuning runs of the grid as given (no extensions yet): one run per learning rate in the
    /// grid for each model that needs tuning — at the tuning budget at every context with the
    /// tuning seed (``TuningProcedure/separate``), at the first context with seed 0
    /// (``TuningProcedure/shared``), or at each shape, context, tuned budget and tuning seed
    /// (``TuningProcedure/budgets``, whose grid may then grow: ``TuningSweep``).
    public static func tuningRuns(_ s: ComparisonSettings) -> [PlannedRun] {
        if s.tuning == .budgets { return TuningSweep.cells(s).flatMap { $0.runs(grid: s.lrGrid, s) } }
        let contexts = s.tuning == .separate ? s.contexts : [s.contexts[0]]
        return contexts.flatMap { t in
            s.modelList.map(\.name).filter(s.needsTuning).flatMap { model in
                s.lrGrid.map {
                    s.tuning == .separate
                        ? PlannedRun(model: model, context: t, steps: s.tuneBudget, seed: s.tuningSeed, lr: $0, purpose: .tuning)
                        : PlannedRun(model: model, context: t, steps: s.tuneBudget, seed: 0, lr: $0)
                }
            }
        }
    }

    /// Separate full-schedule runs of every model for every shape, context, budget and seed, at
    /// each model's rate for that budget, then the baseline's runs at its extra budgets.
    /// Interleaved by model so that an interrupted comparison has every model at the same budgets.
    public static func finalRuns(_ s: ComparisonSettings, rates: LearningRates) -> [PlannedRun] {
        var runs = [PlannedRun]()
        for shape in s.shapeList {
            for t in s.contexts {
                func run(_ model: String, _ steps: Int, _ seed: Int) -> PlannedRun {
                    PlannedRun(model: model, context: t, steps: steps, seed: seed, lr: rates.rate(model, shape: shape, context: t, steps: steps), shape: shape)
                }
                for steps in s.budgets {
                    for seed in 0..<s.seeds {
                        for m in s.modelList { runs.append(run(m.name, steps, seed)) }
                    }
                }
                for steps in s.gptBudgets {
                    for seed in 0..<s.seeds { runs.append(run(s.baseline.name, steps, seed)) }
                }
            }
        }
        return runs
    }
}
