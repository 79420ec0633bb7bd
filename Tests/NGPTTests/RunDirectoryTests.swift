import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Checkpoints as one unit (step directories committed by a rename), the states a kill can
/// leave, old two-file runs, the run lock within one process, and the checks made before the
/// first step (windows, memory, overflow).
final class RunDirectoryTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory("rundir") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func configuration(_ kind: ModelKind = .ngpt, steps: Int = 12, data: URL) -> RunConfiguration {
        let model = ModelConfig(kind: kind, vocabularySize: 256, width: 16, heads: 2, layers: 2, context: 16)
        var o = TrainingOptions(recipe: model.architecture().recipe, steps: steps, batchSize: 4, seed: 2)
        o.evalEvery = 4
        o.evalBatches = 2
        o.checkpointEvery = 4
        return RunConfiguration(model: model, training: o, data: data.path)
    }

    func names(_ url: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }

    /// After a run: one committed step directory, and `RUN/model.safetensors` is its model.
    func testLayoutAfterARun() throws {
        let data = try makeTextDataset(in: dir)
        let runDir = dir.appendingPathComponent("run")
        let trainer = try Trainer(run: configuration(data: data), dataset: try TokenDataset(directory: data))
        try trainer.train(directory: runDir)
        XCTAssertEqual(names(runDir.appendingPathComponent("checkpoints")), ["step-000012"], "older checkpoints are removed once a newer one is committed")
        XCTAssertEqual(names(runDir.appendingPathComponent("checkpoints/step-000012")), ["model.safetensors", "optimizer.safetensors"])
        XCTAssertEqual(Set(names(runDir)), ["checkpoints", "config.json", "metrics.jsonl", "model.safetensors", "status.json", ".lock"])
        XCTAssertEqual(try RunStatus.read(runDir), RunStatus(state: .finished, step: 12))
        let top = try Data(contentsOf: runDir.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(top, try Data(contentsOf: runDir.appendingPathComponent("checkpoints/step-000012/model.safetensors")))
        XCTAssertEqual(RunDirectory.newestModel(in: runDir)?.lastPathComponent, "model.safetensors")
        XCTAssertEqual(RunDirectory(runDir).latestCheckpoint()?.step, 12)
        XCTAssertEqual(try SafeTensorsFile(data: top).metadata["seconds"], nil, "the model file carries no time, so equal runs write equal bytes")
    }

    /// Every state a kill can leave: a step directory still being written (`.tmp`), a committed
    /// newer one beside the older it replaces, hidden temporary files. Resume takes the newest
    /// committed step and removes the leftovers.
    func testResumeAfterEachKillState() throws {
        let data = try makeTextDataset(in: dir)
        let config = configuration(data: data)
        let reference = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        let losses = try (0..<12).map { _ in try reference.trainStep().trainLoss! }

        let runDir = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        try JSONEncoder().encode(config).write(to: runDir.appendingPathComponent("config.json"))
        let first = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        for _ in 0..<3 { try first.trainStep() }
        try first.saveCheckpoint(to: runDir)
        let older = runDir.appendingPathComponent("checkpoints/step-000003")
        let kept = runDir.appendingPathComponent("kept-step-3")
        try FileManager.default.copyItem(at: older, to: kept)
        for _ in 0..<2 { try first.trainStep() }
        try first.saveCheckpoint(to: runDir)
        // killed after committing step 5, before removing step 3
        try FileManager.default.copyItem(at: kept, to: older)
        // and a later write cut short: a half-written step directory and temporary files
        let partial = runDir.appendingPathComponent("checkpoints/step-000007.tmp")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: partial.appendingPathComponent("optimizer.safetensors"))
        for junk in [".model.safetensors.1234.99.tmp", ".dat.nosync4D2.x1y2z3", ".model.safetensors.link"] {
            try Data("junk".utf8).write(to: runDir.appendingPathComponent(junk))
        }
        var resumed: Trainer? = try Trainer(resuming: runDir)
        XCTAssertEqual(resumed?.step, 5, "the newest committed checkpoint")
        XCTAssertEqual(names(runDir.appendingPathComponent("checkpoints")), ["step-000003", "step-000005"], "stale temporaries removed, committed steps kept until the next commit")
        XCTAssertEqual(Set(names(runDir)), ["checkpoints", "config.json", "model.safetensors", ".lock", "kept-step-3"])
        let resumedLosses = try (5..<12).map { _ in try resumed!.trainStep().trainLoss! }
        XCTAssertEqual(resumedLosses, Array(losses[5...]), "resumed from step 5, bit for bit")
        try resumed!.saveCheckpoint(to: runDir)
        XCTAssertEqual(names(runDir.appendingPathComponent("checkpoints")), ["step-000012"])
        resumed = nil

        // killed while step 7 was being written and nothing newer committed: step 5 resumes
        try FileManager.default.removeItem(at: runDir.appendingPathComponent("checkpoints"))
        try FileManager.default.createDirectory(at: runDir.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: kept, to: older)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        XCTAssertEqual(try Trainer(resuming: runDir).step, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
    }

    /// The names a killed write of ngpt's own leaves, exactly; anything close to them is not.
    func testOnlyNgptsOwnTemporaryNamesAreRecognised() throws {
        for own in [".model.safetensors.1234.99.tmp", ".optimizer.safetensors.7.4294967295.tmp", ".model.safetensors.link",
                    ".dat.nosync4D2.x1y2z3", ".dat.nosyncABCDEF0.000000"] {
            XCTAssertTrue(RunDirectory.isOwnTemporaryFile(own), own)
        }
        for foreign in [".notes.tmp", ".model.safetensors.tmp", ".model.safetensors.12.tmp", ".model.safetensors.a.1.tmp",
                        ".config.json.1.2.tmp", ".backup.link", ".dat.nosync", ".dat.nosync4d2.x1y2z3", ".dat.nosync4D2.x1y2z",
                        ".dat.nosync4D2.x1y2z3.tmp", ".dat.nosync.abcdef", "model.safetensors.1.2.tmp", ".lock"] {
            XCTAssertFalse(RunDirectory.isOwnTemporaryFile(foreign), foreign)
        }
        let fm = FileManager.default
        func make(_ name: String, files: [String]) throws -> URL {
            let url = dir.appendingPathComponent(name)
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            for f in files { try Data("x".utf8).write(to: url.appendingPathComponent(f)) }
            return url
        }
        XCTAssertTrue(RunDirectory.isOwnTemporaryStepDirectory(try make("a/step-000007.tmp", files: [RunDirectory.partialMarker, "model.safetensors", ".optimizer.safetensors.1.2.tmp"])))
        XCTAssertTrue(RunDirectory.isOwnTemporaryStepDirectory(try make("b/step-000007.tmp", files: ["model.safetensors", "optimizer.safetensors"])), "an older version's, without the marker")
        XCTAssertTrue(RunDirectory.isOwnTemporaryStepDirectory(try make("c/step-12.tmp", files: [])))
        XCTAssertFalse(RunDirectory.isOwnTemporaryStepDirectory(try make("d/step-000007.tmp", files: [RunDirectory.partialMarker, "notes.txt"])))
        XCTAssertFalse(RunDirectory.isOwnTemporaryStepDirectory(try make("e/best.tmp", files: [RunDirectory.partialMarker])))
        XCTAssertFalse(RunDirectory.isOwnTemporaryStepDirectory(try make("f/step-000007", files: [])), "a committed name")
        try Data("x".utf8).write(to: dir.appendingPathComponent("g-step-000007.tmp"))
        XCTAssertFalse(RunDirectory.isOwnTemporaryStepDirectory(dir.appendingPathComponent("g-step-000007.tmp")))
        let nested = try make("h/step-000007.tmp", files: [])
        try fm.createDirectory(at: nested.appendingPathComponent("model.safetensors"), withIntermediateDirectories: true)
        XCTAssertFalse(RunDirectory.isOwnTemporaryStepDirectory(nested), "a directory where ngpt writes a file")
    }

    /// A run directory in the layout before step directories (`model.safetensors` and
    /// `optimizer.safetensors` at the top) resumes exactly and moves to the new layout.
    func testOldTwoFileLayoutResumes() throws {
        let data = try makeTextDataset(in: dir)
        let config = configuration(data: data)
        let reference = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        try reference.train(directory: dir.appendingPathComponent("reference"))
        let referenceLosses = try MetricsLog.read(dir.appendingPathComponent("reference/metrics.jsonl")).filter { $0.kind == "train" }.map(\.trainLoss)

        let runDir = dir.appendingPathComponent("old")
        let first = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        let log = try MetricsLog(url: runDir.appendingPathComponent("metrics.jsonl"))
        try log.append(try first.evaluationRecord())
        for _ in 0..<4 {
            let r = try first.trainStep()
            try log.append(r)
            if first.step % 4 == 0 { try log.append(try first.evaluationRecord()) }
        }
        // exactly what the two-file layout held: the same files at the top (the model with the
        // time in its metadata, as it was written then), no step directory
        try JSONEncoder().encode(config).write(to: runDir.appendingPathComponent("config.json"))
        try first.saveCheckpoint(to: runDir)
        let fm = FileManager.default
        try fm.removeItem(at: runDir.appendingPathComponent("model.safetensors"))
        try fm.moveItem(at: runDir.appendingPathComponent("checkpoints/step-000004/optimizer.safetensors"), to: runDir.appendingPathComponent("optimizer.safetensors"))
        try fm.removeItem(at: runDir.appendingPathComponent("checkpoints"))
        try Checkpoint.saveModel(first.model, step: 4, metadata: ["seconds": "1.5"], to: runDir.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(RunDirectory(runDir).latestCheckpoint()?.step, nil, "the old layout has no step directory")

        let resumed = try Trainer(resuming: runDir)
        XCTAssertEqual(resumed.step, 4)
        try resumed.train(directory: runDir)
        let losses = try MetricsLog.read(runDir.appendingPathComponent("metrics.jsonl")).filter { $0.kind == "train" }.map(\.trainLoss)
        XCTAssertEqual(losses, referenceLosses)
        XCTAssertEqual(try Data(contentsOf: runDir.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: dir.appendingPathComponent("reference/model.safetensors")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDir.appendingPathComponent("optimizer.safetensors").path),
                       "the old optimiser file goes once a step directory is committed")
        XCTAssertEqual(names(runDir.appendingPathComponent("checkpoints")), ["step-000012"])
    }

    /// An old two-file run killed between its two writes (the issue that step directories fix)
    /// is refused with what to do; so is a step directory whose files disagree.
    func testMismatchedPairsSayWhatToRemove() throws {
        let data = try makeTextDataset(in: dir)
        let config = configuration(data: data)
        let runDir = dir.appendingPathComponent("old")
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        try JSONEncoder().encode(config).write(to: runDir.appendingPathComponent("config.json"))
        let trainer = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        try trainer.trainStep()
        try trainer.saveCheckpoint(to: runDir)
        let optimizer = runDir.appendingPathComponent("checkpoints/step-000001/optimizer.safetensors")
        try trainer.trainStep()
        try Checkpoint.saveModel(trainer.model, step: 2, to: runDir.appendingPathComponent("checkpoints/step-000001/model.safetensors"))
        XCTAssertThrowsError(try Trainer(resuming: runDir)) { error in
            XCTAssertTrue("\(error)".contains("the checkpoint is damaged; remove \(runDir.path)/checkpoints/step-000001"), "\(error)")
        }
        try FileManager.default.moveItem(at: optimizer, to: runDir.appendingPathComponent("optimizer.safetensors"))
        try FileManager.default.moveItem(at: optimizer.deletingLastPathComponent().appendingPathComponent("model.safetensors"),
                                         to: runDir.appendingPathComponent("model.safetensors.new"))
        try FileManager.default.removeItem(at: runDir.appendingPathComponent("checkpoints"))
        try? FileManager.default.removeItem(at: runDir.appendingPathComponent("model.safetensors"))
        try FileManager.default.moveItem(at: runDir.appendingPathComponent("model.safetensors.new"), to: runDir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try Trainer(resuming: runDir)) { error in
            XCTAssertTrue("\(error)".contains("stopped between its two writes; remove both files"), "\(error)")
        }
    }

    /// Within a process the lock is shared (the CLI and the trainer both ask for it); it is
    /// released when the last holder goes.
    func testLockIsReentrantAndReleased() throws {
        var a: RunLock? = try RunLock.acquire(dir)
        let b = try RunLock.acquire(dir)
        XCTAssertTrue(a === b)
        let pid = try String(contentsOf: dir.appendingPathComponent(".lock"), encoding: .utf8)
        XCTAssertEqual(pid, "\(getpid())\n")
        a = nil
        let fd = open(dir.appendingPathComponent(".lock").path, O_RDWR)
        defer { close(fd) }
        XCTAssertNotEqual(flock(fd, LOCK_EX | LOCK_NB), 0, "still held through b")
        withExtendedLifetime(b) {}
        _ = b
    }

    func testLockReleasedWithItsLastHolder() throws {
        var a: RunLock? = try RunLock.acquire(dir)
        XCTAssertNotNil(a)
        a = nil
        let fd = open(dir.appendingPathComponent(".lock").path, O_RDWR)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0, "released")
    }

    func testLockCreatesAndDiscardsItsDirectory() throws {
        let fresh = dir.appendingPathComponent("a/b")
        let lock = try RunLock.acquire(fresh, creating: true)
        XCTAssertTrue(lock.createdDirectory)
        lock.discardIfCreated()
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh.path))
        let existing = try RunLock.acquire(dir, creating: true)
        XCTAssertFalse(existing.createdDirectory)
        existing.discardIfCreated()
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.path))
        XCTAssertThrowsError(try RunLock.acquire(dir.appendingPathComponent("missing"))) { XCTAssertTrue("\($0)".contains("not a directory"), "\($0)") }
    }

    // MARK: checks before the first step

    func testExtrapolationWindowsAreCheckedBeforeTraining() throws {
        let data = try makeTextDataset(in: dir)
        let dataset = try TokenDataset(directory: data)
        var config = configuration(data: data)
        config.training.extrapolation = [2, 1000]
        XCTAssertThrowsError(try Trainer.preflight(config, dataset: dataset)) { error in
            let s = "\(error)"
            XCTAssertTrue(s.contains("--extrapolate 1000") && s.contains("val.bin") && s.contains("use multipliers up to \((dataset.validation.count - 1) / 16)"), s)
        }
        config.training.extrapolation = [Int.max / 2]
        XCTAssertThrowsError(try Trainer.preflight(config, dataset: dataset)) { XCTAssertTrue("\($0)".contains("--extrapolate"), "\($0)") }
        config.training.extrapolation = [2, 4]
        XCTAssertNoThrow(try Trainer.preflight(config, dataset: dataset))
    }

    func testMemoryIsCheckedBeforeAllocating() throws {
        let data = try makeTextDataset(in: dir)
        let dataset = try TokenDataset(directory: data)
        let config = configuration(data: data)
        XCTAssertThrowsError(try Trainer.preflight(config, dataset: dataset, availableMemory: 1_000_000)) { error in
            let s = "\(error)"
            XCTAssertTrue(s.contains("this machine has 1.0 MB available") && s.contains("reduce --batch"), s)
        }
        XCTAssertNoThrow(try Trainer.preflight(config, dataset: dataset, availableMemory: 1 << 30))
        for (width, batch, context) in [(1_000_000, 4, 16), (16, 1_000_000_000, 16), (1 << 62, 4, 16), (16, Int.max, 16)] {
            var c = config
            c.model.width = width
            c.model.heads = 1
            c.training.batchSize = batch
            c.model.context = context
            XCTAssertThrowsError(try Trainer.preflight(c, dataset: dataset, availableMemory: 1 << 40), "d \(width) B \(batch) T \(context)") { error in
                let s = "\(error)"
                XCTAssertTrue(s.contains("needs") && s.split(separator: "\n").count == 1, s)
            }
        }
        var steps = config
        steps.training.steps = Int.max / 2
        XCTAssertThrowsError(try Trainer.preflight(steps, dataset: dataset)) { XCTAssertTrue("\($0)".contains("use fewer steps"), "\($0)") }
    }

    /// The estimate's activation term against the buffer the model really allocates, and the
    /// whole estimate saturating instead of overflowing.
    func testMemoryEstimateMatchesTheModel() throws {
        for kind in ModelKind.allCases {
            for (d, h, l, v, b, t) in [(16, 2, 1, 256, 2, 16), (64, 4, 2, 256, 4, 300), (32, 2, 3, 1000, 3, 129)] {
                let c = ModelConfig(kind: kind, vocabularySize: v, width: d, heads: h, layers: l, context: t)
                let model = try Transformer(config: c)
                try model.forward(tokens: [Int](repeating: 1, count: b * t), targets: [Int](repeating: 2, count: b * t), batch: b, sequence: t)
                let real = model.activationCount
                XCTAssertEqual(MemoryEstimate.activationCount(c, batch: b, sequence: t), real, "\(kind) \(c)")
                let bound = MemoryEstimate.activationBound(c, batch: b, sequence: t)
                XCTAssertGreaterThanOrEqual(bound, real, "\(kind) \(c)")
                XCTAssertLessThan(Double(bound), Double(real) * 1.6, "\(kind) d \(d) B \(b) T \(t): bound \(bound), allocated \(real)")
                XCTAssertGreaterThanOrEqual(MemoryEstimate.parameterCount(c), model.parameterCount)
                XCTAssertLessThan(Double(MemoryEstimate.parameterCount(c)), Double(model.parameterCount) * 1.1)
            }
        }
        let huge = ModelConfig(kind: .gpt, vocabularySize: Int.max, width: Int.max, heads: 1, layers: Int.max, context: Int.max)
        XCTAssertEqual(MemoryEstimate.training(huge, batch: Int.max, contexts: [Int.max]).totalBytes, Int.max)
        XCTAssertEqual(MemoryEstimate.format(Int.max), "more than 9.2 EB")
        XCTAssertEqual(MemoryEstimate.format(21_300_000_000), "21.3 GB")
    }

    func testAvailableMemorySources() {
        XCTAssertEqual(AvailableMemory.memAvailable("MemTotal:  100 kB\nMemAvailable:    2048 kB\n"), 2048 * 1024)
        XCTAssertNil(AvailableMemory.memAvailable("MemTotal: 100 kB\n"))
        let files = [
            "/sys/fs/cgroup/a/b/memory.max": "max\n",
            "/sys/fs/cgroup/a/memory.max": "1000000\n", "/sys/fs/cgroup/a/memory.current": "400000\n",
            "/sys/fs/cgroup/memory/job/memory.limit_in_bytes": "5000\n", "/sys/fs/cgroup/memory/job/memory.usage_in_bytes": "1000\n",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
        ]
        XCTAssertEqual(AvailableMemory.cgroupHeadrooms("0::/a/b\n", read: { files[$0] }), [600_000])
        XCTAssertEqual(AvailableMemory.cgroupHeadrooms("4:memory:/job\n1:cpu:/\n", read: { files[$0] }), [4000])
        XCTAssertEqual(AvailableMemory.cgroupHeadrooms("0::/\n", read: { files[$0] }), [])
        XCTAssertNotNil(AvailableMemory.bytes())
    }
}
