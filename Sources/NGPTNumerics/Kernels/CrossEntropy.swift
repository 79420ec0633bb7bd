import Foundation

/// Column scaling of a (N, V) buffer: out = inp ⊙ scale (nGPT's logits ⊙ s_z). Rows run in
/// parallel.
package func scaleColumnsForward(_ out: FloatPointer, _ inp: ConstFloatPointer, _ scale: ConstFloatPointer,
                         rows n: Int, columns v: Int) {
    Threads.parallelRanges(n, minimum: minimumRows(width: v)) { rows in
        for r in rows {
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                store(load(inp + r * v + j, k) * load(scale + j, k), out + r * v + j, k)
            }
            vectorLoop(v, lanes)
        }
    }
}

/// Backward of `out = inp ⊙ scale`: dinp += dout⊙scale (written instead with `overwrite`),
/// dscale += Σ_rows dout⊙inp. Runs in parallel over blocks of columns, each summing rows in order.
package func scaleColumnsBackward(_ dinp: FloatPointer, _ dscale: FloatPointer, _ dout: ConstFloatPointer,
                          _ inp: ConstFloatPointer, _ scale: ConstFloatPointer, rows n: Int, columns v: Int,
                          overwrite: Bool = false) {
    Threads.parallelRanges(v, minimum: max(16, 8192 / max(1, n)), alignment: 16) { columns in
        let (j0, w) = (columns.lowerBound, columns.count)
        for r in 0..<n {
            let g = dout + r * v + j0, x = inp + r * v + j0, dx = dinp + r * v + j0
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                let gj = load(g + j, k)
                let d = gj * load(scale + j0 + j, k)
                store(overwrite ? d : load(dx + j, k) + d, dx + j, k)
                store(load(dscale + j0 + j, k) + gj * load(x + j, k), dscale + j0 + j, k)
            }
            vectorLoop(w, lanes)
        }
    }
}

/// Cross-entropy per row: losses (N) = logsumexp(logits_r) − logits_r[target_r]; the softmax
/// probabilities go to `probs` (N, V). Returns the mean loss (accumulated in Double, in row
/// order). Rows run in parallel.
package func crossEntropyForward(_ losses: FloatPointer, _ probs: FloatPointer, _ logits: ConstFloatPointer,
                         _ targets: UnsafePointer<Int32>, rows n: Int, vocabulary v: Int) -> Float {
    Threads.parallelRanges(n, minimum: minimumRows(width: 4 * v)) { rows in
        @inline(__always) func loss(_ r: Int, _ m: (max: Float, sum: Float)) {
            losses[r] = logf(m.sum) + m.max - logits[r * v + Int(targets[r])]
        }
        @inline(__always) func row(_ r: Int) -> SoftmaxRow { SoftmaxRow(probs + r * v, logits + r * v, count: v, room: v) }
        @inline(__always) func two(_ r: Int, _ q: Int) {
            let (a, b) = softmaxPair(row(r), row(q))
            loss(r, a)
            loss(q, b)
        }
        @inline(__always) func one(_ r: Int) { loss(r, softmax(probs + r * v, logits + r * v, count: v)) }
        inPairs(rows, two, one)
    }
    var total = 0.0
    for r in 0..<n { total += Double(losses[r]) }
    return Float(total / Double(n))
}

/// Backward of the mean loss over N rows, in place on `probs` (which becomes dlogits):
/// dlogits = (softmax − onehot(target)) · dloss / N. Rows run in parallel.
package func crossEntropyBackward(_ probs: FloatPointer, _ targets: UnsafePointer<Int32>, dloss: Float,
                          rows n: Int, vocabulary v: Int) {
    let f = dloss / Float(n)
    Threads.parallelRanges(n, minimum: minimumRows(width: v)) { rows in
        for r in rows {
            let p = probs + r * v
            p[Int(targets[r])] -= 1
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                store(load(p + j, k) * f, p + j, k)
            }
            vectorLoop(v, lanes)
        }
    }
}

/// out[0..<count] = softmax(inp[0..<count]); `out` may be `inp`. Returns the row's maximum and
/// Σ e^(inp − max), from which logsumexp = max + log(sum). Where `room` > `count` floats of both
/// rows may be read and written, the last vector is read whole with its extra lanes masked, and
/// zeros are written to them: the same values as shorter loads and stores, in fewer instructions.
@inline(__always) package func softmax(_ out: FloatPointer, _ inp: ConstFloatPointer, count n: Int,
                                       room: Int? = nil) -> (max: Float, sum: Float) {
    let row = SoftmaxRow(out, inp, count: n, room: room ?? n)
    let mx = row.maximum(), sum = row.exponentials(mx)
    row.scale(1 / sum)
    return (mx, sum)
}

/// Two rows' softmax (``softmax(_:_:count:room:)`` of each, the same values), stage by stage:
/// a row's stages wait on each other (maximum, then the sum of exponentials, then its inverse),
/// and the other row's work fills those waits. Attention's rows of 1–128 keys take a fifth less
/// time this way. Returns each row's maximum and sum.
@discardableResult @inline(__always)
package func softmaxPair(_ a: SoftmaxRow, _ b: SoftmaxRow) -> (a: (max: Float, sum: Float), b: (max: Float, sum: Float)) {
    let (ma, mb) = (a.maximum(), b.maximum())
    let (sa, sb) = (a.exponentials(ma), b.exponentials(mb))
    a.scale(1 / sa)
    b.scale(1 / sb)
    return ((ma, sa), (mb, sb))
}

/// Runs `pair(i, i + 1)` over `range` two indices at a time, then `single(i)` for the last one
/// when the count is odd (rows of ``softmaxPair``). Pass nested `@inline(__always)` functions,
/// as to ``vectorLoop(_:width:_:)``.
@inline(__always) func inPairs(_ range: Range<Int>, _ pair: (Int, Int) -> Void, _ single: (Int) -> Void) {
    var i = range.lowerBound
    while i + 1 < range.upperBound {
        pair(i, i + 1)
        i += 2
    }
    if i < range.upperBound { single(i) }
}

/// One row of a softmax in its three passes: the maximum, the exponentials e^(x − max) written
/// to `out` with their sum, then `out` scaled by the sum's inverse.
package struct SoftmaxRow {
    let out: FloatPointer, inp: ConstFloatPointer, room: Int, whole: Int, rest: Int
    /// Lanes past the end are padded with −1e30 (not −∞, which `exp` does not take):
    /// e^(−1e30 − max) = 0.
    static let padding: Float = -1e30

    /// `count` floats of `inp` into `out` (which may be `inp`); `room` ≥ `count` as in
    /// ``softmax(_:_:count:room:)``.
    @inline(__always) package init(_ out: FloatPointer, _ inp: ConstFloatPointer, count n: Int, room: Int) {
        self.out = out
        self.inp = inp
        self.room = room
        whole = n / Vec.scalarCount * Vec.scalarCount
        rest = n - whole
    }

    @inline(__always) private func put(_ v: Vec, _ p: FloatPointer) {
        if room - whole >= Vec.scalarCount { store(v, p) } else { store(v, p, rest) }
    }

    @inline(__always) private func last() -> Vec { tail(inp + whole, rest, room - whole, padding: Self.padding) }

    /// The largest input. Its eight lanes are compared in order in registers (`SIMD.max()` is a
    /// call into the standard library); a NaN input makes every output NaN whichever lane wins.
    @inline(__always) func maximum() -> Float {
        var m = Vec(repeating: Self.padding)
        for j in stride(from: 0, to: whole, by: Vec.scalarCount) {
            let x = load(inp + j)
            m = select(lessMask(m, x), x, m)
        }
        if rest > 0 {
            let x = last()
            m = select(lessMask(m, x), x, m)
        }
        var mx = m[0]
        for i in 1..<Vec.scalarCount where m[i] > mx { mx = m[i] }
        return mx
    }

    /// Writes e^(x − mx) and returns their sum: sixteen exponentials at a time, added into the
    /// eight lanes as two eight-lane vectors would be (the same sum; `exp` costs most here).
    @inline(__always) func exponentials(_ mx: Float) -> Float {
        var s = Vec(), j = 0
        while j + 16 <= whole {
            let e = exp(load(inp + j, as: Vec16.self) - mx)
            s += e.lowHalf
            s += e.highHalf
            store(e, out + j)
            j += 16
        }
        if j < whole {
            let e = exp(load(inp + j) - mx)
            s += e
            store(e, out + j)
        }
        if rest > 0 {
            let e = exp(last() - mx)
            s += e
            put(e, out + whole)
        }
        return s.sum()
    }

    /// out ·= `inverse`.
    @inline(__always) func scale(_ inverse: Float) {
        var j = 0
        while j + 16 <= whole {
            store(load(out + j, as: Vec16.self) * inverse, out + j)
            j += 16
        }
        if j < whole { store(load(out + j) * inverse, out + j) }
        if rest > 0 { put(load(out + whole, rest) * inverse, out + whole) }
    }
}
