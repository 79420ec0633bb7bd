import NGPTNumerics

/// How a parameter starts (docs/model.md §5).
public enum ParameterInitialization: Sendable, Equatable {
    /// Independent draws from N(0, std²), in buffer order from the model's seed.
    case normal(std: Double)
    /// Every element equal to `value`.
    case constant(Float)
}

/// The axis along which a matrix's d-long vectors lie (docs/model.md §6): rows of the
/// embeddings and of the maps that read the stream, columns of the maps that write to it.
public enum VectorAxis: String, Sendable, Codable {
    case rows, columns
}

/// One parameter as an architecture declares it.
public struct ParameterSpec: Sendable, Equatable {
    /// NVIDIA's state-dict name, e.g. `transformer.h.3.query.weight`.
    public var name: String
    /// PyTorch's layout: `(out, in)` for linear maps.
    public var shape: [Int]
    /// Whether AdamW's weight decay applies.
    public var decays: Bool
    public var initialization: ParameterInitialization
    /// For a matrix: the axis of its d-long vectors (read by the inspection, and by nGPT's
    /// normalisation when `normalized`).
    public var vectors: VectorAxis?
    /// Kept at unit length along `vectors` after every update (nGPT's matrices).
    public var normalized: Bool
    /// Rounded to bfloat16 after every step when a run stores its parameters in bfloat16
    /// (``ParameterPrecision/bf16``); the library's architectures mark their block matrices so
    /// (``TransformerMatrices/block(_:)``), as NVIDIA's bf16 setup keeps them.
    public var bf16Storage: Bool

    public init(name: String, shape: [Int], decays: Bool? = nil, initialization: ParameterInitialization,
                vectors: VectorAxis? = nil, normalized: Bool = false, bf16Storage: Bool = false) {
        precondition(!normalized || vectors != nil, "\(name): a normalised parameter needs an axis")
        self.name = name
        self.shape = shape
        self.decays = decays ?? (shape.count >= 2)
        self.initialization = initialization
        self.vectors = vectors
        self.normalized = normalized
        self.bf16Storage = bf16Storage
    }
}

/// The matrices every transformer here has (docs/model.md §1, §5), drawn from N(0, std²), the
/// two output projections from N(0, std²/2L); kept normalised along their axes when `normalized`.
public struct TransformerMatrices: Sendable {
    public let config: ModelConfig
    public let std: Double
    public let normalized: Bool

    public init(config: ModelConfig, std: Double, normalized: Bool) {
        self.config = config
        self.std = std
        self.normalized = normalized
    }

    private func matrix(_ name: String, _ shape: [Int], _ std: Double, _ axis: VectorAxis, bf16: Bool) -> ParameterSpec {
        ParameterSpec(name: name, shape: shape, initialization: .normal(std: std), vectors: axis, normalized: normalized,
                      bf16Storage: bf16)
    }

    /// `transformer.wte.weight` and `lm_head.weight`, (V, d) each; float32 even with bfloat16
    /// storage.
    public var embeddings: [ParameterSpec] {
        [matrix("transformer.wte.weight", [config.vocabularySize, config.width], std, .rows, bf16: false),
         matrix("lm_head.weight", [config.vocabularySize, config.width], std, .rows, bf16: false)]
    }

    /// Layer `l`'s `query`, `key`, `value` (adjacent), `att_c_proj`, `c_fc` and `mlp_c_proj`;
    /// bfloat16 with bfloat16 storage (``ParameterSpec/bf16Storage``).
    public func block(_ l: Int) -> [ParameterSpec] {
        let p = "transformer.h.\(l).", (d, f) = (config.width, config.hiddenWidth)
        let projection = std / (2 * Double(config.layers)).squareRoot()
        func matrix(_ name: String, _ shape: [Int], _ std: Double, _ axis: VectorAxis) -> ParameterSpec {
            self.matrix(p + name, shape, std, axis, bf16: true)
        }
        return [matrix("query.weight", [d, d], std, .rows), matrix("key.weight", [d, d], std, .rows),
                matrix("value.weight", [d, d], std, .rows), matrix("att_c_proj.weight", [d, d], projection, .columns),
                matrix("c_fc.weight", [2 * f, d], std, .rows), matrix("mlp_c_proj.weight", [d, f], projection, .columns)]
    }
}

/// One named parameter tensor inside the flat buffer.
public struct ParameterEntry: Sendable, Equatable {
    public let spec: ParameterSpec
    /// Offset of the first element in the flat buffer.
    public let offset: Int
    public var name: String { spec.name }
    public var shape: [Int] { spec.shape }
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<offset + count }
    /// Whether AdamW's weight decay applies (by default matrices and embeddings, never vectors).
    public var decays: Bool { spec.decays }
}

/// Where every parameter of a model lives in one flat float32 buffer.
///
/// The entries are the architecture's ``ParameterSpec``s in order (names and shapes of
/// docs/model.md §1). Gradients and Adam moments use the same layout, so the optimiser is one
/// loop and a checkpoint one write.
public struct ParameterLayout: Sendable, Equatable {
    public let entries: [ParameterEntry]
    public let count: Int
    private let index: [String: Int]

    /// The layout of `specs`, in order; names must be unique.
    public init(_ specs: [ParameterSpec]) {
        var entries = [ParameterEntry](), offset = 0
        var index = [String: Int]()
        for s in specs {
            precondition(index[s.name] == nil, "duplicate parameter name \(s.name)")
            precondition(s.shape.allSatisfy { $0 >= 0 }, "\(s.name): negative dimension in \(s.shape)")
            index[s.name] = entries.count
            entries.append(ParameterEntry(spec: s, offset: offset))
            offset += s.shape.reduce(1, *)
        }
        self.entries = entries
        self.count = offset
        self.index = index
    }

    /// The layout of the architecture `config` describes.
    public init(config: ModelConfig) { self.init(config.architecture().parameters) }

    /// The entry called `name`, or nil.
    public func entry(_ name: String) -> ParameterEntry? { index[name].map { entries[$0] } }

    /// The names in buffer order.
    public var names: [String] { entries.map(\.name) }

    func offset(_ name: String) -> Int {
        guard let e = entry(name) else { preconditionFailure("no parameter named \(name)") }
        return e.offset
    }
}
