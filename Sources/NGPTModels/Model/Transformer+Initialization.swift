import NGPTNumerics
extension Transformer {
    /// Initialises every parameter as its ``ParameterSpec`` says, in buffer order from `rng`
    /// (docs/model.md §5), then runs the architecture's ``Architecture/afterUpdate(_:)`` (nGPT
    /// normalises its matrices, §6).
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
        architecture.afterUpdate(parameters)
    }

    /// The matrices whose d-long vectors the architecture keeps on the unit sphere, and the
    /// axis they lie along (docs/model.md §6); empty for GPT.
    public var normalizedMatrices: [(entry: ParameterEntry, alongRows: Bool)] {
        layout.entries.compactMap { e in e.spec.normalized ? (e, e.spec.vectors == .rows) : nil }
    }

    /// Makes the d-long vectors of every matrix unit length along its axis, whether or not the
    /// architecture keeps them so (for GPT: the inspection's renormalised comparison).
    public func normalizeMatrices() {
        for e in layout.entries where e.shape.count == 2 {
            guard let axis = e.spec.vectors else { continue }
            normalizeVectors(parameters.base + e.offset, rows: e.shape[0], columns: e.shape[1], alongRows: axis == .rows)
        }
    }
}
