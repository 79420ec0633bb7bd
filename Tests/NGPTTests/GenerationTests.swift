import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class GenerationTests: XCTestCase {
    func config(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
    }

    /// The cached logits of every position equal those of a full forward pass (within 1e-5 of
    /// their largest magnitude: the two sum in different orders).
    func testCachedLogitsEqualFullForward() throws {
        for kind in ModelKind.allCases {
            let model = try Transformer(config: config(kind), seed: 3)
            let tokens = [1, 5, 7, 2, 22, 0, 9, 13]
            try model.forward(tokens: tokens, batch: 1, sequence: tokens.count)
            let full = model.logits.scalars
            let gen = Generator(model: model)
            for (i, t) in tokens.enumerated() {
                let got = i == 0 ? try gen.prime([t]) : try gen.append(t)
                let want = Array(full[i * 23..<(i + 1) * 23])
                let err = Float(maxAbsError(got, want)) / want.map(abs).max()!
                XCTAssertLessThanOrEqual(err, 1e-5, "\(kind): cached logits at position \(i) differ by \(err) of their max-abs value")
            }
        }
    }

    /// Cached and uncached generation give the same tokens, also past the context window.
    func testCachedAndUncachedGenerationAgree() throws {
        for kind in ModelKind.allCases {
            let model = try Transformer(config: config(kind), seed: 4)
            for options in [SamplingOptions(temperature: 0), SamplingOptions(temperature: 1, topK: 5, seed: 9)] {
                let cached = try Generator(model: model).generate(prompt: [3, 4, 5], count: 12, options: options)
                let uncached = try model.generateUncached(prompt: [3, 4, 5], count: 12, options: options)
                XCTAssertEqual(cached, uncached, "\(kind), \(options): cached and uncached generation differ")
                XCTAssertEqual(cached.count, 12)
            }
        }
    }

    func testTopKAndGreedySampling() {
        var rng = SeededGenerator(seed: 1)
        let logits: [Float] = [0, 5, 1, 4]
        XCTAssertEqual(SamplingOptions(temperature: 0).sample(logits, using: &rng), 1)
        let top2 = SamplingOptions(temperature: 1, topK: 2)
        for _ in 0..<200 { XCTAssertTrue([1, 3].contains(top2.sample(logits, using: &rng)), "top-k 2 must only draw 1 or 3") }
    }

    func testOutOfRangePromptIsRejected() throws {
        let gen = Generator(model: try Transformer(config: config(.gpt), seed: 1))
        XCTAssertThrowsError(try gen.prime([1, 99])) {
            XCTAssertEqual($0 as? ModelInputError, .tokenOutOfRange(position: 1, token: 99, vocabularySize: 23))
        }
    }

    /// Decoding with bfloat16 weights gives the logits of float32 decoding with the matrices
    /// rounded to bfloat16 (within 1e-4 of their max-abs value: the sums run in another order).
    func testBFloat16DecodingEqualsRoundedWeights() throws {
        for kind in ModelKind.allCases {
            let config = ModelConfig(kind: kind, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
            let model = try Transformer(config: config, seed: 5), rounded = try Transformer(config: config, seed: 5)
            for e in rounded.layout.entries where e.shape.count == 2 && e.name != "transformer.wte.weight" {
                let t = rounded.parameters.tensor(e.name)!
                rounded.parameters.set(e.name, Tensor(shape: e.shape, scalars: t.scalars.map(roundToBFloat16)))
            }
            let half = Generator(model: model, precision: .bfloat16), exact = Generator(model: rounded)
            for (i, t) in [4, 9, 1, 22, 7].enumerated() {
                let want = i == 0 ? try exact.prime([t]) : try exact.append(t)
                let got = i == 0 ? try half.prime([t]) : try half.append(t)
                let err = Float(maxAbsError(got, want)) / want.map(abs).max()!
                XCTAssertLessThanOrEqual(err, 1e-4, "\(kind): bfloat16 logits at position \(i) differ by \(err) of their max-abs value")
            }
        }
    }

    /// The bfloat16 row product equals a float32 product with the weights rounded to bfloat16
    /// (within float32 summation error), for widths with and without a partial last vector.
    func testBFloat16RowProductMatchesRoundedWeights() {
        var g = GradientCheck(seed: 30)
        for (i, o) in [(16, 9), (6, 5), (40, 13)] {
            let w = g.normal(o * i), x = g.normal(i)
            var pairs = [UInt32](repeating: 0, count: o * i / 2)
            let got = withPointers([w, x, zeros(o), zeros(i)]) { p in
                pairs.withUnsafeMutableBufferPointer { packBFloat16Pairs($0.baseAddress!, p[0], count: o * i) }
                pairs.withUnsafeBufferPointer { linearRowBFloat16(p[2], p[1], $0.baseAddress!, p[3], inputs: i, outputs: o) } }[2]
            for r in 0..<o {
                let want = (0..<i).reduce(0.0) { $0 + Double(roundToBFloat16(w[r * i + $1])) * Double(x[$1]) }
                XCTAssertEqual(Double(got[r]), want, accuracy: 1e-5 * max(1, abs(want)), "row \(r) of a \(o)×\(i) bfloat16 product (seed 30)")
            }
        }
    }
}
