import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Finite-difference gradient checks for float32 kernels.
///
/// The scalar checked is `L = Σ w ⊙ out` with fixed random weights `w` (accumulated in Double),
/// so the analytic gradient is the kernel's backward with `dout = w`. Each input element is
/// perturbed by ±h (central differences, h = 1e-3 by default): the truncation error is O(h²)
/// ≈ 1e-6 relative and the float32 round-off of L, divided by 2h, is ≈ 1e-4 of a typical
/// gradient. An element passes when |analytic − numeric| ≤ tolerance · max(1e-2, max|numeric|)
/// over that input; the default tolerance 5e-3 sits well above that noise and far below the
/// error of any wrong term (a dropped or mis-signed term shows up as O(1) relative).
struct GradientCheck {
    var rng: SeededGenerator
    let seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        rng = SeededGenerator(seed: seed)
    }

    mutating func normal(_ n: Int, std: Double = 1) -> [Float] {
        (0..<n).map { _ in Float(rng.nextNormal() * std) }
    }

    /// Compares `backward(inputs, w)` (one gradient array per input, same sizes) with central
    /// differences of `Σ w ⊙ forward(inputs)`. Returns the worst relative error per input.
    @discardableResult
    mutating func check(
        _ name: String, inputs: [[Float]], names: [String]? = nil,
        h: Float = 1e-3, tolerance: Float = 5e-3, accumulating: Set<Int> = [],
        forward: ([[Float]]) -> [Float],
        backward: ([[Float]], [Float]) -> [[Float]],
        file: StaticString = #filePath, line: UInt = #line
    ) -> [Float] {
        let out = forward(inputs)
        let w = normal(out.count)
        // The gradients of the inputs in `accumulating` start from gradientStart(count) (backward
        // kernels add into their gradient), so the result is that plus the gradient.
        let raw = backward(inputs, w)
        let analytic = raw.enumerated().map { k, g in
            accumulating.contains(k) ? zip(g, gradientStart(g.count)).map { $0 - $1 } : g
        }
        XCTAssertEqual(analytic.count, inputs.count, "\(name): one gradient per input", file: file, line: line)
        func loss(_ x: [[Float]]) -> Double {
            zip(forward(x), w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        var worst = [Float]()
        for (k, input) in inputs.enumerated() {
            var numeric = [Float](repeating: 0, count: input.count)
            var x = inputs
            for i in input.indices {
                let saved = x[k][i]
                x[k][i] = saved + h
                let up = loss(x)
                x[k][i] = saved - h
                let down = loss(x)
                x[k][i] = saved
                numeric[i] = Float((up - down) / (2 * Double(h)))
            }
            XCTAssertEqual(analytic[k].count, input.count, "\(name): gradient size of input \(k)", file: file, line: line)
            let scale = max(1e-2, numeric.map(abs).max() ?? 0)
            let (err, at) = largestDifference(analytic[k], numeric)
            let rel = err / scale
            worst.append(rel)
            let label = names?[k] ?? "input \(k)"
            XCTAssertLessThanOrEqual(
                rel, tolerance,
                "\(name) (seed \(seed)): gradient of \(label) off by \(rel) relative at element \(at): analytic \(analytic[k][at]), numeric \(numeric[at])",
                file: file, line: line)
        }
        print("gradient check \(name) (seed \(seed)): worst relative error per input \(worst)")
        return worst
    }
}

/// Runs `body` with mutable pointers to copies of `arrays`, returning the arrays afterwards.
func withPointers(_ arrays: [[Float]], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
    let buffers = arrays.map { a -> UnsafeMutablePointer<Float> in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(a.count, 1))
        p.initialize(repeating: 0, count: max(a.count, 1))
        a.withUnsafeBufferPointer { if a.count > 0 { p.update(from: $0.baseAddress!, count: a.count) } }
        return p
    }
    body(buffers)
    defer { buffers.forEach { $0.deallocate() } }
    return zip(buffers, arrays).map { Array(UnsafeBufferPointer(start: $0, count: $1.count)) }
}

func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }

/// The largest `|a − b|` and where it is. NaN anywhere (in either) is the answer, never
/// skipped: `max` and `>` drop NaN, which made an all-NaN gradient compare as error 0.
func largestDifference(_ a: [Float], _ b: [Float]) -> (error: Float, at: Int) {
    precondition(a.count == b.count, "sizes \(a.count) and \(b.count) differ")
    var err: Float = 0, at = 0
    for i in a.indices {
        let d = abs(a[i] - b[i])
        if d.isNaN { return (.nan, i) }
        if d > err { (err, at) = (d, i) }
    }
    return (err, at)
}

/// Where the gradient buffers of an accumulating check start (see `GradientCheck.check`'s
/// `accumulating`): non-zero, so a backward that overwrites instead of adding is caught.
func gradientStart(_ n: Int) -> [Float] {
    (0..<n).map { Float(($0 * 7) % 13) * 0.25 - 1.5 }
}
