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

/// Runs `body(j, count)` over `0..<n` in steps of 8: `count` is 8 except for a last, shorter
/// step. Pass a nested `@inline(__always) func`: it is inlined twice, with the constant 8 in
/// the loop (whole-vector loads and stores, no branches) and once for the tail. (A closure
/// literal is not inlined, and the loop then runs ~2× slower.)
@inline(__always) func vectorLoop(_ n: Int, _ body: (_ j: Int, _ count: Int) -> Void) {
    var j = 0
    while j + 8 <= n {
        body(j, 8)
        j += 8
    }
    if j < n { body(j, n - j) }
}

@inline(__always) func dot(_ a: ConstFloatPointer, _ b: ConstFloatPointer, _ n: Int) -> Float {
    var s0 = Vec(), s1 = Vec()
    var j = 0
    while j + 16 <= n {
        s0 += load(a + j) * load(b + j)
        s1 += load(a + j + 8) * load(b + j + 8)
        j += 16
    }
    if j + 8 <= n {
        s0 += load(a + j) * load(b + j)
        j += 8
    }
    if j < n { s1 += load(a + j, n - j) * load(b + j, n - j) }
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

// Masks are all-ones/all-zeros Int32 lanes built from sign bits, and selects are bitwise:
// the standard library's comparisons produce `SIMDMask`s that are converted lane by lane here,
// and its `replacing(with:where:)` and `pointwiseMin/Max` are not always vectorised.

@inline(__always) func bits(_ v: Vec) -> SIMD8<Int32> { unsafeBitCast(v, to: SIMD8<Int32>.self) }
@inline(__always) func floats(_ v: SIMD8<Int32>) -> Vec { unsafeBitCast(v, to: Vec.self) }

/// All ones where `a < b`, from the sign of `a − b` (for values that are not NaN).
@inline(__always) func lessMask(_ a: Vec, _ b: Vec) -> SIMD8<Int32> { bits(a - b) &>> 31 }

/// `mask ? a : b` per lane.
@inline(__always) func select(_ mask: SIMD8<Int32>, _ a: Vec, _ b: Vec) -> Vec {
    floats((bits(a) & mask) | (bits(b) & ~mask))
}

/// `e^x` per lane, within 2 ulp of the exact value for finite x ≥ −87.3 and 0 below (where e^x
/// is below float's smallest normal number); NaN stays NaN, ±∞ gives NaN. Cephes' `expf`:
/// x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n written into the exponent.
@inline(__always) func exp(_ x: Vec) -> Vec {
    let lowest = Vec(repeating: -87.33654), highest = Vec(repeating: 88.02)
    let small = lessMask(x, lowest), large = lessMask(highest, x)
    // Clamped (so that 2^n stays normal) by adding the masked difference: NaN + y stays NaN.
    let v = x + floats(bits(lowest - x) & small) + floats(bits(highest - x) & large)
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
    let result = p * floats(((bits(shifted) &- bits(magic)) &+ 127) &<< 23)
    // 0 below `lowest`, by multiplying with 0 (NaN·0 stays NaN).
    return result * (1 - floats(small & bits(Vec(repeating: 1))))
}

/// The logistic function `1 / (1 + e^−x)` per lane.
@inline(__always) func sigmoid(_ x: Vec) -> Vec { 1 / (1 + exp(-x)) }

/// Rows per thread below which a row-wise kernel over rows `width` wide stays on one thread:
/// a parallel region costs about as much as 16 K elements of work.
@inline(__always) func minimumRows(width: Int) -> Int { max(1, 16_384 / max(1, width)) }

/// a += b over `count` floats, in parallel.
package func addInPlace(_ a: FloatPointer, _ b: ConstFloatPointer, count n: Int) {
    Threads.parallelRanges(n, minimum: 1 << 15, alignment: 16) { range in
        let (a, b) = (a + range.lowerBound, b + range.lowerBound)
        @inline(__always) func lanes(_ j: Int, _ k: Int) {
            store(load(a + j, k) + load(b + j, k), a + j, k)
        }
        vectorLoop(range.count, lanes)
    }
}
