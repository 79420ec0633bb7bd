import NGPT
import NGPTExamples
import XCTest

final class QKNormGPTTests: XCTestCase {
    /// At query and key matrices 10 times GPT's initial ones: the loss does not depend on their
    /// scale, but at 0.02 the q_h are so short that Norm(q_h) curves too sharply for central
    /// differences with h = 1e-2 (off by up to 15 %, shrinking as h², as it must when backward is
    /// right).
    func testGradientsMatchFiniteDifferences() throws {
        let model = try Transformer(architecture: QKNormGPT(config: tinyConfig(.gpt)), seed: 1)
        scaleQueriesAndKeys(model, by: 10)
        try checkGradients(model, seed: 101, label: "gpt-qknorm")
    }

    func testParameters() throws {
        let c = tinyConfig(.gpt), layout = QKNormGPT(config: c).layout
        let gain = try XCTUnwrap(layout.entry("transformer.h.1.qk_gain"))
        XCTAssertEqual(gain.shape, [c.width])
        XCTAssertFalse(gain.decays, "the q/k gain is a vector: no weight decay")
        XCTAssertEqual(layout.count, GPTArchitecture(config: c).layout.count + c.layers * c.width)
        let model = try Transformer(architecture: QKNormGPT(config: c), seed: 2)
        XCTAssertEqual(model.parameters.tensor("transformer.h.0.qk_gain")!.scalars, [Float](repeating: 1, count: c.width))
    }

    /// With gain 1, the attention logits are RMSNorm(q_h)·RMSNorm(k_h)/√dk = √dk·cos(q_h, k_h):
    /// scaling the query and key matrices leaves the model's output unchanged, which it does not
    /// for GPT.
    func testQueriesAndKeysAreNormalised() throws {
        let c = ModelConfig(kind: .gpt, vocabularySize: 23, width: 16, heads: 2, layers: 1, context: 8)
        let tokens = [3, 1, 4, 1, 5, 9, 2, 6]
        func logits(_ a: any Architecture, queryKeyScale: Float) throws -> [Float] {
            let model = try Transformer(architecture: a, seed: 3)
            scaleQueriesAndKeys(model, by: queryKeyScale)
            try model.forward(tokens: tokens, batch: 1, sequence: tokens.count)
            return model.logits.scalars
        }
        func maxDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! }
        let qk = QKNormGPT(config: c), gpt = GPTArchitecture(config: c)
        XCTAssertLessThan(maxDifference(try logits(qk, queryKeyScale: 1), try logits(qk, queryKeyScale: 50)), 1e-5)
        XCTAssertGreaterThan(maxDifference(try logits(gpt, queryKeyScale: 1), try logits(gpt, queryKeyScale: 50)), 1e-3)
    }

    /// The example's block is the library's: with every gain at 1 it computes what GPT with the
    /// library's q/k normalisation switch computes, to the bit (a seed draws the same matrices:
    /// the gains are constants).
    func testUnitGainsGiveTheLibrarysQKNormGPT() throws {
        var c = ModelConfig(kind: .gpt, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
        let example = try Transformer(architecture: QKNormGPT(config: c), seed: 5)
        c.gptQKNormalization = true
        let library = try Transformer(config: c, seed: 5)
        let tokens = [3, 1, 4, 1, 5, 9, 2, 6]
        for model in [example, library] { try model.forward(tokens: tokens, batch: 1, sequence: tokens.count) }
        XCTAssertEqual(example.logits.scalars, library.logits.scalars)
    }

    func testCachedDecodingEqualsFullForward() throws {
        try checkCachedDecoding(QKNormGPT(config: ModelConfig(kind: .gpt, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)), seed: 4)
    }

    /// 30 steps of GPT's recipe on the prose lower the held-out loss.
    func testTrainsOnProse() throws {
        let c = ModelConfig(kind: .gpt, vocabularySize: 256, width: 32, heads: 4, layers: 2, context: 32)
        let r = try trainOnProse(QKNormGPT(config: c))
        print("gpt-qknorm: held-out loss \(r.before) → \(r.after); training loss \(r.losses.first!) → \(r.losses.last!)")
        XCTAssertLessThan(r.after, r.before - 0.3, "held-out loss \(r.before) → \(r.after)")
    }
}

/// Multiplies every query and key matrix by `factor`.
func scaleQueriesAndKeys(_ model: Transformer, by factor: Float) {
    for name in model.layout.names where name.hasSuffix(".query.weight") || name.hasSuffix(".key.weight") {
        let w = model.parameters.tensor(name)!
        model.parameters.set(name, Tensor(shape: w.shape, scalars: w.scalars.map { factor * $0 }))
    }
}
