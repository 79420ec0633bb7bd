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
        for (e, alongRows) in normalizedMatrices {
            normalizeVectors(p + e.offset, rows: e.shape[0], columns: e.shape[1], alongRows: alongRows)
        }
    }
}

/// Normalises the rows (or the columns) of a row-major matrix to unit length, in place.
func normalizeVectors(_ m: FloatPointer, rows: Int, columns: Int, alongRows: Bool) {
    if alongRows {
        for r in 0..<rows {
            let rn = reciprocalNorm(m + r * columns, columns)
            for j in 0..<columns { m[r * columns + j] *= rn }
        }
    } else {
        var ss = [Float](repeating: 0, count: columns)
        for r in 0..<rows { for j in 0..<columns { ss[j] += m[r * columns + j] * m[r * columns + j] } }
        let rn = ss.map { 1 / ($0.squareRoot() + normEpsilon) }
        for r in 0..<rows { for j in 0..<columns { m[r * columns + j] *= rn[j] } }
    }
}
