import NGPTNumerics

// The kernels as methods of ``Pass``, each forward directly above its backward. Each checks its
// slots first (`N·width == count`, the widths from its weights or arguments; Pass.swift) and
// runs nothing when one does not fit.

extension Pass {
    // MARK: elementwise

    /// dst = src (equal sizes).
    public func copy(_ dst: Slot, from src: Slot) {
        guard fits(dst, src.count, "copy", "dst", "src's count") else { return }
        timed("copy") { p(dst).update(from: p(src), count: dst.count) }
    }

    /// dst += src (equal sizes).
    public func add(_ dst: Slot, _ src: Slot) {
        guard fits(dst, src.count, "add", "dst", "src's count") else { return }
        timed("add") { addInPlace(p(dst), p(src), count: dst.count) }
    }

    /// s = 0 (any slot: its size is its own).
    public func zero(_ s: Slot) {
        timed("zero") { p(s).update(repeating: 0, count: s.count) }
    }

    // MARK: linear maps

    /// out (N, O) = x (N, I)·Wᵀ, or out += x·Wᵀ with `accumulate` (a residual add).
    public func linear(_ out: Slot, _ x: Slot, _ w: Weight, accumulate: Bool = false) {
        guard fitsRows(x, width: w.columns, "linear", "x"), fitsRows(out, width: w.rows, "linear", "out") else { return }
        timed("linear forward \(w.rows)×\(w.columns)") {
            if let packed = decoder?.packed, rows == 1 {
                packed.product(p(out), p(x), weightOffset: w.offset, weight: params + w.offset, inputs: w.columns,
                               outputs: w.rows, accumulate: accumulate)
                return
            }
            linearForward(p(out), p(x), params + w.offset, rows: rows, inputs: w.columns, outputs: w.rows,
                          beta: accumulate ? 1 : 0)
        }
    }

    /// Backward of ``linear(_:_:_:accumulate:)``: dW += dOutᵀ·x, and dx += dOut·W (written, not
    /// accumulated, when `overwrite`; skipped when `dx` is nil).
    public func linearBackward(dx: Slot?, dOut: Slot, x: Slot, weight w: Weight, overwrite: Bool = false) {
        guard training("linearBackward"), fitsRows(dOut, width: w.rows, "linearBackward", "dOut"),
              fitsRows(x, width: w.columns, "linearBackward", "x"),
              dx.map({ fitsRows($0, width: w.columns, "linearBackward", "dx") }) ?? true else { return }
        linearBackward(dx, dOut, x, w, overwrite: overwrite, weightGradient: true)
    }

    /// The input gradient of ``linear(_:_:_:accumulate:)`` alone: dx = dOut·W (written when
    /// `overwrite`, else accumulated); W's gradient is left alone.
    public func linearInputGradient(dx: Slot, dOut: Slot, weight w: Weight, overwrite: Bool = false) {
        guard training("linearInputGradient"), fitsRows(dOut, width: w.rows, "linearInputGradient", "dOut"),
              fitsRows(dx, width: w.columns, "linearInputGradient", "dx") else { return }
        linearBackward(dx, dOut, dx, w, overwrite: overwrite, weightGradient: false)
    }

    private func linearBackward(_ dx: Slot?, _ dOut: Slot, _ x: Slot, _ w: Weight, overwrite: Bool, weightGradient: Bool) {
        timed("linear backward \(w.rows)×\(w.columns)" + (weightGradient ? "" : " (input only)")) {
            NGPTNumerics.linearBackward(dx.map(p), weightGradient ? grads + w.offset : nil, p(dOut), p(x), params + w.offset,
                                        rows: rows, inputs: w.columns, outputs: w.rows, overwriteInput: overwrite)
        }
    }

    // MARK: normalisation

    /// out = RMSNorm(x)⊙g per row, C = g's length; rstd (N) saved for backward.
    public func rmsNorm(_ out: Slot, rstd: Slot, _ x: Slot, gain g: Weight) {
        let c = g.columns
        guard fitsRows(x, width: c, "rmsNorm", "x"), fitsRows(out, width: c, "rmsNorm", "out"),
              fitsRows(rstd, width: 1, "rmsNorm", "rstd") else { return }
        timed("rmsnorm forward") {
            rmsNormForward(p(out), p(rstd), p(x), params + g.offset, rows: rows, width: c)
        }
    }

    /// Backward of ``rmsNorm(_:rstd:_:gain:)``: dx += ∂/∂x, dg += ∂/∂g.
    public func rmsNormBackward(dx: Slot, dOut: Slot, x: Slot, rstd: Slot, gain g: Weight) {
        let c = g.columns
        guard training("rmsNormBackward"), fitsRows(x, width: c, "rmsNormBackward", "x"),
              fitsRows(dx, width: c, "rmsNormBackward", "dx"), fitsRows(dOut, width: c, "rmsNormBackward", "dOut"),
              fitsRows(rstd, width: 1, "rmsNormBackward", "rstd") else { return }
        timed("rmsnorm backward") {
            NGPTNumerics.rmsNormBackward(p(dx), grads + g.offset, p(dOut), p(x), params + g.offset, p(rstd), rows: rows, width: c)
        }
    }

    /// The normalised LERP residual per row, out = Norm(Norm(x) + α⊙(Norm(h) − Norm(x))),
    /// keeping in `saved` what backward needs; C = α's length. Without `normalize`, the plain
    /// LERP out = x + α⊙(Norm(h) − x) (docs/model.md §8).
    public func lerpResidual(_ out: Slot, _ x: Slot, _ h: Slot, alpha: Slot, saved s: LerpSaved, normalize: Bool = true) {
        let c = alpha.count
        guard fitsRows(x, width: c, "lerpResidual", "x"), fitsRows(h, width: c, "lerpResidual", "h"),
              fitsRows(out, width: c, "lerpResidual", "out"), fitsSaved(s, width: c, "lerpResidual") else { return }
        timed("lerp residual forward") {
            lerpResidualForward(p(out), p(s.rnormX), p(s.hUnit), p(s.rnormH), p(s.rnormZ), p(x), p(h), p(alpha),
                                rows: rows, width: c, normalize: normalize)
        }
    }

    /// Backward of ``lerpResidual(_:_:_:alpha:saved:normalize:)`` (with the same `normalize`):
    /// dx += ∂/∂x, dh += ∂/∂h (written instead with `overwriteDx`, `overwriteDh`: no zeroing
    /// before), dAlpha += ∂/∂α. `scratch` holds N floats.
    public func lerpResidualBackward(dx: Slot, dh: Slot, dAlpha: Slot, dOut: Slot, out: Slot, x: Slot,
                                     alpha: Slot, saved s: LerpSaved, scratch: Slot, normalize: Bool = true,
                                     overwriteDx: Bool = false, overwriteDh: Bool = false) {
        let c = alpha.count
        let m: StaticString = "lerpResidualBackward"
        guard training(m), fitsRows(dx, width: c, m, "dx"), fitsRows(dh, width: c, m, "dh"),
              fits(dAlpha, c, m, "dAlpha", "α's count"), fitsRows(dOut, width: c, m, "dOut"),
              fitsRows(out, width: c, m, "out"), fitsRows(x, width: c, m, "x"), fitsSaved(s, width: c, m),
              fitsRows(scratch, width: 1, m, "scratch") else { return }
        timed("lerp residual backward") {
            NGPTNumerics.lerpResidualBackward(p(dx), p(dh), p(dAlpha), p(dOut), p(out), p(x), p(s.rnormX), p(s.hUnit),
                                              p(s.rnormH), p(s.rnormZ), p(alpha), p(scratch), rows: rows, width: c,
                                              normalize: normalize, overwriteDx: overwriteDx, overwriteDh: overwriteDh)
        }
    }

    private func fitsSaved(_ s: LerpSaved, width c: Int, _ method: StaticString) -> Bool {
        fitsRows(s.rnormX, width: 1, method, "saved.rnormX") && fitsRows(s.hUnit, width: c, method, "saved.hUnit")
            && fitsRows(s.rnormH, width: 1, method, "saved.rnormH") && fitsRows(s.rnormZ, width: 1, method, "saved.rnormZ")
    }

    // MARK: attention

    /// RoPE on the q and k columns of a (N, 3C) q | k | v slot, `heads` heads of the model's
    /// head width dk (C = heads·dk).
    public func rope(_ qkv: Slot, heads: Int) {
        let c = heads * rope.headWidth
        guard fitsRows(qkv, width: 3 * c, "rope", "qkv") else { return }
        timed("rope forward") {
            ropeForward(p(qkv), rope, rows: rows, sequence: sequence, heads: heads, rowStride: 3 * c, blocks: 2, start: position)
        }
    }

    /// Backward of ``rope(_:heads:)`` on the gradient of the q | k | v slot, in place.
    public func ropeBackward(dqkv: Slot, heads: Int) {
        let c = heads * rope.headWidth
        guard training("ropeBackward"), fitsRows(dqkv, width: 3 * c, "ropeBackward", "dqkv") else { return }
        timed("rope backward") {
            NGPTNumerics.ropeBackward(p(dqkv), rope, rows: rows, sequence: sequence, heads: heads, rowStride: 3 * c, blocks: 2)
        }
    }

    /// Per-head q/k normalisation of a (N, 3C) q | k | v slot, in place: q_h, k_h ← s_h ⊙ Norm(·)
    /// (without `normalize`, s_h ⊙ ·), with `scale` the effective s_qk: C floats that serve q and
    /// k, or 2C, q's then k's. RoPE is applied first in the same pass when `rotary`. Saves `unit`
    /// (N, 2C) and `rnorm` (N, 2H).
    public func qkNorm(_ qkv: Slot, unit: Slot, rnorm: Slot, scale: Slot, heads: Int, normalize: Bool = true,
                       rotary: Bool = true) {
        guard let c = width(of: qkv, multiple: 3, heads: heads, "qkNorm", "qkv"),
              fitsRows(unit, width: 2 * c, "qkNorm", "unit"), fitsRows(rnorm, width: 2 * heads, "qkNorm", "rnorm"),
              let kOffset = kScaleOffset(scale, width: c, "qkNorm") else { return }
        timed("qk-norm forward" + (rotary ? " (with rope)" : "")) {
            qkNormForward(p(qkv), p(unit), p(rnorm), p(scale), rows: rows, width: c, heads: heads, rowStride: 3 * c,
                          normalize: normalize, rotary: rotary ? Rotary(table: rope, sequence: sequence, start: position) : nil,
                          kScaleOffset: kOffset)
        }
    }

    /// Backward of ``qkNorm(_:unit:rnorm:scale:heads:normalize:rotary:)`` on the gradient of the
    /// q | k | v slot (its q and k columns are replaced), dScale += ∂/∂s (as large as `scale`).
    public func qkNormBackward(dqkv: Slot, dScale: Slot, unit: Slot, rnorm: Slot, scale: Slot, heads: Int,
                               normalize: Bool = true, rotary: Bool = true) {
        let m: StaticString = "qkNormBackward"
        guard training(m), let c = width(of: dqkv, multiple: 3, heads: heads, m, "dqkv"),
              fitsRows(unit, width: 2 * c, m, "unit"), fitsRows(rnorm, width: 2 * heads, m, "rnorm"),
              let kOffset = kScaleOffset(scale, width: c, m), fits(dScale, scale.count, m, "dScale", "scale's count") else { return }
        timed("qk-norm backward" + (rotary ? " (with rope)" : "")) {
            NGPTNumerics.qkNormBackward(p(dqkv), p(dScale), p(unit), p(rnorm), p(scale), rows: rows, width: c, heads: heads,
                                        rowStride: 3 * c, normalize: normalize,
                                        rotary: rotary ? Rotary(table: rope, sequence: sequence) : nil,
                                        kScaleOffset: kOffset)
        }
    }

    /// Where k's scale starts in a q/k scale of C (shared: 0) or 2C (q's then k's: C) floats;
    /// nil (reported) for any other size.
    private func kScaleOffset(_ scale: Slot, width c: Int, _ method: StaticString) -> Int? {
        if scale.count == c { return 0 }
        if scale.count == 2 * c { return c }
        violated(method, "scale", "has \(scale.count) floats; needs C = \(c) (one scale for q and k) or 2C = \(2 * c)")
        return nil
    }

    /// Causal attention: out (N, C) = softmax(scale·Q·Kᵀ + mask)·V per head, from a (N, 3C)
    /// q | k | v slot. In training the keys and values are the window's own; when decoding, this
    /// position's k and v are appended to layer `layer`'s cache and the query attends to all of
    /// it. `probabilities` comes from ``ActivationPlan/attentionProbabilities(heads:)``.
    public func attention(_ out: Slot, qkv: Slot, probabilities: Slot, heads: Int, scale: Float, layer: Int) {
        guard let c = width(of: out, heads: heads, "attention", "out"), fitsRows(qkv, width: 3 * c, "attention", "qkv"),
              fits(probabilities, decoder == nil ? probabilitiesCount(heads) : 0, "attention", "probabilities",
                   "B·H·scores(T)") else { return }
        timed("attention forward") {
            if let decoder {
                decoder.cache.attend(p(out), qkv: p(qkv), layer: layer, position: decoder.position, width: c, heads: heads, scale: scale)
                return
            }
            attentionForward(p(out), p(probabilities), p(qkv), batch: batch, sequence: sequence, width: c, heads: heads, scale: scale)
        }
    }

    /// Backward of ``attention(_:qkv:probabilities:heads:scale:layer:)``: dqkv += ∂/∂(q | k | v).
    /// `scratch` is as large as `probabilities`.
    public func attentionBackward(dqkv: Slot, scratch: Slot, dOut: Slot, qkv: Slot, probabilities: Slot,
                                  heads: Int, scale: Float) {
        let m: StaticString = "attentionBackward", scores = probabilitiesCount(heads)
        guard training(m), let c = width(of: dOut, heads: heads, m, "dOut"), fitsRows(qkv, width: 3 * c, m, "qkv"),
              fitsRows(dqkv, width: 3 * c, m, "dqkv"), fits(probabilities, scores, m, "probabilities", "B·H·scores(T)"),
              fits(scratch, scores, m, "scratch", "B·H·scores(T)") else { return }
        timed("attention backward") {
            NGPTNumerics.attentionBackward(p(dqkv), p(scratch), p(dOut), p(qkv), p(probabilities), batch: batch, sequence: sequence,
                                           width: c, heads: heads, scale: scale)
        }
    }

    /// Floats of the attention probabilities of `heads` heads over this pass's windows.
    private func probabilitiesCount(_ heads: Int) -> Int { batch * heads * attentionScoresCount(sequence: sequence) }

    // MARK: MLP

    /// out (N, F) = u ⊙ SiLU(ν) from a (N, 2F) u | ν slot, the inputs first multiplied by
    /// `scale`·`multiplier` column-wise when `scale` (2F) is given.
    public func swiglu(_ out: Slot, _ uv: Slot, scale: Slot? = nil, multiplier: Float = 1) {
        guard let f = width(of: out, "swiglu", "out"), fitsRows(uv, width: 2 * f, "swiglu", "uv"),
              scale.map({ fits($0, 2 * f, "swiglu", "scale", "2F") }) ?? true else { return }
        timed("swiglu forward") {
            swigluForward(p(out), p(uv), scale.map(p), multiplier: multiplier, rows: rows, hidden: f)
        }
    }

    /// Backward of ``swiglu(_:_:scale:multiplier:)``: dUV = ∂/∂uv (written when `overwrite`,
    /// else accumulated), dScale += ∂/∂scale; the forward output is recomputed into
    /// `recomputed` (N, F) on the way.
    public func swigluBackward(dUV: Slot, dScale: Slot? = nil, dOut: Slot, uv: Slot, scale: Slot? = nil,
                               multiplier: Float = 1, recomputed: Slot? = nil, overwrite: Bool = false) {
        let m: StaticString = "swigluBackward"
        guard training(m), let f = width(of: dOut, m, "dOut"), fitsRows(uv, width: 2 * f, m, "uv"),
              fitsRows(dUV, width: 2 * f, m, "dUV"), scale.map({ fits($0, 2 * f, m, "scale", "2F") }) ?? true,
              dScale.map({ fits($0, 2 * f, m, "dScale", "2F") }) ?? true,
              recomputed.map({ fitsRows($0, width: f, m, "recomputed") }) ?? true else { return }
        timed("swiglu backward (recomputing h)") {
            NGPTNumerics.swigluBackward(p(dUV), dScale.map(p), p(dOut), p(uv), scale.map(p), multiplier: multiplier, rows: rows,
                                        hidden: f, recomputed: recomputed.map(p), overwrite: overwrite)
        }
    }

    // MARK: scalers and logits

    /// The effective values of a scaler into `out` (`count` floats).
    public func scaler(_ out: Slot, _ s: Scaler) {
        guard fits(out, s.count, "scaler", "out", "the scaler's count") else { return }
        timed("scalers") {
            scalerForward(p(out), s.offset.map { UnsafePointer(params + $0) }, s.config, count: s.count)
        }
    }

    /// Backward of ``scaler(_:_:)``: the stored parameter's gradient += ∂/∂ from dEffective.
    public func scalerBackward(dEffective: Slot, _ s: Scaler) {
        guard training("scalerBackward"), fits(dEffective, s.count, "scalerBackward", "dEffective", "the scaler's count") else { return }
        timed("scalers") {
            NGPTNumerics.scalerBackward(s.offset.map { grads + $0 }, p(dEffective), s.offset.map { UnsafePointer(params + $0) },
                                        s.config, count: s.count)
        }
    }

    /// out (N, V) = x ⊙ scale column-wise (`scale` has V floats).
    public func scaleColumns(_ out: Slot, _ x: Slot, scale: Slot) {
        let v = scale.count
        guard fitsRows(x, width: v, "scaleColumns", "x"), fitsRows(out, width: v, "scaleColumns", "out") else { return }
        timed("logit scale forward") {
            scaleColumnsForward(p(out), p(x), p(scale), rows: rows, columns: v)
        }
    }

    /// Backward of ``scaleColumns(_:_:scale:)``: dx += dOut⊙scale (written instead when
    /// `overwrite`: no zeroing before), dScale += Σ_rows dOut⊙x.
    public func scaleColumnsBackward(dx: Slot, dScale: Slot, dOut: Slot, x: Slot, scale: Slot, overwrite: Bool = false) {
        let v = scale.count, m: StaticString = "scaleColumnsBackward"
        guard training(m), fitsRows(dx, width: v, m, "dx"), fits(dScale, v, m, "dScale", "scale's count"),
              fitsRows(dOut, width: v, m, "dOut"), fitsRows(x, width: v, m, "x") else { return }
        timed("logit scale backward") {
            NGPTNumerics.scaleColumnsBackward(p(dx), p(dScale), p(dOut), p(x), p(scale), rows: rows, columns: v,
                                              overwrite: overwrite)
        }
    }
}
