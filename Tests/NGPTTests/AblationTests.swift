import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// The rows of `ngpt ablate`, what each run is, and the numbers the report computes from them.
final class AblationStudyTests: XCTestCase {
    func settings(variants: [String] = AblationVariant.defaultSet.map(\.name), seeds: Int = 2, retune: Bool = false) -> AblationSettings {
        AblationSettings(data: "/data", model: ModelConfig(kind: .ngpt, width: 32, heads: 2, layers: 1, context: 32), budget: 40,
                         seeds: seeds, batchSize: 4, lrGPT: 2e-3, lrNGPT: 1e-2, retune: retune,
                         trainedValues: ScalerValues(alpha: 0.3, sqk: 1.9, suv: 1.1, sz: 22), variants: variants)
    }

    /// Writes a finished run's files: its final evaluation (with nGPT's scalers when given).
    func writeFinishedRun(_ dir: URL, _ id: String, steps: Int = 40, loss: Double, alpha: [Double]? = nil, sqk: Double = 1.5, su: Double = 1, sv: Double = 2,
                          sz: Double = 20) throws {
        let out = dir.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let log = try MetricsLog(url: out.appendingPathComponent("metrics.jsonl"))
        var last = MetricsRecord(kind: "eval", step: steps, tokens: steps * 128, valLoss: loss, seconds: 1)
        if let alpha {
            (last.alphaA, last.alphaM, last.sqk, last.su, last.sv, last.szMean) = (alpha, alpha, [sqk], [su], [sv], sz)
        }
        try log.append(MetricsRecord(kind: "eval", step: 0, tokens: 0, valLoss: 5.5, seconds: 0))
        try log.append(last)
        try RunStatus(state: .finished, step: steps).write(to: out)
    }

    func inputs(_ study: AblationStudy) throws -> AblationStudy.Inputs {
        try study.inputs(runsDirectory: URL(fileURLWithPath: "/nonexistent-ablation-runs"))
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
        let known = try inputs(study)
        let reference = study.run(AblationVariant.defaultSet[0], seed: 1, inputs: known)!.configuration
        // each row differs from its model's default run in exactly what it names
        func row(_ name: String) -> RunConfiguration { study.run(try! study.rows().first { $0.name == name }!, seed: 1, inputs: known)!.configuration }
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
        XCTAssertEqual(try study.currentRuns(known).count, 2 * names.count)
        XCTAssertEqual(Set(try study.currentRuns(known).map(\.id)).count, 2 * names.count)
    }

    /// Every row of the paper's Tables 4–6 is a row with the paper's value, and the rows set what
    /// the paper's tables say.
    func testThePapersTablesAreRows() throws {
        let rows = AblationVariant.defaultSet
        func paper(_ group: String) -> [AblationVariant] { rows.filter { $0.group == group } }
        XCTAssertEqual(paper("Table 4").count, 11)
        XCTAssertEqual(paper("Table 5").count, 11)
        XCTAssertEqual(paper("Table 6").count, 1)
        for v in paper("Table 4") + paper("Table 5") + paper("Table 6") { XCTAssertNotNil(v.paper, v.name) }
        XCTAssertEqual(Set(rows.compactMap(\.paper)).count, 20, "distinct values of the 23 paper rows, plus signed α's 'same results'")
        let study = AblationStudy(settings: settings())
        let known = try inputs(study)
        func model(_ name: String) -> ModelConfig { study.run(rows.first { $0.name == name }!, seed: 0, inputs: known)!.configuration.model }
        let d = Float(32)
        XCTAssertEqual(model("suv-init-isqrtd").suv.initValue, 1 / d.squareRoot(), accuracy: 1e-7)
        XCTAssertEqual(model("suv-init-isqrtd").suv.scale, 1)
        XCTAssertEqual(model("suv-scale-isqrtd").suv.scale, 1 / d.squareRoot(), accuracy: 1e-7)
        XCTAssertEqual(model("sz-init-sqrtd-scale1").sz.initValue, d.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(model("sz-init-sqrtd-scale1").sz.scale, 1)
        XCTAssertEqual(model("sqk-init0.33").sqk.initValue, 0.33)
        XCTAssertEqual(model("sqk-init0.33").sqk.scale, ModelConfig(kind: .ngpt, width: 32, heads: 2, layers: 1, context: 32).sqk.scale)
        XCTAssertEqual(model("sqk-suv-sz-scalar").sz.mode, .scalar)
        XCTAssertEqual(model("sqk-suv-sz-scalar").alpha.mode, .vector)
        XCTAssertEqual(model("sqk-suv-fixed").suv.mode, .fixed)
        XCTAssertEqual(model("sqk-suv-fixed").sqk.initValue, 1)
        // scale-matched: fixed at the trained values; s_qk at the paper's attention scale (dk 16: √2)
        XCTAssertEqual(model("sz-fixed-trained").sz.mode, .fixed)
        XCTAssertEqual(model("sz-fixed-trained").sz.initValue, 22)
        XCTAssertEqual(model("alpha-fixed-trained").alpha.initValue, 0.3)
        XCTAssertEqual(model("suv-fixed-trained").suv.initValue, 1.1)
        XCTAssertEqual(model("sqk-fixed-paper-scale").sqk.mode, .fixed)
        XCTAssertEqual(model("sqk-fixed-paper-scale").sqk.initValue, 1.4142, accuracy: 1e-6)
        XCTAssertEqual(AblationVariant.paperAttentionScale(headWidth: 64), 1)
        // the paper's attention scale: s_qk² · √dk equal to the paper's √64 at s_qk = 1
        XCTAssertEqual(pow(AblationVariant.paperAttentionScale(headWidth: 32), 2) * 32.0.squareRoot(), 8, accuracy: 1e-12)
    }

    /// Rows that change the optimisation tune their own rate (and no-weight-norm its weight decay)
    /// on the selection half; the models' rates are tuned when not given; the best pair wins.
    func testRetunedRowsGetTheirOwnRates() throws {
        let dir = try makeTemporaryDirectory("ablation-tuning")
        defer { try? FileManager.default.removeItem(at: dir) }
        var s = settings(variants: ["ngpt", "gpt", "sz-scale1", "no-weight-norm", "gpt-qk-norm", "sz-fixed-trained"], seeds: 2, retune: true)
        s.lrGPT = nil
        s.trainedValues = nil
        s.lrGrid = [1e-3, 2e-3, 4e-3]
        s.gridExtensions = 1
        let study = AblationStudy(settings: s)
        try study.validate()
        XCTAssertEqual(try study.tuningCells(), [.init(row: "gpt", weightDecay: nil), .init(row: "no-weight-norm", weightDecay: 0),
                                                .init(row: "no-weight-norm", weightDecay: 0.1), .init(row: "gpt-qk-norm", weightDecay: nil)])
        var now = try study.inputs(runsDirectory: dir)
        XCTAssertEqual(now.rates.keys.sorted(), ["ngpt"], "nGPT's rate is given, the others are tuned")
        let first = try study.currentRuns(now)
        XCTAssertEqual(first.filter { $0.id.hasPrefix("tune-") }.count, 4 * 3)
        XCTAssertEqual(Set(first.filter { !$0.id.hasPrefix("tune-") }.map(\.id)),
                       ["ngpt-seed0", "ngpt-seed1", "sz-scale1-seed0", "sz-scale1-seed1"], "rows with known inputs only")
        let tune = first.first { $0.id == "tune-no-weight-norm-wd0.1-lr2.00e-03-seed1000" }!.configuration
        XCTAssertEqual(tune.training.validationPart, .selection)
        XCTAssertEqual(tune.training.weightDecay, 0.1)
        XCTAssertFalse(tune.model.weightNormalization)
        XCTAssertEqual(tune.training.evalEvery, 0)
        // losses: gpt best at 2e-3; no-weight-norm best at wd 0.1 and 1e-3 (an edge: grows once to 5e-4)
        let loss: [String: [Double]] = ["gpt": [3, 2, 2.5], "no-weight-norm-wd0": [2.8, 2.6, 2.7], "no-weight-norm-wd0.1": [2.2, 2.4, 2.9],
                                        "gpt-qk-norm": [2.5, 2.4, 2.1]]
        for run in first where run.id.hasPrefix("tune-") {
            let key = loss.keys.first { run.id.hasPrefix("tune-\($0)-lr") }!
            let i = [1e-3, 2e-3, 4e-3].firstIndex(of: run.configuration.training.learningRate)!
            try writeFinishedRun(dir, run.id, loss: loss[key]![i])
        }
        now = try study.inputs(runsDirectory: dir)
        XCTAssertEqual(now.rates["gpt"]?.lr, 2e-3)
        XCTAssertNil(now.rates["no-weight-norm"], "its grid grows below 1e-3 first")
        let grown = try study.currentRuns(now).filter { $0.id.hasPrefix("tune-") && !FileManager.default.fileExists(atPath: dir.appendingPathComponent($0.id).path) }
        XCTAssertEqual(Set(grown.map(\.id)), ["tune-no-weight-norm-wd0.1-lr5.00e-04-seed1000", "tune-gpt-qk-norm-lr8.00e-03-seed1000"])
        try writeFinishedRun(dir, "tune-no-weight-norm-wd0.1-lr5.00e-04-seed1000", loss: 2.3)
        try writeFinishedRun(dir, "tune-gpt-qk-norm-lr8.00e-03-seed1000", loss: 2.0)
        now = try study.inputs(runsDirectory: dir)
        XCTAssertEqual(now.rates["no-weight-norm"]?.lr, 1e-3)
        XCTAssertEqual(now.rates["no-weight-norm"]?.weightDecay, 0.1)
        XCTAssertTrue(now.rates["no-weight-norm"]!.source.contains("weight decay 0.1 chosen (0 scored 2.6000)"), now.rates["no-weight-norm"]!.source)
        XCTAssertEqual(now.rates["gpt-qk-norm"]?.lr, 8e-3, "at the grid's edge after one extension")
        XCTAssertTrue(now.rates["gpt-qk-norm"]!.source.contains("at the grid's edge"))
        let rows = try study.rows()
        let nwn = study.run(rows[3], seed: 0, inputs: now)!.configuration
        XCTAssertEqual(nwn.training.learningRate, 1e-3)
        XCTAssertEqual(nwn.training.weightDecay, 0.1)
        XCTAssertEqual(nwn.training.validationPart, .report)
        XCTAssertEqual(study.run(rows[1], seed: 0, inputs: now)!.configuration.training.learningRate, 2e-3, "gpt at its tuned rate")
        // the scale-matched row waits for every default-nGPT seed, then fixes their mean
        XCTAssertNil(study.run(rows[5], seed: 0, inputs: now))
        XCTAssertTrue(study.waiting(rows[5], inputs: now)!.contains("trained scalers"))
        try writeFinishedRun(dir, "ngpt-seed0", loss: 2, alpha: [0.2, 0.4], sz: 20)
        XCTAssertNil(try study.inputs(runsDirectory: dir).trainedValues, "seed 1 has not finished")
        try writeFinishedRun(dir, "ngpt-seed1", loss: 2, alpha: [0.3, 0.3], sz: 24.123)
        now = try study.inputs(runsDirectory: dir)
        XCTAssertEqual(now.trainedValues, ScalerValues(alpha: 0.3, sqk: 1.5, suv: 1.5, sz: 22.1))
        XCTAssertEqual(study.run(rows[5], seed: 1, inputs: now)!.configuration.model.sz.initValue, 22.1)
        // the report says which rate each row used and where it came from
        let r = try AblationResults.collect(study, runsDirectory: dir)
        XCTAssertEqual(r.rows[3].learningRate, 1e-3)
        XCTAssertEqual(r.rows[3].weightDecay, 0.1)
        XCTAssertTrue(r.rows[2].rateSource!.hasPrefix("ngpt's rate (given)"), r.rows[2].rateSource!)
        XCTAssertEqual(r.tuning?.count, 4)
        XCTAssertTrue(AblationReport.markdown(r).contains("Learning-rate tuning"))
        XCTAssertTrue(AblationReport.markdown(r).contains("1.00e-03, wd 0.1 (own)"), AblationReport.markdown(r))
    }

    /// Settings written before tuning and trained values read as they were: both rates given, no
    /// row retuned, so their runs keep their configurations.
    func testOldSettingsKeepTheirRates() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(settings())) as! [String: Any]
        for key in ["retune", "lrGrid", "gridExtensions", "tuningSeed", "tuningSeeds", "trainedValues"] { json[key] = nil }
        let old = try JSONDecoder().decode(AblationSettings.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertFalse(old.retune)
        let study = AblationStudy(settings: old)
        XCTAssertEqual(try study.tuningCells(), [])
        let row = study.run(AblationVariant.defaultSet.first { $0.name == "no-weight-norm" }!, seed: 0, inputs: try inputs(study))!
        XCTAssertEqual(row.configuration.training.learningRate, 1e-2)
        XCTAssertEqual(row.configuration.training.weightDecay, 0)
    }

    /// The change chart cuts its axis where one row lies far beyond the rest, and draws that row
    /// at the edge with its value printed.
    func testTheChangeChartShowsEveryRow() {
        XCTAssertNil(SVGRangeChart.limit(forExtents: [1, 2, 3, 4]))
        XCTAssertEqual(SVGRangeChart.limit(forExtents: [0.5, 1, 2, 3, 4, 5, 6, 150]), 10)
        var chart = SVGRangeChart(title: "t", xLabel: "x", yLabel: "y",
                                  rows: [.init(label: "a", value: 2, low: 1, high: 3, color: "#000", mark: 0.5),
                                         .init(label: "far", value: 150, low: 140, high: 160, color: "#000")])
        chart.limit = 10
        let svg = chart.render()
        XCTAssertTrue(svg.contains(">+150.0</text>"), svg)
        XCTAssertFalse(svg.contains("150</text>\n<line"), "no tick at 150")
        XCTAssertTrue(svg.contains("<path d=\"M"), "paper mark and arrow")
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
        for run in try study.currentRuns(try inputs(study)) {
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
        XCTAssertEqual(row("gpt").learningRate, 2e-3)
        XCTAssertEqual(row("sz-scale1").rateSource, "ngpt's rate (given)")
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
        XCTAssertEqual(results.rows[4].configuration?.model.gptQKNormalization, true)
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
                                 budget: 6, seeds: 1, batchSize: 2, lrGPT: 3e-3, lrNGPT: 3e-2, retune: false, variants: ["ngpt", "no-weight-norm", "outside"],
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
