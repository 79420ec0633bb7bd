import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class TrainingTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory("train") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func run(_ kind: ModelKind, steps: Int = 12, data: URL, seed: UInt64 = 0) -> RunConfiguration {
        let model = ModelConfig(kind: kind, vocabularySize: 256, width: 16, heads: 2, layers: 2, context: 16)
        var o = TrainingOptions(recipe: ModelConfig(kind: kind).architecture().recipe, steps: steps, batchSize: 4, seed: seed)
        o.evalEvery = 4
        o.evalBatches = 2
        o.checkpointEvery = 4
        return RunConfiguration(model: model, training: o, data: data.path)
    }

    /// An interrupted run resumed from its checkpoint gives the same losses, bit for bit, as an
    /// uninterrupted run: parameters, Adam's moments, step and the sampler's state all come back.
    func testResumeIsBitIdentical() throws {
        let data = try makeTextDataset(in: dir)
        for kind in ModelKind.allCases {
            let config = run(kind, data: data)
            let full = try Trainer(run: config, dataset: try TokenDataset(directory: data))
            let reference = try (0..<12).map { _ in try full.trainStep().trainLoss! }

            let runDir = dir.appendingPathComponent("\(kind)")
            try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
            try JSONEncoder().encode(config).write(to: runDir.appendingPathComponent("config.json"))
            let first = try Trainer(run: config, dataset: try TokenDataset(directory: data))
            var losses = try (0..<5).map { _ in try first.trainStep().trainLoss! }
            try first.saveCheckpoint(to: runDir)
            _ = try (0..<3).map { _ in try first.trainStep() }      // work lost to the "kill"
            let resumed = try Trainer(resuming: runDir)
            XCTAssertEqual(resumed.step, 5)
            losses += try (5..<12).map { _ in try resumed.trainStep().trainLoss! }
            XCTAssertEqual(losses, reference, "\(kind): resumed losses must equal the uninterrupted run's")
        }
    }

    func testTrainWritesConfigMetricsAndCheckpoints() throws {
        let data = try makeTextDataset(in: dir)
        let runDir = dir.appendingPathComponent("run")
        let trainer = try Trainer(run: run(.ngpt, data: data), dataset: try TokenDataset(directory: data))
        try trainer.train(directory: runDir)
        let records = try MetricsLog.read(runDir.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(records.filter { $0.kind == "train" }.map(\.step), Array(1...12))
        XCTAssertEqual(records.filter { $0.kind == "eval" }.map(\.step), [0, 4, 8, 12])
        let last = records.last { $0.kind == "train" }!
        XCTAssertNotNil(last.gradNorm)
        XCTAssertEqual(last.tokens, 12 * 4 * 16)
        XCTAssertEqual(last.alphaA?.count, 2, "nGPT records carry per-layer scalers")
        XCTAssertNotNil(last.szMean)
        let (model, step, _) = try Checkpoint.loadModel(from: runDir.appendingPathComponent(Checkpoint.modelFile))
        XCTAssertEqual(step, 12)
        XCTAssertEqual(model.parameters.storage.array, trainer.model.parameters.storage.array)
        XCTAssertEqual(try Trainer.readConfiguration(runDir), trainer.run)
        // learning happened
        let evals = records.filter { $0.kind == "eval" }.compactMap(\.valLoss)
        XCTAssertLessThan(evals.last!, evals.first!)
    }

    /// A NaN loss stops the run with a message, changes nothing and keeps the last checkpoint.
    func testNonFiniteLossStopsAndKeepsCheckpoint() throws {
        let data = try makeTextDataset(in: dir)
        let runDir = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        let trainer = try Trainer(run: run(.gpt, data: data), dataset: try TokenDataset(directory: data))
        try trainer.trainStep()
        try trainer.saveCheckpoint(to: runDir)
        let saved = try Data(contentsOf: runDir.appendingPathComponent(Checkpoint.modelFile))
        var wte = trainer.model.parameters.tensor("transformer.wte.weight")!
        wte.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = .nan } }
        trainer.model.parameters.set("transformer.wte.weight", wte)
        let before = trainer.model.parameters.storage.array
        XCTAssertThrowsError(try trainer.trainStep()) { error in
            guard case .nonFiniteLoss(step: 2, _, _)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("checkpoints written before it are kept"), "\(error)")
        }
        XCTAssertEqual(trainer.step, 1, "no optimiser step after a NaN loss")
        XCTAssertEqual(trainer.model.parameters.storage.array.map(\.bitPattern), before.map(\.bitPattern))
        XCTAssertEqual(try Data(contentsOf: runDir.appendingPathComponent(Checkpoint.modelFile)), saved)
    }

    func testResumeRejectsMismatchedCheckpoint() throws {
        let data = try makeTextDataset(in: dir)
        let runDir = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        var config = run(.gpt, data: data)
        let trainer = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        try trainer.trainStep()
        try trainer.saveCheckpoint(to: runDir)
        config.model.layers = 3
        try JSONEncoder().encode(config).write(to: runDir.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try Trainer(resuming: runDir)) { XCTAssertTrue("\($0)".contains("different model configuration"), "\($0)") }
        XCTAssertThrowsError(try Trainer(resuming: dir.appendingPathComponent("nothing"))) { XCTAssertTrue("\($0)".contains("not a run directory")) }
    }

    func testBFloat16RoundingIsNearestEven() {
        XCTAssertEqual(roundToBFloat16(1.0), 1.0)
        // 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1).
        XCTAssertEqual(roundToBFloat16(1 + 0x1p-8), 1.0)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        XCTAssertEqual(roundToBFloat16(1 + 3 * 0x1p-8), 1 + 0x1p-6)
        XCTAssertEqual(roundToBFloat16(1 + 0x1p-8 + 0x1p-20), 1 + 0x1p-7, "above the tie rounds up")
        XCTAssertEqual(roundToBFloat16(-2.5), -2.5)
        XCTAssertTrue(roundToBFloat16(.nan).isNaN)
        XCTAssertEqual(roundToBFloat16(.infinity), .infinity)
    }

    func testBF16RunKeepsBlockMatricesInBFloat16() throws {
        let data = try makeTextDataset(in: dir)
        var config = run(.ngpt, steps: 3, data: data)
        config.training.parameterPrecision = .bf16
        let trainer = try Trainer(run: config, dataset: try TokenDataset(directory: data))
        try trainer.trainStep()
        let q = trainer.model.parameters.tensor("transformer.h.1.query.weight")!
        XCTAssertTrue(q.scalars.allSatisfy { $0.bitPattern & 0xFFFF == 0 }, "block matrices must be bf16 values")
        let wte = trainer.model.parameters.tensor("transformer.wte.weight")!
        XCTAssertFalse(wte.scalars.allSatisfy { $0.bitPattern & 0xFFFF == 0 }, "embeddings stay float32")
    }
}
