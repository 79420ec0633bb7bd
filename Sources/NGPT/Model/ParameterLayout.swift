/// One named parameter tensor inside the flat buffer.
public struct ParameterEntry: Sendable, Equatable {
    /// NVIDIA's state-dict name, e.g. `transformer.h.3.query.weight`.
    public let name: String
    /// PyTorch's layout: `(out, in)` for linear maps.
    public let shape: [Int]
    /// Offset of the first element in the flat buffer.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<offset + count }
    /// Matrices and embeddings (rank ≥ 2) get weight decay; vectors never do.
    public var decays: Bool { shape.count >= 2 }
}

/// Where every parameter of a model lives in one flat float32 buffer.
///
/// Names and shapes follow spec §1. Within a layer, `query`, `key` and `value` are adjacent, so
/// the three projections are one `(3d, d)` matrix to the kernels; gradients and Adam moments use
/// the same layout, so the optimiser is one loop and a checkpoint one write.
public struct ParameterLayout: Sendable, Equatable {
    public let entries: [ParameterEntry]
    public let count: Int
    private let index: [String: Int]

    public init(config c: ModelConfig) {
        var entries = [ParameterEntry]()
        var offset = 0
        func add(_ name: String, _ shape: [Int]) {
            entries.append(ParameterEntry(name: name, shape: shape, offset: offset))
            offset += shape.reduce(1, *)
        }
        func addScaler(_ name: String, _ s: ScalerConfig, _ n: Int) {
            switch s.mode {
            case .vector: add(name, [n])
            case .scalar: add(name, [1])
            case .fixed: break
            }
        }
        let d = c.width, f = c.hiddenWidth
        add("transformer.wte.weight", [c.vocabularySize, d])
        add("lm_head.weight", [c.vocabularySize, d])
        for l in 0..<c.layers {
            let p = "transformer.h.\(l)."
            add(p + "query.weight", [d, d])
            add(p + "key.weight", [d, d])
            add(p + "value.weight", [d, d])
            add(p + "att_c_proj.weight", [d, d])
            add(p + "c_fc.weight", [2 * f, d])
            add(p + "mlp_c_proj.weight", [d, f])
            switch c.kind {
            case .gpt:
                add(p + "rmsnorm_att.weight", [d])
                add(p + "rmsnorm_mlp.weight", [d])
            case .ngpt:
                addScaler(p + "attn_alpha", c.alpha, d)
                addScaler(p + "mlp_alpha", c.alpha, d)
                addScaler(p + "sqk", c.sqk, d)
                addScaler(p + "suv", c.suv, 2 * f)
            }
        }
        switch c.kind {
        case .gpt: add("rmsnorm_f.weight", [d])
        case .ngpt: addScaler("sz", c.sz, c.vocabularySize)
        }
        self.entries = entries
        self.count = offset
        var index = [String: Int]()
        for (i, e) in entries.enumerated() {
            precondition(index[e.name] == nil, "duplicate parameter name \(e.name)")
            index[e.name] = i
        }
        self.index = index
    }

    /// The entry called `name`, or nil.
    public func entry(_ name: String) -> ParameterEntry? { index[name].map { entries[$0] } }

    /// The names in buffer order.
    public var names: [String] { entries.map(\.name) }

    func offset(_ name: String) -> Int {
        guard let e = entry(name) else { preconditionFailure("no parameter named \(name)") }
        return e.offset
    }

    /// Offset of an optional parameter (a fixed scaler has none).
    func optionalOffset(_ name: String) -> Int? { entry(name)?.offset }
}
