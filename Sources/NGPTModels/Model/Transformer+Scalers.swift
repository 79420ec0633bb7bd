import NGPTNumerics

/// The effective values of one layer's scalers, averaged over their dimensions.
public struct LayerScalerSummary: Codable, Sendable, Equatable {
    /// mean |α_A|, mean |α_M| (effective eigen learning rates)
    public var alphaA: Double, alphaM: Double
    /// mean |s_qk|
    public var sqk: Double
    /// mean |s_u|, mean |s_ν| (without the √d factor)
    public var su: Double, sv: Double

    public init(alphaA: Double, alphaM: Double, sqk: Double, su: Double, sv: Double) {
        self.alphaA = alphaA
        self.alphaM = alphaM
        self.sqk = sqk
        self.su = su
        self.sv = sv
    }
}

extension ParameterBuffer {
    /// The effective value of every dimension of a scaler (the stored parameter through
    /// `p·s_init/s_scale`, `|·|` when absolute, or the constant of a fixed scaler).
    public func effectiveScaler(_ s: Scaler) -> [Float] {
        var out = [Float](repeating: 0, count: s.count)
        let param = s.offset.map { UnsafePointer(base + $0) }
        out.withUnsafeMutableBufferPointer { scalerForward($0.baseAddress!, param, s.config, count: s.count) }
        return out
    }
}

extension Transformer {
    /// Per-layer mean |effective| α_A, α_M, s_qk, s_u, s_ν (docs/model.md §9); empty for an
    /// architecture without scalers.
    public func scalerSummary() -> [LayerScalerSummary] { architecture.scalerSummary(parameters) }

    /// The effective logit scales s_z (V values); empty for an architecture without them.
    public func effectiveLogitScales() -> [Float] { architecture.logitScales(parameters) }
}
