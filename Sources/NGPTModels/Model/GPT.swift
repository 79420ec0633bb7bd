import NGPTNumerics

/// The baseline GPT (docs/model.md §3): pre-RMSNorm residual blocks, softmax scale 1/√dk, a final
/// RMSNorm before `lm_head`. Decays matrices and warms up (``TrainingRecipe/gpt``). With
/// ``ModelConfig/gptQKNormalization``, q and k are RMS-normalised per head before RoPE (§8,
/// ``GPTBlock/QKNormalization``).
public struct GPTArchitecture: Architecture {
    public let config: ModelConfig
    public var name: String { "gpt" }
    public var recipe: TrainingRecipe { .gpt }

    public init(config: ModelConfig) { self.config = config }

    /// `wte`, `lm_head`, per layer `query`, `key`, `value`, `att_c_proj`, `c_fc`, `mlp_c_proj`,
    /// `rmsnorm_att`, `rmsnorm_mlp` (and `q_norm`, `k_norm` of dk values each with
    /// ``ModelConfig/gptQKNormalization``), then `rmsnorm_f`. Matrices ~ N(0, 0.02²), the two
    /// output projections 0.02/√(2L); gains 1, never decayed. The gains are constants, so a seed
    /// draws the same matrices with and without q/k normalisation.
    public var parameters: [ParameterSpec] {
        let matrices = TransformerMatrices(config: config, std: 0.02, normalized: false)
        func gain(_ name: String, _ count: Int) -> ParameterSpec {
            ParameterSpec(name: name, shape: [count], decays: false, initialization: .constant(1))
        }
        var specs = matrices.embeddings
        for l in 0..<config.layers {
            let p = "transformer.h.\(l)."
            specs += matrices.block(l) + [gain(p + "rmsnorm_att.weight", config.width), gain(p + "rmsnorm_mlp.weight", config.width)]
            if config.gptQKNormalization {
                specs += [gain(p + "q_norm.weight", config.headWidth), gain(p + "k_norm.weight", config.headWidth)]
            }
        }
        return specs + [gain("rmsnorm_f.weight", config.width)]
    }

    public func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        GPTBlock(layer: layer, config: config, layout: layout, plan: &plan)
    }

    public func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        GPTHead(layout: layout, plan: &plan)
    }
}

extension TrainingRecipe {
    /// GPT's: lr 2e-3, weight decay 0.1, warm-up over the first 1/15 of the steps (100 of
    /// 1,500 in the calibration runs), cosine to 0, clip 1.
    public static let gpt = TrainingRecipe(learningRate: 2e-3, weightDecay: 0.1, warmupFraction: 1.0 / 15,
                                           minLR: 0, clip: 1, beta1: 0.9, beta2: 0.95, epsilon: 1e-8)
}

/// The pre-norm block:
///
///     a = RMSNorm(x)⊙g_att; q, k, v = a·Wᵀ; q, k = RoPE(q), RoPE(k)
///     x' = x + Attention(q, k, v; scale 1/√dk)·att_c_projᵀ
///     m = RMSNorm(x')⊙g_mlp; u, ν = m·c_fcᵀ
///     out = x' + (u ⊙ SiLU(ν))·mlp_c_projᵀ
///
/// Between the q, k, v product and RoPE, ``QKNormalization`` decides what happens to each head's
/// query and key: nothing, or `q_h = RMSNorm(q_h)⊙g_q`, `k_h = RMSNorm(k_h)⊙g_k` with gains the
/// caller chooses. The library's GPT takes `q_norm` and `k_norm` from the layout with
/// ``ModelConfig/gptQKNormalization``; a variant passes its own (see the library guide, "Write
/// your own architecture").
public struct GPTBlock: TransformerBlock {
    /// What the block does to each head's query and key between their product and RoPE.
    public enum QKNormalization: Sendable, Equatable {
        /// Nothing: GPT (docs/model.md §3).
        case none
        /// `q_h = RMSNorm(q_h)⊙g_q`, `k_h = RMSNorm(k_h)⊙g_k` for every head h, before RoPE
        /// (docs/model.md §8). A gain is a stored vector (``ParameterLayout/vector(_:)``) of dk
        /// values, shared by the heads, or of d, one dk-slice per head; it starts at 1 and
        /// multiplies `RMSNorm(·) = √dk·Norm(·)`. A nil gain is 1, with no parameter. Passing the
        /// same gain for both gives one gain that serves q and k.
        case rms(queryGain: Weight?, keyGain: Weight?)
    }

    let layer: Int, heads: Int, scale: Float
    let qkv: Weight, attProj: Weight, fc: Weight, mlpProj: Weight, gainAtt: Weight, gainMlp: Weight
    let qkNorm: QKRMSNormalization?
    // saved for backward
    let attNormed: Slot, attRstd: Slot, qkvOut: Slot, probs: Slot, attY: Slot, xMid: Slot
    let mlpNormed: Slot, mlpRstd: Slot, uv: Slot
    // scratch shared by the layers
    let hidden: Slot, dh: Slot, duv: Slot, dNormed: Slot, dXMid: Slot, dAttY: Slot, dqkv: Slot, dprobs: Slot

    /// The library's GPT block of layer `layer`: with ``ModelConfig/gptQKNormalization``, q and k
    /// RMS-normalised with the gains `transformer.h.{l}.q_norm.weight` and `.k_norm.weight` (dk
    /// values each).
    public init(layer: Int, config c: ModelConfig, layout: ParameterLayout, plan: inout ActivationPlan) {
        let p = "transformer.h.\(layer)."
        let qk: QKNormalization = c.gptQKNormalization
            ? .rms(queryGain: layout.vector(p + "q_norm.weight"), keyGain: layout.vector(p + "k_norm.weight")) : .none
        self.init(layer: layer, config: c, qkNormalization: qk, layout: layout, plan: &plan)
    }

    /// The block of layer `layer` with the given q/k normalisation.
    public init(layer: Int, config c: ModelConfig, qkNormalization: QKNormalization, layout: ParameterLayout,
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
        qkNorm = switch qkNormalization {
        case .none: nil
        case let .rms(queryGain, keyGain): QKRMSNormalization(queryGain: queryGain, keyGain: keyGain, config: c, plan: &plan)
        }
        xMid = plan.rows(d)
        qkvOut = plan.rows(3 * d)
        probs = plan.attentionProbabilities(heads: c.heads)
        attY = plan.rows(d)
        uv = plan.rows(2 * f)
        attNormed = plan.rows(d); attRstd = plan.rows(1)
        mlpNormed = plan.rows(d); mlpRstd = plan.rows(1)
        let n = plan.rows
        hidden = plan.shared(Scratch.Hidden.self, n * f)
        dh = plan.shared(Scratch.HiddenGradient.self, n * f)
        duv = plan.shared(Scratch.MLPInputGradient.self, n * 2 * f)
        dNormed = plan.shared(Scratch.NormedGradient.self, n * d)
        dXMid = plan.shared(Scratch.MidStreamGradient.self, n * d)
        dAttY = plan.shared(Scratch.AttentionOutputGradient.self, n * d)
        dqkv = plan.shared(Scratch.QKVGradient.self, n * 3 * d)
        dprobs = plan.shared(Scratch.ProbabilityGradient.self, probs.count)
    }

    public func forward(_ x: Slot, _ out: Slot, _ pass: Pass) {
        pass.rmsNorm(attNormed, rstd: attRstd, x, gain: gainAtt)
        pass.linear(qkvOut, attNormed, qkv)
        qkNorm?.forward(qkvOut, pass)
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

    public func backward(_ dOut: Slot, _ dx: Slot, _ x: Slot, _ out: Slot, _ pass: Pass) {
        // out = xMid + h·mlp_c_projᵀ; h is not kept per layer: swiglu's backward recomputes it
        pass.copy(dXMid, from: dOut)
        pass.linearInputGradient(dx: dh, dOut: dOut, weight: mlpProj, overwrite: true)
        // h = u ⊙ SiLU(ν)
        pass.swigluBackward(dUV: duv, dOut: dh, uv: uv, recomputed: hidden, overwrite: true)
        pass.linearBackward(dx: nil, dOut: dOut, x: hidden, weight: mlpProj)
        // u, ν = m·c_fcᵀ
        pass.linearBackward(dx: dNormed, dOut: duv, x: mlpNormed, weight: fc, overwrite: true)
        // m = RMSNorm(xMid)⊙g_mlp
        pass.rmsNormBackward(dx: dXMid, dOut: dNormed, x: xMid, rstd: mlpRstd, gain: gainMlp)
        // xMid = x + attY·att_c_projᵀ
        pass.add(dx, dXMid)
        pass.linearBackward(dx: dAttY, dOut: dXMid, x: attY, weight: attProj, overwrite: true)
        // attY = Attention(q, k, v)
        pass.zero(dqkv)
        pass.attentionBackward(dqkv: dqkv, scratch: dprobs, dOut: dAttY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale)
        // q, k = RoPE(q), RoPE(k)
        pass.ropeBackward(dqkv: dqkv, heads: heads)
        // q_h, k_h = RMSNorm(·)⊙g
        qkNorm?.backward(dqkv, pass)
        // q, k, v = a·Wᵀ
        pass.linearBackward(dx: dNormed, dOut: dqkv, x: attNormed, weight: qkv, overwrite: true)
        // a = RMSNorm(x)⊙g_att
        pass.rmsNormBackward(dx: dx, dOut: dNormed, x: x, rstd: attRstd, gain: gainAtt)
    }
}

/// ``GPTBlock/QKNormalization/rms(queryGain:keyGain:)`` at work, in place on the q | k columns
/// of a (N, 3C) q | k | v slot, before RoPE:
///
///     q_h = RMSNorm(q_h)⊙g_q = √dk·g_q ⊙ Norm(q_h),   k_h = √dk·g_k ⊙ Norm(k_h)
///
/// for every head h. The kernel's Norm has no RMSNorm ε (docs/model.md §8). The gains act before
/// RoPE: after it, a gain that differs within a rotated pair would make q·k depend on the
/// positions, not only on their distance.
struct QKRMSNormalization {
    let heads: Int, width: Int
    /// The query's gain, and the key's (nil: the query's serves both).
    let q: Scaler, k: Scaler?
    // saved for backward
    let unit: Slot, rnorm: Slot, gains: Slot
    // scratch shared by the layers
    let dGains: Slot

    /// Reserves Norm(q_h) | Norm(k_h) (N, 2C), the reciprocal norms (N, 2H) and the effective
    /// gains (C when one gain serves both, else 2C).
    init(queryGain: Weight?, keyGain: Weight?, config c: ModelConfig, plan: inout ActivationPlan) {
        let (d, dk) = (c.width, c.headWidth)
        // stored g (init 1), effective √dk·g: the kernel's unit vectors times √dk are RMSNorm's
        func gain(_ g: Weight?) -> Scaler {
            guard let g else { return Scaler(offset: nil, config: ScalerConfig(mode: .fixed, initValue: Float(dk).squareRoot(), scale: 1), count: d) }
            precondition(g.rows == 1 && (g.columns == dk || g.columns == d), "a q/k gain has dk = \(dk) or d = \(d) values, not \(g.rows)×\(g.columns)")
            return Scaler(offset: g.offset, config: ScalerConfig(mode: .vector, initValue: Float(dk).squareRoot(), scale: 1), count: g.columns)
        }
        heads = c.heads
        width = d
        q = gain(queryGain)
        k = keyGain == queryGain ? nil : gain(keyGain)
        unit = plan.rows(2 * d)
        rnorm = plan.rows(2 * c.heads)
        gains = plan.reserve(k == nil ? d : 2 * d)
        dGains = plan.shared(Scratch.QKGainGradient.self, gains.count)
    }

    /// q_h, k_h ← √dk·g ⊙ Norm(·), for every head.
    func forward(_ qkv: Slot, _ pass: Pass) {
        eachGain { pass.scaler(gains.part($0, $1.count), $1) }
        pass.qkNorm(qkv, unit: unit, rnorm: rnorm, scale: gains, heads: heads, rotary: false)
    }

    /// The gradient of the q | k columns of `dqkv` taken back through the normalisation (in
    /// place), and the gains' gradients (a gain of dk values summed over the heads).
    func backward(_ dqkv: Slot, _ pass: Pass) {
        pass.zero(dGains)
        pass.qkNormBackward(dqkv: dqkv, dScale: dGains, unit: unit, rnorm: rnorm, scale: gains, heads: heads, rotary: false)
        eachGain { pass.scalerBackward(dEffective: dGains.part($0, $1.count), $1) }
    }

    /// Calls `body` with each gain and where its effective values start in `gains`: a gain of d
    /// values once, one of dk once per head; q's, then k's from C.
    private func eachGain(_ body: (Int, Scaler) -> Void) {
        for h in stride(from: 0, to: width, by: q.count) { body(h, q) }
        if let k { for h in stride(from: 0, to: width, by: k.count) { body(width + h, k) } }
    }
}

/// logits = RMSNorm(x)⊙g_f · lm_headᵀ.
public struct GPTHead: ModelHead {
    let lmHead: Weight, gain: Weight
    let normed: Slot, rstd: Slot, dNormed: Slot

    public init(layout: ParameterLayout, plan: inout ActivationPlan) {
        lmHead = layout.weight("lm_head.weight")
        gain = layout.vector("rmsnorm_f.weight")
        normed = plan.rows(lmHead.columns)
        rstd = plan.rows(1)
        dNormed = plan.shared(Scratch.NormedGradient.self, normed.count)
    }

    public func forward(_ x: Slot, logits: Slot, _ pass: Pass) {
        pass.rmsNorm(normed, rstd: rstd, x, gain: gain)
        pass.linear(logits, normed, lmHead)
    }

    public func backward(_ dLogits: Slot, _ dx: Slot, _ x: Slot, _ pass: Pass) {
        pass.linearBackward(dx: dNormed, dOut: dLogits, x: normed, weight: lmHead, overwrite: true)
        pass.rmsNormBackward(dx: dx, dOut: dNormed, x: x, rstd: rstd, gain: gain)
    }
}
