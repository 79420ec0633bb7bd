import Dispatch
import NGPTNumerics

// The vocabulary blocks are written in: activation slots, parameter handles, and ``Pass``, whose
// methods are the kernels. A block never sees a pointer; the pass turns slots and weights into
// the kernels' pointers, so the same block code runs a training window (with backward) and a
// decoding step against a key/value cache.

/// A tensor of one pass's activations: `count` floats of the pass's buffer, usually `(N, width)`
/// with `N` the pass's ``Pass/rows``. Reserved from an ``ActivationPlan``.
public struct Slot: Sendable, Equatable {
    let id: Int
    let start: Int
    /// Floats in the slot.
    public let count: Int

    /// Floats `start..<start + count` of this slot (for example `u` of a `u | ν` buffer).
    public func part(_ start: Int, _ count: Int) -> Slot {
        precondition(start >= 0 && count >= 0 && start + count <= self.count, "part \(start)..<\(start + count) of a slot of \(self.count)")
        return Slot(id: id, start: self.start + start, count: count)
    }
}

/// A parameter matrix `(rows, columns)` in PyTorch's `(out, in)` layout (or several adjacent
/// ones read as one, such as query | key | value), as the operand of a linear map.
public struct Weight: Sendable, Equatable {
    let offset: Int
    public let rows: Int
    public let columns: Int
}

/// A learnable scaler (or a fixed one: no parameter) and how its stored values map to the
/// effective ones (``/NGPTNumerics/ScalerConfig``), for `count` dimensions.
public struct Scaler: Sendable, Equatable {
    let offset: Int?
    public let config: ScalerConfig
    public let count: Int
}

extension ParameterLayout {
    /// The matrix called `name`.
    public func weight(_ name: String) -> Weight { weight(fusing: [name]) }

    /// Adjacent matrices with equal columns read as one, rows stacked in order (q | k | v).
    public func weight(fusing names: [String]) -> Weight {
        let entries = names.map { n -> ParameterEntry in
            guard let e = entry(n) else { preconditionFailure("no parameter named \(n)") }
            precondition(e.shape.count == 2, "\(n) is not a matrix")
            return e
        }
        for (a, b) in zip(entries, entries.dropFirst()) {
            precondition(b.offset == a.offset + a.count && b.shape[1] == a.shape[1], "\(a.name) and \(b.name) are not adjacent matrices of equal width")
        }
        return Weight(offset: entries[0].offset, rows: entries.reduce(0) { $0 + $1.shape[0] }, columns: entries[0].shape[1])
    }

    /// The vector called `name` (an RMSNorm gain, say) as a one-row weight.
    public func vector(_ name: String) -> Weight {
        guard let e = entry(name) else { preconditionFailure("no parameter named \(name)") }
        return Weight(offset: e.offset, rows: 1, columns: e.count)
    }

    /// The scaler called `name` with `count` effective dimensions; a fixed scaler has no entry.
    public func scaler(_ name: String, _ config: ScalerConfig, count: Int) -> Scaler {
        let offset = entry(name)?.offset
        precondition((offset == nil) == (config.mode == .fixed), "scaler \(name): layout and configuration disagree")
        return Scaler(offset: offset, config: config, count: count)
    }
}

/// Reserves the activations of one pass shape: what each block keeps from forward for backward
/// (``reserve(_:)``), and scratch that every layer reuses (``shared(_:_:)``). Offsets are fixed
/// when the pass is built, so nothing is allocated per step.
public struct ActivationPlan {
    /// Sequences in the pass (1 when decoding).
    public let batch: Int
    /// Positions per sequence (1 when decoding: one new position at a time).
    public let sequence: Int
    /// `N = batch · sequence`.
    public var rows: Int { batch * sequence }
    /// True for a decoding pass: attention reads a key/value cache, and no backward runs.
    public let decoding: Bool
    /// The model's configuration.
    public let config: ModelConfig

    var sizes: [Int] = []
    var sharedID: [String: Int] = [:]

    init(config: ModelConfig, batch: Int, sequence: Int, decoding: Bool) {
        self.config = config
        self.batch = batch
        self.sequence = sequence
        self.decoding = decoding
    }

    /// A slot of its own, `count` floats.
    public mutating func reserve(_ count: Int) -> Slot {
        sizes.append(count)
        return Slot(id: sizes.count - 1, start: 0, count: count)
    }

    /// `(N, width)` of its own.
    public mutating func rows(_ width: Int) -> Slot { reserve(rows * width) }

    /// Scratch shared by every caller that asks for `name`; as large as the largest request
    /// (the slot returned has the requested size).
    public mutating func shared(_ name: String, _ count: Int) -> Slot {
        if let id = sharedID[name] {
            sizes[id] = max(sizes[id], count)
            return Slot(id: id, start: 0, count: count)
        }
        sizes.append(count)
        sharedID[name] = sizes.count - 1
        return Slot(id: sizes.count - 1, start: 0, count: count)
    }

    /// What causal attention keeps for backward: the probabilities of `heads` heads over the
    /// window (nothing when decoding: the cache holds its own scores).
    public mutating func attentionProbabilities(heads: Int) -> Slot {
        reserve(decoding ? 0 : batch * heads * attentionScoresCount(sequence: sequence))
    }
}

/// One forward (and backward) pass of a fixed shape: the activation buffer, the model's
/// parameters and gradients, and the kernels as methods on slots and weights.
///
/// Shapes follow the kernels' legend: `N` rows, `C` the width of a slot's rows (its count / N).
/// Forward methods write their outputs; backward methods accumulate (`+=`) into parameter
/// gradients and into the input gradients they document.
public final class Pass {
    public let batch: Int, sequence: Int, rows: Int
    public let decoding: Bool
    let buffer: FloatBuffer
    let offsets: [Int]
    let params: FloatPointer, grads: FloatPointer
    var rope: RoPETable
    /// Decoding: the position of the row being decoded, and the caches attention reads.
    var position = 0
    var cache: KeyValueCache?
    /// Decoding with bfloat16 weights: packed copies of the matrices, by parameter offset.
    var packed: BFloat16Weights?

    init(plan: ActivationPlan, parameters: ParameterBuffer, gradients: ParameterBuffer, rope: RoPETable) {
        batch = plan.batch
        sequence = plan.sequence
        rows = plan.rows
        decoding = plan.decoding
        var offsets = [Int](), total = 0
        for size in plan.sizes {
            offsets.append(total)
            total += size
        }
        self.offsets = offsets
        buffer = FloatBuffer(count: total)
        params = parameters.base
        grads = gradients.base
        self.rope = rope
    }

    /// Floats of activations this pass holds.
    public var activationCount: Int { buffer.count }

    /// Time per kernel while the model is profiled (``ModelBenchmark/kernelTimings(_:batch:repeats:)``).
    var profile: KernelProfile?

    /// Runs `body`, adding its time to the profile under `name` when profiling.
    @inline(__always) func timed(_ name: @autoclosure () -> String, _ body: () -> Void) {
        guard let profile else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        profile.add(name(), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    @inline(__always) func p(_ s: Slot) -> FloatPointer { buffer.base + offsets[s.id] + s.start }
    @inline(__always) func width(_ s: Slot) -> Int { s.count / rows }

    /// A copy of a slot's values.
    public func values(_ s: Slot) -> [Float] { Array(UnsafeBufferPointer(start: p(s), count: s.count)) }

    // MARK: elementwise

    /// dst = src.
    public func copy(_ dst: Slot, from src: Slot) {
        timed("copy") {
            precondition(dst.count == src.count, "copy of \(src.count) floats into \(dst.count)")
            p(dst).update(from: p(src), count: dst.count)
        }
    }

    /// dst += src.
    public func add(_ dst: Slot, _ src: Slot) {
        timed("add") {
            precondition(dst.count == src.count, "adding \(src.count) floats to \(dst.count)")
            addInPlace(p(dst), p(src), count: dst.count)
        }
    }

    /// s = 0.
    public func zero(_ s: Slot) {
        timed("zero") { p(s).update(repeating: 0, count: s.count) }
    }

    // MARK: linear maps

    /// out (N, O) = x (N, I)·Wᵀ, or out += x·Wᵀ with `accumulate` (a residual add).
    public func linear(_ out: Slot, _ x: Slot, _ w: Weight, accumulate: Bool = false) {
        timed("linear forward \(w.rows)×\(w.columns)") {
            precondition(x.count == rows * w.columns && out.count == rows * w.rows, "linear: (\(rows), \(w.columns))·(\(w.rows), \(w.columns))ᵀ does not fit slots of \(x.count) and \(out.count)")
            if let packed, rows == 1 {
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
    public func linearBackward(_ dx: Slot?, _ dOut: Slot, _ x: Slot, _ w: Weight, overwrite: Bool = false) {
        linearBackward(dx, dOut, x, w, overwrite: overwrite, weightGradient: true)
    }

    /// The input gradient alone (dx = dOut·W, or += without `overwrite`).
    public func linearInputGradient(_ dx: Slot, _ dOut: Slot, _ w: Weight, overwrite: Bool = false) {
        linearBackward(dx, dOut, dx, w, overwrite: overwrite, weightGradient: false)
    }

    private func linearBackward(_ dx: Slot?, _ dOut: Slot, _ x: Slot, _ w: Weight, overwrite: Bool, weightGradient: Bool) {
        timed("linear backward \(w.rows)×\(w.columns)" + (weightGradient ? "" : " (input only)")) {
        NGPTNumerics.linearBackward(dx.map(p), weightGradient ? grads + w.offset : nil, p(dOut), p(x), params + w.offset,
                            rows: rows, inputs: w.columns, outputs: w.rows, overwriteInput: overwrite)
        }
    }

    // MARK: normalisation

    /// out = RMSNorm(x)⊙g per row; rstd (N) saved for backward.
    public func rmsNorm(_ out: Slot, rstd: Slot, _ x: Slot, gain g: Weight) {
        timed("rmsnorm forward") {
            rmsNormForward(p(out), p(rstd), p(x), params + g.offset, rows: rows, width: width(x))
        }
    }

    /// Backward of ``rmsNorm(_:rstd:_:gain:)``: dx += ∂/∂x, dg += ∂/∂g.
    public func rmsNormBackward(_ dx: Slot, _ dOut: Slot, _ x: Slot, rstd: Slot, gain g: Weight) {
        timed("rmsnorm backward") {
            NGPTNumerics.rmsNormBackward(p(dx), grads + g.offset, p(dOut), p(x), params + g.offset, p(rstd), rows: rows, width: width(x))
        }
    }

    /// The normalised LERP residual per row, out = Norm(Norm(x) + α⊙(Norm(h) − Norm(x))),
    /// keeping in `saved` what backward needs. Without `normalize`, the plain LERP
    /// out = x + α⊙(Norm(h) − x) (docs/model.md §8).
    public func lerpResidual(_ out: Slot, _ x: Slot, _ h: Slot, alpha: Slot, saved s: LerpSaved, normalize: Bool = true) {
        timed("lerp residual forward") {
            lerpResidualForward(p(out), p(s.rnormX), p(s.hUnit), p(s.rnormH), p(s.rnormZ), p(x), p(h), p(alpha),
                                rows: rows, width: width(x), normalize: normalize)
        }
    }

    /// Backward of ``lerpResidual(_:_:_:alpha:saved:normalize:)`` (with the same `normalize`):
    /// dx += ∂/∂x, dh += ∂/∂h, dAlpha += ∂/∂α. `scratch` holds N floats.
    public func lerpResidualBackward(_ dx: Slot, _ dh: Slot, dAlpha: Slot, _ dOut: Slot, _ out: Slot, _ x: Slot,
                                     alpha: Slot, saved s: LerpSaved, scratch: Slot, normalize: Bool = true) {
        timed("lerp residual backward") {
            NGPTNumerics.lerpResidualBackward(p(dx), p(dh), p(dAlpha), p(dOut), p(out), p(x), p(s.rnormX), p(s.hUnit),
                                      p(s.rnormH), p(s.rnormZ), p(alpha), p(scratch), rows: rows, width: width(x),
                                      normalize: normalize)
        }
    }

    // MARK: attention

    /// RoPE on the q and k columns of a (N, 3C) q | k | v slot, `heads` heads.
    public func rope(_ qkv: Slot, heads: Int) {
        timed("rope forward") {
            let c = width(qkv) / 3
            ropeForward(p(qkv), rope, rows: rows, sequence: sequence, heads: heads, rowStride: 3 * c, blocks: 2, start: position)
        }
    }

    /// Backward of ``rope(_:heads:)`` on the gradient of the q | k | v slot, in place.
    public func ropeBackward(_ dqkv: Slot, heads: Int) {
        timed("rope backward") {
            let c = width(dqkv) / 3
            NGPTNumerics.ropeBackward(p(dqkv), rope, rows: rows, sequence: sequence, heads: heads, rowStride: 3 * c, blocks: 2)
        }
    }

    /// Per-head q/k normalisation of a (N, 3C) q | k | v slot, in place: q_h, k_h ← s_h ⊙ Norm(·)
    /// (without `normalize`, s_h ⊙ ·), with `scale` the effective s_qk: C floats that serve q and
    /// k, or 2C, q's then k's. RoPE is applied first in the same pass when `rotary`. Saves `unit`
    /// (N, 2C) and `rnorm` (N, 2H).
    public func qkNorm(_ qkv: Slot, unit: Slot, rnorm: Slot, scale: Slot, heads: Int, normalize: Bool = true,
                       rotary: Bool = true) {
        timed("qk-norm forward" + (rotary ? " (with rope)" : "")) {
            let c = width(qkv) / 3
            qkNormForward(p(qkv), p(unit), p(rnorm), p(scale), rows: rows, width: c, heads: heads, rowStride: 3 * c,
                          normalize: normalize, rotary: rotary ? Rotary(table: rope, sequence: sequence, start: position) : nil,
                          kScaleOffset: kScaleOffset(scale, width: c))
        }
    }

    /// Backward of ``qkNorm(_:unit:rnorm:scale:heads:normalize:rotary:)`` on the gradient of the
    /// q | k | v slot (its q and k columns are replaced), dScale += ∂/∂s (as large as `scale`).
    public func qkNormBackward(_ dqkv: Slot, dScale: Slot, unit: Slot, rnorm: Slot, scale: Slot, heads: Int,
                               normalize: Bool = true, rotary: Bool = true) {
        timed("qk-norm backward" + (rotary ? " (with rope)" : "")) {
            let c = width(dqkv) / 3
            precondition(dScale.count == scale.count, "qk-norm: the gradient of a scale of \(scale.count) has \(dScale.count) floats")
            NGPTNumerics.qkNormBackward(p(dqkv), p(dScale), p(unit), p(rnorm), p(scale), rows: rows, width: c, heads: heads,
                                rowStride: 3 * c, normalize: normalize,
                                rotary: rotary ? Rotary(table: rope, sequence: sequence) : nil,
                                kScaleOffset: kScaleOffset(scale, width: c))
        }
    }

    /// Where k's scale starts in a q/k scale of C (shared: 0) or 2C (q's then k's: C) floats.
    private func kScaleOffset(_ scale: Slot, width c: Int) -> Int {
        precondition(scale.count == c || scale.count == 2 * c, "qk-norm: a scale of \(scale.count) floats for width \(c); give \(c) or \(2 * c)")
        return scale.count == c ? 0 : c
    }

    /// Causal attention: out (N, C) = softmax(scale·Q·Kᵀ + mask)·V per head, from a (N, 3C)
    /// q | k | v slot. In training the keys and values are the window's own; when decoding, this
    /// position's k and v are appended to layer `layer`'s cache and the query attends to all of
    /// it. `probabilities` comes from ``ActivationPlan/attentionProbabilities(heads:)``.
    public func attention(_ out: Slot, qkv: Slot, probabilities: Slot, heads: Int, scale: Float, layer: Int) {
        timed("attention forward") {
            let c = width(out)
            if let cache {
                cache.attend(p(out), qkv: p(qkv), layer: layer, position: position, width: c, heads: heads, scale: scale)
                return
            }
            attentionForward(p(out), p(probabilities), p(qkv), batch: batch, sequence: sequence, width: c, heads: heads, scale: scale)
        }
    }

    /// Backward of ``attention(_:qkv:probabilities:heads:scale:layer:)``: dqkv += ∂/∂(q | k | v).
    /// `scratch` is as large as `probabilities`.
    public func attentionBackward(_ dqkv: Slot, scratch: Slot, _ dOut: Slot, qkv: Slot, probabilities: Slot,
                                  heads: Int, scale: Float) {
        timed("attention backward") {
            precondition(cache == nil, "a decoding pass has no backward")
            NGPTNumerics.attentionBackward(p(dqkv), p(scratch), p(dOut), p(qkv), p(probabilities), batch: batch, sequence: sequence,
                                   width: width(dOut), heads: heads, scale: scale)
        }
    }

    // MARK: MLP

    /// out (N, F) = u ⊙ SiLU(ν) from a (N, 2F) u | ν slot, the inputs first multiplied by
    /// `scale`·`multiplier` column-wise when `scale` (2F) is given.
    public func swiglu(_ out: Slot, _ uv: Slot, scale: Slot? = nil, multiplier: Float = 1) {
        timed("swiglu forward") {
            swigluForward(p(out), p(uv), scale.map(p), multiplier: multiplier, rows: rows, hidden: width(out))
        }
    }

    /// Backward of ``swiglu(_:_:scale:multiplier:)``: dUV = ∂/∂uv (written when `overwrite`,
    /// else accumulated), dScale += ∂/∂scale; the forward output is recomputed into
    /// `recomputed` (N, F) on the way.
    public func swigluBackward(_ dUV: Slot, dScale: Slot? = nil, _ dOut: Slot, _ uv: Slot, scale: Slot? = nil,
                               multiplier: Float = 1, recomputed: Slot? = nil, overwrite: Bool = false) {
        timed("swiglu backward (recomputing h)") {
            NGPTNumerics.swigluBackward(p(dUV), dScale.map(p), p(dOut), p(uv), scale.map(p), multiplier: multiplier, rows: rows,
                                hidden: width(dOut), recomputed: recomputed.map(p), overwrite: overwrite)
        }
    }

    // MARK: scalers and logits

    /// The effective values of a scaler into `out` (`count` floats).
    public func scaler(_ out: Slot, _ s: Scaler) {
        timed("scalers") {
            precondition(out.count == s.count, "scaler of \(s.count) into a slot of \(out.count)")
            scalerForward(p(out), s.offset.map { UnsafePointer(params + $0) }, s.config, count: s.count)
        }
    }

    /// Backward of ``scaler(_:_:)``: the stored parameter's gradient += ∂/∂ from dEffective.
    public func scalerBackward(_ dEffective: Slot, _ s: Scaler) {
        timed("scalers") {
            NGPTNumerics.scalerBackward(s.offset.map { grads + $0 }, p(dEffective), s.offset.map { UnsafePointer(params + $0) },
                                s.config, count: s.count)
        }
    }

    /// out (N, V) = x ⊙ scale column-wise (`scale` has V floats).
    public func scaleColumns(_ out: Slot, _ x: Slot, scale: Slot) {
        timed("logit scale forward") {
            scaleColumnsForward(p(out), p(x), p(scale), rows: rows, columns: scale.count)
        }
    }

    /// Backward of ``scaleColumns(_:_:scale:)``: dx += dOut⊙scale, dScale += Σ_rows dOut⊙x.
    public func scaleColumnsBackward(_ dx: Slot, dScale: Slot, _ dOut: Slot, _ x: Slot, scale: Slot) {
        timed("logit scale backward") {
            NGPTNumerics.scaleColumnsBackward(p(dx), p(dScale), p(dOut), p(x), p(scale), rows: rows, columns: scale.count)
        }
    }
}

/// What ``Pass/lerpResidual(_:_:_:alpha:saved:normalize:)`` keeps for backward: 1/‖x‖, Norm(h), 1/‖h‖ and
/// 1/‖z‖ per row.
public struct LerpSaved: Sendable {
    public let rnormX: Slot, hUnit: Slot, rnormH: Slot, rnormZ: Slot

    /// Reserves the four slots for rows of `width`.
    public init(_ plan: inout ActivationPlan, width: Int) {
        rnormX = plan.rows(1)
        hUnit = plan.rows(width)
        rnormH = plan.rows(1)
        rnormZ = plan.rows(1)
    }
}

/// Keys and values of every layer for the positions decoded so far, (window, C) per layer.
final class KeyValueCache {
    let window: Int, width: Int
    let buffer: FloatBuffer
    private let perLayer: Int

    init(layers: Int, window: Int, width: Int) {
        self.window = window
        self.width = width
        perLayer = 2 * window * width
        buffer = FloatBuffer(count: layers * perLayer + window)
    }

    /// Stores this position's k, v (from the rotated, normalised q | k | v row) and attends.
    func attend(_ out: FloatPointer, qkv: FloatPointer, layer: Int, position: Int, width c: Int, heads: Int, scale: Float) {
        precondition(position < window && c == width, "position \(position) outside the cache")
        let keys = buffer.base + layer * perLayer, values = keys + window * c, scores = buffer.base + buffer.count - window
        (keys + position * c).update(from: qkv + c, count: c)
        (values + position * c).update(from: qkv + 2 * c, count: c)
        cachedAttentionForward(out, qkv, keys, values, scores, length: position + 1, width: c, heads: heads, scale: scale)
    }
}

/// bfloat16 copies of a model's matrices for decoding (``DecodingPrecision/bfloat16``): each
/// matrix is packed the first time a product reads it after ``invalidate()``.
final class BFloat16Weights {
    private var packed: [Int: UnsafeMutablePointer<UInt32>] = [:]
    private let split: FloatBuffer, sum: FloatBuffer

    init(maxWidth: Int) {
        split = FloatBuffer(count: maxWidth)
        sum = FloatBuffer(count: maxWidth)
    }

    deinit { invalidate() }

    /// Forgets the copies (the weights changed).
    func invalidate() {
        for (_, p) in packed { p.deallocate() }
        packed.removeAll()
    }

    /// out (O) = W·x from the bfloat16 copy of W, or out += W·x.
    func product(_ out: FloatPointer, _ x: FloatPointer, weightOffset: Int, weight: FloatPointer, inputs i: Int,
                 outputs o: Int, accumulate: Bool) {
        let words: UnsafeMutablePointer<UInt32>
        if let w = packed[weightOffset] { words = w } else {
            words = .allocate(capacity: max(1, i * o / 2))
            packBFloat16Pairs(words, weight, count: i * o)
            packed[weightOffset] = words
        }
        let target = accumulate ? sum.base : out
        linearRowBFloat16(target, x, words, split.base, inputs: i, outputs: o)
        if accumulate { addInPlace(out, target, count: o) }
    }
}

/// Seconds and calls per kernel name, in the order first seen.
final class KernelProfile {
    private(set) var names: [String] = []
    private(set) var totals: [String: (seconds: Double, calls: Int)] = [:]

    func add(_ name: String, seconds: Double) {
        if totals[name] == nil { names.append(name) }
        totals[name, default: (0, 0)].seconds += seconds
        totals[name, default: (0, 0)].calls += 1
    }
}
