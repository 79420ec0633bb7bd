import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// The rows of `ngpt ablate`, what each run is, and the numbers the report computes from them.
final class AblationStudyTests: XCTestCase {
    func settings(variants: [String] = AblationVariant.defaultSet.map(\.name), seeds: Int = 2) -> AblationSettings {
        AblationSettings(data: "/data", model: ModelConfig(kind: .ngpt, width: 32, heads: 2, layers: 1, context: 32), budget: 40,
                         seeds: seeds, batchSize: 4, lrGPT: 2e-3, lrNGPT: 1e-2, variants: variants)
    }

    func testTheDefaultSetCoversThePaperAndItsCritics() throws {
        let names = AblationVariant.defaultSet.map(\.name)
        XCTAssertGreaterThanOrEqual(names.count, 15)
        XCTAssertEqual(Set(names).count, names.count, "names are unique")
        for required in ["ngpt", "gpt", "alpha-scalar", "alpha-fixed", "sqk-scalar", "sqk-fixed", "suv-scalar", "suv-fixed",
                         "sz-scalar", "sz-fixed", "sqk-init0.05-scale1", "sz-scale1", "all-scalar", "sqk-suv-fixed-sz-scalar",
                         "no-qk-norm", "signed-alpha", "no-weight-norm", "no-residual-norm", "ngpt-gpt-recipe", "gpt-qk-norm",
                         "ngpt-bf16", "gpt-bf16"] {
            XCTAssertTrue(names.contains(required), required)
        }
        let study = AblationStudy(settings: settings())
        XCTAssertNoThrow(try study.validate())
        let reference = study.run(AblationVariant.defaultSet[0], seed: 1).configuration
        // each row differs from its model's default run in exactly what it names
        func row(_ name: String) -> RunConfiguration { study.run(try! study.rows().first { $0.name == name }!, seed: 1).configuration }
        XCTAssertEqual(row("alpha-scalar").model.alpha.mode, .scalar)
        XCTAssertEqual(row("sqk-suv-fixed-sz-scalar").model.sqk.mode, .fixed)
        XCTAssertEqual(row("sqk-suv-fixed-sz-scalar").model.sz.mode, .scalar)
        XCTAssertEqual(row("sqk-init0.05-scale1").model.sqk.initValue, 0.05)
        XCTAssertFalse(row("no-weight-norm").model.weightNormalization)
        XCTAssertFalse(row("no-residual-norm").model.residualNormalization)
        XCTAssertFalse(row("signed-alpha").model.alpha.absolute)
        var recipe = row("ngpt-gpt-recipe")
        XCTAssertGreaterThan(recipe.training.weightDecay, 0)
        XCTAssertGreaterThan(recipe.training.warmup, 0)
        XCTAssertEqual(recipe.training.learningRate, 1e-2, "nGPT's rate; only decay and warm-up change")
        recipe.training.weightDecay = reference.training.weightDecay
        recipe.training.warmup = reference.training.warmup
        XCTAssertEqual(recipe, reference)
        XCTAssertTrue(row("gpt-qk-norm").model.gptQKNormalization)
        XCTAssertEqual(row("gpt-qk-norm").model.kind, .gpt)
        XCTAssertEqual(row("gpt-qk-norm").training.learningRate, 2e-3)
        XCTAssertEqual(row("gpt-bf16").training.parameterPrecision, .bf16)
        // same seed, same batches and initial draw within a model; reported on the report half
        XCTAssertEqual(row("sz-fixed").training.seed, reference.training.seed)
        XCTAssertEqual(reference.training.validationPart, .report)
        XCTAssertEqual(try study.runs().count, 2 * names.count)
        XCTAssertEqual(Set(try study.runs().map(\.id)).count, 2 * names.count)
    }

    func testUnknownRowsAndBadSettingsAreRefused() {
        XCTAssertThrowsError(try AblationStudy(settings: settings(variants: ["ngpt", "sz-fixd"])).validate()) {
            XCTAssertTrue("\($0)".contains("no row is called 'sz-fixd'"), "\($0)")
        }
        XCTAssertThrowsError(try AblationStudy(settings: settings(variants: ["ngpt", "ngpt"])).validate())
        var s = settings()
        s.budget = 0
        XCTAssertThrowsError(try s.validate())
    }

    /// Change against default nGPT, per seed and of the means, and the seed-spread reading.
    func testChangesAgainstDefaultNGPT() throws {
        let dir = try makeTemporaryDirectory("ablation-numbers")
        defer { try? FileManager.default.removeItem(at: dir) }
        let study = AblationStudy(settings: settings(variants: ["ngpt", "gpt", "sz-scale1", "no-qk-norm"], seeds: 2))
        let losses: [String: [Double]] = ["ngpt": [2.0, 2.2], "gpt": [2.1, 2.4], "sz-scale1": [2.1, 2.31], "no-qk-norm": [1.98, 2.24]]
        for run in try study.runs() {
            let name = String(run.id.dropLast("-seed0".count)), seed = Int(run.id.suffix(1))!
            let out = dir.appendingPathComponent(run.id)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let log = try MetricsLog(url: out.appendingPathComponent("metrics.jsonl"))
            var last = MetricsRecord(kind: "eval", step: 40, tokens: 40 * 128, valLoss: losses[name]![seed], seconds: 1)
            last.alphaA = [0.1, 0.3]
            try log.append(MetricsRecord(kind: "eval", step: 0, tokens: 0, valLoss: 5.5, seconds: 0))
            try log.append(last)
            try RunStatus(state: .finished, step: 40).write(to: out)
        }
        let r = try AblationResults.collect(study, runsDirectory: dir)
        func row(_ n: String) -> AblationResults.Row { r.rows.first { $0.name == n }! }
        XCTAssertEqual(row("ngpt").changePercent!, 0, accuracy: 1e-12)
        XCTAssertEqual(row("gpt").changePercent!, 100 * (2.25 / 2.1 - 1), accuracy: 1e-9)
        XCTAssertEqual(row("gpt").changeBySeed!.min, 100 * (2.1 / 2.0 - 1), accuracy: 1e-9)
        XCTAssertEqual(row("gpt").changeBySeed!.max, 100 * (2.4 / 2.2 - 1), accuracy: 1e-9)
        XCTAssertEqual(row("sz-scale1").insideSeedSpread, false, "worse in both seeds")
        XCTAssertEqual(row("no-qk-norm").insideSeedSpread, true, "better in one seed, worse in the other")
        XCTAssertEqual(row("sz-scale1").paper, "+3.12 %")
        XCTAssertEqual(row("ngpt").alphaA!, 0.2, accuracy: 1e-12, "mean over layers and seeds")
        XCTAssertEqual(row("gpt").curve.map(\.loss), [5.5, 2.25])
        let md = AblationReport.markdown(r)
        // 95 % t intervals of the paired per-seed changes: +5 % in both seeds has no spread
        XCTAssertEqual(row("sz-scale1").changeInterval!.low, 5, accuracy: 1e-9)
        XCTAssertEqual(row("sz-scale1").reading, "worse")
        let gap = [100 * (2.1 / 2.0 - 1), 100 * (2.4 / 2.2 - 1)]
        XCTAssertEqual(row("gpt").changeInterval!.high - row("gpt").changeInterval!.mean, 12.706 * abs(gap[1] - gap[0]) / 2, accuracy: 1e-3,
                       "two seeds: t(0.975, 1) · s/√2, with s = |d1 − d2|/√2")
        XCTAssertEqual(row("gpt").reading, "no difference shown", "worse in both seeds, but two seeds cannot tell")
        XCTAssertEqual(row("no-qk-norm").reading, "no difference shown")
        XCTAssertTrue(md.contains("| sz-scale1 |") && md.contains("| worse |") && md.contains("no difference shown"), md)
        // every row of the table has the header's cells (a "|α|" in a cell is escaped)
        let cells = md.split(separator: "\n").filter { $0.hasPrefix("|") }
            .map { $0.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count }
        XCTAssertEqual(Set(cells).count, 1, md)
        XCTAssertEqual(cells.count, 2 + 4)
        let html = AblationReport.html(r)
        XCTAssertTrue(html.contains("<svg") && html.contains("change of the final validation loss"))
    }
}

/// `ngpt ablate` end to end on a tiny shape, and a study with a variant written outside the
/// library, run from Swift.
final class AblateCommandTests: CommandTestCase {
    override var datasetBytes: Int { 40_000 }

    func testAblateWritesTheReportAndResumes() throws {
        let out = dir.appendingPathComponent("ablate")
        let args = ["ablate", "--data", data.path, "--out", out.path, "--dim", "16", "--heads", "2", "--layers", "1",
                    "--context", "16", "--batch", "2", "--budget", "8", "--seeds", "2", "--eval-batches", "2", "--eval-points", "2",
                    "--variants", "ngpt,gpt,sz-scale1,no-residual-norm,gpt-qk-norm", "--jobs", "2"]
        let r = try runProcess(binary, args)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("sz-scale1: ") && r.stdout.contains("report: "), r.stdout)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let results = try decoder.decode(AblationResults.self, from: Data(contentsOf: out.appendingPathComponent("results.json")))
        XCTAssertEqual(results.rows.map(\.name), ["ngpt", "gpt", "sz-scale1", "no-residual-norm", "gpt-qk-norm"])
        for row in results.rows {
            XCTAssertEqual(row.finished, 2, row.name)
            XCTAssertNotNil(row.changePercent, row.name)
            XCTAssertEqual(row.loss?.values.count, 2, row.name)
        }
        XCTAssertTrue(results.rows[0].alphaA != nil && results.rows[1].alphaA == nil, "scalers are nGPT's")
        XCTAssertTrue(results.rows[4].configuration.model.gptQKNormalization)
        for file in ["report.html", "report.md", "settings.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), file)
        }
        // each run is its configuration file; `ngpt train --config` reproduces it
        let run = out.appendingPathComponent("runs/sz-scale1-seed1")
        let again = dir.appendingPathComponent("again")
        let train = try runProcess(binary, ["train", "--config", run.appendingPathComponent("run.json").path, "--out", again.path, "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertEqual(try Data(contentsOf: again.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: run.appendingPathComponent("model.safetensors")), "the same run, byte for byte")
        // a second call has nothing to do; --plan then --collect reproduce the report
        let resumed = try runProcess(binary, args)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("run(s) to do"), resumed.stderr)
        let planned = try runProcess(binary, args + ["--plan"])
        XCTAssertEqual(planned.status, 0, planned.stderr)
        XCTAssertTrue(planned.stdout.contains("0 run(s) written"), planned.stdout)
        let collected = try runProcess(binary, ["ablate", "--collect", "--out", out.path])
        XCTAssertEqual(collected.status, 0, collected.stderr)
        let bad = try runProcess(binary, ["ablate", "--data", data.path, "--out", dir.appendingPathComponent("bad").path, "--variants", "ngpt,nope"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("no row is called 'nope'"), bad.stderr)
        for flag in ["--no-weight-norm", "--gpt-qk-norm", "--sz-scale"] {
            let arguments = ["ablate", "--data", data.path, "--out", dir.appendingPathComponent("switch").path, flag] + (flag == "--sz-scale" ? ["1"] : [])
            let refused = try runProcess(binary, arguments)
            XCTAssertEqual(refused.status, 1, flag)
            XCTAssertTrue(refused.stderr.contains("takes the shape only") && refused.stderr.contains(flag), refused.stderr)
        }
        let listed = try runProcess(binary, ["ablate", "--list-variants"])
        XCTAssertEqual(listed.stdout.split(separator: "\n").count, AblationVariant.defaultSet.count)
    }

    /// `--rates-from` takes the rates a comparison tuned at this shape and context (also from a
    /// report written before per-context rates), and refuses another shape.
    func testRatesFromAComparison() throws {
        let report = dir.appendingPathComponent("compare")
        try FileManager.default.createDirectory(at: report, withIntermediateDirectories: true)
        let model = String(decoding: try JSONEncoder().encode(ModelConfig(kind: .gpt, width: 16, heads: 2, layers: 1, context: 16)), as: UTF8.self)
        try Data("""
        {"settings": {"model": \(model), "contexts": [16, 32]}, "lrGPT": 1e-3, "lrNGPT": 2e-2,
         "contexts": [{"context": 16}, {"context": 32, "lrGPT": 5e-3, "lrNGPT": 4e-2}]}
        """.utf8).write(to: report.appendingPathComponent("results.json"))
        func ablate(_ out: String, context: Int) throws -> (status: Int32, stdout: String, stderr: String) {
            try runProcess(binary, ["ablate", "--data", data.path, "--out", dir.appendingPathComponent(out).path, "--dim", "16", "--heads", "2",
                                    "--layers", "1", "--context", "\(context)", "--batch", "2", "--budget", "2", "--seeds", "1",
                                    "--eval-batches", "1", "--variants", "ngpt", "--rates-from", report.path])
        }
        for (context, rates) in [(16, (1e-3, 2e-2)), (32, (5e-3, 4e-2))] {
            let r = try ablate("a\(context)", context: context)
            XCTAssertEqual(r.status, 0, r.stderr)
            let s = try AblationSettings.read(from: dir.appendingPathComponent("a\(context)/settings.json"))
            XCTAssertEqual(s.lrGPT, rates.0)
            XCTAssertEqual(s.lrNGPT, rates.1)
            XCTAssertTrue(s.lrSource.contains("tuned by the comparison"), s.lrSource)
        }
        let other = try ablate("a64", context: 64)
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("compared another shape"), other.stderr)
    }

    /// A variant written with the library's architecture protocol joins a study from Swift:
    /// nGPT whose update hook does nothing must train exactly like the library's own row
    /// without weight normalisation, and unlike default nGPT.
    func testALibraryUsersVariantRunsInProcess() throws {
        struct UnnormalizedNGPT: Architecture {
            let base: NGPTArchitecture
            init(config: ModelConfig) { base = NGPTArchitecture(config: config) }
            var config: ModelConfig { base.config }
            var name: String { "ngpt-unnormalized" }
            var recipe: TrainingRecipe { base.recipe }
            var parameters: [ParameterSpec] { base.parameters }
            func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
                base.makeBlock(layer: layer, layout: layout, plan: &plan)
            }
            func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead { base.makeHead(layout: layout, plan: &plan) }
            func afterInitialization(_ parameters: ParameterBuffer) { base.afterInitialization(parameters) }
            func afterUpdate(_ parameters: ParameterBuffer) {}
            func layerValues(_ parameters: ParameterBuffer) -> [LayerValues] { base.layerValues(parameters) }
        }
        let s = AblationSettings(data: data.path, model: ModelConfig(kind: .ngpt, width: 16, heads: 2, layers: 1, context: 16),
                                 budget: 6, seeds: 1, batchSize: 2, lrGPT: 3e-3, lrNGPT: 3e-2, variants: ["ngpt", "no-weight-norm", "outside"],
                                 evalBatches: 2, evalPoints: 2)
        var study = AblationStudy(settings: s)
        study.variants.append(AblationVariant(name: "outside", summary: "nGPT without renormalisation, written outside the library",
                                              kind: .ngpt, architecture: { UnnormalizedNGPT(config: $0) }))
        let out = dir.appendingPathComponent("library")
        var seen = [String]()
        let results = try study.run(in: out) { run, trained in seen.append("\(run.id) \(trained.status)") }
        XCTAssertEqual(seen, ["ngpt-seed0 finished", "no-weight-norm-seed0 finished", "outside-seed0 finished"])
        XCTAssertEqual(results.rows.map(\.finished), [1, 1, 1])
        XCTAssertEqual(results.rows[2].loss!.mean, results.rows[1].loss!.mean, accuracy: 1e-6)
        XCTAssertNotEqual(results.rows[2].loss!.mean, results.rows[0].loss!.mean)
        XCTAssertNotNil(results.rows[2].alphaA)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.html").path))
        // a second call finds every run finished
        seen = []
        _ = try study.run(in: out) { run, _ in seen.append(run.id) }
        XCTAssertEqual(seen, [])
    }
}
