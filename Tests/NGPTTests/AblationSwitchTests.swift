import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// The model-level ablation switches of docs/model.md §8 that change what a model computes or
/// keeps: nGPT without weight normalisation, nGPT with plain (un-normalised) LERP residuals, and
/// GPT with per-head q/k normalisation. Each is checked for what it does, by finite differences,
/// through files and through a resumed run; the defaults stay those of the fixtures
/// (`FixtureTests`).
final class AblationSwitchTests: XCTestCase {
    static func tiny(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
    }

    static var withoutWeightNormalization: ModelConfig {
        var c = tiny(.ngpt)
        c.weightNormalization = false
        return c
    }

    static var withoutResidualNormalization: ModelConfig {
        var c = tiny(.ngpt)
        c.residualNormalization = false
        return c
    }

    static var gptWithQKNormalization: ModelConfig {
        var c = tiny(.gpt)
        c.gptQKNormalization = true
        return c
    }

    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory("ablation") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    // MARK: finite differences

    func checkGradients(_ model: Transformer, seed: UInt64, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let results = try FiniteDifferenceCheck().run(model, batch: 2, sequence: 5, seed: seed)
        XCTAssertEqual(results.filter { $0.direction == "random" }.count, model.layout.entries.count,
                       "\(label): every tensor checked", file: file, line: line)
        for r in results where !r.passed {
            XCTFail("\(label) (seed \(seed)): \(r)", file: file, line: line)
        }
    }

    /// Without weight normalisation the forward is nGPT's; the check runs after a few optimiser
    /// steps, when the matrices have left the sphere.
    func testGradientsWithoutWeightNormalization() throws {
        let model = try Transformer(config: Self.withoutWeightNormalization, seed: 1)
        try train(model, steps: 3, seed: 1)
        XCTAssertGreaterThan(largestNormDeviation(model), 1e-3, "the matrices must have left the sphere")
        try checkGradients(model, seed: 101, label: "ngpt without weight normalisation")
    }

    func testGradientsWithoutResidualNormalization() throws {
        try checkGradients(try Transformer(config: Self.withoutResidualNormalization, seed: 2), seed: 102,
                           label: "ngpt without residual normalisation")
        var both = Self.withoutResidualNormalization
        both.weightNormalization = false
        both.qkNormalization = false
        try checkGradients(try Transformer(config: both, seed: 3), seed: 103,
                           label: "ngpt without residual, weight and q/k normalisation")
    }

    /// At query and key matrices 10 times GPT's initial ones (the loss does not depend on their
    /// scale): at 0.02 the q_h are so short that Norm(q_h) curves too sharply for central
    /// differences with h = 1e-2.
    func testGradientsWithGPTQKNormalization() throws {
        let model = try Transformer(config: Self.gptWithQKNormalization, seed: 4)
        scaleQueriesAndKeys(model, by: 10)
        try checkGradients(model, seed: 104, label: "gpt with q/k normalisation")
    }

    /// The plain LERP kernel, `out = x + α⊙(Norm(h) − x)`: its forward against the formula in
    /// Double, its backward against finite differences (gradients start non-zero, so a backward
    /// that overwrites fails).
    func testPlainLerpKernel() {
        let (n, c) = (10, 8)
        var g = GradientCheck(seed: 21)
        let alpha = g.normal(c).map { 0.2 + 0.1 * $0 }
        func fwd(_ x: [[Float]]) -> [[Float]] {
            withPointers([x[0], x[1], x[2], zeros(n * c), zeros(n), zeros(n * c), zeros(n), zeros(n)]) { p in
                lerpResidualForward(p[3], p[4], p[5], p[6], p[7], p[0], p[1], p[2], rows: n, width: c, normalize: false) }
        }
        let (x, h) = (g.normal(n * c), g.normal(n * c))
        let out = fwd([x, h, alpha])[3]
        for r in 0..<n {
            let hn = (0..<c).reduce(0.0) { $0 + Double(h[r * c + $1]) * Double(h[r * c + $1]) }.squareRoot()
            for j in 0..<c {
                let (xi, hi) = (Double(x[r * c + j]), Double(h[r * c + j]))
                let want = xi + Double(alpha[j]) * (hi / hn - xi)
                XCTAssertEqual(Double(out[r * c + j]), want, accuracy: 1e-5, "plain LERP at row \(r), column \(j)")
            }
        }
        g.check("plain lerp residual", inputs: [x, h, alpha], names: ["x", "h", "alpha"], accumulating: [0, 1, 2],
                forward: { fwd($0)[3] },
                backward: { x, w in
                    let f = fwd(x)
                    return Array(withPointers([gradientStart(n * c), gradientStart(n * c), gradientStart(c), w, f[3], x[0], f[4], f[5],
                                               f[6], f[7], x[2], zeros(n)]) { p in
                        lerpResidualBackward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], rows: n, width: c,
                                             normalize: false) }[0...2]) })
    }

    /// The q/k normalisation kernel with separate scales for q and k (`kScaleOffset` C), as
    /// GPT's q/k normalisation uses it.
    func testQKNormKernelWithSeparateScales() {
        let (n, c, h) = (10, 8, 2)
        var g = GradientCheck(seed: 22)
        let scale = g.normal(2 * c).map { 1 + 0.5 * $0 }
        func fwd(_ x: [[Float]]) -> [[Float]] {
            withPointers([x[0], x[1], zeros(n * 2 * c), zeros(n * 2 * h)]) { p in
                qkNormForward(p[0], p[2], p[3], p[1], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true, kScaleOffset: c) }
        }
        let qkv = g.normal(n * 3 * c), out = fwd([qkv, scale])[0]
        // head 1 (dk = 4) of row 0: q reads scale[4..<8], k reads scale[c + 4..<c + 8]
        for (column, first) in [(4, 4), (c + 4, c + 4)] {
            let v = Array(qkv[column..<column + 4]), norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<4 { XCTAssertEqual(out[column + j], scale[first + j] * v[j] / norm, accuracy: 1e-5, "column \(column + j)") }
        }
        g.check("qk-norm, separate q and k scales", inputs: [qkv, scale], names: ["qkv", "scale"], accumulating: [1],
                forward: { fwd($0)[0] },
                backward: { x, w in
                    let f = fwd(x)
                    return Array(withPointers([w, gradientStart(2 * c), f[2], f[3], x[1]]) { p in
                        qkNormBackward(p[0], p[1], p[2], p[3], p[4], rows: n, width: c, heads: h, rowStride: 3 * c, normalize: true,
                                       kScaleOffset: c) }[0...1]) })
    }

    // MARK: what each switch does

    /// With weight normalisation the matrices' vectors are unit after a step; without it they
    /// start unit (initialisation still normalises) and leave the sphere.
    func testWeightNormalizationAfterATrainingStep() throws {
        for normalized in [true, false] {
            var c = Self.tiny(.ngpt)
            c.weightNormalization = normalized
            let model = try Transformer(config: c, seed: 5)
            XCTAssertLessThan(largestNormDeviation(model), 1e-5, "weightNormalization \(normalized): initial matrices are normalised")
            XCTAssertEqual(model.normalizedMatrices.count, normalized ? 2 + 6 * c.layers : 0)
            try train(model, steps: 1, seed: 5)
            let deviation = largestNormDeviation(model)
            if normalized {
                XCTAssertLessThan(deviation, 1e-5, "with weight normalisation every vector stays unit after a step")
            } else {
                XCTAssertGreaterThan(deviation, 1e-3, "without weight normalisation a step moves vectors off the sphere")
            }
        }
    }

    /// The hidden states (the streams between blocks) are unit vectors with residual
    /// normalisation and not without it; the embedding's rows are unit in both.
    func testResidualNormalizationKeepsHiddenStatesOnTheSphere() throws {
        for normalized in [true, false] {
            var c = Self.tiny(.ngpt)
            c.residualNormalization = normalized
            let model = try Transformer(config: c, seed: 6)
            let norms = hiddenStateNorms(model, tokens: [1, 4, 2, 9, 7])
            XCTAssertEqual(norms.count, c.layers + 1)
            let embedding = norms[0].map { abs($0 - 1) }.max()!, later = norms[1...].joined().map { abs($0 - 1) }.max()!
            XCTAssertLessThan(embedding, 1e-5, "the embedding's rows are unit")
            if normalized {
                XCTAssertLessThan(later, 1e-5, "with residual normalisation every hidden state is unit: \(norms)")
            } else {
                XCTAssertGreaterThan(later, 1e-2, "without residual normalisation the hidden states leave the sphere: \(norms)")
            }
        }
    }

    /// q/k normalisation adds `q_norm` and `k_norm` (dk, ones, no decay) per layer and nothing
    /// else; a seed draws the same matrices; the output no longer depends on the scale of the
    /// query and key matrices.
    func testGPTQKNormalizationParameters() throws {
        let c = Self.gptWithQKNormalization, plain = Self.tiny(.gpt)
        let layout = c.architecture().layout, plainLayout = plain.architecture().layout
        var added = [String]()
        for l in 0..<c.layers {
            for name in ["transformer.h.\(l).q_norm.weight", "transformer.h.\(l).k_norm.weight"] {
                let e = try XCTUnwrap(layout.entry(name), name)
                XCTAssertEqual(e.shape, [c.headWidth])
                XCTAssertFalse(e.decays, "\(name) is a gain: no weight decay")
                XCTAssertNil(plainLayout.entry(name))
                added.append(name)
            }
        }
        XCTAssertEqual(Set(layout.names), Set(plainLayout.names + added))
        XCTAssertEqual(Set(layout.names).count, layout.names.count, "names are unique")
        XCTAssertEqual(layout.count, plainLayout.count + 2 * c.layers * c.headWidth)
        let model = try Transformer(config: c, seed: 7), reference = try Transformer(config: plain, seed: 7)
        for name in plainLayout.names { XCTAssertEqual(model.parameters.tensor(name), reference.parameters.tensor(name), name) }
        for name in added { XCTAssertEqual(model.parameters.tensor(name)!.scalars, [Float](repeating: 1, count: c.headWidth)) }

        func logits(_ config: ModelConfig, queryKeyScale: Float) throws -> [Float] {
            let m = try Transformer(config: config, seed: 8)
            scaleQueriesAndKeys(m, by: queryKeyScale)
            try m.forward(tokens: [3, 1, 4, 1, 5], batch: 1, sequence: 5)
            return m.logits.scalars
        }
        XCTAssertLessThan(maxAbsError(try logits(c, queryKeyScale: 1), try logits(c, queryKeyScale: 50)), 1e-5,
                          "with q/k normalisation the attention does not see the scale of W_q, W_k")
        XCTAssertGreaterThan(maxAbsError(try logits(plain, queryKeyScale: 1), try logits(plain, queryKeyScale: 50)), 1e-3)
    }

    /// 20 steps of GPT's recipe on English text lower the held-out loss with q/k normalisation.
    func testGPTQKNormalizationTrains() throws {
        var c = ModelConfig(kind: .gpt, vocabularySize: 256, width: 32, heads: 4, layers: 2, context: 32)
        c.gptQKNormalization = true
        let text = Array(String(repeating: "In the beginning the light was divided from the darkness, and the evening and the morning were the first day. ", count: 12).utf8).map(Int.init)
        let split = text.count * 4 / 5
        let (trainText, heldOut) = (Array(text[..<split]), Array(text[split...]))
        let t = c.context
        func windows(_ tokens: [Int], _ starts: [Int]) -> (inputs: [Int], targets: [Int]) {
            (starts.flatMap { tokens[$0..<$0 + t] }, starts.flatMap { tokens[$0 + 1..<$0 + t + 1] })
        }
        let eval = windows(heldOut, (0..<4).map { $0 * (heldOut.count - t - 1) / 3 })
        let model = try Transformer(config: c, seed: 9)
        func heldOutLoss() throws -> Float { try model.forward(tokens: eval.inputs, targets: eval.targets, batch: 4, sequence: t) }
        let before = try heldOutLoss()
        let recipe = model.architecture.recipe, schedule = recipe.schedule(steps: 20)
        let step = TrainingStep(model: model, recipe: recipe)
        var rng = SeededGenerator(seed: 10)
        for i in 0..<20 {
            let starts = (0..<4).map { _ in Int(rng.next() % UInt64(trainText.count - t - 1)) }
            try step(lr: Float(schedule.lr(at: i)), batch: 4, sequence: t) { windows(trainText, starts) }
        }
        let after = try heldOutLoss()
        XCTAssertLessThan(after, before - 0.5, "held-out loss \(before) → \(after) (seeds 9, 10)")
        let gain = model.parameters.tensor("transformer.h.0.q_norm.weight")!.scalars
        XCTAssertNotEqual(gain, [Float](repeating: 1, count: c.headWidth), "the gains are trained")
    }

    /// Decoding with the key/value cache gives a full forward's logits with q/k normalisation
    /// (the normalisation runs before RoPE, at the cached position).
    func testGPTQKNormalizationCachedDecoding() throws {
        var c = ModelConfig(kind: .gpt, vocabularySize: 23, width: 16, heads: 2, layers: 2, context: 8)
        c.gptQKNormalization = true
        let model = try Transformer(config: c, seed: 11)
        let tokens = [1, 5, 7, 2, 22, 0, 9, 13]
        try model.forward(tokens: tokens, batch: 1, sequence: tokens.count)
        let full = model.logits.scalars
        let generator = Generator(model: model)
        for (i, t) in tokens.enumerated() {
            let got = i == 0 ? try generator.prime([t]) : try generator.append(t)
            let want = Array(full[i * 23..<(i + 1) * 23])
            XCTAssertLessThanOrEqual(Float(maxAbsError(got, want)) / want.map(abs).max()!, 1e-5, "position \(i)")
        }
    }

    /// The switch is `GPTBlock`'s q/k hook with `q_norm` and `k_norm` as gains, the one
    /// implementation a variant composes too: at gain 1 it is the hook without gains, and with
    /// the key's gain equal to the query's it is the hook with one gain serving both (the
    /// kernel's shared scale), to the bit.
    func testGPTQKNormalizationIsTheBlocksHook() throws {
        struct HookedGPT: Architecture {
            let config: ModelConfig
            /// Layer l's gains by parameter name, nil for none.
            let gains: @Sendable (Int) -> (query: String?, key: String?)
            var name: String { "gpt-hooked" }
            var recipe: TrainingRecipe { .gpt }
            var parameters: [ParameterSpec] { GPTArchitecture(config: config).parameters }
            func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
                let (q, k) = gains(layer)
                return GPTBlock(layer: layer, config: config, qkNormalization: .rms(queryGain: q.map(layout.vector), keyGain: k.map(layout.vector)),
                                layout: layout, plan: &plan)
            }
            func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead { GPTHead(layout: layout, plan: &plan) }
        }
        let c = Self.gptWithQKNormalization, tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
        func logits(_ model: Transformer) throws -> [Float] {
            try model.forward(tokens: tokens, batch: 2, sequence: 5)
            return model.logits.scalars
        }
        let library = try Transformer(config: c, seed: 12)
        let noGain = try Transformer(architecture: HookedGPT(config: c) { _ in (nil, nil) }, seed: 12)
        XCTAssertEqual(library.layout, noGain.layout)
        XCTAssertTrue(try logits(library) == logits(noGain), "gains of 1 are no gains")

        // k_norm set to q_norm's values: the same function as q_norm serving both
        var rng = SeededGenerator(seed: 13)
        for l in 0..<c.layers {
            let g = Tensor(shape: [c.headWidth], scalars: (0..<c.headWidth).map { _ in 1 + Float(rng.nextNormal()) / 4 })
            for name in ["q_norm", "k_norm"] { library.parameters.set("transformer.h.\(l).\(name).weight", g) }
        }
        let shared = try Transformer(architecture: HookedGPT(config: c) { l in ("transformer.h.\(l).q_norm.weight", "transformer.h.\(l).q_norm.weight") },
                                     seed: 12)
        shared.parameters.storage.assign(from: library.parameters.storage)
        let want = try logits(library)
        XCTAssertTrue(try logits(shared) == want, "one gain serving q and k")
        XCTAssertFalse(try logits(noGain) == want, "the gains act")
    }

    // MARK: files

    /// A configuration written before the switches existed decodes with their defaults, in a
    /// run's config.json and in a model file's metadata; written ones come back.
    func testOlderConfigurationsDecodeToTheDefaults() throws {
        let old = #"""
        {"data": "/tmp/data", "version": "0.1.0",
         "model": {"alpha": {"absolute": true, "initValue": 0.05, "mode": "vector", "scale": 0.25},
                   "context": 16, "heads": 2, "kind": "ngpt", "layers": 1, "qkNormalization": true,
                   "sqk": {"absolute": false, "initValue": 1, "mode": "vector", "scale": 0.25},
                   "suv": {"absolute": false, "initValue": 1, "mode": "vector", "scale": 1},
                   "sz": {"absolute": false, "initValue": 1, "mode": "vector", "scale": 0.25},
                   "vocabularySize": 256, "width": 16},
         "training": {"batchSize": 2, "beta1": 0.9, "beta2": 0.95, "checkpointEvery": 0, "clip": 1, "epsilon": 1e-08,
                      "evalBatches": 10, "evalEvery": 100, "evalSeed": 1234, "extrapolation": [], "gradientAccumulation": 1,
                      "learningRate": 0.008, "minLR": 0, "parameterPrecision": "fp32", "sampling": "random", "seed": 0,
                      "steps": 2, "warmup": 0, "weightDecay": 0}}
        """#
        let run = try JSONDecoder().decode(RunConfiguration.self, from: Data(old.utf8))
        XCTAssertEqual(run.model, ModelConfig(kind: .ngpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16))
        XCTAssertTrue(run.model.weightNormalization)
        XCTAssertTrue(run.model.residualNormalization)
        XCTAssertFalse(run.model.gptQKNormalization)

        // each switch round-trips through JSON
        for c in [Self.withoutWeightNormalization, Self.withoutResidualNormalization, Self.gptWithQKNormalization] {
            XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(c)), c)
        }

        // a model file whose metadata lacks the keys
        for kind in ModelKind.allCases {
            let model = try Transformer(config: Self.tiny(kind), seed: 12)
            let url = dir.appendingPathComponent("\(kind).safetensors")
            try Checkpoint.saveModel(model, step: 3, to: url)
            let file = try SafeTensorsFile(contentsOf: url)
            var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(file.metadata["config"]!.utf8)) as? [String: Any])
            for key in ["weightNormalization", "residualNormalization", "gptQKNormalization"] {
                XCTAssertNotNil(config.removeValue(forKey: key), "\(key) is written")
            }
            var metadata = file.metadata
            metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config, options: .sortedKeys), as: UTF8.self)
            try SafeTensorsFile.write(model.parameters.dictionary, metadata: metadata, to: url)
            let (loaded, step, _) = try Checkpoint.loadModel(from: url)
            XCTAssertEqual(step, 3)
            XCTAssertEqual(loaded.config, Self.tiny(kind))
            XCTAssertEqual(loaded.parameters.storage.array, model.parameters.storage.array)
        }
    }

    /// Model files of the switched models load with their switches (the configuration is in
    /// the metadata); without ngpt's metadata a GPT with q/k normalisation is recognised by its
    /// gains, which also give the number of heads.
    func testModelFilesOfSwitchedModels() throws {
        var noNorms = Self.withoutResidualNormalization
        noNorms.weightNormalization = false
        for c in [Self.withoutWeightNormalization, Self.withoutResidualNormalization, noNorms, Self.gptWithQKNormalization] {
            let model = try Transformer(config: c, seed: 13)
            let url = dir.appendingPathComponent("model.safetensors")
            try Checkpoint.saveModel(model, step: 1, to: url)
            let (loaded, _, _) = try Checkpoint.loadModel(from: url)
            XCTAssertEqual(loaded.config, c)
            XCTAssertEqual(loaded.parameters.storage.array, model.parameters.storage.array)
        }

        let c = Self.gptWithQKNormalization
        let model = try Transformer(config: c, seed: 14)
        let shapes = Dictionary(uniqueKeysWithValues: model.layout.entries.map { ($0.name, $0.shape) })
        var expected = c
        expected.context = 256   // not in the shapes
        XCTAssertEqual(try ModelConfig.inferred(fromShapes: shapes, heads: nil), expected, "heads from the gains")
        XCTAssertEqual(try ModelConfig.inferred(fromShapes: shapes, heads: 2), expected)
        XCTAssertThrowsError(try ModelConfig.inferred(fromShapes: shapes, heads: 4)) { error in
            XCTAssertTrue("\(error)".contains("contradicts"), "\(error)")
        }
        let plainShapes = shapes.filter { !$0.key.contains("_norm.") }
        XCTAssertFalse(try ModelConfig.inferred(fromShapes: plainShapes, heads: 2).gptQKNormalization)

        // a file written outside ngpt: names and shapes only
        let url = dir.appendingPathComponent("outside.safetensors")
        try SafeTensorsFile.write(model.parameters.dictionary, to: url)
        let inspected = try InspectedCheckpoint.load(url.path)
        XCTAssertTrue(inspected.configInferred)
        XCTAssertTrue(inspected.model.config.gptQKNormalization)
        XCTAssertEqual(inspected.model.config.heads, 2)
        XCTAssertEqual(inspected.model.parameters.storage.array, model.parameters.storage.array)
    }

    /// A run with each switch, interrupted after a checkpoint and resumed, gives the losses of
    /// the uninterrupted run bit for bit (the switch comes back from config.json).
    func testResumeWithEachSwitchIsBitIdentical() throws {
        let data = try makeTextDataset(in: dir)
        let shape = { (kind: ModelKind) in ModelConfig(kind: kind, vocabularySize: 256, width: 16, heads: 2, layers: 2, context: 16) }
        var noWeightNorm = shape(.ngpt), noResidualNorm = shape(.ngpt), gptQKNorm = shape(.gpt)
        noWeightNorm.weightNormalization = false
        noResidualNorm.residualNormalization = false
        gptQKNorm.gptQKNormalization = true
        for (label, model) in [("no-weight-norm", noWeightNorm), ("no-residual-norm", noResidualNorm), ("gpt-qk-norm", gptQKNorm)] {
            var o = TrainingOptions(recipe: model.architecture().recipe, steps: 8, batchSize: 4, seed: 1)
            o.evalEvery = 4
            o.evalBatches = 2
            let config = RunConfiguration(model: model, training: o, data: data.path)
            let full = try Trainer(run: config, dataset: try TokenDataset(directory: data))
            let reference = try (0..<8).map { _ in try full.trainStep().trainLoss! }

            let runDir = dir.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
            try JSONEncoder().encode(config).write(to: runDir.appendingPathComponent("config.json"))
            let first = try Trainer(run: config, dataset: try TokenDataset(directory: data))
            var losses = try (0..<3).map { _ in try first.trainStep().trainLoss! }
            try first.saveCheckpoint(to: runDir)
            _ = try first.trainStep()      // lost to the "kill"
            let resumed = try Trainer(resuming: runDir)
            XCTAssertEqual(resumed.run.model, model, label)
            losses += try (3..<8).map { _ in try resumed.trainStep().trainLoss! }
            XCTAssertEqual(losses, reference, "\(label): resumed losses must equal the uninterrupted run's")
            XCTAssertEqual(resumed.model.parameters.storage.array, full.model.parameters.storage.array, label)
        }
    }

    // MARK: helpers

    /// `steps` nGPT/GPT-recipe steps on seeded random tokens.
    func train(_ model: Transformer, steps: Int, seed: UInt64) throws {
        let c = model.config, step = TrainingStep(model: model, recipe: model.architecture.recipe)
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<steps {
            let tokens = (0..<2 * c.context).map { _ in Int(rng.next() % UInt64(c.vocabularySize)) }
            try step(lr: 0.05, batch: 2, sequence: c.context) { (tokens, tokens.map { ($0 + 1) % c.vocabularySize }) }
        }
    }

    /// The largest |‖v‖ − 1| over the d-long vectors of every matrix, along the §6 axes.
    func largestNormDeviation(_ model: Transformer) -> Float {
        var worst: Float = 0
        for e in model.layout.entries where e.shape.count == 2 {
            let axis = try! XCTUnwrap(e.spec.vectors, e.name)
            let m = model.parameters.tensor(e.name)!, (rows, cols) = (e.shape[0], e.shape[1])
            let vectors = axis == .rows ? (0..<rows).map { r in (0..<cols).map { m[r, $0] } } : (0..<cols).map { j in (0..<rows).map { m[$0, j] } }
            for v in vectors { worst = max(worst, abs(v.reduce(0) { $0 + $1 * $1 }.squareRoot() - 1)) }
        }
        return worst
    }

    /// The norms of every row of every stream (the embedding, then each block's output) for one
    /// sequence.
    func hiddenStateNorms(_ model: Transformer, tokens: [Int]) -> [[Float]] {
        let g = model.makeGraph(batch: 1, sequence: tokens.count)
        for (i, t) in tokens.enumerated() { g.tokens[i] = Int32(t) }
        g.hasTargets = false
        _ = model.run(g)
        let d = model.config.width
        return g.stream.map { s in
            let v = g.pass.values(s)
            return (0..<tokens.count).map { r in v[r * d..<(r + 1) * d].reduce(0) { $0 + $1 * $1 }.squareRoot() }
        }
    }
}

/// Multiplies every query and key matrix by `factor`.
private func scaleQueriesAndKeys(_ model: Transformer, by factor: Float) {
    for name in model.layout.names where name.hasSuffix(".query.weight") || name.hasSuffix(".key.weight") {
        let w = model.parameters.tensor(name)!
        model.parameters.set(name, Tensor(shape: w.shape, scalars: w.scalars.map { factor * $0 }))
    }
}

/// `ngpt train`'s flags for the switches: recorded in the run, refused for the other kind of
/// model and refused when a resumed run would change them, each in one line.
final class AblationSwitchCommandTests: CommandTestCase {
    let tiny = ["--dim", "16", "--heads", "2", "--layers", "1", "--context", "16", "--batch", "2", "--eval-batches", "1",
                "--steps", "2", "--threads", "1"]

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func train(_ out: String, _ extra: [String]) -> [String] {
        ["train", "--data", data.path, "--out", path(out)] + tiny + extra
    }

    func assertRefused(_ r: (status: Int32, stdout: String, stderr: String), _ expected: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "must fail with status 1: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
        for e in expected { XCTAssertTrue(r.stderr.contains(e), "message should say \"\(e)\", got: \(r.stderr)", file: file, line: line) }
    }

    func testFlagsAreRecordedInTheRun() throws {
        let ngpt = try runProcess(binary, train("ngpt", ["--model", "ngpt", "--no-weight-norm", "--no-residual-norm"]))
        XCTAssertEqual(ngpt.status, 0, ngpt.stderr)
        let n = try Trainer.readConfiguration(dir.appendingPathComponent("ngpt")).model
        XCTAssertFalse(n.weightNormalization)
        XCTAssertFalse(n.residualNormalization)
        XCTAssertTrue(n.qkNormalization)

        let gpt = try runProcess(binary, train("gpt", ["--model", "gpt", "--gpt-qk-norm"]))
        XCTAssertEqual(gpt.status, 0, gpt.stderr)
        XCTAssertTrue(try Trainer.readConfiguration(dir.appendingPathComponent("gpt")).model.gptQKNormalization)
        let (model, step, _) = try Checkpoint.loadModel(from: dir.appendingPathComponent("gpt/model.safetensors"))
        XCTAssertEqual(step, 2)
        XCTAssertTrue(model.config.gptQKNormalization)
        XCTAssertNotNil(model.layout.entry("transformer.h.0.q_norm.weight"))
        let sample = try runProcess(binary, ["sample", path("gpt"), "--tokens", "8", "--threads", "1"])
        XCTAssertEqual(sample.status, 0, sample.stderr)
    }

    func testFlagsForTheOtherKindAreRefused() throws {
        let cases: [([String], [String])] = [
            (["--no-weight-norm"], ["--no-weight-norm applies to nGPT only", "the model is gpt (the default without --model)", "--model ngpt"]),
            (["--model", "gpt", "--no-residual-norm", "--signed-alpha"], ["--signed-alpha, --no-residual-norm apply to nGPT only", "drop them"]),
            (["--model", "ngpt", "--gpt-qk-norm"], ["--gpt-qk-norm applies to GPT only", "the model is ngpt", "--model gpt"]),
        ]
        for (extra, expected) in cases {
            assertRefused(try runProcess(binary, train("run", extra)), expected)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")), "nothing written for \(extra)")
        }
    }

    func testResumeRefusesAChangedSwitch() throws {
        let ok = try runProcess(binary, train("run", ["--model", "ngpt", "--no-weight-norm"]))
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let shape = ["--dim", "16", "--heads", "2", "--layers", "1", "--context", "16"]
        assertRefused(try runProcess(binary, ["train", "--resume", path("run")] + shape),
                      ["different model configuration", "--no-weight-norm) than the options given", "drop the shape options"])
        assertRefused(try runProcess(binary, ["train", "--resume", path("run"), "--no-weight-norm", "--no-residual-norm"] + shape),
                      ["than the options given (ngpt d 16, 2 heads, 1 layers, context 16, vocabulary 256, --no-weight-norm, --no-residual-norm)"])
        assertRefused(try runProcess(binary, ["train", "--resume", path("run"), "--gpt-qk-norm"]),
                      ["--gpt-qk-norm applies to GPT only", "is an nGPT run"])
        let same = try runProcess(binary, ["train", "--resume", path("run"), "--no-weight-norm"] + shape)
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(same.stderr.contains("already finished"), same.stderr)
    }
}
