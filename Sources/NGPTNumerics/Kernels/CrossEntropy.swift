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
        for r in rows {
            let l = logits + r * v, p = probs + r * v
            let sum = softmax(p, l, count: v)
            losses[r] = logf(sum.sum) + sum.max - l[Int(targets[r])]
        }
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
    // Lanes past the end are padded with −1e30 (not −∞, which `exp` does not take): e^(−1e30 − max) = 0.
    let padding: Float = -1e30, room = room ?? n
    let whole = n / Vec.scalarCount * Vec.scalarCount, rest = n - whole
    @inline(__always) func put(_ v: Vec, _ p: FloatPointer) {
        if room - whole >= Vec.scalarCount { store(v, p) } else { store(v, p, rest) }
    }
    var m = Vec(repeating: padding)
    for j in stride(from: 0, to: whole, by: Vec.scalarCount) {
        let x = load(inp + j)
        m = select(lessMask(m, x), x, m)
    }
    if rest > 0 {
        let x = tail(inp + whole, rest, room - whole, padding: padding)
        m = select(lessMask(m, x), x, m)
    }
    let mx = m.max()
    // Sixteen exponentials at a time, summed into the eight lanes as two eight-lane vectors
    // would be (the same sum; `exp` costs most here).
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
        let e = exp(tail(inp + whole, rest, room - whole, padding: padding) - mx)
        s += e
        put(e, out + whole)
    }
    let sum = s.sum(), inv = 1 / sum
    j = 0
    while j + 16 <= whole {
        store(load(out + j, as: Vec16.self) * inv, out + j)
        j += 16
    }
    if j < whole { store(load(out + j) * inv, out + j) }
    if rest > 0 { put(load(out + whole, rest) * inv, out + whole) }
    return (mx, sum)
}
