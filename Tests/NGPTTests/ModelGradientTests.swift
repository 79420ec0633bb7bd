import XCTest
@testable import NGPT

/// Whole-model gradient checks: for every parameter tensor, the derivative of the loss along
/// that tensor's own gradient direction (which must equal the gradient's norm) and along a
/// seeded random direction, by central differences with h = 1e-2 in float32. Covers GPT, nGPT
/// and each ablation of spec §8; the per-kernel checks are in `KernelGradientTests`.
final class ModelGradientTests: XCTestCase {
    static func tiny(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
    }

    func check(_ config: ModelConfig, seed: UInt64, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Transformer(config: config, seed: seed)
        var rng = SeededGenerator(seed: seed &+ 100)
        // move scalers away from their initial values so |p|, sign and scale all matter
        for e in model.layout.entries where e.shape.count == 1 {
            var t = model.parameters.tensor(e.name)!
            for i in 0..<t.count { t[i] = t[i] * Float(1 + 0.3 * rng.nextNormal()) }
            model.parameters.set(e.name, t)
        }
        let (b, t) = (2, 5)
        let tokens = (0..<b * t).map { _ in Int(rng.next() % UInt64(config.vocabularySize)) }
        let targets = (0..<b * t).map { _ in Int(rng.next() % UInt64(config.vocabularySize)) }
        func loss() throws -> Double { Double(try model.forward(tokens: tokens, targets: targets, batch: b, sequence: t)) }
        _ = try loss()
        model.zeroGradients()
        try model.backward()
        let h: Float = 1e-2
        for e in model.layout.entries {
            let grad = model.gradients.tensor(e.name)!
            let saved = model.parameters.tensor(e.name)!
            let gnorm = grad.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
            var random = (0..<e.count).map { _ in Float(rng.nextNormal()) }
            let rnorm = random.reduce(0) { $0 + $1 * $1 }.squareRoot()
            random = random.map { $0 / rnorm }
            let directions: [(String, [Float])] = (gnorm > 0 ? [("gradient", grad.scalars.map { $0 / gnorm })] : []) + [("random", random)]
            for (kind, u) in directions {
                func shifted(_ s: Float) throws -> Double {
                    model.parameters.set(e.name, Tensor(shape: e.shape, scalars: zip(saved.scalars, u).map { $0 + s * $1 }))
                    return try loss()
                }
                let numeric = (try shifted(h) - shifted(-h)) / (2 * Double(h))
                model.parameters.set(e.name, saved)
                let analytic = zip(grad.scalars, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                XCTAssertEqual(analytic, numeric, accuracy: 2e-2 * Double(gnorm) + 2e-4,
                               "\(label) (seed \(seed)): d loss along the \(kind) direction of \(e.name)",
                               file: file, line: line)
            }
        }
    }

    func testGPT() throws { try check(Self.tiny(.gpt), seed: 1, label: "gpt") }

    func testNGPT() throws { try check(Self.tiny(.ngpt), seed: 2, label: "ngpt") }

    func testNGPTAllScalarScalers() throws {
        var c = Self.tiny(.ngpt)
        c.alpha.mode = .scalar; c.sqk.mode = .scalar; c.suv.mode = .scalar; c.sz.mode = .scalar
        try check(c, seed: 3, label: "ngpt all-scalar")
    }

    func testNGPTFixedScalers() throws {
        var c = Self.tiny(.ngpt)
        c.sqk.mode = .fixed; c.suv.mode = .fixed; c.sz.mode = .scalar
        try check(c, seed: 4, label: "ngpt fixed sqk/suv, scalar sz")
        c.alpha.mode = .fixed; c.sz.mode = .fixed
        try check(c, seed: 5, label: "ngpt all fixed")
    }

    func testNGPTWithoutQKNormalization() throws {
        var c = Self.tiny(.ngpt)
        c.qkNormalization = false
        try check(c, seed: 6, label: "ngpt without q/k normalisation")
    }

    func testNGPTSignedAlphaAndOtherScales() throws {
        var c = Self.tiny(.ngpt)
        c.alpha.absolute = false
        c.sqk = ScalerConfig(initValue: 0.05, scale: 1)
        c.sz = ScalerConfig(initValue: 1, scale: 1)
        try check(c, seed: 7, label: "ngpt signed alpha, sqk 0.05/1, sz 1/1")
    }
}
