import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class SpeedupTests: XCTestCase {
    let gpt: [(cost: Double, loss: Double)] = [(1000, 3.0), (2000, 2.5), (4000, 2.0)]

    func testExactCrossingAtABudget() {
        let r = Speedup.ratio(ngptLoss: 2.5, ngptCost: 1000, gptCurve: gpt)!
        XCTAssertEqual(r.bound, .exact)
        XCTAssertEqual(r.value, 2, accuracy: 1e-12)
        XCTAssertEqual("\(r)", "2.00×")
    }

    func testInterpolationIsInLogTokens() {
        // 2.25 is halfway between GPT's 2000- and 4000-token losses: √(2000·4000) tokens
        let r = Speedup.ratio(ngptLoss: 2.25, ngptCost: 1000, gptCurve: gpt)!
        XCTAssertEqual(r.value, (2000.0 * 4000).squareRoot() / 1000, accuracy: 1e-9)
    }

    func testNeverReachedIsALowerBound() {
        let r = Speedup.ratio(ngptLoss: 1.5, ngptCost: 1000, gptCurve: gpt)!
        XCTAssertEqual(r.bound, .moreThan)
        XCTAssertEqual("\(r)", "> 4.00×", "GPT's largest budget over nGPT's; no extrapolation")
    }

    func testNGPTWorseIsBelowOne() {
        let r = Speedup.ratio(ngptLoss: 2.5, ngptCost: 4000, gptCurve: gpt)!
        XCTAssertEqual(r.bound, .exact)
        XCTAssertEqual(r.value, 0.5, accuracy: 1e-12)
        let early = Speedup.ratio(ngptLoss: 3.5, ngptCost: 2000, gptCurve: gpt)!
        XCTAssertEqual(early.bound, .atMost, "GPT's smallest run already beats nGPT")
        XCTAssertEqual("\(early)", "≤ 0.50×")
    }

    func testDivergedRunsNeverReach() {
        let curve: [(cost: Double, loss: Double)] = [(1000, .infinity), (2000, 2.5), (4000, .infinity)]
        XCTAssertEqual(Speedup.crossing(of: 2.5, curve: curve), .atOrBefore(2000))
        XCTAssertEqual(Speedup.crossing(of: 2.0, curve: curve), .beyond(4000))
        XCTAssertNil(Speedup.ratio(ngptLoss: .infinity, ngptCost: 1000, gptCurve: gpt), "a diverged nGPT has no speedup")
    }
}

final class ComparisonPlanTests: XCTestCase {
    func settings(lrGPT: Double? = nil) -> ComparisonSettings {
        ComparisonSettings(data: "/data", model: ModelConfig(kind: .gpt, width: 32, heads: 2, layers: 2, context: 64),
                           contexts: [64, 128], budgets: [400, 100, 200], seeds: 2, lrGrid: [1e-3, 4e-3, 1.6e-2], lrGPT: lrGPT)
    }

    func testTuningRuns() {
        let s = settings()
        XCTAssertEqual(s.budgets, [100, 200, 400], "budgets are sorted")
        XCTAssertEqual(s.tuneBudget, 200, "default tuning budget: the middle one")
        let tuning = ComparisonPlanner.tuningRuns(s)
        XCTAssertEqual(tuning.count, 2 * 2 * 3, "every context, both models, every rate")
        XCTAssertTrue(tuning.allSatisfy { $0.steps == 200 && $0.seed == 1000 && $0.purpose == .tuning && $0.id.hasPrefix("tune-") })
        XCTAssertEqual(Set(tuning.map(\.context)), [64, 128])
        XCTAssertEqual(Set(tuning.map(\.lr)), [1e-3, 4e-3, 1.6e-2])
        XCTAssertEqual(Set(ComparisonPlanner.tuningRuns(settings(lrGPT: 2e-3)).map(\.model)), ["ngpt"],
                       "a given rate skips that model's tuning")
        // tuning runs are scored on the first half of the validation text, final runs on the second
        let tune = tuning[0].configuration(s).training
        XCTAssertEqual(tune.validationPart, .selection)
        XCTAssertEqual(tune.extrapolation, [])
        XCTAssertEqual(PlannedRun(model: "ngpt", context: 64, steps: 100, seed: 0, lr: 1e-3).configuration(s).training.validationPart, .report)
    }

    func testFinalRunsAndSchedules() throws {
        let s = settings()
        XCTAssertEqual(s.gptBudgets, [800, 1600], "GPT's extra budgets: 2× and 4× nGPT's largest by default")
        let rates = LearningRates([64: ["gpt": 4e-3, "ngpt": 1.6e-2], 128: ["gpt": 1e-3, "ngpt": 4e-3]])
        let final = ComparisonPlanner.finalRuns(s, rates: rates)
        XCTAssertEqual(final.count, 2 * (3 * 2 * 2 + 2 * 2), "contexts × (budgets × seeds × models + GPT's extra budgets × seeds)")
        XCTAssertEqual(Set(final.map(\.id)).count, final.count, "every run has its own directory")
        XCTAssertTrue(Set(final.map(\.id)).isDisjoint(with: ComparisonPlanner.tuningRuns(s).map(\.id)), "tuning runs are never final runs")
        XCTAssertEqual(Set(final.filter { $0.model == "ngpt" }.map(\.steps)), [100, 200, 400])
        XCTAssertEqual(Set(final.filter { $0.model == "gpt" }.map(\.steps)), [100, 200, 400, 800, 1600])
        XCTAssertEqual(Set(final.filter { $0.context == 128 && $0.model == "gpt" }.map(\.lr)), [1e-3], "each context has its own rates")
        // each run has its own schedule ending at its budget; GPT's warm-up scales with it
        let run = final.first { $0.model == "gpt" && $0.steps == 400 && $0.context == 128 }!
        let c = run.configuration(s)
        XCTAssertEqual(c.training.steps, 400)
        XCTAssertEqual(c.model.context, 128)
        XCTAssertEqual(c.training.batchSize, 8, "batch × context stays that of the first context (16 × 64)")
        XCTAssertEqual(run.tokens(s), 400 * 16 * 64)
        XCTAssertEqual(c.training.warmup, TrainingOptions(recipe: .gpt, steps: 400).warmup, "the recipe's warm-up (a fraction of the steps) applies")
        XCTAssertEqual(c.training.learningRate, 1e-3)
        XCTAssertEqual(c.training.extrapolationWindows, .shared)
        XCTAssertEqual(TrainingOptions(recipe: .gpt, steps: 450).warmup, 30)
        XCTAssertEqual(TrainingOptions(recipe: .gpt, steps: 1500).warmup, 100)
        XCTAssertEqual(TrainingOptions(recipe: .ngpt, steps: 1500).warmup, 0)
        var fixed = s
        fixed.constantTokensPerStep = false
        XCTAssertEqual(run.configuration(fixed).training.batchSize, 16, "--fixed-batch keeps the batch")
    }

    func testLongestRunsStartFirst() {
        let s = settings()
        let rates = LearningRates([64: ["gpt": 4e-3, "ngpt": 1.6e-2], 128: ["gpt": 1e-3, "ngpt": 4e-3]])
        let final = ComparisonPlanner.finalRuns(s, rates: rates).map { $0.scheduled(s) }
        let order = ScheduledRun.startingOrder(final)
        XCTAssertEqual(Set(order.map(\.id)), Set(final.map(\.id)))
        XCTAssertEqual(order.count, final.count)
        let work = order.map(\.work)
        XCTAssertEqual(work, work.sorted(by: >), "the most work first")
        XCTAssertEqual(order.first?.configuration.training.steps, 1600, "GPT's longest budget starts first")
        XCTAssertEqual(order.last?.configuration.training.steps, 100)
        // equal work keeps the plan's order (seeds in order)
        let equal = order.filter { $0.work == order.last!.work }.map(\.id)
        XCTAssertEqual(equal, final.filter { $0.work == order.last!.work }.map(\.id))
        // a longer context costs more than its tokens alone (attention)
        let short = final.first { $0.configuration.model.context == 64 && $0.configuration.training.steps == 400 }!
        let long = final.first { $0.configuration.model.context == 128 && $0.configuration.training.steps == 400 && $0.id.hasPrefix("gpt") }!
        XCTAssertGreaterThan(long.work, short.work)
    }

    func testSettingsThatCannotBeMetAreRefused() {
        var s = settings()
        s.gptBudgets = [300]
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("--gpt-budgets 300 is not above"), "\($0)") }
        s = settings()
        s.contexts = [64, 96]
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("--fixed-batch"), "\($0)") }
        s.constantTokensPerStep = false
        XCTAssertNoThrow(try s.validate())
        s = settings()
        s.seeds = 1001
        XCTAssertThrowsError(try s.validate(), "the tuning seed would be a final seed")
        s = settings()
        s.extrapolation = [2, 3]
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("divide"), "\($0)") }
    }

    /// A comparison directory written before per-context tuning still means what it meant.
    func testOldSettingsFilesKeepTheirProcedure() throws {
        let old = """
        {"batchSize":16,"budgets":[100,200],"contexts":[64,128],"data":"/data","evalBatches":10,"evalPoints":10,
         "extrapolation":[2,4],"lrGrid":[0.001,0.004],"model":\(String(decoding: try JSONEncoder().encode(settings().model), as: UTF8.self)),
         "precision":"fp32","seeds":2,"threadsPerRun":1,"tuneBudget":200}
        """
        let s = try JSONDecoder().decode(ComparisonSettings.self, from: Data(old.utf8))
        XCTAssertEqual(s.tuning, .shared)
        XCTAssertEqual(s.gptBudgets, [])
        XCTAssertFalse(s.constantTokensPerStep)
        XCTAssertEqual(s.extrapolationWindows, .separate)
        let tuning = ComparisonPlanner.tuningRuns(s)
        XCTAssertEqual(tuning.map(\.id).first, "gpt-t64-n200-lr1.00e-03-seed0", "the old tuning runs' directories")
        let final = ComparisonPlanner.finalRuns(s, rates: LearningRates(s, byModel: ["gpt": 1e-3, "ngpt": 4e-3]))
        XCTAssertEqual(final.count, 2 * 2 * 2 * 2)
        let c = final[0].configuration(s).training
        XCTAssertEqual(c.validationPart, .whole)
        XCTAssertEqual(c.extrapolationWindows, .separate)
        XCTAssertEqual(c.batchSize, 16)
    }

    /// The speedup at every nGPT budget reads GPT's curve through its extra budgets.
    func testGPTsExtraBudgetsTurnBoundsIntoNumbers() {
        var s = settings()
        s.contexts = [64]
        s.seeds = 1
        let rates = LearningRates(s, byModel: ["gpt": 1e-3, "ngpt": 2e-3])
        // GPT: 4.0, 3.6, 3.3 at nGPT's budgets, 3.0 and 2.8 beyond; nGPT: 3.7, 3.3, 2.9
        let losses: [String: [Int: Double]] = ["gpt": [100: 4.0, 200: 3.6, 400: 3.3, 800: 3.0, 1600: 2.8],
                                                  "ngpt": [100: 3.7, 200: 3.3, 400: 2.9]]
        func results(_ s: ComparisonSettings) -> [PlannedRun: RunResult] {
            var byRun = [PlannedRun: RunResult]()
            for run in ComparisonPlanner.finalRuns(s, rates: rates) {
                guard let loss = losses[run.model]?[run.steps] else { continue }
                byRun[run] = RunResult(id: run.id, run: run, tokens: run.tokens(s),
                                       outcome: TrainedRun(status: .finished, finalValLoss: loss, seconds: Double(run.steps), curve: [], contexts: []))
            }
            return byRun
        }
        let c = ComparisonResults.context(64, s, rates: rates, byRun: results(s))
        XCTAssertEqual(c.budgets.map { $0.speedup?.bound }, [.exact, .exact, .exact])
        XCTAssertEqual(c.budgets[1].speedup!.value, 2, accuracy: 1e-12, "nGPT's 200-step loss is GPT's at 400")
        XCTAssertEqual(c.budgets[2].speedup!.value, 2 * pow(2, (3.0 - 2.9) / (3.0 - 2.8)), accuracy: 1e-9,
                       "between GPT's 800 and 1600 in log tokens, over nGPT's 400")
        XCTAssertEqual(c.gptBeyond.map(\.steps), [800, 1600])
        XCTAssertNil(c.budgets[2].note)
        var without = s
        without.gptBudgets = []
        let bounded = ComparisonResults.context(64, without, rates: rates, byRun: results(without))
        XCTAssertEqual(bounded.budgets[2].speedup?.bound, .moreThan)
        XCTAssertTrue(bounded.budgets[2].note?.contains("--gpt-budgets 1600") ?? false, bounded.budgets[2].note ?? "no note")
    }

    func testAblationsReachTheNGPTRuns() {
        var s = settings()
        s.model.qkNormalization = false
        s.model.sz.mode = .scalar
        let n = PlannedRun(model: "ngpt", context: 64, steps: 10, seed: 0, lr: 1e-3).configuration(s).model
        XCTAssertFalse(n.qkNormalization)
        XCTAssertEqual(n.sz.mode, .scalar)
        // GPT has no scalers: its runs are plain GPT runs of the same shape
        let g = PlannedRun(model: "gpt", context: 64, steps: 10, seed: 0, lr: 1e-3).configuration(s).model
        XCTAssertEqual(g, ModelConfig(kind: .gpt, vocabularySize: s.model.vocabularySize, width: s.model.width,
                                      heads: s.model.heads, layers: s.model.layers, context: 64))
    }
}

/// `ngpt compare` end to end on a tiny shape: the report, resuming an interrupted comparison,
/// and plan → lines run by hand → collect.
final class CompareCommandTests: CommandTestCase {
    override var datasetBytes: Int { 40_000 }

    func args(_ out: String) -> [String] {
        ["compare", "--data", data.path, "--out", dir.appendingPathComponent(out).path, "--dim", "16", "--heads", "2",
         "--layers", "1", "--context", "16", "--budgets", "6,12", "--seeds", "2", "--lr-grid", "3e-3,1e-2",
         "--batch", "2", "--eval-batches", "2", "--eval-points", "3", "--jobs", "2", "--grid-extensions", "0"]
    }

    func results(_ out: String) throws -> ComparisonResults {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(ComparisonResults.self, from: Data(contentsOf: dir.appendingPathComponent("\(out)/results.json")))
    }

    /// The numbers of two reports that do not depend on wall-clock time.
    func assertSameMeasurements(_ a: ComparisonResults, _ b: ComparisonResults, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.lrGPT, b.lrGPT, file: file, line: line)
        XCTAssertEqual(a.lrNGPT, b.lrNGPT, file: file, line: line)
        XCTAssertEqual(a.tuning.map(\.valLoss), b.tuning.map(\.valLoss), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.id), b.runs.map(\.id), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.finalValLoss), b.runs.map(\.finalValLoss), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.curve), b.runs.map(\.curve), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.contexts), b.runs.map(\.contexts), file: file, line: line)
        XCTAssertEqual(a.contexts.flatMap { $0.budgets.map(\.speedup) }, b.contexts.flatMap { $0.budgets.map(\.speedup) }, file: file, line: line)
    }

    func testCompareProducesACompleteReport() throws {
        let r = try runProcess(binary, args("report"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("report: "), r.stdout)
        XCTAssertTrue(r.stderr.contains("ETA"), "progress across the plan on stderr")
        let res = try results("report")
        XCTAssertEqual(res.tuning.count, 8, "two rates at each model's smallest and largest budget")
        XCTAssertEqual(Set(res.tuning.filter { $0.model == "gpt" }.compactMap(\.steps)), [6, 48], "GPT tuned at its smallest and its largest budget")
        XCTAssertEqual(Set(res.tuning.filter { $0.model == "ngpt" }.compactMap(\.steps)), [6, 12])
        XCTAssertTrue([3e-3, 1e-2].contains(res.lrGPT) && [3e-3, 1e-2].contains(res.lrNGPT))
        XCTAssertEqual(res.runs.count, 12, "both models at 6 and 12 steps, GPT also at 24 and 48, two seeds")
        XCTAssertTrue(res.runs.allSatisfy { $0.status == .finished && $0.curve.count >= 3 && $0.seconds != nil })
        XCTAssertTrue(res.runs.allSatisfy { $0.contexts.map(\.context) == [16, 32, 64] }, "final models evaluated at 1×, 2×, 4× context")
        XCTAssertTrue(res.missingRuns.isEmpty)
        XCTAssertEqual(Set(res.lrAtGridEdge), ["gpt", "ngpt"], "with a two-rate grid every tuned rate is at an edge")
        XCTAssertTrue(r.stdout.contains("edge of the grid"), "the answer warns about rates at the grid's edge")
        let c = try XCTUnwrap(res.contexts.first)
        XCTAssertEqual(c.budgets.map(\.steps), [6, 12])
        XCTAssertEqual(c.gptBeyond.map(\.steps), [24, 48])
        for b in c.budgets {
            XCTAssertEqual(b.gpt?.values.count, 2)
            XCTAssertEqual(b.ngpt?.values.count, 2)
            XCTAssertNotNil(b.speedup)
            XCTAssertEqual(b.speedupBySeed.count, 2)
            XCTAssertNotNil(b.wallClockSpeedup)
            XCTAssertEqual(b.speedup?.bound == .exact, b.note == nil, "a bound comes with its reason: \(b.note ?? "none")")
            XCTAssertNotNil(b.lrGPT, "the rate used at every budget")
            XCTAssertNotNil(b.lrNGPT)
            XCTAssertEqual(b.lossGap?.count, 2, "the loss gap at equal tokens over both seeds")
            XCTAssertNotNil(b.speedupFit)
            XCTAssertEqual(b.speedupFit?.bound, b.speedup?.bound, "the fit keeps a bound a bound")
        }
        XCTAssertTrue(c.gptBeyond.allSatisfy { $0.lrGPT != nil })
        XCTAssertEqual(c.extrapolation.count, 6)
        XCTAssertTrue(c.extrapolation.allSatisfy { $0.positionLoss?.count == 32 && $0.positionBin == 2 }, "loss by position over 4 × 16 tokens")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report/results.json"))) as! [String: Any]
        for key in ["settings", "tuning", "rates", "contexts", "runs"] { XCTAssertNotNil(json[key], "results.json has \(key)") }
        XCTAssertEqual((json["rates"] as? [String: Double]).map { Set($0.keys) }, ["gpt", "ngpt"], "rates keyed by model")
        let firstBudget = ((json["contexts"] as? [[String: Any]])?.first?["budgets"] as? [[String: Any]])?.first
        XCTAssertEqual((firstBudget?["models"] as? [[String: Any]])?.compactMap { $0["model"] as? String }, ["gpt", "ngpt"],
                       "each budget lists every model's numbers, the baseline first")
        let html = try String(contentsOf: dir.appendingPathComponent("report/report.html"), encoding: .utf8)
        for label in ["training tokens", "validation loss (nats/token)", "peak learning rate", "evaluation context (tokens)", "position in the window (tokens)"] {
            XCTAssertTrue(html.contains(label), "report.html has an axis labelled \(label)")
        }
        XCTAssertFalse(html.contains("http://") && html.contains("<script src"), "self-contained")
        let md = try String(contentsOf: dir.appendingPathComponent("report/report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| budget (steps) |"))

        // Running it again resumes: nothing is retrained.
        let model = dir.appendingPathComponent("report/runs/\(res.runs[0].id)/model.safetensors")
        let before = try FileManager.default.attributesOfItem(atPath: model.path)[.modificationDate] as! Date
        let again = try runProcess(binary, args("report"))
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("run(s) to do"), "a finished comparison has nothing to do: \(again.stderr)")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: model.path)[.modificationDate] as! Date, before)
        assertSameMeasurements(res, try results("report"))

        // An interrupted comparison (one run lost, one cut short) finishes the rest on the next call.
        let lost = dir.appendingPathComponent("report/runs/\(res.runs[7].id)")
        try FileManager.default.removeItem(at: lost)
        let partial = dir.appendingPathComponent("report/runs/\(res.runs[5].id)")
        try FileManager.default.removeItem(at: partial.appendingPathComponent("metrics.jsonl"))
        try FileManager.default.removeItem(at: partial.appendingPathComponent("model.safetensors"))
        try FileManager.default.removeItem(at: partial.appendingPathComponent("checkpoints"))
        let resumed = try runProcess(binary, args("report"))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("2 run(s) to do"), resumed.stderr)
        assertSameMeasurements(res, try results("report"))
    }

    /// A finished run is reused only if it is the planned run: a rerun with another shape into
    /// the same directory (its settings file deleted) must not report the old runs as its own.
    func testARunOfOtherSettingsIsNeverReused() throws {
        let out = dir.appendingPathComponent("reuse").path
        let base = ["compare", "--data", data.path, "--out", out, "--heads", "2", "--layers", "1", "--context", "16",
                    "--budgets", "3", "--gpt-budgets", "none", "--seeds", "1", "--lr-gpt", "1e-3", "--lr-ngpt", "1e-2",
                    "--batch", "2", "--eval-batches", "1", "--eval-points", "1", "--extrapolate", "none", "--jobs", "2"]
        let first = try runProcess(binary, base + ["--dim", "16"])
        XCTAssertEqual(first.status, 0, first.stderr)
        try FileManager.default.removeItem(atPath: out + "/settings.json")
        let second = try runProcess(binary, base + ["--dim", "32"])
        XCTAssertEqual(second.status, 1, "a run of width 16 is not the planned run of width 32: \(second.stderr)")
        XCTAssertTrue(second.stderr.contains("started with other settings") && second.stderr.contains("model.width 16 instead of 32"), second.stderr)
        XCTAssertEqual(second.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1)
        let empty = try runProcess(binary, base + ["--dim", "16", "--gpt-budgets", ""])
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.stderr.contains("--gpt-budgets is empty"), empty.stderr)
    }

    func testPlanRunByHandThenCollectEqualsDirectRun() throws {
        let direct = try runProcess(binary, args("direct"))
        XCTAssertEqual(direct.status, 0, direct.stderr)

        let planned = dir.appendingPathComponent("planned")
        for stage in ["tuning", "final"] {
            let p = try runProcess(binary, args("planned") + ["--plan"])
            XCTAssertEqual(p.status, 0, p.stderr)
            XCTAssertTrue(p.stdout.contains("\(stage) run(s) written"), p.stdout)
            let commands = try String(contentsOf: planned.appendingPathComponent("plan/commands.txt"), encoding: .utf8)
            let slurm = try String(contentsOf: planned.appendingPathComponent("plan/slurm.sh"), encoding: .utf8)
            XCTAssertTrue(slurm.contains("SLURM_ARRAY_TASK_ID") && slurm.contains("#SBATCH --array=1-"))
            for line in commands.split(separator: "\n") {
                XCTAssertTrue(line.contains(" train "), "each line is an ngpt train command: \(line)")
                XCTAssertTrue(line.hasPrefix("OPENBLAS_NUM_THREADS=1 "), "a run starts without OpenBLAS's own threads: \(line)")
                let r = try runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", String(line)])
                XCTAssertEqual(r.status, 0, "\(line)\n\(r.stderr)")
            }
        }
        let collected = try runProcess(binary, ["compare", "--collect", "--out", planned.path])
        XCTAssertEqual(collected.status, 0, collected.stderr)
        assertSameMeasurements(try results("direct"), try results("planned"))
        // each planned run is its configuration file, and the run it made says it finished
        for id in try FileManager.default.contentsOfDirectory(atPath: planned.appendingPathComponent("runs").path) {
            let run = planned.appendingPathComponent("runs").appendingPathComponent(id)
            let described = try RunConfiguration.read(from: run.appendingPathComponent(PlannedRun.configurationFile))
            XCTAssertEqual(described.training, try Trainer.readConfiguration(run).training, id)
            XCTAssertEqual(try RunStatus.read(run)?.state, .finished, id)
        }

        // A finished run whose metrics.jsonl is cut mid-line is reported by file, not dropped.
        let runs = planned.appendingPathComponent("runs")
        let run = try FileManager.default.contentsOfDirectory(atPath: runs.path).sorted().first!
        let metrics = runs.appendingPathComponent(run).appendingPathComponent("metrics.jsonl")
        let text = try Data(contentsOf: metrics)
        try text.prefix(text.count - 7).write(to: metrics)
        let damaged = try runProcess(binary, ["compare", "--collect", "--out", planned.path])
        XCTAssertEqual(damaged.status, 1, "a report missing a run's result says its conclusion is incomplete: \(damaged.stderr)")
        XCTAssertTrue(damaged.stderr.contains("\(run) failed") && damaged.stderr.contains(metrics.path), damaged.stderr)
        XCTAssertTrue(damaged.stderr.contains("the conclusion is incomplete: 1 run(s) failed"), damaged.stderr)
    }

    func testBadComparisonsFailEarly() throws {
        let short = try runProcess(binary, args("bad") + ["--contexts", "30000"])
        XCTAssertNotEqual(short.status, 0)
        XCTAssertTrue(short.stderr.contains("needs at least"), short.stderr)
        let noRates = try runProcess(binary, ["compare", "--data", data.path, "--out", dir.appendingPathComponent("bad2").path, "--lr-grid", "0"])
        XCTAssertNotEqual(noRates.status, 0)
        XCTAssertEqual(noRates.stderr.split(separator: "\n").count, 1, noRates.stderr)
        // a model this program does not know is refused by its name, with how to get a program that knows it
        let unknown = try runProcess(binary, args("bad3") + ["--models", "gpt,qknorm-gpt"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("the architecture 'qknorm-gpt' is not known to this program") && unknown.stderr.contains("NGPTCommand.main(registering:"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad3/runs").path), "nothing was started")
        for (models, message) in [("gpt", "at least two models"), ("gpt,gpt", "repeated names"), ("Big=gpt,ngpt", "is not lower case"), ("gpt,=ngpt", "is not ARCHITECTURE or NAME=ARCHITECTURE")] {
            let r = try runProcess(binary, args("bad4") + ["--models", models])
            XCTAssertNotEqual(r.status, 0, models)
            XCTAssertTrue(r.stderr.contains(message), "\(models): \(r.stderr)")
        }
        let stray = try runProcess(binary, args("bad5") + ["--lr", "qk=1e-3"])
        XCTAssertTrue(stray.stderr.contains("--lr qk=… names no model of the comparison"), stray.stderr)
    }
}

/// Comparisons of named models: the list, the baseline, rates by name, runs keyed by model, and
/// settings files with and without a list.
final class NamedModelComparisonTests: XCTestCase {
    func settings(_ models: [StudyModel]?, fixed: [String: Double]? = nil) -> ComparisonSettings {
        ComparisonSettings(data: "/data", model: ModelConfig(kind: .ngpt, width: 32, heads: 2, layers: 2, context: 64, gptQKNormalization: false),
                           contexts: [64], budgets: [100, 200], seeds: 2, lrGrid: [1e-3, 4e-3], tuning: .budgets,
                           models: models, fixedRates: fixed)
    }

    func testThreeModelsArePlannedAndTunedByName() throws {
        let gptQK = StudyModel("gpt", name: "gpt-b")
        let s = settings([.gpt, gptQK, .ngpt], fixed: ["gpt-b": 3e-3])
        try s.validate()
        XCTAssertEqual(s.baseline, .gpt)
        XCTAssertEqual(s.comparedModels.map(\.name), ["gpt-b", "ngpt"])
        XCTAssertEqual(Set(TuningSweep.cells(s).map(\.model)), ["gpt", "ngpt"], "a model with a given rate is not tuned")
        let rates = LearningRates(s, byModel: ["gpt": 1e-3, "gpt-b": 3e-3, "ngpt": 4e-3])
        let final = ComparisonPlanner.finalRuns(s, rates: rates)
        XCTAssertEqual(final.count, 2 * 2 * 3 + 2 * 2, "budgets × seeds × models + the baseline's extra budgets × seeds")
        XCTAssertEqual(Array(final.prefix(3).map(\.model)), ["gpt", "gpt-b", "ngpt"], "interleaved by model")
        XCTAssertEqual(Set(final.filter { $0.steps > 200 }.map(\.model)), ["gpt"], "only the baseline trains beyond the common budgets")
        let b = try XCTUnwrap(final.first { $0.model == "gpt-b" })
        XCTAssertTrue(b.id.hasPrefix("gpt-b-t64-n100-"), b.id)
        let run = b.configuration(s)
        XCTAssertEqual(run.model.kind, .gpt, "a model built on GPT takes GPT's configuration")
        XCTAssertEqual(run.model.alpha, ModelConfig(kind: .gpt, width: 32).alpha, "and no nGPT switches")
        XCTAssertEqual(run.training.learningRate, 3e-3)
        XCTAssertNil(run.architecture, "the library's own architectures are written as before names existed")
        XCTAssertEqual(s.studyModel(named: "ngpt").label, "nGPT")
        XCTAssertEqual(gptQK.label, "gpt-b", "a renamed model goes by its own name")
    }

    func testTheBaselineCanBeAnyModel() throws {
        let s = settings([.ngpt, .gpt])
        try s.validate()
        XCTAssertEqual(s.budgets(of: "ngpt"), [100, 200, 400, 800], "the first model trains at the extra budgets")
        XCTAssertEqual(s.budgets(of: "gpt"), [100, 200])
        XCTAssertEqual(s.tuningBudgets(of: "ngpt"), [100, 800])
    }

    func testSettingsFilesKeepTheirBytesAndReadTheList() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let pair = try String(decoding: encoder.encode(settings(nil)), as: UTF8.self)
        XCTAssertFalse(pair.contains("\"models\"") || pair.contains("fixedRates"), "a comparison of the pair writes no list: older files keep their bytes")
        XCTAssertEqual(settings(nil).modelList, StudyModel.pair)
        let named = settings([.gpt, StudyModel("gpt", name: "other"), .ngpt], fixed: ["other": 2e-3])
        let decoded = try JSONDecoder().decode(ComparisonSettings.self, from: encoder.encode(named))
        XCTAssertEqual(decoded, named)
        // an old run description (a model's kind under "kind") reads as the model of that name
        let old = try JSONDecoder().decode(PlannedRun.self, from: Data(#"{"kind":"ngpt","context":64,"steps":100,"seed":0,"lr":0.001}"#.utf8))
        XCTAssertEqual(old.model, "ngpt")
        XCTAssertEqual(old.id, "ngpt-t64-n100-lr1.00e-03-seed0")
    }

    func testAFileNamingAnUnknownArchitectureIsRefusedByName() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("named-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("settings.json")
        try JSONEncoder().encode(settings([.gpt, StudyModel("qknorm-gpt")])).write(to: file)
        XCTAssertThrowsError(try ComparisonSettings.read(from: file)) { error in
            XCTAssertTrue("\(error)".contains("model qknorm-gpt: the architecture 'qknorm-gpt' is not known to this program"), "\(error)")
        }
    }
}

/// Tuning at several budgets, grids that grow at their edges, rates that follow the budget, and
/// size studies — checked on run directories written by hand, so each rule is seen exactly.
final class TuningSweepTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ngpt-TuningSweepTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func settings(shapes: [ModelShape]? = nil, extensions: Int = 2, tuningSeeds: Int = 1, rule: RateRule = .logLog) -> ComparisonSettings {
        ComparisonSettings(data: "/data", model: ModelConfig(kind: .gpt, width: 32, heads: 2, layers: 2, context: 64),
                           contexts: [64], budgets: [100, 200, 400], gptBudgets: [800], seeds: 2, lrGrid: [1e-3, 2e-3, 4e-3],
                           tuning: .budgets, shapes: shapes, tuningSeeds: tuningSeeds, gridExtensions: extensions, rateRule: rule)
    }

    /// A finished run whose final validation loss is `loss` (what `ngpt train` leaves, reduced to
    /// the records a study reads).
    func finish(_ run: PlannedRun, loss: Double) throws {
        let d = dir.appendingPathComponent(run.id)
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let line = "{\"kind\":\"eval\",\"step\":\(run.steps),\"tokens\":\(run.steps * 64),\"seconds\":1,\"val_loss\":\(loss)}\n"
        try Data(line.utf8).write(to: d.appendingPathComponent("metrics.jsonl"))
    }

    /// Finishes every run the sweeps need now with `loss(run)`; returns how many there were.
    @discardableResult
    func finishCurrent(_ s: ComparisonSettings, _ loss: (PlannedRun) -> Double) throws -> Int {
        var n = 0
        for run in TuningSweep.currentRuns(s, runsDirectory: dir) where TrainedRun.read(dir.appendingPathComponent(run.id), steps: run.steps, context: run.context).status != .finished {
            try finish(run, loss: loss(run))
            n += 1
        }
        return n
    }

    func testEachModelIsTunedAtItsSmallestAndLargestBudget() {
        let s = settings()
        let cells = TuningSweep.cells(s)
        XCTAssertEqual(Set(cells.filter { $0.model == "gpt" }.map(\.steps)), [100, 800], "GPT's extra budget is its largest")
        XCTAssertEqual(Set(cells.filter { $0.model == "ngpt" }.map(\.steps)), [100, 400])
        XCTAssertEqual(ComparisonPlanner.tuningRuns(s).count, 4 * 3)
        var listed = s
        listed.tuneBudgets = [200, 800]
        XCTAssertEqual(Set(TuningSweep.cells(listed).filter { $0.model == "ngpt" }.map(\.steps)), [200], "a model tunes at the listed budgets it trains at")
        XCTAssertThrowsError(try { var bad = s; bad.tuneBudgets = [300]; try bad.validate() }())
        var seeds = s
        seeds.tuningSeeds = 3
        XCTAssertEqual(ComparisonPlanner.tuningRuns(seeds).count, 4 * 3 * 3)
        XCTAssertTrue(ComparisonPlanner.tuningRuns(seeds).allSatisfy { $0.seed >= 1000 }, "tuning seeds are never final seeds")
    }

    func testAGridGrowsAtTheEdgeOfItsBestRateUpToTheLimit() throws {
        let s = settings(extensions: 2)
        // the best rate is always the largest tried: the grid grows upward twice, then stops
        let rising: (PlannedRun) -> Double = { 3 - $0.lr * 100 }
        XCTAssertEqual(try finishCurrent(s, rising), 12)
        XCTAssertFalse(TuningSweep.isComplete(s, runsDirectory: dir))
        XCTAssertEqual(try finishCurrent(s, rising), 4, "one rate above the grid for each of the four cells")
        XCTAssertEqual(try finishCurrent(s, rising), 4)
        XCTAssertEqual(try finishCurrent(s, rising), 0)
        XCTAssertTrue(TuningSweep.isComplete(s, runsDirectory: dir))
        let o = TuningSweep.outcomes(s, runsDirectory: dir)
        XCTAssertTrue(o.allSatisfy { $0.grid == [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2] && $0.extendedAbove == 2 && $0.extendedBelow == 0 })
        XCTAssertTrue(o.allSatisfy { $0.best == 1.6e-2 && $0.atEdge }, "still on the edge after the last extension: reported")
    }

    func testAnInteriorBestStopsTheSweepAndRatesFollowTheBudget() throws {
        let s = settings()
        // best rate 2e-3 at 100 steps, 1e-3 at the largest budget (the edge: grows downward once)
        let loss: (PlannedRun) -> Double = { run in
            let best = run.steps == 100 ? 2e-3 : 5e-4
            return 2 + pow(log(run.lr / best), 2)
        }
        while try finishCurrent(s, loss) > 0 {}
        let (rates, outcomes) = try XCTUnwrap(TuningSweep.chosenRates(s, runsDirectory: dir))
        XCTAssertTrue(outcomes.filter { $0.steps == 100 }.allSatisfy { $0.best == 2e-3 && $0.grid == [1e-3, 2e-3, 4e-3] })
        XCTAssertTrue(outcomes.filter { $0.steps != 100 }.allSatisfy { $0.best == 5e-4 && $0.grid.first == 2.5e-4 && !$0.atEdge })
        XCTAssertEqual(rates.rate("ngpt", shape: nil, context: 64, steps: 100), 2e-3)
        XCTAssertEqual(rates.rate("ngpt", shape: nil, context: 64, steps: 400), 5e-4)
        // log-log: 200 steps is halfway between 100 and 400 in log steps, so √(2e-3·5e-4) = 1e-3
        XCTAssertEqual(rates.rate("ngpt", shape: nil, context: 64, steps: 200), 1e-3, accuracy: 1e-12)
        // GPT's budgets are 100 … 800: 200 is a third of the way in log steps
        XCTAssertEqual(rates.rate("gpt", shape: nil, context: 64, steps: 200), Double(String(format: "%.2e", exp(log(2e-3) + log(5e-4 / 2e-3) / 3)))!, accuracy: 1e-12)
        let nearest = LearningRates(points: rates.points, rule: .nearest)
        XCTAssertEqual(nearest.rate("gpt", shape: nil, context: 64, steps: 200), 2e-3)
        XCTAssertEqual(nearest.rate("gpt", shape: nil, context: 64, steps: 400), 5e-4)
        let finals = ComparisonPlanner.finalRuns(s, rates: rates)
        XCTAssertEqual(Set(finals.filter { $0.model == "gpt" && $0.steps == 800 }.map(\.lr)), [5e-4], "GPT's long runs train at the rate tuned for them")
        XCTAssertEqual(Set(finals.filter { $0.model == "gpt" && $0.steps == 100 }.map(\.lr)), [2e-3])
    }

    func testAModelWhoseSweepsAreDoneHasItsFinalRunsBeforeTheOthers() throws {
        let s = settings(extensions: 2)
        // GPT's best is interior (2e-3), nGPT's always the largest rate tried: its grid grows
        let loss: (PlannedRun) -> Double = { run in run.model == "gpt" ? 2 + pow(log(run.lr / 2e-3), 2) : 3 - run.lr * 100 }
        XCTAssertGreaterThan(try finishCurrent(s, loss), 0)
        let outcomes = TuningSweep.outcomes(s, runsDirectory: dir)
        XCTAssertTrue(outcomes.filter { $0.model == "gpt" }.allSatisfy(\.complete))
        XCTAssertFalse(outcomes.filter { $0.model == "ngpt" }.allSatisfy(\.complete))
        XCTAssertNil(TuningSweep.chosenRates(s, runsDirectory: dir), "not every rate is chosen yet")
        let ready = TuningSweep.readyRates(s, outcomes: outcomes)
        let finals = ComparisonPlanner.finalRuns(s, rates: ready)
        XCTAssertTrue(finals.filter { $0.model == "ngpt" }.allSatisfy { $0.lr.isNaN }, "nGPT's rates are not chosen")
        XCTAssertTrue(finals.filter { $0.model == "gpt" }.allSatisfy { $0.lr == 2e-3 })
        // once every sweep is done, the final runs started early are the plan's own
        while try finishCurrent(s, loss) > 0 {}
        let (rates, _) = try XCTUnwrap(TuningSweep.chosenRates(s, runsDirectory: dir))
        let all = Set(ComparisonPlanner.finalRuns(s, rates: rates).map(\.id))
        XCTAssertTrue(Set(finals.filter { !$0.lr.isNaN }.map(\.id)).isSubset(of: all))
    }

    func testSeveralTuningSeedsAreAveraged() throws {
        let s = settings(extensions: 0, tuningSeeds: 2)
        // seed 1000 prefers the largest rate, seed 1001 the smallest by more: the mean picks the smallest
        try finishCurrent(s) { run in run.seed == 1000 ? 3 - run.lr * 10 : 3 + run.lr * 100 }
        let (rates, outcomes) = try XCTUnwrap(TuningSweep.chosenRates(s, runsDirectory: dir))
        XCTAssertEqual(rates.rate("gpt", shape: nil, context: 64, steps: 100), 1e-3)
        XCTAssertEqual(outcomes[0].seedLosses[0].count, 2)
    }

    func testAShapeIsTunedAndNamedOnItsOwn() throws {
        let shapes = [ModelShape(width: 32, layers: 1, heads: 2), ModelShape(width: 64, layers: 2, heads: 4)]
        let s = settings(shapes: shapes)
        XCTAssertNoThrow(try s.validate())
        XCTAssertEqual(TuningSweep.cells(s).count, 8)
        let run = PlannedRun(model: "ngpt", context: 64, steps: 100, seed: 0, lr: 1e-3, shape: shapes[1])
        XCTAssertEqual(run.id, "d64-l2-h4-ngpt-t64-n100-lr1.00e-03-seed0")
        let c = run.configuration(s).model
        XCTAssertEqual([c.width, c.layers, c.heads, c.context], [64, 2, 4, 64])
        var ngpt = run.configuration(s).model
        XCTAssertEqual(ngpt.kind, .ngpt)
        let fresh = ModelConfig(kind: .ngpt, width: 64, heads: 4, layers: 2, context: 64)
        XCTAssertEqual([ngpt.alpha, ngpt.sqk, ngpt.suv, ngpt.sz], [fresh.alpha, fresh.sqk, fresh.suv, fresh.sz],
                       "nGPT's width-derived scaler defaults (s_scale 1/√d) follow the shape's width, not the base width 32")
        ngpt = ModelConfig(kind: .ngpt, width: 32, heads: 2, layers: 2, context: 64)
        ngpt.sqk.scale = 1
        XCTAssertEqual(ngpt.resized(width: 64, layers: 2, heads: 4).sqk.scale, 1, "a scale set on purpose is kept")
        XCTAssertEqual(run.configuration(s).training.batchSize, PlannedRun(model: "ngpt", context: 64, steps: 100, seed: 0, lr: 1e-3, shape: shapes[0]).configuration(s).training.batchSize,
                       "tokens per step are equal across shapes")
        XCTAssertEqual(shapes[1].nonEmbeddingParameters, 16 * 2 * 64 * 64)
        XCTAssertEqual(try ModelShape.parse("128x4", headWidth: 16), ModelShape(width: 128, layers: 4, heads: 8))
        XCTAssertEqual(try ModelShape.parse("128x4x2", headWidth: 16), ModelShape(width: 128, layers: 4, heads: 2))
        XCTAssertEqual(try ModelShape.parse("128x4", headWidth: 16, heads: 2), ModelShape(width: 128, layers: 4, heads: 2))
        for bad in ["128", "128x", "x4", "0x4", "128x4x2x1", "100x4"] {
            XCTAssertThrowsError(try ModelShape.parse(bad, headWidth: 16), bad)
        }
        XCTAssertThrowsError(try settings(shapes: [shapes[0], shapes[0]]).validate(), "a repeated shape is refused")
        // an old settings file (no shapes, one tuning budget) keeps its run names
        let old = PlannedRun(model: "ngpt", context: 64, steps: 100, seed: 0, lr: 1e-3)
        XCTAssertEqual(old.id, "ngpt-t64-n100-lr1.00e-03-seed0")
    }

    func testSettingsRoundTripAndOldFilesDecodeAsBefore() throws {
        let s = settings(shapes: [ModelShape(width: 32, layers: 1, heads: 2)], tuningSeeds: 2, rule: .nearest)
        let decoded = try JSONDecoder().decode(ComparisonSettings.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(decoded, s)
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(settings())) as! [String: Any]
        for key in ["shapes", "tuneBudgets", "tuningSeeds", "gridExtensions", "rateRule"] { json[key] = nil }
        json["tuning"] = "separate"
        let old = try JSONDecoder().decode(ComparisonSettings.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertNil(old.shapes)
        XCTAssertEqual(old.tuningSeeds, 1)
        XCTAssertEqual(old.gridExtensions, 0)
        XCTAssertEqual(old.tuning, .separate)
    }

    func testRepeatedOrZeroListsAreRefused() {
        var s = settings()
        s.lrGrid = [1e-3, 1e-3]
        XCTAssertThrowsError(try s.validate(), "a repeated rate would schedule the same run twice")
        s = settings()
        s.extrapolation = [0, 4]
        XCTAssertThrowsError(try s.validate(), "a zero multiple is refused, not divided by")
        s.extrapolation = [2, 2]
        XCTAssertThrowsError(try s.validate())
    }
}
