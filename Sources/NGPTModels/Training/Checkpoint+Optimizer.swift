import Foundation
import NGPTNumerics

extension Checkpoint {
    /// Writes Adam's moments, the step and `state` (strings, e.g. the sampler's JSON).
    public static func saveOptimizer(_ optimizer: AdamW, state: [String: String], to url: URL) throws {
        var values = [String: Tensor]()
        for (name, t) in optimizer.firstMoment.namedTensors { values["exp_avg." + name] = t }
        for (name, t) in optimizer.secondMoment.namedTensors { values["exp_avg_sq." + name] = t }
        var metadata = state
        metadata["format"] = "swift-ngpt-adamw"
        metadata["step"] = String(optimizer.step)
        try SafeTensorsFile.write(values, metadata: metadata, to: url)
    }

    /// Restores moments and step into `optimizer`; returns the file's metadata.
    @discardableResult
    public static func loadOptimizer(into optimizer: AdamW, from url: URL) throws -> [String: String] {
        let file = try SafeTensorsFile(contentsOf: url)
        let isMoment = { (n: String) in n.hasPrefix("exp_avg.") || n.hasPrefix("exp_avg_sq.") }
        var first = [String: Tensor](), second = [String: Tensor]()
        for name in file.names {
            guard isMoment(name) else { throw CheckpointError("\(url.path): unexpected tensor \(ErrorText.cut(name)) in an optimizer checkpoint. HINT: give the optimizer.safetensors written by `ngpt train`") }
            if name.hasPrefix("exp_avg_sq.") { second[String(name.dropFirst("exp_avg_sq.".count))] = try file.tensor(name) }
            else { first[String(name.dropFirst("exp_avg.".count))] = try file.tensor(name) }
        }
        for (name, t) in first { try checkFinite(t, name: "exp_avg." + name, file: url.path) }
        for (name, t) in second { try checkFinite(t, name: "exp_avg_sq." + name, file: url.path) }
        try optimizer.firstMoment.load(first, source: url.path + " (exp_avg)")
        try optimizer.secondMoment.load(second, source: url.path + " (exp_avg_sq)")
        guard let step = file.metadata["step"].flatMap(Int.init), step >= 0 else {
            throw CheckpointError("\(url.path): metadata has no valid step")
        }
        optimizer.restore(step: step)
        return file.metadata
    }
}
