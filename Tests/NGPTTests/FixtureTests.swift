import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Checks both models against the reference fixtures (values of docs/model.md's definitions computed in float64):
/// every `*.safetensors` in `$NGPT_FIXTURES`, or in this target's `Fixtures/` folder when the
/// variable is unset. Tolerances are those of the fixtures' README:
/// logits and loss 1e-5 relative; each gradient within 1e-4 of its own max-abs value; `step1`
/// within 1e-5 absolute for ≥ 99.9 % of elements; trajectory losses 1e-3 relative.
final class FixtureTests: XCTestCase {
    static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["NGPT_FIXTURES"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    static func fixtureFiles() throws -> [URL] {
        let dir = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FixtureError("fixture directory \(dir.path) does not exist (set NGPT_FIXTURES to a folder of *.safetensors fixtures)")
        }
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "safetensors" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !files.isEmpty else { throw FixtureError("no *.safetensors fixtures in \(dir.path)") }
        return files
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ s: String) { description = s }
    }

    /// One fixture file: its configuration, starting weights, batch and reference values.
    struct Fixture {
        let name: String
        let file: SafeTensorsFile
        let config: ModelConfig
        let tokens: [Int], targets: [Int]
        let batch: Int, sequence: Int

        init(_ url: URL) throws {
            let name = url.lastPathComponent
            let file = try SafeTensorsFile(contentsOf: url)
            func int(_ key: String) throws -> Int {
                guard let s = file.metadata[key], let v = Int(s) else { throw FixtureError("\(name): metadata \(key) missing or not an integer") }
                return v
            }
            guard let kind = ModelKind(rawValue: file.metadata["model"] ?? "") else { throw FixtureError("\(name): metadata model is not gpt or ngpt") }
            self.name = name
            self.file = file
            config = ModelConfig(kind: kind, vocabularySize: try int("vocab_size"), width: try int("n_embd"),
                                 heads: try int("n_head"), layers: try int("n_layer"), context: try int("block_size"))
            batch = try int("batch")
            sequence = try int("block_size")
            tokens = try file.integers("input_tokens")
            targets = try file.integers("target_tokens")
        }

        func double(_ key: String) throws -> Double {
            guard let s = file.metadata[key], let v = Double(s) else { throw FixtureError("\(name): metadata \(key) missing or not a number") }
            return v
        }

        /// A model holding the fixture's starting weights.
        func model() throws -> Transformer {
            let m = try Transformer(config: config)
            var weights = [String: Tensor]()
            for name in file.names where m.layout.entry(name) != nil { weights[name] = try file.tensor(name) }
            try m.parameters.load(weights, source: name)
            return m
        }

        func optimizer(for m: Transformer) throws -> AdamW {
            let betas = (file.metadata["betas"] ?? "").split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard betas.count == 2 else { throw FixtureError("\(name): metadata betas is not two numbers") }
            return AdamW(layout: m.layout, weightDecay: Float(try double("weight_decay")), clip: Float(try double("grad_clip")),
                         beta1: betas[0], beta2: betas[1], epsilon: Float(try double("eps")))
        }
    }

    func testEveryFixture() throws {
        let files = try Self.fixtureFiles()
        for url in files {
            let f = try Fixture(url)
            try checkForwardAndBackward(f)
            try checkFirstStep(f)
            try checkTrajectory(f)
        }
    }

    func checkForwardAndBackward(_ f: Fixture) throws {
        let m = try f.model()
        let loss = try XCTUnwrap(try m.forward(tokens: f.tokens, targets: f.targets, batch: f.batch, sequence: f.sequence))
        let reference = try f.double("loss")
        XCTAssertEqual(Double(loss), reference, accuracy: 1e-5 * abs(reference), "\(f.name): loss")
        let logits = m.logits, want = try f.file.tensor("logits")
        let logitsError = logits.maxAbsDifference(want) / want.maxAbs
        XCTAssertLessThanOrEqual(logitsError, 1e-5, "\(f.name): logits differ by \(logitsError) of their max-abs value")
        m.zeroGradients()
        try m.backward()
        var report = ["\(f.name): logits max rel error \(logitsError)"]
        for e in m.layout.entries {
            let want = try f.file.tensor("grad." + e.name), got = m.gradients.tensor(e.name)!
            let err = got.maxAbsDifference(want) / max(want.maxAbs, .leastNormalMagnitude)
            report.append("  grad.\(e.name) \(err)")
            XCTAssertLessThanOrEqual(err, 1e-4, "\(f.name): grad.\(e.name) differs by \(err) of its max-abs value")
        }
        print(report.joined(separator: "\n"))
    }

    func checkFirstStep(_ f: Fixture) throws {
        let m = try f.model()
        let opt = try f.optimizer(for: m)
        try TrainingStep(model: m, optimizer: opt)(lr: Float(try f.double("step_lr")), batch: f.batch, sequence: f.sequence) {
            (f.tokens, f.targets)
        }
        var totalOff = 0, worst: Float = 0
        defer { print("\(f.name): step1 max abs error \(worst), \(totalOff) of \(m.layout.count) elements off by more than 1e-5") }
        for e in m.layout.entries {
            let want = try f.file.tensor("step1." + e.name), got = m.parameters.tensor(e.name)!
            let off = zip(got.scalars, want.scalars).filter { !(abs($0 - $1) <= 1e-5) }.count   // NaN counts as off
            totalOff += off
            worst = max(worst, got.maxAbsDifference(want))
            XCTAssertLessThanOrEqual(Double(off), 0.001 * Double(e.count),
                                     "\(f.name): step1.\(e.name) has \(off) of \(e.count) elements off by more than 1e-5")
        }
    }

    func checkTrajectory(_ f: Fixture) throws {
        guard let json = f.file.metadata["trajectory_losses"],
              let want = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Double] else {
            throw FixtureError("\(f.name): metadata trajectory_losses is not a JSON list of numbers")
        }
        let steps = Int(try f.double("trajectory_steps"))
        XCTAssertEqual(want.count, steps + 1, "\(f.name): trajectory length")
        let schedule = LearningRateSchedule(maxLR: try f.double("step_lr"), warmup: Int(try f.double("trajectory_warmup")), total: steps)
        let m = try f.model()
        let opt = try f.optimizer(for: m)
        let step = TrainingStep(model: m, optimizer: opt)
        var got = [Double]()
        for t in 0..<steps {
            got.append(try step(lr: Float(schedule.lr(at: t)), batch: f.batch, sequence: f.sequence) { (f.tokens, f.targets) }.loss)
        }
        got.append(Double(try m.forward(tokens: f.tokens, targets: f.targets, batch: f.batch, sequence: f.sequence)))
        for (t, (g, w)) in zip(got, want).enumerated() {
            XCTAssertEqual(g, w, accuracy: 1e-3 * abs(w), "\(f.name): trajectory loss \(t)")
        }
        print("\(f.name): trajectory max rel error \(zip(got, want).map { abs($0 - $1) / abs($1) }.max()!)")
    }

    /// The error listing the fixture directory gives, or nil if it succeeds.
    static func listingError() -> String? {
        do { _ = try fixtureFiles(); return nil } catch { return "\(error)" }
    }

    /// Runs `body` with NGPT_FIXTURES set to `value`, restoring what was there before.
    func withFixtureDirectory(_ value: String, _ body: () -> Void) {
        let saved = ProcessInfo.processInfo.environment["NGPT_FIXTURES"]
        setenv("NGPT_FIXTURES", value, 1)
        defer { if let saved { setenv("NGPT_FIXTURES", saved, 1) } else { unsetenv("NGPT_FIXTURES") } }
        body()
    }

    func testMissingFixtureDirectoryFails() {
        withFixtureDirectory("/nonexistent/fixtures") {
            XCTAssertTrue(Self.listingError()?.contains("does not exist") ?? false, "a missing fixture directory must fail")
        }
    }

    func testEmptyFixtureDirectoryFails() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ngpt-empty-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        withFixtureDirectory(dir.path) {
            XCTAssertTrue(Self.listingError()?.contains("no *.safetensors") ?? false, "an empty fixture directory must fail")
        }
    }
}
