import NGPTNumerics

/// Parameters that do not fit a model: every problem found, reported at once (on one line).
public struct ParameterLoadError: Error, CustomStringConvertible, Equatable {
    public var missing: [String]
    public var unexpected: [String]
    /// (name, expected shape, found shape)
    public var wrongShape: [(String, [Int], [Int])]
    public var source: String

    public static func == (a: Self, b: Self) -> Bool {
        a.missing == b.missing && a.unexpected == b.unexpected && a.source == b.source
            && a.wrongShape.map { "\($0)" } == b.wrongShape.map { "\($0)" }
    }

    /// What does not match, without the hint (names cut, long lists shortened).
    public var problems: String {
        var parts = [String]()
        if !missing.isEmpty { parts.append("missing (\(missing.count)): " + ErrorText.list(missing)) }
        for (name, want, got) in wrongShape.prefix(8) { parts.append("\(ErrorText.cut(name)) has shape \(ErrorText.cut("\(got)")), the model needs \(want)") }
        if wrongShape.count > 8 { parts.append("\(wrongShape.count - 8) more of another shape") }
        if !unexpected.isEmpty { parts.append("not in the model (\(unexpected.count)): " + ErrorText.list(unexpected)) }
        return parts.joined(separator: "; ")
    }

    public var description: String {
        "parameters in \(source) do not match the model: " + problems
            + ". HINT: build the model with the configuration the weights were trained with (kind, width, heads, layers, vocabulary, scaler modes)"
    }
}

extension ParameterBuffer {
    /// Overwrites every parameter from `tensors` (name → tensor). Every name of the layout must be
    /// present with its exact shape; names in `tensors` that the layout lacks are reported unless
    /// `ignoring` says they are expected there (e.g. gradients stored beside the weights). All
    /// mismatches are collected and thrown together; nothing is written unless all match.
    public func load(_ tensors: [String: Tensor], source: String = "the given tensors",
                     ignoring isOther: (String) -> Bool = { _ in false }) throws {
        var error = ParameterLoadError(missing: [], unexpected: [], wrongShape: [], source: source)
        for e in layout.entries {
            guard let t = tensors[e.name] else { error.missing.append(e.name); continue }
            if t.shape != e.shape { error.wrongShape.append((e.name, e.shape, t.shape)) }
        }
        error.unexpected = tensors.keys.filter { layout.entry($0) == nil && !isOther($0) }.sorted()
        guard error.missing.isEmpty && error.unexpected.isEmpty && error.wrongShape.isEmpty else { throw error }
        for e in layout.entries { storage.write(tensors[e.name]!.scalars, at: e.offset) }
    }

    /// Every parameter by name.
    public var dictionary: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: namedTensors.map { ($0.name, $0.tensor) })
    }
}
