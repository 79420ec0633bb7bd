import ArgumentParser
import Foundation
import NGPT

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenise text files as bytes into train.bin, val.bin and meta.json (nanoGPT's layout).",
        discussion: """
            Each byte of the input is one token id (vocabulary 256); the files are concatenated in \
            the order given. train.bin holds the first (1 - f) of the tokens and val.bin the last f, \
            as raw little-endian uint16 with no header. Existing train.bin, val.bin and meta.json in \
            DIR are replaced; on an error nothing is written.
            """)

    @Argument(help: "Text files, concatenated in the order given (UTF-8 is not required).")
    var text: [String]

    @Option(help: ArgumentHelp("Output directory (created if missing).", valueName: "DIR"))
    var out: String

    @Option(help: "Fraction of the tokens for val.bin, strictly between 0 and 1.")
    var valFraction: Double = 0.1

    func run() throws {
        let info = try DatasetPreparation.prepareBytes(
            files: text.map { URL(fileURLWithPath: $0) }, outputDirectory: try pathOption(out, "--out"),
            validationFraction: valFraction)
        let dir = URL(fileURLWithPath: out)
        print("\(dir.appendingPathComponent("train.bin").path): \(info.trainTokens) tokens")
        print("\(dir.appendingPathComponent("val.bin").path): \(info.validationTokens) tokens")
        print("\(dir.appendingPathComponent(DatasetPreparation.metadataFileName).path): vocab_size \(info.vocabularySize), tokenizer \(info.tokenizer), \(info.sources.count) source file(s)")
        for s in info.sources where !s.isValidUTF8 {
            print("note: \(s.path) is not valid UTF-8; its bytes were tokenised as they are")
        }
    }
}
