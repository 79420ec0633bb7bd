import Foundation
import NGPTNumerics
import NGPTModels

/// What one run of a comparison produced, read back from its directory.
public struct RunResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case finished, failed, incomplete }
    public struct Point: Codable, Sendable, Equatable { public var tokens: Int; public var loss: Double }
    public struct ContextLoss: Codable, Sendable, Equatable { public var context: Int; public var loss: Double }

    public var id: String
    public var run: PlannedRun
    public var status: Status
    /// Why a failed run failed (the last line of its log).
    public var message: String?
    public var tokens: Int
    public var finalValLoss: Double?
    public var finalTrainLoss: Double?
    /// Wall-clock seconds of training (evaluations included).
    public var seconds: Double?
    /// The validation curve: loss at the training context vs training tokens.
    public var curve: [Point]
    /// Final validation loss at the training context and at each extrapolated context.
    public var contexts: [ContextLoss]

    /// The loss used for comparisons: +∞ for a failed (diverged) run.
    public var comparableLoss: Double? {
        switch status {
        case .finished: return finalValLoss
        case .failed: return .infinity
        case .incomplete: return nil
        }
    }

    /// Reads `directory` (made by `ngpt train`) as the result of `run`.
    public static func read(_ run: PlannedRun, directory: URL, batchSize: Int) -> RunResult {
        var r = RunResult(id: run.id, run: run, status: .incomplete, tokens: run.tokens(batchSize: batchSize),
                          curve: [], contexts: [])
        // The run's status file says whether it failed and why (a damaged one is a failure too).
        do {
            if let status = try RunStatus.read(directory), status.state == .failed {
                r.status = .failed
                r.message = status.message
            }
        } catch {
            r.status = .failed
            r.message = "\(error)"
            return r
        }
        let metrics = directory.appendingPathComponent("metrics.jsonl")
        guard FileManager.default.fileExists(atPath: metrics.path) else { return r }
        let records: [MetricsRecord]
        do { records = try MetricsLog.read(metrics) } catch {
            // A damaged log is reported (it names the file and line), never silently dropped;
            // running the comparison again resumes the run, which repairs a cut last line.
            r.status = .failed
            r.message = "\(error)"
            return r
        }
        let evals = records.filter { $0.kind == "eval" && $0.context == nil }
        r.curve = evals.compactMap { e in e.valLoss.map { Point(tokens: e.tokens, loss: $0) } }
        if records.contains(where: { ($0.trainLoss.map { !$0.isFinite } ?? false) }) { r.status = .failed }
        guard r.status != .failed, let last = evals.last(where: { $0.step == run.steps }) else { return r }
        r.status = .finished
        r.finalValLoss = last.valLoss
        r.finalTrainLoss = records.last { $0.kind == "train" && $0.step == run.steps }?.trainLoss
        r.seconds = records.filter { $0.step == run.steps }.map(\.seconds).max()
        r.contexts = [ContextLoss(context: run.context, loss: last.valLoss ?? .nan)]
            + records.filter { $0.kind == "eval" && $0.context != nil && $0.step == run.steps }
                .compactMap { e in e.valLoss.map { ContextLoss(context: e.context!, loss: $0) } }
        return r
    }
}

/// Mean, spread and members of one number over seeds.
public struct SeedSummary: Codable, Sendable, Equatable {
    public var values: [Double]
    public var mean: Double
    public var min: Double
    public var max: Double

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        self.values = values
        mean = values.reduce(0, +) / Double(values.count)
        min = values.min()!
        max = values.max()!
    }
}

/// Everything `ngpt compare` reports: `results.json`.
public struct ComparisonResults: Codable, Sendable {
    public struct Tuning: Codable, Sendable {
        public var kind: ModelKind
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
        /// Tokens GPT needs for nGPT's mean final loss (GPT's mean curve) ÷ nGPT's tokens.
        public var speedup: Speedup.Ratio?
        /// The same per seed (nGPT seed s against GPT seed s's curve).
        public var speedupBySeed: [Speedup.Ratio]
        /// Seconds GPT needs for nGPT's mean final loss ÷ nGPT's mean seconds.
        public var wallClockSpeedup: Speedup.Ratio?
    }

    public struct Extrapolation: Codable, Sendable {
        public struct Point: Codable, Sendable {
            /// 1 for the training context, 2 for twice it, …
            public var multiple: Int
            public var context: Int
            /// Mean final validation loss over seeds at that context.
            public var loss: Double
        }
        public var kind: ModelKind
        public var steps: Int
        public var points: [Point]

        public func loss(multiple: Int) -> Double? { points.first { $0.multiple == multiple }?.loss }
    }

    public struct Context: Codable, Sendable {
        public var context: Int
        public var budgets: [Budget]
        public var extrapolation: [Extrapolation]
    }

    public var settings: ComparisonSettings
    public var tuning: [Tuning]
    public var lrGPT: Double
    public var lrNGPT: Double
    public var lrSource: String
    /// Models whose tuned rate is the smallest or largest of the grid: the true optimum may lie
    /// outside it, and the comparison may favour the other model.
    public var lrAtGridEdge: [ModelKind]
    public var contexts: [Context]
    public var runs: [RunResult]
    public var missingRuns: [String]

    /// The tuned (or given) learning rates, from the tuning runs in `runsDirectory`; nil while a
    /// tuning run is unfinished.
    public static func chosenLearningRates(_ s: ComparisonSettings, runsDirectory: URL) -> (gpt: Double, ngpt: Double, tuning: [Tuning])? {
        var tuning = [Tuning]()
        var chosen = [ModelKind: Double]()
        for kind in ModelKind.allCases {
            if let fixed = kind == .gpt ? s.lrGPT : s.lrNGPT { chosen[kind] = fixed; continue }
            var best: (lr: Double, loss: Double)?
            for run in ComparisonPlanner.tuningRuns(s) where run.kind == kind {
                let r = RunResult.read(run, directory: runsDirectory.appendingPathComponent(run.id), batchSize: s.batchSize)
                tuning.append(Tuning(kind: kind, lr: run.lr, valLoss: r.finalValLoss, status: r.status))
                guard let loss = r.comparableLoss else { return nil }
                if best == nil || loss < best!.loss { best = (run.lr, loss) }
            }
            guard let best, best.loss.isFinite else { chosen[kind] = nil; continue }
            chosen[kind] = best.lr
        }
        guard let g = chosen[.gpt], let n = chosen[.ngpt] else { return nil }
        return (g, n, tuning)
    }

    /// Reads every run of the comparison from `runsDirectory` and computes the report's numbers.
    public static func collect(_ s: ComparisonSettings, runsDirectory: URL) throws -> ComparisonResults {
        guard let (lrG, lrN, tuning) = chosenLearningRates(s, runsDirectory: runsDirectory) else {
            throw TrainingError.invalidOption("the learning-rate tuning runs in \(runsDirectory.path) are not all finished (or every rate diverged); run them first")
        }
        let planned = ComparisonPlanner.finalRuns(s, lrGPT: lrG, lrNGPT: lrN)
        let results = planned.map { RunResult.read($0, directory: runsDirectory.appendingPathComponent($0.id), batchSize: s.batchSize) }
        let byRun = Dictionary(uniqueKeysWithValues: zip(planned, results).map { ($0, $1) })
        var contexts = [Context]()
        for t in s.contexts {
            func results(_ kind: ModelKind, _ steps: Int) -> [RunResult] {
                (0..<s.seeds).compactMap { byRun[PlannedRun(kind: kind, context: t, steps: steps, seed: $0, lr: kind == .gpt ? lrG : lrN)] }
            }
            func curve(_ kind: ModelKind, seed: Int?) -> [(cost: Double, loss: Double)] {
                s.budgets.compactMap { n in
                    let losses = results(kind, n).filter { seed == nil || $0.run.seed == seed }.compactMap(\.comparableLoss)
                    guard let m = SeedSummary(losses) else { return nil }
                    return (Double(n * s.batchSize * t), m.mean)
                }
            }
            let gptCurve = curve(.gpt, seed: nil)
            let gptTime: [(cost: Double, loss: Double)] = s.budgets.compactMap { n in
                let rs = results(.gpt, n)
                guard let sec = SeedSummary(rs.compactMap(\.seconds)), let l = SeedSummary(rs.compactMap(\.comparableLoss)) else { return nil }
                return (sec.mean, l.mean)
            }
            var budgets = [Budget]()
            for n in s.budgets {
                let tokens = n * s.batchSize * t
                let g = results(.gpt, n), m = results(.ngpt, n)
                let ngpt = SeedSummary(m.compactMap(\.comparableLoss))
                var b = Budget(steps: n, tokens: tokens, gpt: SeedSummary(g.compactMap(\.comparableLoss)), ngpt: ngpt,
                               gptSeconds: SeedSummary(g.compactMap(\.seconds)), ngptSeconds: SeedSummary(m.compactMap(\.seconds)),
                               speedup: nil, speedupBySeed: [], wallClockSpeedup: nil)
                if let ngpt {
                    b.speedup = Speedup.ratio(ngptLoss: ngpt.mean, ngptCost: Double(tokens), gptCurve: gptCurve)
                    b.speedupBySeed = m.compactMap { r in
                        r.comparableLoss.flatMap { Speedup.ratio(ngptLoss: $0, ngptCost: Double(tokens), gptCurve: curve(.gpt, seed: r.run.seed)) }
                    }
                    if let sec = b.ngptSeconds {
                        b.wallClockSpeedup = Speedup.ratio(ngptLoss: ngpt.mean, ngptCost: sec.mean, gptCurve: gptTime)
                    }
                }
                budgets.append(b)
            }
            var extrapolation = [Extrapolation]()
            for kind in ModelKind.allCases {
                for n in s.budgets {
                    var points = [Extrapolation.Point]()
                    for m in [1] + s.extrapolation {
                        let values = results(kind, n).compactMap { r in r.contexts.first { $0.context == m * t }?.loss }
                        if let v = SeedSummary(values) { points.append(.init(multiple: m, context: m * t, loss: v.mean)) }
                    }
                    if !points.isEmpty { extrapolation.append(Extrapolation(kind: kind, steps: n, points: points)) }
                }
            }
            contexts.append(Context(context: t, budgets: budgets, extrapolation: extrapolation))
        }
        let missing = results.filter { $0.status == .incomplete }.map(\.id)
        let source = s.lrGPT != nil && s.lrNGPT != nil ? "given" : "tuned at \(s.tuneBudget) steps, seed 0, context \(s.contexts[0])"
        let edges = ModelKind.allCases.filter { kind in
            guard s.needsTuning(kind), s.lrGrid.count > 1 else { return false }
            let lr = kind == .gpt ? lrG : lrN
            return lr == s.lrGrid.min() || lr == s.lrGrid.max()
        }
        return ComparisonResults(settings: s, tuning: tuning, lrGPT: lrG, lrNGPT: lrN, lrSource: source, lrAtGridEdge: edges,
                                 contexts: contexts, runs: results, missingRuns: missing)
    }
}
