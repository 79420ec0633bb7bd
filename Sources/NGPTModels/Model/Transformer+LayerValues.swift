import NGPTNumerics

/// One number per layer that an architecture reports (``Architecture/layerValues(_:)``): nGPT's
/// mean |effective| α_A of each layer, say. Logged with every step to `metrics.jsonl` under
/// ``name`` and shown by the inspection.
public struct LayerValues: Codable, Sendable, Equatable {
    /// The key in `metrics.jsonl` and the inspection (`alpha_a`); a short identifier.
    public var name: String
    /// What the value is, for reports (`α_A (attention eigen learning rate), mean |effective value|`).
    public var title: String
    /// One value per layer, layer 0 first.
    public var values: [Double]

    public init(name: String, title: String, values: [Double]) {
        self.name = name
        self.title = title
        self.values = values
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
    /// What the architecture reports per layer (``Architecture/layerValues(_:)``; nGPT: the mean
    /// |effective| α_A, α_M, s_qk, s_u, s_ν, docs/model.md §9); empty for GPT.
    public func layerValues() -> [LayerValues] { architecture.layerValues(parameters) }

    /// The effective logit scales s_z (V values); empty for an architecture without them.
    public func effectiveLogitScales() -> [Float] { architecture.logitScales(parameters) }
}
