import Foundation
import NGPTNumerics

/// One line of `RUN/metrics.jsonl`: a training step or an evaluation.
public struct MetricsRecord: Codable, Sendable, Equatable {
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
    /// nGPT: per-layer mean |effective| scalers, and the mean s_z.
    public var alphaA: [Double]?
    public var alphaM: [Double]?
    public var sqk: [Double]?
    public var su: [Double]?
    public var sv: [Double]?
    public var szMean: Double?
    /// Evaluations at another context (length extrapolation): the context.
    public var context: Int?
    /// The longest extrapolation evaluation: the mean loss by position in the window, in bins
    /// of ``positionBin`` positions (bin `i` covers positions `i·bin ..< (i+1)·bin`).
    public var positionLoss: [Double]?
    public var positionBin: Int?

    enum CodingKeys: String, CodingKey {
        case kind, step, tokens, lr, seconds, context, sqk, su, sv
        case trainLoss = "train_loss", valLoss = "val_loss", valBitsPerByte = "val_bpb", gradNorm = "grad_norm"
        case tokensPerSecond = "tokens_per_s", alphaA = "alpha_a", alphaM = "alpha_m", szMean = "sz_mean"
        case positionLoss = "position_loss", positionBin = "position_bin"
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
