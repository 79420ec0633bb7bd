// Linear maps without bias, in PyTorch's layout: W is (O, I) and y = x·Wᵀ.

/// out (N, O) = inp (N, I) · Wᵀ, plus `beta`·out (beta = 1 adds into a residual stream).
package func linearForward(_ out: FloatPointer, _ inp: ConstFloatPointer, _ weight: ConstFloatPointer,
                   rows n: Int, inputs i: Int, outputs o: Int, beta: Float = 0) {
    GEMM.multiply(inp, MatrixLayout(rows: n, columns: i), .none,
                  weight, MatrixLayout(rows: o, columns: i), .transposed,
                  out, MatrixLayout(rows: n, columns: o), beta: beta)
}

/// Backward of `out = inp·Wᵀ`: dinp (N, I) += dout·W; dweight (O, I) += doutᵀ·inp.
/// Either gradient may be skipped by passing nil. With `overwriteInput` dinp is written
/// (`dinp = dout·W`) instead of accumulated, which saves zeroing a buffer with no other writer.
/// On two threads the two products (equal in size) run side by side, each whole on one thread.
package func linearBackward(_ dinp: FloatPointer?, _ dweight: FloatPointer?, _ dout: ConstFloatPointer,
                    _ inp: ConstFloatPointer, _ weight: ConstFloatPointer,
                    rows n: Int, inputs i: Int, outputs o: Int, overwriteInput: Bool = false) {
    func inputGradient(_ dinp: FloatPointer) {
        GEMM.multiply(dout, MatrixLayout(rows: n, columns: o), .none,
                      weight, MatrixLayout(rows: o, columns: i), .none,
                      dinp, MatrixLayout(rows: n, columns: i), beta: overwriteInput ? 0 : 1)
    }
    func weightGradient(_ dweight: FloatPointer) {
        GEMM.multiply(dout, MatrixLayout(rows: n, columns: o), .transposed,
                      inp, MatrixLayout(rows: n, columns: i), .none,
                      dweight, MatrixLayout(rows: o, columns: i), beta: 1)
    }
    if let dinp, let dweight, Threads.available(2) == 2, n * i * o >= GEMM.splitWork {
        Threads.parallelFor(2) { $0 == 0 ? inputGradient(dinp) : weightGradient(dweight) }
        return
    }
    if let dinp { inputGradient(dinp) }
    if let dweight { weightGradient(dweight) }
}

// Decoding with bfloat16 weights: one position's products read every weight once, so halving
// the bytes per weight nearly halves the time. A weight matrix (O, I) is stored as (O, I/2)
// UInt32 words, each holding the bfloat16 bit patterns of columns 2p (low half) and 2p+1
// (high half); a bfloat16 is the top half of a float32, so unpacking is two bit operations.

/// Packs a float32 (O, I) matrix (I even) into bfloat16 pairs, rounding to nearest even.
package func packBFloat16Pairs(_ out: UnsafeMutablePointer<UInt32>, _ weight: ConstFloatPointer, count n: Int) {
    precondition(n % 2 == 0, "bfloat16 pairs need an even count, got \(n)")
    @inline(__always) func top(_ x: Float) -> UInt32 { roundToBFloat16(x).bitPattern >> 16 }
    for p in 0..<n / 2 { out[p] = top(weight[2 * p]) | (top(weight[2 * p + 1]) << 16) }
}

/// out (O) = W·x for one row x (I) and W packed by ``packBFloat16Pairs(_:_:count:)``; `split`
/// (I) receives x's even columns then its odd columns. Output rows run in parallel.
package func linearRowBFloat16(_ out: FloatPointer, _ x: ConstFloatPointer, _ weight: UnsafePointer<UInt32>,
                       _ split: FloatPointer, inputs i: Int, outputs o: Int) {
    let half = i / 2
    let even = split, odd = split + half
    for p in 0..<half {
        even[p] = x[2 * p]
        odd[p] = x[2 * p + 1]
    }
    let mask = SIMD8<UInt32>(repeating: 0xFFFF_0000)
    @inline(__always) func word(_ w: UnsafePointer<UInt32>, _ p: Int, _ k: Int) -> SIMD8<UInt32> {
        if k >= 8 { return UnsafeRawPointer(w + p).loadUnaligned(as: SIMD8<UInt32>.self) }
        var v = SIMD8<UInt32>()
        for j in 0..<k { v[j] = w[p + j] }
        return v
    }
    @inline(__always) func low(_ w: SIMD8<UInt32>) -> Vec { unsafeBitCast(w &<< 16, to: Vec.self) }
    @inline(__always) func high(_ w: SIMD8<UInt32>) -> Vec { unsafeBitCast(w & mask, to: Vec.self) }
    Threads.parallelRanges(o, minimum: max(4, (1 << 15) / max(1, i)), alignment: 4) { rows in
        var r = rows.lowerBound
        // Four rows at a time share the loads of x.
        while r + 4 <= rows.upperBound {
            var s0 = Vec(), s1 = Vec(), s2 = Vec(), s3 = Vec()
            let w0 = weight + r * half, w1 = w0 + half, w2 = w1 + half, w3 = w2 + half
            @inline(__always) func lanes(_ p: Int, _ k: Int) {
                let (e, d) = (load(even + p, k), load(odd + p, k))
                let (a, b, c, f) = (word(w0, p, k), word(w1, p, k), word(w2, p, k), word(w3, p, k))
                s0 += low(a) * e + high(a) * d
                s1 += low(b) * e + high(b) * d
                s2 += low(c) * e + high(c) * d
                s3 += low(f) * e + high(f) * d
            }
            vectorLoop(half, lanes)
            out[r] = s0.sum(); out[r + 1] = s1.sum(); out[r + 2] = s2.sum(); out[r + 3] = s3.sum()
            r += 4
        }
        while r < rows.upperBound {
            var s = Vec()
            let w = weight + r * half
            @inline(__always) func lanes(_ p: Int, _ k: Int) {
                let a = word(w, p, k)
                s += low(a) * load(even + p, k) + high(a) * load(odd + p, k)
            }
            vectorLoop(half, lanes)
            out[r] = s.sum()
            r += 1
        }
    }
}

/// Rounds a float to the nearest bfloat16 (ties to even), returned as float32.
@inline(__always) package func roundToBFloat16(_ x: Float) -> Float {
    guard x.isFinite else { return x }
    let bits = x.bitPattern
    let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
    return Float(bitPattern: rounded)
}

/// Rounds `n` floats in place to the nearest bfloat16 (bfloat16 parameter storage).
package func roundToBFloat16(_ p: FloatPointer, count n: Int) {
    Threads.parallelRanges(n, minimum: 1 << 16, alignment: 16) { range in
        for i in range { p[i] = roundToBFloat16(p[i]) }
    }
}
