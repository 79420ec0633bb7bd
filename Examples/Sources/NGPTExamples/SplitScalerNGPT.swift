import NGPT

/// nGPT (docs/model.md §4) whose four block scalers are configured separately: the attention and
/// MLP eigen learning rates α_A and α_M, and the MLP's input scales s_u and s_ν, each its own
/// ``ScalerConfig`` (vector, scalar or fixed; its own s_init and s_scale; signed or absolute),
/// where the library's nGPT shares `alpha` between α_A and α_M and `suv` between s_u and s_ν.
/// s_qk, s_z, the initialisation, the renormalisation after each step and the recipe
/// (``TrainingRecipe/ngpt``) are nGPT's.
///
///     q, k, v = x·Wᵀ; q_h, k_h = s_qk,h ⊙ Norm(RoPE(q_h)), s_qk,h ⊙ Norm(RoPE(k_h))
///     h_A = Attention(q, k, v; scale √dk)·att_c_projᵀ
///     x' = Norm(Norm(x) + α_A ⊙ (Norm(h_A) − Norm(x)))        α_A from attn_alpha, config alphaA
///     u = (x'·c_fc[u]ᵀ) ⊙ s_u · √d                             s_u from su, config su
///     ν = (x'·c_fc[ν]ᵀ) ⊙ s_ν · √d                             s_ν from sv, config sv
///     h_M = (u ⊙ SiLU(ν))·mlp_c_projᵀ
///     out = Norm(Norm(x') + α_M ⊙ (Norm(h_M) − Norm(x')))     α_M from mlp_alpha, config alphaM
///     logits = (x_L·lm_headᵀ) ⊙ s_z
///
/// Parameters: nGPT's, with `transformer.h.{l}.su` and `.sv` (F = 4d each, or [1], or absent)
/// in place of `suv` (2F), in the same place. With every config as the ``ModelConfig``'s (the
/// default), the layout, the initial values from a seed and the function are nGPT's exactly.
public struct SplitScalerNGPT: Architecture {
    public let config: ModelConfig
    /// α_A (`attn_alpha`), α_M (`mlp_alpha`), s_u (`su`), s_ν (`sv`).
    public let alphaA: ScalerConfig, alphaM: ScalerConfig, su: ScalerConfig, sv: ScalerConfig
    public var name: String { "ngpt-split-scalers" }
    public var recipe: TrainingRecipe { .ngpt }

    /// Each scaler not given takes the configuration's: `alpha` for α_A and α_M, `suv` for s_u
    /// and s_ν.
    ///
    /// - Throws: ``ModelConfigError`` when a scaler's s_scale is zero or not finite, or its
    ///   s_init not finite.
    public init(config: ModelConfig, alphaA: ScalerConfig? = nil, alphaM: ScalerConfig? = nil,
                su: ScalerConfig? = nil, sv: ScalerConfig? = nil) throws {
        self.config = config
        self.alphaA = alphaA ?? config.alpha
        self.alphaM = alphaM ?? config.alpha
        self.su = su ?? config.suv
        self.sv = sv ?? config.suv
        for (name, s) in [("alphaA", self.alphaA), ("alphaM", self.alphaM), ("su", self.su), ("sv", self.sv)] {
            guard s.scale.isFinite, s.scale != 0, s.initValue.isFinite else {
                throw ModelConfigError(message: "scaler \(name): s_scale must be finite and non-zero and s_init finite, got s_init \(s.initValue), s_scale \(s.scale)")
            }
        }
    }

    public var parameters: [ParameterSpec] {
        let c = config, (d, f) = (c.width, c.hiddenWidth)
        let matrices = TransformerMatrices(config: c, std: 1 / Double(d).squareRoot(), normalized: true)
        var specs = matrices.embeddings
        for l in 0..<c.layers {
            let p = "transformer.h.\(l)."
            specs += matrices.block(l)
            specs += [ScalerSpec(p + "attn_alpha", alphaA, d), ScalerSpec(p + "mlp_alpha", alphaM, d),
                      ScalerSpec(p + "sqk", c.sqk, d), ScalerSpec(p + "su", su, f),
                      ScalerSpec(p + "sv", sv, f)].compactMap(\.parameter)
        }
        return specs + [ScalerSpec("sz", c.sz, c.vocabularySize).parameter].compactMap { $0 }
    }

    /// Layer `layer`'s scalers, read from this architecture's parameters.
    public func scalers(layer: Int, layout: ParameterLayout) -> NGPTBlock.Scalers {
        let p = "transformer.h.\(layer).", (d, f) = (config.width, config.hiddenWidth)
        return NGPTBlock.Scalers(alphaA: layout.scaler(p + "attn_alpha", alphaA, count: d),
                                 alphaM: layout.scaler(p + "mlp_alpha", alphaM, count: d),
                                 sqk: layout.scaler(p + "sqk", config.sqk, count: d),
                                 su: layout.scaler(p + "su", su, count: f), sv: layout.scaler(p + "sv", sv, count: f))
    }

    /// The library's nGPT block with this architecture's scalers.
    public func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        NGPTBlock(layer: layer, config: config, scalers: scalers(layer: layer, layout: layout), layout: layout, plan: &plan)
    }

    public func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        ScaledLogitsHead(config: config, layout: layout, plan: &plan)
    }

    /// nGPT's values per layer (docs/model.md §9): the mean |effective| α_A, α_M, s_qk, s_u, s_ν.
    public func layerValues(_ parameters: ParameterBuffer) -> [LayerValues] {
        NGPTBlock.Scalers.layerValues((0..<config.layers).map { scalers(layer: $0, layout: parameters.layout) }, parameters)
    }

    /// The effective s_z (V values).
    public func logitScales(_ parameters: ParameterBuffer) -> [Float] {
        parameters.effectiveScaler(parameters.layout.scaler("sz", config.sz, count: config.vocabularySize))
    }
}
