import Foundation
import NGPTNumerics
import NGPTModels

/// What one run of a comparison produced, read back from its directory: the planned run and
/// its ``TrainedRun`` (whose members it shows as its own: `result.status`, `result.curve`, …).
@dynamicMemberLookup
public struct RunResult: Codable, Sendable, Equatable {
    public typealias Status = TrainedRun.Status
    public typealias Point = TrainedRun.Point
    public typealias ContextLoss = TrainedRun.ContextLoss

    public var id: String
    public var run: PlannedRun
    public var tokens: Int
    public var outcome: TrainedRun

    public init(id: String, run: PlannedRun, tokens: Int, outcome: TrainedRun) {
        self.id = id
        self.run = run
        self.tokens = tokens
        self.outcome = outcome
    }

    public subscript<T>(dynamicMember path: KeyPath<TrainedRun, T>) -> T { outcome[keyPath: path] }

    /// Reads `directory` (made by `ngpt train`) as the result of `run`.
    public static func read(_ run: PlannedRun, directory: URL, settings: ComparisonSettings) -> RunResult {
        RunResult(id: run.id, run: run, tokens: run.tokens(settings), outcome: TrainedRun.read(directory, steps: run.steps, context: run.context))
    }

    // results.json keeps one flat object per run: the outcome's keys beside these three.
    private enum CodingKeys: String, CodingKey { case id, run, tokens }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id), run: try c.decode(PlannedRun.self, forKey: .run),
                  tokens: try c.decode(Int.self, forKey: .tokens), outcome: try TrainedRun(from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        try outcome.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(run, forKey: .run)
        try c.encode(tokens, forKey: .tokens)
    }
}

/// Everything `ngpt compare` reports: `results.json`. Numbers are keyed by model name
/// (``StudyModel/name``); every model but the baseline (the first) has its speedup and loss gap
/// against the baseline.
public struct ComparisonResults: Codable, Sendable {
    public struct Tuning: Codable, Sendable {
        /// The model's name.
        public var model: String
        public var context: Int
        public var lr: Double
        /// The mean over the tuning seeds (one seed before ``TuningProcedure/budgets``).
        public var valLoss: Double?
        public var status: RunResult.Status
        /// The shape of a size study.
        public var shape: ModelShape?
        /// The budget tuned at (``TuningProcedure/budgets``).
        public var steps: Int?
        /// Each tuning seed's loss.
        public var seedLosses: [Double?]?
        /// Whether this rate is the one chosen at this budget.
        public var chosen: Bool?
    }

    /// One model's numbers at one budget.
    public struct ModelBudget: Codable, Sendable {
        /// The model's name.
        public var model: String
        /// The final validation losses over seeds.
        public var loss: SeedSummary?
        /// Seconds per run over seeds.
        public var seconds: SeedSummary?
        /// The final validation losses in bits per byte of text (``TrainedRun/comparableBitsPerByte``),
        /// when the runs recorded them.
        public var bitsPerByte: SeedSummary?
        /// The learning rate of this budget's runs.
        public var lr: Double?
        /// Against the baseline (nil for the baseline itself): tokens the baseline needs for this
        /// model's mean final loss (the baseline's mean curve over all its budgets) ÷ this model's
        /// tokens, in a straight line in log tokens.
        public var speedup: Speedup.Ratio?
        /// The same per seed (seed s against the baseline's seed s curve).
        public var speedupBySeed: [Speedup.Ratio]?
        /// Seconds the baseline needs for this model's mean final loss ÷ this model's mean seconds.
        public var wallClockSpeedup: Speedup.Ratio?
        /// Why the speedup is only a bound (or missing), and what to add to make it a number.
        public var note: String?
        /// The baseline's loss minus this model's at this budget (equal tokens, no
        /// interpolation): the mean of the per-seed differences (same seed, same data order)
        /// with its 95 % t interval.
        public var lossGap: Interval?
        /// The token speedup with the baseline's loss against tokens fitted by a power law
        /// `a + b·t^(−c)` per seed (``Speedup/crossingByFit(of:curve:)``; linear in log tokens
        /// where no fit exists), never beyond the baseline's measured budgets. This is the
        /// reported speedup; ``speedup`` keeps the straight line in log tokens beside it.
        public var speedupFit: Speedup.Ratio?
        /// Per seed: seed s against the fit of the baseline's seed s.
        public var speedupFitBySeed: [Speedup.Ratio]?
        /// The 95 % t interval of the per-seed fitted speedups, on the log scale (nil if a seed's
        /// speedup is only a bound, or fewer than two seeds).
        public var speedupInterval: Interval?

        public init(model: String) { self.model = model }
    }

    /// One budget: every model that trains at it, the baseline first.
    public struct Budget: Codable, Sendable {
        public var steps: Int
        public var tokens: Int
        public var models: [ModelBudget]

        /// The numbers of the model called `name` at this budget.
        public subscript(model name: String) -> ModelBudget? { models.first { $0.model == name } }
    }

    public struct Extrapolation: Codable, Sendable {
        public struct Point: Codable, Sendable {
            /// 1 for the training context, 2 for twice it, …
            public var multiple: Int
            public var context: Int
            /// Mean final validation loss over seeds at that context.
            public var loss: Double
            /// Its seed range.
            public var seeds: SeedSummary?
        }
        /// The model's name.
        public var model: String
        public var steps: Int
        public var points: [Point]
        /// Mean over seeds of the loss by position in the longest windows (bins of `positionBin`
        /// positions), when the windows were shared.
        public var positionLoss: [Double]?
        public var positionBin: Int?

        public func loss(multiple: Int) -> Double? { points.first { $0.multiple == multiple }?.loss }
    }

    public struct Context: Codable, Sendable {
        public var context: Int
        /// Sequences per batch at this context.
        public var batchSize: Int
        /// Each model's rate at the first budget, by name.
        public var rates: [String: Double]
        /// Models whose rate at this context is the smallest or largest of the grid.
        public var lrAtGridEdge: [String]
        /// The budgets every model trains at, with the speedups.
        public var budgets: [Budget]
        /// The baseline's extra budgets beyond the others' largest (the baseline only).
        public var baselineBeyond: [Budget]
        public var extrapolation: [Extrapolation]
    }

    public var settings: ComparisonSettings
    public var tuning: [Tuning]
    /// The first context's rates at the first budget, by model (every context's are in ``contexts``).
    public var rates: [String: Double]
    public var lrSource: String
    /// Models whose tuned rate is the smallest or largest of the grid at some context: the true
    /// optimum may lie outside it, and the comparison may favour another model.
    public var lrAtGridEdge: [String]
    public var contexts: [Context]
    public var runs: [RunResult]
    public var missingRuns: [String]
    /// A size study's shapes, each with its contexts (``contexts`` repeats the first shape's).
    public var shapes: [Shape]?

    /// One shape of a size study.
    public struct Shape: Codable, Sendable {
        public var shape: ModelShape
        public var nonEmbeddingParameters: Int
        public var contexts: [Context]
    }

    /// The tuning sweeps of ``TuningProcedure/budgets`` (grids, extensions, edges).
    public var sweeps: [TuningSweep.Outcome]?

    /// Bytes of validation text per token of the data (`meta.json`; 1 for byte tokens), which
    /// turns the losses into bits per byte; nil when the data does not say.
    public var validationBytesPerToken: Double?

    /// The tuned (or given) learning rates at every context, from the tuning runs in
    /// `runsDirectory`; nil while a tuning run is unfinished or every rate of a model diverged.
    public static func chosenLearningRates(_ s: ComparisonSettings, runsDirectory: URL) -> (rates: LearningRates, tuning: [Tuning])? {
        if s.tuning == .budgets {
            guard let (rates, outcomes) = TuningSweep.chosenRates(s, runsDirectory: runsDirectory) else { return nil }
            let rows = outcomes.flatMap { o in
                o.grid.indices.map { i in
                    Tuning(model: o.model, context: o.context, lr: o.grid[i], valLoss: o.losses[i], status: o.losses[i] == nil ? .incomplete : o.losses[i]!.isFinite ? .finished : .failed,
                           shape: o.shape, steps: o.steps, seedLosses: o.seedLosses[i], chosen: o.best == o.grid[i])
                }
            }
            return (rates, rows)
        }
        var tuning = [Tuning]()
        var byContext = [Int: [String: Double]]()
        let runs = ComparisonPlanner.tuningRuns(s)
        for t in s.contexts {
            // shared tuning chose once, at the first context, for all
            let tunedAt = s.tuning == .separate ? t : s.contexts[0]
            for model in s.modelList.map(\.name) {
                if let fixed = s.fixedRate(model) { byContext[t, default: [:]][model] = fixed; continue }
                var best: (lr: Double, loss: Double)?
                for run in runs where run.model == model && run.context == tunedAt {
                    let r = RunResult.read(run, directory: runsDirectory.appendingPathComponent(run.id), settings: s)
                    if t == tunedAt { tuning.append(Tuning(model: model, context: t, lr: run.lr, valLoss: r.finalValLoss, status: r.status)) }
                    guard let loss = r.comparableLoss else { return nil }
                    if best == nil || loss < best!.loss { best = (run.lr, loss) }
                }
                guard let best, best.loss.isFinite else { return nil }
                byContext[t, default: [:]][model] = best.lr
            }
        }
        return (LearningRates(byContext), tuning)
    }

    /// Reads every run of the comparison from `runsDirectory` and computes the report's numbers.
    public static func collect(_ s: ComparisonSettings, runsDirectory: URL) throws -> ComparisonResults {
        guard let (rates, tuning) = chosenLearningRates(s, runsDirectory: runsDirectory) else {
            throw TrainingError.invalidOption("the learning-rate tuning runs in \(runsDirectory.path) are not all finished (or every rate diverged); run them first")
        }
        let planned = ComparisonPlanner.finalRuns(s, rates: rates)
        let results = planned.map { RunResult.read($0, directory: runsDirectory.appendingPathComponent($0.id), settings: s) }
        let byRun = Dictionary(zip(planned, results).map { ($0, $1) }, uniquingKeysWith: { a, _ in a })
        let sweeps = s.tuning == .budgets ? TuningSweep.outcomes(s, runsDirectory: runsDirectory) : nil
        let byShape = s.shapeList.map { shape in
            s.contexts.map { context($0, s, rates: rates, byRun: byRun, shape: shape, sweeps: sweeps) }
        }
        let contexts = byShape[0]
        let missing = results.filter { $0.status == .incomplete }.map(\.id)
        let source: String
        switch (s.modelList.allSatisfy { s.fixedRate($0.name) != nil }, s.tuning) {
        case (true, _): source = "given"
        case (false, .separate): source = "tuned at every context: \(s.tuneBudget) steps, seed \(s.tuningSeed), scored on the first half of the validation text; reported losses come from its second half"
        case (false, .shared): source = "tuned at \(s.tuneBudget) steps, seed 0, context \(s.contexts[0]), on the reported validation windows (the winning tuning run is also a final run)"
        case (false, .budgets):
            let seeds = s.tuningSeedList.count == 1 ? "seed \(s.tuningSeed)" : "the mean of seeds \(s.tuningSeedList.first!)–\(s.tuningSeedList.last!)"
            let at = s.modelList.filter { s.needsTuning($0.name) }.map { "\($0.name) at \(s.tuningBudgets(of: $0.name).map(String.init).joined(separator: " and ")) steps" }.joined(separator: ", ")
            let rule = s.rateRule == .logLog ? "interpolated linearly in log rate against log steps between the tuned budgets (the nearest tuned budget's rate outside them)" : "the rate of the nearest tuned budget (in log steps)"
            source = "tuned \(s.shapes == nil ? "" : "for every shape, ")at every context (\(at)); \(seeds), scored on the first half of the validation text; a best rate on the grid's edge grows the grid (up to \(s.gridExtensions) point(s) each way); the rate at every other budget is \(rule); reported losses come from the second half"
        }
        let edges = s.modelList.map(\.name).filter { name in byShape.joined().contains { $0.lrAtGridEdge.contains(name) } }
        return ComparisonResults(settings: s, tuning: tuning, rates: contexts[0].rates, lrSource: source, lrAtGridEdge: edges,
                                 contexts: contexts, runs: results, missingRuns: missing,
                                 shapes: s.shapes.map { shapes in zip(shapes, byShape).map { Shape(shape: $0, nonEmbeddingParameters: $0.nonEmbeddingParameters, contexts: $1) } },
                                 sweeps: sweeps,
                                 validationBytesPerToken: DatasetPreparation.metadata(in: URL(fileURLWithPath: s.data))?.validationBytesPerToken)
    }

    /// The numbers of one context.
    static func context(_ t: Int, _ s: ComparisonSettings, rates: LearningRates, byRun: [PlannedRun: RunResult],
                        shape: ModelShape? = nil, sweeps: [TuningSweep.Outcome]? = nil) -> Context {
        func rate(_ model: String, _ steps: Int) -> Double { rates.rate(model, shape: shape, context: t, steps: steps) }
        let baseline = s.baseline.name
        let perStep = s.tokensPerStep(at: t)
        func results(_ model: String, _ steps: Int) -> [RunResult] {
            (0..<s.seeds).compactMap { byRun[PlannedRun(model: model, context: t, steps: steps, seed: $0, lr: rate(model, steps), shape: shape)] }
        }
        func baselineCurve(seed: Int?) -> [(cost: Double, loss: Double)] {
            s.allGPTBudgets.compactMap { n in
                let losses = results(baseline, n).filter { seed == nil || $0.run.seed == seed }.compactMap(\.comparableLoss)
                guard let m = SeedSummary(losses) else { return nil }
                return (Double(n * perStep), m.mean)
            }
        }
        let curve = baselineCurve(seed: nil)
        let baselineTime: [(cost: Double, loss: Double)] = s.allGPTBudgets.compactMap { n in
            let rs = results(baseline, n)
            guard let sec = SeedSummary(rs.compactMap(\.seconds)), let l = SeedSummary(rs.compactMap(\.comparableLoss)) else { return nil }
            return (sec.mean, l.mean)
        }
        func bySeed(_ rs: [RunResult]) -> [Int: Double] {
            Dictionary(rs.compactMap { r in r.comparableLoss.map { (r.run.seed, $0) } }, uniquingKeysWith: { a, _ in a })
        }
        func entry(_ model: String, _ n: Int) -> ModelBudget {
            let rs = results(model, n)
            var e = ModelBudget(model: model)
            e.loss = SeedSummary(rs.compactMap(\.comparableLoss))
            e.seconds = SeedSummary(rs.compactMap(\.seconds))
            e.bitsPerByte = SeedSummary(rs.compactMap(\.comparableBitsPerByte))
            e.lr = rate(model, n)
            guard model != baseline else { return e }
            let tokens = Double(n * perStep)
            e.speedupBySeed = []
            guard let loss = e.loss else {
                e.note = "\(s.studyModel(named: model).label)'s runs at this budget are not finished"
                return e
            }
            e.speedup = Speedup.ratio(ngptLoss: loss.mean, ngptCost: tokens, gptCurve: curve)
            e.speedupBySeed = rs.compactMap { r in
                r.comparableLoss.flatMap { Speedup.ratio(ngptLoss: $0, ngptCost: tokens, gptCurve: baselineCurve(seed: r.run.seed)) }
            }
            e.lossGap = Interval.pairedDifference(bySeed(results(baseline, n)), bySeed(rs))
            e.speedupFit = Speedup.ratioByFit(ngptLoss: loss.mean, ngptCost: tokens, gptCurve: curve)
            let fitted = rs.compactMap { r in
                r.comparableLoss.flatMap { Speedup.ratioByFit(ngptLoss: $0, ngptCost: tokens, gptCurve: baselineCurve(seed: r.run.seed)) }
            }
            e.speedupFitBySeed = fitted
            if fitted.count == rs.count, fitted.allSatisfy({ $0.bound == .exact }) { e.speedupInterval = Interval.t95Ratio(fitted.map(\.value)) }
            if let sec = e.seconds {
                e.wallClockSpeedup = Speedup.ratio(ngptLoss: loss.mean, ngptCost: sec.mean, gptCurve: baselineTime)
            }
            e.note = note(e, s)
            return e
        }
        func budget(_ n: Int, models: [StudyModel]) -> Budget {
            Budget(steps: n, tokens: n * perStep, models: models.map { entry($0.name, n) })
        }
        var extrapolation = [Extrapolation]()
        for model in s.modelList.map(\.name) {
            for n in s.budgets(of: model) {
                let rs = results(model, n)
                var points = [Extrapolation.Point]()
                for m in [1] + s.extrapolation {
                    let values = rs.compactMap { r in r.contexts.first { $0.context == m * t }?.loss }
                    if let v = SeedSummary(values) { points.append(.init(multiple: m, context: m * t, loss: v.mean, seeds: v)) }
                }
                guard !points.isEmpty else { continue }
                var e = Extrapolation(model: model, steps: n, points: points)
                let curves = rs.compactMap(\.positionLoss)
                if let first = curves.first, curves.allSatisfy({ $0.count == first.count }) {
                    e.positionLoss = (0..<first.count).map { i in curves.reduce(0) { $0 + $1[i] } / Double(curves.count) }
                    e.positionBin = rs.compactMap(\.positionBin).first
                }
                extrapolation.append(e)
            }
        }
        let first = Dictionary(uniqueKeysWithValues: s.modelList.map { ($0.name, rate($0.name, s.budgets[0])) })
        let edges = s.modelList.map(\.name).filter { model in
            if let sweeps { return sweeps.contains { $0.model == model && $0.shape == shape && $0.context == t && $0.atEdge } }
            guard s.needsTuning(model), s.lrGrid.count > 1, let r = first[model] else { return false }
            return r == s.lrGrid.min() || r == s.lrGrid.max()
        }
        return Context(context: t, batchSize: s.batchSize(at: t), rates: first, lrAtGridEdge: edges,
                       budgets: s.budgets.map { budget($0, models: s.modelList) },
                       baselineBeyond: s.gptBudgets.map { budget($0, models: [s.baseline]) }, extrapolation: extrapolation)
    }

    /// Why `e`'s speedup is a bound or missing, and which budget would make it a number.
    static func note(_ e: ModelBudget, _ s: ComparisonSettings) -> String? {
        let base = s.baseline.label, label = s.studyModel(named: e.model).label
        guard let r = e.speedup else {
            return e.loss.map { $0.mean.isFinite ? "\(base) has no finished runs to compare with" : "\(label) diverged at this budget" }
        }
        let largest = s.allGPTBudgets.max() ?? 0, smallest = s.allGPTBudgets.min() ?? 0
        switch r.bound {
        case .exact: return nil
        case .moreThan:
            let add = largest <= Int.max / 4 ? ", e.g. --gpt-budgets " + (s.gptBudgets + [4 * largest]).map(String.init).joined(separator: ",") : ""
            return "\(base)'s largest budget (\(largest) steps) does not reach \(label)'s loss; add a larger \(base) budget\(add)"
        case .atMost:
            return "\(base)'s smallest budget (\(smallest) steps) already reaches \(label)'s loss; add a smaller budget, e.g. --budgets \(([max(1, smallest / 2)] + s.budgets).map(String.init).joined(separator: ","))"
        }
    }
}
