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

/// Everything `ngpt compare` reports: `results.json`.
public struct ComparisonResults: Codable, Sendable {
    public struct Tuning: Codable, Sendable {
        public var kind: ModelKind
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

    public struct Budget: Codable, Sendable {
        public var steps: Int
        public var tokens: Int
        public var gpt: SeedSummary?
        public var ngpt: SeedSummary?
        public var gptSeconds: SeedSummary?
        public var ngptSeconds: SeedSummary?
        /// Tokens GPT needs for nGPT's mean final loss (GPT's mean curve over all its budgets)
        /// ÷ nGPT's tokens.
        public var speedup: Speedup.Ratio?
        /// The same per seed (nGPT seed s against GPT seed s's curve).
        public var speedupBySeed: [Speedup.Ratio]
        /// Seconds GPT needs for nGPT's mean final loss ÷ nGPT's mean seconds.
        public var wallClockSpeedup: Speedup.Ratio?
        /// Why the speedup is only a bound (or missing), and what to add to make it a number.
        public var note: String?
        /// The learning rates of this budget's runs.
        public var lrGPT: Double?
        public var lrNGPT: Double?
        /// GPT's loss minus nGPT's at this budget (equal tokens, no interpolation): the mean of
        /// the per-seed differences (same seed, same data order) with its 95 % t interval.
        public var lossGap: Interval?
        /// The token speedup with GPT's loss against tokens fitted by a power law
        /// `a + b·t^(−c)` per seed (``Speedup/crossingByFit(of:curve:)``; linear in log tokens
        /// where no fit exists), never beyond GPT's measured budgets. This is the reported speedup;
        /// ``speedup`` keeps the straight line in log tokens beside it.
        public var speedupFit: Speedup.Ratio?
        /// Per seed: nGPT seed s against the fit of GPT seed s.
        public var speedupFitBySeed: [Speedup.Ratio]?
        /// The 95 % t interval of the per-seed fitted speedups, on the log scale (nil if a seed's
        /// speedup is only a bound, or fewer than two seeds).
        public var speedupInterval: Interval?
        /// The final validation losses in bits per byte of text (``TrainedRun/comparableBitsPerByte``),
        /// when the runs recorded them.
        public var gptBitsPerByte: SeedSummary?
        public var ngptBitsPerByte: SeedSummary?
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
        public var kind: ModelKind
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
        public var lrGPT: Double
        public var lrNGPT: Double
        /// Models whose rate at this context is the smallest or largest of the grid.
        public var lrAtGridEdge: [ModelKind]
        /// nGPT's budgets (both models trained), with the speedups.
        public var budgets: [Budget]
        /// GPT's extra budgets beyond nGPT's largest (GPT only).
        public var gptBeyond: [Budget]
        public var extrapolation: [Extrapolation]
    }

    public var settings: ComparisonSettings
    public var tuning: [Tuning]
    /// The first context's rates (every context's are in ``contexts``).
    public var lrGPT: Double
    public var lrNGPT: Double
    public var lrSource: String
    /// Models whose tuned rate is the smallest or largest of the grid at some context: the true
    /// optimum may lie outside it, and the comparison may favour the other model.
    public var lrAtGridEdge: [ModelKind]
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
                    Tuning(kind: o.kind, context: o.context, lr: o.grid[i], valLoss: o.losses[i], status: o.losses[i] == nil ? .incomplete : o.losses[i]!.isFinite ? .finished : .failed,
                           shape: o.shape, steps: o.steps, seedLosses: o.seedLosses[i], chosen: o.best == o.grid[i])
                }
            }
            return (rates, rows)
        }
        var tuning = [Tuning]()
        var byContext = [Int: [ModelKind: Double]]()
        let runs = ComparisonPlanner.tuningRuns(s)
        for t in s.contexts {
            // shared tuning chose once, at the first context, for all
            let tunedAt = s.tuning == .separate ? t : s.contexts[0]
            for kind in ModelKind.allCases {
                if let fixed = kind == .gpt ? s.lrGPT : s.lrNGPT { byContext[t, default: [:]][kind] = fixed; continue }
                var best: (lr: Double, loss: Double)?
                for run in runs where run.kind == kind && run.context == tunedAt {
                    let r = RunResult.read(run, directory: runsDirectory.appendingPathComponent(run.id), settings: s)
                    if t == tunedAt { tuning.append(Tuning(kind: kind, context: t, lr: run.lr, valLoss: r.finalValLoss, status: r.status)) }
                    guard let loss = r.comparableLoss else { return nil }
                    if best == nil || loss < best!.loss { best = (run.lr, loss) }
                }
                guard let best, best.loss.isFinite else { return nil }
                byContext[t, default: [:]][kind] = best.lr
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
        switch (s.lrGPT != nil && s.lrNGPT != nil, s.tuning) {
        case (true, _): source = "given"
        case (false, .separate): source = "tuned at every context: \(s.tuneBudget) steps, seed \(s.tuningSeed), scored on the first half of the validation text; reported losses come from its second half"
        case (false, .shared): source = "tuned at \(s.tuneBudget) steps, seed 0, context \(s.contexts[0]), on the reported validation windows (the winning tuning run is also a final run)"
        case (false, .budgets):
            let seeds = s.tuningSeedList.count == 1 ? "seed \(s.tuningSeed)" : "the mean of seeds \(s.tuningSeedList.first!)–\(s.tuningSeedList.last!)"
            let at = ModelKind.allCases.filter(s.needsTuning).map { "\($0.rawValue) at \(s.tuningBudgets(of: $0).map(String.init).joined(separator: " and ")) steps" }.joined(separator: ", ")
            let rule = s.rateRule == .logLog ? "interpolated linearly in log rate against log steps between the tuned budgets (the nearest tuned budget's rate outside them)" : "the rate of the nearest tuned budget (in log steps)"
            source = "tuned \(s.shapes == nil ? "" : "for every shape, ")at every context (\(at)); \(seeds), scored on the first half of the validation text; a best rate on the grid's edge grows the grid (up to \(s.gridExtensions) point(s) each way); the rate at every other budget is \(rule); reported losses come from the second half"
        }
        let edges = ModelKind.allCases.filter { kind in byShape.joined().contains { $0.lrAtGridEdge.contains(kind) } }
        return ComparisonResults(settings: s, tuning: tuning, lrGPT: contexts[0].lrGPT,
                                 lrNGPT: contexts[0].lrNGPT, lrSource: source, lrAtGridEdge: edges,
                                 contexts: contexts, runs: results, missingRuns: missing,
                                 shapes: s.shapes.map { shapes in zip(shapes, byShape).map { Shape(shape: $0, nonEmbeddingParameters: $0.nonEmbeddingParameters, contexts: $1) } },
                                 sweeps: sweeps,
                                 validationBytesPerToken: DatasetPreparation.metadata(in: URL(fileURLWithPath: s.data))?.validationBytesPerToken)
    }

    /// The numbers of one context.
    static func context(_ t: Int, _ s: ComparisonSettings, rates: LearningRates, byRun: [PlannedRun: RunResult],
                        shape: ModelShape? = nil, sweeps: [TuningSweep.Outcome]? = nil) -> Context {
        func rate(_ kind: ModelKind, _ steps: Int) -> Double { rates.rate(kind, shape: shape, context: t, steps: steps) }
        let lr = (gpt: rate(.gpt, s.budgets[0]), ngpt: rate(.ngpt, s.budgets[0]))
        let perStep = s.tokensPerStep(at: t)
        func results(_ kind: ModelKind, _ steps: Int) -> [RunResult] {
            (0..<s.seeds).compactMap { byRun[PlannedRun(kind: kind, context: t, steps: steps, seed: $0, lr: rate(kind, steps), shape: shape)] }
        }
        func gptCurve(seed: Int?) -> [(cost: Double, loss: Double)] {
            s.allGPTBudgets.compactMap { n in
                let losses = results(.gpt, n).filter { seed == nil || $0.run.seed == seed }.compactMap(\.comparableLoss)
                guard let m = SeedSummary(losses) else { return nil }
                return (Double(n * perStep), m.mean)
            }
        }
        let curve = gptCurve(seed: nil)
        let gptTime: [(cost: Double, loss: Double)] = s.allGPTBudgets.compactMap { n in
            let rs = results(.gpt, n)
            guard let sec = SeedSummary(rs.compactMap(\.seconds)), let l = SeedSummary(rs.compactMap(\.comparableLoss)) else { return nil }
            return (sec.mean, l.mean)
        }
        func budget(_ n: Int, withNGPT: Bool) -> Budget {
            let tokens = n * perStep
            let g = results(.gpt, n), m = withNGPT ? results(.ngpt, n) : []
            let ngpt = SeedSummary(m.compactMap(\.comparableLoss))
            var b = Budget(steps: n, tokens: tokens, gpt: SeedSummary(g.compactMap(\.comparableLoss)), ngpt: ngpt,
                           gptSeconds: SeedSummary(g.compactMap(\.seconds)), ngptSeconds: SeedSummary(m.compactMap(\.seconds)),
                           speedup: nil, speedupBySeed: [], wallClockSpeedup: nil, note: nil,
                           lrGPT: rate(.gpt, n), lrNGPT: withNGPT ? rate(.ngpt, n) : nil)
            b.gptBitsPerByte = SeedSummary(g.compactMap(\.comparableBitsPerByte))
            b.ngptBitsPerByte = SeedSummary(m.compactMap(\.comparableBitsPerByte))
            guard withNGPT else { return b }
            guard let ngpt else {
                b.note = "nGPT's runs at this budget are not finished"
                return b
            }
            b.speedup = Speedup.ratio(ngptLoss: ngpt.mean, ngptCost: Double(tokens), gptCurve: curve)
            b.speedupBySeed = m.compactMap { r in
                r.comparableLoss.flatMap { Speedup.ratio(ngptLoss: $0, ngptCost: Double(tokens), gptCurve: gptCurve(seed: r.run.seed)) }
            }
            func bySeed(_ rs: [RunResult]) -> [Int: Double] {
                Dictionary(rs.compactMap { r in r.comparableLoss.map { (r.run.seed, $0) } }, uniquingKeysWith: { a, _ in a })
            }
            b.lossGap = Interval.pairedDifference(bySeed(g), bySeed(m))
            b.speedupFit = Speedup.ratioByFit(ngptLoss: ngpt.mean, ngptCost: Double(tokens), gptCurve: curve)
            let fitted = m.compactMap { r in
                r.comparableLoss.flatMap { Speedup.ratioByFit(ngptLoss: $0, ngptCost: Double(tokens), gptCurve: gptCurve(seed: r.run.seed)) }
            }
            b.speedupFitBySeed = fitted
            if fitted.count == m.count, fitted.allSatisfy({ $0.bound == .exact }) { b.speedupInterval = Interval.t95Ratio(fitted.map(\.value)) }
            if let sec = b.ngptSeconds {
                b.wallClockSpeedup = Speedup.ratio(ngptLoss: ngpt.mean, ngptCost: sec.mean, gptCurve: gptTime)
            }
            b.note = note(b, s)
            return b
        }
        var extrapolation = [Extrapolation]()
        for kind in ModelKind.allCases {
            for n in kind == .gpt ? s.allGPTBudgets : s.budgets {
                let rs = results(kind, n)
                var points = [Extrapolation.Point]()
                for m in [1] + s.extrapolation {
                    let values = rs.compactMap { r in r.contexts.first { $0.context == m * t }?.loss }
                    if let v = SeedSummary(values) { points.append(.init(multiple: m, context: m * t, loss: v.mean, seeds: v)) }
                }
                guard !points.isEmpty else { continue }
                var e = Extrapolation(kind: kind, steps: n, points: points)
                let curves = rs.compactMap(\.positionLoss)
                if let first = curves.first, curves.allSatisfy({ $0.count == first.count }) {
                    e.positionLoss = (0..<first.count).map { i in curves.reduce(0) { $0 + $1[i] } / Double(curves.count) }
                    e.positionBin = rs.compactMap(\.positionBin).first
                }
                extrapolation.append(e)
            }
        }
        let edges = ModelKind.allCases.filter { kind in
            if let sweeps { return sweeps.contains { $0.kind == kind && $0.shape == shape && $0.context == t && $0.atEdge } }
            guard s.needsTuning(kind), s.lrGrid.count > 1 else { return false }
            let r = kind == .gpt ? lr.gpt : lr.ngpt
            return r == s.lrGrid.min() || r == s.lrGrid.max()
        }
        return Context(context: t, batchSize: s.batchSize(at: t), lrGPT: lr.gpt, lrNGPT: lr.ngpt, lrAtGridEdge: edges,
                       budgets: s.budgets.map { budget($0, withNGPT: true) },
                       gptBeyond: s.gptBudgets.map { budget($0, withNGPT: false) }, extrapolation: extrapolation)
    }

    /// Why `b`'s speedup is a bound or missing, and which budget would make it a number.
    static func note(_ b: Budget, _ s: ComparisonSettings) -> String? {
        guard let r = b.speedup else {
            return b.ngpt.map { $0.mean.isFinite ? "GPT has no finished runs to compare with" : "nGPT diverged at this budget" }
        }
        let largest = s.allGPTBudgets.max() ?? 0, smallest = s.allGPTBudgets.min() ?? 0
        switch r.bound {
        case .exact: return nil
        case .moreThan:
            let add = largest <= Int.max / 4 ? ", e.g. --gpt-budgets " + (s.gptBudgets + [4 * largest]).map(String.init).joined(separator: ",") : ""
            return "GPT's largest budget (\(largest) steps) does not reach nGPT's loss; add a larger GPT budget\(add)"
        case .atMost:
            return "GPT's smallest budget (\(smallest) steps) already reaches nGPT's loss; add a smaller budget, e.g. --budgets \(([max(1, smallest / 2)] + s.budgets).map(String.init).joined(separator: ","))"
        }
    }
}
