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
        XCTAssertEqual(tuning.count, 6)
        XCTAssertTrue(tuning.allSatisfy { $0.steps == 200 && $0.seed == 0 && $0.context == 64 })
        XCTAssertEqual(Set(tuning.map(\.lr)), [1e-3, 4e-3, 1.6e-2])
        XCTAssertEqual(ComparisonPlanner.tuningRuns(settings(lrGPT: 2e-3)).map(\.kind), [.ngpt, .ngpt, .ngpt],
                       "a given rate skips that model's tuning")
    }

    func testFinalRunsAndSchedules() throws {
        let s = settings()
        let final = ComparisonPlanner.finalRuns(s, lrGPT: 4e-3, lrNGPT: 1.6e-2)
        XCTAssertEqual(final.count, 2 * 3 * 2 * 2, "contexts × budgets × seeds × models")
        XCTAssertEqual(Set(final.map(\.id)).count, final.count, "every run has its own directory")
        // the final run at the tuning point is the tuning run itself
        let tuneIDs = Set(ComparisonPlanner.tuningRuns(s).map(\.id))
        XCTAssertEqual(final.filter { tuneIDs.contains($0.id) }.count, 2)
        // each run has its own schedule ending at its budget; GPT's warm-up scales with it
        let run = final.first { $0.kind == .gpt && $0.steps == 400 && $0.context == 128 }!
        let c = run.configuration(s)
        XCTAssertEqual(c.training.steps, 400)
        XCTAssertEqual(c.model.context, 128)
        XCTAssertEqual(c.training.warmup, TrainingOptions(recipe: .gpt, steps: 400).warmup, "the recipe's warm-up (a fraction of the steps) applies")
        XCTAssertEqual(c.training.learningRate, 4e-3)
        XCTAssertEqual(TrainingOptions(recipe: .gpt, steps: 450).warmup, 30)
        XCTAssertEqual(TrainingOptions(recipe: .gpt, steps: 1500).warmup, 100)
        XCTAssertEqual(TrainingOptions(recipe: .ngpt, steps: 1500).warmup, 0)
    }

    func testAblationsReachTheNGPTRuns() {
        var s = settings()
        s.model.qkNormalization = false
        s.model.sz.mode = .scalar
        let n = PlannedRun(kind: .ngpt, context: 64, steps: 10, seed: 0, lr: 1e-3).configuration(s).model
        XCTAssertFalse(n.qkNormalization)
        XCTAssertEqual(n.sz.mode, .scalar)
        // GPT has no scalers: its runs are plain GPT runs of the same shape
        let g = PlannedRun(kind: .gpt, context: 64, steps: 10, seed: 0, lr: 1e-3).configuration(s).model
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
         "--batch", "2", "--eval-batches", "2", "--eval-points", "3", "--jobs", "2"]
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
        XCTAssertEqual(res.tuning.count, 4)
        XCTAssertTrue([3e-3, 1e-2].contains(res.lrGPT) && [3e-3, 1e-2].contains(res.lrNGPT))
        XCTAssertEqual(res.runs.count, 8)
        XCTAssertTrue(res.runs.allSatisfy { $0.status == .finished && $0.curve.count >= 3 && $0.seconds != nil })
        XCTAssertTrue(res.runs.allSatisfy { $0.contexts.map(\.context) == [16, 32, 64] }, "final models evaluated at 1×, 2×, 4× context")
        XCTAssertTrue(res.missingRuns.isEmpty)
        XCTAssertEqual(Set(res.lrAtGridEdge), [.gpt, .ngpt], "with a two-rate grid every tuned rate is at an edge")
        XCTAssertTrue(r.stdout.contains("edge of the grid"), "the answer warns about rates at the grid's edge")
        let c = try XCTUnwrap(res.contexts.first)
        XCTAssertEqual(c.budgets.map(\.steps), [6, 12])
        for b in c.budgets {
            XCTAssertEqual(b.gpt?.values.count, 2)
            XCTAssertEqual(b.ngpt?.values.count, 2)
            XCTAssertNotNil(b.speedup)
            XCTAssertEqual(b.speedupBySeed.count, 2)
            XCTAssertNotNil(b.wallClockSpeedup)
        }
        XCTAssertEqual(c.extrapolation.count, 4)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report/results.json"))) as! [String: Any]
        for key in ["settings", "tuning", "lrGPT", "lrNGPT", "contexts", "runs"] { XCTAssertNotNil(json[key], "results.json has \(key)") }
        let html = try String(contentsOf: dir.appendingPathComponent("report/report.html"), encoding: .utf8)
        for label in ["training tokens", "validation loss (nats/token)", "peak learning rate", "evaluation context (tokens)"] {
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
        XCTAssertEqual(damaged.status, 0, damaged.stderr)
        XCTAssertTrue(damaged.stderr.contains("\(run) failed") && damaged.stderr.contains(metrics.path), damaged.stderr)
    }

    func testBadComparisonsFailEarly() throws {
        let short = try runProcess(binary, args("bad") + ["--contexts", "30000"])
        XCTAssertNotEqual(short.status, 0)
        XCTAssertTrue(short.stderr.contains("needs at least"), short.stderr)
        let noRates = try runProcess(binary, ["compare", "--data", data.path, "--out", dir.appendingPathComponent("bad2").path, "--lr-grid", "0"])
        XCTAssertNotEqual(noRates.status, 0)
        XCTAssertEqual(noRates.stderr.split(separator: "\n").count, 1, noRates.stderr)
    }
}
