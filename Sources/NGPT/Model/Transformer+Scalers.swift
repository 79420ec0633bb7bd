/// The effective values of one layer's nGPT scalers, averaged over their dimensions.
public struct LayerScalerSummary: Codable, Sendable, Equatable {
    /// mean |α_A|, mean |α_M| (effective eigen learning rates)
    public var alphaA: Double, alphaM: Double
    /// mean |s_qk|
    public var sqk: Double
    /// mean |s_u|, mean |s_ν| (without the √d factor)
    public var su: Double, sv: Double
}

extension Transformer {
    /// Effective value of every dimension of a scaler (the stored parameter through
    /// `p·s_init/s_scale`, `|·|` when absolute, or the constant of a fixed scaler).
    func effectiveScaler(_ name: String, _ config: ScalerConfig, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let param = layout.optionalOffset(name).map { UnsafePointer(parameters.base + $0) }
        out.withUnsafeMutableBufferPointer { scalerForward($0.baseAddress!, param, config, count: count) }
        return out
    }

    /// Per-layer mean |effective| α_A, α_M, s_qk, s_u, s_ν (spec §9); empty for GPT.
    public func scalerSummary() -> [LayerScalerSummary] {
        guard config.kind == .ngpt else { return [] }
        let (d, f) = (config.width, config.hiddenWidth)
        func meanAbs(_ v: ArraySlice<Float>) -> Double { v.reduce(0.0) { $0 + Double(abs($1)) } / Double(v.count) }
        return (0..<config.layers).map { l in
            let p = "transformer.h.\(l)."
            let suv = effectiveScaler(p + "suv", config.suv, count: 2 * f)
            return LayerScalerSummary(
                alphaA: meanAbs(effectiveScaler(p + "attn_alpha", config.alpha, count: d)[...]),
                alphaM: meanAbs(effectiveScaler(p + "mlp_alpha", config.alpha, count: d)[...]),
                sqk: meanAbs(effectiveScaler(p + "sqk", config.sqk, count: d)[...]),
                su: meanAbs(suv[0..<f]), sv: meanAbs(suv[f...]))
        }
    }

    /// The effective logit scales s_z (V values); empty for GPT.
    public func effectiveLogitScales() -> [Float] {
        config.kind == .ngpt ? effectiveScaler("sz", config.sz, count: config.vocabularySize) : []
    }
}
