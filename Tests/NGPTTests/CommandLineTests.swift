import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// The `ngpt` tool on bad input: each case exits non-zero with a one-line message that says what
/// is wrong, and leaves no partial output. And an interrupted (killed) run resumes exactly.
final class CommandLineTests: CommandTestCase {
    let tiny = ["--dim", "16", "--heads", "2", "--layers", "1", "--context", "16", "--batch", "2", "--eval-batches", "1"]

    /// Runs `ngpt train` expecting failure: status ≠ 0, one line on stderr containing `expected`,
    /// and no run directory.
    func expectFailure(_ arguments: [String], _ expected: String, out: String = "run", file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runProcess(binary, arguments)
        XCTAssertNotEqual(r.status, 0, "must fail: \(arguments)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(expected), "message should say \"\(expected)\", got: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(out).path),
                       "no output may be left behind", file: file, line: line)
    }

    func train(_ extra: [String], out: String = "run") -> [String] {
        ["train", "--data", data.path, "--out", dir.appendingPathComponent(out).path] + tiny + extra
    }

    func testMissingAndEmptyDataDirectory() throws {
        try expectFailure(["train", "--data", dir.appendingPathComponent("nope").path, "--out", dir.appendingPathComponent("run").path], "does not exist")
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try expectFailure(["train", "--data", empty.path, "--out", dir.appendingPathComponent("run").path], "empty")
    }

    func testTokenFileShorterThanContext() throws {
        try expectFailure(train(["--context", "8192"]), "needs at least 8193")
    }

    func testTokenOutOfVocabulary() throws {
        // a nanoGPT-style directory (no meta.json) whose ids go up to 300
        let nano = dir.appendingPathComponent("nano")
        try FileManager.default.createDirectory(at: nano, withIntermediateDirectories: true)
        let ids = (0..<2000).map { UInt16($0 % 301) }
        let bytes = ids.withUnsafeBufferPointer { Data(buffer: $0) }
        try bytes.write(to: nano.appendingPathComponent("train.bin"))
        try bytes.write(to: nano.appendingPathComponent("val.bin"))
        try expectFailure(["train", "--data", nano.path, "--out", dir.appendingPathComponent("run").path, "--vocab", "256"] + tiny, "token id 256 at token offset 256")
    }

    func testMalformedInitWeights() throws {
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        let model = try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16), seed: 1)
        let good = try SafeTensorsFile.encode(model.parameters.dictionary)
        try good.prefix(good.count - 100).write(to: truncated)
        try expectFailure(train(["--init", truncated.path]), "truncated")
        let oversized = dir.appendingPathComponent("oversized.safetensors")
        var header = Data()
        withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { header.append(contentsOf: $0) }
        try (header + Data("{}".utf8)).write(to: oversized)
        try expectFailure(train(["--init", oversized.path]), "header")
    }

    func testInitWeightsOfAnotherShape() throws {
        let other = try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 256, width: 32, heads: 2, layers: 1, context: 16), seed: 1)
        let url = dir.appendingPathComponent("other.safetensors")
        try SafeTensorsFile.write(other.parameters.dictionary, to: url)
        try expectFailure(train(["--init", url.path]), "transformer.wte.weight has shape [256, 32], the model needs [256, 16]")
    }

    func testBadShapes() throws {
        try expectFailure(train(["--heads", "3"]), "must divide the width")
        try expectFailure(train(["--dim", "6", "--heads", "2"]), "odd")
    }

    func testNaNLossStopsTheRun() throws {
        let model = try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16), seed: 1)
        var head = model.parameters.tensor("lm_head.weight")!
        for j in 0..<16 { head[3, j] = .greatestFiniteMagnitude }   // finite weights, infinite logits
        model.parameters.set("lm_head.weight", head)
        let url = dir.appendingPathComponent("huge.safetensors")
        try SafeTensorsFile.write(model.parameters.dictionary, to: url)
        let r = try runProcess(binary, train(["--init", url.path, "--steps", "5"]))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 2, "the banner and one line of error: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("the validation loss of the initial weights is"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/model.safetensors").path),
                       "no checkpoint of a diverged model")
        let status = try RunStatus.read(dir.appendingPathComponent("run"))
        XCTAssertEqual(status?.state, .failed)
        XCTAssertTrue(status?.message?.contains("the validation loss of the initial weights is") ?? false, "\(String(describing: status))")
    }

    /// OPENBLAS_NUM_THREADS is held to the limit --threads is: refused before OpenBLAS is asked.
    func testTooManyThreadsFromTheEnvironment() throws {
        let r = try runProcess(binary, train(["--steps", "1"]), environment: ["OPENBLAS_NUM_THREADS": "100"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("OPENBLAS_NUM_THREADS=100 is more than this machine can serve"), r.stderr)
        let ok = try runProcess(binary, train(["--steps", "1", "--eval-every", "0"], out: "two"), environment: ["OPENBLAS_NUM_THREADS": "2"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    /// A run's configuration file is enough to run it again: `--config` gives the same bytes.
    func testConfigFileReproducesARun() throws {
        let a = try runProcess(binary, train(["--steps", "3", "--eval-every", "2", "--seed", "4"], out: "a"))
        XCTAssertEqual(a.status, 0, a.stderr)
        let file = dir.appendingPathComponent("a/config.json").path
        let b = try runProcess(binary, ["train", "--config", file, "--out", dir.appendingPathComponent("b").path])
        XCTAssertEqual(b.status, 0, b.stderr)
        for name in ["model.safetensors", "config.json"] {
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("b/\(name)")), try Data(contentsOf: dir.appendingPathComponent("a/\(name)")), name)
        }
        XCTAssertEqual(try RunStatus.read(dir.appendingPathComponent("b")), RunStatus(state: .finished, step: 3))
        let mixed = try runProcess(binary, ["train", "--config", file, "--out", dir.appendingPathComponent("c").path, "--steps", "9"])
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertEqual(mixed.stderr.split(separator: "\n").count, 1, mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("--steps cannot be given with it"), mixed.stderr)
    }

    func testResumeWithAnotherConfiguration() throws {
        let ok = try runProcess(binary, train(["--steps", "2", "--eval-every", "0"]))
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let r = try runProcess(binary, ["train", "--resume", dir.appendingPathComponent("run").path, "--layers", "2"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("different model configuration"), r.stderr)
    }

    func testSampleFromARun() throws {
        let ok = try runProcess(binary, train(["--steps", "3", "--eval-every", "0"]))
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let runDir = dir.appendingPathComponent("run").path
        let a = try runProcess(binary, ["sample", runDir, "--prompt", "the ", "--tokens", "20", "--temperature", "0"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertTrue(a.stdout.hasPrefix("the "))
        let n = a.stdout.utf8.count   // prompt + 20 tokens, and a newline unless the text ends with one
        XCTAssertTrue(n == 24 || (n == 25 && a.stdout.hasSuffix("\n")), "\(n) bytes: \(a.stdout)")
        let b = try runProcess(binary, ["sample", runDir + "/model.safetensors", "--prompt", "the ", "--tokens", "20", "--temperature", "0"])
        XCTAssertEqual(a.stdout, b.stdout, "greedy sampling is deterministic, from the directory or the file")
        let bad = try runProcess(binary, ["sample", dir.appendingPathComponent("nothing").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("does not exist"), bad.stderr)
    }

    /// `kill -9` in the middle of a run, then `--resume`: the losses equal an uninterrupted run's.
    func testKilledRunResumesExactly() throws {
        let args = ["--model", "ngpt", "--steps", "200", "--checkpoint-every", "5", "--eval-every", "50", "--seed", "3"]
        let whole = try runProcess(binary, train(args, out: "whole"))
        XCTAssertEqual(whole.status, 0, whole.stderr)

        let process = Process()
        process.executableURL = binary
        process.arguments = train(args, out: "killed")
        process.standardError = FileHandle.nullDevice
        try process.run()
        let checkpoint = dir.appendingPathComponent("killed/model.safetensors")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint.path) && Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run must have been killed before it finished")

        let resumed = try runProcess(binary, ["train", "--resume", dir.appendingPathComponent("killed").path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        func losses(_ name: String) throws -> [Double] {
            try MetricsLog.read(dir.appendingPathComponent("\(name)/metrics.jsonl")).filter { $0.kind == "train" }.map { $0.trainLoss! }
        }
        XCTAssertEqual(try losses("killed"), try losses("whole"), "a killed and resumed run must reproduce the uninterrupted losses")
        let a = try Data(contentsOf: dir.appendingPathComponent("whole/model.safetensors"))
        let b = try Data(contentsOf: dir.appendingPathComponent("killed/model.safetensors"))
        XCTAssertEqual(try SafeTensorsFile(data: a).tensor("lm_head.weight"), try SafeTensorsFile(data: b).tensor("lm_head.weight"))
    }
}
