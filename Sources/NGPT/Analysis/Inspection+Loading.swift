import Foundation

extension ModelConfig {
    /// The configuration a state dict's names and shapes imply (spec §1), for a file without
    /// ngpt's metadata — one written by PyTorch, say.
    ///
    /// - `V`, `d` from `transformer.wte.weight` (V, d); `L` from the largest `transformer.h.{l}`.
    /// - kind: GPT when `rmsnorm_f.weight` or `transformer.h.0.rmsnorm_att.weight` is present,
    ///   else nGPT.
    /// - nGPT scaler modes from their shapes: a full vector → `.vector`, shape `[1]` →
    ///   `.scalar`, absent → `.fixed`. `s_init` and `s_scale` cannot be seen in the weights and
    ///   take the spec's defaults: give the configuration explicitly if the run changed them.
    /// - `H` is not in the shapes at all and must be given. The context is not either; it takes
    ///   the default 256 (it does not affect any inspected number).
    ///
    /// - Throws: ``InspectionError`` when `wte` or the layers are missing, or `heads` is nil.
    public static func inferred(fromShapes shapes: [String: [Int]], heads: Int?, source: String = "the file") throws -> ModelConfig {
        guard let wte = shapes["transformer.wte.weight"], wte.count == 2 else {
            throw InspectionError("\(source): no 2-D transformer.wte.weight, so the model's shape cannot be inferred; it needs NVIDIA's state-dict names (spec §1)")
        }
        let (v, d) = (wte[0], wte[1])
        let layerIndices = Set(shapes.keys.compactMap { name -> Int? in
            guard name.hasPrefix("transformer.h.") else { return nil }
            return Int(name.dropFirst("transformer.h.".count).prefix { $0 != "." })
        })
        guard let last = layerIndices.max(), layerIndices.count == last + 1 else {
            throw InspectionError("\(source): the layers transformer.h.{l} are missing or not numbered 0..<L (found \(layerIndices.sorted()))")
        }
        let isGPT = shapes["rmsnorm_f.weight"] != nil || shapes["transformer.h.0.rmsnorm_att.weight"] != nil
        guard let heads else {
            throw InspectionError("\(source) has no ngpt configuration in its metadata; its shape was inferred (\(isGPT ? "gpt" : "ngpt"), d \(d), \(last + 1) layers, vocabulary \(v)) but the number of heads cannot be. HINT: pass --heads H")
        }
        var c = ModelConfig(kind: isGPT ? .gpt : .ngpt, vocabularySize: v, width: d, heads: heads, layers: last + 1)
        func mode(_ name: String) -> ScalerMode {
            guard let s = shapes[name] else { return .fixed }
            return s == [1] ? .scalar : .vector
        }
        if !isGPT {
            c.alpha.mode = mode("transformer.h.0.attn_alpha")
            c.sqk.mode = mode("transformer.h.0.sqk")
            c.suv.mode = mode("transformer.h.0.suv")
            c.sz.mode = mode("sz")
        }
        try c.validate()
        return c
    }
}

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
    /// configuration inferred by ``ModelConfig/inferred(fromShapes:heads:source:)``, which needs
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
        let file = try SafeTensorsFile(contentsOf: url)
        if file.metadata["config"] != nil {
            let (model, step, _) = try Checkpoint.loadModel(from: url)
            if let heads, heads != model.config.heads {
                throw InspectionError("--heads \(heads) contradicts the \(model.config.heads) heads recorded in \(url.path); omit --heads for files written by ngpt")
            }
            return InspectedCheckpoint(model: model, url: url, step: step, configInferred: false, strippedPrefix: "")
        }
        var prefix = ""
        for p in ["_orig_mod.", "module."] where !file.names.isEmpty && file.names.allSatisfy({ $0.hasPrefix(p) }) {
            prefix = p
        }
        var shapes = [String: [Int]]()
        for name in file.names { shapes[String(name.dropFirst(prefix.count))] = file.entries[name]!.shape }
        let config = try ModelConfig.inferred(fromShapes: shapes, heads: heads, source: url.path)
        let model = try Transformer(config: config)
        try model.parameters.load(Checkpoint.tensors(file, model.layout, prefix: prefix), source: url.path)
        return InspectedCheckpoint(model: model, url: url, step: file.metadata["step"].flatMap { Int($0) },
                                   configInferred: true, strippedPrefix: prefix)
    }
}
