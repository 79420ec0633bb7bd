import Foundation

// Causal attention computes only what the mask lets through: rows are taken in blocks of
// `attentionBlock` positions, and block i (rows i·Tb..<e, e = min(T, (i+1)·Tb)) meets only keys
// 0..<e. Its scores are a (rows, e) matrix; the blocks of one (sequence, head) are stored one
// after another ("packed"): 3/4 of a T×T square at T = 256, 5/8 at T = 512.

/// Rows per causal block. Smaller blocks skip more of the masked square but make smaller,
/// less efficient products: with dk = 64, 128 was fastest at T = 256 (64: +18 %, 256: +110 %)
/// and within 5 % of the best (256) at T = 512.
package let attentionBlock = 128

/// Floats of packed scores for one (sequence, head) of length `t`: Σ over blocks of rows·e.
package func attentionScoresCount(sequence t: Int) -> Int {
    var total = 0
    for i0 in stride(from: 0, to: t, by: attentionBlock) {
        let rows = min(attentionBlock, t - i0)
        total += rows * (i0 + rows)
    }
    return total
}

/// Which code multiplies inside attention's causal blocks.
package enum AttentionProducts: Sendable {
    /// OpenBLAS, over each block's whole rectangle.
    case blas
    /// ``causalScores``, ``causalWeightedSum`` and ``causalTransposedSum``: only the keys each
    /// group of four rows meets.
    case causal

    /// Heads of at most 32 floats use the library's own products where they are compiled in
    /// (``causalProductsAvailable``): there OpenBLAS's small products run at under half its peak
    /// (with OpenBLAS's AVX-512 kernels and contexts up to 256 the results are also the same to
    /// the bit). Wider heads keep BLAS, which is efficient at their widths: the own products
    /// gained under a tenth of attention's time with heads of 64, and would change the last bits.
    package static func `default`(headWidth dk: Int) -> AttentionProducts {
        causalProductsAvailable && dk <= causalWidthLimit ? .causal : .blas
    }

    /// Floats past each row's last key that must hold zeros for the products to read: the causal
    /// products read up to three (their groups of four rows share keys); BLAS reads the whole
    /// block row.
    func zeroPadding(rowEnd e: Int, length: Int) -> Int {
        self == .causal ? min(e - length, causalTileRows - 1) : e - length
    }
}

/// Causal multi-head attention over a fused (N, 3C) buffer holding q | k | v per row.
///
/// For each sequence b and head h (run side by side, single-threaded inside):
/// S = scale·Q·Kᵀ, P = softmax over j ≤ t, Y = P·V, computed block by block below the diagonal.
/// `probs` (B, H, packed) keeps P for backward (``attentionScoresCount(sequence:)`` floats per
/// sequence and head; entries past a row's last key are not all written); `out` (N, C) receives
/// the merged heads.
package func attentionForward(_ out: FloatPointer, _ probs: FloatPointer, _ qkv: ConstFloatPointer,
                              batch b: Int, sequence t: Int, width c: Int, heads h: Int, scale: Float,
                              products: AttentionProducts? = nil) {
    let dk = c / h, perItem = attentionScoresCount(sequence: t)
    let products = products ?? .default(headWidth: dk)
    Threads.parallelFor(b * h) { item in
        let bi = item / h, hi = item % h
        let q = qkv + bi * t * 3 * c + hi * dk, k = q + c, v = q + 2 * c
        let y = out + bi * t * c + hi * dk
        var s = probs + item * perItem
        for i0 in stride(from: 0, to: t, by: attentionBlock) {
            let rows = min(attentionBlock, t - i0), e = i0 + rows
            let block = MatrixLayout(rows: rows, columns: e)
            let headRows = MatrixLayout(rows: e, columns: dk, leadingDimension: 3 * c)   // of k or v
            switch products {
            case .causal:
                causalScores(s, q + i0 * 3 * c, lda: 3 * c, k, ldb: 3 * c, first: i0, rows: rows, width: dk,
                             alpha: scale)
            case .blas:
                GEMM.multiply(q + i0 * 3 * c, MatrixLayout(rows: rows, columns: dk, leadingDimension: 3 * c), .none,
                              k, headRows, .transposed, s, block, alpha: scale)
            }
            // Rows two at a time (``softmaxPair``), then each one's padding.
            @inline(__always) func row(_ r: Int) -> SoftmaxRow { SoftmaxRow(s + r * e, s + r * e, count: i0 + r + 1, room: e) }
            @inline(__always) func two(_ r: Int, _ q: Int) { softmaxPair(row(r), row(q)) }
            @inline(__always) func one(_ r: Int) { _ = softmax(s + r * e, s + r * e, count: i0 + r + 1, room: e) }
            inPairs(0..<rows, two, one)
            for r in 0..<rows {
                let length = i0 + r + 1
                (s + r * e + length).update(repeating: 0, count: products.zeroPadding(rowEnd: e, length: length))
            }
            switch products {
            case .causal:
                causalWeightedSum(y + i0 * c, ldy: c, s, v, ldv: 3 * c, first: i0, rows: rows, width: dk, accumulate: false)
            case .blas:
                GEMM.multiply(s, block, .none, v, headRows, .none,
                              y + i0 * c, MatrixLayout(rows: rows, columns: dk, leadingDimension: c))
            }
            s += rows * e
        }
    }
}

/// Backward of `Y = softmax(scale·Q·Kᵀ + mask)·V`, per sequence, head and causal block:
/// dP = dY·Vᵀ, dV += Pᵀ·dY, dS = P⊙(dP − rowsum(P⊙dP))·scale, dQ += dS·K, dK += dSᵀ·Q.
/// `scratch` is as large as `probs` (a thread uses the part of its first item for all of its
/// items); `products` must be what the forward used.
package func attentionBackward(_ dqkv: FloatPointer, _ scratch: FloatPointer, _ dout: ConstFloatPointer,
                               _ qkv: ConstFloatPointer, _ probs: ConstFloatPointer,
                               batch b: Int, sequence t: Int, width c: Int, heads h: Int, scale: Float,
                               products: AttentionProducts? = nil) {
    let dk = c / h, perItem = attentionScoresCount(sequence: t)
    let products = products ?? .default(headWidth: dk)
    // A thread's items reuse the scratch of its first item: the gradient of the scores is
    // needed only while its item is computed, and a buffer used again stays in the cache.
    Threads.parallelRanges(b * h) { items in for item in items {
        let bi = item / h, hi = item % h
        let q = qkv + bi * t * 3 * c + hi * dk, k = q + c, v = q + 2 * c
        let dq = dqkv + bi * t * 3 * c + hi * dk, dkey = dq + c, dv = dq + 2 * c
        let dy = dout + bi * t * c + hi * dk
        var p = probs + item * perItem, ds = scratch + items.lowerBound * perItem
        for i0 in stride(from: 0, to: t, by: attentionBlock) {
            let rows = min(attentionBlock, t - i0), e = i0 + rows
            let block = MatrixLayout(rows: rows, columns: e)
            let keys = MatrixLayout(rows: e, columns: dk, leadingDimension: 3 * c)
            let blockRows = MatrixLayout(rows: rows, columns: dk, leadingDimension: 3 * c)
            let dyBlock = MatrixLayout(rows: rows, columns: dk, leadingDimension: c)
            switch products {
            case .causal:
                causalScores(ds, dy + i0 * c, lda: c, v, ldb: 3 * c, first: i0, rows: rows, width: dk, alpha: 1)
                causalTransposedSum(dv, ldy: 3 * c, p, dy + i0 * c, ldx: c, first: i0, rows: rows, width: dk)
            case .blas:
                GEMM.multiply(dy + i0 * c, dyBlock, .none, v, keys, .transposed, ds, block)
                GEMM.multiply(p, block, .transposed, dy + i0 * c, dyBlock, .none, dv, keys, beta: 1)
            }
            // Two rows at a time, as the forward's softmax: each row's sum, then each row.
            @inline(__always) func rowSum(_ r: Int) -> Float { dot(p + r * e, ConstFloatPointer(ds + r * e), i0 + r + 1, room: e) }
            @inline(__always) func finish(_ r: Int, _ sum: Float) {
                softmaxBackward(ds + r * e, p + r * e, count: i0 + r + 1, room: e, rowSum: sum, scale: scale)
            }
            @inline(__always) func two(_ r: Int, _ q: Int) {
                let (sr, sq) = (rowSum(r), rowSum(q))
                finish(r, sr)
                finish(q, sq)
            }
            @inline(__always) func one(_ r: Int) { finish(r, rowSum(r)) }
            inPairs(0..<rows, two, one)
            for r in 0..<rows {
                let length = i0 + r + 1
                (ds + r * e + length).update(repeating: 0, count: products.zeroPadding(rowEnd: e, length: length))
            }
            switch products {
            case .causal:
                causalWeightedSum(dq + i0 * 3 * c, ldy: 3 * c, ds, k, ldv: 3 * c, first: i0, rows: rows, width: dk,
                                  accumulate: true)
                causalTransposedSum(dkey, ldy: 3 * c, ds, q + i0 * 3 * c, ldx: 3 * c, first: i0, rows: rows, width: dk)
            case .blas:
                GEMM.multiply(ds, block, .none, k, keys, .none, dq + i0 * 3 * c, blockRows, beta: 1)
                GEMM.multiply(ds, block, .transposed, q + i0 * 3 * c, blockRows, .none, dkey, keys, beta: 1)
            }
            p += rows * e
            ds += rows * e
        }
    } }
}

/// dS = P⊙(dP − Σ P⊙dP)·scale over one row's `count` keys, in place of dP (`ds`), given
/// `rowSum` = Σ P⊙dP (``dot(_:_:_:room:)`` over the row, `room` ≥ `count` floats of both rows
/// read). Lanes past `count` in the last vector are written with values no product reads.
@inline(__always) private func softmaxBackward(_ ds: FloatPointer, _ p: ConstFloatPointer, count n: Int, room: Int,
                                               rowSum s: Float, scale: Float) {
    var j = 0
    while j < n {
        let k = room - j >= Vec.scalarCount ? Vec.scalarCount : n - j
        store(load(p + j, k) * (load(ds + j, k) - s) * scale, ds + j, k)
        j += Vec.scalarCount
    }
}

/// Attention of one new position against a key/value cache (decoding): for each head,
/// scores_j = scale·q_h·k_j,h for the `length` cached positions j (the new one included), then
/// out_h = Σ_j softmax(scores)_j · v_j,h. `keys`/`values` are (capacity, C); `scores` holds
/// `length` floats. Forward only: generation needs no backward.
package func cachedAttentionForward(_ out: FloatPointer, _ q: ConstFloatPointer, _ keys: ConstFloatPointer,
                            _ values: ConstFloatPointer, _ scores: FloatPointer,
                            length: Int, width c: Int, heads h: Int, scale: Float) {
    let dk = c / h
    for head in 0..<h {
        let qh = q + head * dk, kh = keys + head * dk, vh = values + head * dk, o = out + head * dk
        for j in 0..<length { scores[j] = scale * dot(qh, kh + j * c, dk) }
        _ = softmax(scores, scores, count: length)
        // Eight output lanes at a time, summed over the positions in registers.
        @inline(__always) func lanes(_ i: Int, _ k: Int) {
            var acc = Vec()
            for j in 0..<length { acc += scores[j] * load(vh + j * c + i, k) }
            store(acc, o + i, k)
        }
        vectorLoop(dk, lanes)
    }
}
