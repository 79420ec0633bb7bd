import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Whole-model gradient checks: for every parameter tensor, the derivative of the loss along
/// that tensor's own gradient direction (which must equal the gradient's norm) and along a
/// seeded random direction, by central differences with h = 1e-2 in float32 (the library's
/// ``FiniteDifferenceCheck``). Covers GPT, nGPT
/// and each ablation of docs/model.md §8; the per-kernel checks are in `KernelGradientTests`.
final class ModelGradientTests: XCTestCase {
    static func tiny(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
    }

    func check(_ config: ModelConfig, seed: UInt64, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Transformer(config: config, seed: seed)
        let results = try FiniteDifferenceCheck().run(model, batch: 2, sequence: 5, seed: seed &+ 100)
        XCTAssertGreaterThanOrEqual(results.count, model.layout.entries.count, "\(label): every tensor checked", file: file, line: line)
        for r in results where !r.passed {
            XCTFail("\(label) (seed \(seed)): \(r)", file: file, line: line)
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
