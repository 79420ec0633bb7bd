import Foundation
import NGPTNumerics

/// Where the byte-level BPE of ``DatasetPreparation/prepareSubwords(files:outputDirectory:tokenizer:validationFraction:split:validationBlock:)``
/// comes from.
public enum SubwordTokenizerSource: Sendable, Equatable {
    /// Learnt from the training text (``ByteLevelBPE/train(on:ranges:vocabularySize:)``) up to
    /// this many ids (256 bytes and the merges).
    case train(vocabularySize: Int)
    /// A `tokenizer.json` (``ByteLevelBPE/init(contentsOf:)``), copied into the data directory
    /// byte for byte.
    case file(URL)
}

/// What ``DatasetPreparation/prepareSubwords(files:outputDirectory:tokenizer:validationFraction:split:validationBlock:)``
/// wrote.
public struct SubwordPreparation: Sendable {
    /// The contents of `meta.json`.
    public var info: PreparedDatasetInfo
    public var tokenizer: ByteLevelBPE
    /// Seconds spent learning the merges (nil for a given file).
    public var trainingSeconds: Double?
    /// Seconds spent encoding the text.
    public var encodingSeconds: Double
}

extension DatasetPreparation {
    /// The most ids a learnt tokenizer may have (its ids and merges are 32-bit).
    public static let largestSubwordVocabulary = Int(Int32.max) - 1

    /// Tokenises `files` (concatenated in order) with a byte-level BPE into
    /// `outputDirectory/train.bin` and `val.bin`, and writes `tokenizer.json` and `meta.json`.
    ///
    /// The split is the byte-level one (``prepareBytes(files:outputDirectory:validationFraction:split:validationBlock:)``)
    /// made on the text's bytes, blocks of `validationBlock` bytes, except that each boundary
    /// moves forward to the next start of a UTF-8 character, so that both parts of valid UTF-8
    /// text are valid UTF-8. A learnt tokenizer sees the training part only. Each range of the
    /// text is encoded on its own (no piece spans two ranges); `train.bin` and `val.bin` are their
    /// ids in order, `uint16` or, for more than 65,536 ids, `uint32` (``TokenDType``).
    ///
    /// `meta.json` gets, beside the byte-level keys, `tokenizer: "byte-level-bpe"`,
    /// `tokenizer_file`, its `tokenizer_sha256`, `train_bytes`, `val_bytes` (the validation
    /// text's length, for bits per byte) and `val_ranges` (the validation text's byte ranges in the
    /// concatenated files), and `tokenizer_source` for a given file.
    ///
    /// All checks run before anything is written, and the files appear together or not at all,
    /// as for bytes.
    ///
    /// - Throws: ``DatasetPreparationError``, or ``TokenizerFileError`` for a tokenizer file that
    ///   cannot be used.
    @discardableResult
    public static func prepareSubwords(files: [URL], outputDirectory: URL, tokenizer source: SubwordTokenizerSource,
                                       validationFraction: Double = 0.1, split: SplitRule? = nil,
                                       validationBlock: Int = defaultValidationBlock) throws -> SubwordPreparation {
        try checkSplitArguments(validationFraction: validationFraction, split: split, validationBlock: validationBlock)
        var given: (tokenizer: ByteLevelBPE, json: Data)?
        switch source {
        case let .train(v):
            guard (256...largestSubwordVocabulary).contains(v) else { throw DatasetPreparationError.subwordVocabularyOutOfRange(v) }
        case let .file(url):
            let json = try ByteLevelBPE.readFile(url)
            given = (try ByteLevelBPE(json: json, path: url.path), json)
        }
        let (contents, sources) = try readInputs(files)
        var text = [UInt8]()
        text.reserveCapacity(contents.reduce(0) { $0 + $1.count })
        for data in contents { text.append(contentsOf: data) }
        let (chosen, byteTrain, byteValidation) = try splitRanges(
            total: text.count, validationFraction: validationFraction, split: split, validationBlock: validationBlock)
        let trainRanges = alignToCharacters(byteTrain, in: text)
        let validationRanges = alignToCharacters(byteValidation, in: text)
        let outputNames = [TokenDataset.tokenizerFileName, DatasetSplit.train.fileName, DatasetSplit.val.fileName, metadataFileName]
        try checkOutput(outputDirectory, names: outputNames)

        var trainingSeconds: Double?
        let tokenizer: ByteLevelBPE, json: Data
        if let given {
            (tokenizer, json) = given
        } else if case let .train(v) = source {
            let start = Date()
            tokenizer = ByteLevelBPE.train(on: text, ranges: trainRanges, vocabularySize: v)
            trainingSeconds = Date().timeIntervalSince(start)
            json = tokenizer.jsonData()
        } else {
            preconditionFailure("a tokenizer is either given or learnt")
        }

        let start = Date()
        var cache = EncodingCache()
        var trainIDs = [Int](), validationIDs = [Int]()
        text.withUnsafeBufferPointer { p in
            for r in trainRanges { tokenizer.encode(UnsafeBufferPointer(rebasing: p[r]), into: &trainIDs, cache: &cache) }
            for r in validationRanges { tokenizer.encode(UnsafeBufferPointer(rebasing: p[r]), into: &validationIDs, cache: &cache) }
        }
        let encodingSeconds = Date().timeIntervalSince(start)
        guard trainIDs.count >= 2 && validationIDs.count >= 2 else {
            throw DatasetPreparationError.splitTooSmall(tokens: trainIDs.count + validationIDs.count, train: trainIDs.count,
                                                        validation: validationIDs.count, fraction: validationFraction)
        }

        let dtype = TokenDType.fitting(vocabularySize: tokenizer.vocabularySize)
        var info = PreparedDatasetInfo(vocabularySize: tokenizer.vocabularySize, tokenizer: PreparedDatasetInfo.byteLevelBPEName,
                                       dtype: dtype.rawValue, sources: sources, trainTokens: trainIDs.count,
                                       validationTokens: validationIDs.count, validationFraction: validationFraction, split: chosen)
        info.tokenizerFile = TokenDataset.tokenizerFileName
        info.tokenizerSHA256 = SHA256.hex(json)
        if case let .file(url) = source { info.tokenizerSource = url.path }
        info.trainBytes = trainRanges.reduce(0) { $0 + $1.count }
        info.validationBytes = validationRanges.reduce(0) { $0 + $1.count }
        info.validationRanges = validationRanges.map { [$0.lowerBound, $0.upperBound] }
        try writeAtomically(outputNames, into: outputDirectory) { staging in
            try json.write(to: staging.appendingPathComponent(outputNames[0]))
            for (ids, name) in [(trainIDs, outputNames[1]), (validationIDs, outputNames[2])] {
                var writer = try TokenFileWriter(url: staging.appendingPathComponent(name), dtype: dtype)
                try writer.append(ids)
                try writer.close()
            }
            try writeMetadata(info, to: staging.appendingPathComponent(outputNames[3]))
        }
        return SubwordPreparation(info: info, tokenizer: tokenizer, trainingSeconds: trainingSeconds, encodingSeconds: encodingSeconds)
    }

    /// `ranges` with each bound inside `text` moved forward past UTF-8 continuation bytes
    /// (`10xxxxxx`, at most three), so no range starts or ends inside a character; ranges left
    /// empty are dropped. Applied to both parts of a split, it keeps them a partition of the text.
    static func alignToCharacters(_ ranges: [Range<Int>], in text: [UInt8]) -> [Range<Int>] {
        func align(_ b: Int) -> Int {
            guard b > 0 else { return b }
            var i = b
            while i < text.count && i - b < 3 && text[i] & 0xC0 == 0x80 { i += 1 }
            return i
        }
        return ranges.map { align($0.lowerBound)..<align($0.upperBound) }.filter { !$0.isEmpty }
    }
}
