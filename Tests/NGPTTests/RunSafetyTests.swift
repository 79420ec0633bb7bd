import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// `ngpt` as a process against kills, a second writer, options a resumed run cannot honour,
/// and sizes no machine can serve.
final class RunSafetyTests: CommandTestCase {
    let tiny = ["--dim", "16", "--heads", "2", "--layers", "1", "--context", "16", "--batch", "2", "--eval-batches", "1"]

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func train(_ out: String, _ extra: [String]) -> [String] {
        ["train", "--data", data.path, "--out", path(out)] + tiny + extra
    }

    /// Starts `ngpt` with `arguments` (stdout and stderr discarded).
    func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits until `run`'s lock file names a process; returns it.
    func waitForLockOwner(_ run: String, timeout: TimeInterval = 60) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path(run) + "/.lock", encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            usleep(5_000)
        }
        throw TestSetupError(description: "\(run) was never locked")
    }

    /// `status ≠ 0`, one line of stderr containing every one of `expected`.
    func assertRefused(_ r: (status: Int32, stdout: String, stderr: String), _ expected: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "must fail with status 1: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
        for e in expected { XCTAssertTrue(r.stderr.contains(e), "message should say \"\(e)\", got: \(r.stderr)", file: file, line: line) }
    }

    func trainRecords(_ run: String) throws -> [MetricsRecord] {
        try MetricsLog.read(URL(fileURLWithPath: path(run) + "/metrics.jsonl")).filter { $0.kind == "train" }
    }

    /// SIGKILL at many random moments (seeded) of a run that checkpoints every step — during
    /// start-up, steps, evaluations, checkpoint writes, commits and resumes — each time resumed
    /// with `--resume` (or started again when no checkpoint was committed yet). The run ends
    /// with the same bytes as an uninterrupted one.
    func testKilledAtRandomMomentsResumesBitIdentical() throws {
        let steps = 80
        let args = ["--model", "ngpt", "--steps", "\(steps)", "--checkpoint-every", "1", "--eval-every", "10",
                    "--extrapolate", "2", "--seed", "3"]
        var begin = Date()
        let whole = try runProcess(binary, train("whole", args))
        let wholeSeconds = Date().timeIntervalSince(begin)
        XCTAssertEqual(whole.status, 0, whole.stderr)
        // start-up (resume included) and one step, to spread the kills over both
        begin = Date()
        let again = try runProcess(binary, ["train", "--resume", path("whole")])
        let startSeconds = Date().timeIntervalSince(begin)
        XCTAssertTrue(again.status == 0 && again.stderr.contains("already finished"), again.stderr)
        let stepSeconds = max(0.001, (wholeSeconds - startSeconds) / Double(steps))
        let maxDelay = startSeconds + 4 * stepSeconds

        var rng = SeededGenerator(seed: 14)
        var kills = 0, attempts = 0, finished = false, committed = 0
        let run = dir.appendingPathComponent("killed")
        while kills < 30 && attempts < 200 && !finished {
            attempts += 1
            let resume = RunDirectory(run).hasCheckpoint
            let p = try start(resume ? ["train", "--resume", run.path] : train("killed", args))
            usleep(useconds_t(rng.nextUniform() * maxDelay * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let newest = RunDirectory(run).latestCheckpoint()?.step ?? 0
            XCTAssertGreaterThanOrEqual(newest, committed, "kill \(kills + 1) lost the committed checkpoint of step \(committed)")
            committed = newest
            if p.terminationReason == .uncaughtSignal {
                kills += 1
            } else {
                XCTAssertEqual(p.terminationStatus, 0, "attempt \(attempts) failed instead of being killed")
                finished = true
            }
        }
        XCTAssertGreaterThanOrEqual(kills, 20, "\(kills) kills in \(attempts) attempts (whole run \(wholeSeconds) s)")
        if !finished {
            let resume = RunDirectory(run).hasCheckpoint
            let last = try runProcess(binary, resume ? ["train", "--resume", run.path] : train("killed", args))
            XCTAssertEqual(last.status, 0, last.stderr)
        }
        print(String(format: "kill test: %d kills in %d attempts, %d of %d steps done under kills; uninterrupted run %.2f s, start-up %.2f s, step %.3f s",
                     kills, attempts, committed, steps, wholeSeconds, startSeconds, stepSeconds))

        let a = try Data(contentsOf: URL(fileURLWithPath: path("whole") + "/model.safetensors"))
        let b = try Data(contentsOf: run.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(a, b, "model.safetensors must be byte-identical to the uninterrupted run's")
        let stepName = "checkpoints/" + RunDirectory.stepName(steps)
        XCTAssertEqual(try Data(contentsOf: run.appendingPathComponent(stepName + "/model.safetensors")), a)
        let oa = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path("whole") + "/" + stepName + "/optimizer.safetensors"))
        let ob = try SafeTensorsFile(contentsOf: run.appendingPathComponent(stepName + "/optimizer.safetensors"))
        XCTAssertEqual(oa.names, ob.names)
        for name in oa.names { XCTAssertEqual(try oa.tensor(name), try ob.tensor(name), name) }
        XCTAssertEqual(oa.metadata["sampler"], ob.metadata["sampler"])

        let wholeRecords = try trainRecords("whole"), killedRecords = try trainRecords("killed")
        XCTAssertEqual(killedRecords.map(\.step), Array(1...steps), "every step logged once: metrics cut back to the checkpoint on resume")
        XCTAssertEqual(killedRecords.map(\.trainLoss), wholeRecords.map(\.trainLoss))
        let evals = { (r: String) in try MetricsLog.read(URL(fileURLWithPath: self.path(r) + "/metrics.jsonl")).filter { $0.kind == "eval" }.map { "\($0.step) \($0.context ?? 0) \($0.valLoss!)" } }
        XCTAssertEqual(try evals("killed"), try evals("whole"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path), [RunDirectory.stepName(steps)])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: run.path)),
                       ["checkpoints", "config.json", "metrics.jsonl", "model.safetensors", "status.json", ".lock"], "no temporaries left")
        XCTAssertEqual(try RunStatus.read(run)?.state, .finished)
    }

    /// While one process trains a run, a second `train --resume`, `train --out` or `compare` on
    /// that directory is refused with the holder's PID; once the holder dies the lock is gone.
    func testSecondWriterIsRefused() throws {
        let holder = try start(train("run", ["--steps", "1000000", "--eval-every", "0", "--checkpoint-every", "20"]))
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() } }
        let pid = try waitForLockOwner("run")
        XCTAssertEqual(pid, holder.processIdentifier)
        let deadline = Date().addingTimeInterval(60)
        while !RunDirectory(dir.appendingPathComponent("run")).hasCheckpoint && Date() < deadline { usleep(10_000) }

        assertRefused(try runProcess(binary, ["train", "--resume", path("run")]), ["in use by process \(pid)", path("run")])
        assertRefused(try runProcess(binary, train("run", ["--steps", "5", "--resume-existing"])), ["in use by process \(pid)"])
        assertRefused(try runProcess(binary, train("run", ["--steps", "5"])), ["in use by process \(pid)"])
        assertRefused(try runProcess(binary, ["compare", "--data", data.path, "--out", path("run"), "--budgets", "2", "--seeds", "1",
                                              "--lr-gpt", "1e-3", "--lr-ngpt", "1e-3", "--dim", "16", "--heads", "2", "--layers", "1",
                                              "--context", "16"]),
                      ["in use by process \(pid)"])
        XCTAssertTrue(holder.isRunning)

        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let lock = try RunLock.acquire(dir.appendingPathComponent("run"))
        XCTAssertNotNil(lock, "a killed holder leaves no lock")
    }

    /// Two fresh runs into the same --out at once: one trains, the other is refused, and the
    /// directory holds the winner's run only.
    func testTwoFreshRunsIntoOneDirectory() throws {
        for trial in 0..<3 {
            let out = "race\(trial)"
            let pa = Process(), pb = Process()
            let ea = Pipe(), eb = Pipe()
            for (p, e, seed) in [(pa, ea, "1"), (pb, eb, "2")] {
                p.executableURL = binary
                p.arguments = train(out, ["--steps", "40", "--eval-every", "20", "--checkpoint-every", "5", "--seed", seed])
                p.standardError = e
                p.standardOutput = FileHandle.nullDevice
            }
            try pa.run()
            try pb.run()
            let errA = String(decoding: ea.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errB = String(decoding: eb.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            pa.waitUntilExit()
            pb.waitUntilExit()
            XCTAssertEqual([pa.terminationStatus, pb.terminationStatus].sorted(), [0, 1], "exactly one wins: \(errA) | \(errB)")
            let (winnerSeed, loserError) = pa.terminationStatus == 0 ? (UInt64(1), errB) : (UInt64(2), errA)
            XCTAssertEqual(loserError.split(separator: "\n").count, 1, loserError)
            XCTAssertTrue(loserError.contains("in use by process") || loserError.contains("already holds a run"), loserError)
            let run = dir.appendingPathComponent(out)
            XCTAssertEqual(try Trainer.readConfiguration(run).training.seed, winnerSeed)
            XCTAssertEqual(try trainRecords(out).map(\.step), Array(1...40))
            let resumed = try Trainer(resuming: run)
            XCTAssertEqual(resumed.step, 40)
            XCTAssertEqual(resumed.run.training.seed, winnerSeed)
        }
    }

    /// `--resume` with options that would change the run is refused, naming each; the
    /// checkpoint interval may change and is reported; options equal to the run's are fine.
    func testResumeWithOptionsThatChangeTheRun() throws {
        let ok = try runProcess(binary, train("run", ["--steps", "6", "--eval-every", "0", "--checkpoint-every", "2"]))
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let run = dir.appendingPathComponent("run")
        let checkpoints = run.appendingPathComponent("checkpoints")
        let r = try runProcess(binary, ["train", "--resume", run.path, "--steps", "10", "--lr", "0.5", "--batch", "4"])
        assertRefused(r, ["--steps 10 (the run has 6)", "--lr 0.5 (the run has", "--batch 4 (the run has 2)", "drop those options"])
        assertRefused(try runProcess(binary, ["train", "--resume", run.path, "--extrapolate", "2"]), ["--extrapolate 2"])
        assertRefused(try runProcess(binary, ["train", "--resume", run.path, "--init", path("x.safetensors")]), ["--init"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path), ["step-000006"], "nothing changed")

        let same = try runProcess(binary, ["train", "--resume", run.path, "--steps", "6", "--batch", "2"])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(same.stderr.contains("already finished"), same.stderr)

        let interval = try runProcess(binary, ["train", "--resume", run.path, "--checkpoint-every", "3"])
        XCTAssertEqual(interval.status, 0, interval.stderr)
        XCTAssertTrue(interval.stderr.contains("--checkpoint-every is now 3") && interval.stderr.contains("was 2"), interval.stderr)
        XCTAssertEqual(try Trainer.readConfiguration(run).training.checkpointEvery, 3)
    }

    func testEmptyPathsAndCountsThatMeanNothing() throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cwd"), withIntermediateDirectories: true)
        let cases: [([String], [String])] = [
            (["train", "--data", data.path, "--out", ""] + tiny, ["--out is empty"]),
            (["train", "--data", "", "--out", path("run")] + tiny, ["--data is empty"]),
            (["train", "--resume", ""], ["--resume is empty"]),
            (["prepare", path("data/train.bin"), "--out", ""], ["--out is empty"]),
            (["compare", "--data", data.path, "--out", ""], ["--out is empty"]),
            (["inspect", path("nothing"), "--out", ""], ["--out is empty"]),
            (["sample", path("nothing"), "--top-k", "0"], ["--top-k must be at least 1"]),
            (["compare", "--data", data.path, "--out", path("report"), "--jobs", "0"], ["--jobs must be between 1 and"]),
            (["compare", "--data", data.path, "--out", path("report"), "--threads-per-run", "1000"], ["--threads-per-run 1000 is more than this machine can serve"]),
            (train("run", ["--threads", "100"]), ["--threads 100 is more than this machine can serve"]),
            (train("run", ["--threads", "0"]), ["--threads must be at least 1"]),
            (["sample", path("nothing"), "--threads", "100"], ["--threads 100"]),
            (["inspect", path("nothing"), "--out", path("i"), "--threads", "100"], ["--threads 100"]),
            (["bench", "--threads", "100"], ["--threads 100"]),
        ]
        for (arguments, expected) in cases {
            let p = Process()
            p.executableURL = binary
            p.arguments = arguments
            p.currentDirectoryURL = dir.appendingPathComponent("cwd")
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            assertRefused((p.terminationStatus, "", text), expected)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("cwd")), [], "nothing written to the current directory")
        for name in ["run", "report", "i"] { XCTAssertFalse(FileManager.default.fileExists(atPath: path(name)), name) }
    }

    /// A start, a resume and a refused start remove only the temporaries ngpt's own writes
    /// leave (by their exact names and contents), never a file of the user's in the run
    /// directory, and a refused start removes nothing at all.
    func testForeignFilesSurviveStartResumeAndRefusal() throws {
        let fm = FileManager.default
        let run = dir.appendingPathComponent("run")
        let foreign = ["checkpoints/best/model.pt", "checkpoints/ckpt.pt", ".notes.tmp", ".backup.link", ".dat.nosync-mine",
                       ".model.safetensors.mine.tmp", "checkpoints/step-000009.tmp/notes.txt", "checkpoints/notes.tmp"]
        for name in foreign {
            let url = run.appendingPathComponent(name)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("the user's \(name)".utf8).write(to: url)
        }
        func assertForeignSurvive(_ when: String, file: StaticString = #filePath, line: UInt = #line) {
            for name in foreign {
                let text = try? String(contentsOf: run.appendingPathComponent(name), encoding: .utf8)
                XCTAssertEqual(text, "the user's \(name)", "\(name) must survive \(when)", file: file, line: line)
            }
        }
        // what a killed write of ngpt's own leaves behind
        let own = ["checkpoints/step-000003.tmp/optimizer.safetensors", "checkpoints/step-000003.tmp/.ngpt-partial-checkpoint",
                   ".model.safetensors.4242.17.tmp", ".dat.nosync1A2B.aB3xYz", ".model.safetensors.link"]
        func plantOwn() throws {
            for name in own {
                let url = run.appendingPathComponent(name)
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data("half-written".utf8).write(to: url)
            }
        }

        let started = try runProcess(binary, train("run", ["--steps", "4", "--checkpoint-every", "2"]))
        XCTAssertEqual(started.status, 0, started.stderr)
        assertForeignSurvive("a start")

        try plantOwn()
        assertRefused(try runProcess(binary, train("run", ["--steps", "4"])), ["already holds a run"])
        assertForeignSurvive("a refused start")
        for name in own { XCTAssertTrue(fm.fileExists(atPath: run.appendingPathComponent(name).path), "a refused start removes nothing: \(name)") }

        let resumed = try runProcess(binary, ["train", "--resume", run.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        assertForeignSurvive("a resume")
        for name in own { XCTAssertFalse(fm.fileExists(atPath: run.appendingPathComponent(name).path), "ngpt's own leftover \(name) is removed on resume") }
        XCTAssertFalse(fm.fileExists(atPath: run.appendingPathComponent("checkpoints/step-000003.tmp").path))
        XCTAssertEqual(RunDirectory(run).latestCheckpoint()?.step, 4)
        XCTAssertEqual(try RunStatus.read(run)?.state, .finished)
    }

    /// A run directory whose `checkpoints` is a file (or whose model file is a directory) is
    /// refused before the first step, not after training with nothing saved.
    func testCheckpointsThatIsAFileIsRefusedBeforeTraining() throws {
        let fm = FileManager.default
        for (name, isDirectory) in [("checkpoints", false), ("model.safetensors", true)] {
            let run = dir.appendingPathComponent("run-\(name)")
            try fm.createDirectory(at: run, withIntermediateDirectories: true)
            let url = run.appendingPathComponent(name)
            if isDirectory {
                try fm.createDirectory(at: url, withIntermediateDirectories: true)
            } else {
                try Data("mine".utf8).write(to: url)
            }
            let begin = Date()
            assertRefused(try runProcess(binary, train("run-\(name)", ["--steps", "200", "--eval-every", "0"])),
                          [url.path, isDirectory ? "is a directory" : "is not a directory", "move it"])
            XCTAssertLessThan(Date().timeIntervalSince(begin), 5, "refused before training")
            XCTAssertFalse(fm.fileExists(atPath: run.appendingPathComponent("metrics.jsonl").path), "nothing trained")
            if !isDirectory { XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "mine") }
        }
        // the library refuses it too, before the first step
        let data = try TokenDataset(directory: self.data)
        let model = ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16)
        let trainer = try Trainer(run: RunConfiguration(model: model, training: TrainingOptions(recipe: model.architecture().recipe, steps: 3, batchSize: 2),
                                                        data: self.data.path), dataset: data)
        XCTAssertThrowsError(try trainer.train(directory: dir.appendingPathComponent("run-checkpoints"))) {
            XCTAssertTrue("\($0)".contains("is not a directory"), "\($0)")
        }
        XCTAssertEqual(trainer.step, 0)
    }

    /// A run file (`train --config`) whose sizes or optimiser settings cannot work is refused
    /// in one line before anything is allocated: a parameter count no machine holds before the
    /// memory estimate builds a layout of 10⁸ layers, validation windows beyond memory, β₁ and β₂
    /// outside [0, 1), ε that is not a positive float32, rates float32 cannot hold.
    func testRunFilesThatCannotWorkAreRefusedBeforeAllocating() throws {
        let model = ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16)
        var options = TrainingOptions(recipe: .gpt, steps: 3, batchSize: 2)
        options.evalBatches = 1
        let valid = try JSONSerialization.jsonObject(with: JSONEncoder().encode(RunConfiguration(model: model, training: options, data: data.path))) as! [String: Any]
        func runFile(_ name: String, model edits: [String: Any] = [:], training: [String: Any] = [:]) throws -> String {
            var json = valid
            json["model"] = (json["model"] as! [String: Any]).merging(edits) { $1 }
            json["training"] = (json["training"] as! [String: Any]).merging(training) { $1 }
            let url = dir.appendingPathComponent(name + ".json")
            try JSONSerialization.data(withJSONObject: json).write(to: url)
            return url.path
        }
        let cases: [(String, [String: Any], [String: Any], [String])] = [
            ("layers-1e5", ["layers": 100_000, "width": 64], [:], ["parameters", "available"]),
            ("layers-1e8", ["layers": 100_000_000], [:], ["parameters", "available"]),
            ("eval-batches", [:], ["evalBatches": 1_000_000_000], ["this run needs", "available"]),
            ("beta1-one", [:], ["beta1": 1], ["beta1", "[0, 1)"]),
            ("beta1-negative", [:], ["beta1": -0.5], ["beta1", "[0, 1)"]),
            ("beta2-large", [:], ["beta2": 1.5], ["beta2", "[0, 1)"]),
            ("epsilon-zero", [:], ["epsilon": 0], ["epsilon"]),
            ("epsilon-below-float", [:], ["epsilon": 1e-50], ["epsilon", "float"]),
            ("epsilon-above-float", [:], ["epsilon": 1e39], ["epsilon", "float"]),
            ("lr-above-float", [:], ["learningRate": 1e39], ["--lr", "float"]),
            ("lr-below-float", [:], ["learningRate": 1e-50, "minLR": 0], ["--lr", "float"]),
        ]
        for (name, modelEdits, trainingEdits, expected) in cases {
            let file = try runFile(name, model: modelEdits, training: trainingEdits)
            let begin = Date()
            let r = try runProcess(binary, ["train", "--config", file, "--out", path("run-" + name)])
            assertRefused(r, expected)
            XCTAssertLessThan(Date().timeIntervalSince(begin), 5, "\(name): refused at once")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("run-" + name)), "\(name): nothing written")
        }
        // the library's own check, for callers that build options in Swift
        for (field, value) in [(\TrainingOptions.beta1, 1.0), (\.beta2, -1e-9), (\.epsilon, .nan), (\.epsilon, 1e-46), (\.learningRate, 3.5e38)] {
            var o = options
            o[keyPath: field] = value
            XCTAssertThrowsError(try o.validate(), "\(field) = \(value)")
        }
        XCTAssertNoThrow(try options.validate())
    }

    /// An address-space limit (`ulimit -v`) counts as the memory available: a run that does
    /// not fit under it is refused with the figure, not killed by the allocator.
    func testAddressSpaceLimitCountsAsAvailableMemory() throws {
        let command = ([binary.path] + train("run", ["--dim", "1024", "--layers", "8", "--steps", "1"])).map { "'\($0)'" }.joined(separator: " ")
        let r = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "ulimit -v 2000000 && exec \(command)"])
        assertRefused(r, ["available"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")))
        // a run that fits under the limit trains
        let small = ([binary.path] + train("small", ["--steps", "2"])).map { "'\($0)'" }.joined(separator: " ")
        let ok = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "ulimit -v 2000000 && exec \(small)"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    /// A run is finished only once everything it reports is on disk: status `finished` comes
    /// last, so a run killed after its final evaluation but before its extrapolation records
    /// (or before the status itself) does not count as finished, and resuming completes it.
    func testARunIsFinishedOnlyWhenEverythingIsOnDisk() throws {
        let args = ["--steps", "4", "--checkpoint-every", "2", "--eval-every", "2", "--extrapolate", "2"]
        let whole = try runProcess(binary, train("whole", args))
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let reference = TrainedRun.read(dir.appendingPathComponent("whole"), steps: 4, context: 16)
        XCTAssertEqual(reference.status, .finished)
        XCTAssertEqual(reference.contexts.map(\.context), [16, 32])

        // killed after the final checkpoint, before the status was written
        let copy = dir.appendingPathComponent("copy")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("whole"), to: copy)
        try RunStatus(state: .running, step: 2).write(to: copy)
        XCTAssertEqual(TrainedRun.read(copy, steps: 4, context: 16).status, .incomplete, "running is not finished")
        let resumed = try runProcess(binary, ["train", "--resume", copy.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try RunStatus.read(copy)?.state, .finished, "resuming a run whose steps are all done records it as finished")
        XCTAssertEqual(TrainedRun.read(copy, steps: 4, context: 16), reference)

        // killed after the final evaluation, before the extrapolation records and the final checkpoint
        let cut = dir.appendingPathComponent("cut")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("whole"), to: cut)
        let metrics = cut.appendingPathComponent("metrics.jsonl")
        let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").filter { !$0.contains("\"context\"") }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: metrics)
        try FileManager.default.removeItem(at: cut.appendingPathComponent("checkpoints/step-000004"))
        do {
            // the step-2 checkpoint the killed run still had (equal runs write equal checkpoints)
            let trainer = try Trainer(run: try Trainer.readConfiguration(cut), dataset: try TokenDataset(directory: data))
            for _ in 0..<2 { try trainer.trainStep() }
            try trainer.saveCheckpoint(to: cut)
        }
        try RunStatus(state: .running, step: 4).write(to: cut)
        XCTAssertEqual(TrainedRun.read(cut, steps: 4, context: 16).status, .incomplete,
                       "a run without its extrapolation records is not finished")
        let completed = try runProcess(binary, ["train", "--resume", cut.path])
        XCTAssertEqual(completed.status, 0, completed.stderr)
        let again = TrainedRun.read(cut, steps: 4, context: 16)
        XCTAssertEqual(again.status, .finished)
        XCTAssertEqual(again.contexts, reference.contexts, "the extrapolation records, once each, as in the whole run")
        XCTAssertEqual(again.finalValLoss, reference.finalValLoss)
    }

    /// A study's report directory is its own: `ngpt ablate` refuses a comparison's (and
    /// `compare` an ablation's, and either a settings.json it cannot read) instead of
    /// overwriting it, and `ngpt train --out` refuses a study's report directory.
    func testAStudyOwnsItsDirectory() throws {
        let fm = FileManager.default
        let shape = ["--dim", "16", "--heads", "2", "--layers", "1", "--context", "16"]
        let compare = ["compare", "--data", data.path, "--budgets", "2", "--seeds", "1", "--lr-gpt", "1e-3", "--lr-ngpt", "1e-3",
                       "--batch", "2", "--eval-batches", "1", "--plan", "--no-estimate"] + shape
        let ablate = ["ablate", "--data", data.path, "--budget", "2", "--seeds", "1", "--batch", "2", "--eval-batches", "1",
                      "--variants", "ngpt,gpt", "--plan"] + shape
        let c = try runProcess(binary, compare + ["--out", path("c")])
        XCTAssertEqual(c.status, 0, c.stderr)
        let a = try runProcess(binary, ablate + ["--out", path("a")])
        XCTAssertEqual(a.status, 0, a.stderr)
        let comparisonSettings = try Data(contentsOf: URL(fileURLWithPath: path("c/settings.json")))
        let ablationSettings = try Data(contentsOf: URL(fileURLWithPath: path("a/settings.json")))

        assertRefused(try runProcess(binary, ablate + ["--out", path("c")]), [path("c"), "a comparison", "ngpt compare", "another --out"])
        assertRefused(try runProcess(binary, ["ablate", "--collect", "--out", path("c")]), [path("c"), "a comparison", "ngpt compare"])
        assertRefused(try runProcess(binary, compare + ["--out", path("a")]), [path("a"), "an ablation study", "ngpt ablate", "another --out"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("c/settings.json"))), comparisonSettings, "the comparison's settings are untouched")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("a/settings.json"))), ablationSettings, "the ablation's settings are untouched")

        // a settings.json neither study can read is left as it is
        try fm.createDirectory(at: dir.appendingPathComponent("d"), withIntermediateDirectories: true)
        let damaged = Data("{\"budget\": 2, \"seeds\":".utf8)
        try damaged.write(to: dir.appendingPathComponent("d/settings.json"))
        for study in [ablate, compare] {
            assertRefused(try runProcess(binary, study + ["--out", path("d")]), [path("d/settings.json"), "cannot be read", "another --out"])
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("d/settings.json")), damaged)
        }
        XCTAssertFalse(fm.fileExists(atPath: path("d/runs")), "nothing written beside it")

        // a report directory is no run directory
        for (report, what) in [("c", "a comparison"), ("a", "an ablation study")] {
            let r = try runProcess(binary, train(report, ["--steps", "2"]))
            assertRefused(r, [path(report), what, "report directory", "another --out"])
            XCTAssertFalse(fm.fileExists(atPath: path(report) + "/config.json"), "nothing trained into \(report)")
        }
    }

    /// Every live process whose command line mentions `text` (zombies have none).
    func processes(mentioning text: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self).contains(text)
        }
    }

    /// SIGTERM or SIGINT to `ngpt ablate --jobs 2` while two runs train stops both runs before
    /// the study exits (non-zero); no child `ngpt train` runs on.
    func testAStoppedStudyStopsItsRuns() throws {
        for (signal, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            let out = path("study-\(name)")
            let study = try start(["ablate", "--data", data.path, "--out", out, "--dim", "16", "--heads", "2", "--layers", "1",
                                   "--context", "16", "--batch", "2", "--budget", "1000000", "--seeds", "1", "--eval-batches", "1",
                                   "--variants", "ngpt,gpt", "--jobs", "2", "--lr-gpt", "1e-3", "--lr-ngpt", "1e-2"])
            defer {
                if study.isRunning { kill(study.processIdentifier, SIGKILL) }
                for pid in processes(mentioning: out) { kill(pid, SIGKILL) }
            }
            let children = try ["ngpt-seed0", "gpt-seed0"].map { try waitForLockOwner("study-\(name)/runs/\($0)") }
            XCTAssertEqual(Set(processes(mentioning: out + "/runs")), Set(children), "the two runs train as children")
            kill(study.processIdentifier, signal)
            let deadline = Date().addingTimeInterval(60)
            while study.isRunning && Date() < deadline { usleep(10_000) }
            XCTAssertFalse(study.isRunning, "\(name): the study exits once its runs have stopped")
            study.waitUntilExit()
            XCTAssertEqual(study.terminationReason, .exit, name)
            XCTAssertNotEqual(study.terminationStatus, 0, "\(name): an interrupted study exits non-zero")
            XCTAssertEqual(processes(mentioning: out), [], "\(name): no child ngpt train runs on")
            for pid in children { XCTAssertEqual(processes(mentioning: out).filter { $0 == pid }, [], "\(name): run \(pid) stopped") }
        }
    }

    /// A study whose runs failed, or whose report misses runs, writes its report and then exits
    /// non-zero saying its conclusion is incomplete.
    func testAnIncompleteStudyExitsNonZero() throws {
        let ablate = ["ablate", "--data", data.path, "--dim", "16", "--heads", "2", "--layers", "1", "--context", "16", "--batch", "2",
                      "--budget", "3", "--seeds", "1", "--eval-batches", "1", "--variants", "ngpt,gpt", "--lr-ngpt", "1e-2"]
        XCTAssertEqual(try runProcess(binary, ablate + ["--out", path("planned"), "--plan", "--lr-gpt", "1e-3"]).status, 0)
        let missing = try runProcess(binary, ["ablate", "--collect", "--out", path("planned")])
        assertRefused((missing.status, "", missing.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }.joined(separator: "\n")),
                      ["the conclusion is incomplete: 2 run(s) missing", "ngpt-seed0", "gpt-seed0"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("planned/report.html")), "the report is written all the same")

        let diverged = try runProcess(binary, ablate + ["--out", path("diverged"), "--lr-gpt", "1e30"])
        XCTAssertEqual(diverged.status, 1, diverged.stderr)
        XCTAssertTrue(diverged.stderr.contains("Error: the conclusion is incomplete: 1 run(s) failed: gpt-seed0;"), diverged.stderr)
        XCTAssertEqual(diverged.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1, diverged.stderr)
        XCTAssertTrue(diverged.stdout.contains("report: "), diverged.stdout)
    }

    /// Sizes no machine can serve end with the figure, in well under a second each, never in
    /// the allocator or an overflow trap; nothing is left behind.
    func testImpossibleSizesAreRefusedBeforeTraining() throws {
        let cases: [([String], [String])] = [
            (train("run", ["--dim", "1000000", "--heads", "2"]), ["need 384.0 TB", "available", "reduce --dim"]),
            (train("run", ["--batch", "1000000000"]), ["this run needs", "available", "reduce --batch"]),
            (train("run", ["--dim", "4611686018427387904", "--heads", "2"]), ["more than 9.2 EB"]),
            (train("run", ["--dim", "1000001", "--heads", "3"]), ["need", "available"]),
            (train("run", ["--context", "9223372036854775807"]), ["--context"]),
            (train("run", ["--batch", "9223372036854775807"]), ["needs more than 9.2 EB"]),
            (train("run", ["--eval-batches", "9223372036854775807"]), ["needs"]),
            (train("run", ["--eval-batches", "1000000000"]), ["this run needs", "available"]),
            (train("run", ["--lr", "1e39"]), ["--lr", "float"]),
            (train("run", ["--lr", "1e-50"]), ["--lr", "float"]),
            (train("run", ["--weight-decay", "1e39"]), ["--weight-decay"]),
            (train("run", ["--vocab", "9223372036854775807"]), ["vocab"]),
            (train("run", ["--steps", "9223372036854775807"]), ["use fewer steps"]),
            (["compare", "--data", data.path, "--out", path("report"), "--tune-budget", "9223372036854775807"], ["use fewer steps"]),
            (["compare", "--data", data.path, "--out", path("report"), "--seeds", "1000000000000", "--plan"], ["--seeds", "runs"]),
            (train("run", ["--extrapolate", "1000", "--steps", "3"]), ["--extrapolate 1000", "val.bin"]),
            (train("run", ["--extrapolate", "4611686018427387904"]), ["--extrapolate"]),
            (["compare", "--data", data.path, "--out", path("report"), "--batch", "1000000000"], ["needs", "available"]),
            (["compare", "--data", data.path, "--out", path("report"), "--contexts", "16", "--extrapolate", "1000"], ["--extrapolate 1000"]),
            (["bench", "--dim", "1000000", "--heads", "2"], ["need", "available"]),
            (["bench", "--batch", "1000000000"], ["needs", "available"]),
        ]
        for (arguments, expected) in cases {
            let begin = Date()
            let r = try runProcess(binary, arguments)
            assertRefused(r, expected)
            XCTAssertLessThan(Date().timeIntervalSince(begin), 5, "\(arguments): refused at once")
        }
        for name in ["run", "report"] { XCTAssertFalse(FileManager.default.fileExists(atPath: path(name)), name) }
    }
}
