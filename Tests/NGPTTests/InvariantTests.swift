import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class InvariantTests: XCTestCase {
    func testRoPEPreservesNormsAndIsRelative() {
        let (dk, positions) = (8, 12)
        let table = RoPETable(positions: positions, headWidth: dk)
        var rng = SeededGenerator(seed: 21)
        let q = (0..<dk).map { _ in Float(rng.nextNormal()) }
        let k = (0..<dk).map { _ in Float(rng.nextNormal()) }
        /// The vector `x` placed at every position of one sequence (rows = positions, width dk).
        func rotatedAtAllPositions(_ x: [Float]) -> [Float] {
            let rows = [Float]((0..<positions).flatMap { _ in x })
            return withPointers([rows]) { p in
                ropeForward(p[0], table, rows: positions, sequence: positions, heads: 1, rowStride: dk, blocks: 1) }[0]
        }
        let rq = rotatedAtAllPositions(q), rk = rotatedAtAllPositions(k)
        let norm = { (v: ArraySlice<Float>) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        for p in 0..<positions {
            XCTAssertEqual(norm(rq[p * dk..<(p + 1) * dk]), norm(q[...]), accuracy: 1e-5, "RoPE must preserve the norm at position \(p)")
        }
        func score(_ m: Int, _ n: Int) -> Float {
            zip(rq[m * dk..<(m + 1) * dk], rk[n * dk..<(n + 1) * dk]).reduce(0) { $0 + $1.0 * $1.1 }
        }
        for offset in 0..<4 {
            let reference = score(offset, 0)
            for n in 1..<(positions - offset) {
                XCTAssertEqual(score(n + offset, n), reference, accuracy: 1e-4,
                               "q·k at positions (\(n + offset), \(n)) must depend only on the offset \(offset)")
            }
        }
        // Position 0 is the identity.
        XCTAssertEqual(Array(rq[0..<dk]), q)
    }

    func testParameterNamesAreUniqueAndSizesAddUp() throws {
        for kind in ModelKind.allCases {
            let c = ModelConfig(kind: kind, vocabularySize: 50, width: 16, heads: 4, layers: 3, context: 8)
            let layout = ParameterLayout(config: c)
            XCTAssertEqual(Set(layout.names).count, layout.names.count, "\(kind): names must be unique")
            var offset = 0
            for e in layout.entries {
                XCTAssertEqual(e.offset, offset, "\(kind): \(e.name) must start where the previous tensor ends")
                offset += e.count
            }
            XCTAssertEqual(offset, layout.count)
            let d = 16, v = 50, l = 3
            let matrices = 2 * v * d + l * (4 * d * d + 8 * d * d + 4 * d * d)
            let vectors = kind == .gpt ? l * 2 * d + d : l * (3 * d + 8 * d) + v
            XCTAssertEqual(layout.count, matrices + vectors, "\(kind): parameter count")
            XCTAssertEqual(layout.entry("transformer.h.2.c_fc.weight")?.shape, [8 * d, d])
            XCTAssertEqual(layout.entry("transformer.h.0.mlp_c_proj.weight")?.shape, [d, 4 * d])
        }
    }

    func testScalarAndFixedScalersChangeTheLayout() {
        var c = ModelConfig(kind: .ngpt, vocabularySize: 10, width: 8, heads: 2, layers: 1, context: 4)
        c.alpha.mode = .scalar
        c.sqk.mode = .fixed
        let layout = ParameterLayout(config: c)
        XCTAssertEqual(layout.entry("transformer.h.0.attn_alpha")?.shape, [1])
        XCTAssertNil(layout.entry("transformer.h.0.sqk"), "a fixed scaler has no parameter")
        XCTAssertEqual(layout.entry("sz")?.shape, [10])
    }

    func testNGPTStepKeepsVectorsOnTheSphere() throws {
        let c = ModelConfig(kind: .ngpt, vocabularySize: 17, width: 16, heads: 2, layers: 2, context: 8)
        let model = try Transformer(config: c, seed: 5)
        let step = TrainingStep(model: model, optimizer: AdamW(layout: model.layout, weightDecay: 0))
        var rng = SeededGenerator(seed: 6)
        let tokens = (0..<16).map { _ in Int(rng.next() % 17) }
        try step(lr: 0.05, batch: 2, sequence: 8) { (tokens, tokens.reversed()) }
        XCTAssertEqual(model.normalizedMatrices.count, 2 + 6 * c.layers, "every matrix of nGPT is normalised")
        for (e, alongRows) in model.normalizedMatrices {
            let m = model.parameters.tensor(e.name)!
            let vectors = alongRows ? m : m.transposed
            XCTAssertEqual(vectors.columns, c.width, "\(e.name): the normalised axis has length d")
            for r in 0..<vectors.rows {
                let norm = vectors.rows(r..<r + 1).scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
                XCTAssertEqual(norm, 1, accuracy: 1e-5, "\(e.name) vector \(r) must be unit length after a step")
            }
        }
    }

    func testInvalidConfigurationsAreRejected() {
        func message(_ c: ModelConfig) -> String? {
            do { try c.validate(); return nil } catch { return "\(error)" }
        }
        XCTAssertTrue(message(ModelConfig(kind: .gpt, width: 30, heads: 4))?.contains("must divide") ?? false)
        XCTAssertTrue(message(ModelConfig(kind: .gpt, width: 12, heads: 4))?.contains("odd") ?? false)
        XCTAssertNil(message(ModelConfig(kind: .ngpt, width: 32, heads: 4)))
    }

    func testOutOfRangeTokensAreRejected() throws {
        let model = try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 10, width: 8, heads: 2, layers: 1, context: 4), seed: 1)
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 10, 3], batch: 1, sequence: 4)) { error in
            XCTAssertEqual(error as? ModelInputError, .tokenOutOfRange(position: 2, token: 10, vocabularySize: 10))
        }
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 3], batch: 1, sequence: 4))
        XCTAssertThrowsError(try model.backward(), "backward without a forward with targets")
    }

    func testScheduleMatchesTheSpec() {
        let s = LearningRateSchedule(maxLR: 1e-3, warmup: 3, total: 10)
        XCTAssertEqual(s.lr(at: 0), 0)
        XCTAssertEqual(s.lr(at: 2), 2e-3 / 3, accuracy: 1e-15)
        XCTAssertEqual(s.lr(at: 3), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.lr(at: 10), 0, accuracy: 1e-15)
        XCTAssertEqual(s.lr(at: 6), 1e-3 * 0.5 * (1 + cos(Double.pi * 3 / 7)), accuracy: 1e-15)
    }
}
