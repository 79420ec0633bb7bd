import Foundation
import NGPTNumerics

/// Why a token file or data directory cannot be used. Every message names the file and says
/// what to do.
public enum TokenDataError: Error, Equatable, CustomStringConvertible {
    /// The data directory does not exist.
    case directoryNotFound(path: String)
    /// The data path exists but is a file.
    case notADirectory(path: String)
    /// The data directory holds no files at all.
    case directoryEmpty(path: String)
    /// `train.bin` or `val.bin` is missing from the data directory.
    case missingTokenFile(path: String)
    /// The file exists but could not be opened or mapped.
    case unreadable(path: String, reason: String)
    /// The token file has no bytes.
    case emptyTokenFile(path: String)
    /// The token file's length is odd, so it cannot be a sequence of uint16 ids.
    case oddByteCount(path: String, bytes: Int)
    /// The length of a uint32 token file is not a multiple of 4.
    case partialToken(path: String, bytes: Int, dtype: TokenDType)
    /// The token file cannot hold one window of `context + 1` tokens.
    case tooShort(path: String, tokens: Int, context: Int)
    /// A token id at or above the vocabulary; `offset` counts tokens from the start of the file.
    case tokenOutOfRange(path: String, offset: Int, token: Int, vocabularySize: Int)
    /// There is no `meta.json` and the largest id is beyond GPT-2's vocabulary, so the
    /// vocabulary cannot be guessed.
    case vocabularyNotInferable(path: String, offset: Int, token: Int)
    /// A vocabulary size outside 2...65536 (the ids a uint16 file can hold).
    case invalidVocabularySize(Int)
    /// A vocabulary size outside what a file of this element type can hold (uint32: 2...2³²).
    case vocabularyOutsideType(Int, dtype: TokenDType)
    /// `meta.json` and the caller disagree on the vocabulary.
    case vocabularyConflict(metadata: Int, requested: Int)
    /// `meta.json` is not JSON or lacks `vocab_size`.
    case invalidMetadata(path: String, reason: String)
    /// `meta.json` records a token count that the token file does not have.
    case metadataMismatch(path: String, file: String, recorded: Int, actual: Int)
    /// `meta.json` names a tokenizer file that is not there.
    case tokenizerMissing(path: String)
    /// The tokenizer file is not the one the token files were made with (its SHA-256 differs
    /// from `meta.json`'s).
    case tokenizerChanged(path: String)

    public var description: String {
        switch self {
        case let .directoryNotFound(p):
            return "data directory \(p) does not exist: run `ngpt prepare TEXT --out \(p)` first"
        case let .notADirectory(p):
            return "\(p) is a file, not a data directory: pass the directory that holds train.bin and val.bin"
        case let .directoryEmpty(p):
            return "data directory \(p) is empty: run `ngpt prepare TEXT --out \(p)` to write train.bin, val.bin and meta.json"
        case let .missingTokenFile(p):
            return "\(p) is missing: a data directory needs both train.bin and val.bin (`ngpt prepare` or nanoGPT's prepare.py writes them)"
        case let .unreadable(p, reason):
            return "cannot read \(p): \(reason)"
        case let .emptyTokenFile(p):
            return "\(p) is empty: prepare the data again (`ngpt prepare TEXT --out DIR`)"
        case let .oddByteCount(p, n):
            return "\(p) has \(n) bytes, an odd number, but holds 2-byte (uint16) token ids: the file is truncated or not a token file; prepare the data again"
        case let .partialToken(p, n, dtype):
            return "\(p) has \(n) bytes, not a multiple of \(dtype.byteWidth), but holds \(dtype.byteWidth)-byte (\(dtype.rawValue)) token ids: the file is truncated or not a token file; prepare the data again"
        case let .tooShort(p, n, t):
            return "\(p) has \(n) tokens; a window of context \(t) needs at least \(t + 1): use a shorter --context or more data"
        case let .tokenOutOfRange(p, i, t, v):
            return "\(p): token id \(t) at token offset \(i) (byte \(2 * i)) is outside the vocabulary 0..<\(v): prepare the data with the tokenizer this vocabulary belongs to, or use a vocabulary size of at least \(t + 1)"
        case let .vocabularyNotInferable(p, i, t):
            return "\(p): token id \(t) at token offset \(i) is beyond GPT-2's vocabulary (\(TokenDataset.gpt2VocabularySize)) and there is no meta.json to give the vocabulary: pass the vocabulary size explicitly (at least \(t + 1))"
        case let .invalidVocabularySize(v):
            return "vocabulary size \(v) is outside 2...65536, the ids a uint16 token file can hold"
        case let .vocabularyOutsideType(v, dtype):
            return "vocabulary size \(v) is outside 2...\(dtype.vocabularyLimit), the ids a \(dtype.rawValue) token file can hold"
        case let .vocabularyConflict(m, r):
            return "meta.json gives vocab_size \(m) but \(r) was requested: drop the explicit vocabulary size or correct meta.json"
        case let .invalidMetadata(p, reason):
            return "\(p) cannot be used: \(reason); delete it (the vocabulary is then inferred) or prepare the data again"
        case let .metadataMismatch(p, f, recorded, actual):
            return "\(p) records \(recorded) tokens for \(f) but the file has \(actual): the directory mixes two preparations; prepare the data again"
        case let .tokenizerMissing(p):
            return "\(p) is missing, but meta.json says the token files were made with it: put the file back or prepare the data again"
        case let .tokenizerChanged(p):
            return "\(p) is not the tokenizer the token files were made with (its SHA-256 differs from the one meta.json records): put the original back or prepare the data again"
        }
    }
}

/// The element type of a token file: `dtype` in `meta.json`. nanoGPT writes `uint16`; a
/// vocabulary of more than 65,536 ids needs `uint32`.
public enum TokenDType: String, Codable, Sendable, CaseIterable {
    case uint16
    case uint32

    /// Bytes per id: 2 or 4.
    public var byteWidth: Int { self == .uint16 ? 2 : 4 }

    /// The most ids a file of this type can hold: 2¹⁶ or 2³².
    public var vocabularyLimit: Int { self == .uint16 ? 1 << 16 : 1 << 32 }

    /// `uint16` when every id of a vocabulary of `vocabularySize` fits in it, else `uint32`.
    public static func fitting(vocabularySize: Int) -> TokenDType {
        vocabularySize <= TokenDType.uint16.vocabularyLimit ? .uint16 : .uint32
    }
}

/// A file of token ids in nanoGPT's layout: raw little-endian `uint16` (or `uint32`, as
/// `meta.json`'s `dtype` says), no header, memory-mapped.
///
/// Opening a file maps it (the kernel pages it in on demand; it is never copied into an array;
/// Foundation may read a file of a few bytes instead of mapping it) and scans it once for ``largestToken``, so an out-of-range id is found at open rather than
/// mid-training. Reads are bounds-checked.
public struct TokenFile: Sendable {
    /// Where the file is.
    public let url: URL
    /// The element type.
    public let dtype: TokenDType
    /// `N`: the number of tokens (the byte count over ``TokenDType/byteWidth``).
    public let count: Int
    /// The largest id in the file, found by the scan at open.
    public let largestToken: Int
    private let data: Data

    /// Maps `url` and scans it.
    ///
    /// - Parameters:
    ///   - url: the file of token ids.
    ///   - vocabularySize: when given, every id must be below it; the first offending id is
    ///     reported with its offset as ``TokenDataError/tokenOutOfRange(path:offset:token:vocabularySize:)``.
    ///   - dtype: the element type (nanoGPT's `uint16` unless `meta.json` says otherwise).
    /// - Throws: ``TokenDataError`` if the file is missing, unreadable, empty or of a length that
    ///   is not a whole number of ids, or holds an id outside the vocabulary.
    public init(url: URL, vocabularySize: Int? = nil, dtype: TokenDType = .uint16) throws {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenDataError.missingTokenFile(path: path)
        }
        guard !isDirectory.boolValue else {
            throw TokenDataError.unreadable(path: path, reason: "it is a directory, not a token file")
        }
        if let why = ErrorText.notARegularFile(path) { throw TokenDataError.unreadable(path: path, reason: why) }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw TokenDataError.unreadable(path: path, reason: ErrorText.reason(error, path: path))
        }
        guard !data.isEmpty else { throw TokenDataError.emptyTokenFile(path: path) }
        guard data.count % dtype.byteWidth == 0 else {
            if dtype == .uint16 { throw TokenDataError.oddByteCount(path: path, bytes: data.count) }
            throw TokenDataError.partialToken(path: path, bytes: data.count, dtype: dtype)
        }
        self.url = url
        self.data = data
        self.dtype = dtype
        count = data.count / dtype.byteWidth
        largestToken = data.withUnsafeBytes { raw in
            switch dtype {
            case .uint16:
                var largest: UInt16 = 0
                for i in 0..<(raw.count / 2) {
                    largest = max(largest, UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
                return Int(largest)
            case .uint32:
                var largest: UInt32 = 0
                for i in 0..<(raw.count / 4) {
                    largest = max(largest, UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
                return Int(largest)
            }
        }
        if let v = vocabularySize { try checkVocabulary(v) }
    }

    /// The id at token offset `i` of `raw` (no bounds check).
    @inline(__always)
    private func id(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Int {
        switch dtype {
        case .uint16: return Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case .uint32: return Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    /// The id at token offset `index`.
    public subscript(index: Int) -> Int {
        precondition(index >= 0 && index < count, "token offset \(index) is outside 0..<\(count) of \(url.path)")
        return data.withUnsafeBytes { raw in id(raw, index) }
    }

    /// The ids at token offsets `range`.
    public func tokens(_ range: Range<Int>) -> [Int] {
        var out = [Int](repeating: 0, count: range.count)
        copyTokens(from: range.lowerBound, count: range.count, into: &out, at: 0)
        return out
    }

    /// Writes the `count` ids starting at token offset `start` into `out[at..<at + count]`.
    func copyTokens(from start: Int, count n: Int, into out: inout [Int], at: Int) {
        precondition(start >= 0 && n >= 0 && start + n <= count, "tokens \(start)..<\(start + n) are outside 0..<\(count) of \(url.path)")
        precondition(at >= 0 && at + n <= out.count, "destination \(at)..<\(at + n) is outside 0..<\(out.count)")
        data.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { o in
                switch dtype {
                case .uint16:
                    for j in 0..<n {
                        o[at + j] = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * (start + j), as: UInt16.self)))
                    }
                case .uint32:
                    for j in 0..<n {
                        o[at + j] = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * (start + j), as: UInt32.self)))
                    }
                }
            }
        }
    }

    /// The first id at or above `limit`, with its token offset, or nil if there is none.
    public func firstToken(atLeast limit: Int) -> (offset: Int, token: Int)? {
        guard largestToken >= limit else { return nil }
        return data.withUnsafeBytes { raw in
            for i in 0..<count {
                let t = id(raw, i)
                if t >= limit { return (i, t) }
            }
            return nil
        }
    }

    /// Throws ``TokenDataError/tokenOutOfRange(path:offset:token:vocabularySize:)`` for the
    /// first id at or above `vocabularySize`.
    public func checkVocabulary(_ vocabularySize: Int) throws {
        guard (2...dtype.vocabularyLimit).contains(vocabularySize) else {
            if dtype == .uint16 { throw TokenDataError.invalidVocabularySize(vocabularySize) }
            throw TokenDataError.vocabularyOutsideType(vocabularySize, dtype: dtype)
        }
        if let (offset, token) = firstToken(atLeast: vocabularySize) {
            throw TokenDataError.tokenOutOfRange(path: url.path, offset: offset, token: token, vocabularySize: vocabularySize)
        }
    }

    /// Throws ``TokenDataError/tooShort(path:tokens:context:)`` unless the file holds at least
    /// one window of `context + 1` tokens (`context` inputs and the next token as the last target).
    public func checkWindow(context: Int) throws {
        precondition(context >= 1, "context must be at least 1, got \(context)")
        guard count >= context + 1 else { throw TokenDataError.tooShort(path: url.path, tokens: count, context: context) }
    }
}

/// Writes token ids in nanoGPT's layout (little-endian, no header), refusing an id the element
/// type cannot hold.
struct TokenFileWriter {
    let dtype: TokenDType
    private let handle: FileHandle
    private var buffer = [UInt8]()
    let url: URL
    private(set) var count = 0

    /// Creates (or truncates) `url`.
    init(url: URL, dtype: TokenDType) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw DatasetPreparationError.writeFailed(path: url.path, reason: "the file could not be created")
        }
        self.url = url
        self.dtype = dtype
        handle = try FileHandle(forWritingTo: url)
        buffer.reserveCapacity(1 << 17)
    }

    /// Appends `ids`; an id outside `0..<dtype.vocabularyLimit` is an error (nothing of `ids` is
    /// written then).
    mutating func append(_ ids: [Int]) throws {
        let limit = dtype.vocabularyLimit
        if let (i, t) = ids.enumerated().first(where: { !(0..<limit).contains($0.element) }) {
            throw DatasetPreparationError.tokenOutsideType(token: t, offset: count + i, dtype: dtype)
        }
        for t in ids {
            for k in 0..<dtype.byteWidth { buffer.append(UInt8(truncatingIfNeeded: t >> (8 * k))) }
        }
        count += ids.count
        if buffer.count >= 1 << 16 { try flush() }
    }

    private mutating func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, flushes the file to disk and closes it.
    mutating func close() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
    }
}
