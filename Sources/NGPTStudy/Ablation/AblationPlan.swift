import Foundation
import NGPTNumerics
import NGPTModels

/// An ablation study: the settings and the rows. The library's rows are
/// ``AblationVariant/defaultSet``; a study may add its own (also architectures written outside
/// the library).
///
/// Some runs depend on others: a row whose rate is tuned waits for its tuning runs, and a
/// scale-matched row waits for the default-nGPT runs whose final scalers it fixes. ``inputs(runsDirectory:)``
/// reads what the finished runs determine, and ``currentRuns(_:)`` lists the runs that can be
/// run now; a study runs them, reads the inputs again, and stops when nothing new can be run.
public struct AblationStudy: Sendable {
    public var settings: AblationSettings
    /// Every variant the study knows; ``AblationSettings/variants`` selects and orders the rows.
    public var variants: [AblationVariant]

    public init(settings: AblationSettings, variants: [AblationVariant] = AblationVariant.defaultSet) {
        self.settings = settings
        self.variants = variants
    }

    /// The rate a row trains with and where it came from.
    public struct RowRate: Codable, Sendable, Equatable {
        public var lr: Double
        /// The weight decay tuned with it, when the row tunes one.
        public var weightDecay: Double?
        public var source: String
    }

    /// One tuned learning rate: the row whose configuration is tuned, at one weight decay (nil:
    /// the row's own).
    public struct TuningCell: Hashable, Sendable {
        public var row: String
        public var weightDecay: Double?
    }

    /// Where a tuning cell's search stands.
    public struct TuningOutcome: Codable, Sendable {
        public var row: String
        public var weightDecay: Double?
        public var search: RateGrid
    }

    /// What the finished runs determine: the tuning searches, the rates chosen, the trained
    /// scaler values.
    public struct Inputs: Sendable {
        public var tuning: [TuningOutcome]
        /// Keyed by the row whose rate it is (a tuned row, or `gpt`/`ngpt` for their model's rate).
        public var rates: [String: RowRate]
        public var trainedValues: ScalerValues?
        public var trainedValuesSource: String?
    }

    /// The selected rows, in the settings' order; throws for a name no variant has.
    public func rows() throws -> [AblationVariant] {
        try settings.variants.map { name in
            guard let v = variant(name) else {
                let known = variants.map(\.name).joined(separator: ", ")
                throw TrainingError.invalidOption("--variants: no row is called '\(ErrorText.cut(name))'; the rows are \(known)")
            }
            return v
        }
    }

    private func variant(_ name: String) -> AblationVariant? { variants.first { $0.name == name } }

    /// The row whose rate `v` trains with: `v` itself when it tunes its own, else its model's
    /// default row.
    public func rateOwner(_ v: AblationVariant) -> String {
        v.rate != .model && settings.retune ? v.name : AblationVariant.referenceName(of: v.kind)
    }

    /// The kind of a rate owner: a row's, or a model's by its name (`gpt`, `ngpt`, the names of
    /// the reference rows of settings written before rows had kinds).
    private func kind(ofOwner owner: String) -> ModelKind {
        variant(owner)?.kind ?? ModelKind(rawValue: owner) ?? .ngpt
    }

    /// The rates the study tunes: its models' rates not given, and every selected row that tunes
    /// its own (at each of its weight decays).
    public func tuningCells() throws -> [TuningCell] {
        var owners = [String]()
        for v in try rows() {
            let owner = rateOwner(v)
            let tuned = owner == v.name && v.rate != .model || settings.givenRate(v.kind) == nil
            if tuned && !owners.contains(owner) { owners.append(owner) }
        }
        return owners.flatMap { owner -> [TuningCell] in
            if owner != AblationVariant.referenceName(of: kind(ofOwner: owner)), case let .ownWithWeightDecay(decays)? = variant(owner)?.rate {
                return decays.map { TuningCell(row: owner, weightDecay: $0) }
            }
            return [TuningCell(row: owner, weightDecay: nil)]
        }
    }

    /// The default run of `kind`: the study's shape, the model's recipe with the study's budget,
    /// batch, `seed` and `lr`, evaluated on the report half of the validation text (so rates
    /// chosen on its selection half are never scored on the text that chose them).
    public func defaultRun(_ kind: ModelKind, seed: Int, lr: Double) -> RunConfiguration {
        let s = settings
        var run = RunConfiguration.study(StudyModel(kind.rawValue), shape: s.model, context: s.model.context, steps: s.budget, batchSize: s.batchSize,
                                         seed: seed, learningRate: lr, evalPoints: s.evalPoints,
                                         evalBatches: s.evalBatches, data: s.data)
        run.training.validationPart = .report
        return run
    }

    /// A run of `cell` at `lr` and tuning seed `seed`: the row's configuration, scored on the
    /// selection half, without the learning curve.
    public func tuningRun(_ cell: TuningCell, lr: Double, seed: Int) -> ScheduledRun {
        let kind = kind(ofOwner: cell.row)
        var c = defaultRun(kind, seed: seed, lr: lr)
        variant(cell.row)?.change(&c)
        if let wd = cell.weightDecay { c.training.weightDecay = wd }
        c.training.validationPart = .selection
        c.training.evalEvery = 0
        c.training.extrapolation = []
        let rate = String(format: "%.2e", lr).replacingOccurrences(of: "+", with: "")
        let decay = cell.weightDecay.map { "-wd\(String(format: "%g", $0))" } ?? ""
        return ScheduledRun(id: "tune-\(cell.row)\(decay)-lr\(rate)-seed\(seed)", configuration: c)
    }

    /// Every tuning cell's search as far as the finished runs in `runsDirectory` take it.
    public func tuningOutcomes(runsDirectory: URL) throws -> [TuningOutcome] {
        try tuningCells().map { cell in
            let search = RateGrid.search(start: settings.lrGrid, extensions: settings.gridExtensions) { lr in
                settings.tuningSeedList.map { seed in
                    let run = tuningRun(cell, lr: lr, seed: seed)
                    return TrainedRun.read(runsDirectory.appendingPathComponent(run.id), steps: settings.budget, context: settings.model.context).comparableLoss
                }
            }
            return TuningOutcome(row: cell.row, weightDecay: cell.weightDecay, search: search)
        }
    }

    /// What the finished runs in `runsDirectory` determine.
    public func inputs(runsDirectory: URL) throws -> Inputs {
        let tuning = try tuningOutcomes(runsDirectory: runsDirectory)
        var rates = [String: RowRate]()
        for kind in ModelKind.allCases {
            if let lr = settings.givenRate(kind) { rates[AblationVariant.referenceName(of: kind)] = RowRate(lr: lr, weightDecay: nil, source: settings.lrSource) }
        }
        for owner in Set(tuning.map(\.row)) {
            let cells = tuning.filter { $0.row == owner }
            guard cells.allSatisfy({ $0.search.complete }) else { continue }
            let scored = cells.compactMap { o -> (TuningOutcome, Double)? in
                guard let best = o.search.best, let i = o.search.grid.firstIndex(of: best), let loss = o.search.losses[i] else { return nil }
                return (o, loss)
            }
            guard let (o, _) = scored.min(by: { $0.1 < $1.1 }), let lr = o.search.best else { continue }
            let g = o.search.grid
            var source = "tuned at \(settings.budget) steps: best of \(g.count) rates \(Self.rate(g.first!))…\(Self.rate(g.last!))"
                + "\(o.search.atEdge ? " (at the grid's edge)" : ""), seed\(settings.tuningSeeds > 1 ? "s" : "") \(settings.tuningSeedList.map(String.init).joined(separator: ", ")), selection half"
            if let wd = o.weightDecay {
                let others = scored.filter { $0.0.weightDecay != wd }.map { "\(String(format: "%g", $0.0.weightDecay ?? 0)) scored \(String(format: "%.4f", $0.1))" }
                source += "; weight decay \(String(format: "%g", wd)) chosen" + (others.isEmpty ? "" : " (\(others.joined(separator: ", ")))")
            }
            rates[owner] = RowRate(lr: lr, weightDecay: o.weightDecay, source: source)
        }
        var trained = settings.trainedValues
        var trainedSource: String? = trained == nil ? nil : "given"
        if trained == nil, let reference = variant(AblationVariant.referenceName), let rate = rates[rateOwner(reference)] {
            let runs = (0..<settings.seeds).map { seed in
                TrainedRun.read(runsDirectory.appendingPathComponent(finalRun(reference, seed: seed, rate: rate, trained: nil).id),
                                steps: settings.budget, context: settings.model.context)
            }
            if runs.allSatisfy({ $0.status == .finished }), let mean = ScalerValues.mean(of: runs) {
                trained = mean.rounded
                trainedSource = "default nGPT's final scalers, mean over layers and its \(runs.count) seed\(runs.count == 1 ? "" : "s")"
            }
        }
        return Inputs(tuning: tuning, rates: rates, trainedValues: trained, trainedValuesSource: trainedSource)
    }

    package static func rate(_ lr: Double) -> String { String(format: "%.2e", lr) }

    private func finalRun(_ v: AblationVariant, seed: Int, rate: RowRate, trained: ScalerValues?) -> ScheduledRun {
        var c = defaultRun(v.kind, seed: seed, lr: rate.lr)
        v.change(&c)
        if let wd = rate.weightDecay { c.training.weightDecay = wd }
        if let trained {
            for s in v.fixedAtTrainedValue {
                c.model[keyPath: s.keyPath].mode = .fixed
                c.model[keyPath: s.keyPath].initValue = Float(trained[s])
            }
        }
        return ScheduledRun(id: "\(v.name)-seed\(seed)", configuration: c)
    }

    /// The run of `variant` at `seed`, once its inputs are known (its rate and, for a
    /// scale-matched row, the trained values); nil before.
    public func run(_ v: AblationVariant, seed: Int, inputs: Inputs) -> ScheduledRun? {
        guard let rate = inputs.rates[rateOwner(v)] else { return nil }
        if !v.fixedAtTrainedValue.isEmpty && inputs.trainedValues == nil { return nil }
        return finalRun(v, seed: seed, rate: rate, trained: inputs.trainedValues)
    }

    /// Why a row cannot run yet, or nil.
    public func waiting(_ v: AblationVariant, inputs: Inputs) -> String? {
        if inputs.rates[rateOwner(v)] == nil {
            let owner = rateOwner(v)
            let cells = inputs.tuning.filter { $0.row == owner }
            if !cells.isEmpty, cells.allSatisfy({ $0.search.complete && $0.search.best == nil }) {
                return "every tuning rate of \(owner) diverged"
            }
            return "waits for \(owner == v.name ? "its" : owner + "'s") learning-rate tuning"
        }
        if !v.fixedAtTrainedValue.isEmpty && inputs.trainedValues == nil { return "waits for default nGPT's trained scalers (all its seeds)" }
        return nil
    }

    /// Every run that can run now: the current tuning grids, then the reported runs whose inputs
    /// are known, seed by seed (finished ones included).
    public func currentRuns(_ inputs: Inputs) throws -> [ScheduledRun] { try currentRunsByRow(inputs).map(\.run) }

    /// The run of `variant` at `seed` as if every input were known: rates are placeholders, the
    /// trained values the given ones or 1 (for checking configurations before any run).
    package func provisionalRun(_ v: AblationVariant, seed: Int) -> ScheduledRun {
        let kind = kind(ofOwner: rateOwner(v))
        let lr = settings.givenRate(kind) ?? settings.lrGrid[0]
        var wd: Double?
        if case let .ownWithWeightDecay(decays) = v.rate, settings.retune { wd = decays.first }
        return finalRun(v, seed: seed, rate: RowRate(lr: lr, weightDecay: wd, source: ""),
                        trained: settings.trainedValues ?? ScalerValues(alpha: 1, sqk: 1, suv: 1, sz: 1))
    }

    /// Checks every row's configuration, naming the row of the first that cannot be built.
    public func validate() throws {
        try settings.validate()
        for v in try rows() {
            let c = provisionalRun(v, seed: 0).configuration
            do {
                try c.model.validate()
                try c.training.validate()
                if let build = v.architecture { _ = build(c.model).parameters } else { _ = try c.makeArchitecture().parameters }
            } catch {
                throw TrainingError.invalidOption("row \(v.name): \(error)")
            }
            if !v.fixedAtTrainedValue.isEmpty && !v.kind.hasScalers {
                throw TrainingError.invalidOption("row \(v.name) fixes nGPT's scalers but is a \(v.kind.rawValue) row")
            }
        }
        if try rows().contains(where: { !$0.fixedAtTrainedValue.isEmpty }) && settings.trainedValues == nil
            && variant(AblationVariant.referenceName)?.kind.hasScalers != true {
            throw TrainingError.invalidOption("the scale-matched rows take their values from row \(AblationVariant.referenceName), which is not default nGPT here; give --trained-values")
        }
    }
}
