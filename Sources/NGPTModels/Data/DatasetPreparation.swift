import Foundation
import NGPTNumerics

/// Why a dataset could not be prepared. Nothing is left in the output directory when one of
/// these is thrown.
public enum DatasetPreparationError: Error, Equatable, CustomStringConvertible {
    case noInputFiles
    case inputNotFound(path: String)
    case inputIsDirectory(path: String)
    case inputUnreadable(path: String, reason: String)
    /// All input files together hold no bytes.
    case emptyInput(paths: [String])
    /// The validation fraction is not strictly between 0 and 1 (or is NaN).
    case validationFractionOutOfRange(Double)
    /// The split would leave train.bin or val.bin with fewer than 2 tokens (one input and its target).
    case splitTooSmall(tokens: Int, train: Int, validation: Int, fraction: Double)
    /// The output path exists and is a file, not a directory.
    case outputIsFile(path: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .noInputFiles:
            return "no input files: give one or more text files to tokenise"
        case let .inputNotFound(p):
            return "input file \(p) does not exist: check the path"
        case let .inputIsDirectory(p):
            return "input \(p) is a directory: give the text files themselves"
        case let .inputUnreadable(p, reason):
            return "cannot read input file \(p): \(reason)"
        case let .emptyInput(paths):
            return "the input (\(paths.joined(separator: ", "))) is empty: there is nothing to tokenise; give a non-empty text file"
        case let .validationFractionOutOfRange(f):
            return "validation fraction \(f) is outside (0, 1): use e.g. --val-fraction 0.1"
        case let .splitTooSmall(n, train, val, f):
            let which = train < 2 ? "train.bin \(train)" : "val.bin \(val)"
            return "splitting \(n) tokens with validation fraction \(f) leaves \(which) token(s); each split needs at least 2 (an input and its target): give more text or change --val-fraction"
        case let .outputIsFile(p):
            return "output \(p) is an existing file: --out must be a directory (it is created if missing)"
        case let .writeFailed(p, reason):
            return "cannot write \(p): \(reason); check that the output location is writable and has space"
        }
    }
}

/// The contents of `meta.json`, describing a prepared data directory.
///
/// JSON keys are snake_case. `vocab_size` is the key nanoGPT's `train.py` reads from its
/// `meta.pkl`; nanoGPT's character-level `itos`/`stoi` tables are not written, because for
/// byte tokens they are the identity (and bytes ≥ 128 are not characters on their own).
public struct PreparedDatasetInfo: Codable, Sendable, Equatable {
    /// One input file.
    public struct Source: Codable, Sendable, Equatable {
        /// The file's path (absolute for a file URL built from a relative path).
        public var path: String
        /// Its length in bytes, which is also its number of tokens.
        public var bytes: Int
        /// Whether the file is valid UTF-8. It is recorded, not required: bytes are tokenised as
        /// they are.
        public var isValidUTF8: Bool

        public init(path: String, bytes: Int, isValidUTF8: Bool) {
            self.path = path
            self.bytes = bytes
            self.isValidUTF8 = isValidUTF8
        }

        enum CodingKeys: String, CodingKey {
            case path, bytes, isValidUTF8 = "valid_utf8"
        }
    }

    /// `vocab_size`: 256 for byte tokens.
    public var vocabularySize: Int
    /// `"bytes"`: each byte of the input is one token id.
    public var tokenizer: String
    /// `"uint16"`: the element type of the token files (nanoGPT's `np.uint16`).
    public var dtype: String
    /// `"little"`: the byte order of the token files.
    public var byteOrder: String
    /// The input files in the order they were concatenated.
    public var sources: [Source]
    /// Tokens in `train.bin`.
    public var trainTokens: Int
    /// Tokens in `val.bin`.
    public var validationTokens: Int
    /// The fraction requested for `val.bin`.
    public var validationFraction: Double

    public init(vocabularySize: Int, tokenizer: String, dtype: String = "uint16", byteOrder: String = "little",
                sources: [Source], trainTokens: Int, validationTokens: Int, validationFraction: Double) {
        self.vocabularySize = vocabularySize
        self.tokenizer = tokenizer
        self.dtype = dtype
        self.byteOrder = byteOrder
        self.sources = sources
        self.trainTokens = trainTokens
        self.validationTokens = validationTokens
        self.validationFraction = validationFraction
    }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", tokenizer, dtype, byteOrder = "byte_order", sources
        case trainTokens = "train_tokens", validationTokens = "val_tokens", validationFraction = "val_fraction"
    }
}

/// Turns text into a data directory in nanoGPT's layout.
public enum DatasetPreparation {
    /// The name of the metadata file in a data directory.
    public static let metadataFileName = "meta.json"

    /// Splits `tokens` as nanoGPT's `prepare.py` does: the first `⌊N·(1 − f)⌋` tokens for
    /// training and the remaining ones for validation.
    public static func splitSizes(tokens n: Int, validationFraction f: Double) -> (train: Int, validation: Int) {
        precondition(n >= 0 && f > 0 && f < 1, "splitSizes needs tokens ≥ 0 and a fraction in (0, 1), got \(n) and \(f)")
        let train = Int((Double(n) * (1 - f)).rounded(.down))
        return (train, n - train)
    }

    /// Tokenises `files` as bytes (vocabulary 256: each byte is one id), concatenated in order,
    /// into `outputDirectory/train.bin` (the first ⌊N·(1 − f)⌋ tokens) and `val.bin` (the rest)
    /// as raw little-endian uint16 with no header, and describes them in `meta.json`.
    ///
    /// UTF-8 is not required; whether each file is valid UTF-8 is recorded in `meta.json`.
    ///
    /// All checks run before anything is written. The three files are written into a hidden
    /// staging directory beside `outputDirectory` and renamed into place at the end; a failure
    /// removes the staging directory and any directories this call created, so no partial
    /// `train.bin` is ever left behind. Existing `train.bin`, `val.bin` and `meta.json` are
    /// replaced (each by an atomic rename); other files in the directory are left alone.
    ///
    /// - Throws: ``DatasetPreparationError``.
    @discardableResult
    public static func prepareBytes(files: [URL], outputDirectory: URL, validationFraction: Double = 0.1) throws -> PreparedDatasetInfo {
        guard validationFraction > 0 && validationFraction < 1 else {
            throw DatasetPreparationError.validationFractionOutOfRange(validationFraction)
        }
        guard !files.isEmpty else { throw DatasetPreparationError.noInputFiles }
        let fm = FileManager.default
        var contents = [Data]()
        var sources = [PreparedDatasetInfo.Source]()
        for url in files {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw DatasetPreparationError.inputNotFound(path: url.path)
            }
            guard !isDirectory.boolValue else { throw DatasetPreparationError.inputIsDirectory(path: url.path) }
            if let why = ErrorText.notARegularFile(url.path) {
                throw DatasetPreparationError.inputUnreadable(path: url.path, reason: why)
            }
            let data: Data
            do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
                throw DatasetPreparationError.inputUnreadable(path: url.path, reason: ErrorText.reason(error, path: url.path))
            }
            contents.append(data)
            sources.append(.init(path: url.path, bytes: data.count,
                                 isValidUTF8: String(validating: data, as: UTF8.self) != nil))
        }
        let total = contents.reduce(0) { $0 + $1.count }
        guard total > 0 else { throw DatasetPreparationError.emptyInput(paths: files.map(\.path)) }
        let (trainCount, valCount) = splitSizes(tokens: total, validationFraction: validationFraction)
        guard trainCount >= 2 && valCount >= 2 else {
            throw DatasetPreparationError.splitTooSmall(tokens: total, train: trainCount, validation: valCount,
                                                        fraction: validationFraction)
        }
        var isDirectory: ObjCBool = false
        let outputExists = fm.fileExists(atPath: outputDirectory.path, isDirectory: &isDirectory)
        if outputExists && !isDirectory.boolValue { throw DatasetPreparationError.outputIsFile(path: outputDirectory.path) }
        let outputNames = [DatasetSplit.train.fileName, DatasetSplit.val.fileName, metadataFileName]
        for name in outputNames {
            let path = outputDirectory.appendingPathComponent(name).path
            if fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue {
                throw DatasetPreparationError.writeFailed(path: path, reason: "a directory of that name is in the way")
            }
        }

        let info = PreparedDatasetInfo(vocabularySize: TokenDataset.byteVocabularySize, tokenizer: "bytes", sources: sources,
                                       trainTokens: trainCount, validationTokens: valCount,
                                       validationFraction: validationFraction)
        try writeAtomically(outputNames, into: outputDirectory) { staging in
            try writeByteTokens(contents, range: 0..<trainCount, to: staging.appendingPathComponent(outputNames[0]))
            try writeByteTokens(contents, range: trainCount..<total, to: staging.appendingPathComponent(outputNames[1]))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try (encoder.encode(info) + Data("\n".utf8)).write(to: staging.appendingPathComponent(outputNames[2]))
        }
        return info
    }

    /// Runs `write` on a fresh staging directory next to `directory`, then moves the files
    /// `names` it wrote into `directory`: the whole staging directory is renamed when `directory`
    /// does not exist yet, else each file is renamed over its old version, in the order given.
    /// On failure removes the staging directory and every directory this call created.
    static func writeAtomically(_ names: [String], into directory: URL, _ write: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let exists = fm.fileExists(atPath: directory.path)
        let parent = directory.deletingLastPathComponent()
        // The missing ancestors of the staging directory, outermost first, so they can be removed again.
        var created = [URL]()
        var ancestor = parent
        while !fm.fileExists(atPath: ancestor.path) && ancestor.path != "/" {
            created.insert(ancestor, at: 0)
            ancestor = ancestor.deletingLastPathComponent()
        }
        let staging = parent.appendingPathComponent(".\(directory.lastPathComponent).prepare-\(UUID().uuidString)")
        var movedStaging = false
        do {
            for dir in created { try fm.createDirectory(at: dir, withIntermediateDirectories: false) }
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
            try write(staging)
            if exists {
                // rename(2) replaces an existing file atomically.
                for name in names {
                    let from = staging.appendingPathComponent(name).path
                    let to = directory.appendingPathComponent(name).path
                    guard rename(from, to) == 0 else {
                        throw DatasetPreparationError.writeFailed(path: to, reason: String(cString: strerror(errno)))
                    }
                }
                try fm.removeItem(at: staging)
            } else {
                try fm.moveItem(at: staging, to: directory)
                movedStaging = true
            }
        } catch {
            if !movedStaging { try? fm.removeItem(at: staging) }
            for dir in created.reversed() { try? fm.removeItem(at: dir) }
            if let e = error as? DatasetPreparationError { throw e }
            throw DatasetPreparationError.writeFailed(path: directory.path, reason: ErrorText.reason(error, path: directory.path))
        }
    }

    /// Writes bytes `range` of the concatenation of `contents` to `url`, one little-endian
    /// uint16 per byte, and flushes the file to disk.
    private static func writeByteTokens(_ contents: [Data], range: Range<Int>, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw DatasetPreparationError.writeFailed(path: url.path, reason: "the file could not be created")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        let chunk = 1 << 16
        var buffer = [UInt16]()
        buffer.reserveCapacity(chunk)
        var start = 0  // offset of the current file in the concatenation
        for data in contents {
            let lo = max(range.lowerBound, start), hi = min(range.upperBound, start + data.count)
            var i = lo
            while i < hi {
                let n = min(chunk, hi - i)
                buffer.removeAll(keepingCapacity: true)
                data.withUnsafeBytes { raw in
                    for j in (i - start)..<(i - start + n) { buffer.append(UInt16(raw[j]).littleEndian) }
                }
                try buffer.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
                i += n
            }
            start += data.count
        }
        try handle.synchronize()
    }
}
