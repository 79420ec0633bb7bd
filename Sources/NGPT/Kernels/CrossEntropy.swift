import Foundation

/// Column scaling of a (N, V) buffer: out = inp ⊙ scale (nGPT's logits ⊙ s_z).
func scaleColumnsForward(_ out: FloatPointer, _ inp: ConstFloatPointer, _ scale: ConstFloatPointer,
                         rows n: Int, columns v: Int) {
    for r in 0..<n { for j in 0..<v { out[r * v + j] = inp[r * v + j] * scale[j] } }
}

/// Backward of `out = inp ⊙ scale`: dinp += dout⊙scale, dscale += Σ_rows dout⊙inp.
func scaleColumnsBackward(_ dinp: FloatPointer, _ dscale: FloatPointer, _ dout: ConstFloatPointer,
                          _ inp: ConstFloatPointer, _ scale: ConstFloatPointer, rows n: Int, columns v: Int) {
    for r in 0..<n {
        for j in 0..<v {
            dinp[r * v + j] += dout[r * v + j] * scale[j]
            dscale[j] += dout[r * v + j] * inp[r * v + j]
        }
    }
}

/// Cross-entropy per row: losses (N) = logsumexp(logits_r) − logits_r[target_r]; the softmax
/// probabilities go to `probs` (N, V). Returns the mean loss (accumulated in Double).
func crossEntropyForward(_ losses: FloatPointer, _ probs: FloatPointer, _ logits: ConstFloatPointer,
                         _ targets: UnsafePointer<Int32>, rows n: Int, vocabulary v: Int) -> Float {
    var total = 0.0
    for r in 0..<n {
        let l = logits + r * v, p = probs + r * v
        var m = -Float.infinity
        for j in 0..<v { m = max(m, l[j]) }
        var sum: Float = 0
        for j in 0..<v { let e = expf(l[j] - m); p[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<v { p[j] *= inv }
        let loss = logf(sum) + m - l[Int(targets[r])]
        losses[r] = loss
        total += Double(loss)
    }
    return Float(total / Double(n))
}

/// Backward of the mean loss over N rows, in place on `probs` (which becomes dlogits):
/// dlogits = (softmax − onehot(target)) · dloss / N.
func crossEntropyBackward(_ probs: FloatPointer, _ targets: UnsafePointer<Int32>, dloss: Float,
                          rows n: Int, vocabulary v: Int) {
    let k = dloss / Float(n)
    for r in 0..<n {
        let p = probs + r * v
        p[Int(targets[r])] -= 1
        for j in 0..<v { p[j] *= k }
    }
}
