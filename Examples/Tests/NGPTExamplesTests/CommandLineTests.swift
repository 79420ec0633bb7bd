import Foundation
import NGPT
import XCTest

/// `ngpt-examples`: the library's command line with the examples registered. A QK-norm GPT
/// trains, samples, resumes, joins a comparison of three models and an ablation with child
/// processes and with `--plan` / `--collect`, like the library's own models.
final class CommandLineTests: XCTestCase {
    var dir: URL!
    var data: URL!
    var binary: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ngpt-examples-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = dir.appendingPathComponent("prose.txt")
        try Data(String(repeating: prose + "\n", count: 6).utf8).write(to: text)
        data = dir.appendingPathComponent("data")
        _ = try DatasetPreparation.prepareBytes(files: [text], outputDirectory: data, split: .tail)
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        binary = [bundle.deletingLastPathComponent(), bundle.deletingLastPathComponent().deletingLastPathComponent()]
            .map { $0.appendingPathComponent("ngpt-examples") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        if binary == nil { throw XCTSkip("ngpt-examples is not beside \(bundle.path); run `swift build` first") }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    let shape = ["--dim", "16", "--heads", "2", "--layers", "1", "--context", "16"]

    func testTrainSampleAndResumeAQKNormGPT() throws {
        let runDir = dir.appendingPathComponent("qk")
        let train = try run(["train", "--data", data.path, "--out", runDir.path, "--model", "qknorm-gpt", "--steps", "6", "--batch", "2",
                             "--eval-batches", "1", "--checkpoint-every", "3"] + shape)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("qknorm-gpt: "), train.stderr)
        let config = try RunConfiguration.read(from: runDir.appendingPathComponent("config.json"))
        XCTAssertEqual(config.architecture, "qknorm-gpt")
        let file = try SafeTensorsFile(contentsOf: runDir.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(file.metadata["model"], "qknorm-gpt")
        XCTAssertNotNil(file.entries["transformer.h.0.qk_gain"])
        let sample = try run(["sample", runDir.path, "--prompt", "The village", "--tokens", "12"])
        XCTAssertEqual(sample.status, 0, sample.stderr)
        XCTAssertTrue(sample.stdout.hasPrefix("The village"), sample.stdout)
        let inspect = try run(["inspect", runDir.path, "--out", dir.appendingPathComponent("inspect").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        // a run file naming the architecture trains the same model, byte for byte
        let again = dir.appendingPathComponent("again")
        let fromConfig = try run(["train", "--config", runDir.appendingPathComponent("config.json").path, "--out", again.path])
        XCTAssertEqual(fromConfig.status, 0, fromConfig.stderr)
        XCTAssertEqual(try Data(contentsOf: again.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: runDir.appendingPathComponent("model.safetensors")))
        // a run killed after a checkpoint resumes as the same architecture, bit for bit
        var long = config
        long.training.steps = 200
        long.training.checkpointEvery = 10
        let longFile = dir.appendingPathComponent("long.json")
        try JSONEncoder().encode(long).write(to: longFile)
        let whole = dir.appendingPathComponent("whole"), killed = dir.appendingPathComponent("killed")
        XCTAssertEqual(try run(["train", "--config", longFile.path, "--out", whole.path]).status, 0)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["train", "--config", longFile.path, "--out", killed.path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        let first = killed.appendingPathComponent("checkpoints/step-000010")
        while process.isRunning && !FileManager.default.fileExists(atPath: first.path) { usleep(1_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed.appendingPathComponent("checkpoints/step-000200").path), "killed before its end")
        let resumed = try run(["train", "--resume", killed.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: killed.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: whole.appendingPathComponent("model.safetensors")), "resumed bit for bit")
    }

    func testAblateWithARegisteredArchitecture() throws {
        let listed = try run(["ablate", "--list-variants"])
        XCTAssertTrue(listed.stdout.contains("qknorm-gpt") && listed.stdout.contains("ngpt-split-scalers"), listed.stdout)
        let out = dir.appendingPathComponent("ablate")
        let args = ["ablate", "--data", data.path, "--out", out.path, "--batch", "2", "--budget", "6", "--seeds", "2", "--eval-batches", "1",
                    "--eval-points", "1", "--variants", "ngpt,gpt,qknorm-gpt", "--lr-grid", "1e-3,4e-3", "--grid-extensions", "0",
                    "--lr-gpt", "2e-3", "--lr-ngpt", "1e-2"] + shape
        let r = try run(args + ["--jobs", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("qknorm-gpt: "), r.stdout)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json"))) as! [String: Any]
        let rows = results["rows"] as! [[String: Any]]
        let qk = try XCTUnwrap(rows.first { $0["name"] as? String == "qknorm-gpt" })
        XCTAssertEqual(qk["finished"] as? Int, 2)
        XCTAssertTrue((qk["rateSource"] as? String ?? "").hasPrefix("tuned at 6 steps"), "\(qk)")
        XCTAssertEqual(((qk["configuration"] as? [String: Any])?["architecture"]) as? String, "qknorm-gpt")
        // the same study by --plan, running its lines, and --collect
        let planned = dir.appendingPathComponent("planned")
        var planArgs = args
        planArgs[planArgs.firstIndex(of: out.path)!] = planned.path
        for _ in 0..<3 {
            let plan = try run(planArgs + ["--plan"])
            XCTAssertEqual(plan.status, 0, plan.stderr)
            if try runPlanLines(planned) == 0 { break }
        }
        let collected = try run(["ablate", "--collect", "--out", planned.path])
        XCTAssertEqual(collected.status, 0, collected.stderr)
        let a = try Data(contentsOf: out.appendingPathComponent("report.md")), b = try Data(contentsOf: planned.appendingPathComponent("report.md"))
        XCTAssertEqual(String(decoding: a, as: UTF8.self).replacingOccurrences(of: out.path, with: "X"),
                       String(decoding: b, as: UTF8.self).replacingOccurrences(of: planned.path, with: "X"), "the same numbers either way")
    }

    /// Runs every line of `PLAN/plan/commands.txt` with the shell; returns how many there were.
    func runPlanLines(_ study: URL) throws -> Int {
        let lines = try String(contentsOf: study.appendingPathComponent("plan/commands.txt"), encoding: .utf8).split(separator: "\n")
        for line in lines {
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = ["-c", String(line)]
            try shell.run()
            shell.waitUntilExit()
            XCTAssertEqual(shell.terminationStatus, 0, String(line))
        }
        return lines.count
    }

    /// GPT, QK-norm GPT and nGPT in one comparison: every model tuned on its own, results and
    /// report keyed by model, the same numbers with child processes and with --plan/--collect.
    func testCompareThreeModels() throws {
        let out = dir.appendingPathComponent("compare")
        let args = ["compare", "--data", data.path, "--out", out.path, "--models", "gpt,qknorm-gpt,ngpt", "--batch", "2", "--budgets", "4,8",
                    "--gpt-budgets", "16", "--seeds", "2", "--eval-batches", "1", "--eval-points", "1", "--extrapolate", "none",
                    "--lr-grid", "2e-3,8e-3", "--grid-extensions", "1"] + shape
        let r = try run(args + ["--jobs", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Context 16, QK-norm GPT against GPT: ") && r.stdout.contains("Context 16, nGPT against GPT: "), r.stdout)
        let runs = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("runs").path)
        for model in ["gpt", "qknorm-gpt", "ngpt"] {
            XCTAssertEqual(runs.filter { $0.hasPrefix(model + "-t16-n8-") }.count, 2, "\(model): both seeds at 8 steps")
            XCTAssertTrue(runs.contains { $0.hasPrefix("tune-\(model)-") }, "\(model) is tuned on its own")
        }
        XCTAssertEqual(runs.filter { $0.contains("-n16-") && !$0.hasPrefix("tune-") }.map { String($0.prefix(4)) }, ["gpt-", "gpt-"], "only the baseline trains at its extra budget")
        let qkRun = try XCTUnwrap(runs.first { $0.hasPrefix("qknorm-gpt-t16-n8-") })
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("runs/\(qkRun)/config.json"))) as! [String: Any]
        XCTAssertEqual(config["architecture"] as? String, "qknorm-gpt")
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json"))) as! [String: Any]
        XCTAssertEqual((results["rates"] as? [String: Double]).map { Set($0.keys) }, ["gpt", "qknorm-gpt", "ngpt"])
        let budget = try XCTUnwrap(((results["contexts"] as? [[String: Any]])?.first?["budgets"] as? [[String: Any]])?.last)
        let models = try XCTUnwrap(budget["models"] as? [[String: Any]])
        XCTAssertEqual(models.compactMap { $0["model"] as? String }, ["gpt", "qknorm-gpt", "ngpt"])
        XCTAssertNil(models[0]["lossGap"], "the baseline is not measured against itself")
        for m in models.dropFirst() { XCTAssertNotNil(m["lossGap"], "\(m["model"] ?? "") has its loss gap against GPT") }
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.hasPrefix("# GPT vs QK-norm GPT vs nGPT"), String(md.prefix(80)))
        XCTAssertTrue(md.contains("GPT − QK-norm GPT at equal tokens") && md.contains("GPT − nGPT at equal tokens"), md)

        // the same comparison by --plan, running its lines, and --collect
        let planned = dir.appendingPathComponent("planned")
        var planArgs = args
        planArgs[planArgs.firstIndex(of: out.path)!] = planned.path
        for _ in 0..<6 {
            let plan = try run(planArgs + ["--plan", "--no-estimate"])
            XCTAssertEqual(plan.status, 0, plan.stderr)
            if try runPlanLines(planned) == 0 { break }
        }
        let collected = try run(["compare", "--collect", "--out", planned.path])
        XCTAssertEqual(collected.status, 0, collected.stderr)
        func numbers(_ d: URL) throws -> String {
            // the report without the seconds a run took
            let md = try String(contentsOf: d.appendingPathComponent("report.md"), encoding: .utf8).replacingOccurrences(of: d.path, with: "X")
            return md.split(separator: "\n").filter { !$0.contains("s/run") && !$0.hasPrefix("| ") }.joined(separator: "\n")
        }
        XCTAssertEqual(try numbers(out), try numbers(planned), "the same answer either way")
        let a = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("results.json"))) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: Data(contentsOf: planned.appendingPathComponent("results.json"))) as! [String: Any]
        XCTAssertEqual(a["rates"] as? [String: Double], b["rates"] as? [String: Double])
        func losses(_ r: [String: Any]) -> [String] {
            ((r["contexts"] as? [[String: Any]])?.first?["budgets"] as? [[String: Any]] ?? []).flatMap { b in
                (b["models"] as? [[String: Any]] ?? []).map { "\($0["model"] ?? "") \(($0["loss"] as? [String: Any])?["mean"] ?? "")" }
            }
        }
        XCTAssertEqual(losses(a), losses(b))
        XCTAssertEqual(losses(a).count, 6)

    }

    /// A model with architecture options: planned runs carry them, and options the architecture
    /// cannot read are refused naming the model.
    func testACompareModelTakesItsOptions() throws {
        let out = dir.appendingPathComponent("options")
        let alpha = #"{"mode":"scalar","initValue":0.05,"scale":0.25,"absolute":true}"#
        let args = ["compare", "--data", data.path, "--out", out.path, "--models", "ngpt,split=ngpt-split-scalers", "--budgets", "4",
                    "--seeds", "1", "--batch", "2", "--eval-batches", "1", "--extrapolate", "none", "--lr-grid", "2e-3,8e-3"] + shape
        let r = try run(args + ["--model-options", "split={\"alphaA\":\(alpha)}", "--plan", "--no-estimate"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let runs = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("runs").path)
        let split = try XCTUnwrap(runs.first { $0.hasPrefix("tune-split-") })
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("runs/\(split)/run.json"))) as! [String: Any]
        XCTAssertEqual(config["architecture"] as? String, "ngpt-split-scalers")
        XCTAssertTrue((config["architectureOptions"] as? String ?? "").contains("\"alphaA\""), "\(config)")
        let bad = try run(args.map { $0 == out.path ? out.path + "-bad" : $0 } + ["--model-options", "split={\"alphaA\":3}"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("model split: the options of architecture ngpt-split-scalers are unreadable"), bad.stderr)
    }
}
