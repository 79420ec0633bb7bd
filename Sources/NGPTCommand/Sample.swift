import ArgumentParser
import Foundation
import NGPT

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a trained model (key/value cache).",
        discussion: """
            SOURCE is a run directory (its newest checkpoint's model) or a model .safetensors file written by ngpt. \
            A run on subword data keeps its tokenizer (RUN/tokenizer.json): --prompt is encoded with it and the \
            output decoded to text, as for byte-level models; --tokenizer gives one for a model without it. A model \
            with more than 256 ids and no tokenizer prints token ids.
            """)

    @Argument(help: "Run directory or model file.") var source: String
    @Option(help: "Prompt text (default a newline), encoded with the model's tokenizer (bytes for a byte-level model); text that is not valid UTF-8 is refused (give such bytes with --prompt-ids).") var prompt: String?
    @Option(help: "Prompt as comma-separated token ids.") var promptIds: String?
    @Option(help: ArgumentHelp("The byte-level BPE tokenizer.json of a model that has none beside it (default: the run's own).", valueName: "FILE.json")) var tokenizer: String?
    @Option(help: "Tokens to generate.") var tokens: Int = 200
    @Option(help: "Softmax temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(help: "Sample only among the k most likely tokens.") var topK: Int?
    @Option(help: "Seed of the sampler.") var seed: UInt64 = 0
    @Option(help: "Weight precision while decoding: float32 or bfloat16 (about twice as fast).") var precision: DecodingPrecision = .float32
    @Option(help: "Threads (default: OPENBLAS_NUM_THREADS, else all cores).") var threads: Int?

    func run() throws {
        try applyThreads(threads)
        if let topK, topK < 1 { throw TrainingError.invalidOption("--top-k must be at least 1, got \(topK); omit it to sample among all tokens") }
        guard tokens >= 0 else { throw TrainingError.invalidOption("--tokens must be ≥ 0") }
        guard temperature >= 0, temperature.isFinite else {
            throw TrainingError.invalidOption("--temperature must be a finite number ≥ 0 (0 is greedy), got \(temperature)")
        }
        if prompt != nil && promptIds != nil { throw TrainingError.invalidOption("give --prompt (text) or --prompt-ids (token ids), not both") }
        if let prompt, Self.rawArgumentIsInvalidUTF8(decodedAs: prompt) {
            throw TrainingError.invalidOption("--prompt is not valid UTF-8 (its bytes would be replaced by U+FFFD); give the bytes as --prompt-ids, e.g. --prompt-ids 72,105")
        }
        var url = try pathOption(source, "SOURCE")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TrainingError.invalidOption("\(source) does not exist; give a run directory or a model .safetensors file")
        }
        let tokenizerURL = try tokenizer.map { try pathOption($0, "--tokenizer") } ?? RunDirectory.tokenizerFile(forModelAt: url)
        if isDirectory.boolValue { url = RunDirectory.newestModel(in: url) ?? url.appendingPathComponent(Checkpoint.modelFile) }
        let (model, _, _) = try Checkpoint.loadModel(from: url, note: { printError("note: " + $0) })
        let v = model.config.vocabularySize
        // the model's tokenizer: its run's (or the one given), else bytes when the ids are bytes
        let textTokenizer: Tokenizer? = try tokenizerURL.map { .byteLevelBPE(try ByteLevelBPE(contentsOf: $0)) } ?? (v <= 256 ? .bytes : nil)
        if let textTokenizer, textTokenizer.vocabularySize > v, let tokenizerURL {
            throw TrainingError.invalidOption("\(tokenizerURL.path) has \(textTokenizer.vocabularySize) ids but the model only \(v): it is not this model's tokenizer; give the one its data was prepared with (--tokenizer)")
        }
        let promptText = Array((prompt ?? "\n").utf8)
        let promptTokens: [Int] = try promptIds.map { try parseList($0, "--prompt-ids") } ?? textTokenizer?.encode(promptText) ?? promptText.map(Int.init)
        guard !promptTokens.isEmpty else { throw TrainingError.invalidOption("--prompt must not be empty") }
        if let (i, t) = promptTokens.enumerated().first(where: { !(0..<v).contains($0.element) }) {
            if promptIds == nil {
                throw TrainingError.invalidOption("--prompt: byte \(t) (position \(i)) is outside the model's vocabulary 0..<\(v); use text the model was trained on, or --prompt-ids")
            }
            throw TrainingError.invalidOption("--prompt-ids: id \(t) (position \(i)) is outside the model's vocabulary 0..<\(v)")
        }
        let out = try Generator(model: model, precision: precision).generate(
            prompt: promptTokens, count: tokens,
            options: SamplingOptions(temperature: temperature, topK: topK, seed: seed))
        guard let textTokenizer else {
            // neither bytes nor a tokenizer file: print the ids
            print((promptTokens + out).map(String.init).joined(separator: " "))
            return
        }
        let ids = promptTokens + out
        let unknown = ids.filter { !textTokenizer.isKnown($0) }.count
        let bytes = textTokenizer.decode(ids)
        FileHandle.standardOutput.write(Data(bytes))
        if bytes.last != UInt8(ascii: "\n") { print() }
        if unknown > 0 {
            printError("note: \(unknown) id(s) have no token in the tokenizer (the model's vocabulary of \(v) is larger than its \(textTokenizer.vocabularySize)) and were left out")
        }
    }

    /// Whether the command line holds `--prompt` text whose raw bytes are not valid UTF-8 and
    /// were decoded (lossily) as `text`.
    static func rawArgumentIsInvalidUTF8(decodedAs text: String) -> Bool {
        let argv = CommandLine.unsafeArgv
        for i in 0..<Int(CommandLine.argc) {
            guard let raw = argv[i] else { continue }
            let length = strlen(raw)
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: length))
            guard String(validating: bytes, as: UTF8.self) == nil else { continue }
            let lossy = String(decoding: bytes, as: UTF8.self)
            if lossy == text || lossy == "--prompt=" + text { return true }
        }
        return false
    }
}
