import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// What the `Architecture` protocol leaves to an architecture without assuming nGPT: the values
/// it reports per layer (logged to metrics.jsonl under their names, shown by the inspection) and
/// which parameters bfloat16 storage rounds (a property of each parameter's spec). nGPT's
/// values keep the keys earlier versions wrote.
final class ArchitectureProtocolTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory("protocol") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// GPT that reports the mean of each layer's attention RMSNorm gain, and rounds that gain
    /// (not `query`) in bfloat16 storage.
    struct GainReportingGPT: Architecture {
        let base: GPTArchitecture
        init(config: ModelConfig) { base = GPTArchitecture(config: config) }
        var config: ModelConfig { base.config }
        var name: String { "gpt-gain-reporting" }
        var recipe: TrainingRecipe { base.recipe }
        var parameters: [ParameterSpec] {
            base.parameters.map { spec in
                var s = spec
                if s.name.hasSuffix(".rmsnorm_att.weight") { s.bf16Storage = true }
                if s.name.hasSuffix(".query.weight") { s.bf16Storage = false }
                return s
            }
        }
        func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
            base.makeBlock(layer: layer, layout: layout, plan: &plan)
        }
        func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead { base.makeHead(layout: layout, plan: &plan) }
        func layerValues(_ parameters: ParameterBuffer) -> [LayerValues] {
            let means = (0..<config.layers).map { l in
                let g = parameters.tensor("transformer.h.\(l).rmsnorm_att.weight")!.scalars
                return g.reduce(0.0) { $0 + Double($1) } / Double(g.count)
            }
            return [LayerValues(name: "att_gain_mean", title: "mean RMSNorm gain before attention", values: means)]
        }
    }

    /// Lines of metrics.jsonl written before the values per layer were an architecture's choice
    /// (by the build this branch started from; nGPT's five scalers were fixed fields then) read
    /// back to the same values and are written again byte for byte.
    func testMetricsLinesOfEarlierVersionsRoundTrip() throws {
        let lines = [
            #"{"alpha_a":[0.05000000074505806,0.05000000074505806],"alpha_m":[0.05000000074505806,0.05000000074505806],"kind":"eval","seconds":0.000438690185546875,"sqk":[1,1],"step":0,"su":[1,1],"sv":[1,1],"sz_mean":1,"tokens":0,"val_loss":5.546085834503174}"#,
            #"{"alpha_a":[0.049400132382288575,0.05000000074505806],"alpha_m":[0.04960005288012326,0.05040001473389566],"grad_norm":0.4146418869495392,"kind":"train","lr":0.008,"seconds":0.0011206865310668945,"sqk":[0.9960005804896355,1.0040002539753914],"step":1,"su":[1.0012511555105448,0.9997514989227057],"sv":[1.0009997561573982,1.0000120913609862],"sz_mean":0.9869998451322317,"tokens":32,"tokens_per_s":177185.1194719472,"train_loss":5.520378589630127}"#,
            #"{"kind":"eval","seconds":0.0004106760025024414,"step":0,"tokens":0,"val_loss":5.539217472076416}"#,
            #"{"grad_norm":1.6527385711669922,"kind":"train","lr":0.002,"seconds":0.001055598258972168,"step":1,"tokens":32,"tokens_per_s":204912.56183206107,"train_loss":5.5315752029418945}"#,
            #"{"context":32,"kind":"eval","position_bin":4,"position_loss":[5.5,5.25],"seconds":1.5,"step":4,"tokens":128,"val_loss":5.375}"#,
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for line in lines {
            let record = try JSONDecoder().decode(MetricsRecord.self, from: Data(line.utf8))
            XCTAssertEqual(String(decoding: try encoder.encode(record), as: UTF8.self), line)
        }
        let ngpt = try JSONDecoder().decode(MetricsRecord.self, from: Data(lines[1].utf8))
        XCTAssertEqual(ngpt.layerValues.keys.sorted(), ["alpha_a", "alpha_m", "sqk", "su", "sv"])
        XCTAssertEqual(ngpt.alphaM, [0.04960005288012326, 0.05040001473389566])
        XCTAssertEqual(ngpt.sqk, [0.9960005804896355, 1.0040002539753914])
        XCTAssertEqual(ngpt.szMean, 0.9869998451322317)
        let gpt = try JSONDecoder().decode(MetricsRecord.self, from: Data(lines[3].utf8))
        XCTAssertEqual(gpt.layerValues, [:])
        XCTAssertNil(gpt.alphaA)
        XCTAssertEqual(try JSONDecoder().decode(MetricsRecord.self, from: Data(lines[4].utf8)).positionLoss, [5.5, 5.25],
                       "a record's own list is not a layer value")
    }

    /// nGPT reports its scalers under the names metrics.jsonl has always used, GPT reports none.
    func testNGPTReportsItsScalersUnderTheirMetricsNames() throws {
        let ngpt = try Transformer(config: ModelConfig(kind: .ngpt, vocabularySize: 11, width: 8, heads: 2, layers: 3, context: 5), seed: 1)
        let values = ngpt.layerValues()
        XCTAssertEqual(values.map(\.name), ["alpha_a", "alpha_m", "sqk", "su", "sv"])
        XCTAssertEqual(values.map(\.values.count), [3, 3, 3, 3, 3])
        XCTAssertTrue(values.allSatisfy { !$0.title.isEmpty })
        XCTAssertEqual(values[0].values[0], 0.05, accuracy: 1e-7, "α_A starts at its s_init")
        XCTAssertEqual(try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 3, context: 5)).layerValues(), [])
    }

    /// An architecture's own value is logged under its name with every step and at every
    /// evaluation, and the inspection shows it (JSON key, figure and table column).
    func testAnArchitecturesOwnValuesAreLoggedAndInspected() throws {
        let data = try makeTextDataset(in: dir)
        let model = ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 2, context: 16)
        var o = TrainingOptions(recipe: .gpt, steps: 2, batchSize: 2, seed: 0)
        o.evalEvery = 2
        o.evalBatches = 1
        let run = dir.appendingPathComponent("run")
        let trainer = try Trainer(run: RunConfiguration(model: model, training: o, data: data.path),
                                  dataset: try TokenDataset(directory: data), architecture: GainReportingGPT(config: model))
        try trainer.train(directory: run)
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let records = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(records.count, 4, "eval 0, train 1, train 2, eval 2")
        for r in records { XCTAssertEqual(r.layerValues["att_gain_mean"]?.count, 2, "\(r.kind) \(r.step)") }
        XCTAssertEqual(text.components(separatedBy: "\"att_gain_mean\":[").count - 1, 4)
        XCTAssertNil(records[1].alphaA)
        XCTAssertNil(records[1].szMean, "no logit scales, no sz_mean")

        let inspection = try ModelInspection(model: trainer.model, label: "gains")
        let values = try XCTUnwrap(inspection.scalers?["att_gain_mean"])
        XCTAssertEqual(values, trainer.model.layerValues()[0].values)
        let report = InspectionReport(models: [inspection], options: InspectionOptions())
        let json = String(decoding: try report.jsonData(), as: UTF8.self)
        XCTAssertTrue(json.contains("\"att_gain_mean\" : "), json)
        let html = report.html()
        XCTAssertTrue(html.contains("mean RMSNorm gain before attention"), "the value's title is a figure's title")
        XCTAssertFalse(html.contains("s_z (logit scaling)"), "no s_z figure without logit scales")
    }

    /// Which parameters bfloat16 storage rounds is the spec's. The library's models mark exactly
    /// the matrices the earlier rule picked by name (rank 2 under `transformer.h.`), so bf16 runs
    /// repeat; a variant's marks are followed.
    func testBFloat16StorageRoundsWhatTheSpecsMark() throws {
        var qkNorm = ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
        qkNorm.gptQKNormalization = true
        var scalar = ModelConfig(kind: .ngpt, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5)
        (scalar.alpha.mode, scalar.sqk.mode, scalar.suv.mode, scalar.sz.mode) = (.scalar, .scalar, .fixed, .scalar)
        for c in [ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5),
                  ModelConfig(kind: .ngpt, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 5), qkNorm, scalar] {
            let layout = c.architecture().layout
            XCTAssertEqual(layout.entries.filter(\.spec.bf16Storage).map(\.name),
                           layout.entries.filter { $0.shape.count == 2 && $0.name.hasPrefix("transformer.h.") }.map(\.name), "\(c.kind)")
            XCTAssertEqual(layout.entries.filter(\.spec.bf16Storage).count, 6 * c.layers)
        }

        let c = ModelConfig(kind: .gpt, vocabularySize: 11, width: 8, heads: 2, layers: 1, context: 5)
        let model = try Transformer(architecture: GainReportingGPT(config: c), seed: 3)
        let step = TrainingStep(model: model, recipe: .gpt, parameterPrecision: .bf16)
        try step(lr: 0.01, batch: 1, sequence: 5) { ([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]) }
        func inBFloat16(_ name: String) -> Bool {
            model.parameters.tensor(name)!.scalars.allSatisfy { $0.bitPattern & 0xFFFF == 0 }
        }
        XCTAssertTrue(inBFloat16("transformer.h.0.rmsnorm_att.weight"), "a vector the spec marks")
        XCTAssertTrue(inBFloat16("transformer.h.0.key.weight"), "a block matrix, marked by TransformerMatrices")
        XCTAssertFalse(inBFloat16("transformer.h.0.query.weight"), "a block matrix the spec unmarks")
        XCTAssertFalse(inBFloat16("transformer.h.0.rmsnorm_mlp.weight"))
        XCTAssertFalse(inBFloat16("lm_head.weight"))
    }
}
