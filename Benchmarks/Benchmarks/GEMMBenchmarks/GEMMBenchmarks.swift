// GEMM throughput of the library's OpenBLAS wrappers, in GFLOP/s.
//
// Dimensions: n — square SGEMM size (n×n×n); B, T, H, dk — batch, sequence length, heads and head
// width of the attention-shaped batched product, one (T, T) = (T, dk)·(T, dk)ᵀ per (b, h) pair.
//
// A product of an m×k and a k×n matrix is 2·m·n·k floating-point operations (one multiply and
// one add per term). Every iteration times its own call and records MFLOP/s in the custom
// metric below; package-benchmark's custom metrics are integers, so the table is in MFLOP/s and
// the median GFLOP/s is the p50 column divided by 1000 (see ../../README.md).
import Benchmark
import Foundation
import NGPT

let benchmarks: @Sendable () -> Void = {
    #if DEBUG
    // Unoptimised Swift around BLAS calls gives numbers nobody should quote.
    fatalError("GEMMBenchmarks refuses to run in a debug build: use `swift package benchmark` (release)")
    #else
    registerGEMMBenchmarks()
    #endif
}

/// MFLOP/s of one timed call (÷ 1000 for GFLOP/s); larger is better.
let mflops = BenchmarkMetric.custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false)

/// The thread count every benchmark runs with: both cores of the reference machine.
let threads = 2

func registerGEMMBenchmarks() {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, mflops],
        units: [mflops: .count],
        warmupIterations: 3,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    for n in [64, 128, 256, 512, 1024] {
        Benchmark("SGEMM \(n)×\(n)×\(n), \(threads) threads") { (benchmark: Benchmark, state: SquareProblem) in
            let flops = 2 * Double(n) * Double(n) * Double(n)
            record(flops, in: benchmark) { GEMM.multiply(state.a, .none, state.b, into: &state.c) }
        } setup: {
            Threads.set(threads)
            return try SquareProblem(n: n)
        }
    }

    Benchmark("Batched Q·Kᵀ, \(AttentionProblem.items) × \(AttentionProblem.T)×\(AttentionProblem.T)×\(AttentionProblem.dk), \(threads) threads") { (benchmark: Benchmark, state: AttentionProblem) in
        let p = AttentionProblem.self
        let flops = 2 * Double(p.items) * Double(p.T) * Double(p.T) * Double(p.dk)
        record(flops, in: benchmark) { state.run() }
    } setup: {
        Threads.set(threads)
        return try AttentionProblem()
    }

    // In a training step the batched product follows large GEMMs that OpenBLAS threads itself.
    // Its worker threads busy-wait for a while after such a call; this measures the batched
    // product in that setting (the preceding 256×256×256 GEMM is not timed).
    Benchmark("Batched Q·Kᵀ after a threaded SGEMM, \(threads) threads") { (benchmark: Benchmark, state: (AttentionProblem, SquareProblem)) in
        let (attention, square) = state
        let p = AttentionProblem.self
        let flops = 2 * Double(p.items) * Double(p.T) * Double(p.T) * Double(p.dk)
        GEMM.multiply(square.a, .none, square.b, into: &square.c)
        record(flops, in: benchmark) { attention.run() }
    } setup: {
        Threads.set(threads)
        return (try AttentionProblem(), try SquareProblem(n: 256))
    }
}

/// Times `body` and records its rate as MFLOP/s.
@inline(__always)
func record(_ flops: Double, in benchmark: Benchmark, _ body: () -> Void) {
    let elapsed = ContinuousClock().measure(body)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    benchmark.measurement(mflops, Int((flops / seconds / 1e6).rounded()))
}

struct ValidationError: Error, CustomStringConvertible {
    var description: String
}

/// Checks a few entries of a computed product against a dot product in Double. A wrong stride,
/// transpose or window shows as an O(1) error; float32 rounding is far below the tolerance.
func validate(
    _ what: String, samples: [(i: Int, j: Int)], got: (Int, Int) -> Float, want: (Int, Int) -> Double
) throws {
    for (i, j) in samples {
        let w = want(i, j), g = Double(got(i, j))
        guard abs(g - w) <= 1e-4 * max(1, abs(w)) else {
            throw ValidationError(description: "\(what): entry (\(i), \(j)) is \(g), want \(w); not timing a wrong result")
        }
    }
}

/// Seeded standard-normal samples.
func gaussian(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float(g.nextNormal()) }
}

// The problems are classes so that the output tensor is uniquely referenced: a struct copied
// into the timed closure would share C's storage with the setup state, and the first write
// would copy all of C (and fault in fresh pages) inside the measurement.

/// `C = A·B` for n×n matrices.
final class SquareProblem {
    let n: Int
    let a: Tensor, b: Tensor
    var c: Tensor

    init(n: Int) throws {
        let a = Tensor(shape: [n, n], scalars: gaussian(n * n, seed: 1))
        let b = Tensor(shape: [n, n], scalars: gaussian(n * n, seed: 2))
        var c = Tensor(shape: [n, n])
        GEMM.multiply(a, .none, b, into: &c)
        let samples = [(0, 0), (n - 1, n - 1), (n / 2, 1), (1, n / 3), (n / 3, n - 2)]
        try validate("SGEMM \(n)", samples: samples, got: { c[$0, $1] }) { i, j in
            (0..<n).reduce(0.0) { $0 + Double(a[i, $1]) * Double(b[$1, j]) }
        }
        (self.n, self.a, self.b, self.c) = (n, a, b, c)
    }
}

/// Attention scores `S[b, h] = Q[b, h]·K[b, h]ᵀ` for all B·H heads, with Q and K read as (T, dk)
/// windows of the (B·T, 3·d) qkv buffer (no copies), written to a (B·H·T, T) buffer.
final class AttentionProblem {
    static let B = 4, H = 8, T = 256, dk = 64
    static var d: Int { H * dk }
    static var items: Int { B * H }

    let qkv: Tensor                                           // (B·T, 3·d)
    var scores: Tensor                                        // (B·H·T, T)

    static func q(_ i: Int) -> MatrixLayout {
        let (b, h) = (i / H, i % H)
        return MatrixLayout(rows: T, columns: dk, leadingDimension: 3 * d, offset: b * T * 3 * d + h * dk)
    }
    static func k(_ i: Int) -> MatrixLayout {
        var l = q(i); l.offset += d; return l
    }
    static func s(_ i: Int) -> MatrixLayout {
        MatrixLayout(rows: T, columns: T, leadingDimension: T, offset: i * T * T)
    }

    init() throws {
        typealias P = AttentionProblem
        let qkv = Tensor(shape: [P.B * P.T, 3 * P.d], scalars: gaussian(P.B * P.T * 3 * P.d, seed: 3))
        (self.qkv, self.scores) = (qkv, Tensor(shape: [P.items * P.T, P.T]))
        run()
        let scores = self.scores
        for item in [0, P.H + 3, P.items - 1] {
            let (q, k, s) = (P.q(item), P.k(item), P.s(item))
            try validate("batched Q·Kᵀ item \(item)", samples: [(0, 0), (P.T - 1, 5), (17, P.T - 1), (100, 200)],
                         got: { i, j in scores.scalars[s.offset + i * s.leadingDimension + j] }) { i, j in
                (0..<P.dk).reduce(0.0) {
                    $0 + Double(qkv.scalars[q.offset + i * q.leadingDimension + $1])
                        * Double(qkv.scalars[k.offset + j * k.leadingDimension + $1])
                }
            }
        }
    }

    func run() {
        typealias P = AttentionProblem
        GEMM.batched(count: P.items, qkv, P.q, .none, qkv, P.k, .transposed, into: &scores, P.s)
    }
}
