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
        /// Where the row comes from ("Table 4", "scale-matched", …; ``AblationVariant/group``).
        public var group: String?
        /// The run configuration of seed 0 (the others differ only in their seed); nil while the
        /// row waits for its inputs.
        public var configuration: RunConfiguration?
        /// The learning rate (and tuned weight decay) the row trained with, and where it came from.
        public var learningRate: Double?
        public var weightDecay: Double?
        public var rateSource: String?
        /// What the row waits for, while it cannot run.
        public var waiting: String?
        /// Final validation loss over the finished seeds (+∞ for a diverged run).
        public var loss: SeedSummary?
        /// The same in bits per byte of text (nil for runs that did not record it).
        public var bitsPerByte: SeedSummary?
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
        /// Mean of s_u and s_ν.
        public var suv: Double?
        public var sz: Double?
        /// Validation loss against training tokens, mean over the seeds that finished.
        public var curve: [TrainedRun.Point]
        public var finished: Int
        public var failed: [String]
        public var missing: [String]
    }

    public var settings: AblationSettings
    public var rows: [Row]
    /// Every tuned rate's search.
    public var tuning: [AblationStudy.TuningOutcome]?
    /// The values the scale-matched rows fixed, and where they came from.
    public var trainedValues: ScalerValues?
    public var trainedValuesSource: String?

    /// Reads every run of `study` from `runsDirectory`.
    public static func collect(_ study: AblationStudy, runsDirectory: URL) throws -> AblationResults {
        let s = study.settings
        let variants = try study.rows()
        let inputs = try study.inputs(runsDirectory: runsDirectory)
        func trained(_ v: AblationVariant, _ seed: Int) -> TrainedRun? {
            study.run(v, seed: seed, inputs: inputs).map {
                TrainedRun.read(runsDirectory.appendingPathComponent($0.id), steps: s.budget, context: s.model.context)
            }
        }
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
            let interval = v.name == AblationVariant.referenceName ? nil : Interval.t95(paired)
            let finished = runs.compactMap { $0.run }.filter { $0.status == .finished }
            let curve: [TrainedRun.Point] = {
                guard let first = finished.first?.curve, finished.allSatisfy({ $0.curve.map(\.tokens) == first.map(\.tokens) }) else { return [] }
                return first.indices.map { i in
                    TrainedRun.Point(tokens: first[i].tokens, loss: finished.reduce(0) { $0 + $1.curve[i].loss } / Double(finished.count))
                }
            }()
            func scaler(_ values: (TrainedRun) -> [Double]?) -> Double? { mean(finished.compactMap { values($0).flatMap(mean) }) }
            let rate = inputs.rates[study.rateOwner(v)]
            let first = study.run(v, seed: 0, inputs: inputs)
            let missing = (0..<s.seeds).filter { seed in runs[seed].run == nil || runs[seed].run?.status == .incomplete }
                .map { study.run(v, seed: $0, inputs: inputs)?.id ?? "\(v.name)-seed\($0)" }
            let suv = zip(scaler(\.su), scaler(\.sv)).map { ($0 + $1) / 2 }
            return Row(name: v.name, summary: v.summary, kind: v.kind, group: v.group, configuration: first?.configuration,
                       learningRate: first?.configuration.training.learningRate, weightDecay: rate?.weightDecay,
                       rateSource: rate.map { study.rateOwner(v) == v.name ? $0.source : "\(study.rateOwner(v))'s rate (\($0.source))" },
                       waiting: study.waiting(v, inputs: inputs),
                       loss: loss, bitsPerByte: SeedSummary(runs.compactMap { $0.run?.comparableBitsPerByte }), changePercent: zip(loss?.mean, referenceMean).map { 100 * ($0 / $1 - 1) },
                       changeBySeed: bySeed, insideSeedSpread: paired.count >= 2 ? (bySeed!.min <= 0 && bySeed!.max >= 0) : nil,
                       changeInterval: interval, reading: interval.map { $0.contains(0) ? "no difference shown" : $0.low > 0 ? "worse" : "better" },
                       paper: v.paper, alphaA: scaler(\.alphaA), alphaM: scaler(\.alphaM), sqk: scaler(\.sqk), suv: suv,
                       sz: mean(finished.compactMap(\.szMean)), curve: curve, finished: finished.count,
                       failed: runs.filter { $0.run?.status == .failed }.map { "seed \($0.seed): \($0.run?.message ?? "diverged")" },
                       missing: missing)
        }
        let usesTrained = variants.contains { !$0.fixedAtTrainedValue.isEmpty }
        return AblationResults(settings: s, rows: rows, tuning: inputs.tuning.isEmpty ? nil : inputs.tuning,
                               trainedValues: usesTrained ? inputs.trainedValues : nil, trainedValuesSource: usesTrained ? inputs.trainedValuesSource : nil)
    }
}

/// Both values, or nil.
private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
