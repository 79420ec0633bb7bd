import Foundation
import XCTest
@testable import NGPT

/// How `ngpt` fails, as a process: exit status 1 and one plain `Error:` line for every mistake,
/// negative numbers read as numbers, untrusted files refused before anything is allocated.
final class CommandLineErrorTests: CommandTestCase {
    override var datasetBytes: Int { 3_000 }

    /// Runs `ngpt` expecting status 1 and exactly one plain line on stderr containing `expected`.
    func expectError(_ arguments: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runProcess(binary, arguments)
        XCTAssertEqual(r.status, 1, "exit status of \(arguments.prefix(3)): \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, "one line of error: \(r.stderr.prefix(1000))", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("Error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(expected), "want \"\(expected)\" in: \(r.stderr.prefix(1000))", file: file, line: line)
        assertPlainOneLine(String(r.stderr.dropLast()), file: file, line: line)
    }

    func testNegativeNumbersAndUsageErrors() throws {
        let out = dir.appendingPathComponent("run").path
        try expectError(["train", "--data", data.path, "--out", out, "--steps", "-1"], "--steps must be at least 1, got -1")
        try expectError(["train", "--data", data.path, "--out", out, "--steps=-1"], "--steps must be at least 1, got -1")
        try expectError(["train", "--data", data.path, "--out", out, "--lr", "-0.5"], "--lr must be a positive number, got -0.5")
        try expectError(["sample", out, "--temperature", "-1"], "--temperature must be ≥ 0")
        try expectError(["train", "--data", data.path, "--out", out, "--steps"], "see `ngpt train --help`")
        try expectError(["train", "--data", data.path, "--stepz", "3"], "Unknown option '--stepz'")
        try expectError(["train", "--data", data.path, "--out", out, "--extrapolate", "1e30"], "--extrapolate")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let help = try runProcess(binary, ["train", "--help"])
        XCTAssertEqual(help.status, 0, "help still exits 0")
    }

    /// `ngpt sample` on a file whose metadata claims a width of 2^32 (it trapped) or whose
    /// weights hold NaN (it printed token 255 forever), and a FIFO given as the model.
    func testSampleRefusesUntrustedFiles() throws {
        let config = ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16)
        let model = try Transformer(config: config, seed: 1)
        var bad = config
        bad.width = 1 << 32
        let wide = dir.appendingPathComponent("wide.safetensors")
        try SafeTensorsFile.write(model.parameters.dictionary,
                                  metadata: ["format": "swift-ngpt", "config": try Checkpoint.jsonString(bad), "step": "1"], to: wide)
        try expectError(["sample", wide.path], "transformer.wte.weight has shape [256, 16]")

        var head = model.parameters.tensor("lm_head.weight")!
        head[4, 2] = .nan
        model.parameters.set("lm_head.weight", head)
        let nan = dir.appendingPathComponent("nan.safetensors")
        try Checkpoint.saveModel(model, step: 1, to: nan)
        try expectError(["sample", nan.path], "tensor lm_head.weight holds nan at element (4, 2)")
        try expectError(["train", "--data", data.path, "--out", dir.appendingPathComponent("r").path, "--dim", "16", "--heads", "2",
                         "--layers", "1", "--context", "16", "--init", nan.path], "tensor lm_head.weight holds nan")

        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        try expectError(["sample", fifo.path], "is not a regular file")
        try expectError(["cond", "/dev/null"], "is not a regular file")
        try expectError(["prepare", fifo.path, "--out", dir.appendingPathComponent("d").path], "is not a regular file")
    }
}
