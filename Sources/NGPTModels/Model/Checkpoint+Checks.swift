import Foundation
import NGPTNumerics

// Files are untrusted: a configuration read from a file's metadata is checked against the
// file's own tensors before a model of that size is allocated, and weights are checked for
// NaN/±Inf as they are read.

extension Checkpoint {
    /// The prefixes PyTorch wrappers put before every parameter name: `torch.compile`'s
    /// `_orig_mod.` and DistributedDataParallel's `module.` (in either order when both apply).
    static let wrapperPrefixes = ["_orig_mod.", "module."]

    /// Whether `name` is an optimiser's state rather than a weight (PyTorch's Adam moments and
    /// step counts, or a state dict saved with its optimiser).
    static func isOptimizerState(_ name: String) -> Bool {
        let parts = name.split(separator: ".").map(String.init)
        return parts.contains { ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "param_groups", "optimizer", "optim", "state"].contains($0) }
            || name.hasSuffix(".step")
    }

    /// The wrapper prefixes (``wrapperPrefixes``, possibly both) that every weight of `file`
    /// carries, or "".
    package static func wrapperPrefix(of file: SafeTensorsFile) -> String {
        let weights = file.names.filter { !isOptimizerState($0) }
        var prefix = ""
        var changed = true
        while changed {
            changed = false
            for p in wrapperPrefixes where !weights.isEmpty && weights.allSatisfy({ $0.hasPrefix(prefix + p) }) {
                prefix += p
                changed = true
            }
        }
        return prefix
    }

    /// `file` as a model's state dict: the wrapper prefixes common to every weight removed, and
    /// tensors that are an optimiser's state left out (reported to `note`). A file holding
    /// nothing but optimiser state is refused as such.
    package static func modelView(_ file: SafeTensorsFile, note: ((String) -> Void)? = nil) throws -> SafeTensorsFile {
        let optimizer = file.names.filter(isOptimizerState)
        let weights = file.names.filter { !isOptimizerState($0) }
        if weights.isEmpty && !optimizer.isEmpty {
            throw CheckpointError("\(file.source) holds an optimiser's state (\(ErrorText.list(Array(optimizer.prefix(3))))), not model weights. HINT: give the model file (model.safetensors of a run, or the weights PyTorch saved with model.state_dict())")
        }
        let prefix = wrapperPrefix(of: file)
        guard !prefix.isEmpty || !optimizer.isEmpty else { return file }
        if !optimizer.isEmpty {
            note?("\(file.source): left out \(optimizer.count) tensor(s) of an optimiser's state saved beside the weights (\(ErrorText.list(Array(optimizer.prefix(3)))))")
        }
        if !prefix.isEmpty { note?("\(file.source): tensor names carry the prefix '\(prefix)' (torch.compile / DistributedDataParallel); read without it") }
        return file.renamed { name in isOptimizerState(name) ? nil : String(name.dropFirst(prefix.count)) }
    }

    /// Checks `c`, read from the metadata of `file`, against the file's tensors, with
    /// overflow-safe arithmetic, before anything of the model's size is allocated: the
    /// embedding fixes the vocabulary and width, every layer's query matrix must be there, and
    /// what the context costs (the rotary table, a decoder's key/value cache) must fit in memory.
    /// After this, every size the model computes is bounded by the file's length.
    static func checkConfiguration(_ c: ModelConfig, against file: SafeTensorsFile) throws {
        let path = file.source
        let damaged = "HINT: the metadata and the tensors of the file disagree (edited or damaged); re-create the file or use another one"
        func fail(_ what: String, _ hint: String = damaged) -> CheckpointError {
            CheckpointError("\(path): \(what). \(hint)")
        }
        guard c.vocabularySize >= 2, c.width >= 2, c.heads >= 1, c.layers >= 1, c.context >= 1 else {
            throw fail("the configuration in its metadata has a size below the minimum (vocabulary \(c.vocabularySize), width \(c.width), heads \(c.heads), layers \(c.layers), context \(c.context))",
                       "HINT: the metadata is damaged; re-create the file or use another one")
        }
        guard let wte = file.entries["transformer.wte.weight"] else {
            throw fail("it has no tensor transformer.wte.weight, which every model has")
        }
        guard wte.shape == [c.vocabularySize, c.width] else {
            throw fail("its metadata gives vocabulary \(c.vocabularySize) and width \(c.width), but transformer.wte.weight has shape \(ErrorText.cut("\(wte.shape)"))")
        }
        guard c.layers <= file.names.count else {
            throw fail("its metadata gives \(c.layers) layers but the file holds only \(file.names.count) tensors")
        }
        for l in 0..<c.layers {
            let name = "transformer.h.\(l).query.weight"
            guard let q = file.entries[name], q.shape == [c.width, c.width] else {
                let found = file.entries[name].map { "has shape \(ErrorText.cut("\($0.shape)"))" } ?? "is missing"
                throw fail("its metadata gives \(c.layers) layers of width \(c.width), but \(name) \(found)")
            }
        }
        guard c.width % c.heads == 0, (c.width / c.heads) % 2 == 0 else {
            throw fail("its metadata gives \(c.heads) heads for width \(c.width); the head width must be a whole, even number",
                       "HINT: the metadata is damaged; re-create the file or use another one")
        }
        // The rotary table (cos and sin, context × head width) is built with the model; decoding
        // keeps keys and values for the whole context (2 · layers · context · width).
        let perPosition = 2 * c.headWidth + 2 * c.layers * c.width   // bounded by the file's size
        let (floats, overflow) = c.context.multipliedReportingOverflow(by: perPosition)
        let available = ProcessInfo.processInfo.physicalMemory
        if overflow || floats > Int.max / 4 || UInt64(floats * 4) > available {
            let need = overflow || floats > Int.max / 4 ? "more than \(Int.max) bytes" : byteText(floats * 4)
            throw fail("its metadata gives context \(c.context), whose rotary table and key/value cache need \(need), more than this machine's memory (\(byteText(Int(clamping: available))))",
                       "HINT: the context in the metadata is damaged or far beyond this machine; re-create the file")
        }
        do { try c.validate() } catch let error as ModelConfigError {
            throw fail("the configuration in its metadata is invalid: \(error.message)")
        }
    }

    /// Reads the tensors of `file` (under `prefix`) that `layout` names. Every name and shape is
    /// checked from the header before any tensor is read, and each tensor is checked for NaN and
    /// ±Inf, which would make every output of the model NaN.
    ///
    /// - Throws: ``ParameterLoadError`` for missing, unexpected or misshapen tensors;
    ///   ``CheckpointError`` naming the tensor and element for a non-finite value.
    package static func tensors(_ file: SafeTensorsFile, _ layout: ParameterLayout, prefix: String = "") throws -> [String: Tensor] {
        var error = ParameterLoadError(missing: [], unexpected: [], wrongShape: [], source: file.source)
        for e in layout.entries {
            guard let entry = file.entries[prefix + e.name] else { error.missing.append(e.name); continue }
            if entry.shape != e.shape { error.wrongShape.append((e.name, e.shape, entry.shape)) }
        }
        error.unexpected = file.names.filter { $0.hasPrefix(prefix) && layout.entry(String($0.dropFirst(prefix.count))) == nil }
            .map { String($0.dropFirst(prefix.count)) }.sorted()
        guard error.missing.isEmpty && error.unexpected.isEmpty && error.wrongShape.isEmpty else { throw error }
        var out = [String: Tensor]()
        for e in layout.entries {
            let t = try file.tensor(prefix + e.name)
            try checkFinite(t, name: e.name, file: file.source)
            out[e.name] = t
        }
        return out
    }

    /// Throws a ``CheckpointError`` naming `name` and the element when `t` holds NaN or ±Inf.
    static func checkFinite(_ t: Tensor, name: String, file: String) throws {
        guard case let .nonFinite(row, column, value)? = LinearAlgebraError.firstNonFinite(t.scalars, columns: t.shape.last ?? 1) else { return }
        let at = t.shape.count >= 2 ? "element (\(row), \(column))" : "element \(row * (t.shape.last ?? 1) + column)"
        throw CheckpointError("\(file): tensor \(ErrorText.cut(name)) holds \(value) at \(at); the model would compute NaN. HINT: the weights come from a diverged run or a damaged file; use an earlier checkpoint or other weights")
    }

    static func byteText(_ bytes: Int) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var v = Double(bytes), u = 0
        while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
        return u == 0 ? "\(bytes) bytes" : String(format: "%.1f", v) + " " + units[u]
    }
}
