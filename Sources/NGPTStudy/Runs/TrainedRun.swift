import Foundation
import NGPTNumerics
import NGPTModels

/// One training run of a study (`ngpt compare`, `ngpt ablate`): its name and the configuration
/// that `ngpt train --config` runs. The study decides what the runs are; running them and
/// reading them back is the same for every study.
public struct ScheduledRun: Sendable, Equatable {
    /// The run's directory name under the study's `runs/`.
    public var id: String
    public var configuration: RunConfiguration

    public init(id: String, configuration: RunConfiguration) {
        self.id = id
        self.configuration = configuration
    }

    /// The file in a run's directory that describes it before it starts.
    public static let configurationFile = "run.json"

    /// Why the run in `directory` is not this run: the first settings (dotted keys) in which the
    /// configuration it was started with (`config.json`) differs from ``configuration`` — the
    /// model, the training options or the data — or nil when it is this run or nothing has been
    /// started there. Studies check this before reusing a run, so a run directory left by other
    /// settings (another shape, batch, precision, data…) is never reported as this run.
    public func mismatch(in directory: URL) -> String? {
        let file = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        guard let started = try? RunConfiguration.read(from: file) else {
            return "\(file.path) cannot be read as a run configuration"
        }
        var a = started, b = configuration
        a.version = ""
        b.version = ""
        guard a != b else { return nil }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        func flat(_ c: RunConfiguration) -> [String: String] {
            guard let data = try? encoder.encode(c), let object = try? JSONSerialization.jsonObject(with: data) else { return [:] }
            var out = [String: String]()
            func walk(_ value: Any, _ path: String) {
                if let d = value as? [String: Any] {
                    for (k, v) in d { walk(v, path.isEmpty ? k : path + "." + k) }
                } else {
                    out[path] = "\(value)"
                }
            }
            walk(object, "")
            return out
        }
        let (x, y) = (flat(a), flat(b))
        // the settings a reader recognises first: shape, data, batch, steps, rate, precision
        let first = ["model.width", "model.layers", "model.heads", "model.context", "model.kind", "data", "training.batchSize",
                     "training.steps", "training.learningRate", "training.parameterPrecision", "training.seed"]
        let keys = Set(x.keys).union(y.keys).filter { x[$0] != y[$0] }.sorted {
            (first.firstIndex(of: $0) ?? first.count, $0) < (first.firstIndex(of: $1) ?? first.count, $1)
        }
        let shown = keys.prefix(3).map { "\($0) \(x[$0] ?? "absent") instead of \(y[$0] ?? "absent")" }
        return "\(directory.path) holds a run started with other settings (" + (shown.isEmpty ? "its configuration differs" : shown.joined(separator: ", ")) + (keys.count > 3 ? ", …" : "") + ")"
    }

    /// Throws when any of `runs` has a directory under `runsDirectory` started with other
    /// settings (``mismatch(in:)``), naming the first and saying what to do.
    public static func checkReusable(_ runs: [ScheduledRun], in runsDirectory: URL) throws {
        for run in runs {
            if let problem = run.mismatch(in: runsDirectory.appendingPathComponent(run.id)) {
                throw TrainingError.invalidOption("\(problem); the study will not report it as its own run — use another --out, or remove that run directory to train it again")
            }
        }
    }

    /// Writes ``configuration`` to `directory/run.json` (creating the directory).
    @discardableResult
    public func writeConfiguration(to directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(Self.configurationFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(configuration).write(to: url, options: .atomic)
        return url
    }
}

/// What a finished (or failed, or unfinished) run left in its directory, read back from its
/// `status.json` and `metrics.jsonl`.
public struct TrainedRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case finished, failed, incomplete }
    public struct Point: Codable, Sendable, Equatable { public var tokens: Int; public var loss: Double }
    public struct ContextLoss: Codable, Sendable, Equatable { public var context: Int; public var loss: Double }

    public var status: Status
    /// Why a failed run failed.
    public var message: String?
    public var finalValLoss: Double?
    /// ``finalValLoss`` in bits per byte of text (``/NGPTModels/BitsPerByte``), when the run's
    /// metrics carry it (runs on data whose `meta.json` gives the text's length; not runs written
    /// before bits per byte were recorded).
    public var finalValBitsPerByte: Double?
    public var finalTrainLoss: Double?
    /// Wall-clock seconds of training (evaluations included).
    public var seconds: Double?
    /// The validation curve: loss at the training context vs training tokens.
    public var curve: [Point]
    /// Final validation loss at the training context and at each extrapolated context.
    public var contexts: [ContextLoss]
    /// The loss by position in the longest extrapolation window (bins of ``positionBin``), if
    /// the run evaluated on shared windows.
    public var positionLoss: [Double]?
    public var positionBin: Int?
    /// The final evaluation's scaler summary (nGPT): per-layer mean |α_A|, |α_M|, s_qk, and the
    /// mean s_z.
    public var alphaA: [Double]?
    public var alphaM: [Double]?
    public var sqk: [Double]?
    /// Per-layer mean |s_u| and |s_ν| (without the √d factor).
    public var su: [Double]?
    public var sv: [Double]?
    public var szMean: Double?

    /// The loss used for comparisons: +∞ for a failed (diverged) run, nil while unfinished.
    public var comparableLoss: Double? {
        switch status {
        case .finished: return finalValLoss
        case .failed: return .infinity
        case .incomplete: return nil
        }
    }

    /// ``finalValBitsPerByte`` for comparisons: +∞ for a failed (diverged) run, nil while
    /// unfinished or when the run did not record it.
    public var comparableBitsPerByte: Double? {
        switch status {
        case .finished: return finalValBitsPerByte
        case .failed: return .infinity
        case .incomplete: return nil
        }
    }

    /// Reads `directory` (made by `ngpt train`) as a run that ends at step `steps` at context
    /// `context`.
    /// A run with a status file is finished only when it says so: `ngpt train` writes
    /// `finished` last, after the final checkpoint and every evaluation record, so a run killed
    /// after its final evaluation but before its extrapolation records (or its final checkpoint)
    /// is not. A run from before status files is finished when its final evaluation is there.
    public static func read(_ directory: URL, steps: Int, context: Int) -> TrainedRun {
        var r = TrainedRun(status: .incomplete, curve: [], contexts: [])
        // The run's status file says whether it failed and why (a damaged one is a failure too).
        var unfinished = false
        do {
            if let status = try RunStatus.read(directory) {
                if status.state == .failed {
                    r.status = .failed
                    r.message = status.message
                }
                unfinished = status.state == .running
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
            // running the study again resumes the run, which repairs a cut last line.
            r.status = .failed
            r.message = "\(error)"
            return r
        }
        let evals = records.filter { $0.kind == "eval" && $0.context == nil }
        r.curve = evals.compactMap { e in e.valLoss.map { Point(tokens: e.tokens, loss: $0) } }
        if records.contains(where: { ($0.trainLoss.map { !$0.isFinite } ?? false) }) { r.status = .failed }
        guard r.status != .failed, !unfinished, let last = evals.last(where: { $0.step == steps }) else { return r }
        r.status = .finished
        r.finalValLoss = last.valLoss
        r.finalValBitsPerByte = last.valBitsPerByte
        r.finalTrainLoss = records.last { $0.kind == "train" && $0.step == steps }?.trainLoss
        r.seconds = records.filter { $0.step == steps }.map(\.seconds).max()
        (r.alphaA, r.alphaM, r.sqk, r.szMean) = (last.alphaA, last.alphaM, last.sqk, last.szMean)
        (r.su, r.sv) = (last.su, last.sv)
        let extrapolated = records.filter { $0.kind == "eval" && $0.context != nil && $0.step == steps }
        // shared windows evaluate 1× on the long windows' slices; older runs only have the
        // ordinary evaluation at the training context
        let atContext = extrapolated.contains { $0.context == context } ? [] : [ContextLoss(context: context, loss: last.valLoss ?? .nan)]
        r.contexts = atContext + extrapolated.compactMap { e in e.valLoss.map { ContextLoss(context: e.context!, loss: $0) } }
        if let longest = extrapolated.first(where: { $0.positionLoss != nil }) {
            r.positionLoss = longest.positionLoss
            r.positionBin = longest.positionBin
        }
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

extension ScheduledRun {
    /// The run's work, for a study's ETA and the order of its runs: its training steps' FLOP
    /// (the model's FLOP per token, attention's included) and its evaluations' forward passes (a
    /// third of a training step's FLOP per token).
    package var work: Double {
        let m = configuration.model, o = configuration.training
        let evaluations = o.evalEvery > 0 ? o.steps / o.evalEvery + 1 : 1
        let tokens = Double(o.steps * o.batchSize * m.context) + Double(evaluations * o.evalBatches * o.batchSize * m.context) / 3
        return tokens * ModelBenchmark.flopPerToken(m)
    }

    /// The order in which a study starts `runs`: the most ``work`` first (stable among equals),
    /// so that with several jobs the last runs of a phase are short ones and no job idles long
    /// while another finishes. A run's result does not depend on when it runs.
    package static func startingOrder(_ runs: [ScheduledRun]) -> [ScheduledRun] {
        runs.enumerated().map { (work: $0.element.work, offset: $0.offset) }
            .sorted { a, b in a.work != b.work ? a.work > b.work : a.offset < b.offset }
            .map { runs[$0.offset] }
    }
}
