/// SwiGLU over a (N, 2F) buffer `uv` of u | ν: out (N, F) = u ⊙ SiLU(ν), SiLU(z) = z·σ(z).
/// With `scale` (2F) the inputs are first multiplied column-wise by `scale·multiplier`
/// (nGPT's `suv_eff · √d`); `uv` itself is left unscaled for backward. Rows run in parallel.
package func swigluForward(_ out: FloatPointer, _ uv: ConstFloatPointer, _ scale: ConstFloatPointer?,
                   multiplier: Float, rows n: Int, hidden f: Int) {
    Threads.parallelRanges(n, minimum: minimumRows(width: 4 * f)) { rows in
        for r in rows {
            let row = uv + r * 2 * f, o = out + r * f
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                var u = load(row + j, k, as: Vec16.self), v = load(row + f + j, k, as: Vec16.self)
                if let scale {
                    u *= load(scale + j, k, as: Vec16.self) * multiplier
                    v *= load(scale + f + j, k, as: Vec16.self) * multiplier
                }
                store(u * v * sigmoid(v), o + j, k)
            }
            vectorLoop(f, width: 16, lanes)
        }
    }
}

/// Backward of `out = u ⊙ ν·σ(ν)` with u, ν = uv ⊙ scale·m:
/// du = dout·SiLU(ν), dν = dout·u·σ(ν)(1 + ν(1 − σ(ν)));
/// duv += (du | dν)⊙scale·m, dscale += (du | dν)⊙uv·m.
/// With `recomputed` (N, F) the forward output u ⊙ SiLU(ν) is written there as well (the same
/// values as ``swigluForward``), so a caller that did not keep it needs no second pass. With
/// `overwrite` duv is written instead of accumulated (no zeroing for a buffer with one writer).
/// Runs in parallel over blocks of the F columns (u's and ν's together), each summing its
/// columns of dscale over the rows in order.
package func swigluBackward(_ duv: FloatPointer, _ dscale: FloatPointer?, _ dout: ConstFloatPointer,
                    _ uv: ConstFloatPointer, _ scale: ConstFloatPointer?,
                    multiplier m: Float, rows n: Int, hidden f: Int, recomputed: FloatPointer? = nil,
                    overwrite: Bool = false) {
    let scaled = scale != nil, sc = scale ?? uv
    Threads.parallelRanges(f, minimum: max(16, 8192 / max(1, n)), alignment: 16) { columns in
        for r in 0..<n {
            let row = uv + r * 2 * f, g = dout + r * f, d = duv + r * 2 * f, h = recomputed.map { $0 + r * f }
            var j = columns.lowerBound
            while j + 16 <= columns.upperBound {
                swigluBackwardLanes(j, 16, d, dscale, h, g, row, sc, scaled, m, f, overwrite)
                j += 16
            }
            if j < columns.upperBound {
                swigluBackwardLanes(j, columns.upperBound - j, d, dscale, h, g, row, sc, scaled, m, f, overwrite)
            }
        }
    }
}

/// Lanes j..<j+count (at most 16) of one row of ``swigluBackward`` (u at j, ν at f + j).
@inline(__always) private func swigluBackwardLanes(
    _ j: Int, _ k: Int, _ d: FloatPointer, _ dscale: FloatPointer?, _ h: FloatPointer?, _ g: ConstFloatPointer,
    _ row: ConstFloatPointer, _ scale: ConstFloatPointer, _ scaled: Bool, _ m: Float, _ f: Int, _ overwrite: Bool
) {
    let type = Vec16.self, one = Vec16(repeating: 1)
    let su = scaled ? load(scale + j, k, as: type) * m : one, sv = scaled ? load(scale + f + j, k, as: type) * m : one
    let (ru, rv, gj) = (load(row + j, k, as: type), load(row + f + j, k, as: type), load(g + j, k, as: type))
    let u = ru * su, v = rv * sv
    let sig = sigmoid(v)
    if let h { store(u * v * sig, h + j, k) }
    let du = gj * v * sig
    let dv = gj * u * sig * (1 + v * (1 - sig))
    store(overwrite ? du * su : load(d + j, k, as: type) + du * su, d + j, k)
    store(overwrite ? dv * sv : load(d + f + j, k, as: type) + dv * sv, d + f + j, k)
    if let dscale {
        store(load(dscale + j, k, as: type) + du * ru * m, dscale + j, k)
        store(load(dscale + f + j, k, as: type) + dv * rv * m, dscale + f + j, k)
    }
}
