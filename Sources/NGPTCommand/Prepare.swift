import ArgumentParser
import Foundation
import NGPT

extension DatasetPreparation.SplitRule: ExpressibleByArgument {}

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenise text files as bytes into train.bin, val.bin and meta.json (nanoGPT's layout).",
        discussion: """
            Each byte of the input is one token id (vocabulary 256); the files are concatenated in \
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

    func run() throws {
        if split == .tail && valBlock != nil {
            throw TrainingError.invalidOption("--val-block applies to --split interleaved only; drop it or use --split interleaved")
        }
        let block = valBlock ?? DatasetPreparation.defaultValidationBlock
        let info = try DatasetPreparation.prepareBytes(
            files: text.map { URL(fileURLWithPath: $0) }, outputDirectory: try pathOption(out, "--out"),
            validationFraction: valFraction, split: split ?? (valBlock == nil ? nil : .interleaved), validationBlock: block)
        let dir = URL(fileURLWithPath: out)
        let how: String
        switch info.split {
        case .tail:
            how = "the last \(valFraction) of the text"
        case let .interleaved(rule):
            let blocks = info.validationTokens / rule.blockTokens
            how = "\(blocks) block(s) of \(rule.blockTokens) bytes, 1 in every \(rule.period) from block \(rule.offset)"
        }
        print("\(dir.appendingPathComponent("train.bin").path): \(info.trainTokens) tokens")
        print("\(dir.appendingPathComponent("val.bin").path): \(info.validationTokens) tokens (\(how))")
        print("\(dir.appendingPathComponent(DatasetPreparation.metadataFileName).path): vocab_size \(info.vocabularySize), tokenizer \(info.tokenizer), \(info.sources.count) source file(s)")
        if split == nil && valBlock == nil && info.split == .tail,
           let why = DatasetPreparation.interleavedSplitProblem(tokens: info.trainTokens + info.validationTokens,
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
}
