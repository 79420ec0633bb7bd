import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

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
        try assertHintsExist(r.stderr, command: arguments[0], file: file, line: line)
    }

    nonisolated(unsafe) static var helpOptions = [String: Set<String>]()   // filled once, tests run serially

    /// The options of `ngpt command`, from its help.
    func options(of command: String) throws -> Set<String>? {
        let commands = ["info", "prepare", "train", "sample", "compare", "ablate", "inspect", "cond", "bench"]
        guard commands.contains(command) else { return nil }
        if let known = Self.helpOptions[command] { return known }
        let help = try runProcess(binary, [command, "--help"]).stdout
        let found = Set(help.matches(of: #/--[a-z][a-z0-9-]*/#).map { String($0.output) })
        Self.helpOptions[command] = found
        return found
    }

    /// A message printed by `ngpt command` names only options of that command, except inside a
    /// quoted "`ngpt other …`", whose command and options must exist; other quoted commands
    /// must be shell commands.
    func assertHintsExist(_ message: String, command: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var rest = message
        for quoted in message.matches(of: #/`([^`]*)`/#) {
            let span = String(quoted.output.1)
            rest = rest.replacingOccurrences(of: String(quoted.output.0), with: "")
            let words = span.split(separator: " ").map(String.init)
            guard words.first == "ngpt" else {
                XCTAssertTrue(["head", "tail", "swift"].contains(words.first ?? ""), "`\(span)` is no command: \(message)", file: file, line: line)
                continue
            }
            guard words.count > 1, let theirs = try options(of: words[1]) else {
                XCTFail("`\(span)` names no ngpt command: \(message)", file: file, line: line)
                continue
            }
            for w in words.dropFirst(2) where w.hasPrefix("--") {
                XCTAssertTrue(theirs.contains(w), "`ngpt \(words[1])` has no \(w): \(message)", file: file, line: line)
            }
        }
        // What the user typed is quoted back ('--stepz'); that is no hint.
        rest = rest.replacing(#/'--[^']*'/#, with: "")
        guard let mine = try options(of: command) else { return }
        for option in rest.matches(of: #/--[a-z][a-z0-9-]*/#).map({ String($0.output) }) {
            XCTAssertTrue(mine.contains(option), "`ngpt \(command)` has no \(option), which its message names: \(message)", file: file, line: line)
        }
    }

    func testNegativeNumbersAndUsageErrors() throws {
        let out = dir.appendingPathComponent("run").path
        try expectError(["train", "--data", data.path, "--out", out, "--steps", "-1"], "--steps must be at least 1, got -1")
        try expectError(["train", "--data", data.path, "--out", out, "--steps=-1"], "--steps must be at least 1, got -1")
        try expectError(["train", "--data", data.path, "--out", out, "--lr", "-0.5"], "--lr must be a positive number, got -0.5")
        try expectError(["sample", out, "--temperature", "-1"], "--temperature must be a finite number ≥ 0")
        try expectError(["train", "--config", dir.appendingPathComponent("missing.json").path, "--out", out], "HINT: check the path")
        try expectError(["ablate", "--data", data.path, "--out", dir.appendingPathComponent("ab").path, "--variants", "gpt,sz-scalar"],
                        "--variants lacks ngpt, the default nGPT every row's change is measured against")
        try expectError(["sample", out, "--temperature", "inf"], "--temperature must be a finite number ≥ 0 (0 is greedy), got inf")
        try expectError(["sample", out, "--prompt", "a", "--prompt-ids", "1"], "give --prompt (text) or --prompt-ids (token ids), not both")
        // bytes that are not UTF-8 reach the program only through a shell
        let raw = try runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \"$0\" sample \"$1\" --prompt \"$(printf 'a\\377')\"", binary.path, out])
        XCTAssertEqual(raw.status, 1, raw.stderr)
        XCTAssertTrue(raw.stderr.hasPrefix("Error: --prompt is not valid UTF-8"), raw.stderr)
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

        // Weights without ngpt's metadata, and a tensor name that is not there: the hints name
        // what `sample` and `cond` (or another command, quoted) can do.
        let plain = dir.appendingPathComponent("plain.safetensors")
        try SafeTensorsFile.write(model.parameters.dictionary, to: plain)
        try expectError(["sample", plain.path], "no model configuration")
        try expectError(["cond", plain.path, "--tensor", "lm_head.weigth"], "did you mean 'lm_head.weight'")

        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        try expectError(["sample", fifo.path], "is not a regular file")
        try expectError(["cond", "/dev/null"], "is not a regular file")
        try expectError(["prepare", fifo.path, "--out", dir.appendingPathComponent("d").path], "is not a regular file")
    }

    /// Every `--option` quoted in the sources exists; a message of a command's own file names
    /// only that command's options; "`ngpt CMD --opt`" names a command that exists and one of
    /// its options. (`sample` once hinted `--model --dim …`, `cond` a `names` command.)
    func testHintsNameOptionsAndCommandsThatExist() throws {
        let commands = ["info", "prepare", "train", "sample", "compare", "ablate", "inspect", "cond", "bench"]
        var options = [String: Set<String>]()
        let optionPattern = try NSRegularExpression(pattern: "--[a-z][a-z0-9-]*")
        func matches(_ re: NSRegularExpression, _ text: String) -> [String] {
            re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
        }
        for c in commands { options[c] = Set(matches(optionPattern, try runProcess(binary, [c, "--help"]).stdout)) }
        let all = options.values.reduce(Set<String>()) { $0.union($1) }

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let literal = try NSRegularExpression(pattern: #""(?:[^"\\]|\\.)*""#)
        let invocation = try NSRegularExpression(pattern: #"`ngpt ([a-z]+)((?: +(?:--[a-z][a-z0-9-]*|[A-Z][A-Z_]*|[0-9]+))*)"#)
        let files = FileManager.default.enumerator(at: root.appendingPathComponent("Sources"), includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        XCTAssertGreaterThan(files.count, 20)
        for file in files {
            let own = file.deletingLastPathComponent().lastPathComponent == "ngpt" ? file.deletingPathExtension().lastPathComponent.lowercased() : nil
            // (The Slurm script's #SBATCH lines are sbatch's options, not ngpt's.)
            for text in matches(literal, try String(contentsOf: file, encoding: .utf8)) where !text.contains("SBATCH") {
                for option in matches(optionPattern, text) {
                    XCTAssertTrue(all.contains(option), "\(file.lastPathComponent): \(option) is no option of any command: \(text)")
                    if let own, let mine = options[own] {
                        XCTAssertTrue(mine.contains(option), "\(file.lastPathComponent): \(option) is not an option of `ngpt \(own)`: \(text)")
                    }
                }
                for m in invocation.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let command = String(text[Range(m.range(at: 1), in: text)!])
                    guard let mine = options[command] else {
                        XCTFail("\(file.lastPathComponent): `ngpt \(command)` is no command: \(text)")
                        continue
                    }
                    for option in matches(optionPattern, String(text[Range(m.range(at: 2), in: text)!])) {
                        XCTAssertTrue(mine.contains(option), "\(file.lastPathComponent): `ngpt \(command)` has no \(option): \(text)")
                    }
                }
            }
        }
    }
}
