import Foundation
import XCTest
import NGPT

/// Compiles and runs the snippets of `docs/library.md`. `testGuideSnippetsAreHere` checks that
/// every Swift block of the guide appears in this file verbatim, so the guide cannot drift.
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
let scalers = model.scalerSummary()                    // per layer: mean |α_A|, |α_M|, |s_qk|, |s_u|, |s_ν|
let head0 = model.parameters.tensor("transformer.h.0.query.weight")!.rows(0..<8)
let cond = try LinearAlgebra.conditionNumber(head0)    // σmax/σmin by LAPACK dgesdd, in Double
        XCTAssertEqual(scalers.count, 2)
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

    func testGuideSnippetsAreHere() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let guide = try String(contentsOf: root.appendingPathComponent("docs/library.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let blocks = guide.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        XCTAssertGreaterThanOrEqual(blocks.count, 5, "the guide's Swift blocks")
        for block in blocks {
            XCTAssertTrue(source.contains(block), "docs/library.md block not compiled by LibraryGuideTests:\n\(block)")
        }
    }
}
