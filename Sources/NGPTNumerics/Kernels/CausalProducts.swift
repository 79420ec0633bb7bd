// The matrix products inside one causal block of attention, computed here instead of by BLAS.
//
// A block holds rows i0..<i0+rows of one (sequence, head); row r meets keys 0..<i0+r+1. BLAS
// multiplies the block's whole (rows × e) rectangle, e = i0 + rows; these products stop at each
// group of rows' last key, so at T = 128 they do a little more than half the work, and they
// write their result directly (no clearing pass for β = 0, no packing of operands of 16 floats).
//
// Every output is a single sum taken in the order of its inner index, with fused multiply-adds
// from zero, then scaled or added to the destination. That is what OpenBLAS's AVX-512 kernels
// (SkylakeX, Cooperlake) do for sums of up to 256 terms: with them, training at contexts up to 256
// gives the same weights to the bit either way. Longer sums (a block whose rows meet more than 256
// keys) OpenBLAS adds up in parts, and its AVX2 kernels (Haswell, which its Zen target shares)
// order even short ones differently: there the last bits differ from BLAS's (docs/performance.md).
// Terms the mask sets to zero are skipped; adding them (0·x to a sum) would not change it.
//
// They need the CPU's fused multiply-add: they are used when the library is compiled for the
// machine (`NGPT_TARGET_CPU`, which `make release` sets) or for arm64. The portable x86-64
// build, which would emulate each fused multiply-add in a library call, keeps BLAS
// (``causalProductsAvailable``).

/// Whether attention uses the products below (else OpenBLAS for the whole block).
#if NGPT_FUSED_MULTIPLY_ADD || arch(arm64)
package let causalProductsAvailable = true
#else
package let causalProductsAvailable = false
#endif

/// Rows computed together: four accumulators of sixteen lanes (four AVX-512 registers, or eight
/// AVX ones), enough to keep the fused multiply-add units busy without running out of registers.
let causalTileRows = 4

/// Four sixteen-lane sums side by side (four rows of a product, or four keys).
private struct FourSums {
    var c0 = Vec16(), c1 = Vec16(), c2 = Vec16(), c3 = Vec16()

    /// Adds `v` times one number per sum, read at `x`, `x + stride`, `x + 2·stride` and
    /// `x + 3·stride`, with fused multiply-adds.
    @inline(__always) mutating func add(_ v: Vec16, times x: ConstFloatPointer, stride: Int) {
        c0 = c0.addingProduct(Vec16(repeating: x[0]), v)
        c1 = c1.addingProduct(Vec16(repeating: x[stride]), v)
        c2 = c2.addingProduct(Vec16(repeating: x[2 * stride]), v)
        c3 = c3.addingProduct(Vec16(repeating: x[3 * stride]), v)
    }

    /// `put(sum, out + i·stride)` for the four sums in order.
    @inline(__always) func write(to out: FloatPointer, stride: Int, _ put: (Vec16, FloatPointer) -> Void) {
        put(c0, out)
        put(c1, out + stride)
        put(c2, out + 2 * stride)
        put(c3, out + 3 * stride)
    }
}

/// The number of keys row `r` of a block starting at `first` meets.
@inline(__always) private func keys(_ first: Int, _ r: Int) -> Int { first + r + 1 }

/// The widest head the products take: ``causalScores`` holds sixteen keys of up to 32 floats,
/// transposed, on the stack.
package let causalWidthLimit = 32

/// Scores of a causal block: `s[r·e + j] = alpha·Σ_k a[r·lda + k]·b[j·ldb + k]` for the keys
/// j < first + r + 1 of each row r (and, where a group of rows shares a sixteen-key vector, a few
/// more up to the group's last key; never beyond e). Sixteen keys at a time are transposed into
/// a tile (dk rows of sixteen floats, one load each), then every group of rows that meets them
/// takes its scores from it.
package func causalScores(_ s: FloatPointer, _ a: ConstFloatPointer, lda: Int, _ b: ConstFloatPointer, ldb: Int,
                          first: Int, rows: Int, width dk: Int, alpha: Float) {
    precondition(dk <= causalWidthLimit, "causal products take heads of at most \(causalWidthLimit) floats, not \(dk)")
    let e = first + rows, whole = rows / causalTileRows * causalTileRows
    var tile = (SIMD64<Float>(), SIMD64<Float>(), SIMD64<Float>(), SIMD64<Float>(),
                SIMD64<Float>(), SIMD64<Float>(), SIMD64<Float>(), SIMD64<Float>())
    withUnsafeMutableBytes(of: &tile) { raw in
        let bt = raw.baseAddress!.assumingMemoryBound(to: Float.self)
        for j in stride(from: 0, to: e, by: 16) {
            let n = min(16, e - j)
            for jj in 0..<16 {
                let key = b + (j + jj) * ldb
                for k in 0..<dk { bt[k * 16 + jj] = jj < n ? key[k] : 0 }
            }
            @inline(__always) func put(_ c: Vec16, _ out: FloatPointer) {
                if n == 16 { store(alpha * c, out) } else { store(alpha * c, out, n) }
            }
            for r in stride(from: 0, to: whole, by: causalTileRows) where keys(first, r + causalTileRows - 1) > j {
                var sums = FourSums()
                var bk = ConstFloatPointer(bt), ak = a + r * lda
                for _ in 0..<dk {
                    sums.add(load(bk, as: Vec16.self), times: ak, stride: lda)
                    bk += 16
                    ak += 1
                }
                sums.write(to: s + r * e + j, stride: e, put)
            }
            for r in whole..<rows where keys(first, r) > j {   // rows past the last group of four
                var c = Vec16()
                for k in 0..<dk { c = c.addingProduct(Vec16(repeating: a[r * lda + k]), load(bt + k * 16, as: Vec16.self)) }
                put(c, s + r * e + j)
            }
        }
    }
}

/// `y[r·ldy + c] (+)= Σ_j p[r·e + j]·v[j·ldv + c]` over each row's keys j < first + r + 1 (p
/// zero beyond them), c < dk; `accumulate` adds to y instead of writing it.
package func causalWeightedSum(_ y: FloatPointer, ldy: Int, _ p: ConstFloatPointer, _ v: ConstFloatPointer, ldv: Int,
                               first: Int, rows: Int, width dk: Int, accumulate: Bool) {
    let e = first + rows
    @inline(__always) func put(_ c: Vec16, _ out: FloatPointer) {
        store(accumulate ? load(out, as: Vec16.self) + c : c, out)
    }
    var r = 0
    while r + causalTileRows <= rows {
        let limit = keys(first, r + causalTileRows - 1), p0 = p + r * e
        var col = 0
        while col + 16 <= dk {
            var sums = FourSums()
            var b = v + col, pj = p0
            for _ in 0..<limit {
                sums.add(load(b, as: Vec16.self), times: pj, stride: e)
                b += ldv
                pj += 1
            }
            sums.write(to: y + r * ldy + col, stride: ldy, put)
            col += 16
        }
        for i in 0..<causalTileRows where col < dk {   // a head width that is not a multiple of 16
            weightedVector(y + (r + i) * ldy + col, p0 + i * e, v + col, ldv: ldv, terms: limit, count: dk - col,
                           accumulate: accumulate)
        }
        r += causalTileRows
    }
    while r < rows {
        for col in stride(from: 0, to: dk, by: 16) {
            weightedVector(y + r * ldy + col, p + r * e, v + col, ldv: ldv, terms: keys(first, r), count: min(16, dk - col),
                           accumulate: accumulate)
        }
        r += 1
    }
}

/// One row of ``causalWeightedSum`` for `count` ≤ 16 columns, over keys `0..<terms`.
@inline(__always) private func weightedVector(_ out: FloatPointer, _ pr: ConstFloatPointer, _ v: ConstFloatPointer, ldv: Int,
                                              terms: Int, count n: Int, accumulate: Bool) {
    var c = Vec16()
    for j in 0..<terms { c = c.addingProduct(Vec16(repeating: pr[j]), load(v + j * ldv, n, as: Vec16.self)) }
    store(accumulate ? load(out, n, as: Vec16.self) + c : c, out, n)
}

/// `y[j·ldy + c] += Σ_r p[r·e + j]·x[r·ldx + c]` for every key j < e of the block, over the
/// rows r that meet key j (r ≥ j − first; p is zero for the others), c < dk: the transposed
/// product that carries gradients back to keys and values.
package func causalTransposedSum(_ y: FloatPointer, ldy: Int, _ p: ConstFloatPointer, _ x: ConstFloatPointer, ldx: Int,
                                 first: Int, rows: Int, width dk: Int) {
    let e = first + rows
    var j = 0
    while j + causalTileRows <= e {
        let start = max(0, j - first)
        var col = 0
        while col + 16 <= dk {
            var sums = FourSums()
            var b = x + start * ldx + col, pr = p + start * e + j
            for _ in start..<rows {
                sums.add(load(b, as: Vec16.self), times: pr, stride: 1)
                b += ldx
                pr += e
            }
            sums.write(to: y + j * ldy + col, stride: ldy) { c, out in store(load(out, as: Vec16.self) + c, out) }
            col += 16
        }
        for i in 0..<causalTileRows where col < dk {
            transposedVector(y + (j + i) * ldy + col, p + j + i, e: e, x + col, ldx: ldx, rows: start..<rows, count: dk - col)
        }
        j += causalTileRows
    }
    while j < e {
        for col in stride(from: 0, to: dk, by: 16) {
            transposedVector(y + j * ldy + col, p + j, e: e, x + col, ldx: ldx, rows: max(0, j - first)..<rows,
                             count: min(16, dk - col))
        }
        j += 1
    }
}

/// One key of ``causalTransposedSum`` for `count` ≤ 16 columns; `pj` is column j of p.
@inline(__always) private func transposedVector(_ out: FloatPointer, _ pj: ConstFloatPointer, e: Int, _ x: ConstFloatPointer,
                                                ldx: Int, rows: Range<Int>, count n: Int) {
    var c = Vec16()
    for r in rows { c = c.addingProduct(Vec16(repeating: pj[r * e]), load(x + r * ldx, n, as: Vec16.self)) }
    store(load(out, n, as: Vec16.self) + c, out, n)
}
