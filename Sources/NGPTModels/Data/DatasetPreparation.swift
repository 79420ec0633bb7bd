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
    /// An interleaved split was asked for with a validation block shorter than 2 tokens.
    case validationBlockTooSmall(Int)
    /// An interleaved split was asked for with a fraction whose period `k = round(1/f)` is below 2
    /// (f above 2/3): every block but the first would be validation.
    case validationFractionTooLargeForInterleavedSplit(Double)
    /// An interleaved split was asked for, but the text does not reach past the first validation
    /// block (``InterleavedSplit/minimumTokens``).
    case textTooShortForInterleavedSplit(tokens: Int, blockTokens: Int, needed: Int)
    /// The output path exists and is a file, not a directory.
    case outputIsFile(path: String)
    case writeFailed(path: String, reason: String)
    /// A token id that the token file's element type cannot hold.
    case tokenOutsideType(token: Int, offset: Int, dtype: TokenDType)
    /// A byte-level BPE was asked to learn a vocabulary below 256 ids (its bytes) or beyond
    /// ``DatasetPreparation/largestSubwordVocabulary``.
    case subwordVocabularyOutOfRange(Int)

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
        case let .validationBlockTooSmall(b):
            return "validation block \(b) is too small: an interleaved split needs blocks of at least 2 bytes; use e.g. --val-block 65536"
        case let .validationFractionTooLargeForInterleavedSplit(f):
            return "validation fraction \(f) is too large for an interleaved split (every k-th block with k = round(1/f) needs k ≥ 2): use a fraction below 2/3 or --split tail"
        case let .textTooShortForInterleavedSplit(n, b, needed):
            return "the text has \(n) bytes; an interleaved split with blocks of \(b) bytes needs at least \(needed) (its first validation block and a training block after it): use a smaller --val-block or --split tail"
        case let .outputIsFile(p):
            return "output \(p) is an existing file: --out must be a directory (it is created if missing)"
        case let .writeFailed(p, reason):
            return "cannot write \(p): \(reason); check that the output location is writable and has space"
        case let .tokenOutsideType(t, offset, dtype):
            return "token id \(t) (token \(offset) of the file) does not fit in \(dtype.rawValue), which holds ids 0..<\(dtype.vocabularyLimit): write the token files as uint32"
        case let .subwordVocabularyOutOfRange(v):
            return "vocabulary size \(v) is outside 256...\(DatasetPreparation.largestSubwordVocabulary): a byte-level BPE has a token for each of the 256 bytes and learns merges beyond them; use e.g. --vocab-size 4096"
        }
    }
}

/// The interleaved hold-out of ``DatasetPreparation/prepareBytes(files:outputDirectory:validationFraction:split:validationBlock:)``.
///
/// The tokens are cut into blocks of ``blockTokens`` (block `i` covers tokens
/// `i·B ..< min((i + 1)·B, N)`; the last block may be shorter). Block `i` is validation text when
/// `i mod period = offset` and it is not the last block; every other block is training text. With
/// the defaults (B = 65,536, f = 0.1) that is every 10th block of 64 KiB, blocks 5, 15, 25, …:
/// the first and the last block are always training text. `val.bin` is the validation blocks in
/// order, `train.bin` the remaining blocks in order, so a window may span the seam between two
/// blocks that were not adjacent in the text.
public struct InterleavedSplit: Equatable, Sendable {
    /// `val_block`: the block length in tokens (bytes, for byte tokens).
    public var blockTokens: Int
    /// `val_every`: `k = round(1/f)`, so val.bin holds about 1/k of the text.
    public var period: Int
    /// `val_offset`: `⌊k/2⌋`, the index of the first validation block.
    public var offset: Int

    /// The largest period considered; a smaller fraction needs more text than any file holds.
    static let maximumPeriod = 1 << 40

    public init(blockTokens: Int, period: Int, offset: Int) {
        self.blockTokens = blockTokens
        self.period = period
        self.offset = offset
    }

    /// The rule for validation fraction `f`: period `k = round(1/f)` (at most 2⁴⁰), offset `⌊k/2⌋`.
    public init(blockTokens: Int, validationFraction f: Double) {
        let k = (1 / f).rounded()
        let period = k.isFinite && k < Double(Self.maximumPeriod) ? max(Int(k), 1) : Self.maximumPeriod
        self.init(blockTokens: blockTokens, period: period, offset: period / 2)
    }

    /// The fewest tokens that hold the first validation block and at least one token after it:
    /// `(offset + 1)·B + 1` (`Int.max` when that overflows).
    public var minimumTokens: Int {
        let (blocks, o1) = (offset + 1).multipliedReportingOverflow(by: blockTokens)
        return o1 || blocks == .max ? .max : blocks + 1
    }

    /// Whether block `i` of `blockCount` is validation text.
    public func isValidation(block i: Int, blockCount: Int) -> Bool {
        i % period == offset && i < blockCount - 1
    }

    /// The token ranges of `train.bin` and `val.bin`, in order, for a text of `n` tokens (adjacent
    /// training blocks merged into one range).
    public func ranges(tokens n: Int) -> (train: [Range<Int>], validation: [Range<Int>]) {
        precondition(blockTokens > 0 && period > 0 && n >= 0, "an interleaved split needs blocks and a period of at least 1")
        let blockCount = n / blockTokens + (n % blockTokens == 0 ? 0 : 1)
        var train = [Range<Int>](), validation = [Range<Int>]()
        var start = 0  // start of the training range being extended
        var i = offset
        while i < blockCount - 1 {  // the validation blocks: offset, offset + k, …, never the last
            let lo = i * blockTokens, hi = lo + blockTokens
            if lo > start { train.append(start..<lo) }
            validation.append(lo..<hi)
            start = hi
            let (next, overflow) = i.addingReportingOverflow(period)
            if overflow { break }
            i = next
        }
        if n > start { train.append(start..<n) }
        return (train, validation)
    }
}

/// How `val.bin` was cut from the text: `split` in `meta.json`.
public enum ValidationSplit: Equatable, Sendable {
    /// The last `N − ⌊N·(1 − f)⌋` tokens, as nanoGPT's `prepare.py` does. `meta.json` files without
    /// a `split` key (all written before interleaved splits existed) are this.
    case tail
    /// Every k-th block, spread over the whole text.
    case interleaved(InterleavedSplit)
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

    /// `vocab_size`: 256 for byte tokens; one more than the largest id of a tokenizer's vocabulary.
    public var vocabularySize: Int
    /// `"bytes"` (each byte of the input is one token id) or `"byte-level-bpe"`
    /// (``byteLevelBPEName``: the ids of ``tokenizerFile``).
    public var tokenizer: String
    /// `"uint16"`: the element type of the token files (nanoGPT's `np.uint16`); `"uint32"` when the
    /// vocabulary has more than 65,536 ids (``TokenDType``).
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
    /// How `val.bin` was cut. A tail split writes no key (so its `meta.json` is byte for byte what
    /// earlier versions wrote, and theirs read as tail); an interleaved one writes
    /// `"split": "interleaved"`, `val_block`, `val_every` and `val_offset` (``InterleavedSplit``).
    public var split: ValidationSplit

    /// The keys below are written for subword tokens only, so a byte-level `meta.json` is what it
    /// always was.
    ///
    /// `tokenizer_file`: the tokenizer's file in the data directory (`tokenizer.json`, Hugging
    /// Face's format).
    public var tokenizerFile: String?
    /// `tokenizer_sha256`: the SHA-256 of that file, checked when the directory is opened.
    public var tokenizerSHA256: String?
    /// `tokenizer_source`: the file `ngpt prepare --tokenizer FILE.json` copied, if one was given
    /// (nil when the tokenizer was trained on this text).
    public var tokenizerSource: String?
    /// `train_bytes`: bytes of text behind `train.bin`.
    public var trainBytes: Int?
    /// `val_bytes`: bytes of text behind `val.bin`; with ``validationTokens`` it gives the bytes per
    /// token that turn a loss into bits per byte (``BitsPerByte``).
    public var validationBytes: Int?
    /// `val_ranges`: the byte ranges `[start, end)` of the concatenated sources that make up the
    /// validation text, in order (each encoded on its own).
    public var validationRanges: [[Int]]?

    /// `"byte-level-bpe"`, the ``tokenizer`` of a directory encoded with a ``ByteLevelBPE``.
    public static let byteLevelBPEName = "byte-level-bpe"
    /// `"bytes"`, the ``tokenizer`` of byte tokens.
    public static let bytesName = "bytes"

    /// Bytes of validation text per token of `val.bin`: 1 for byte tokens, `val_bytes ÷ val_tokens`
    /// for a tokenizer that recorded its text's length, else nil.
    public var validationBytesPerToken: Double? {
        if tokenizer == Self.bytesName { return 1 }
        guard let bytes = validationBytes, validationTokens > 0 else { return nil }
        return Double(bytes) / Double(validationTokens)
    }

    public init(vocabularySize: Int, tokenizer: String, dtype: String = "uint16", byteOrder: String = "little",
                sources: [Source], trainTokens: Int, validationTokens: Int, validationFraction: Double,
                split: ValidationSplit = .tail) {
        self.vocabularySize = vocabularySize
        self.tokenizer = tokenizer
        self.dtype = dtype
        self.byteOrder = byteOrder
        self.sources = sources
        self.trainTokens = trainTokens
        self.validationTokens = validationTokens
        self.validationFraction = validationFraction
        self.split = split
    }

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", tokenizer, dtype, byteOrder = "byte_order", sources
        case trainTokens = "train_tokens", validationTokens = "val_tokens", validationFraction = "val_fraction"
        case split, validationBlock = "val_block", validationEvery = "val_every", validationOffset = "val_offset"
        case tokenizerFile = "tokenizer_file", tokenizerSHA256 = "tokenizer_sha256", tokenizerSource = "tokenizer_source"
        case trainBytes = "train_bytes", validationBytes = "val_bytes", validationRanges = "val_ranges"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        tokenizer = try c.decode(String.self, forKey: .tokenizer)
        dtype = try c.decode(String.self, forKey: .dtype)
        byteOrder = try c.decode(String.self, forKey: .byteOrder)
        sources = try c.decode([Source].self, forKey: .sources)
        trainTokens = try c.decode(Int.self, forKey: .trainTokens)
        validationTokens = try c.decode(Int.self, forKey: .validationTokens)
        validationFraction = try c.decode(Double.self, forKey: .validationFraction)
        switch try c.decodeIfPresent(String.self, forKey: .split) ?? "tail" {
        case "tail":
            split = .tail
        case "interleaved":
            let block = try c.decode(Int.self, forKey: .validationBlock)
            let derived = InterleavedSplit(blockTokens: block, validationFraction: validationFraction)
            let rule = InterleavedSplit(
                blockTokens: block, period: try c.decodeIfPresent(Int.self, forKey: .validationEvery) ?? derived.period,
                offset: try c.decodeIfPresent(Int.self, forKey: .validationOffset) ?? derived.offset)
            guard rule.blockTokens >= 1, rule.period >= 1, (0..<rule.period).contains(rule.offset) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .split, in: c,
                    debugDescription: "val_block \(rule.blockTokens), val_every \(rule.period), val_offset \(rule.offset) do not describe an interleaved split")
            }
            split = .interleaved(rule)
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .split, in: c,
                                                   debugDescription: "split \(other) is neither tail nor interleaved")
        }
        tokenizerFile = try c.decodeIfPresent(String.self, forKey: .tokenizerFile)
        tokenizerSHA256 = try c.decodeIfPresent(String.self, forKey: .tokenizerSHA256)
        tokenizerSource = try c.decodeIfPresent(String.self, forKey: .tokenizerSource)
        trainBytes = try c.decodeIfPresent(Int.self, forKey: .trainBytes)
        validationBytes = try c.decodeIfPresent(Int.self, forKey: .validationBytes)
        validationRanges = try c.decodeIfPresent([[Int]].self, forKey: .validationRanges)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(tokenizer, forKey: .tokenizer)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(byteOrder, forKey: .byteOrder)
        try c.encode(sources, forKey: .sources)
        try c.encode(trainTokens, forKey: .trainTokens)
        try c.encode(validationTokens, forKey: .validationTokens)
        try c.encode(validationFraction, forKey: .validationFraction)
        if case let .interleaved(rule) = split {
            try c.encode("interleaved", forKey: .split)
            try c.encode(rule.blockTokens, forKey: .validationBlock)
            try c.encode(rule.period, forKey: .validationEvery)
            try c.encode(rule.offset, forKey: .validationOffset)
        }
        try c.encodeIfPresent(tokenizerFile, forKey: .tokenizerFile)
        try c.encodeIfPresent(tokenizerSHA256, forKey: .tokenizerSHA256)
        try c.encodeIfPresent(tokenizerSource, forKey: .tokenizerSource)
        try c.encodeIfPresent(trainBytes, forKey: .trainBytes)
        try c.encodeIfPresent(validationBytes, forKey: .validationBytes)
        try c.encodeIfPresent(validationRanges, forKey: .validationRanges)
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

    /// Which split ``prepareBytes(files:outputDirectory:validationFraction:split:validationBlock:)``
    /// writes (`ngpt prepare --split`).
    public enum SplitRule: String, CaseIterable, Sendable {
        /// Every k-th block of the text (``InterleavedSplit``).
        case interleaved
        /// The last fraction of the text (``ValidationSplit/tail``).
        case tail
    }

    /// The validation block of an interleaved split unless told otherwise: 64 KiB.
    public static let defaultValidationBlock = 65_536

    /// Why an interleaved split with these settings cannot be cut from `n` tokens, or nil when it
    /// can.
    public static func interleavedSplitProblem(tokens n: Int, validationFraction f: Double,
                                               validationBlock: Int) -> DatasetPreparationError? {
        guard f > 0 && f < 1 else { return .validationFractionOutOfRange(f) }
        guard validationBlock >= 2 else { return .validationBlockTooSmall(validationBlock) }
        let rule = InterleavedSplit(blockTokens: validationBlock, validationFraction: f)
        guard rule.period >= 2 else { return .validationFractionTooLargeForInterleavedSplit(f) }
        guard n >= rule.minimumTokens else {
            return .textTooShortForInterleavedSplit(tokens: n, blockTokens: validationBlock, needed: rule.minimumTokens)
        }
        return nil
    }

    /// Tokenises `files` as bytes (vocabulary 256: each byte is one id), concatenated in order,
    /// into `outputDirectory/train.bin` and `val.bin` as raw little-endian uint16 with no header,
    /// and describes them in `meta.json`.
    ///
    /// The split:
    /// - `.interleaved`: the tokens are cut into blocks of `validationBlock` and every k-th block,
    ///   `k = round(1/f)`, starting at block `⌊k/2⌋` and never the last block, goes to `val.bin`
    ///   (``InterleavedSplit``; f = 0.1: blocks 5, 15, 25, …); the other blocks, in order, are
    ///   `train.bin`. The text must reach past the first validation block
    ///   (``InterleavedSplit/minimumTokens``, 6 × 64 KiB + 1 bytes with the defaults) and `k` must be
    ///   at least 2 (f below 2/3).
    /// - `.tail`: `train.bin` is the first ⌊N·(1 − f)⌋ tokens and `val.bin` the rest (nanoGPT's
    ///   split; the only one before interleaved splits existed, and byte for byte the same files).
    /// - `nil` (the default): interleaved when the text and fraction allow it, else tail. The
    ///   returned value and `meta.json` say which was written;
    ///   ``interleavedSplitProblem(tokens:validationFraction:validationBlock:)`` says why not.
    ///
    /// UTF-8 is not required; whether each file is valid UTF-8 is recorded in `meta.json`.
    ///
    /// All checks run before anything is written. The three files are written into a hidden
    /// staging directory beside `outputDirectory` and renamed into place at the end; a failure
    /// removes the staging directory and any directories this call created, so no partial
    /// `train.bin` is ever left behind. Existing `train.bin`, `val.bin` and `meta.json` are
    /// replaced (each by an atomic rename); other files in the directory are left alone.
    ///
    /// - Throws: ``DatasetPreparationError``; for an explicit `.interleaved` that cannot be cut,
    ///   ``DatasetPreparationError/textTooShortForInterleavedSplit(tokens:blockTokens:needed:)`` and
    ///   its siblings.
    @discardableResult
    public static func prepareBytes(files: [URL], outputDirectory: URL, validationFraction: Double = 0.1,
                                    split: SplitRule? = nil,
                                    validationBlock: Int = defaultValidationBlock) throws -> PreparedDatasetInfo {
        try checkSplitArguments(validationFraction: validationFraction, split: split, validationBlock: validationBlock)
        let (contents, sources) = try readInputs(files)
        let total = contents.reduce(0) { $0 + $1.count }
        let (chosen, trainRanges, validationRanges) = try splitRanges(
            total: total, validationFraction: validationFraction, split: split, validationBlock: validationBlock)
        let trainCount = trainRanges.reduce(0) { $0 + $1.count }
        let valCount = validationRanges.reduce(0) { $0 + $1.count }
        let outputNames = [DatasetSplit.train.fileName, DatasetSplit.val.fileName, metadataFileName]
        try checkOutput(outputDirectory, names: outputNames)

        let info = PreparedDatasetInfo(vocabularySize: TokenDataset.byteVocabularySize, tokenizer: "bytes", sources: sources,
                                       trainTokens: trainCount, validationTokens: valCount,
                                       validationFraction: validationFraction, split: chosen)
        try writeAtomically(outputNames, into: outputDirectory) { staging in
            try writeByteTokens(contents, ranges: trainRanges, to: staging.appendingPathComponent(outputNames[0]))
            try writeByteTokens(contents, ranges: validationRanges, to: staging.appendingPathComponent(outputNames[1]))
            try writeMetadata(info, to: staging.appendingPathComponent(outputNames[2]))
        }
        return info
    }

    /// Throws for a validation fraction outside (0, 1), and for an interleaved split asked for by
    /// name whose block or fraction cannot work, before any file is read.
    static func checkSplitArguments(validationFraction: Double, split: SplitRule?, validationBlock: Int) throws {
        guard validationFraction > 0 && validationFraction < 1 else {
            throw DatasetPreparationError.validationFractionOutOfRange(validationFraction)
        }
        if split == .interleaved, let problem = interleavedSplitProblem(tokens: .max, validationFraction: validationFraction,
                                                                         validationBlock: validationBlock) {
            throw problem
        }
    }

    /// The input files, memory-mapped, and their descriptions; at least one byte in all.
    static func readInputs(_ files: [URL]) throws -> (contents: [Data], sources: [PreparedDatasetInfo.Source]) {
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
        guard contents.contains(where: { !$0.isEmpty }) else { throw DatasetPreparationError.emptyInput(paths: files.map(\.path)) }
        return (contents, sources)
    }

    /// The split of a text of `total` bytes: which rule applies, and the byte ranges of
    /// `train.bin` and `val.bin`, in order.
    static func splitRanges(total: Int, validationFraction: Double, split: SplitRule?,
                            validationBlock: Int) throws -> (ValidationSplit, train: [Range<Int>], validation: [Range<Int>]) {
        let problem = split == .tail ? nil
            : interleavedSplitProblem(tokens: total, validationFraction: validationFraction, validationBlock: validationBlock)
        if split == .interleaved, let problem { throw problem }
        if split != .tail && problem == nil {
            let rule = InterleavedSplit(blockTokens: validationBlock, validationFraction: validationFraction)
            let (train, validation) = rule.ranges(tokens: total)
            return (.interleaved(rule), train, validation)
        }
        let (trainCount, valCount) = splitSizes(tokens: total, validationFraction: validationFraction)
        guard trainCount >= 2 && valCount >= 2 else {
            throw DatasetPreparationError.splitTooSmall(tokens: total, train: trainCount, validation: valCount,
                                                        fraction: validationFraction)
        }
        return (.tail, [0..<trainCount], [trainCount..<total])
    }

    /// Throws when `directory` is a file or one of `names` in it is a directory.
    static func checkOutput(_ directory: URL, names: [String]) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let outputExists = fm.fileExists(atPath: directory.path, isDirectory: &isDirectory)
        if outputExists && !isDirectory.boolValue { throw DatasetPreparationError.outputIsFile(path: directory.path) }
        for name in names {
            let path = directory.appendingPathComponent(name).path
            if fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue {
                throw DatasetPreparationError.writeFailed(path: path, reason: "a directory of that name is in the way")
            }
        }
    }

    /// Writes `meta.json`: pretty-printed, sorted keys, a final newline.
    static func writeMetadata(_ info: PreparedDatasetInfo, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try (encoder.encode(info) + Data("\n".utf8)).write(to: url)
    }

    /// `meta.json` of `directory`, or nil when it is missing or not ngpt's.
    public static func metadata(in directory: URL) -> PreparedDatasetInfo? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(metadataFileName)) else { return nil }
        return try? JSONDecoder().decode(PreparedDatasetInfo.self, from: data)
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

    /// Writes bytes `ranges` (in order) of the concatenation of `contents` to `url`, one
    /// little-endian uint16 per byte, and flushes the file to disk.
    private static func writeByteTokens(_ contents: [Data], ranges: [Range<Int>], to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw DatasetPreparationError.writeFailed(path: url.path, reason: "the file could not be created")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        let chunk = 1 << 16
        var buffer = [UInt16]()
        buffer.reserveCapacity(chunk)
        for range in ranges {
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
        }
        try handle.synchronize()
    }
}
