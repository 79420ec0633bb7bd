import ArgumentParser
import Foundation
import NGPT

extension ModelKind: ExpressibleByArgument {}
extension ScalerMode: ExpressibleByArgument {}
extension SamplingMode: ExpressibleByArgument {}
extension ParameterPrecision: ExpressibleByArgument {}
extension DecodingPrecision: ExpressibleByArgument {}

/// The model's shape and the nGPT ablation switches (spec §8). Every option is optional so that
/// `--resume` can tell what was passed; unset options take the spec's defaults.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: gpt or ngpt.") var model: ModelKind?
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

    /// Whether any shape or ablation option was given.
    var anyGiven: Bool {
        model != nil || layers != nil || heads != nil || dim != nil || context != nil || vocab != nil
            || alphaMode != nil || alphaInit != nil || alphaScale != nil || signedAlpha || sqkMode != nil
            || sqkInit != nil || sqkScale != nil || suvMode != nil || suvInit != nil || suvScale != nil
            || szMode != nil || szInit != nil || szScale != nil || noQkNorm
    }

    /// The configuration these options describe, with `kind` and `vocabulary` as fallbacks.
    func config(kind defaultKind: ModelKind = .gpt, vocabulary: Int = 256) throws -> ModelConfig {
        var c = ModelConfig(kind: model ?? defaultKind, vocabularySize: vocab ?? vocabulary, width: dim ?? 128,
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
        try c.validate()
        return c
    }
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
