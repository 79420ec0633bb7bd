import ArgumentParser
import Foundation
import NGPT

extension ScalerMode: ExpressibleByArgument {}
extension SamplingMode: ExpressibleByArgument {}
extension ParameterPrecision: ExpressibleByArgument {}
extension DecodingPrecision: ExpressibleByArgument {}

/// The model's shape and the ablation switches (docs/model.md §8). Every option is optional so that
/// `--resume` can tell what was passed; unset options take the defaults of docs/model.md.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: gpt, ngpt, or an architecture this program registered (`ngpt info` lists them).") var model: String?
    @Option(help: "Transformer blocks (default 4; bench: the preset's).") var layers: Int?
    @Option(help: "Attention heads (default 4; bench: the preset's); must divide --dim into an even head width.") var heads: Int?
    @Option(help: "Model width d (default 128; bench: the preset's).") var dim: Int?
    @Option(help: "Training context length T (default 256; bench: the preset's).") var context: Int?
    @Option(help: "Vocabulary size (default: the data's; bench: 256).") var vocab: Int?

    @Option(help: "nGPT alpha (eigen learning rates): vector, scalar or fixed.") var alphaMode: ScalerMode?
    @Option(help: "nGPT alpha s_init (default 0.05).") var alphaInit: Float?
    @Option(help: "nGPT alpha s_scale (default 1/sqrt(d)).") var alphaScale: Float?
    @Flag(help: "nGPT: use signed alpha instead of |alpha|.") var signedAlpha = false
    @Option(help: "nGPT sqk: vector, scalar or fixed.") var sqkMode: ScalerMode?
    @Option(help: "nGPT sqk s_init (default 1).") var sqkInit: Float?
    @Option(help: "nGPT sqk s_scale (default 1/sqrt(d)).") var sqkScale: Float?
    @Option(help: "nGPT suv: vector, scalar or fixed.") var suvMode: ScalerMode?
    @Option(help: "nGPT suv s_init (default 1).") var suvInit: Float?
    @Option(help: "nGPT suv s_scale (default 1).") var suvScale: Float?
    @Option(help: "nGPT sz: vector, scalar or fixed.") var szMode: ScalerMode?
    @Option(help: "nGPT sz s_init (default 1).") var szInit: Float?
    @Option(help: "nGPT sz s_scale (default 1/sqrt(d)).") var szScale: Float?
    @Flag(help: "nGPT: do not normalise q and k.") var noQkNorm = false
    @Flag(help: "nGPT: do not renormalise the matrices after each step (they are normalised once, at initialisation).") var noWeightNorm = false
    @Flag(help: "nGPT: plain LERP residuals, x + alpha*(Norm(h) - x), without putting x back on the sphere.") var noResidualNorm = false
    @Flag(help: "GPT: RMS-normalise q and k per head before RoPE, with learnable gains (q_norm, k_norm).") var gptQkNorm = false

    /// Whether any shape or ablation option was given.
    var anyGiven: Bool {
        model != nil || layers != nil || heads != nil || dim != nil || context != nil || vocab != nil
            || alphaMode != nil || alphaInit != nil || alphaScale != nil || signedAlpha || sqkMode != nil
            || sqkInit != nil || sqkScale != nil || suvMode != nil || suvInit != nil || suvScale != nil
            || szMode != nil || szInit != nil || szScale != nil || noQkNorm || noWeightNorm || noResidualNorm || gptQkNorm
    }

    /// The architecture `--model` names (`defaultName` without it), as this program's registry
    /// knows it.
    func architecture(default defaultName: String = "gpt") throws -> ArchitectureRegistry.Entry {
        let name = model ?? defaultName
        guard let entry = ArchitectureRegistry.entry(named: name) else { throw ArchitectureRegistry.unknown(name) }
        return entry
    }

    /// The library model `--model` starts from (its kind), or nil without `--model`.
    func modelKind() throws -> ModelKind? { try model.map { _ in try architecture().baseKind } }

    /// The options given that only the other kind of model has: nGPT's scalers and
    /// normalisation switches for GPT, `--gpt-qk-norm` for nGPT.
    func optionsOfOtherKind(than kind: ModelKind) -> [String] {
        let ngptOnly: [(String, Bool)] = [
            ("--alpha-mode", alphaMode != nil), ("--alpha-init", alphaInit != nil), ("--alpha-scale", alphaScale != nil),
            ("--signed-alpha", signedAlpha), ("--sqk-mode", sqkMode != nil), ("--sqk-init", sqkInit != nil),
            ("--sqk-scale", sqkScale != nil), ("--suv-mode", suvMode != nil), ("--suv-init", suvInit != nil),
            ("--suv-scale", suvScale != nil), ("--sz-mode", szMode != nil), ("--sz-init", szInit != nil),
            ("--sz-scale", szScale != nil), ("--no-qk-norm", noQkNorm), ("--no-weight-norm", noWeightNorm),
            ("--no-residual-norm", noResidualNorm),
        ]
        let gptOnly = [("--gpt-qk-norm", gptQkNorm)]
        return (kind == .gpt ? ngptOnly : gptOnly).filter(\.1).map(\.0)
    }

    /// Refuses, in one line, options that a model of `kind` would ignore; `model` says which
    /// model that is (`"the model"`, or a run's path when resuming).
    func checkOptionsApply(to kind: ModelKind, model: String? = nil) throws {
        let wrong = optionsOfOtherKind(than: kind)
        guard !wrong.isEmpty else { return }
        let other: ModelKind = kind == .gpt ? .ngpt : .gpt
        let names = wrong.joined(separator: ", "), one = wrong.count == 1
        let subject = model.map { "\($0) is \(kind == .gpt ? "a GPT" : "an nGPT") run" }
            ?? "the model is \(self.model ?? kind.rawValue)\(self.model == nil ? " (the default without --model)" : "")"
        let hint = model == nil ? "drop \(one ? "it" : "them") or use --model \(other.rawValue)" : "drop \(one ? "it" : "them")"
        throw TrainingError.invalidOption("\(names) appl\(one ? "ies" : "y") to \(other == .ngpt ? "nGPT" : "GPT") only, and \(subject); \(hint)")
    }

    /// The configuration these options describe, with `kind` and `vocabulary` as fallbacks.
    func config(kind defaultKind: ModelKind = .gpt, vocabulary: Int = 256) throws -> ModelConfig {
        var c = ModelConfig(kind: try modelKind() ?? defaultKind, vocabularySize: vocab ?? vocabulary, width: dim ?? 128,
                            heads: heads ?? 4, layers: layers ?? 4, context: context ?? 256)
        func apply(_ s: inout ScalerConfig, _ mode: ScalerMode?, _ initValue: Float?, _ scale: Float?) {
            if let mode { s.mode = mode }
            if let initValue { s.initValue = initValue }
            if let scale { s.scale = scale }
        }
        apply(&c.alpha, alphaMode, alphaInit, alphaScale)
        apply(&c.sqk, sqkMode, sqkInit, sqkScale)
        apply(&c.suv, suvMode, suvInit, suvScale)
        apply(&c.sz, szMode, szInit, szScale)
        if signedAlpha { c.alpha.absolute = false }
        if noQkNorm { c.qkNormalization = false }
        if noWeightNorm { c.weightNormalization = false }
        if noResidualNorm { c.residualNormalization = false }
        if gptQkNorm { c.gptQKNormalization = true }
        try checkModelMemory(c)
        try c.validate()
        return c
    }

    /// Refuses a shape whose parameters alone (with gradients and Adam's moments) do not fit in
    /// memory, before anything is allocated or looped over.
    private func checkModelMemory(_ c: ModelConfig) throws {
        guard [c.vocabularySize, c.width, c.heads, c.layers, c.context].allSatisfy({ $0 >= 1 }),
              let available = AvailableMemory.bytes() else { return }
        let needed = MemoryEstimate.model(c).totalBytes
        guard needed <= available else {
            throw TrainingError.invalidOption("--dim \(c.width), --layers \(c.layers) and a vocabulary of \(c.vocabularySize) need \(MemoryEstimate.format(needed)) for the parameters, gradients and Adam's moments alone; this machine has \(MemoryEstimate.format(available)) available; reduce --dim or --layers")
        }
    }
}

/// The most threads a command accepts: more than a few per core only adds contention, and
/// OpenBLAS's per-thread buffers can exhaust a memory limit.
var maximumThreads: Int { 4 * ProcessInfo.processInfo.activeProcessorCount }

/// Sets the thread count from `--threads` (nothing when not given), refusing counts below 1 or
/// above ``maximumThreads``.
func applyThreads(_ requested: Int?, option: String = "--threads") throws {
    // Without the option the count comes from OPENBLAS_NUM_THREADS: checked the same way, before
    // anything asks OpenBLAS for that many threads.
    if requested == nil, let value = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let n = Int(value),
       n > maximumThreads {
        throw TrainingError.invalidOption("OPENBLAS_NUM_THREADS=\(n) is more than this machine can serve (\(ProcessInfo.processInfo.activeProcessorCount) cores, at most \(maximumThreads) threads); unset it, lower it, or pass \(option) \(ProcessInfo.processInfo.activeProcessorCount)")
    }
    guard let n = try checkedThreads(requested, option: option) else { return }
    Threads.set(n)
}

/// `requested`, checked as ``applyThreads(_:option:)`` does.
func checkedThreads(_ requested: Int?, option: String) throws -> Int? {
    guard let n = requested else { return nil }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    guard n >= 1 else { throw TrainingError.invalidOption("\(option) must be at least 1, got \(n)") }
    guard n <= maximumThreads else {
        throw TrainingError.invalidOption("\(option) \(n) is more than this machine can serve (\(cores) cores, at most \(maximumThreads) threads); use \(option) \(cores)")
    }
    return n
}

/// A path option's value as a URL; an empty value is refused rather than meaning the current
/// directory.
func pathOption(_ value: String, _ option: String) throws -> URL {
    guard !value.isEmpty else { throw TrainingError.invalidOption("\(option) is empty; give a path") }
    return URL(fileURLWithPath: value)
}

func printError(_ s: String) {
    var stderr = StandardError()
    print(s, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// Parses a comma-separated list such as `250,500,1000` or `1e-3,2e-3`.
func parseList<T: LosslessStringConvertible>(_ text: String, _ option: String) throws -> [T] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    var out = [T]()
    for p in parts {
        guard let v = T(p) ?? (T.self == Int.self ? Double(p).flatMap { Int(exactly: $0) }.flatMap { T(String($0)) } : nil) else {
            throw ValidationError("\(option): '\(p)' is not a valid number in '\(text)'")
        }
        out.append(v)
    }
    guard !out.isEmpty else { throw ValidationError("\(option) needs at least one value") }
    return out
}
