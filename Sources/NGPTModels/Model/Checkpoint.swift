import Foundation
import NGPTNumerics

/// Why a checkpoint could not be read or does not fit.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// Model and optimiser checkpoints as safetensors files. A model file is the model's own format
/// (here); the optimiser's moments are training's (`Checkpoint+Optimizer.swift`).
///
/// `model.safetensors` holds the parameters under their spec names with `__metadata__`
/// `format = swift-ngpt`, `config` (the ``ModelConfig`` as JSON), `model` (the architecture's
/// name: gpt, ngpt or one a program registered, ``ArchitectureRegistry``), its
/// `architecture_options` when it has any, and `step`;
/// it loads in PyTorch as NVIDIA's state dict. `optimizer.safetensors` holds Adam's moments as
/// `exp_avg.<name>` and `exp_avg_sq.<name>` with `step` and caller-supplied state (sampler, RNG)
/// in its metadata. Each file is written atomically (temporary file, fsync, rename).
public enum Checkpoint {
    public static let modelFile = "model.safetensors"
    public static let optimizerFile = "optimizer.safetensors"

    /// Writes the model's parameters and configuration.
    public static func saveModel(_ model: Transformer, step: Int, metadata extra: [String: String] = [:], to url: URL) throws {
        var metadata = extra
        metadata["format"] = "swift-ngpt"
        metadata["model"] = model.architecture.name
        if let options = (model.architecture as? any RegisteredArchitecture)?.encodedOptions { metadata["architecture_options"] = options }
        metadata["config"] = try jsonString(model.config)
        metadata["step"] = String(step)
        try SafeTensorsFile.write(model.parameters.dictionary, metadata: metadata, to: url)
    }

    /// Reads a model written by ``saveModel(_:step:metadata:to:)``. A file without a `config`
    /// (one written by PyTorch, say) needs `config`. A configuration from the metadata is checked
    /// against the file's tensors before the model is allocated; every tensor must be finite.
    ///
    /// Weights saved by PyTorch wrappers load too: a `_orig_mod.` or `module.` prefix (or both) on
    /// every name is removed and an optimiser's state saved beside the weights is left out, each
    /// reported to `note`.
    public static func loadModel(from url: URL, config given: ModelConfig? = nil, note: ((String) -> Void)? = nil) throws -> (model: Transformer, step: Int, metadata: [String: String]) {
        try loadModel(SafeTensorsFile(contentsOf: url), config: given, note: note)
    }

    /// ``loadModel(from:config:note:)`` of a file already read (the fuzz test's in-memory files).
    static func loadModel(_ read: SafeTensorsFile, config given: ModelConfig? = nil, note: ((String) -> Void)? = nil) throws -> (model: Transformer, step: Int, metadata: [String: String]) {
        let file = try modelView(read, note: note)
        let config: ModelConfig
        if let given {
            config = given
        } else if let json = file.metadata["config"] {
            do { config = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)) } catch {
                throw CheckpointError("\(file.source): the model configuration in its metadata is unreadable (\(ErrorText.reason(error))). HINT: the file is damaged; re-create it or use another one")
            }
            try checkConfiguration(config, against: file)
        } else {
            throw CheckpointError("\(file.source) has no model configuration in its metadata (not written by ngpt?). HINT: `ngpt sample` reads models written by `ngpt train`; other weights can be read by `ngpt inspect FILE --heads H` and `ngpt cond FILE`, or trained further with `ngpt train --init FILE` and their shape")
        }
        let architecture: any Architecture
        if given == nil, let name = file.metadata["model"] {
            guard ArchitectureRegistry.entry(named: name) != nil else { throw ArchitectureRegistry.unknown(name, in: file.source) }
            do {
                architecture = try ArchitectureRegistry.architecture(named: name, config: config, options: file.metadata["architecture_options"])
            } catch let e as ArchitectureError {
                throw CheckpointError("\(file.source): \(e.message). HINT: the file was edited or damaged; re-create it or use another one")
            }
        } else {
            architecture = config.architecture()
        }
        let model = try Transformer(architecture: architecture)
        do {
            try model.parameters.load(tensors(file, model.layout), source: file.source)
        } catch let error as ParameterLoadError where given == nil {
            throw CheckpointError("\(file.source): its tensors do not match the configuration in its own metadata: \(error.problems). HINT: the file was edited or damaged; re-create it or use another one")
        }
        let step = file.metadata["step"].map { Int($0) ?? -1 } ?? 0
        guard step >= 0 else {
            throw CheckpointError("\(file.source): the step in its metadata is '\(ErrorText.cut(file.metadata["step"]!))', not a count of steps. HINT: the file is damaged; re-create it or use another one")
        }
        return (model, step, file.metadata)
    }

    static func jsonString<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
