import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// GPT with its attention output scaled: a registered architecture with options of its own, as a
/// program outside the library would write one.
struct ScaledGPT: RegisteredArchitecture {
    struct Options: Codable, Sendable, Equatable { var label: String }
    static let registeredName = "scaled-gpt-test"
    static let summary = "GPT under another name, with options (tests)"
    static let baseKind = ModelKind.gpt
    let base: GPTArchitecture
    let options: Options
    init(config: ModelConfig, options: Options) throws {
        base = GPTArchitecture(config: config)
        self.options = options
    }
    var config: ModelConfig { base.config }
    var name: String { Self.registeredName }
    var recipe: TrainingRecipe { base.recipe }
    var parameters: [ParameterSpec] { base.parameters }
    func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        base.makeBlock(layer: layer, layout: layout, plan: &plan)
    }
    func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead { base.makeHead(layout: layout, plan: &plan) }
    func afterUpdate(_ parameters: ParameterBuffer) {}
}

/// An architecture nobody registers.
struct UnregisteredGPT: Architecture {
    let base: GPTArchitecture
    var config: ModelConfig { base.config }
    var name: String { "nobody-registers-this" }
    var recipe: TrainingRecipe { base.recipe }
    var parameters: [ParameterSpec] { base.parameters }
    func makeBlock(layer: Int, layout: ParameterLayout, plan: inout ActivationPlan) -> any TransformerBlock {
        base.makeBlock(layer: layer, layout: layout, plan: &plan)
    }
    func makeHead(layout: ParameterLayout, plan: inout ActivationPlan) -> any ModelHead { base.makeHead(layout: layout, plan: &plan) }
    func afterUpdate(_ parameters: ParameterBuffer) {}
}

/// Architectures by name: model files and run configurations record the name and options, and
/// the registry builds the architecture back; a name this program does not know is refused.
final class ArchitectureRegistryTests: CommandTestCase {
    let shape = ModelConfig(kind: .gpt, width: 16, heads: 2, layers: 1, context: 8)

    func testAModelFileNamesItsArchitectureAndOptions() throws {
        ArchitectureRegistry.register(ScaledGPT.self)
        XCTAssertEqual(ArchitectureRegistry.known.prefix(2).map(\.name), ["gpt", "ngpt"])
        XCTAssertNotNil(ArchitectureRegistry.entry(named: "scaled-gpt-test"))
        let model = try Transformer(architecture: ScaledGPT(config: shape, options: .init(label: "x y")), seed: 3)
        let url = dir.appendingPathComponent("scaled.safetensors")
        try Checkpoint.saveModel(model, step: 7, to: url)
        let (loaded, step, metadata) = try Checkpoint.loadModel(from: url)
        XCTAssertEqual(step, 7)
        XCTAssertEqual(metadata["model"], "scaled-gpt-test")
        XCTAssertEqual(metadata["architecture_options"], #"{"label":"x y"}"#)
        let built = try XCTUnwrap(loaded.architecture as? ScaledGPT)
        XCTAssertEqual(built.options.label, "x y")
        XCTAssertEqual(loaded.parameters.dictionary.mapValues(\.scalars), model.parameters.dictionary.mapValues(\.scalars))
        // a run configuration names it too, and builds it back
        let run = RunConfiguration(model: shape, training: TrainingOptions(recipe: .gpt, steps: 2), data: "/d",
                                   architecture: "scaled-gpt-test", architectureOptions: #"{"label":"z"}"#)
        XCTAssertEqual((try run.makeArchitecture() as? ScaledGPT)?.options.label, "z")
        let decoded = try JSONDecoder().decode(RunConfiguration.self, from: JSONEncoder().encode(run))
        XCTAssertEqual(decoded, run)
        XCTAssertThrowsError(try RunConfiguration(model: shape, training: run.training, data: "/d", architecture: "scaled-gpt-test",
                                                  architectureOptions: "{").makeArchitecture()) {
            XCTAssertTrue("\($0)".contains("options of architecture scaled-gpt-test are unreadable"), "\($0)")
        }
    }

    /// Files written before architectures had names decode as gpt/ngpt and write the same bytes.
    func testOlderFilesKeepTheirBytes() throws {
        let run = RunConfiguration(model: shape, training: TrainingOptions(recipe: .gpt, steps: 2), data: "/d", architecture: "gpt")
        XCTAssertNil(run.architecture, "the library's own model of the kind is not written")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(run), as: UTF8.self)
        XCTAssertFalse(json.contains("architecture"), json)
        XCTAssertEqual(try JSONDecoder().decode(RunConfiguration.self, from: Data(json.utf8)).architectureName, "gpt")
        let url = dir.appendingPathComponent("ngpt.safetensors")
        var c = shape
        c.kind = .ngpt
        try Checkpoint.saveModel(try Transformer(config: c, seed: 1), step: 0, to: url)
        let (loaded, _, metadata) = try Checkpoint.loadModel(from: url)
        XCTAssertEqual(metadata["model"], "ngpt")
        XCTAssertNil(metadata["architecture_options"])
        XCTAssertTrue(loaded.architecture is NGPTArchitecture)
    }

    /// A model file of an architecture the running program does not know is refused, naming it
    /// and saying how to get a program that knows it — in the library and by the `ngpt` tool.
    func testAnUnknownArchitectureIsRefusedByName() throws {
        let url = dir.appendingPathComponent("unknown.safetensors")
        try Checkpoint.saveModel(try Transformer(architecture: UnregisteredGPT(base: GPTArchitecture(config: shape)), seed: 1), step: 0, to: url)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: url)) {
            XCTAssertTrue("\($0)".contains("'nobody-registers-this' is not known to this program (it knows gpt, ngpt"), "\($0)")
        }
        for command in [["sample", url.path, "--tokens", "2"], ["inspect", url.path, "--out", dir.appendingPathComponent("i").path]] {
            let r = try runProcess(binary, command)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("'nobody-registers-this' is not known to this program")
                && r.stderr.contains("NGPTCommand.main(registering:"), r.stderr)
        }
        let train = try runProcess(binary, ["train", "--data", data.path, "--out", dir.appendingPathComponent("r").path, "--model", "qknorm-gpt"])
        XCTAssertEqual(train.status, 1)
        XCTAssertTrue(train.stderr.contains("'qknorm-gpt' is not known to this program (it knows gpt, ngpt)"), train.stderr)
        let info = try runProcess(binary, ["info"])
        XCTAssertTrue(info.stdout.contains("architectures:    gpt") && info.stdout.contains("ngpt "), info.stdout)
    }

    /// A run file naming an unknown architecture is refused before anything trains.
    func testARunFileNamingAnUnknownArchitectureIsRefused() throws {
        let run = RunConfiguration(model: shape, training: TrainingOptions(recipe: .gpt, steps: 2), data: data.path,
                                   architecture: "nobody-registers-this")
        let file = dir.appendingPathComponent("run.json")
        try JSONEncoder().encode(run).write(to: file)
        let r = try runProcess(binary, ["train", "--config", file.path, "--out", dir.appendingPathComponent("out").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("'nobody-registers-this' is not known"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/checkpoints").path))
    }
}
