import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class CheckpointTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ngpt-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func config(_ kind: ModelKind) -> ModelConfig {
        var c = ModelConfig(kind: kind, vocabularySize: 19, width: 16, heads: 2, layers: 2, context: 8)
        if kind == .ngpt { c.sz.mode = .scalar }
        return c
    }

    func testSavedModelGivesBitIdenticalLogits() throws {
        for kind in ModelKind.allCases {
            let model = try Transformer(config: config(kind), seed: 11)
            let tokens = (0..<16).map { $0 % 19 }
            try model.forward(tokens: tokens, batch: 2, sequence: 8)
            let url = dir.appendingPathComponent("\(kind).safetensors")
            try Checkpoint.saveModel(model, step: 42, to: url)
            let (loaded, step, metadata) = try Checkpoint.loadModel(from: url)
            XCTAssertEqual(step, 42)
            XCTAssertEqual(metadata["model"], kind.rawValue)
            XCTAssertEqual(loaded.config, model.config, "\(kind): the configuration must survive the round trip")
            try loaded.forward(tokens: tokens, batch: 2, sequence: 8)
            XCTAssertEqual(loaded.logits.scalars, model.logits.scalars, "\(kind): logits must be bit-identical after save/load")
        }
    }

    /// Weights saved through torch.compile and DistributedDataParallel (`_orig_mod.`, `module.`,
    /// both) and a state dict with the optimiser's moments beside the weights load everywhere.
    func testPrefixedStateDictsLoadAndOptimizerStateIsLeftOut() throws {
        let model = try Transformer(config: config(.ngpt), seed: 3)
        let plain = dir.appendingPathComponent("plain.safetensors")
        try Checkpoint.saveModel(model, step: 7, to: plain)
        let metadata = try SafeTensorsFile(contentsOf: plain).metadata
        for prefix in ["_orig_mod.", "module.", "module._orig_mod.", "_orig_mod.module."] {
            var tensors = [String: Tensor]()
            for (name, t) in model.parameters.dictionary { tensors[prefix + name] = t }
            tensors["optimizer.state.0.exp_avg"] = Tensor(shape: [2], scalars: [1, 2])
            let url = dir.appendingPathComponent("wrapped.safetensors")
            for withMetadata in [true, false] {
                try SafeTensorsFile.write(tensors, metadata: withMetadata ? metadata : [:], to: url)
                if withMetadata {
                    var notes = [String]()
                    let (loaded, step, _) = try Checkpoint.loadModel(from: url, note: { notes.append($0) })
                    XCTAssertEqual(step, 7)
                    XCTAssertEqual(loaded.parameters.dictionary.mapValues(\.scalars), model.parameters.dictionary.mapValues(\.scalars), prefix)
                    XCTAssertTrue(notes.contains { $0.contains("prefix '\(prefix)'") } && notes.contains { $0.contains("optimizer.state.0.exp_avg") }, "\(notes)")
                }
                let inspected = try InspectedCheckpoint.load(url.path, heads: withMetadata ? nil : 2)
                XCTAssertEqual(inspected.strippedPrefix, prefix)
                XCTAssertEqual(inspected.model.parameters.dictionary.mapValues(\.scalars), model.parameters.dictionary.mapValues(\.scalars))
            }
        }
        let moments = dir.appendingPathComponent("adam.safetensors")
        try SafeTensorsFile.write(["state.0.exp_avg": Tensor(shape: [2], scalars: [1, 2]), "state.0.exp_avg_sq": Tensor(shape: [2], scalars: [1, 2])], to: moments)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: moments)) { XCTAssertTrue("\($0)".contains("holds an optimiser's state"), "\($0)") }
    }

    func testOptimizerRoundTrip() throws {
        let model = try Transformer(config: config(.gpt), seed: 1)
        let opt = AdamW(layout: model.layout, weightDecay: 0.1)
        try model.forward(tokens: Array(0..<16), targets: Array(1..<17), batch: 2, sequence: 8)
        try model.backward()
        opt.update(model.parameters, gradients: model.gradients, lr: 1e-3)
        let url = dir.appendingPathComponent("opt.safetensors")
        try Checkpoint.saveOptimizer(opt, state: ["sampler": "{\"batch\":3}"], to: url)
        let restored = AdamW(layout: model.layout, weightDecay: 0.1)
        let meta = try Checkpoint.loadOptimizer(into: restored, from: url)
        XCTAssertEqual(restored.step, 1)
        XCTAssertEqual(meta["sampler"], "{\"batch\":3}")
        XCTAssertEqual(restored.firstMoment.storage.array, opt.firstMoment.storage.array)
        XCTAssertEqual(restored.secondMoment.storage.array, opt.secondMoment.storage.array)
    }

    /// Loading weights of another shape reports every mismatch at once and writes nothing.
    func testMismatchedWeightsAreAllReported() throws {
        let small = try Transformer(config: config(.gpt), seed: 1)
        var other = config(.gpt)
        other.width = 8
        other.layers = 3
        let big = try Transformer(config: other, seed: 2)
        let before = big.parameters.storage.array
        XCTAssertThrowsError(try big.parameters.load(small.parameters.dictionary, source: "small.safetensors")) { error in
            guard let e = error as? ParameterLoadError else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(e.missing.count, 8, "layer 2's eight tensors are missing")
            XCTAssertTrue(e.wrongShape.contains { $0.0 == "transformer.wte.weight" && $0.1 == [19, 8] && $0.2 == [19, 16] })
            XCTAssertEqual(e.wrongShape.count, 2 + 2 * 8 + 1, "every tensor of a different width is reported")
            XCTAssertTrue("\(e)".contains("HINT"))
        }
        XCTAssertEqual(big.parameters.storage.array, before, "a failed load must not change the parameters")
    }

    func testModelFileWithoutConfigNeedsOne() throws {
        let model = try Transformer(config: config(.ngpt), seed: 3)
        let url = dir.appendingPathComponent("plain.safetensors")
        try SafeTensorsFile.write(model.parameters.dictionary, to: url)     // as PyTorch would write it
        XCTAssertThrowsError(try Checkpoint.loadModel(from: url)) { XCTAssertTrue("\($0)".contains("no model configuration")) }
        let (loaded, _, _) = try Checkpoint.loadModel(from: url, config: config(.ngpt))
        XCTAssertEqual(loaded.parameters.storage.array, model.parameters.storage.array)
    }
}
