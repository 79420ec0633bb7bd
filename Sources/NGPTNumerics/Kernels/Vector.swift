// Eight-lane vector helpers for the row-wise kernels. Float sums in a plain loop do not
// vectorise (the compiler keeps their order), so reductions here keep eight partial sums per
// accumulator: a different, fixed order, the same for every thread count.

typealias Vec = SIMD8<Float>

/// Sixteen lanes, for elementwise kernels without reductions across lanes (each lane computes
/// exactly what it would in a ``Vec``, so results do not depend on the width): one AVX-512
/// register where the CPU has them, two AVX registers where not. SwiGLU, which evaluates `exp`
/// on every element, runs a fifth (backward) to a third (forward) faster with it than with
/// eight lanes.
typealias Vec16 = SIMD16<Float>

/// The float vectors the kernels use, with their same-width Int32 vectors for bitwise masks.
protocol FloatLanes: SIMD where Scalar == Float {
    associatedtype Bits: SIMD where Bits.Scalar == Int32
}
extension SIMD8: FloatLanes where Scalar == Float { typealias Bits = SIMD8<Int32> }
extension SIMD16: FloatLanes where Scalar == Float { typealias Bits = SIMD16<Int32> }

/// Lanes `0..<min(count, V.scalarCount)` from `p`; the rest are `padding`.
@inline(__always) func load<V: FloatLanes>(_ p: ConstFloatPointer, _ count: Int = V.scalarCount, padding: Float = 0,
                                           as _: V.Type = Vec.self) -> V {
    if count >= V.scalarCount { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    var v = V(repeating: padding)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always) func load<V: FloatLanes>(_ p: FloatPointer, _ count: Int = V.scalarCount, padding: Float = 0,
                                           as type: V.Type = Vec.self) -> V {
    load(ConstFloatPointer(p), count, padding: padding, as: type)
}

/// Stores lanes `0..<min(count, V.scalarCount)` of `v` at `p`.
@inline(__always) func store<V: FloatLanes>(_ v: V, _ p: FloatPointer, _ count: Int = V.scalarCount) {
    if count >= V.scalarCount { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self); return }
    for i in 0..<count { p[i] = v[i] }
}

/// Runs `body(j, count)` over `0..<n` in steps of `width` (8 or 16): `count` is `width` except
/// for a last, shorter step. Pass a nested `@inline(__always) func`: it is inlined twice, with
/// the constant width in the loop (whole-vector loads and stores, no branches) and once for the
/// tail. (A closure literal is not inlined, and the loop then runs ~2× slower.)
@inline(__always) func vectorLoop(_ n: Int, width: Int = 8, _ body: (_ j: Int, _ count: Int) -> Void) {
    var j = 0
    while j + width <= n {
        body(j, width)
        j += width
    }
    if j < n { body(j, n - j) }
}

/// Lanes `0..<count` (< 8) from `p`, `padding` after: one whole load with the other lanes
/// masked where `room` ≥ 8 floats may be read, lane by lane where not. The same vector either way.
@inline(__always) func tail(_ p: ConstFloatPointer, _ count: Int, _ room: Int, padding: Float = 0) -> Vec {
    guard room >= Vec.scalarCount else { return load(p, count, padding: padding) }
    return select(lessMask(laneIndices, Vec(repeating: Float(count))), load(p), Vec(repeating: padding))
}

/// 0, 1, …, 7.
private let laneIndices = Vec(0, 1, 2, 3, 4, 5, 6, 7)

/// Σ a·b over `n` floats in a fixed order (two eight-lane partial sums). Where `room` > `n`
/// floats of both may be read, the last partial vector is read whole (``tail``).
@inline(__always) func dot(_ a: ConstFloatPointer, _ b: ConstFloatPointer, _ n: Int, room: Int? = nil) -> Float {
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
    if j < n {
        let room = room ?? n
        s1 += tail(a + j, n - j, room - j) * tail(b + j, n - j, room - j)
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

// Masks are all-ones/all-zeros Int32 lanes built from sign bits, and selects are bitwise:
// the standard library's comparisons produce `SIMDMask`s that are converted lane by lane here,
// and its `replacing(with:where:)` and `pointwiseMin/Max` are not always vectorised.

@inline(__always) func bits<V: FloatLanes>(_ v: V) -> V.Bits { unsafeBitCast(v, to: V.Bits.self) }
@inline(__always) func floats<V: FloatLanes>(_ v: V.Bits, as _: V.Type = Vec.self) -> V { unsafeBitCast(v, to: V.self) }

/// All ones where `a < b`, from the sign of `a − b` (for values that are not NaN).
@inline(__always) func lessMask<V: FloatLanes>(_ a: V, _ b: V) -> V.Bits { bits(a - b) &>> 31 }

/// `mask ? a : b` per lane.
@inline(__always) func select<V: FloatLanes>(_ mask: V.Bits, _ a: V, _ b: V) -> V {
    floats((bits(a) & mask) | (bits(b) & ~mask), as: V.self)
}

/// `e^x` per lane, within 2 ulp of the exact value for finite x ≥ −87.3 and 0 below (where e^x
/// is below float's smallest normal number); NaN stays NaN, ±∞ gives NaN. Cephes' `expf`:
/// x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n written into the exponent.
@inline(__always) func exp<V: FloatLanes>(_ x: V) -> V {
    let lowest = V(repeating: -87.33654), highest = V(repeating: 88.02)
    let small = lessMask(x, lowest), large = lessMask(highest, x)
    // Clamped (so that 2^n stays normal) by adding the masked difference: NaN + y stays NaN.
    let v = x + floats(bits(lowest - x) & small, as: V.self) + floats(bits(highest - x) & large, as: V.self)
    // Round v·log₂e to an integer by adding and subtracting 1.5·2²³.
    let magic = V(repeating: 12_582_912)
    let shifted = v * 1.442_695_04 + magic
    let n = shifted - magic
    let r = v - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = r * 1.987_569_15e-4 + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * (r * r) + r + 1
    let result = p * floats(((bits(shifted) &- bits(magic)) &+ 127) &<< 23, as: V.self)
    // 0 below `lowest`, by multiplying with 0 (NaN·0 stays NaN).
    return result * (1 - floats(small & bits(V(repeating: 1)), as: V.self))
}

/// The logistic function `1 / (1 + e^−x)` per lane.
@inline(__always) func sigmoid<V: FloatLanes>(_ x: V) -> V { 1 / (1 + exp(-x)) }

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
