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
/// Σ e^(inp − max), from which logsumexp = max + log(sum).
@inline(__always) package func softmax(_ out: FloatPointer, _ inp: ConstFloatPointer, count n: Int) -> (max: Float, sum: Float) {
    // Lanes past the end are padded with −1e30 (not −∞, which `exp` does not take): e^(−1e30 − max) = 0.
    let padding: Float = -1e30
    var m = Vec(repeating: padding)
    @inline(__always) func lanes(_ j: Int, _ k: Int) {
        let x = load(inp + j, k, padding: padding)
        m = select(lessMask(m, x), x, m)
    }
    vectorLoop(n, lanes)
    let mx = m.max()
    var s = Vec()
    @inline(__always) func lanes2(_ j: Int, _ k: Int) {
        let e = exp(load(inp + j, k, padding: padding) - mx)
        s += e
        store(e, out + j, k)
    }
    vectorLoop(n, lanes2)
    let sum = s.sum(), inv = 1 / sum
    @inline(__always) func lanes3(_ j: Int, _ k: Int) {
        store(load(out + j, k) * inv, out + j, k)
    }
    vectorLoop(n, lanes3)
    return (mx, sum)
}
