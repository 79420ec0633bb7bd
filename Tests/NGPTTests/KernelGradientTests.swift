import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Finite-difference checks of every kernel's backward (see ``GradientCheck`` for the method
/// and tolerance). Shapes are small and odd where the kernel allows it.
final class KernelGradientTests: XCTestCase {
    let (b, t, c, h) = (2, 5, 8, 2)   // N = 10 rows, dk = 4
    var n: Int { b * t }

    func testLinear() {
        var g = GradientCheck(seed: 1)
        let (i, o) = (7, 5)
        g.check("linear", inputs: [g.normal(n * i), g.normal(o * i)], names: ["x", "W"], accumulating: [0, 1],
                forward: { x in withPointers([x[0], x[1], zeros(n * o)]) { p in
                    linearForward(p[2], p[0], p[1], rows: n, inputs: i, outputs: o) }[2] },
                backward: { x, w in Array(withPointers([x[0], x[1], w, gradientStart(n * i), gradientStart(o * i)]) { p in
                    linearBackward(p[3], p[4], p[2], p[0], p[1], rows: n, inputs: i, outputs: o) }[3...4]) })
    }

    func testEmbedding() {
        var g = GradientCheck(seed: 2)
        let v = 6
        let tokens: [Int32] = (0..<n).map { Int32(($0 * 7) % v) }
        g.check("embedding", inputs: [g.normal(v * c)], names: ["wte"], accumulating: [0],
                forward: { x in tokens.withUnsafeBufferPointer { tk in withPointers([x[0], zeros(n * c)]) { p in
                    embeddingForward(p[1], tk.baseAddress!, p[0], rows: n, width: c) }[1] } },
                backward: { _, w in tokens.withUnsafeBufferPointer { tk in [withPointers([w, gradientStart(v * c)]) { p in
                    embeddingBackward(p[1], p[0], tk.baseAddress!, rows: n, width: c) }[1]] } })
    }

    func testRMSNorm() {
        var g = GradientCheck(seed: 3)
        let weight = g.normal(c).map { 1 + 0.3 * $0 }
        g.check("rmsnorm", inputs: [g.normal(n * c), weight], names: ["x", "weight"], accumulating: [0, 1],
                forward: { x in withPointers([x[0], x[1], zeros(n * c), zeros(n)]) { p in
                    rmsNormForward(p[2], p[3], p[0], p[1], rows: n, width: c) }[2] },
                backward: { x, w in
                    let fwd = withPointers([x[0], x[1], zeros(n * c), zeros(n)]) { p in
                        rmsNormForward(p[2], p[3], p[0], p[1], rows: n, width: c) }
                    return Array(withPointers([x[0], x[1], fwd[3], w, gradientStart(n * c), gradientStart(c)]) { p in
                        rmsNormBackward(p[4], p[5], p[3], p[0], p[1], p[2], rows: n, width: c) }[4...5]) })
    }

    func testRoPE() {
        var g = GradientCheck(seed: 4)
        let table = RoPETable(positions: t, headWidth: c / h)
        g.check("rope", inputs: [g.normal(n * 3 * c)], names: ["qkv"],
                forward: { x in withPointers([x[0]]) { p in
                    ropeForward(p[0], table, rows: n, sequence: t, heads: h, rowStride: 3 * c, blocks: 2) }[0] },
                backward: { _, w in [withPointers([w]) { p in
                    ropeBackward(p[0], table, rows: n, sequence: t, heads: h, rowStride: 3 * c, blocks: 2) }[0]] })
    }

    func attentionCase(scale: Float, seed: UInt64, products: AttentionProducts) {
        var g = GradientCheck(seed: seed)
        let qkv = g.normal(n * 3 * c)
        g.check("attention scale \(scale) \(products)", inputs: [qkv], names: ["qkv"], accumulating: [0],
                forward: { x in withPointers([x[0], zeros(n * c), zeros(b * h * t * t)]) { p in
                    attentionForward(p[1], p[2], p[0], batch: b, sequence: t, width: c, heads: h, scale: scale,
                                     products: products) }[1] },
                backward: { x, w in
                    let fwd = withPointers([x[0], zeros(n * c), zeros(b * h * t * t)]) { p in
                        attentionForward(p[1], p[2], p[0], batch: b, sequence: t, width: c, heads: h, scale: scale,
                                         products: products) }
                    return [withPointers([x[0], fwd[2], w, gradientStart(n * 3 * c), zeros(b * h * t * t)]) { p in
                        attentionBackward(p[3], p[4], p[2], p[0], p[1], batch: b, sequence: t, width: c, heads: h, scale: scale,
                                          products: products) }[3]] })
    }

    func testAttentionGPTScale() { attentionCase(scale: 1 / Float(c / h).squareRoot(), seed: 5, products: .blas) }
    func testAttentionNGPTScale() { attentionCase(scale: Float(c / h).squareRoot(), seed: 6, products: .blas) }
    func testCausalProductsAttentionGPTScale() { attentionCase(scale: 1 / Float(c / h).squareRoot(), seed: 5, products: .causal) }
    func testCausalProductsAttentionNGPTScale() { attentionCase(scale: Float(c / h).squareRoot(), seed: 6, products: .causal) }

    func testAttentionIsParallelInvariant() {
        var g = GradientCheck(seed: 7)
        let qkv = g.normal(n * 3 * c)
        func run() -> [Float] {
            withPointers([qkv, zeros(n * c), zeros(b * h * t * t)]) { p in
                attentionForward(p[1], p[2], p[0], batch: b, sequence: t, width: c, heads: h, scale: 0.5) }[1]
        }
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(1)
        let one = run()
        Threads.set(2)
        XCTAssertEqual(one, run(), "attention must not depend on the thread count")
    }

    func qkNormCase(normalize: Bool, seed: UInt64) {
        var g = GradientCheck(seed: seed)
        let scale = g.normal(c).map { 1 + 0.5 * $0 }
        func fwd(_ x: [[Float]]) -> [[Float]] {
            withPointers([x[0], x[1], zeros(n * 2 * c), zeros(n * 2 * h)]) { p in
                qkNormForward(p[0], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: normalize) }
        }
        g.check("qk-norm normalize=\(normalize)", inputs: [g.normal(n * 3 * c), scale], names: ["qkv", "sqk"], accumulating: [1],   // dqkv is transformed in place,
                forward: { fwd($0)[0] },
                backward: { x, w in
                    let f = fwd(x)
                    return Array(withPointers([w, gradientStart(c), f[2], f[3], x[1]]) { p in
                        qkNormBackward(p[0], p[1], p[2], p[3], p[4], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: normalize) }[0...1]) })
    }

    func testQKNormalization() { qkNormCase(normalize: true, seed: 8) }
    func testQKWithoutNormalization() { qkNormCase(normalize: false, seed: 9) }

    func testLerpResidual() {
        var g = GradientCheck(seed: 10)
        let alpha = g.normal(c).map { 0.2 + 0.1 * $0 }
        func fwd(_ x: [[Float]]) -> [[Float]] {
            withPointers([x[0], x[1], x[2], zeros(n * c), zeros(n), zeros(n * c), zeros(n), zeros(n)]) { p in
                lerpResidualForward(p[3], p[4], p[5], p[6], p[7], p[0], p[1], p[2], rows: n, width: c) }
        }
        g.check("lerp residual", inputs: [g.normal(n * c), g.normal(n * c), alpha], names: ["x", "h", "alpha"], accumulating: [0, 1, 2],
                forward: { fwd($0)[3] },
                backward: { x, w in
                    let f = fwd(x)
                    return Array(withPointers([gradientStart(n * c), gradientStart(n * c), gradientStart(c), w, f[3], x[0], f[4], f[5], f[6], f[7], x[2], zeros(2 * c)]) { p in
                        lerpResidualBackward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], rows: n, width: c) }[0...2]) })
    }

    /// The LERP residual with one scalar alpha: the scaler kernel broadcasts it, and its backward
    /// sums the per-dimension gradient.
    func testLerpResidualWithScalarAlpha() {
        var g = GradientCheck(seed: 11)
        let config = ScalerConfig(mode: .scalar, initValue: 0.05, scale: 0.2, absolute: true)
        func fwd(_ x: [[Float]]) -> [[Float]] {
            withPointers([x[0], x[1], x[2], zeros(c), zeros(n * c), zeros(n), zeros(n * c), zeros(n), zeros(n)]) { p in
                scalerForward(p[3], p[2], config, count: c)
                lerpResidualForward(p[4], p[5], p[6], p[7], p[8], p[0], p[1], p[3], rows: n, width: c) }
        }
        g.check("lerp residual, scalar alpha", inputs: [g.normal(n * c), g.normal(n * c), [0.9]], names: ["x", "h", "alpha"],
                forward: { fwd($0)[4] },
                backward: { x, w in
                    let f = fwd(x)
                    let r = withPointers([zeros(n * c), zeros(n * c), zeros(c), w, f[4], x[0], f[5], f[6], f[7], f[8], f[3], zeros(2 * c), x[2], zeros(1)]) { p in
                        lerpResidualBackward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], rows: n, width: c)
                        scalerBackward(p[13], p[2], p[12], config, count: c) }
                    return [r[0], r[1], r[13]] })
    }

    func swigluCase(scaled: Bool, seed: UInt64) {
        var g = GradientCheck(seed: seed)
        let f = 6, m: Float = scaled ? 2.5 : 1
        let inputs = scaled ? [g.normal(n * 2 * f), g.normal(2 * f).map { 0.5 + 0.2 * $0 }] : [g.normal(n * 2 * f)]
        g.check("swiglu scaled=\(scaled)", inputs: inputs, names: ["uv", "suv"], accumulating: Set(inputs.indices),
                forward: { x in withPointers(x + [zeros(n * f)]) { p in
                    swigluForward(p[x.count], p[0], scaled ? UnsafePointer(p[1]) : nil, multiplier: m, rows: n, hidden: f) }[x.count] },
                backward: { x, w in
                    let r = withPointers(x + [w, gradientStart(n * 2 * f), gradientStart(2 * f)]) { p in
                        let k = x.count
                        swigluBackward(p[k + 1], scaled ? p[k + 2] : nil, p[k], p[0], scaled ? UnsafePointer(p[1]) : nil,
                                       multiplier: m, rows: n, hidden: f) }
                    return scaled ? [r[3], r[4]] : [r[2]] })
    }

    func testSwiGLU() { swigluCase(scaled: false, seed: 12) }
    func testSwiGLUWithSuv() { swigluCase(scaled: true, seed: 13) }

    func testCrossEntropy() {
        var g = GradientCheck(seed: 14)
        let v = 7
        let targets: [Int32] = (0..<n).map { Int32(($0 * 3 + 1) % v) }
        g.check("cross-entropy", inputs: [g.normal(n * v, std: 2)], names: ["logits"],
                forward: { x in targets.withUnsafeBufferPointer { tg in
                    var loss: Float = 0
                    _ = withPointers([x[0], zeros(n), zeros(n * v)]) { p in
                        loss = crossEntropyForward(p[1], p[2], p[0], tg.baseAddress!, rows: n, vocabulary: v) }
                    return [loss] } },
                backward: { x, w in targets.withUnsafeBufferPointer { tg in
                    [withPointers([x[0], zeros(n), zeros(n * v)]) { p in
                        _ = crossEntropyForward(p[1], p[2], p[0], tg.baseAddress!, rows: n, vocabulary: v)
                        crossEntropyBackward(p[2], tg.baseAddress!, dloss: w[0], rows: n, vocabulary: v) }[2]] } })
    }

    func testLogitScaling() {
        var g = GradientCheck(seed: 15)
        let v = 7
        g.check("logit scaling", inputs: [g.normal(n * v), g.normal(v)], names: ["logits", "sz"], accumulating: [0, 1],
                forward: { x in withPointers([x[0], x[1], zeros(n * v)]) { p in
                    scaleColumnsForward(p[2], p[0], p[1], rows: n, columns: v) }[2] },
                backward: { x, w in Array(withPointers([gradientStart(n * v), gradientStart(v), w, x[0], x[1]]) { p in
                    scaleColumnsBackward(p[0], p[1], p[2], p[3], p[4], rows: n, columns: v) }[0...1]) })
    }

    func testScalers() {
        for mode in [ScalerMode.vector, .scalar] {
            for absolute in [false, true] {
                var g = GradientCheck(seed: 16)
                let config = ScalerConfig(mode: mode, initValue: 0.05, scale: 0.125, absolute: absolute)
                let count = 6, stored = mode == .vector ? count : 1
                g.check("scaler \(mode) absolute=\(absolute)", inputs: [g.normal(stored)], names: ["p"], accumulating: [0],
                        forward: { x in withPointers([x[0], zeros(count)]) { p in
                            scalerForward(p[1], p[0], config, count: count) }[1] },
                        backward: { x, w in [withPointers([x[0], w, gradientStart(stored)]) { p in
                            scalerBackward(p[2], p[1], p[0], config, count: count) }[2]] })
            }
        }
        let fixed = ScalerConfig(mode: .fixed, initValue: 0.05, scale: 0.125)
        let eff = withPointers([zeros(3)]) { p in scalerForward(p[0], nil, fixed, count: 3) }[0]
        XCTAssertEqual(eff, [0.05, 0.05, 0.05], "a fixed scaler is the constant s_init")
    }
}
