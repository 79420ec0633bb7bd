/// The baseline pre-norm block (spec §3):
///
///     a = RMSNorm(x)⊙w_att; q, k, v = a·Wᵀ; q, k = RoPE(q), RoPE(k)
///     x = x + Attention(q, k, v; scale 1/√dk)·att_c_projᵀ
///     m = RMSNorm(x)⊙w_mlp; u, ν = m·c_fcᵀ
///     x = x + (u ⊙ SiLU(ν))·mlp_c_projᵀ
struct GPTBlock: TransformerBlock {
    let w: LayerParameterOffsets

    func forward(_ x: FloatPointer, _ out: FloatPointer, _ a: LayerActivations, _ ctx: BlockContext) {
        let c = ctx.config, s = ctx.acts, p = ctx.params
        let (n, d, f, h) = (s.rows, c.width, c.hiddenWidth, c.heads)
        rmsNormForward(s.p(a.attNormed), s.p(a.attRstd), x, p + w.rmsAtt!, rows: n, width: d)
        linearForward(s.p(a.qkv), s.p(a.attNormed), p + w.qkv, rows: n, inputs: d, outputs: 3 * d)
        ropeForward(s.p(a.qkv), ctx.rope, rows: n, sequence: s.sequence, heads: h, rowStride: 3 * d, blocks: 2)
        attentionForward(s.p(a.attY), s.p(a.probs), s.p(a.qkv), batch: s.batch, sequence: s.sequence,
                         width: d, heads: h, scale: 1 / Float(c.headWidth).squareRoot())
        s.p(a.xMid).update(from: x, count: n * d)
        linearForward(s.p(a.xMid), s.p(a.attY), p + w.attProj, rows: n, inputs: d, outputs: d, beta: 1)
        rmsNormForward(s.p(a.mlpNormed), s.p(a.mlpRstd), s.p(a.xMid), p + w.rmsMlp!, rows: n, width: d)
        linearForward(s.p(a.uv), s.p(a.mlpNormed), p + w.fc, rows: n, inputs: d, outputs: 2 * f)
        swigluForward(s.p(s.hidden), s.p(a.uv), nil, multiplier: 1, rows: n, hidden: f)
        out.update(from: s.p(a.xMid), count: n * d)
        linearForward(out, s.p(s.hidden), p + w.mlpProj, rows: n, inputs: f, outputs: d, beta: 1)
    }

    func backward(_ dout: FloatPointer, _ dx: FloatPointer, _ x: FloatPointer, _ out: FloatPointer,
                  _ a: LayerActivations, _ ctx: BlockContext) {
        let c = ctx.config, s = ctx.acts, p = ctx.params, g = ctx.grads
        let (n, d, f, h) = (s.rows, c.width, c.hiddenWidth, c.heads)
        let dXMid = s.p(s.dXMid), dNormed = s.p(s.dNormed), hidden = s.p(s.hidden), dh = s.p(s.dh), duv = s.p(s.duv)
        // out = xMid + h·mlp_c_projᵀ; h is not kept per layer: swiglu's backward recomputes it
        dXMid.update(from: dout, count: n * d)
        linearBackward(dh, nil, dout, hidden, p + w.mlpProj, rows: n, inputs: f, outputs: d, overwriteInput: true)
        // h = u ⊙ SiLU(ν)
        swigluBackward(duv, nil, dh, s.p(a.uv), nil, multiplier: 1, rows: n, hidden: f,
                       recomputed: hidden, overwrite: true)
        linearBackward(nil, g + w.mlpProj, dout, hidden, p + w.mlpProj, rows: n, inputs: f, outputs: d)
        // u, ν = m·c_fcᵀ
        linearBackward(dNormed, g + w.fc, duv, s.p(a.mlpNormed), p + w.fc, rows: n, inputs: d, outputs: 2 * f,
                       overwriteInput: true)
        // m = RMSNorm(xMid)⊙w_mlp
        rmsNormBackward(dXMid, g + w.rmsMlp!, dNormed, s.p(a.xMid), p + w.rmsMlp!, s.p(a.mlpRstd), rows: n, width: d)
        // xMid = x + attY·att_c_projᵀ
        addInPlace(dx, dXMid, count: n * d)
        let dAttY = s.p(s.dAttY), dqkv = s.p(s.dqkv)
        linearBackward(dAttY, g + w.attProj, dXMid, s.p(a.attY), p + w.attProj, rows: n, inputs: d, outputs: d,
                       overwriteInput: true)
        // attY = Attention(q, k, v)
        dqkv.update(repeating: 0, count: n * 3 * d)
        attentionBackward(dqkv, s.p(s.dprobs), dAttY, s.p(a.qkv), s.p(a.probs), batch: s.batch,
                          sequence: s.sequence, width: d, heads: h, scale: 1 / Float(c.headWidth).squareRoot())
        // q, k = RoPE(q), RoPE(k)
        ropeBackward(dqkv, ctx.rope, rows: n, sequence: s.sequence, heads: h, rowStride: 3 * d, blocks: 2)
        // q, k, v = a·Wᵀ
        linearBackward(dNormed, g + w.qkv, dqkv, s.p(a.attNormed), p + w.qkv, rows: n, inputs: d, outputs: 3 * d,
                       overwriteInput: true)
        // a = RMSNorm(x)⊙w_att
        rmsNormBackward(dx, g + w.rmsAtt!, dNormed, x, p + w.rmsAtt!, s.p(a.attRstd), rows: n, width: d)
    }
}
