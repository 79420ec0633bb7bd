import NGPT

/// GPT with q/k normalisation (as in OLMo-2 and Gemma 3): the baseline GPT (docs/model.md §3)
/// whose queries and keys are RMS-normalised per head, with a learnable per-dimension gain, before
/// RoPE and the usual 1/√dk softmax scale. Bounded attention logits make it a stronger baseline
/// for nGPT than plain GPT. Everything else is GPT's: pre-RMSNorm blocks, the final RMSNorm
/// (``GPTHead``), the initialisation and the recipe (``TrainingRecipe/gpt``).
///
///     a = RMSNorm(x)⊙g_att; q, k, v = a·Wᵀ
///     q_h, k_h = RMSNorm(q_h)⊙g_h, RMSNorm(k_h)⊙g_h     (= √dk·g_h ⊙ Norm(·), g from qk_gain)
///     q, k = RoPE(q), RoPE(k)
///     x' = x + Attention(q, k, v; scale 1/√dk)·att_c_projᵀ
///     m = RMSNorm(x')⊙g_mlp; u, ν = m·c_fcᵀ
///     out = x' + (u ⊙ SiLU(ν))·mlp_c_projᵀ
///     logits = RMSNorm(x_L)⊙g_f·lm_headᵀ
///
/// One gain serves q and k, as nGPT's s_qk does (the kernel's shape); head h owns entries
/// `h·dk..<(h+1)·dk` of `transformer.h.{l}.qk_gain` (d). The gain starts at 1 and does not decay:
/// like the RMSNorm gains it is a vector, and decay would pull every head toward uniform
/// attention.
public struct QKNormGPT: Architecture {
    public let config: ModelConfig
    public var name: String { "qknorm-gpt" }
    public var recipe: TrainingRecipe { .gpt }

    public init(config: ModelConfig) { self.config = config }

    /// The stored gain g (init 1) read as √dk·g, so the kernel's Norm(·) becomes RMSNorm(·).
    public var qkGain: ScalerConfig {
        ScalerConfig(mode: .vector, initValue: Float(config.headWidth).squareRoot(), scale: 1)
    }

    /// GPT's parameters, each layer's `qk_gain` (d, ones) after its `rmsnorm_mlp`. The gains are
    /// constants, so a seed draws the same matrices as ``GPTArchitecture``.
    public var parameters: [ParameterSpec] {
        GPTArchitecture(config: config).parameters.flatMap { spec -> [ParameterSpec] in
            guard spec.name.hasSuffix(".rmsnorm_mlp.weight") else { return [spec] }
            let gain = String(spec.name.dropLast("rmsnorm_mlp.weight".count)) + "qk_gain"
            return [spec, ParameterSpec(name: gain, shape: [config.width], decays: false, initialization: .constant(1))]
        }
    }

    public func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        QKNormGPTBlock(layer: layer, config: config, qkGain: qkGain, layout: layout, plan: &plan)
    }

    public func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        GPTHead(layout: layout, plan: &plan)
    }
}

/// GPT's pre-norm block with q and k RMS-normalised per head (see ``QKNormGPT``).
struct QKNormGPTBlock: TransformerBlock {
    let layer: Int, heads: Int, scale: Float
    let qkv: Weight, attProj: Weight, fc: Weight, mlpProj: Weight, gainAtt: Weight, gainMlp: Weight
    let qkGain: Scaler
    // saved for backward
    let attNormed: Slot, attRstd: Slot, qkvOut: Slot, qkUnit: Slot, qkRnorm: Slot, effGain: Slot
    let probs: Slot, attY: Slot, xMid: Slot, mlpNormed: Slot, mlpRstd: Slot, uv: Slot
    // scratch shared by the layers
    let hidden: Slot, dh: Slot, duv: Slot, dNormed: Slot, dXMid: Slot, dAttY: Slot, dqkv: Slot, dprobs: Slot
    let dGain: Slot

    init(layer: Int, config c: ModelConfig, qkGain gainConfig: ScalerConfig, layout: ParameterLayout,
         plan: inout ActivationPlan) {
        let p = "transformer.h.\(layer).", (d, f) = (c.width, c.hiddenWidth)
        self.layer = layer
        heads = c.heads
        scale = 1 / Float(c.headWidth).squareRoot()
        qkv = layout.weight(fusing: [p + "query.weight", p + "key.weight", p + "value.weight"])
        attProj = layout.weight(p + "att_c_proj.weight")
        fc = layout.weight(p + "c_fc.weight")
        mlpProj = layout.weight(p + "mlp_c_proj.weight")
        gainAtt = layout.vector(p + "rmsnorm_att.weight")
        gainMlp = layout.vector(p + "rmsnorm_mlp.weight")
        qkGain = layout.scaler(p + "qk_gain", gainConfig, count: d)
        xMid = plan.rows(d)
        qkvOut = plan.rows(3 * d)
        qkUnit = plan.rows(2 * d); qkRnorm = plan.rows(2 * c.heads)
        effGain = plan.reserve(d)
        probs = plan.attentionProbabilities(heads: c.heads)
        attY = plan.rows(d)
        uv = plan.rows(2 * f)
        attNormed = plan.rows(d); attRstd = plan.rows(1)
        mlpNormed = plan.rows(d); mlpRstd = plan.rows(1)
        let n = plan.rows
        hidden = plan.shared("hidden", n * f)
        dh = plan.shared("dh", n * f)
        duv = plan.shared("duv", n * 2 * f)
        dNormed = plan.shared("dNormed", n * d)
        dXMid = plan.shared("dXMid", n * d)
        dAttY = plan.shared("dAttY", n * d)
        dqkv = plan.shared("dqkv", n * 3 * d)
        dprobs = plan.shared("dprobs", probs.count)
        dGain = plan.shared("dQKGain", d)
    }

    func forward(_ x: Slot, _ out: Slot, _ pass: Pass) {
        pass.scaler(effGain, qkGain)
        pass.rmsNorm(attNormed, rstd: attRstd, x, gain: gainAtt)
        pass.linear(qkvOut, attNormed, qkv)
        // The gain before RoPE: after it, a gain that differs within a rotated pair would make
        // q·k depend on the positions, not only on their distance.
        pass.qkNorm(qkvOut, unit: qkUnit, rnorm: qkRnorm, scale: effGain, heads: heads, rotary: false)
        pass.rope(qkvOut, heads: heads)
        pass.attention(attY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale, layer: layer)
        pass.copy(xMid, from: x)
        pass.linear(xMid, attY, attProj, accumulate: true)
        pass.rmsNorm(mlpNormed, rstd: mlpRstd, xMid, gain: gainMlp)
        pass.linear(uv, mlpNormed, fc)
        pass.swiglu(hidden, uv)
        pass.copy(out, from: xMid)
        pass.linear(out, hidden, mlpProj, accumulate: true)
    }

    func backward(_ dOut: Slot, _ dx: Slot, _ x: Slot, _ out: Slot, _ pass: Pass) {
        // out = xMid + h·mlp_c_projᵀ; swiglu's backward recomputes h
        pass.copy(dXMid, from: dOut)
        pass.linearInputGradient(dh, dOut, mlpProj, overwrite: true)
        // h = u ⊙ SiLU(ν)
        pass.swigluBackward(duv, dh, uv, recomputed: hidden, overwrite: true)
        pass.linearBackward(nil, dOut, hidden, mlpProj)
        // u, ν = m·c_fcᵀ
        pass.linearBackward(dNormed, duv, mlpNormed, fc, overwrite: true)
        // m = RMSNorm(xMid)⊙g_mlp
        pass.rmsNormBackward(dXMid, dNormed, xMid, rstd: mlpRstd, gain: gainMlp)
        // xMid = x + attY·att_c_projᵀ
        pass.add(dx, dXMid)
        pass.linearBackward(dAttY, dXMid, attY, attProj, overwrite: true)
        // attY = Attention(q, k, v)
        pass.zero(dqkv)
        pass.attentionBackward(dqkv, scratch: dprobs, dAttY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale)
        // q, k = RoPE(q), RoPE(k)
        pass.ropeBackward(dqkv, heads: heads)
        // q_h, k_h = √dk·g ⊙ Norm(·)
        pass.zero(dGain)
        pass.qkNormBackward(dqkv, dScale: dGain, unit: qkUnit, rnorm: qkRnorm, scale: effGain, heads: heads, rotary: false)
        pass.scalerBackward(dGain, qkGain)
        // q, k, v = a·Wᵀ
        pass.linearBackward(dNormed, dqkv, attNormed, qkv, overwrite: true)
        // a = RMSNorm(x)⊙g_att
        pass.rmsNormBackward(dx, dNormed, x, rstd: attRstd, gain: gainAtt)
    }
}
