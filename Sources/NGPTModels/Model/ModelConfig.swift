import NGPTNumerics

/// Which of the two architectures a model is.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// The baseline: pre-RMSNorm residual blocks, softmax scale 1/√dk (docs/model.md §3).
    case gpt
    /// The normalized Transformer: hidden states and weight vectors on the unit sphere,
    /// normalised LERP residuals with eigen learning rates α, softmax scale √dk (docs/model.md §4).
    case ngpt

    /// Whether the model has nGPT's scalers (α, s_qk, s_uv, s_z) and their switches.
    public var hasScalers: Bool { self == .ngpt }
}

/// The shape and every switch of a GPT or nGPT model. Defaults are those of docs/model.md.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var kind: ModelKind
    /// `V`: token ids are `0..<vocabularySize`.
    public var vocabularySize: Int
    /// `d`: the width of the residual stream.
    public var width: Int
    /// `H`: attention heads; `dk = width / heads` must be even (RoPE rotates pairs).
    public var heads: Int
    /// `L`: transformer blocks.
    public var layers: Int
    /// `T`: the training context length (evaluation may use longer windows).
    public var context: Int

    // nGPT switches (ignored by GPT).
    /// The eigen learning rates of both residual updates (`attn_alpha`, `mlp_alpha`).
    public var alpha: ScalerConfig
    /// The per-head q/k scaling after normalisation (`sqk`).
    public var sqk: ScalerConfig
    /// The scaling of the MLP's `u` and `ν` (`suv`).
    public var suv: ScalerConfig
    /// The logit scaling (`sz`).
    public var sz: ScalerConfig
    /// Normalise q and k per head before `sqk` (turn off for the paper's ablation).
    public var qkNormalization: Bool
    /// Keep the d-long vectors of every matrix at unit length after each optimiser step
    /// (docs/model.md §6). When false they are normalised once, at initialisation, and then
    /// trained like GPT's (docs/model.md §8).
    public var weightNormalization: Bool
    /// Put the hidden state back on the sphere in each residual update,
    /// `x ← Norm(Norm(x) + α ⊙ (Norm(h) − Norm(x)))`. When false the update is the plain LERP
    /// `x ← x + α ⊙ (Norm(h) − x)`: the branch output is still normalised, the stream is not
    /// (docs/model.md §8).
    public var residualNormalization: Bool

    // GPT switches (ignored by nGPT).
    /// RMS-normalise q and k per head before RoPE, each with a learnable gain over the head's
    /// dimensions (`transformer.h.{l}.q_norm.weight` and `.k_norm.weight`, dk values each,
    /// initialised to 1, without weight decay), as QK-norm GPTs do (docs/model.md §8).
    public var gptQKNormalization: Bool

    public init(
        kind: ModelKind, vocabularySize: Int = 256, width: Int = 128, heads: Int = 4,
        layers: Int = 4, context: Int = 256,
        alpha: ScalerConfig? = nil, sqk: ScalerConfig? = nil, suv: ScalerConfig? = nil,
        sz: ScalerConfig? = nil, qkNormalization: Bool = true,
        weightNormalization: Bool = true, residualNormalization: Bool = true, gptQKNormalization: Bool = false
    ) {
        self.kind = kind
        self.vocabularySize = vocabularySize
        self.width = width
        self.heads = heads
        self.layers = layers
        self.context = context
        let base = 1 / Float(width).squareRoot()
        self.alpha = alpha ?? ScalerConfig(initValue: 0.05, scale: base, absolute: true)
        self.sqk = sqk ?? ScalerConfig(initValue: 1, scale: base)
        self.suv = suv ?? ScalerConfig(initValue: 1, scale: 1)
        self.sz = sz ?? ScalerConfig(initValue: 1, scale: base)
        self.qkNormalization = qkNormalization
        self.weightNormalization = weightNormalization
        self.residualNormalization = residualNormalization
        self.gptQKNormalization = gptQKNormalization
    }

    /// Decodes a configuration (a run's `config.json`, a model file's metadata). The switches
    /// added later — `weightNormalization`, `residualNormalization`, `gptQKNormalization` — take
    /// their defaults when absent, so older runs resume and older model files load unchanged.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(ModelKind.self, forKey: .kind)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        width = try c.decode(Int.self, forKey: .width)
        heads = try c.decode(Int.self, forKey: .heads)
        layers = try c.decode(Int.self, forKey: .layers)
        context = try c.decode(Int.self, forKey: .context)
        alpha = try c.decode(ScalerConfig.self, forKey: .alpha)
        sqk = try c.decode(ScalerConfig.self, forKey: .sqk)
        suv = try c.decode(ScalerConfig.self, forKey: .suv)
        sz = try c.decode(ScalerConfig.self, forKey: .sz)
        qkNormalization = try c.decode(Bool.self, forKey: .qkNormalization)
        weightNormalization = try c.decodeIfPresent(Bool.self, forKey: .weightNormalization) ?? true
        residualNormalization = try c.decodeIfPresent(Bool.self, forKey: .residualNormalization) ?? true
        gptQKNormalization = try c.decodeIfPresent(Bool.self, forKey: .gptQKNormalization) ?? false
    }

    /// This shape as a model of `kind`: an nGPT keeps every switch, a GPT keeps only its own
    /// (q/k normalisation) with nGPT's scalers and switches at their defaults, so that a GPT run
    /// of a study is the same configuration whatever nGPT switches the study carries.
    public func asKind(_ kind: ModelKind) -> ModelConfig {
        switch kind {
        case .ngpt:
            var c = self
            c.kind = .ngpt
            return c
        case .gpt:
            return ModelConfig(kind: .gpt, vocabularySize: vocabularySize, width: width, heads: heads, layers: layers,
                               context: context, gptQKNormalization: gptQKNormalization)
        }
    }

    /// This configuration at another shape. The scalers' `s_scale` defaults depend on the width
    /// (1/√d for α, s_qk and s_z): a scaler still at its default for this width gets the default
    /// of the new width, one set otherwise keeps its value; every switch is kept.
    public func resized(width newWidth: Int, layers newLayers: Int, heads newHeads: Int) -> ModelConfig {
        var c = self
        let (old, new) = (1 / Float(width).squareRoot(), 1 / Float(newWidth).squareRoot())
        for path in [\ModelConfig.alpha, \ModelConfig.sqk, \ModelConfig.sz] where c[keyPath: path].scale == old {
            c[keyPath: path].scale = new
        }
        c.width = newWidth
        c.layers = newLayers
        c.heads = newHeads
        return c
    }

    /// `dk`, the width of one head.
    public var headWidth: Int { width / heads }
    /// The MLP's hidden width, `4d`.
    public var hiddenWidth: Int { 4 * width }

    /// Checks the shape, with a message that says what to change.
    public func validate() throws {
        func fail(_ s: String) -> ModelConfigError { ModelConfigError(message: s) }
        guard vocabularySize >= 2 else { throw fail("vocabulary size must be at least 2, got \(vocabularySize)") }
        guard width >= 2 else { throw fail("width must be at least 2, got \(width)") }
        guard heads >= 1 else { throw fail("heads must be at least 1, got \(heads)") }
        guard layers >= 1 else { throw fail("layers must be at least 1, got \(layers)") }
        guard context >= 1 else { throw fail("context must be at least 1, got \(context)") }
        guard width % heads == 0 else {
            throw fail("heads (\(heads)) must divide the width (\(width)); choose e.g. --heads \(Self.divisorHint(width, heads))")
        }
        guard headWidth % 2 == 0 else {
            throw fail("head width \(width)/\(heads) = \(headWidth) is odd; RoPE rotates pairs, so width/heads must be even")
        }
        for (name, s) in [("alpha", alpha), ("sqk", sqk), ("suv", suv), ("sz", sz)] {
            guard s.scale.isFinite, s.scale != 0, s.initValue.isFinite else {
                throw fail("scaler \(name): s_scale must be finite and non-zero and s_init finite, got s_init \(s.initValue), s_scale \(s.scale)")
            }
        }
    }

    private static func divisorHint(_ width: Int, _ heads: Int) -> Int {
        (1...width).filter { width % $0 == 0 && (width / $0) % 2 == 0 }
            .min { abs($0 - heads) < abs($1 - heads) } ?? 1
    }
}

/// A model configuration that cannot be built.
public struct ModelConfigError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }

    /// `message` says what to change (an architecture outside the library checks its own
    /// switches with it).
    public init(message: String) { self.message = message }
}
