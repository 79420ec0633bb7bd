import NGPTNumerics

/// The normalized Transformer (docs/model.md §4): hidden states and the d-long vectors of every
/// matrix on the unit sphere, normalised LERP residuals with eigen learning rates α, q/k
/// normalised per head and scaled by s_qk, softmax scale √dk, the MLP's inputs scaled by
/// s_uv·√d, logits scaled by s_z. Renormalises its matrices after every update (§6); trains
/// without weight decay or warm-up (``TrainingRecipe/ngpt``). The ablations of §8 are switches
/// of its ``ModelConfig``.
public struct NGPTArchitecture: Architecture {
    public let config: ModelConfig
    public var name: String { "ngpt" }
    public var recipe: TrainingRecipe { .ngpt }

    public init(config: ModelConfig) { self.config = config }

    /// `wte`, `lm_head`, per layer the six matrices and the scalers `attn_alpha`, `mlp_alpha`,
    /// `sqk`, `suv` (each a vector, one value, or absent when fixed), then `sz`. Matrices
    /// ~ N(0, 1/d), the output projections 1/√(2Ld); scalers start at their `s_scale`. The
    /// matrices are ``ParameterSpec/normalized`` unless ``ModelConfig/weightNormalization`` is off.
    public var parameters: [ParameterSpec] {
        let c = config, (d, f) = (c.width, c.hiddenWidth)
        let matrices = TransformerMatrices(config: c, std: 1 / Double(d).squareRoot(), normalized: c.weightNormalization)
        var specs = matrices.embeddings
        for l in 0..<c.layers {
            let p = "transformer.h.\(l)."
            specs += matrices.block(l)
            specs += [ScalerSpec(p + "attn_alpha", c.alpha, d), ScalerSpec(p + "mlp_alpha", c.alpha, d),
                      ScalerSpec(p + "sqk", c.sqk, d), ScalerSpec(p + "suv", c.suv, 2 * f)].compactMap(\.parameter)
        }
        return specs + [ScalerSpec("sz", c.sz, c.vocabularySize).parameter].compactMap { $0 }
    }

    /// Every matrix's vectors made unit length (§6), whether or not they are kept so after each
    /// step (``ModelConfig/weightNormalization``).
    public func afterInitialization(_ parameters: ParameterBuffer) {
        parameters.normalizeMatrices { $0.vectors != nil }
    }

    public func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        NGPTBlock(layer: layer, config: config, layout: layout, plan: &plan)
    }

    public func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        ScaledLogitsHead(config: config, layout: layout, plan: &plan)
    }

    /// Per layer the mean |effective| α_A, α_M, s_qk, s_u, s_ν (docs/model.md §9), as
    /// `alpha_a`, `alpha_m`, `sqk`, `su` and `sv`.
    public func layerValues(_ parameters: ParameterBuffer) -> [LayerValues] {
        NGPTBlock.Scalers.layerValues((0..<config.layers).map { NGPTBlock.Scalers(layer: $0, config: config, layout: parameters.layout) },
                                      parameters)
    }

    /// The effective s_z (V values).
    public func logitScales(_ parameters: ParameterBuffer) -> [Float] {
        parameters.effectiveScaler(parameters.layout.scaler("sz", config.sz, count: config.vocabularySize))
    }
}

extension TrainingRecipe {
    /// nGPT's: lr 8e-3 (its best at d 128 on byte-level text; nGPT wants a higher rate than
    /// GPT), no weight decay, no warm-up, cosine to 0, clip 1.
    public static let ngpt = TrainingRecipe(learningRate: 8e-3, weightDecay: 0, warmupFraction: 0,
                                            minLR: 0, clip: 1, beta1: 0.9, beta2: 0.95, epsilon: 1e-8)
}

/// A scaler's stored parameter, if it has one: a vector of `count`, one value, or none when
/// fixed; it starts at `s_scale` and never decays.
public struct ScalerSpec {
    public let parameter: ParameterSpec?

    public init(_ name: String, _ s: ScalerConfig, _ count: Int) {
        let shape: [Int]? = switch s.mode {
        case .vector: [count]
        case .scalar: [1]
        case .fixed: nil
        }
        parameter = shape.map { ParameterSpec(name: name, shape: $0, decays: false, initialization: .constant(s.scale)) }
    }
}

/// The normalized block, with every hidden state on the unit sphere:
///
///     q, k, v = x·Wᵀ; q_h, k_h = s_qk,h ⊙ Norm(RoPE(q_h)), s_qk,h ⊙ Norm(RoPE(k_h))
///     h_A = Attention(q, k, v; scale √dk)·att_c_projᵀ
///     x' = Norm(Norm(x) + α_A ⊙ (Norm(h_A) − Norm(x)))
///     u, ν = (x'·c_fcᵀ) ⊙ s_uv · √d
///     h_M = (u ⊙ SiLU(ν))·mlp_c_projᵀ
///     out = Norm(Norm(x') + α_M ⊙ (Norm(h_M) − Norm(x')))
///
/// Without ``ModelConfig/residualNormalization`` the two updates are plain LERPs,
/// `x' = x + α_A ⊙ (Norm(h_A) − x)` and `out = x' + α_M ⊙ (Norm(h_M) − x')`, and the hidden
/// states leave the sphere; without ``ModelConfig/qkNormalization``, `q_h = s_qk,h ⊙ RoPE(q_h)`.
///
/// The effective scalers are computed from the stored parameters at the start of every forward.
/// Which parameters they are is the caller's choice (``Scalers``): the library's nGPT shares
/// one configuration between α_A and α_M and stores s_u | s_ν as one `suv`; a variant can give
/// each its own parameter.
public struct NGPTBlock: TransformerBlock {
    /// The block's five scalers.
    public struct Scalers: Sendable {
        public var alphaA: Scaler, alphaM: Scaler, sqk: Scaler, su: Scaler, sv: Scaler

        public init(alphaA: Scaler, alphaM: Scaler, sqk: Scaler, su: Scaler, sv: Scaler) {
            (self.alphaA, self.alphaM, self.sqk, self.su, self.sv) = (alphaA, alphaM, sqk, su, sv)
        }

        /// Layer `layer`'s scalers of the library's nGPT: `attn_alpha` and `mlp_alpha` with
        /// `alpha`, `sqk`, and the two halves of `suv` (one stored value for both when scalar).
        public init(layer: Int, config c: ModelConfig, layout: ParameterLayout) {
            let p = "transformer.h.\(layer).", (d, f) = (c.width, c.hiddenWidth)
            let suv = layout.scaler(p + "suv", c.suv, count: 2 * f)
            self.init(alphaA: layout.scaler(p + "attn_alpha", c.alpha, count: d),
                      alphaM: layout.scaler(p + "mlp_alpha", c.alpha, count: d),
                      sqk: layout.scaler(p + "sqk", c.sqk, count: d),
                      su: Scaler(offset: suv.offset, config: c.suv, count: f),
                      sv: Scaler(offset: suv.offset.map { c.suv.mode == .vector ? $0 + f : $0 }, config: c.suv, count: f))
        }

        /// What an nGPT-like architecture logs and shows per layer (docs/model.md §9): the mean
        /// |effective value| of each scaler of every layer's `Scalers`, layer 0 first, under the
        /// names `metrics.jsonl` gives them (`alpha_a`, `alpha_m`, `sqk`, `su`, `sv`; s_u and s_ν
        /// without the √d factor).
        public static func layerValues(_ layers: [Scalers], _ parameters: ParameterBuffer) -> [LayerValues] {
            func meanAbs(_ s: Scaler) -> Double {
                let v = parameters.effectiveScaler(s)
                return v.reduce(0.0) { $0 + Double(abs($1)) } / Double(v.count)
            }
            let measure = ", mean |effective value|"
            return [LayerValues(name: "alpha_a", title: "α_A (attention eigen learning rate)" + measure, values: layers.map { meanAbs($0.alphaA) }),
                    LayerValues(name: "alpha_m", title: "α_M (MLP eigen learning rate)" + measure, values: layers.map { meanAbs($0.alphaM) }),
                    LayerValues(name: "sqk", title: "s_qk (query-key scaling)" + measure, values: layers.map { meanAbs($0.sqk) }),
                    LayerValues(name: "su", title: "s_u (MLP u scaling)" + measure, values: layers.map { meanAbs($0.su) }),
                    LayerValues(name: "sv", title: "s_ν (MLP ν scaling)" + measure, values: layers.map { meanAbs($0.sv) })]
        }
    }

    let layer: Int, heads: Int, scale: Float, uvScale: Float, normalizeQK: Bool, normalizeResidual: Bool
    let qkv: Weight, attProj: Weight, fc: Weight, mlpProj: Weight
    let alphaA: Scaler, alphaM: Scaler, sqk: Scaler, su: Scaler, sv: Scaler
    // saved for backward
    let qkvOut: Slot, qkUnit: Slot, qkRnorm: Slot, probs: Slot, attY: Slot, xMid: Slot, uv: Slot
    let lerpA: LerpSaved, lerpM: LerpSaved
    let effAlphaA: Slot, effAlphaM: Slot, effSqk: Slot, effSuv: Slot
    // scratch shared by the layers
    let branch: Slot, hidden: Slot, dh: Slot, duv: Slot, dXMid: Slot, dBranch: Slot, dAttY: Slot, dqkv: Slot
    let dprobs: Slot, dScalers: Slot, lerpScratch: Slot

    /// The library's nGPT block of layer `layer`.
    public init(layer: Int, config c: ModelConfig, layout: ParameterLayout, plan: inout ActivationPlan) {
        self.init(layer: layer, config: c, scalers: Scalers(layer: layer, config: c, layout: layout), layout: layout, plan: &plan)
    }

    /// The block of layer `layer` with the given scalers (each of `d` values, `su` and `sv` of F).
    public init(layer: Int, config c: ModelConfig, scalers: Scalers, layout: ParameterLayout, plan: inout ActivationPlan) {
        let p = "transformer.h.\(layer).", (d, f) = (c.width, c.hiddenWidth)
        self.layer = layer
        heads = c.heads
        scale = Float(c.headWidth).squareRoot()
        uvScale = Float(d).squareRoot()
        normalizeQK = c.qkNormalization
        normalizeResidual = c.residualNormalization
        qkv = layout.weight(fusing: [p + "query.weight", p + "key.weight", p + "value.weight"])
        attProj = layout.weight(p + "att_c_proj.weight")
        fc = layout.weight(p + "c_fc.weight")
        mlpProj = layout.weight(p + "mlp_c_proj.weight")
        (alphaA, alphaM, sqk, su, sv) = (scalers.alphaA, scalers.alphaM, scalers.sqk, scalers.su, scalers.sv)
        precondition(alphaA.count == d && alphaM.count == d && sqk.count == d && su.count == f && sv.count == f,
                     "nGPT block scalers: α_A, α_M and s_qk need \(d) values, s_u and s_ν \(f)")
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
        branch = plan.shared(Scratch.Branch.self, n * d)
        hidden = plan.shared(Scratch.Hidden.self, n * f)
        dh = plan.shared(Scratch.HiddenGradient.self, n * f)
        duv = plan.shared(Scratch.MLPInputGradient.self, n * 2 * f)
        dXMid = plan.shared(Scratch.MidStreamGradient.self, n * d)
        dBranch = plan.shared(Scratch.BranchGradient.self, n * d)
        dAttY = plan.shared(Scratch.AttentionOutputGradient.self, n * d)
        dqkv = plan.shared(Scratch.QKVGradient.self, n * 3 * d)
        dprobs = plan.shared(Scratch.ProbabilityGradient.self, probs.count)
        dScalers = plan.shared(Scratch.ScalerGradients.self, 3 * d + 2 * f)
        lerpScratch = plan.shared(Scratch.LerpScratch.self, n)
    }

    public func forward(_ x: Slot, _ out: Slot, _ pass: Pass) {
        pass.scaler(effAlphaA, alphaA)
        pass.scaler(effAlphaM, alphaM)
        pass.scaler(effSqk, sqk)
        pass.scaler(effSuv.part(0, su.count), su)
        pass.scaler(effSuv.part(su.count, sv.count), sv)
        // q, k, v = x·Wᵀ; q_h, k_h = s_qk ⊙ Norm(RoPE(·)) in one pass
        pass.linear(qkvOut, x, qkv)
        pass.qkNorm(qkvOut, unit: qkUnit, rnorm: qkRnorm, scale: effSqk, heads: heads, normalize: normalizeQK)
        pass.attention(attY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale, layer: layer)
        pass.linear(branch, attY, attProj)
        pass.lerpResidual(xMid, x, branch, alpha: effAlphaA, saved: lerpA, normalize: normalizeResidual)
        pass.linear(uv, xMid, fc)
        pass.swiglu(hidden, uv, scale: effSuv, multiplier: uvScale)
        pass.linear(branch, hidden, mlpProj)
        pass.lerpResidual(out, xMid, branch, alpha: effAlphaM, saved: lerpM, normalize: normalizeResidual)
    }

    public func backward(_ dOut: Slot, _ dx: Slot, _ x: Slot, _ out: Slot, _ pass: Pass) {
        let d = xMid.count / pass.rows
        let dAlphaA = dScalers.part(0, d), dAlphaM = dScalers.part(d, d), dSqk = dScalers.part(2 * d, d)
        let dSuv = dScalers.part(3 * d, effSuv.count)
        pass.zero(dScalers)
        // out = Norm(Norm(xMid) + α_M ⊙ (Norm(h_M) − Norm(xMid))), or xMid + α_M ⊙ (Norm(h_M) − xMid)
        pass.lerpResidualBackward(dx: dXMid, dh: dBranch, dAlpha: dAlphaM, dOut: dOut, out: out, x: xMid, alpha: effAlphaM,
                                  saved: lerpM, scratch: lerpScratch, normalize: normalizeResidual, overwriteDx: true, overwriteDh: true)
        // h_M = h·mlp_c_projᵀ; h is not kept per layer: swiglu's backward recomputes it
        pass.linearInputGradient(dx: dh, dOut: dBranch, weight: mlpProj, overwrite: true)
        // h = u ⊙ SiLU(ν), u, ν = uv ⊙ s_uv·√d
        pass.swigluBackward(dUV: duv, dScale: dSuv, dOut: dh, uv: uv, scale: effSuv, multiplier: uvScale, recomputed: hidden,
                            overwrite: true)
        pass.linearBackward(dx: nil, dOut: dBranch, x: hidden, weight: mlpProj)
        // uv = xMid·c_fcᵀ
        pass.linearBackward(dx: dXMid, dOut: duv, x: xMid, weight: fc)
        // xMid = Norm(Norm(x) + α_A ⊙ (Norm(h_A) − Norm(x))), or x + α_A ⊙ (Norm(h_A) − x)
        pass.lerpResidualBackward(dx: dx, dh: dBranch, dAlpha: dAlphaA, dOut: dXMid, out: xMid, x: x, alpha: effAlphaA,
                                  saved: lerpA, scratch: lerpScratch, normalize: normalizeResidual, overwriteDh: true)
        // h_A = attY·att_c_projᵀ
        pass.linearBackward(dx: dAttY, dOut: dBranch, x: attY, weight: attProj, overwrite: true)
        // attY = Attention(q, k, v)
        pass.zero(dqkv)
        pass.attentionBackward(dqkv: dqkv, scratch: dprobs, dOut: dAttY, qkv: qkvOut, probabilities: probs, heads: heads, scale: scale)
        // q_h, k_h = s_qk ⊙ Norm(RoPE(·))
        pass.qkNormBackward(dqkv: dqkv, dScale: dSqk, unit: qkUnit, rnorm: qkRnorm, scale: effSqk, heads: heads, normalize: normalizeQK)
        // q, k, v = x·Wᵀ
        pass.linearBackward(dx: dx, dOut: dqkv, x: x, weight: qkv)
        // effective scalers → stored parameters
        pass.scalerBackward(dEffective: dAlphaA, alphaA)
        pass.scalerBackward(dEffective: dAlphaM, alphaM)
        pass.scalerBackward(dEffective: dSqk, sqk)
        pass.scalerBackward(dEffective: dSuv.part(0, su.count), su)
        pass.scalerBackward(dEffective: dSuv.part(su.count, sv.count), sv)
    }
}

/// logits = (x·lm_headᵀ) ⊙ s_z: the stream is already unit length, so no final norm (without
/// ``ModelConfig/residualNormalization`` it is not, and the logits scale with ‖x‖).
public struct ScaledLogitsHead: ModelHead {
    let lmHead: Weight, sz: Scaler
    let raw: Slot, effSz: Slot, dRaw: Slot, dSz: Slot

    public init(config c: ModelConfig, layout: ParameterLayout, plan: inout ActivationPlan) {
        lmHead = layout.weight("lm_head.weight")
        sz = layout.scaler("sz", c.sz, count: c.vocabularySize)
        raw = plan.rows(c.vocabularySize)
        effSz = plan.reserve(c.vocabularySize)
        dRaw = plan.rows(c.vocabularySize)
        dSz = plan.shared(Scratch.ScalerGradients.self, c.vocabularySize)
    }

    public func forward(_ x: Slot, logits: Slot, _ pass: Pass) {
        pass.scaler(effSz, sz)
        pass.linear(raw, x, lmHead)
        pass.scaleColumns(logits, raw, scale: effSz)
    }

    public func backward(_ dLogits: Slot, _ dx: Slot, _ x: Slot, _ pass: Pass) {
        pass.zero(dSz)
        pass.scaleColumnsBackward(dx: dRaw, dScale: dSz, dOut: dLogits, x: raw, scale: effSz, overwrite: true)
        pass.scalerBackward(dEffective: dSz, sz)
        pass.linearBackward(dx: dx, dOut: dRaw, x: x, weight: lmHead)
    }
}
