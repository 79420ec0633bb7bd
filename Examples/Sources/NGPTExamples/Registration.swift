import NGPT

/// The examples as architectures files can name: a program that registers them
/// (``ExampleArchitectures/all``, as `ngpt-examples` does) trains, samples, resumes, inspects,
/// compares and ablates them like the library's own.
public enum ExampleArchitectures {
    public static let all: [any RegisteredArchitecture.Type] = [QKNormGPT.self, SplitScalerNGPT.self]
}

extension QKNormGPT: RegisteredArchitecture {
    public static let registeredName = "qknorm-gpt"
    public static let displayName = "QK-norm GPT"
    public static let summary = "GPT with per-head q/k RMS normalisation and a learnable gain (Examples/QKNormGPT.swift)"
    public static let baseKind = ModelKind.gpt
    public init(config: ModelConfig, options: NoArchitectureOptions) throws { self.init(config: config) }
}

extension SplitScalerNGPT: RegisteredArchitecture {
    /// α_A, α_M, s_u and s_ν, each the configuration's `alpha` or `suv` when not given.
    public struct Options: Codable, Sendable, Equatable {
        public var alphaA: ScalerConfig?, alphaM: ScalerConfig?, su: ScalerConfig?, sv: ScalerConfig?

        public init(alphaA: ScalerConfig? = nil, alphaM: ScalerConfig? = nil, su: ScalerConfig? = nil, sv: ScalerConfig? = nil) {
            (self.alphaA, self.alphaM, self.su, self.sv) = (alphaA, alphaM, su, sv)
        }
    }

    public static let registeredName = "ngpt-split-scalers"
    public static let summary = "nGPT with α_A, α_M, s_u and s_ν configured separately (Examples/SplitScalerNGPT.swift)"
    public static let baseKind = ModelKind.ngpt

    public init(config: ModelConfig, options: Options) throws {
        try self.init(config: config, alphaA: options.alphaA, alphaM: options.alphaM, su: options.su, sv: options.sv)
    }

    public var options: Options { Options(alphaA: alphaA, alphaM: alphaM, su: su, sv: sv) }
}
