import Foundation

/// Causal multi-head attention over a fused (N, 3C) buffer holding q | k | v per row.
///
/// For each sequence b and head h (run side by side, BLAS single-threaded inside):
/// S = scale·Q·Kᵀ (T, T), P = softmax over j ≤ t (zero above the diagonal), Y = P·V.
/// `probs` (B, H, T, T) keeps P for backward; `out` (N, C) receives the merged heads.
func attentionForward(_ out: FloatPointer, _ probs: FloatPointer, _ qkv: ConstFloatPointer,
                      batch b: Int, sequence t: Int, width c: Int, heads h: Int, scale: Float) {
    let dk = c / h
    Threads.parallelFor(b * h) { item in
        let bi = item / h, hi = item % h
        let q = qkv + bi * t * 3 * c + hi * dk
        let p = probs + item * t * t
        let head = MatrixLayout(rows: t, columns: dk, leadingDimension: 3 * c)
        let square = MatrixLayout(rows: t, columns: t)
        GEMM.multiply(q, head, .none, q + c, head, .transposed, p, square, alpha: scale)
        for row in 0..<t {
            let s = p + row * t
            var m = -Float.infinity
            for j in 0...row { m = max(m, s[j]) }
            var sum: Float = 0
            for j in 0...row { let e = expf(s[j] - m); s[j] = e; sum += e }
            let inv = 1 / sum
            for j in 0...row { s[j] *= inv }
            for j in (row + 1)..<t { s[j] = 0 }
        }
        GEMM.multiply(p, square, .none, q + 2 * c, head, .none,
                      out + bi * t * c + hi * dk, MatrixLayout(rows: t, columns: dk, leadingDimension: c))
    }
}

/// Backward of `Y = softmax(scale·Q·Kᵀ + mask)·V`, per sequence and head:
/// dP = dY·Vᵀ, dV += Pᵀ·dY, dS = P⊙(dP − rowsum(P⊙dP))·scale, dQ += dS·K, dK += dSᵀ·Q.
/// `scratch` is (B, H, T, T).
func attentionBackward(_ dqkv: FloatPointer, _ scratch: FloatPointer, _ dout: ConstFloatPointer,
                       _ qkv: ConstFloatPointer, _ probs: ConstFloatPointer,
                       batch b: Int, sequence t: Int, width c: Int, heads h: Int, scale: Float) {
    let dk = c / h
    Threads.parallelFor(b * h) { item in
        let bi = item / h, hi = item % h
        let q = qkv + bi * t * 3 * c + hi * dk
        let dq = dqkv + bi * t * 3 * c + hi * dk
        let p = probs + item * t * t, ds = scratch + item * t * t
        let dy = dout + bi * t * c + hi * dk
        let head = MatrixLayout(rows: t, columns: dk, leadingDimension: 3 * c)
        let dyLayout = MatrixLayout(rows: t, columns: dk, leadingDimension: c)
        let square = MatrixLayout(rows: t, columns: t)
        GEMM.multiply(dy, dyLayout, .none, q + 2 * c, head, .transposed, ds, square)
        GEMM.multiply(p, square, .transposed, dy, dyLayout, .none, dq + 2 * c, head, beta: 1)
        for row in 0..<t {
            let pr = p + row * t, dr = ds + row * t
            var s: Float = 0
            for j in 0...row { s += pr[j] * dr[j] }
            for j in 0...row { dr[j] = pr[j] * (dr[j] - s) * scale }
            for j in (row + 1)..<t { dr[j] = 0 }
        }
        GEMM.multiply(ds, square, .none, q + c, head, .none, dq, head, beta: 1)
        GEMM.multiply(ds, square, .transposed, q, head, .none, dq + c, head, beta: 1)
    }
}

/// Attention of one new position against a key/value cache (decoding): for each head,
/// scores_j = scale·q_h·k_j,h for the `length` cached positions j (the new one included), then
/// out_h = Σ_j softmax(scores)_j · v_j,h. `keys`/`values` are (capacity, C); `scores` holds
/// `length` floats. Forward only: generation needs no backward.
func cachedAttentionForward(_ out: FloatPointer, _ q: ConstFloatPointer, _ keys: ConstFloatPointer,
                            _ values: ConstFloatPointer, _ scores: FloatPointer,
                            length: Int, width c: Int, heads h: Int, scale: Float) {
    let dk = c / h
    for head in 0..<h {
        let qh = q + head * dk
        var m = -Float.infinity
        for j in 0..<length {
            scores[j] = scale * dot(qh, keys + j * c + head * dk, dk)
            m = max(m, scores[j])
        }
        var sum: Float = 0
        for j in 0..<length { scores[j] = expf(scores[j] - m); sum += scores[j] }
        let o = out + head * dk
        o.update(repeating: 0, count: dk)
        for j in 0..<length {
            let w = scores[j] / sum, v = values + j * c + head * dk
            for i in 0..<dk { o[i] += w * v[i] }
        }
    }
}
