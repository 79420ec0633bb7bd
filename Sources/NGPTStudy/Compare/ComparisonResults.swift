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
        public var valLoss: Double?
        public var status: RunResult.Status
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

    /// The tuned (or given) learning rates at every context, from the tuning runs in
    /// `runsDirectory`; nil while a tuning run is unfinished or every rate of a model diverged.
    public static func chosenLearningRates(_ s: ComparisonSettings, runsDirectory: URL) -> (rates: LearningRates, tuning: [Tuning])? {
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
        let contexts = s.contexts.map { context($0, s, rates: rates, byRun: byRun) }
        let missing = results.filter { $0.status == .incomplete }.map(\.id)
        let source: String
        switch (s.lrGPT != nil && s.lrNGPT != nil, s.tuning) {
        case (true, _): source = "given"
        case (false, .separate): source = "tuned at every context: \(s.tuneBudget) steps, seed \(s.tuningSeed), scored on the first half of the validation text; reported losses come from its second half"
        case (false, .shared): source = "tuned at \(s.tuneBudget) steps, seed 0, context \(s.contexts[0]), on the reported validation windows (the winning tuning run is also a final run)"
        }
        let edges = ModelKind.allCases.filter { kind in contexts.contains { $0.lrAtGridEdge.contains(kind) } }
        return ComparisonResults(settings: s, tuning: tuning, lrGPT: rates.rate(.gpt, context: s.contexts[0]),
                                 lrNGPT: rates.rate(.ngpt, context: s.contexts[0]), lrSource: source, lrAtGridEdge: edges,
                                 contexts: contexts, runs: results, missingRuns: missing)
    }

    /// The numbers of one context.
    static func context(_ t: Int, _ s: ComparisonSettings, rates: LearningRates, byRun: [PlannedRun: RunResult]) -> Context {
        let lr = (gpt: rates.rate(.gpt, context: t), ngpt: rates.rate(.ngpt, context: t))
        let perStep = s.tokensPerStep(at: t)
        func results(_ kind: ModelKind, _ steps: Int) -> [RunResult] {
            (0..<s.seeds).compactMap { byRun[PlannedRun(kind: kind, context: t, steps: steps, seed: $0, lr: kind == .gpt ? lr.gpt : lr.ngpt)] }
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
                           speedup: nil, speedupBySeed: [], wallClockSpeedup: nil, note: nil)
            guard withNGPT else { return b }
            guard let ngpt else {
                b.note = "nGPT's runs at this budget are not finished"
                return b
            }
            b.speedup = Speedup.ratio(ngptLoss: ngpt.mean, ngptCost: Double(tokens), gptCurve: curve)
            b.speedupBySeed = m.compactMap { r in
                r.comparableLoss.flatMap { Speedup.ratio(ngptLoss: $0, ngptCost: Double(tokens), gptCurve: gptCurve(seed: r.run.seed)) }
            }
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
