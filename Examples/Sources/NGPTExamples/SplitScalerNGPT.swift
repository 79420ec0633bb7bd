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
        let std = 1 / Double(d).squareRoot(), projection = std / (2 * Double(c.layers)).squareRoot()
        func matrix(_ name: String, _ shape: [Int], _ std: Double, _ axis: VectorAxis) -> ParameterSpec {
            ParameterSpec(name: name, shape: shape, initialization: .normal(std: std), vectors: axis, normalized: true)
        }
        var specs = [matrix("transformer.wte.weight", [c.vocabularySize, d], std, .rows),
                     matrix("lm_head.weight", [c.vocabularySize, d], std, .rows)]
        for l in 0..<c.layers {
            let p = "transformer.h.\(l)."
            specs += [matrix(p + "query.weight", [d, d], std, .rows), matrix(p + "key.weight", [d, d], std, .rows),
                      matrix(p + "value.weight", [d, d], std, .rows),
                      matrix(p + "att_c_proj.weight", [d, d], projection, .columns),
                      matrix(p + "c_fc.weight", [2 * f, d], std, .rows),
                      matrix(p + "mlp_c_proj.weight", [d, f], projection, .columns)]
            specs += [ScalerSpec(p + "attn_alpha", alphaA, d), ScalerSpec(p + "mlp_alpha", alphaM, d),
                      ScalerSpec(p + "sqk", c.sqk, d), ScalerSpec(p + "su", su, f),
                      ScalerSpec(p + "sv", sv, f)].compactMap(\.parameter)
        }
        return specs + [ScalerSpec("sz", c.sz, c.vocabularySize).parameter].compactMap { $0 }
    }

    public func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        SplitScalerNGPTBlock(layer: layer, architecture: self, layout: layout, plan: &plan)
    }

    public func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        ScaledLogitsHead(config: config, layout: layout, plan: &plan)
    }

    /// Per layer the mean |effective| α_A, α_M, s_qk, s_u, s_ν (docs/model.md §9).
    public func scalerSummary(_ parameters: ParameterBuffer) -> [LayerScalerSummary] {
        let (d, f) = (config.width, config.hiddenWidth)
        func meanAbs(_ name: String, _ s: ScalerConfig, _ n: Int) -> Double {
            let v = parameters.effectiveScaler(parameters.layout.scaler(name, s, count: n))
            return v.reduce(0.0) { $0 + Double(abs($1)) } / Double(n)
        }
        return (0..<config.layers).map { l in
            let p = "transformer.h.\(l)."
            return LayerScalerSummary(alphaA: meanAbs(p + "attn_alpha", alphaA, d), alphaM: meanAbs(p + "mlp_alpha", alphaM, d),
                                      sqk: meanAbs(p + "sqk", config.sqk, d),
                                      su: meanAbs(p + "su", su, f), sv: meanAbs(p + "sv", sv, f))
        }
    }

    /// The effective s_z (V values).
    public func logitScales(_ parameters: ParameterBuffer) -> [Float] {
        parameters.effectiveScaler(parameters.layout.scaler("sz", config.sz, count: config.vocabularySize))
    }
}

/// nGPT's block with α_A, α_M, s_u and s_ν read from four scalers (see ``SplitScalerNGPT``).
struct SplitScalerNGPTBlock: TransformerBlock {
    let layer: Int, heads: Int, scale: Float, uvScale: Float, normalizeQK: Bool
    let qkv: Weight, attProj: Weight, fc: Weight, mlpProj: Weight
    let alphaA: Scaler, alphaM: Scaler, sqk: Scaler, su: Scaler, sv: Scaler
    // saved for backward
    let qkvOut: Slot, qkUnit: Slot, qkRnorm: Slot, probs: Slot, attY: Slot, xMid: Slot, uv: Slot
    let lerpA: LerpSaved, lerpM: LerpSaved
    /// s_u | s_ν side by side, as swiglu reads them.
    let effAlphaA: Slot, effAlphaM: Slot, effSqk: Slot, effSuv: Slot
    // scratch shared by the layers
    let branch: Slot, hidden: Slot, dh: Slot, duv: Slot, dXMid: Slot, dBranch: Slot, dAttY: Slot, dqkv: Slot
    let dprobs: Slot, dScalers: Slot, lerpScratch: Slot

    init(layer: Int, architecture a: SplitScalerNGPT, layout: ParameterLayout, plan: inout ActivationPlan) {
        let c = a.config, p = "transformer.h.\(layer).", (d, f) = (c.width, c.hiddenWidth)
        self.layer = layer
        heads = c.heads
        scale = Float(c.headWidth).squareRoot()
        uvScale = Float(d).squareRoot()
        normalizeQK = c.qkNormalization
        qkv = layout.weight(fusing: [p + "query.weight", p + "key.weight", p + "value.weight"])
        attProj = layout.weight(p + "att_c_proj.weight")
        fc = layout.weight(p + "c_fc.weight")
        mlpProj = layout.weight(p + "mlp_c_proj.weight")
        alphaA = layout.scaler(p + "attn_alpha", a.alphaA, count: d)
        alphaM = layout.scaler(p + "mlp_alpha", a.alphaM, count: d)
        sqk = layout.scaler(p + "sqk", c.sqk, count: d)
        su = layout.scaler(p + "su", a.su, count: f)
        sv = layout.scaler(p + "sv", a.sv, count: f)
        xMid = plan.rows(d)
        qkvOut = plan.rows(3 * d)
        probs = plan.attentionProbabilities(heads: c.heads)
        attY = plan.rows(d)
        uv = plan.rows(2 * f)
        qkUnit = plan.rows(2 * d); qkRnorm = plan.rows(2 * c.heads)
        lerpA = LerpSaved(&plan, width: d)
        lerpM = LerpSaved(&plan, width: d)
        effAlphaA = plan.reserve(d); effAlphaM = plan.reserve(d); effSqk = plan.reserve(d); effSuv = plan.reserve(2 * f)
        let n = plan.rows
        branch = plan.shared("branch", n * d)
        hidden = plan.shared("hidden", n * f)
        dh = plan.shared("dh", n * f)
        duv = plan.shared("duv", n * 2 * f)
        dXMid = plan.shared("dXMid", n * d)
        dBranch = plan.shared("dBranch", n * d)
        dAttY = plan.shared("dAttY", n * d)
        dqkv = plan.shared("dqkv", n * 3 * d)
        dprobs = plan.shared("dprobs", probs.count)
        dScalers = plan.shared("dScalers", 3 * d + 2 * f)
        lerpScratch = plan.shared("lerpScratch", n)
    }

    func forward(_ x: Slot, _ out: Slot, _ pass: Pass) {
        let f = su.count
        pass.scaler(effAlphaA, alphaA)
        pass.scaler(effAlphaM, alphaM)
        pass.scaler(effSqk, sqk)
        pass.scaler(effSuv.part(0, f), su)
        pass.scaler(effSuv.part(f, f), sv)
        // q, k, v = x·Wᵀ; q_h, k_h = s_qk ⊙ Norm(RoPE(·)) in one pass
        pass.linear(qkvOut, x, qkv)
        pass.qkNorm(qkvOut, unit: qkUnit, rnorm: qkRnorm, scale: effSqk, heads: heads, normalize: normalizeQK)
        pass.attention(attY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale, layer: layer)
        pass.linear(branch, attY, attProj)
        pass.lerpResidual(xMid, x, branch, alpha: effAlphaA, saved: lerpA)
        pass.linear(uv, xMid, fc)
        pass.swiglu(hidden, uv, scale: effSuv, multiplier: uvScale)
        pass.linear(branch, hidden, mlpProj)
        pass.lerpResidual(out, xMid, branch, alpha: effAlphaM, saved: lerpM)
    }

    func backward(_ dOut: Slot, _ dx: Slot, _ x: Slot, _ out: Slot, _ pass: Pass) {
        let d = xMid.count / pass.rows, f = su.count
        let dAlphaA = dScalers.part(0, d), dAlphaM = dScalers.part(d, d), dSqk = dScalers.part(2 * d, d)
        let dSuv = dScalers.part(3 * d, 2 * f)
        pass.zero(dScalers)
        // out = Norm(Norm(xMid) + α_M ⊙ (Norm(h_M) − Norm(xMid)))
        pass.zero(dXMid)
        pass.zero(dBranch)
        pass.lerpResidualBackward(dXMid, dBranch, dAlpha: dAlphaM, dOut, out, xMid, alpha: effAlphaM, saved: lerpM,
                                  scratch: lerpScratch)
        // h_M = h·mlp_c_projᵀ; swiglu's backward recomputes h
        pass.linearInputGradient(dh, dBranch, mlpProj, overwrite: true)
        // h = u ⊙ SiLU(ν), u | ν = uv ⊙ (s_u | s_ν)·√d
        pass.swigluBackward(duv, dScale: dSuv, dh, uv, scale: effSuv, multiplier: uvScale, recomputed: hidden, overwrite: true)
        pass.linearBackward(nil, dBranch, hidden, mlpProj)
        // uv = xMid·c_fcᵀ
        pass.linearBackward(dXMid, duv, xMid, fc)
        // xMid = Norm(Norm(x) + α_A ⊙ (Norm(h_A) − Norm(x)))
        pass.zero(dBranch)
        pass.lerpResidualBackward(dx, dBranch, dAlpha: dAlphaA, dXMid, xMid, x, alpha: effAlphaA, saved: lerpA,
                                  scratch: lerpScratch)
        // h_A = attY·att_c_projᵀ
        pass.linearBackward(dAttY, dBranch, attY, attProj, overwrite: true)
        // attY = Attention(q, k, v)
        pass.zero(dqkv)
        pass.attentionBackward(dqkv, scratch: dprobs, dAttY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale)
        // q_h, k_h = s_qk ⊙ Norm(RoPE(·))
        pass.qkNormBackward(dqkv, dScale: dSqk, unit: qkUnit, rnorm: qkRnorm, scale: effSqk, heads: heads, normalize: normalizeQK)
        // q, k, v = x·Wᵀ
        pass.linearBackward(dx, dqkv, x, qkv)
        // effective scalers → stored parameters
        pass.scalerBackward(dAlphaA, alphaA)
        pass.scalerBackward(dAlphaM, alphaM)
        pass.scalerBackward(dSqk, sqk)
        pass.scalerBackward(dSuv.part(0, f), su)
        pass.scalerBackward(dSuv.part(f, f), sv)
    }
}
