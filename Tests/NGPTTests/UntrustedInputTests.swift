import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Files are untrusted: what is built from a file's metadata is checked against its tensors
/// before anything is allocated, non-finite weights are refused by name, and every refusal is
/// one plain line (no Foundation or Codable text, long names cut).
final class UntrustedInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try makeTemporaryDirectory("untrusted") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let config = ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16)

    /// A model file whose `config` metadata has `key` set to `value` (the tensors unchanged).
    func fileWithConfig(_ key: String, _ value: Any, model: Transformer) throws -> URL {
        var json = try JSONSerialization.jsonObject(with: Data(try Checkpoint.jsonString(model.config).utf8)) as! [String: Any]
        json[key] = value
        let text = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        let url = dir.appendingPathComponent("\(key)-\(value).safetensors")
        try SafeTensorsFile.write(model.parameters.dictionary, metadata: ["format": "swift-ngpt", "config": text, "step": "3"], to: url)
        return url
    }

    /// Asserts `body` throws an error whose description is one line, names `file` and
    /// contains `expected`, and is no Foundation or Codable text.
    func assertRefused(_ expected: String, file path: String, _ body: () throws -> Void,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            assertPlainOneLine(text, file: file, line: line)
            XCTAssertTrue(text.contains(path), "the message must name \(path): \(text)", file: file, line: line)
            XCTAssertTrue(text.contains(expected), "want \"\(expected)\" in: \(text)", file: file, line: line)
        }
    }

    /// Widths of 2^31, 2^32 and 10^6, a billion layers, huge contexts: refused from the
    /// tensors, before the model (or its rotary table) is allocated; the test would trap or
    /// abort in the allocator otherwise.
    func testMetadataIsCheckedAgainstTheTensorsBeforeAllocating() throws {
        let model = try Transformer(config: config, seed: 1)
        let cases: [(String, Any, String)] = [
            ("width", 1 << 31, "transformer.wte.weight has shape [256, 16]"),
            ("width", 1 << 32, "transformer.wte.weight has shape [256, 16]"),
            ("width", 1_000_000, "width 1000000"),
            ("vocabularySize", 1 << 40, "vocabulary 1099511627776"),
            ("vocabularySize", 1, "below the minimum"),
            ("layers", 1_000_000_000, "1000000000 layers"),
            ("layers", 2, "transformer.h.1.query.weight is missing"),
            ("context", 1_000_000_000_000, "context 1000000000000"),
            ("context", Int.max, "more than this machine's memory"),
            ("heads", 3, "3 heads for width 16"),
            ("heads", -2, "below the minimum"),
            ("kind", "ngpt", "do not match the configuration in its own metadata"),
        ]
        for (key, value, expected) in cases {
            let url = try fileWithConfig(key, value, model: model)
            assertRefused(expected, file: url.path) { _ = try Checkpoint.loadModel(from: url) }
        }
        let good = try fileWithConfig("context", 16, model: model)
        XCTAssertEqual(try Checkpoint.loadModel(from: good).model.config, config, "an unchanged configuration loads")
    }

    /// NaN, +Inf and −Inf in a matrix or a vector: `ngpt sample` (loadModel) and
    /// `ngpt train --init` (Trainer) refuse the file naming the tensor and the element.
    func testNonFiniteWeightsAreRefusedWithTheTensorsName() throws {
        let data = try makeTextDataset(in: dir, bytes: 3_000)
        let dataset = try TokenDataset(directory: data)
        for value in [Float.nan, .infinity, -.infinity] {
            for (name, index, at) in [("lm_head.weight", [2, 3], "element (2, 3)"), ("rmsnorm_f.weight", [5], "element 5")] {
                let model = try Transformer(config: config, seed: 1)
                var t = model.parameters.tensor(name)!
                if index.count == 2 { t[index[0], index[1]] = value } else { t.withUnsafeMutableBufferPointer { $0[index[0]] = value } }
                model.parameters.set(name, t)
                let url = dir.appendingPathComponent("bad-\(value)-\(name).safetensors")
                try Checkpoint.saveModel(model, step: 1, to: url)
                let expected = "tensor \(name) holds \(Double(value)) at \(at)"
                assertRefused(expected, file: url.path) { _ = try Checkpoint.loadModel(from: url) }
                let run = RunConfiguration(model: config, training: TrainingOptions(recipe: .gpt, steps: 2, batchSize: 2), data: data.path)
                assertRefused(expected, file: url.path) { _ = try Trainer(run: run, dataset: dataset, initialWeights: url) }
            }
        }
    }

    /// Moments with NaN in an optimizer checkpoint are refused by name too.
    func testNonFiniteMomentsAreRefused() throws {
        let model = try Transformer(config: config, seed: 1)
        let opt = AdamW(layout: model.layout, weightDecay: 0)
        var m = opt.secondMoment.tensor("transformer.wte.weight")!
        m[7, 1] = .nan
        opt.secondMoment.set("transformer.wte.weight", m)
        let url = dir.appendingPathComponent("opt.safetensors")
        try Checkpoint.saveOptimizer(opt, state: [:], to: url)
        assertRefused("tensor exp_avg_sq.transformer.wte.weight holds nan at element (7, 1)", file: url.path) {
            try Checkpoint.loadOptimizer(into: AdamW(layout: model.layout, weightDecay: 0), from: url)
        }
    }

    /// A 10 MB tensor name gives a short message: cut to about 200 characters with "…".
    func testLongNamesAreCut() throws {
        let model = try Transformer(config: config, seed: 1)
        let long = String(repeating: "x", count: 10_000_000)
        var tensors = model.parameters.dictionary
        tensors[long] = Tensor(shape: [1], scalars: [0])
        let url = dir.appendingPathComponent("long.safetensors")
        try SafeTensorsFile.write(tensors, to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        for error in [thrownError { try Checkpoint.tensors(file, model.layout) },
                      thrownError { try file.tensor(long + "y") },
                      thrownError { try file.integers(long) },
                      thrownError { try TensorConditioning.compute(file: file, name: long) }] {
            let text = "\(error.map { "\($0)" } ?? "no error")"
            XCTAssertLessThan(text.count, 2_000, "a message must stay short, got \(text.count) characters")
            XCTAssertTrue(text.contains("xxx…"), "the name is cut with an ellipsis: \(text.prefix(300))")
            assertPlainOneLine(text)
        }
        XCTAssertEqual(ErrorText.cut(long).count, ErrorText.nameLimit)
        XCTAssertEqual(ErrorText.cut("short\nname"), "short name")
    }

    /// A FIFO or a device given as a file is named as such (never "permission denied", and the
    /// FIFO is not opened, which would block).
    func testNonRegularFilesAreRefusedByWhatTheyAre() throws {
        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        for path in [fifo.path, "/dev/null"] {
            assertRefused("is not a regular file", file: path) { _ = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path)) }
            assertRefused("is not a regular file", file: path) { _ = try TokenFile(url: URL(fileURLWithPath: path)) }
            assertRefused("is not a regular file", file: path) { _ = try RunConfiguration.read(from: URL(fileURLWithPath: path)) }
            assertRefused("is not a regular file", file: path) {
                try DatasetPreparation.prepareBytes(files: [URL(fileURLWithPath: path)], outputDirectory: self.dir.appendingPathComponent("out"))
            }
        }
    }

    /// A misspelt key in a run or settings file is refused naming it and the key meant (it would
    /// silently take its default); a key given twice is refused (a reader keeps one of them).
    func testUnknownAndRepeatedKeysAreRefused() throws {
        let run = RunConfiguration(model: ModelConfig(kind: .ngpt, vocabularySize: 256, width: 16, heads: 2, layers: 2, context: 16),
                                   training: TrainingOptions(recipe: .ngpt, steps: 10, batchSize: 2), data: "/data")
        var tree = try JSONSerialization.jsonObject(with: JSONEncoder().encode(run)) as! [String: Any]
        var training = tree["training"] as! [String: Any]
        let url = dir.appendingPathComponent("run.json")
        XCTAssertNoThrow(try { try JSONEncoder().encode(run).write(to: url); _ = try RunConfiguration.read(from: url) }())
        training["learningrate"] = 0.5
        tree["training"] = training
        try JSONSerialization.data(withJSONObject: tree).write(to: url)
        assertRefused("'training.learningrate' is not a setting of a run configuration (did you mean 'learningRate'?)", file: url.path) {
            _ = try RunConfiguration.read(from: url)
        }
        training["learningrate"] = NSNull()
        tree["training"] = training
        try JSONSerialization.data(withJSONObject: tree).write(to: url)
        XCTAssertNoThrow(try RunConfiguration.read(from: url), "a key set to null says nothing and is accepted")
        let text = String(decoding: try JSONEncoder().encode(run), as: UTF8.self)
        try Data(text.replacingOccurrences(of: "\"steps\":10", with: "\"steps\":10,\"steps\":1000").utf8).write(to: url)
        XCTAssertTrue(String(decoding: try Data(contentsOf: url), as: UTF8.self).contains("1000"))
        assertRefused("the key 'steps' appears twice in 'training'", file: url.path) { _ = try RunConfiguration.read(from: url) }

        let settings = ComparisonSettings(data: "/data", model: ModelConfig(kind: .gpt, width: 32, heads: 2, layers: 2, context: 64),
                                          contexts: [64], budgets: [100, 200], seeds: 2, lrGrid: [1e-3, 4e-3])
        var s = try JSONSerialization.jsonObject(with: JSONEncoder().encode(settings)) as! [String: Any]
        s["lrGrd"] = [1e-3]
        let settingsURL = dir.appendingPathComponent("settings.json")
        try JSONSerialization.data(withJSONObject: s).write(to: settingsURL)
        assertRefused("'lrGrd' is not a setting of a comparison settings file (did you mean 'lrGrid'?)", file: settingsURL.path) {
            _ = try ComparisonSettings.read(from: settingsURL)
        }
    }

    /// A damaged line of metrics.jsonl is named with its file and line number.
    func testDamagedMetricsLineIsNamed() throws {
        let url = dir.appendingPathComponent("metrics.jsonl")
        let good = #"{"kind":"train","seconds":1,"step":1,"tokens":8}"#
        try Data((good + "\n" + #"{"kind":"train","ste"# + "\n").utf8).write(to: url)
        assertRefused("line 2 is not a metrics record", file: url.path) { _ = try MetricsLog.read(url) }
        try Data((good + "\n").utf8).write(to: url)
        XCTAssertEqual(try MetricsLog.read(url).map(\.step), [1])
    }

    /// Foundation's and Codable's errors become plain clauses about the file.
    func testSystemErrorsArePlainText() throws {
        let path = dir.appendingPathComponent("config.json").path
        struct Shape: Codable { var width: Int; var names: [String] }
        func decodeError(_ json: String) -> Error {
            thrownError { try JSONDecoder().decode(Shape.self, from: Data(json.utf8)) }!
        }
        let cases: [(Error, String)] = [
            (CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: path]), "\(path): it already exists"),
            (CocoaError(.fileReadNoSuchFile), "it does not exist"),
            (CocoaError(.fileWriteOutOfSpace), "no space left"),
            (decodeError("{"), "it is not valid JSON"),
            (decodeError("{\"width\": 1}"), "'names' is missing"),
            (decodeError("{\"width\": \"x\", \"names\": []}"), "'width' is not an integer"),
            (decodeError("{\"width\": 1e300, \"names\": []}"), "a number in it does not fit its field"),
            (thrownError { try JSONEncoder().encode(["val_loss": Double.nan]) }!, "'val_loss' is nan, which JSON cannot hold"),
            (POSIXError(.ENOSPC), "No space left on device"),
        ]
        for (error, expected) in cases {
            let text = ErrorText.describe(error, path: expected.hasPrefix(path) ? path : nil)
            assertPlainOneLine(text)
            XCTAssertTrue(text.contains(expected), "want \"\(expected)\" in \(text)")
        }
    }
}

/// The error `body` throws, or nil.
func thrownError(_ body: () throws -> Any) -> Error? {
    do { _ = try body() } catch { return error }
    return nil
}

/// Asserts a user-facing message is one line and carries no Foundation or Codable text.
func assertPlainOneLine(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(text.contains("\n") || text.contains("\r"), "one line: \(text.prefix(500))", file: file, line: line)
    for raw in ["NSCocoaErrorDomain", "DecodingError", "EncodingError", "Error Domain=", "codingPath", "CodingKeys",
                "Debug description", "The operation could not be completed", "You don’t have permission", "You don't have permission"] {
        XCTAssertFalse(text.contains(raw), "no Foundation/Codable text (\(raw)): \(text.prefix(500))", file: file, line: line)
    }
}
