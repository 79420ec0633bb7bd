import XCTest
@testable import NGPT

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
            try model.forward(tokens: tokens, targets: nil, batch: 1, sequence: tokens.count)
            let full = model.logits.scalars
            let gen = Generator(model: model)
            for (i, t) in tokens.enumerated() {
                let got = i == 0 ? try gen.prime([t]) : try gen.append(t)
                let want = Array(full[i * 23..<(i + 1) * 23])
                let err = zip(got, want).map { abs($0 - $1) }.max()! / want.map(abs).max()!
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
}
