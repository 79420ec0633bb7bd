/// The normalized block (spec §4), with every hidden state on the unit sphere:
///
///     q, k, v = x·Wᵀ; q, k = RoPE(q), RoPE(k); q_h, k_h = s_qk,h ⊙ Norm(q_h), s_qk,h ⊙ Norm(k_h)
///     h_A = Attention(q, k, v; scale √dk)·att_c_projᵀ
///     x = Norm(Norm(x) + α_A ⊙ (Norm(h_A) − Norm(x)))
///     u, ν = (x·c_fcᵀ) ⊙ s_uv · √d
///     h_M = (u ⊙ SiLU(ν))·mlp_c_projᵀ
///     x = Norm(Norm(x) + α_M ⊙ (Norm(h_M) − Norm(x)))
///
/// The effective scalers (α_A, α_M, s_qk, s_uv) are computed from the stored parameters by the
/// model before the blocks run, into the layer's activations.
struct NGPTBlock: TransformerBlock {
    let w: LayerParameterOffsets

    func forward(_ x: FloatPointer, _ out: FloatPointer, _ a: LayerActivations, _ ctx: BlockContext) {
        let c = ctx.config, s = ctx.acts, p = ctx.params
        let (n, d, f, h) = (s.rows, c.width, c.hiddenWidth, c.heads)
        let branch = s.p(s.branch)
        // q, k, v = x·Wᵀ; q_h, k_h = s_qk ⊙ Norm(RoPE(·)) in one pass
        linearForward(s.p(a.qkv), x, p + w.qkv, rows: n, inputs: d, outputs: 3 * d)
        qkNormForward(s.p(a.qkv), s.p(a.qkUnit), s.p(a.qkRnorm), s.p(a.sqk), rows: n, width: d, heads: h,
                      rowStride: 3 * d, normalize: c.qkNormalization, rotary: Rotary(table: ctx.rope, sequence: s.sequence))
        attentionForward(s.p(a.attY), s.p(a.probs), s.p(a.qkv), batch: s.batch, sequence: s.sequence,
                         width: d, heads: h, scale: Float(c.headWidth).squareRoot())
        linearForward(branch, s.p(a.attY), p + w.attProj, rows: n, inputs: d, outputs: d)
        lerpResidualForward(s.p(a.xMid), s.p(a.rnormIn), s.p(a.hAUnit), s.p(a.rnormHA), s.p(a.rnormZA),
                            x, branch, s.p(a.alphaA), rows: n, width: d)
        linearForward(s.p(a.uv), s.p(a.xMid), p + w.fc, rows: n, inputs: d, outputs: 2 * f)
        swigluForward(s.p(s.hidden), s.p(a.uv), s.p(a.suv), multiplier: Float(d).squareRoot(), rows: n, hidden: f)
        linearForward(branch, s.p(s.hidden), p + w.mlpProj, rows: n, inputs: f, outputs: d)
        lerpResidualForward(out, s.p(a.rnormMid), s.p(a.hMUnit), s.p(a.rnormHM), s.p(a.rnormZM),
                            s.p(a.xMid), branch, s.p(a.alphaM), rows: n, width: d)
    }

    func backward(_ dout: FloatPointer, _ dx: FloatPointer, _ x: FloatPointer, _ out: FloatPointer,
                  _ a: LayerActivations, _ ctx: BlockContext) {
        let c = ctx.config, s = ctx.acts, p = ctx.params, g = ctx.grads
        let (n, d, f, h) = (s.rows, c.width, c.hiddenWidth, c.heads)
        let dXMid = s.p(s.dXMid), dBranch = s.p(s.dBranch), hidden = s.p(s.hidden), dh = s.p(s.dh), duv = s.p(s.duv)
        let dAlphaA = s.p(s.dScaler), dAlphaM = dAlphaA + d, dSqk = dAlphaM + d, dSuv = dSqk + d
        dAlphaA.update(repeating: 0, count: 3 * d + 2 * f)
        // out = Norm(Norm(xMid) + α_M ⊙ (Norm(h_M) − Norm(xMid)))
        dXMid.update(repeating: 0, count: n * d)
        dBranch.update(repeating: 0, count: n * d)
        lerpResidualBackward(dXMid, dBranch, dAlphaM, dout, out, s.p(a.xMid), s.p(a.rnormMid), s.p(a.hMUnit),
                             s.p(a.rnormHM), s.p(a.rnormZM), s.p(a.alphaM), s.p(s.lerpScratch), rows: n, width: d)
        // h_M = h·mlp_c_projᵀ; h is not kept per layer: swiglu's backward recomputes it
        let m = Float(d).squareRoot()
        linearBackward(dh, nil, dBranch, hidden, p + w.mlpProj, rows: n, inputs: f, outputs: d, overwriteInput: true)
        // h = u ⊙ SiLU(ν), u, ν = uv ⊙ s_uv·√d
        swigluBackward(duv, dSuv, dh, s.p(a.uv), s.p(a.suv), multiplier: m, rows: n, hidden: f,
                       recomputed: hidden, overwrite: true)
        linearBackward(nil, g + w.mlpProj, dBranch, hidden, p + w.mlpProj, rows: n, inputs: f, outputs: d)
        // uv = xMid·c_fcᵀ
        linearBackward(dXMid, g + w.fc, duv, s.p(a.xMid), p + w.fc, rows: n, inputs: d, outputs: 2 * f)
        // xMid = Norm(Norm(x) + α_A ⊙ (Norm(h_A) − Norm(x)))
        dBranch.update(repeating: 0, count: n * d)
        lerpResidualBackward(dx, dBranch, dAlphaA, dXMid, s.p(a.xMid), x, s.p(a.rnormIn), s.p(a.hAUnit),
                             s.p(a.rnormHA), s.p(a.rnormZA), s.p(a.alphaA), s.p(s.lerpScratch), rows: n, width: d)
        // h_A = attY·att_c_projᵀ
        let dAttY = s.p(s.dAttY), dqkv = s.p(s.dqkv)
        linearBackward(dAttY, g + w.attProj, dBranch, s.p(a.attY), p + w.attProj, rows: n, inputs: d, outputs: d,
                       overwriteInput: true)
        // attY = Attention(q, k, v)
        dqkv.update(repeating: 0, count: n * 3 * d)
        attentionBackward(dqkv, s.p(s.dprobs), dAttY, s.p(a.qkv), s.p(a.probs), batch: s.batch,
                          sequence: s.sequence, width: d, heads: h, scale: Float(c.headWidth).squareRoot())
        // q_h, k_h = s_qk ⊙ Norm(RoPE(·))
        qkNormBackward(dqkv, dSqk, s.p(a.qkUnit), s.p(a.qkRnorm), s.p(a.sqk), rows: n, width: d, heads: h,
                       rowStride: 3 * d, normalize: c.qkNormalization, rotary: Rotary(table: ctx.rope, sequence: s.sequence))
        // q, k, v = x·Wᵀ
        linearBackward(dx, g + w.qkv, dqkv, x, p + w.qkv, rows: n, inputs: d, outputs: 3 * d)
        // effective scalers → stored parameters
        scalerBackward(w.attnAlpha.map { g + $0 }, dAlphaA, w.attnAlpha.map { p + $0 }, c.alpha, count: d)
        scalerBackward(w.mlpAlpha.map { g + $0 }, dAlphaM, w.mlpAlpha.map { p + $0 }, c.alpha, count: d)
        scalerBackward(w.sqk.map { g + $0 }, dSqk, w.sqk.map { p + $0 }, c.sqk, count: d)
        scalerBackward(w.suv.map { g + $0 }, dSuv, w.suv.map { p + $0 }, c.suv, count: 2 * f)
    }

    /// Computes this layer's effective scalers into its activations.
    func prepareScalers(_ a: LayerActivations, _ ctx: BlockContext) {
        let c = ctx.config, s = ctx.acts, p = ctx.params
        scalerForward(s.p(a.alphaA), w.attnAlpha.map { p + $0 }, c.alpha, count: c.width)
        scalerForward(s.p(a.alphaM), w.mlpAlpha.map { p + $0 }, c.alpha, count: c.width)
        scalerForward(s.p(a.sqk), w.sqk.map { p + $0 }, c.sqk, count: c.width)
        scalerForward(s.p(a.suv), w.suv.map { p + $0 }, c.suv, count: 2 * c.hiddenWidth)
    }
}
