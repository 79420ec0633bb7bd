// nGPT's normalisations: per-head q/k normalisation with `sqk`, and the normalised LERP
// residual `x ← Norm(Norm(x) + α ⊙ (Norm(h) − Norm(x)))` (docs/model.md §4), or its plain form
// `x ← x + α ⊙ (Norm(h) − x)` (§8).

/// Positions for a RoPE rotation fused into ``qkNormForward``: rows are positions
/// `start..<start + sequence` of consecutive sequences (`start` is 0 except when decoding one
/// position at a time with a key/value cache).
package struct Rotary {
    package let table: RoPETable
    package let sequence: Int
    package var start = 0

    package init(table: RoPETable, sequence: Int, start: Int = 0) {
        self.table = table
        self.sequence = sequence
        self.start = start
    }
}

/// q/k normalisation, in place on the first 2C columns (q | k) of a (N, ld) buffer:
/// per row and head, `unit = Norm(x_h)` (or `x_h` itself when `normalize` is false) is saved in
/// `unit` (N, 2C) with `rnorm` (N, 2H), and x_h is replaced by `scale[h·dk..<(h+1)·dk] ⊙ unit`.
/// q reads `scale` (C) and k reads `scale + kScaleOffset`: with the default 0 one scale serves
/// both (nGPT's s_qk), with C `scale` holds q's then k's (2C). With `rotary`, each head is first
/// rotated by RoPE (``ropeForward``) in the same pass. Rows run in parallel.
package func qkNormForward(_ x: FloatPointer, _ unit: FloatPointer, _ rnorm: FloatPointer,
                   _ scale: ConstFloatPointer, rows n: Int, width c: Int, heads h: Int,
                   rowStride ld: Int, normalize: Bool, rotary: Rotary? = nil, kScaleOffset: Int = 0) {
    let dk = c / h
    if let rotary { precondition(rotary.start + rotary.sequence <= rotary.table.positions && rotary.table.headWidth == dk, "RoPE table does not fit") }
    withRotaryTable(rotary) { cosBase, sinBase in
        Threads.parallelRanges(n, minimum: minimumRows(width: 2 * c)) { rows in
            for r in rows {
                for block in 0..<2 {
                    for head in 0..<h {
                        let col = block * c + head * dk
                        let v = x + r * ld + col, u = unit + r * 2 * c + col
                        let s = scale + block * kScaleOffset + head * dk
                        if let rotary {
                            let p = rotary.start + r % rotary.sequence
                            rotateHead(v, cosBase! + p * dk, sinBase! + p * dk, width: dk, inverse: false)
                        }
                        let rn: Float = normalize ? reciprocalNorm(v, dk) : 1
                        rnorm[r * 2 * h + block * h + head] = rn
                        @inline(__always) func lanes(_ j: Int, _ k: Int) {
                            let uj = load(v + j, k) * rn
                            store(uj, u + j, k)
                            store(load(s + j, k) * uj, v + j, k)
                        }
                        vectorLoop(dk, lanes)
                    }
                }
            }
        }
    }
}

/// Backward of `x_h = s ⊙ Norm(x_h)`, in place on the first 2C columns of `dx`:
/// ds += Σ dx⊙unit; with dn = dx⊙s, dx_pre = (dn − unit·(unit·dn))·rnorm
/// (or dn when not normalising), then rotated back by RoPE's inverse when `rotary` is given.
/// `dscale` is laid out as `scale` is (`kScaleOffset` as in ``qkNormForward``).
/// The incoming gradient is replaced, not accumulated: it is the only consumer of the rotated
/// q/k. ds sums rows in order (parallel over its columns); dx runs in parallel over rows.
package func qkNormBackward(_ dx: FloatPointer, _ dscale: FloatPointer, _ unit: ConstFloatPointer,
                    _ rnorm: ConstFloatPointer, _ scale: ConstFloatPointer,
                    rows n: Int, width c: Int, heads h: Int, rowStride ld: Int, normalize: Bool,
                    rotary: Rotary? = nil, kScaleOffset: Int = 0) {
    let dk = c / h
    // ds[j] += Σ_rows dq[j]·unit_q[j] + dk[j]·unit_k[j], before dx is overwritten.
    Threads.parallelRanges(c, minimum: 64, alignment: 16) { columns in
        let (j0, w) = (columns.lowerBound, columns.count)
        for r in 0..<n {
            for block in 0..<2 {
                let g = dx + r * ld + block * c + j0, u = unit + r * 2 * c + block * c + j0
                let ds = dscale + block * kScaleOffset + j0
                @inline(__always) func lanes(_ j: Int, _ k: Int) {
                    store(load(ds + j, k) + load(g + j, k) * load(u + j, k), ds + j, k)
                }
                vectorLoop(w, lanes)
            }
        }
    }
    withRotaryTable(rotary) { cosBase, sinBase in
        Threads.parallelRanges(n, minimum: minimumRows(width: 2 * c)) { rows in
            for r in rows {
                for block in 0..<2 {
                    for head in 0..<h {
                        let col = block * c + head * dk
                        let g = dx + r * ld + col, u = unit + r * 2 * c + col
                        let s = scale + block * kScaleOffset + head * dk
                        var un = Vec()
                        @inline(__always) func lanes2(_ j: Int, _ k: Int) {
                            let dn = load(g + j, k) * load(s + j, k)
                            store(dn, g + j, k)          // g is now dn
                            un += load(u + j, k) * dn
                        }
                        vectorLoop(dk, lanes2)
                        if normalize {
                            let rn = rnorm[r * 2 * h + block * h + head], unSum = un.sum()
                            @inline(__always) func lanes3(_ j: Int, _ k: Int) {
                                store((load(g + j, k) - load(u + j, k) * unSum) * rn, g + j, k)
                            }
                            vectorLoop(dk, lanes3)
                        }
                        if let rotary {
                            let p = rotary.start + r % rotary.sequence
                            rotateHead(g, cosBase! + p * dk, sinBase! + p * dk, width: dk, inverse: true)
                        }
                    }
                }
            }
        }
    }
}

/// Calls `body` with the cos/sin tables of `rotary` (nil pointers without it).
private func withRotaryTable(_ rotary: Rotary?, _ body: (ConstFloatPointer?, ConstFloatPointer?) -> Void) {
    guard let rotary else { return body(nil, nil) }
    rotary.table.cos.withUnsafeBufferPointer { c in
        rotary.table.sin.withUnsafeBufferPointer { s in body(c.baseAddress!, s.baseAddress!) }
    }
}

/// Row normalisation: out (N, C) = Norm(inp), rnorm (N) = 1/‖inp‖. `out` may be `inp`.
package func normalizeRows(_ out: FloatPointer, _ rnorm: FloatPointer, _ inp: ConstFloatPointer,
                   rows n: Int, width c: Int) {
    Threads.parallelRanges(n, minimum: minimumRows(width: c)) { rows in
        for r in rows {
            let rn = reciprocalNorm(inp + r * c, c)
            rnorm[r] = rn
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                store(load(inp + r * c + j, k) * rn, out + r * c + j, k)
            }
            vectorLoop(c, lanes)
        }
    }
}

/// The normalised LERP residual, per row:
/// a = Norm(x), b = Norm(h), out = Norm(a + α⊙(b − a)).
/// Without `normalize`, the plain LERP toward the unit branch output: a = x, out = a + α⊙(b − a).
/// Saves rnormX = 1/‖x‖, hUnit = b, rnormH = 1/‖h‖, rnormZ = 1/‖z‖ for backward (rnormX and
/// rnormZ are 1 without `normalize`). Rows run in parallel.
package func lerpResidualForward(_ out: FloatPointer, _ rnormX: FloatPointer, _ hUnit: FloatPointer,
                         _ rnormH: FloatPointer, _ rnormZ: FloatPointer,
                         _ x: ConstFloatPointer, _ h: ConstFloatPointer, _ alpha: ConstFloatPointer,
                         rows n: Int, width c: Int, normalize: Bool = true) {
    Threads.parallelRanges(n, minimum: minimumRows(width: c)) { rows in
        for r in rows {
            let xr = x + r * c, hr = h + r * c, br = hUnit + r * c, o = out + r * c
            let rx: Float = normalize ? reciprocalNorm(xr, c) : 1, rh = reciprocalNorm(hr, c)
            rnormX[r] = rx
            rnormH[r] = rh
            var zz = Vec()
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                let a = load(xr + j, k) * rx, b = load(hr + j, k) * rh
                store(b, br + j, k)
                let z = a + load(alpha + j, k) * (b - a)
                zz += z * z
                store(z, o + j, k)
            }
            vectorLoop(c, lanes)
            guard normalize else {
                rnormZ[r] = 1
                continue
            }
            let rz = 1 / (zz.sum().squareRoot() + normEpsilon)
            rnormZ[r] = rz
            @inline(__always) func lanes2(_ j: Int, _ k: Int) {
                store(load(o + j, k) * rz, o + j, k)
            }
            vectorLoop(c, lanes2)
        }
    }
}

/// Backward of `out = Norm(a + α⊙(b − a))`, a = Norm(x), b = Norm(h):
/// dz = (dout − out·(out·dout))·rnormZ; dα += dz⊙(b − a);
/// db = α⊙dz → dh += (db − b·(b·db))·rnormH; da = (1−α)⊙dz → dx += (da − a·(a·da))·rnormX.
/// Without `normalize` (`out = x + α⊙(b − x)`) the two projections drop out: dz = dout,
/// dx += (1−α)⊙dout, dα += dout⊙(b − x); the same loops run with rnormX = rnormZ = 1 and
/// out·dout = a·da = 0 (`out` is then only multiplied by 0).
/// `scratch` holds N floats (out·dout per row). With `overwriteDx`/`overwriteDh` that gradient is
/// written instead of accumulated (no zeroing pass before). dx, dh run in parallel over rows; dα sums rows in
/// order, in parallel over its columns.
package func lerpResidualBackward(_ dx: FloatPointer, _ dh: FloatPointer, _ dalpha: FloatPointer,
                          _ dout: ConstFloatPointer, _ out: ConstFloatPointer,
                          _ x: ConstFloatPointer, _ rnormX: ConstFloatPointer,
                          _ hUnit: ConstFloatPointer, _ rnormH: ConstFloatPointer,
                          _ rnormZ: ConstFloatPointer, _ alpha: ConstFloatPointer,
                          _ scratch: FloatPointer, rows n: Int, width c: Int, normalize: Bool = true,
                          overwriteDx: Bool = false, overwriteDh: Bool = false) {
    let outDotDout = scratch
    Threads.parallelRanges(n, minimum: minimumRows(width: c)) { rows in
        for r in rows {
            let g = dout + r * c, o = out + r * c, xr = x + r * c, b = hUnit + r * c
            let rx: Float = normalize ? rnormX[r] : 1, rz: Float = normalize ? rnormZ[r] : 1, rh = rnormH[r]
            let og: Float = normalize ? dot(o, g, c) : 0
            outDotDout[r] = og
            // (dz, db, da) are recomputed in the second loop rather than stored.
            var ada = Vec(), bdb = Vec()
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                let dz = (load(g + j, k) - load(o + j, k) * og) * rz
                let db = load(alpha + j, k) * dz
                ada += load(xr + j, k) * rx * (dz - db)
                bdb += load(b + j, k) * db
            }
            vectorLoop(c, lanes)
            let (adaSum, bdbSum) = (normalize ? ada.sum() : 0, bdb.sum())
            let dhr = dh + r * c, dxr = dx + r * c
            @inline(__always) func lanes2(_ j: Int, _ k: Int) {
                let dz = (load(g + j, k) - load(o + j, k) * og) * rz
                let db = load(alpha + j, k) * dz, da = dz - db
                let gh = (db - load(b + j, k) * bdbSum) * rh, gx = (da - load(xr + j, k) * rx * adaSum) * rx
                store(overwriteDh ? gh : load(dhr + j, k) + gh, dhr + j, k)
                store(overwriteDx ? gx : load(dxr + j, k) + gx, dxr + j, k)
            }
            vectorLoop(c, lanes2)
        }
    }
    Threads.parallelRanges(c, minimum: 64, alignment: 16) { columns in
        let (j0, w) = (columns.lowerBound, columns.count)
        for r in 0..<n {
            let g = dout + r * c + j0, o = out + r * c + j0, xr = x + r * c + j0, b = hUnit + r * c + j0
            let (og, rz, rx) = (outDotDout[r], normalize ? rnormZ[r] : 1, normalize ? rnormX[r] : 1)
            let da = dalpha + j0
            @inline(__always) func lanes3(_ j: Int, _ k: Int) {
                let dz = (load(g + j, k) - load(o + j, k) * og) * rz
                store(load(da + j, k) + dz * (load(b + j, k) - load(xr + j, k) * rx), da + j, k)
            }
            vectorLoop(w, lanes3)
        }
    }
}

/// Normalises the rows (or the columns) of a row-major matrix to unit length, in place:
/// rows in parallel, or columns in parallel blocks, each summing its squares over the rows in
/// order.
package func normalizeVectors(_ m: FloatPointer, rows: Int, columns: Int, alongRows: Bool) {
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
