import Foundation
import XCTest
import NGPT

/// Compiles and runs the snippets of `docs/library.md`. `testGuideSnippetsAreHere` checks that
/// every Swift block of the guide and of the DocC articles appears in this file verbatim, so
/// neither can drift.
final class LibraryGuideTests: XCTestCase {
    let inputs = (0..<32).map { ($0 * 7) % 64 }
    var targets: [Int] { inputs.map { ($0 + 1) % 64 } }

    func testGuide() throws {
        let inputs = self.inputs, targets = self.targets
        // --- build and train
let config = ModelConfig(kind: .ngpt, vocabularySize: 64, width: 32, heads: 4, layers: 2, context: 16)
let model = try Transformer(config: config, seed: 0)
let recipe = model.architecture.recipe                          // nGPT's: no decay, no warm-up
let train = TrainingStep(model: model, recipe: recipe)         // forward, backward, clip, AdamW, renormalise
let schedule = recipe.schedule(steps: 20)
var losses = [Double]()
for t in 0..<20 {
    let result = try train(lr: Float(schedule.lr(at: t)), batch: 2, sequence: 16) { (inputs, targets) }
    losses.append(result.loss)
}
        XCTAssertLessThan(losses.last!, losses.first! - 0.5, "20 steps on one batch must lower the loss")

        // --- parameters by name
var query = model.parameters.tensor("transformer.h.0.query.weight")!
query[0, 0] = 0.5
model.parameters.set("transformer.h.0.query.weight", query)
let url = FileManager.default.temporaryDirectory.appendingPathComponent("guide-model.safetensors")
try Checkpoint.saveModel(model, step: 20, to: url)
let (restored, step, _) = try Checkpoint.loadModel(from: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(step, 20)
        XCTAssertEqual(restored.parameters.tensor("transformer.h.0.query.weight")![0, 0], 0.5)

        // --- variants
var ablation = ModelConfig(kind: .ngpt, vocabularySize: 64, width: 32, heads: 4, layers: 2, context: 16)
ablation.qkNormalization = false                                   // a block that skips q/k normalisation
ablation.sqk.mode = .fixed                                         // s_qk held at s_init
ablation.sz = ScalerConfig(mode: .scalar, initValue: 1, scale: 1)  // one learnable logit scale, s_scale 1
ablation.alpha.absolute = false                                    // signed eigen learning rates
let variant = try Transformer(config: ablation, seed: 1)
        XCTAssertNil(variant.layout.entry("transformer.h.0.sqk"))
        XCTAssertEqual(variant.layout.entry("sz")?.shape, [1])

        // --- inspection
let scalers = model.layerValues()                      // nGPT: alpha_a, alpha_m, sqk, su, sv, one value per layer
let head0 = model.parameters.tensor("transformer.h.0.query.weight")!.rows(0..<8)
let cond = try LinearAlgebra.conditionNumber(head0)    // σmax/σmin by LAPACK dgesdd, in Double
        XCTAssertEqual(scalers.map(\.name), ["alpha_a", "alpha_m", "sqk", "su", "sv"])
        XCTAssertEqual(scalers[0].values.count, 2, "one value per layer")
        XCTAssertTrue(cond >= 1 && cond.isFinite)
let inspection = try ModelInspection(model: model, label: "nGPT")
let layer0 = inspection.conditionNumbers[.query][0]    // per head, and their median: layer0.cond.median
let norms = inspection.embedding("transformer.wte.weight")!.sortedNorms
let perHead = try LinearAlgebra.headSummaries(DoubleMatrix(query), heads: 4, axis: .rows)
let json = try InspectionReport(models: [inspection], options: InspectionOptions()).jsonData()
        XCTAssertEqual(layer0.blocks.count, 4)
        XCTAssertEqual(norms.count, 64)
        XCTAssertEqual(perHead.count, 4)
        XCTAssertEqual(perHead[0].cond, layer0.blocks[0].cond, accuracy: 1e-12, "the model holds `query` since the guide set it")
        XCTAssertFalse(json.isEmpty)

        // --- generation
let generator = Generator(model: model)                 // key/value cache
let sampled = try generator.generate(prompt: [1, 2, 3], count: 10, options: SamplingOptions(temperature: 0.8, topK: 20, seed: 7))
        XCTAssertEqual(sampled.count, 10)
    }

    func testGuideArchitecture() throws {
        let inputs = self.inputs, targets = self.targets
let tiny = ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
let probe = try Transformer(architecture: QKNormSketch(config: tiny), seed: 1)
// The loss does not depend on the scale of W_q, W_k; at GPT's initial 0.02 the q_h are so short
// that Norm(q_h) curves too sharply for central differences, so check an equivalent model.
for name in probe.layout.names where name.hasSuffix(".query.weight") || name.hasSuffix(".key.weight") {
    let w = probe.parameters.tensor(name)!
    probe.parameters.set(name, Tensor(shape: w.shape, scalars: w.scalars.map { 10 * $0 }))
}
let comparisons = try FiniteDifferenceCheck().run(probe, sequence: 5, seed: 2)
let failed = comparisons.filter { !$0.passed }       // every tensor: backward against central differences

let shape = ModelConfig(kind: .gpt, vocabularySize: 64, width: 32, heads: 4, layers: 2, context: 16)  // kind: unused
let sketch = try Transformer(architecture: QKNormSketch(config: shape), seed: 0)
let sketchRecipe = sketch.architecture.recipe                      // GPT's: decay, warm-up
let trainSketch = TrainingStep(model: sketch, recipe: sketchRecipe)   // afterUpdate included (nothing, here)
let sketchSchedule = sketchRecipe.schedule(steps: 20)
var sketchLosses = [Double]()
for t in 0..<20 {
    sketchLosses.append(try trainSketch(lr: Float(sketchSchedule.lr(at: t)), batch: 2, sequence: 16) { (inputs, targets) }.loss)
}
let decoded = try Generator(model: sketch).prime([1, 2, 3])       // the same block, reading a key/value cache
        XCTAssertEqual(Set(comparisons.map(\.parameter)).count, 19, "every tensor of a 2-layer GPT")
        XCTAssertEqual(failed.map(\.description), [])
        XCTAssertEqual(sketch.parameterCount, try Transformer(config: shape).parameterCount)
        XCTAssertLessThan(sketchLosses.last!, sketchLosses.first! - 0.3, "20 steps on one batch must lower the loss")
        XCTAssertEqual(decoded.count, 64)
    }

    func testGuideAblation() throws {
        let scratch = try makeTemporaryDirectory("guide-ablation")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let dataDirectory = try makeTextDataset(in: scratch)
        let studyDirectory = scratch.appendingPathComponent("study")
let settings = AblationSettings(data: dataDirectory.path, model: ModelConfig(kind: .ngpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16),
                                budget: 12, seeds: 2, batchSize: 2, lrGPT: 3e-3, lrNGPT: 1e-2,
                                variants: ["ngpt", "gpt", "gpt-qk-sketch"], evalBatches: 2, evalPoints: 2)
var study = AblationStudy(settings: settings)
study.variants.append(AblationVariant(name: "gpt-qk-sketch", summary: "GPT with the sketch's q/k normalisation",
                                      kind: .gpt, architecture: { QKNormSketch(config: $0) }))
let results = try study.run(in: studyDirectory)   // trains what is unfinished; writes report.html, report.md, results.json
let row = results.rows.last!                      // row.loss (seed range), row.changePercent, row.changeBySeed, row.curve
        XCTAssertEqual(row.finished, 2)
        XCTAssertNotNil(row.changePercent)
        XCTAssertNotEqual(row.loss?.mean, results.rows[1].loss?.mean, "the sketch is not plain GPT")
        XCTAssertTrue(FileManager.default.fileExists(atPath: studyDirectory.appendingPathComponent("report.md").path))
    }

    func testGuideSnippetsAreHere() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        func swiftBlocks(_ path: String) throws -> [String] {
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            return text.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        }
        // The guide, and the articles of the DocC catalogues (`make docs`), which reuse its snippets.
        let articles = [
            "Sources/NGPTModels/NGPTModels.docc/GettingStarted.md",
            "Sources/NGPTModels/NGPTModels.docc/WritingYourOwnArchitecture.md",
            "Sources/NGPTStudy/NGPTStudy.docc/InspectingAModel.md",
        ]
        XCTAssertGreaterThanOrEqual(try swiftBlocks("docs/library.md").count, 8, "the guide's Swift blocks")
        for path in ["docs/library.md"] + articles {
            let blocks = try swiftBlocks(path)
            XCTAssertFalse(blocks.isEmpty, "\(path) has no Swift block")
            for block in blocks {
                XCTAssertTrue(source.contains(block), "\(path) block not compiled by LibraryGuideTests:\n\(block)")
            }
        }
    }
}

// The guide's own architecture ("Write your own architecture").
/// GPT with its queries and keys RMS-normalised per head before RoPE, without a gain
/// (Examples/QKNormGPT.swift learns one):
///
///     a = RMSNorm(x)⊙g_att; q, k, v = a·Wᵀ; q_h, k_h = RMSNorm(q_h), RMSNorm(k_h)
///     x' = x + Attention(RoPE(q), RoPE(k), v; scale 1/√dk)·att_c_projᵀ
///     out = x' + SwiGLU(RMSNorm(x')⊙g_mlp·c_fcᵀ)·mlp_c_projᵀ
struct QKNormSketch: Architecture {
    let config: ModelConfig
    var name: String { "gpt-qknorm-sketch" }
    var recipe: TrainingRecipe { .gpt }
    var parameters: [ParameterSpec] { GPTArchitecture(config: config).parameters }   // GPT's tensors

    func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        // GPT's block, q and k RMS-normalised between their product and RoPE; no gain, no new parameter
        GPTBlock(layer: layer, config: config, qkNormalization: .rms(queryGain: nil, keyGain: nil), layout: layout, plan: &plan)
    }

    func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead {
        GPTHead(layout: layout, plan: &plan)                                             // final RMSNorm, lm_head
    }
}
