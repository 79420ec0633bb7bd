extension Transformer {
    /// Initialises every parameter per spec §5 from `rng`, in layout order: matrices and `wte`
    /// ~ N(0, σ) with σ = 0.02 (GPT) or 1/√d (nGPT), the two output projections with
    /// σ/√(2L); RMSNorm weights 1; nGPT scalers at their `s_scale`. nGPT's matrices are then
    /// normalised (§6).
    public func initializeParameters(using rng: inout SeededGenerator) {
        let c = config
        let base = c.kind == .gpt ? 0.02 : 1 / Double(c.width).squareRoot()
        let projection = base / (2 * Double(c.layers)).squareRoot()
        for e in layout.entries {
            var values = [Float](repeating: 0, count: e.count)
            if e.shape.count == 2 {
                let std = e.name.hasSuffix("c_proj.weight") ? projection : base
                for i in values.indices { values[i] = Float(rng.nextNormal() * std) }
            } else {
                values = [Float](repeating: vectorInitialValue(e.name), count: e.count)
            }
            parameters.storage.write(values, at: e.offset)
        }
        if c.kind == .ngpt { normalizeWeights() }
    }

    private func vectorInitialValue(_ name: String) -> Float {
        if name.hasPrefix("rmsnorm") || name.contains(".rmsnorm_") { return 1 }
        if name.hasSuffix("_alpha") { return config.alpha.scale }
        if name.hasSuffix(".sqk") { return config.sqk.scale }
        if name.hasSuffix(".suv") { return config.suv.scale }
        if name == "sz" { return config.sz.scale }
        preconditionFailure("no initial value for vector parameter \(name)")
    }

    /// The matrices nGPT keeps on the unit sphere (spec §6) and the axis their d-long vectors lie
    /// along: rows of `wte`, `lm_head`, `query`, `key`, `value`, `c_fc`; columns of
    /// `att_c_proj` and `mlp_c_proj`.
    public var normalizedMatrices: [(entry: ParameterEntry, alongRows: Bool)] {
        layout.entries.compactMap { e in
            guard e.shape.count == 2 else { return nil }
            return (e, !e.name.hasSuffix("c_proj.weight"))
        }
    }

    /// Makes every d-long vector of the normalised matrices unit length (spec §6). nGPT runs it
    /// before the first step and after every optimiser step; it is a separate step, not part of
    /// the graph.
    public func normalizeWeights() {
        let p = parameters.base
        for e in layout.entries where e.shape.count == 2 {
            normalizeVectors(p + e.offset, rows: e.shape[0], columns: e.shape[1],
                             alongRows: !e.name.hasSuffix("c_proj.weight"))
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
