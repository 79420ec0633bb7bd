import ArgumentParser
import Foundation
import NGPT

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a trained model (key/value cache).",
        discussion: "SOURCE is a run directory (its newest checkpoint's model) or a model .safetensors file written by ngpt.")

    @Argument(help: "Run directory or model file.") var source: String
    @Option(help: "Prompt text (default a newline): its UTF-8 bytes are the tokens of a byte-level model; text that is not valid UTF-8 is refused (give such bytes with --prompt-ids).") var prompt: String?
    @Option(help: "Prompt as comma-separated token ids (for models with a vocabulary other than bytes).") var promptIds: String?
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
        if isDirectory.boolValue { url = RunDirectory.newestModel(in: url) ?? url.appendingPathComponent(Checkpoint.modelFile) }
        let (model, _, _) = try Checkpoint.loadModel(from: url, note: { printError("note: " + $0) })
        let promptTokens: [Int] = try promptIds.map { try parseList($0, "--prompt-ids") } ?? Array((prompt ?? "\n").utf8).map(Int.init)
        guard !promptTokens.isEmpty else { throw TrainingError.invalidOption("--prompt must not be empty") }
        let v = model.config.vocabularySize
        if let (i, t) = promptTokens.enumerated().first(where: { !(0..<v).contains($0.element) }) {
            if promptIds == nil {
                throw TrainingError.invalidOption("--prompt: byte \(t) (position \(i)) is outside the model's vocabulary 0..<\(v); use text the model was trained on, or --prompt-ids")
            }
            throw TrainingError.invalidOption("--prompt-ids: id \(t) (position \(i)) is outside the model's vocabulary 0..<\(v)")
        }
        let out = try Generator(model: model, precision: precision).generate(
            prompt: promptTokens, count: tokens,
            options: SamplingOptions(temperature: temperature, topK: topK, seed: seed))
        if model.config.vocabularySize <= 256 {
            let bytes = (promptTokens + out).map { UInt8($0) }
            FileHandle.standardOutput.write(Data(bytes))
            if bytes.last != UInt8(ascii: "\n") { print() }
        } else {
            // Not a byte-level model: the tokenizer is not known here, so print the ids.
            print((promptTokens + out).map(String.init).joined(separator: " "))
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
