import Foundation
import NGPTNumerics

/// One of the two token files of a data directory.
public enum DatasetSplit: String, Codable, Sendable, CaseIterable {
    case train
    case val

    /// `train.bin` or `val.bin`.
    public var fileName: String { rawValue + ".bin" }
}

/// A prepared data directory: `train.bin` and `val.bin` memory-mapped, and the vocabulary.
///
/// The directory may come from `ngpt prepare` (with `meta.json`) or from nanoGPT's own
/// `prepare.py` (token files only). The vocabulary size is, in order of precedence:
/// 1. `vocab_size` from `meta.json` when the file exists (an explicit size that disagrees is an
///    error rather than silently winning);
/// 2. the explicit `vocabularySize` argument;
/// 3. inferred from the largest id in either file: ``byteVocabularySize`` (256) if it is below
///    256, else ``gpt2VocabularySize`` (50304) if it is below that, else an error asking for
///    the size.
///
/// Both files are scanned once at open, so an id outside the vocabulary is reported with its
/// file and offset before any training starts.
public struct TokenDataset: Sendable {
    /// Byte-level tokens (`ngpt prepare`).
    public static let byteVocabularySize = 256
    /// GPT-2's 50257 ids rounded up to a multiple of 64, as nanoGPT's models use (its
    /// `prepare.py` for OpenWebText and Shakespeare writes GPT-2 BPE ids without a meta file).
    public static let gpt2VocabularySize = 50304

    /// Where the vocabulary size came from.
    public enum VocabularySource: String, Sendable {
        /// `vocab_size` in `meta.json`.
        case metadata
        /// The caller's explicit size.
        case explicit
        /// Inferred from the largest id (no `meta.json`, no explicit size).
        case inferred
    }

    public let directory: URL
    /// `train.bin`.
    public let train: TokenFile
    /// `val.bin`.
    public let validation: TokenFile
    /// `V`: every id in both files is in `0..<vocabularySize`.
    public let vocabularySize: Int
    public let vocabularySource: VocabularySource
    /// The contents of `meta.json` when it was written by ``DatasetPreparation``; nil when the
    /// file is absent or carries only nanoGPT's keys.
    public let metadata: PreparedDatasetInfo?
    /// The tokenizer file that `meta.json` names (`tokenizer.json` of a subword directory),
    /// checked to exist and to have the SHA-256 `meta.json` records; nil for byte tokens and
    /// directories without one.
    public let tokenizerFile: URL?
    /// Bytes of validation text per token of `val.bin` (1 for byte tokens), from `meta.json`; nil
    /// when it does not say (nanoGPT's directories). ``BitsPerByte`` turns a loss into bits per
    /// byte with it.
    public let validationBytesPerToken: Double?

    /// The name of the tokenizer file in a data directory and in a run directory.
    public static let tokenizerFileName = "tokenizer.json"

    /// Opens `directory/train.bin` and `directory/val.bin`, reads `directory/meta.json` if it
    /// exists, and checks every id against the vocabulary.
    ///
    /// - Parameters:
    ///   - directory: the prepared directory.
    ///   - vocabularySize: the vocabulary when there is no `meta.json`; must agree with
    ///     `meta.json` when there is one.
    /// - Throws: ``TokenDataError``.
    public init(directory: URL, vocabularySize: Int? = nil) throws {
        let fm = FileManager.default
        let dirPath = directory.path
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: dirPath, isDirectory: &isDirectory) else { throw TokenDataError.directoryNotFound(path: dirPath) }
        guard isDirectory.boolValue else { throw TokenDataError.notADirectory(path: dirPath) }
        let contents: [String]
        do { contents = try fm.contentsOfDirectory(atPath: dirPath) } catch {
            throw TokenDataError.unreadable(path: dirPath, reason: ErrorText.reason(error, path: dirPath))
        }
        guard !contents.isEmpty else { throw TokenDataError.directoryEmpty(path: dirPath) }

        let metaURL = directory.appendingPathComponent(DatasetPreparation.metadataFileName)
        let header = fm.fileExists(atPath: metaURL.path) ? try Self.readMetadata(metaURL) : nil
        let dtype = header?.elementType ?? .uint16
        if let v = vocabularySize, !(2...dtype.vocabularyLimit).contains(v) {
            throw dtype == .uint16 ? TokenDataError.invalidVocabularySize(v) : TokenDataError.vocabularyOutsideType(v, dtype: dtype)
        }

        let train = try TokenFile(url: directory.appendingPathComponent(DatasetSplit.train.fileName), dtype: dtype)
        let validation = try TokenFile(url: directory.appendingPathComponent(DatasetSplit.val.fileName), dtype: dtype)
        var metadata: PreparedDatasetInfo?
        var tokenizerFile: URL?
        let vocabulary: Int
        let source: VocabularySource
        if let header {
            for (recorded, file) in [(header.trainTokens, train), (header.validationTokens, validation)] {
                if let n = recorded, n != file.count {
                    throw TokenDataError.metadataMismatch(path: metaURL.path, file: file.url.lastPathComponent, recorded: n, actual: file.count)
                }
            }
            if let v = vocabularySize, v != header.vocabularySize {
                throw TokenDataError.vocabularyConflict(metadata: header.vocabularySize, requested: v)
            }
            (vocabulary, source) = (header.vocabularySize, .metadata)
            metadata = try? JSONDecoder().decode(PreparedDatasetInfo.self, from: Data(contentsOf: metaURL))
            if let name = header.tokenizerFile {
                tokenizerFile = try Self.checkTokenizerFile(name, in: directory, sha256: header.tokenizerSHA256)
            }
        } else if let v = vocabularySize {
            (vocabulary, source) = (v, .explicit)
        } else {
            let largest = max(train.largestToken, validation.largestToken)
            if largest < Self.byteVocabularySize {
                vocabulary = Self.byteVocabularySize
            } else if largest < Self.gpt2VocabularySize {
                vocabulary = Self.gpt2VocabularySize
            } else {
                for file in [train, validation] {
                    if let (offset, token) = file.firstToken(atLeast: Self.gpt2VocabularySize) {
                        throw TokenDataError.vocabularyNotInferable(path: file.url.path, offset: offset, token: token)
                    }
                }
                preconditionFailure("largest id \(largest) was not found again")
            }
            source = .inferred
        }
        try train.checkVocabulary(vocabulary)
        try validation.checkVocabulary(vocabulary)

        self.directory = directory
        self.train = train
        self.validation = validation
        self.vocabularySize = vocabulary
        self.vocabularySource = source
        self.metadata = metadata
        self.tokenizerFile = tokenizerFile
        if header?.tokenizer == PreparedDatasetInfo.bytesName {
            validationBytesPerToken = 1
        } else if let bytes = header?.validationBytes, bytes > 0 {
            validationBytesPerToken = Double(bytes) / Double(validation.count)
        } else {
            validationBytesPerToken = nil
        }
    }

    /// The token file of `split`.
    public subscript(split: DatasetSplit) -> TokenFile {
        switch split {
        case .train: return train
        case .val: return validation
        }
    }

    /// The keys of `meta.json` this type relies on. `vocab_size` is nanoGPT's key and the only
    /// one required; the token counts are checked when present, `dtype` says how wide the ids
    /// are (uint16 when absent), and a subword directory names its tokenizer file.
    private struct MetadataHeader: Decodable {
        var vocabularySize: Int
        var trainTokens: Int?
        var validationTokens: Int?
        var dtype: String?
        var tokenizer: String?
        var tokenizerFile: String?
        var tokenizerSHA256: String?
        var validationBytes: Int?
        enum CodingKeys: String, CodingKey {
            case vocabularySize = "vocab_size", trainTokens = "train_tokens", validationTokens = "val_tokens", dtype, tokenizer
            case tokenizerFile = "tokenizer_file", tokenizerSHA256 = "tokenizer_sha256", validationBytes = "val_bytes"
        }
        /// Set by ``readMetadata(_:)`` once `dtype` is checked.
        var elementType: TokenDType = .uint16
    }

    private static func readMetadata(_ url: URL) throws -> MetadataHeader {
        let path = url.path
        var header: MetadataHeader
        if let why = ErrorText.notARegularFile(path) { throw TokenDataError.invalidMetadata(path: path, reason: why) }
        do {
            header = try JSONDecoder().decode(MetadataHeader.self, from: Data(contentsOf: url))
        } catch let DecodingError.keyNotFound(key, _) {
            throw TokenDataError.invalidMetadata(path: path, reason: "it has no \(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            // an empty path: the document itself is not an object (e.g. an array)
            let what = ["dtype", "tokenizer", "tokenizer_file", "tokenizer_sha256"].contains(key) ? "a string" : "an integer"
            throw TokenDataError.invalidMetadata(path: path, reason: key.isEmpty ? "it is not a JSON object with vocab_size" : "\(key) is not \(what)")
        } catch {
            throw TokenDataError.invalidMetadata(path: path, reason: "it is not a JSON object with vocab_size")
        }
        if let name = header.dtype {
            guard let t = TokenDType(rawValue: name) else {
                throw TokenDataError.invalidMetadata(path: path, reason: "dtype \(name) is neither uint16 nor uint32")
            }
            header.elementType = t
        }
        let limit = header.elementType.vocabularyLimit
        guard (2...limit).contains(header.vocabularySize) else {
            throw TokenDataError.invalidMetadata(path: path, reason: "vocab_size \(header.vocabularySize) is outside 2...\(limit)" + (header.elementType == .uint16 && header.vocabularySize > limit ? ", the ids a uint16 token file can hold (a larger vocabulary needs dtype uint32)" : ""))
        }
        if let name = header.tokenizerFile, name.isEmpty || name.contains("/") || name.hasPrefix(".") {
            throw TokenDataError.invalidMetadata(path: path, reason: "tokenizer_file \(name) is not a file name in the data directory")
        }
        return header
    }

    /// `directory/name`, after checking that it exists and, when `meta.json` records one, has
    /// that SHA-256.
    private static func checkTokenizerFile(_ name: String, in directory: URL, sha256: String?) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenDataError.tokenizerMissing(path: url.path) }
        if let why = ErrorText.notARegularFile(url.path) { throw TokenDataError.unreadable(path: url.path, reason: why) }
        if let sha256 {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw TokenDataError.unreadable(path: url.path, reason: ErrorText.reason(error, path: url.path))
            }
            guard SHA256.hex(data) == sha256.lowercased() else { throw TokenDataError.tokenizerChanged(path: url.path) }
        }
        return url
    }
}
