import ArgumentParser
import Foundation
import NGPT

extension DatasetPreparation.SplitRule: ExpressibleByArgument {}

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenise text files into train.bin, val.bin and meta.json (nanoGPT's layout), as bytes or subwords.",
        discussion: """
            By default each byte of the input is one token id (vocabulary 256); the files are concatenated in \
            the order given. By default (--split interleaved) the text is cut into blocks of \
            --val-block bytes and every k-th block, k = round(1/f), goes to val.bin: blocks k/2, \
            k/2 + k, … (5, 15, 25, … for f = 0.1), never the last, so validation text comes from \
            the whole text; train.bin holds the other blocks in order. A text too short for that \
            (6 blocks and a byte, for f = 0.1) gets the tail split instead, with a note, unless \
            --split interleaved or --val-block was given, which makes it an error. --split tail \
            writes nanoGPT's split: train.bin the first (1 - f) of the tokens and val.bin the last \
            f, byte for byte as earlier versions did. meta.json records the split. The token files \
            are raw little-endian uint16 with no header. Existing train.bin, val.bin and meta.json \
            in DIR are replaced; on an error nothing is written.

            --tokenizer bpe --vocab-size N learns a byte-level BPE (GPT-2's kind: 256 byte tokens \
            and merges up to N ids) on the training part of the text and encodes both parts with \
            it; --tokenizer FILE.json encodes with an existing byte-level BPE tokenizer.json \
            (Hugging Face's format, e.g. GPT-2's). The split is made on the text's bytes as above \
            (boundaries moved to the next character start); DIR also gets tokenizer.json, which \
            Python's tokenizers.Tokenizer.from_file loads and encodes to the same ids, and \
            meta.json records the validation text's bytes, so losses can be given in bits per \
            byte. Token files are uint32 when the vocabulary has more than 65,536 ids.
            """)

    @Argument(help: "Text files, concatenated in the order given (UTF-8 is not required).")
    var text: [String]

    @Option(help: ArgumentHelp("Output directory (created if missing).", valueName: "DIR"))
    var out: String

    @Option(help: "Fraction of the tokens for val.bin, strictly between 0 and 1 (interleaved: about 1/round(1/f), below 2/3).")
    var valFraction: Double = 0.1

    @Option(help: ArgumentHelp("How val.bin is cut: interleaved (every k-th block, the default) or tail (the last fraction).",
                               valueName: "interleaved|tail"))
    var split: DatasetPreparation.SplitRule?

    @Option(help: ArgumentHelp("Block length in bytes of the interleaved split (default \(DatasetPreparation.defaultValidationBlock)).",
                               valueName: "BYTES"))
    var valBlock: Int?

    @Option(help: ArgumentHelp("bytes (the default), bpe (learn a byte-level BPE on the training text; give --vocab-size), or a byte-level BPE tokenizer.json to encode with (a file named bpe or bytes: write ./bpe).",
                               valueName: "bytes|bpe|FILE.json"))
    var tokenizer: String = "bytes"

    @Option(help: ArgumentHelp("Ids of --tokenizer bpe: the 256 bytes and N − 256 merges, e.g. 4096.", valueName: "N"))
    var vocabSize: Int?

    func run() throws {
        if split == .tail && valBlock != nil {
            throw TrainingError.invalidOption("--val-block applies to --split interleaved only; drop it or use --split interleaved")
        }
        let block = valBlock ?? DatasetPreparation.defaultValidationBlock
        let files = text.map { URL(fileURLWithPath: $0) }
        let outURL = try pathOption(out, "--out")
        let splitRule = split ?? (valBlock == nil ? nil : .interleaved)
        let info: PreparedDatasetInfo
        switch tokenizer {
        case "bytes":
            if vocabSize != nil { throw TrainingError.invalidOption("--vocab-size applies to --tokenizer bpe only; byte tokens have 256 ids") }
            info = try DatasetPreparation.prepareBytes(files: files, outputDirectory: outURL, validationFraction: valFraction,
                                                       split: splitRule, validationBlock: block)
        default:
            let source: SubwordTokenizerSource
            if tokenizer == "bpe" {
                guard let vocabSize else { throw TrainingError.invalidOption("--tokenizer bpe needs --vocab-size N (the 256 bytes and N − 256 merges), e.g. --vocab-size 4096") }
                source = .train(vocabularySize: vocabSize)
            } else {
                if vocabSize != nil { throw TrainingError.invalidOption("--vocab-size applies to --tokenizer bpe only; \(tokenizer) has its own vocabulary") }
                source = .file(try pathOption(tokenizer, "--tokenizer"))
            }
            let result = try DatasetPreparation.prepareSubwords(files: files, outputDirectory: outURL, tokenizer: source,
                                                                validationFraction: valFraction, split: splitRule, validationBlock: block)
            info = result.info
            report(result)
            if case let .train(asked) = source, result.tokenizer.vocabularySize < asked {
                print("note: the text has no more pairs to merge after \(result.tokenizer.vocabularySize) ids (\(asked) were asked for); every piece of it is one token")
            }
        }
        let dir = URL(fileURLWithPath: out)
        let how: String
        switch info.split {
        case .tail:
            how = "the last \(valFraction) of the text"
        case let .interleaved(rule):
            let blocks = Int((Double(info.validationBytes ?? info.validationTokens) / Double(rule.blockTokens)).rounded())
            how = "\(blocks) block(s) of \(rule.blockTokens) bytes, 1 in every \(rule.period) from block \(rule.offset)"
        }
        let perToken: (Int?, Int) -> String = { bytes, tokens in
            bytes.map { String(format: ", %.2f bytes per token", Double($0) / Double(max(tokens, 1))) } ?? ""
        }
        print("\(dir.appendingPathComponent("train.bin").path): \(info.trainTokens) tokens\(perToken(info.trainBytes, info.trainTokens))")
        print("\(dir.appendingPathComponent("val.bin").path): \(info.validationTokens) tokens (\(how)\(perToken(info.validationBytes, info.validationTokens)))")
        print("\(dir.appendingPathComponent(DatasetPreparation.metadataFileName).path): vocab_size \(info.vocabularySize), tokenizer \(info.tokenizer), \(info.sources.count) source file(s)")
        if split == nil && valBlock == nil && info.split == .tail,
           let why = DatasetPreparation.interleavedSplitProblem(tokens: info.sources.reduce(0) { $0 + $1.bytes },
                                                                validationFraction: valFraction, validationBlock: block) {
            let reason: String
            switch why {
            case let .textTooShortForInterleavedSplit(n, b, needed):
                reason = "the text (\(n) bytes) is too short for an interleaved split with blocks of \(b) bytes, which needs \(needed)"
            case .validationFractionTooLargeForInterleavedSplit:
                reason = "--val-fraction \(valFraction) is too large for an interleaved split (below 2/3 is needed)"
            default:
                reason = why.description
            }
            print("note: \(reason); val.bin is the last \(valFraction) of the text instead (the tail split)")
        }
        for s in info.sources where !s.isValidUTF8 {
            print("note: \(s.path) is not valid UTF-8; its bytes were tokenised as they are")
        }
    }

    /// The tokenizer's line: where it came from, its size and the time taken.
    private func report(_ result: SubwordPreparation) {
        let path = URL(fileURLWithPath: out).appendingPathComponent(TokenDataset.tokenizerFileName).path
        let size = "\(result.tokenizer.vocabularySize) ids (\(result.tokenizer.merges.count) merges)"
        let origin = result.trainingSeconds.map { String(format: "learnt on the training text in %.1f s", $0) } ?? "copied from \(tokenizer)"
        let mbps = Double((result.info.trainBytes ?? 0) + (result.info.validationBytes ?? 0)) / 1e6 / max(result.encodingSeconds, 1e-9)
        print("\(path): byte-level BPE, \(size), \(origin); text encoded at \(String(format: "%.1f", mbps)) MB/s")
    }
}
