import Foundation
import NGPTNumerics

/// One line of `RUN/metrics.jsonl`: a training step or an evaluation.
public struct MetricsRecord: Sendable, Equatable {
    /// "train" or "eval".
    public var kind: String
    public var step: Int
    /// Training tokens seen after this step.
    public var tokens: Int
    public var lr: Double?
    public var trainLoss: Double?
    public var valLoss: Double?
    /// The validation loss in bits per byte of text (``BitsPerByte``), when the data directory
    /// says how many bytes a token covers (every `ngpt prepare` directory does).
    public var valBitsPerByte: Double?
    public var gradNorm: Double?
    /// Wall-clock seconds of training so far (resumed runs continue the count).
    public var seconds: Double
    public var tokensPerSecond: Double?
    /// What the architecture reports per layer (``Architecture/layerValues(_:)``), by name; each
    /// is a key of its own in the line (nGPT: `alpha_a`, `alpha_m`, `sqk`, `su`, `sv`).
    public var layerValues: [String: [Double]] = [:]
    /// The mean effective logit scale s_z (nGPT).
    public var szMean: Double?
    /// Evaluations at another context (length extrapolation): the context.
    public var context: Int?
    /// The longest extrapolation evaluation: the mean loss by position in the window, in bins
    /// of ``positionBin`` positions (bin `i` covers positions `i·bin ..< (i+1)·bin`).
    public var positionLoss: [Double]?
    public var positionBin: Int?

    /// nGPT's per-layer mean |α_A| (`alpha_a` of ``layerValues``).
    public var alphaA: [Double]? {
        get { layerValues["alpha_a"] }
        set { layerValues["alpha_a"] = newValue }
    }
    /// nGPT's per-layer mean |α_M| (`alpha_m`).
    public var alphaM: [Double]? {
        get { layerValues["alpha_m"] }
        set { layerValues["alpha_m"] = newValue }
    }
    /// nGPT's per-layer mean |s_qk| (`sqk`).
    public var sqk: [Double]? {
        get { layerValues["sqk"] }
        set { layerValues["sqk"] = newValue }
    }
    /// nGPT's per-layer mean |s_u| (`su`).
    public var su: [Double]? {
        get { layerValues["su"] }
        set { layerValues["su"] = newValue }
    }
    /// nGPT's per-layer mean |s_ν| (`sv`).
    public var sv: [Double]? {
        get { layerValues["sv"] }
        set { layerValues["sv"] = newValue }
    }

    public init(kind: String, step: Int, tokens: Int, lr: Double? = nil, trainLoss: Double? = nil, valLoss: Double? = nil,
                gradNorm: Double? = nil, seconds: Double, tokensPerSecond: Double? = nil) {
        self.kind = kind
        self.step = step
        self.tokens = tokens
        self.lr = lr
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        self.gradNorm = gradNorm
        self.seconds = seconds
        self.tokensPerSecond = tokensPerSecond
    }

    /// The record's own keys; no layer value may take one of these names.
    public static let keys: Set<String> = Set(CodingKeys.allCases.map(\.rawValue))

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, step, tokens, lr, seconds, context
        case trainLoss = "train_loss", valLoss = "val_loss", valBitsPerByte = "val_bpb", gradNorm = "grad_norm"
        case tokensPerSecond = "tokens_per_s", szMean = "sz_mean"
        case positionLoss = "position_loss", positionBin = "position_bin"
    }
}

// The record's own keys and one key per layer value, in one JSON object (keys sorted by the
// log's encoder), as lines were written when nGPT's five were fixed fields.
extension MetricsRecord: Codable {
    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ key: CodingKeys) { stringValue = key.rawValue }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        self.init(kind: try c.decode(String.self, forKey: Key(.kind)), step: try c.decode(Int.self, forKey: Key(.step)),
                  tokens: try c.decode(Int.self, forKey: Key(.tokens)), lr: try c.decodeIfPresent(Double.self, forKey: Key(.lr)),
                  trainLoss: try c.decodeIfPresent(Double.self, forKey: Key(.trainLoss)),
                  valLoss: try c.decodeIfPresent(Double.self, forKey: Key(.valLoss)),
                  gradNorm: try c.decodeIfPresent(Double.self, forKey: Key(.gradNorm)),
                  seconds: try c.decode(Double.self, forKey: Key(.seconds)),
                  tokensPerSecond: try c.decodeIfPresent(Double.self, forKey: Key(.tokensPerSecond)))
        valBitsPerByte = try c.decodeIfPresent(Double.self, forKey: Key(.valBitsPerByte))
        szMean = try c.decodeIfPresent(Double.self, forKey: Key(.szMean))
        context = try c.decodeIfPresent(Int.self, forKey: Key(.context))
        positionLoss = try c.decodeIfPresent([Double].self, forKey: Key(.positionLoss))
        positionBin = try c.decodeIfPresent(Int.self, forKey: Key(.positionBin))
        // every other key holding a list of numbers is a layer value
        for key in c.allKeys where !Self.keys.contains(key.stringValue) {
            if let values = try? c.decode([Double].self, forKey: key) { layerValues[key.stringValue] = values }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(kind, forKey: Key(.kind))
        try c.encode(step, forKey: Key(.step))
        try c.encode(tokens, forKey: Key(.tokens))
        try c.encodeIfPresent(lr, forKey: Key(.lr))
        try c.encodeIfPresent(trainLoss, forKey: Key(.trainLoss))
        try c.encodeIfPresent(valLoss, forKey: Key(.valLoss))
        try c.encodeIfPresent(valBitsPerByte, forKey: Key(.valBitsPerByte))
        try c.encodeIfPresent(gradNorm, forKey: Key(.gradNorm))
        try c.encode(seconds, forKey: Key(.seconds))
        try c.encodeIfPresent(tokensPerSecond, forKey: Key(.tokensPerSecond))
        try c.encodeIfPresent(szMean, forKey: Key(.szMean))
        try c.encodeIfPresent(context, forKey: Key(.context))
        try c.encodeIfPresent(positionLoss, forKey: Key(.positionLoss))
        try c.encodeIfPresent(positionBin, forKey: Key(.positionBin))
        for (name, values) in layerValues {
            precondition(!Self.keys.contains(name), "a layer value may not be called \(name), a key of the metrics record")
            try c.encode(values, forKey: Key(stringValue: name))
        }
    }
}

/// Appends records to a JSON-lines file, one flushed line per record.
public final class MetricsLog {
    public let url: URL
    private let handle: FileHandle
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Opens `url` for appending. With `keepingStepsThrough`, lines of later steps (written after
    /// the checkpoint a run resumes from) are dropped first, atomically, and so is a last line
    /// without its newline (a write cut short by a kill).
    public init(url: URL, keepingStepsThrough lastStep: Int? = nil) throws {
        self.url = url
        let fm = FileManager.default
        if let lastStep, fm.fileExists(atPath: url.path) {
            let kept = try Self.read(url, droppingUnfinishedLine: true).filter { $0.step <= lastStep }
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            var text = ""
            for r in kept { text += String(decoding: try e.encode(r), as: UTF8.self) + "\n" }
            try Data(text.utf8).write(to: url, options: .atomic)
        } else if lastStep == nil {
            try Data().write(to: url, options: .atomic)
        }
        if !fm.fileExists(atPath: url.path) { _ = fm.createFile(atPath: url.path, contents: nil) }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ record: MetricsRecord) throws {
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }

    /// Every record of a metrics file (but an unterminated last line, which a kill can leave,
    /// when `droppingUnfinishedLine`).
    ///
    /// - Throws: ``/NGPTNumerics/ConfigurationFileError`` naming the file and the first damaged line.
    public static func read(_ url: URL, droppingUnfinishedLine: Bool = false) throws -> [MetricsRecord] {
        let hint = "the file was cut or edited; repair or remove that line"
        var text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ConfigurationFileError(path: url.path, reason: ErrorText.reason(error, path: url.path), hint: hint)
        }
        if droppingUnfinishedLine, !text.isEmpty, !text.hasSuffix("\n") {
            text = String(text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)])
        }
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").enumerated().map { i, line in
            do { return try decoder.decode(MetricsRecord.self, from: Data(line.utf8)) } catch {
                throw ConfigurationFileError(path: url.path, reason: "line \(i + 1) is not a metrics record (\(ErrorText.reason(error)))", hint: hint)
            }
        }
    }
}
