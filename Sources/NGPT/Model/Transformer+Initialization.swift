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

/// Normalises the rows (or the columns) of a row-major matrix to unit length, in place:
/// rows in parallel, or columns in parallel blocks, each summing its squares over the rows in
/// order.
func normalizeVectors(_ m: FloatPointer, rows: Int, columns: Int, alongRows: Bool) {
    if alongRows {
        Threads.parallelRanges(rows, minimum: minimumRows(width: columns)) { range in
            for r in range {
                let row = m + r * columns, rn = reciprocalNorm(row, columns)
                @inline(__always) func lanes(_ j: Int, _ k: Int) {
                    store(load(row + j, k) * rn, row + j, k)
                }
                vectorLoop(columns, lanes)
            }
        }
        return
    }
    Threads.parallelRanges(columns, minimum: 64, alignment: 16) { range in
        // Strips of 16 columns (one cache line per row): Σ squares down the rows, then scale.
        var j = range.lowerBound
        while j < range.upperBound {
            let (k0, k1) = (min(8, range.upperBound - j), max(0, min(8, range.upperBound - j - 8)))
            var s0 = Vec(), s1 = Vec()
            for r in 0..<rows {
                let a = load(m + r * columns + j, k0), b = load(m + r * columns + j + 8, k1)
                s0 += a * a
                s1 += b * b
            }
            let r0 = 1 / (s0.squareRoot() + normEpsilon), r1 = 1 / (s1.squareRoot() + normEpsilon)
            for r in 0..<rows {
                let row = m + r * columns + j
                store(load(row, k0) * r0, row, k0)
                if k1 > 0 { store(load(row + 8, k1) * r1, row + 8, k1) }
            }
            j += 16
        }
    }
}
