import Foundation
import NGPTNumerics
import NGPTModels

/// Everything `ngpt ablate` reports: `results.json`.
public struct AblationResults: Codable, Sendable {
    /// One row: a variant over its seeds.
    public struct Row: Codable, Sendable {
        public var name: String
        public var summary: String
        public var kind: ModelKind
        /// The run configuration of seed 0 (the others differ only in their seed).
        public var configuration: RunConfiguration
        /// Final validation loss over the finished seeds (+∞ for a diverged run).
        public var loss: SeedSummary?
        /// 100 · (mean loss ÷ default nGPT's mean loss − 1).
        public var changePercent: Double?
        /// The same per seed, against default nGPT's run of the same seed.
        public var changeBySeed: SeedSummary?
        /// Whether the per-seed changes include 0 (the difference from default nGPT lies inside
        /// the seed spread); nil with fewer than two paired seeds.
        public var insideSeedSpread: Bool?
        /// The 95 % t interval of the per-seed changes (paired: same seed, same data order), in
        /// percent; nil with fewer than two paired seeds.
        public var changeInterval: Interval?
        /// "better", "worse" or "no difference shown", from ``changeInterval`` (lower loss is
        /// better); nil without an interval.
        public var reading: String?
        /// The paper's reported change, where it gives one.
        public var paper: String?
        /// Final scalers, mean over layers and seeds (nGPT rows).
        public var alphaA: Double?
        public var alphaM: Double?
        public var sqk: Double?
        public var sz: Double?
        /// Validation loss against training tokens, mean over the seeds that finished.
        public var curve: [TrainedRun.Point]
        public var finished: Int
        public var failed: [String]
        public var missing: [String]
    }

    public var settings: AblationSettings
    public var rows: [Row]

    /// Reads every run of `study` from `runsDirectory`.
    public static func collect(_ study: AblationStudy, runsDirectory: URL) throws -> AblationResults {
        let s = study.settings
        let variants = try study.rows()
        var read = [String: TrainedRun]()
        for run in try study.runs() {
            read[run.id] = TrainedRun.read(runsDirectory.appendingPathComponent(run.id), steps: s.budget, context: s.model.context)
        }
        func trained(_ v: AblationVariant, _ seed: Int) -> TrainedRun? { read[study.run(v, seed: seed).id] }
        let reference = variants.first { $0.name == AblationVariant.referenceName }
        let referenceLosses: [Int: Double] = Dictionary(uniqueKeysWithValues: (0..<s.seeds).compactMap { seed in
            reference.flatMap { trained($0, seed)?.comparableLoss }.map { (seed, $0) }
        })
        let referenceMean = SeedSummary(Array(referenceLosses.values))?.mean
        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        let rows = variants.map { v -> Row in
            let runs = (0..<s.seeds).map { (seed: $0, run: trained(v, $0)) }
            let losses = runs.compactMap { $0.run?.comparableLoss }
            let loss = SeedSummary(losses)
            let paired = runs.compactMap { r -> Double? in
                guard let l = r.run?.comparableLoss, let ref = referenceLosses[r.seed] else { return nil }
                return 100 * (l / ref - 1)
            }
            let bySeed = SeedSummary(paired)
            let finished = runs.compactMap { $0.run }.filter { $0.status == .finished }
            let curve: [TrainedRun.Point] = {
                guard let first = finished.first?.curve, finished.allSatisfy({ $0.curve.map(\.tokens) == first.map(\.tokens) }) else { return [] }
                return first.indices.map { i in
                    TrainedRun.Point(tokens: first[i].tokens, loss: finished.reduce(0) { $0 + $1.curve[i].loss } / Double(finished.count))
                }
            }()
            func scaler(_ values: (TrainedRun) -> [Double]?) -> Double? { mean(finished.compactMap { values($0).flatMap(mean) }) }
            return Row(name: v.name, summary: v.summary, kind: v.kind, configuration: study.run(v, seed: 0).configuration,
                       loss: loss, changePercent: zip(loss?.mean, referenceMean).map { 100 * ($0 / $1 - 1) },
                       changeBySeed: bySeed, insideSeedSpread: paired.count >= 2 ? (bySeed!.min <= 0 && bySeed!.max >= 0) : nil,
                       changeInterval: Interval.t95(paired), reading: Interval.t95(paired).map { $0.contains(0) ? "no difference shown" : $0.low > 0 ? "worse" : "better" },
                       paper: v.paper, alphaA: scaler(\.alphaA), alphaM: scaler(\.alphaM), sqk: scaler(\.sqk),
                       sz: mean(finished.compactMap(\.szMean)), curve: curve, finished: finished.count,
                       failed: runs.filter { $0.run?.status == .failed }.map { "seed \($0.seed): \($0.run?.message ?? "diverged")" },
                       missing: runs.filter { $0.run == nil || $0.run?.status == .incomplete }.map { study.run(v, seed: $0.seed).id })
        }
        return AblationResults(settings: s, rows: rows)
    }
}

/// Both values, or nil.
private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
