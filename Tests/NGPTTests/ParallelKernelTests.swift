import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// The fast paths that the small shapes of `KernelGradientTests` never reach: causal attention
/// over several row blocks (against direct sums in Double), and every parallel split of the
/// row-wise kernels, the optimiser and the weight normalisation (one thread against two).
final class ParallelKernelTests: XCTestCase {
    /// Attention over 150 positions (blocks of 128 and 22 rows): output and all three
    /// gradients within 1e-5 of their max-abs value of sums computed directly in Double.
    func testBlockedCausalAttentionMatchesDirectSums() {
        let (b, t, c, h) = (2, 150, 16, 2)
        let dk = c / h, n = b * t, scale: Float = 0.7
        var g = GradientCheck(seed: 21)
        let qkv = g.normal(n * 3 * c), dout = g.normal(n * c)
        let size = b * h * attentionScoresCount(sequence: t)
        let fwd = withPointers([qkv, zeros(n * c), zeros(size)]) { p in
            attentionForward(p[1], p[2], p[0], batch: b, sequence: t, width: c, heads: h, scale: scale) }
        let bwd = withPointers([qkv, fwd[2], dout, zeros(n * 3 * c), zeros(size)]) { p in
            attentionBackward(p[3], p[4], p[2], p[0], p[1], batch: b, sequence: t, width: c, heads: h, scale: scale) }

        var out = [Double](repeating: 0, count: n * c), dqkv = [Double](repeating: 0, count: n * 3 * c)
        func at(_ row: Int, _ col: Int) -> Double { Double(qkv[row * 3 * c + col]) }
        for bi in 0..<b {
            for hi in 0..<h {
                let q0 = hi * dk, k0 = c + hi * dk, v0 = 2 * c + hi * dk
                for i in 0..<t {
                    let ri = bi * t + i
                    var s = (0...i).map { j in (0..<dk).reduce(0.0) { $0 + at(ri, q0 + $1) * at(bi * t + j, k0 + $1) } * Double(scale) }
                    let m = s.max()!
                    s = s.map { Foundation.exp($0 - m) }
                    let total = s.reduce(0, +)
                    let p = s.map { $0 / total }
                    for j in 0...i { for e in 0..<dk { out[ri * c + q0 + e] += p[j] * at(bi * t + j, v0 + e) } }
                    let dy = (0..<dk).map { Double(dout[ri * c + q0 + $0]) }
                    let dp = (0...i).map { j in (0..<dk).reduce(0.0) { $0 + dy[$1] * at(bi * t + j, v0 + $1) } }
                    let rowsum = zip(p, dp).reduce(0.0) { $0 + $1.0 * $1.1 }
                    for j in 0...i {
                        let rj = bi * t + j, ds = p[j] * (dp[j] - rowsum) * Double(scale)
                        for e in 0..<dk {
                            dqkv[rj * 3 * c + v0 + e] += p[j] * dy[e]
                            dqkv[ri * 3 * c + q0 + e] += ds * at(rj, k0 + e)
                            dqkv[rj * 3 * c + k0 + e] += ds * at(ri, q0 + e)
                        }
                    }
                }
            }
        }
        func relativeError(_ got: [Float], _ want: [Double]) -> Double {
            maxAbsError(got, want) / want.map(abs).max()!
        }
        XCTAssertLessThan(relativeError(fwd[1], out), 1e-5, "blocked attention output (seed 21)")
        XCTAssertLessThan(relativeError(bwd[3], dqkv), 1e-5, "blocked attention gradient of q|k|v (seed 21)")
    }

    /// Every kernel that splits its work between threads, at shapes where it does (rows and
    /// columns not multiples of the split), gives bit-identical results on one and two threads.
    /// (OpenBLAS does not: how a product is cut into blocks changes its rounding, so the whole
    /// model is identical only for the same thread count, and this is checked kernel by kernel.)
    func testParallelKernelsAreIdenticalOnOneAndTwoThreads() {
        let (b, t, c, h, f, v) = (4, 130, 128, 4, 512, 80)
        let n = b * t, dk = c / h
        var g = GradientCheck(seed: 22)
        let x = g.normal(n * 3 * c), y = g.normal(n * 3 * c), w = g.normal(2 * f).map { 1 + 0.3 * $0 }
        let alpha = g.normal(c).map { 0.2 + 0.1 * $0 }, uv = g.normal(n * 2 * f), dh = g.normal(n * f)
        let logits = g.normal(n * v, std: 2), targets: [Int32] = (0..<n).map { Int32(($0 * 7 + 3) % v) }
        let table = RoPETable(positions: t, headWidth: dk)
        let size = b * h * attentionScoresCount(sequence: t)

        func run() -> [[Float]] {
            var out = [[Float]]()
            out += withPointers([x, w, zeros(n * c), zeros(n), y, zeros(n * c), zeros(c)]) { p in
                rmsNormForward(p[2], p[3], p[0], p[1], rows: n, width: c)
                rmsNormBackward(p[5], p[6], p[4], p[0], p[1], p[3], rows: n, width: c) }
            out += withPointers([x, y]) { p in
                ropeForward(p[0], table, rows: n, sequence: t, heads: h, rowStride: 3 * c, blocks: 2)
                ropeBackward(p[1], table, rows: n, sequence: t, heads: h, rowStride: 3 * c, blocks: 2) }
            out += withPointers([x, w, zeros(n * 2 * c), zeros(n * 2 * h), y, zeros(c)]) { p in
                qkNormForward(p[0], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true,
                              rotary: Rotary(table: table, sequence: t))
                qkNormBackward(p[4], p[5], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true,
                               rotary: Rotary(table: table, sequence: t)) }
            out += withPointers([x, y, alpha, zeros(n * c), zeros(n), zeros(n * c), zeros(n), zeros(n),
                                 zeros(n * c), zeros(n * c), zeros(c), zeros(n)]) { p in
                lerpResidualForward(p[3], p[4], p[5], p[6], p[7], p[0], p[1], p[2], rows: n, width: c)
                lerpResidualBackward(p[8], p[9], p[10], p[1], p[3], p[0], p[4], p[5], p[6], p[7], p[2], p[11], rows: n, width: c) }
            out += withPointers([uv, w, zeros(n * f), dh, zeros(n * 2 * f), zeros(2 * f)]) { p in
                swigluForward(p[2], p[0], p[1], multiplier: 1.5, rows: n, hidden: f)
                swigluBackward(p[4], p[5], p[3], p[0], p[1], multiplier: 1.5, rows: n, hidden: f) }
            out += withPointers([logits, w, zeros(n * v), zeros(n * v), zeros(v), zeros(n), zeros(n * v)]) { p in
                scaleColumnsForward(p[2], p[0], p[1], rows: n, columns: v)
                scaleColumnsBackward(p[3], p[4], p[0], p[2], p[1], rows: n, columns: v)
                targets.withUnsafeBufferPointer { tg in
                    p[5][0] = crossEntropyForward(p[5], p[6], p[2], tg.baseAddress!, rows: n, vocabulary: v)
                    crossEntropyBackward(p[6], tg.baseAddress!, dloss: 0.5, rows: n, vocabulary: v) } }
            out += withPointers([zeros(v * c), x]) { p in
                targets.withUnsafeBufferPointer { embeddingBackward(p[0], p[1], $0.baseAddress!, rows: n, width: c) } }
            out += withPointers([x, y]) { p in
                normalizeVectors(p[0], rows: 3 * c, columns: c, alongRows: true)
                normalizeVectors(p[1], rows: c, columns: 4 * c, alongRows: false) }
            // The backward's scratch (last) is left out: each thread reuses one item's part of it.
            out += withPointers([x, zeros(n * c), zeros(size), y, zeros(n * 3 * c), zeros(size)]) { p in
                attentionForward(p[1], p[2], p[0], batch: b, sequence: t, width: c, heads: h, scale: 0.5)
                attentionBackward(p[4], p[5], p[3], p[0], p[2], batch: b, sequence: t, width: c, heads: h, scale: 0.5) }
                .dropLast()
            let model = try! Transformer(config: ModelConfig(kind: .gpt, vocabularySize: v, width: c, heads: h, layers: 1, context: t), seed: 25)
            var rng = SeededGenerator(seed: 26)
            model.gradients.storage.write((0..<model.parameterCount).map { _ in Float(rng.nextNormal()) }, at: 0)
            let optimizer = AdamW(layout: model.layout, weightDecay: 0.1, clip: 1)
            let norm = optimizer.update(model.parameters, gradients: model.gradients, lr: 1e-2)
            out += [[norm], model.parameters.storage.array, optimizer.secondMoment.storage.array]
            return out
        }
        let saved = Threads.count
        defer { Threads.set(saved) }
        Threads.set(1)
        let one = run()
        Threads.set(2)
        let two = run()
        for (i, (a, b)) in zip(one, two).enumerated() {
            let differing = zip(a, b).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            XCTAssertEqual(differing, 0, "buffer \(i): \(differing) of \(a.count) values differ between one and two threads (seed 22)")
        }
    }

    /// RoPE fused into the q/k normalisation gives exactly the two kernels run one after the other.
    func testRotaryFusedIntoQKNormalizationEqualsSeparateKernels() {
        let (b, t, c, h) = (2, 70, 32, 2)
        let n = b * t
        var g = GradientCheck(seed: 24)
        let x = g.normal(n * 3 * c), dx = g.normal(n * 3 * c), s = g.normal(c).map { 1 + 0.3 * $0 }
        let table = RoPETable(positions: t, headWidth: c / h)
        let fused = withPointers([x, s, zeros(n * 2 * c), zeros(n * 2 * h), dx, zeros(c)]) { p in
            qkNormForward(p[0], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true,
                          rotary: Rotary(table: table, sequence: t))
            qkNormBackward(p[4], p[5], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true,
                           rotary: Rotary(table: table, sequence: t)) }
        let separate = withPointers([x, s, zeros(n * 2 * c), zeros(n * 2 * h), dx, zeros(c)]) { p in
            ropeForward(p[0], table, rows: n, sequence: t, heads: h, rowStride: 3 * c, blocks: 2)
            qkNormForward(p[0], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true)
            qkNormBackward(p[4], p[5], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true)
            ropeBackward(p[4], table, rows: n, sequence: t, heads: h, rowStride: 3 * c, blocks: 2) }
        XCTAssertEqual(fused, separate, "fused RoPE + q/k normalisation differs from RoPE then q/k normalisation (seed 24)")
    }

    /// SwiGLU's backward writes exactly the forward output when asked to recompute it, with and
    /// without nGPT's scale, and its gradients do not change; with `overwrite` it replaces
    /// whatever duv held by what it would have added to zeros.
    func testSwiGLUBackwardRecomputesTheForwardOutput() {
        let (n, f) = (37, 20)
        var g = GradientCheck(seed: 31)
        let uv = g.normal(n * 2 * f), scale = g.normal(2 * f).map { 1 + 0.2 * $0 }, dout = g.normal(n * f)
        for scaled in [false, true] {
            let r = withPointers([uv, scale, zeros(n * f), dout, zeros(n * 2 * f), zeros(2 * f), zeros(n * f),
                                  zeros(n * 2 * f), zeros(2 * f), g.normal(n * 2 * f)]) { p in
                let s: ConstFloatPointer? = scaled ? ConstFloatPointer(p[1]) : nil
                swigluForward(p[2], p[0], s, multiplier: 1.5, rows: n, hidden: f)
                swigluBackward(p[4], scaled ? p[5] : nil, p[3], p[0], s, multiplier: 1.5, rows: n, hidden: f, recomputed: p[6])
                swigluBackward(p[7], scaled ? p[8] : nil, p[3], p[0], s, multiplier: 1.5, rows: n, hidden: f)
                swigluBackward(p[9], nil, p[3], p[0], s, multiplier: 1.5, rows: n, hidden: f, overwrite: true) }
            XCTAssertEqual(r[6], r[2], "scaled=\(scaled): recomputed SwiGLU output differs from the forward's (seed 31)")
            XCTAssertEqual(r[4], r[7], "scaled=\(scaled): recomputing changed duv (seed 31)")
            XCTAssertEqual(r[5], r[8], "scaled=\(scaled): recomputing changed dscale (seed 31)")
            XCTAssertEqual(r[9], r[7], "scaled=\(scaled): overwriting duv differs from adding to zeros (seed 31)")
        }
    }
}
