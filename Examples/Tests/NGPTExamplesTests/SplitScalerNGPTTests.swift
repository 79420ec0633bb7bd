import NGPT
import NGPTExamples
import XCTest

final class SplitScalerNGPTTests: XCTestCase {
    func testGradientsMatchFiniteDifferences() throws {
        let c = tinyConfig(.ngpt)
        try checkGradients(try Transformer(architecture: SplitScalerNGPT(config: c), seed: 1), seed: 101, label: "ngpt-split-scalers")
        // Each scaler in another mode, with its own s_init and s_scale.
        let mixed = try SplitScalerNGPT(config: c, alphaA: ScalerConfig(mode: .vector, initValue: 0.2, scale: 0.5, absolute: true),
                                        alphaM: ScalerConfig(mode: .scalar, initValue: 0.03, scale: 1),
                                        su: ScalerConfig(mode: .fixed, initValue: 1.5, scale: 1),
                                        sv: ScalerConfig(mode: .vector, initValue: 0.7, scale: 2))
        try checkGradients(try Transformer(architecture: mixed, seed: 2), seed: 102, label: "ngpt-split-scalers mixed")
    }

    /// Configured as the library's nGPT, it is the library's nGPT: same seed, same parameters and
    /// logits; and still after every vector is moved away from its initial value (s_u and s_ν
    /// lie where nGPT's s_uv does, so a swap of the two would show).
    func testReducesToNGPT() throws {
        let c = ModelConfig(kind: .ngpt, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
        let tokens = [3, 1, 4, 1, 5, 9, 2, 6]
        let split = try Transformer(architecture: SplitScalerNGPT(config: c), seed: 5)
        let ngpt = try Transformer(architecture: NGPTArchitecture(config: c), seed: 5)
        XCTAssertEqual(split.layout.entry("transformer.h.1.su")?.shape, [c.hiddenWidth])
        XCTAssertEqual(split.layout.entry("transformer.h.1.sv")?.shape, [c.hiddenWidth])
        XCTAssertEqual(split.layout.entry("transformer.h.1.su")?.offset, ngpt.layout.entry("transformer.h.1.suv")?.offset)
        XCTAssertEqual(split.parameterCount, ngpt.parameterCount)
        func largestLogitDifference() throws -> Float {
            for model in [split, ngpt] { try model.forward(tokens: tokens, batch: 1, sequence: tokens.count) }
            return zip(split.logits.scalars, ngpt.logits.scalars).map { abs($0 - $1) }.max()!
        }
        XCTAssertLessThanOrEqual(try largestLogitDifference(), 1e-6, "at initialisation")
        var rng = SeededGenerator(seed: 12)
        for e in ngpt.layout.entries where e.shape.count == 1 {
            var t = ngpt.parameters.tensor(e.name)!
            for i in 0..<t.count { t[i] *= Float(rng.next() % 1000) / 250 }
            ngpt.parameters.set(e.name, t)
            if e.name.hasSuffix(".suv") {
                let (prefix, f) = (String(e.name.dropLast("suv".count)), c.hiddenWidth)
                split.parameters.set(prefix + "su", Tensor(shape: [f], scalars: Array(t.scalars[..<f])))
                split.parameters.set(prefix + "sv", Tensor(shape: [f], scalars: Array(t.scalars[f...])))
            } else {
                split.parameters.set(e.name, t)
            }
        }
        XCTAssertLessThanOrEqual(try largestLogitDifference(), 1e-6, "with every vector moved")
        XCTAssertEqual(split.layerValues(), ngpt.layerValues())
    }

    /// In scalar mode nGPT shares one s_uv; copied into s_u and s_ν it gives nGPT's logits, and
    /// the values per layer read the same.
    func testScalarModeReducesToNGPTAfterCopyingByName() throws {
        var c = ModelConfig(kind: .ngpt, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
        c.alpha.mode = .scalar; c.suv.mode = .scalar
        let tokens = [2, 7, 1, 8, 2, 8, 1, 8]
        let ngpt = try Transformer(architecture: NGPTArchitecture(config: c), seed: 6)
        let split = try Transformer(architecture: SplitScalerNGPT(config: c), seed: 7)
        var rng = SeededGenerator(seed: 8)
        for e in ngpt.layout.entries {
            var t = ngpt.parameters.tensor(e.name)!
            if e.shape.count == 1 { for i in 0..<t.count { t[i] *= 1 + Float(rng.next() % 100) / 100 } }   // away from their initial values
            ngpt.parameters.set(e.name, t)
            if e.name.hasSuffix(".suv") {
                let prefix = String(e.name.dropLast("suv".count))
                split.parameters.set(prefix + "su", t)
                split.parameters.set(prefix + "sv", t)
            } else {
                split.parameters.set(e.name, t)
            }
        }
        for model in [split, ngpt] { try model.forward(tokens: tokens, batch: 1, sequence: tokens.count) }
        let err = zip(split.logits.scalars, ngpt.logits.scalars).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(err, 1e-6, "largest logit difference from nGPT")
        XCTAssertEqual(split.layerValues(), ngpt.layerValues())
        XCTAssertEqual(split.effectiveLogitScales(), ngpt.effectiveLogitScales())
    }

    /// Each of the four configurations reaches its own scaler.
    func testScalersAreConfiguredSeparately() throws {
        let c = tinyConfig(.ngpt)
        let a = try SplitScalerNGPT(config: c, alphaA: ScalerConfig(mode: .fixed, initValue: 0.1, scale: 1),
                                    alphaM: ScalerConfig(mode: .vector, initValue: 0.02, scale: 1),
                                    su: ScalerConfig(mode: .scalar, initValue: 2, scale: 1),
                                    sv: ScalerConfig(mode: .vector, initValue: 0.5, scale: 1))
        let model = try Transformer(architecture: a, seed: 9)
        XCTAssertNil(model.layout.entry("transformer.h.0.attn_alpha"))
        XCTAssertEqual(model.layout.entry("transformer.h.0.mlp_alpha")?.shape, [c.width])
        XCTAssertEqual(model.layout.entry("transformer.h.0.su")?.shape, [1])
        XCTAssertEqual(model.layout.entry("transformer.h.0.sv")?.shape, [c.hiddenWidth])
        let layer0 = Dictionary(uniqueKeysWithValues: model.layerValues().map { ($0.name, $0.values[0]) })
        XCTAssertEqual(layer0["alpha_a"]!, 0.1, accuracy: 1e-6)
        XCTAssertEqual(layer0["alpha_m"]!, 0.02, accuracy: 1e-6)
        XCTAssertEqual(layer0["su"]!, 2, accuracy: 1e-6)
        XCTAssertEqual(layer0["sv"]!, 0.5, accuracy: 1e-6)
        XCTAssertEqual(model.effectiveLogitScales().count, c.vocabularySize)
        XCTAssertThrowsError(try SplitScalerNGPT(config: c, su: ScalerConfig(initValue: 1, scale: 0)))
    }

    /// The default update hook keeps the matrices' vectors on the unit sphere after a step.
    func testStepRenormalises() throws {
        let c = tinyConfig(.ngpt)
        let model = try Transformer(architecture: SplitScalerNGPT(config: c), seed: 10)
        let step = TrainingStep(model: model, recipe: model.architecture.recipe)
        try step(lr: 0.05, batch: 1, sequence: 5) { ([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]) }
        let w = model.parameters.tensor("transformer.h.0.c_fc.weight")!
        let worst = (0..<w.shape[0]).map { r in
            abs((0..<w.shape[1]).reduce(Float(0)) { $0 + w[r, $1] * w[r, $1] }.squareRoot() - 1)
        }.max()!
        XCTAssertLessThan(worst, 1e-5, "largest |‖row‖ − 1| of c_fc after a step")
    }

    func testCachedDecodingEqualsFullForward() throws {
        let c = ModelConfig(kind: .ngpt, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
        try checkCachedDecoding(try SplitScalerNGPT(config: c, alphaM: ScalerConfig(initValue: 0.1, scale: 1),
                                                    sv: ScalerConfig(mode: .scalar, initValue: 2, scale: 1)), seed: 11)
    }

    /// 30 steps of nGPT's recipe on the prose lower the held-out loss.
    func testTrainsOnProse() throws {
        let c = ModelConfig(kind: .ngpt, vocabularySize: 256, width: 32, heads: 4, layers: 2, context: 32)
        let r = try trainOnProse(try SplitScalerNGPT(config: c))
        print("ngpt-split-scalers: held-out loss \(r.before) → \(r.after); training loss \(r.losses.first!) → \(r.losses.last!)")
        XCTAssertLessThan(r.after, r.before - 0.3, "held-out loss \(r.before) → \(r.after)")
    }
}
