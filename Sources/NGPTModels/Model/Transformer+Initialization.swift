import NGPTNumerics
extension Transformer {
    /// Initialises every parameter as its ``ParameterSpec`` says, in buffer order from `rng`
    /// (docs/model.md §5), then runs the architecture's ``Architecture/afterInitialization(_:)``
    /// (nGPT normalises its matrices, §6).
    public func initializeParameters(using rng: inout SeededGenerator) {
        for e in layout.entries {
            var values = [Float](repeating: 0, count: e.count)
            switch e.spec.initialization {
            case .normal(let std):
                for i in values.indices { values[i] = Float(rng.nextNormal() * std) }
            case .constant(let value):
                values = [Float](repeating: value, count: e.count)
            }
            parameters.storage.write(values, at: e.offset)
        }
        architecture.afterInitialization(parameters)
    }

    /// The matrices whose d-long vectors the architecture keeps on the unit sphere, and the
    /// axis they lie along (docs/model.md §6); empty for GPT and for an nGPT without
    /// ``ModelConfig/weightNormalization``.
    public var normalizedMatrices: [(entry: ParameterEntry, alongRows: Bool)] {
        layout.entries.compactMap { e in e.spec.normalized ? (e, e.spec.vectors == .rows) : nil }
    }

    /// Makes the d-long vectors of every matrix unit length along its axis, whether or not the
    /// architecture keeps them so (for GPT: the inspection's renormalised comparison).
    public func normalizeMatrices() {
        parameters.normalizeMatrices { _ in true }
    }
}
