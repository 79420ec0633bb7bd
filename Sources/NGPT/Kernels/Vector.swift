// Eight-lane vector helpers for the row-wise kernels. Float sums in a plain loop do not
// vectorise (the compiler keeps their order), so reductions here keep eight partial sums per
// accumulator: a different, fixed order, the same for every thread count.

typealias Vec = SIMD8<Float>

/// Lanes `0..<min(count, 8)` from `p`; the rest are `padding`.
@inline(__always) func load(_ p: ConstFloatPointer, _ count: Int = 8, padding: Float = 0) -> Vec {
    if count >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
    var v = Vec(repeating: padding)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always) func load(_ p: FloatPointer, _ count: Int = 8, padding: Float = 0) -> Vec {
    load(ConstFloatPointer(p), count, padding: padding)
}

/// Stores lanes `0..<min(count, 8)` of `v` at `p`.
@inline(__always) func store(_ v: Vec, _ p: FloatPointer, _ count: Int = 8) {
    if count >= 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self); return }
    for i in 0..<count { p[i] = v[i] }
}

@inline(__always) func dot(_ a: ConstFloatPointer, _ b: ConstFloatPointer, _ n: Int) -> Float {
    var s0 = Vec(), s1 = Vec()
    var j = 0
    while j + 16 <= n {
        s0 += load(a + j) * load(b + j)
        s1 += load(a + j + 8) * load(b + j + 8)
        j += 16
    }
    while j < n {
        s0 += load(a + j, n - j) * load(b + j, n - j)
        j += 8
    }
    return (s0 + s1).sum()
}

@inline(__always) func dot(_ a: FloatPointer, _ b: FloatPointer, _ n: Int) -> Float {
    dot(ConstFloatPointer(a), ConstFloatPointer(b), n)
}

/// `1 / (‖x‖ + normEpsilon)`.
@inline(__always) func reciprocalNorm(_ x: ConstFloatPointer, _ n: Int) -> Float {
    1 / (dot(x, x, n).squareRoot() + normEpsilon)
}

@inline(__always) func reciprocalNorm(_ x: FloatPointer, _ n: Int) -> Float {
    reciprocalNorm(ConstFloatPointer(x), n)
}

/// `e^x` per lane, within 2 ulp of the exact value for x ≥ −87.3 and 0 below (where e^x is
/// below float's smallest normal number); NaN stays NaN. Cephes' `expf`: x = n·ln2 + r with
/// |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n written into the exponent bits.
@inline(__always) func exp(_ x: Vec) -> Vec {
    let lowest: Float = -87.33654, highest: Float = 88.02
    // (pointwiseMin/Max are not inlined; compare-and-select is, and lets NaN through.)
    var v = x.replacing(with: lowest, where: x .< lowest)
    v = v.replacing(with: highest, where: v .> highest)
    // Round v·log₂e to an integer by adding and subtracting 1.5·2²³.
    let magic = Vec(repeating: 12_582_912)
    let shifted = v * 1.442_695_04 + magic
    let n = shifted - magic
    let r = v - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = r * 1.987_569_15e-4 + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * (r * r) + r + 1
    let n32 = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let result = p * unsafeBitCast((n32 &+ 127) &<< 23, to: Vec.self)
    return result.replacing(with: 0, where: x .< lowest)
}

/// The logistic function `1 / (1 + e^−x)` per lane.
@inline(__always) func sigmoid(_ x: Vec) -> Vec { 1 / (1 + exp(-x)) }

/// Rows per thread below which a row-wise kernel over rows `width` wide stays on one thread:
/// a parallel region costs about as much as 16 K elements of work.
@inline(__always) func minimumRows(width: Int) -> Int { max(1, 16_384 / max(1, width)) }

/// a += b over `count` floats, in parallel.
func addInPlace(_ a: FloatPointer, _ b: ConstFloatPointer, count n: Int) {
    Threads.parallelRanges(n, minimum: 1 << 15, alignment: 16) { range in
        var j = range.lowerBound
        while j < range.upperBound {
            let k = range.upperBound - j
            store(load(a + j, k) + load(b + j, k), a + j, k)
            j += 8
        }
    }
}
