import Foundation
import NGPTNumerics
import NGPTModels

/// A model read for inspection, and what is known about where it came from.
public struct InspectedCheckpoint {
    public var model: Transformer
    /// The model file read.
    public var url: URL
    public var step: Int?
    /// Whether the configuration was inferred from shapes rather than read from the metadata.
    public var configInferred: Bool
    /// The prefix removed from every tensor name (`_orig_mod.` from `torch.compile`, `module.`
    /// from DistributedDataParallel), or empty.
    public var strippedPrefix: String

    /// Reads `path`: a run directory (its `model.safetensors`) or a `.safetensors` file.
    ///
    /// A file written by ngpt carries its configuration, which is used (and `heads`, if given,
    /// must agree with it). Any other file (NVIDIA's names, e.g. from PyTorch) has its
    /// configuration inferred by ``/NGPTModels/ModelConfig/inferred(fromShapes:heads:source:)``, which needs
    /// `heads`; a common `_orig_mod.` or `module.` prefix on every name is removed first.
    public static func load(_ path: String, heads: Int? = nil) throws -> InspectedCheckpoint {
        var url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw InspectionError("\(path) does not exist; give a run directory (from `ngpt train`) or a model .safetensors file")
        }
        if isDirectory.boolValue {
            url = url.appendingPathComponent(Checkpoint.modelFile)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw InspectionError("\(path) is a directory without \(Checkpoint.modelFile); give a run directory (from `ngpt train`) or a model .safetensors file")
            }
        }
        let read = try SafeTensorsFile(contentsOf: url)
        let file = try Checkpoint.modelView(read)
        let prefix = Checkpoint.wrapperPrefix(of: read)
        if file.metadata["config"] != nil {
            let (model, step, _) = try Checkpoint.loadModel(from: url, note: { FileHandle.standardError.write(Data(("note: " + $0 + "\n").utf8)) })
            if let heads, heads != model.config.heads {
                throw InspectionError("--heads \(heads) contradicts the \(model.config.heads) heads recorded in \(url.path); omit --heads for files written by ngpt")
            }
            return InspectedCheckpoint(model: model, url: url, step: step, configInferred: false, strippedPrefix: prefix)
        }
        var shapes = [String: [Int]]()
        for name in file.names { shapes[name] = file.entries[name]!.shape }
        let config = try ModelConfig.inferred(fromShapes: shapes, heads: heads, source: url.path)
        let model = try Transformer(config: config)
        try model.parameters.load(Checkpoint.tensors(file, model.layout), source: url.path)
        return InspectedCheckpoint(model: model, url: url, step: file.metadata["step"].flatMap { Int($0) },
                                   configInferred: true, strippedPrefix: prefix)
    }
}
