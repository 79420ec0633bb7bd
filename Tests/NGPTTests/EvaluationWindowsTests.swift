import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Which validation tokens an evaluation reads: the halves used for choosing and for
/// reporting share no token, and length extrapolation scores the same tokens at every multiple.
final class EvaluationWindowsTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory("windows") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSelectionAndReportWindowsShareNoToken() throws {
        let data = try makeTextDataset(in: dir, bytes: 60_000)
        let file = try TokenDataset(directory: data).validation
        let t = 32
        func tokens(_ part: ValidationPart) throws -> Set<Int> {
            let set = try ValidationSet(file: file, batchSize: 8, context: t, batches: 20, seed: 3, part: part)
            var covered = Set<Int>()
            for row in set.offsets.joined() { covered.formUnion(row...(row + t)) }   // inputs and the last target
            return covered
        }
        let selection = try tokens(.selection), report = try tokens(.report)
        XCTAssertTrue(selection.isDisjoint(with: report))
        XCTAssertTrue(selection.allSatisfy { $0 < file.count / 2 } && report.allSatisfy { $0 >= file.count / 2 && $0 < file.count })
        XCTAssertGreaterThan(report.count, 20 * t, "the windows spread over the half")
        // the whole file is what every run read before the parts existed
        let whole = try ValidationSet(file: file, batchSize: 8, context: t, batches: 5, seed: 3)
        var sampler = try RandomWindowSampler(file: file, batchSize: 8, context: t, seed: 3)
        XCTAssertEqual(whole.offsets, (0..<5).map { _ in sampler.nextOffsets() })
        XCTAssertThrowsError(try ValidationSet(file: file, batchSize: 1, context: file.count - file.count / 2, batches: 1, seed: 0, part: .report))
        XCTAssertNoThrow(try ValidationSet(file: file, batchSize: 1, context: file.count - file.count / 2 - 1, batches: 1, seed: 0, part: .report))
    }

    func configuration(_ kind: ModelKind, data: URL) -> RunConfiguration {
        let model = ModelConfig(kind: kind, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16)
        var o = TrainingOptions(recipe: model.architecture().recipe, steps: 6, batchSize: 8, seed: 2)
        o.evalBatches = 3
        o.extrapolation = [2, 4]
        o.validationPart = .report
        return RunConfiguration(model: model, training: o, data: data.path)
    }

    /// 1×, 2× and 4× read the same windows of 4T tokens, cut into slices; the loss by position
    /// averages to the 4× loss.
    func testSharedExtrapolationScoresTheSameTokens() throws {
        let data = try makeTextDataset(in: dir, bytes: 60_000)
        for kind in ModelKind.allCases {
            let run = configuration(kind, data: data)
            let trainer = try Trainer(run: run, dataset: try TokenDataset(directory: data))
            for _ in 0..<3 { try trainer.trainStep() }
            let records = try trainer.sharedExtrapolationRecords(bins: 8)
            XCTAssertEqual(records.map(\.context), [16, 32, 64])
            // the reference: each 64-token window, scored as 4 slices of 16, 2 of 32, 1 of 64
            let windows = try ValidationSet(file: trainer.dataset.validation, batchSize: 2, context: 64, batches: 3, seed: run.training.evalSeed, part: .report)
            var byPositionReference = [Double](repeating: 0, count: 64)
            for (i, m) in [1, 2, 4].enumerated() {
                var total = 0.0, count = 0
                for batch in windows {
                    for r in 0..<batch.batchSize {
                        for slice in 0..<(4 / m) {
                            let from = r * 64 + slice * 16 * m, to = from + 16 * m
                            let loss = try trainer.model.forward(tokens: Array(batch.inputs[from..<to]), targets: Array(batch.targets[from..<to]),
                                                                 batch: 1, sequence: 16 * m)
                            total += Double(loss)
                            count += 1
                            if m == 4 { for (j, v) in trainer.model.positionLosses.scalars.enumerated() { byPositionReference[j] += Double(v) } }
                        }
                    }
                }
                XCTAssertEqual(records[i].valLoss!, total / Double(count), accuracy: 2e-5, "\(kind) \(m)×")
            }
            let byPosition = try XCTUnwrap(records[2].positionLoss)
            XCTAssertEqual(byPosition.count, 8)
            for bin in 0..<8 {
                let reference = byPositionReference[(8 * bin)..<(8 * bin + 8)].reduce(0, +) / Double(8 * windows.count * 2)
                XCTAssertEqual(byPosition[bin], reference, accuracy: 2e-5, "\(kind): positions \(8 * bin)..<\(8 * bin + 8)")
            }
            XCTAssertEqual(records[2].positionBin, 8)
            XCTAssertEqual(byPosition.reduce(0, +) / 8, records[2].valLoss!, accuracy: 2e-5, "\(kind): equal bins average to the window's loss")
            XCTAssertNil(records[0].positionLoss)
        }
    }

    /// A run writes its final extrapolation on shared windows; a run configured before they
    /// existed keeps its own windows per context.
    func testRunsRecordTheirExtrapolationAndOldConfigurationsKeepTheirs() throws {
        let data = try makeTextDataset(in: dir, bytes: 60_000)
        let run = configuration(.ngpt, data: data)
        let out = dir.appendingPathComponent("run")
        try Trainer(run: run, dataset: try TokenDataset(directory: data)).train(directory: out)
        let result = TrainedRun.read(out, steps: 6, context: 16)
        XCTAssertEqual(result.status, .finished)
        XCTAssertEqual(result.contexts.map(\.context), [16, 32, 64])
        XCTAssertEqual(result.positionLoss?.count, 32)
        XCTAssertNotNil(result.alphaA, "the final evaluation's scalers")

        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(run.training)) as! [String: Any]
        json.removeValue(forKey: "extrapolationWindows")
        json.removeValue(forKey: "validationPart")
        let old = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(old.extrapolationWindows, .separate)
        XCTAssertEqual(old.validationPart, .whole)
        var bad = run.training
        bad.extrapolation = [2, 3]
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("divide"), "\($0)") }
    }
}
