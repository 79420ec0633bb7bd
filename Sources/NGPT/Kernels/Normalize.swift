// nGPT's normalisations: per-head q/k normalisation with `sqk`, and the normalised LERP
// residual `x ← Norm(Norm(x) + α ⊙ (Norm(h) − Norm(x)))` (spec §4).

/// q/k normalisation, in place on the first 2C columns (q | k) of a (N, ld) buffer:
/// per row and head, `unit = Norm(x_h)` (or `x_h` itself when `normalize` is false) is saved in
/// `unit` (N, 2C) with `rnorm` (N, 2H), and x_h is replaced by `scale[h·dk..<(h+1)·dk] ⊙ unit`.
/// The same `scale` (C) serves q and k.
func qkNormForward(_ x: FloatPointer, _ unit: FloatPointer, _ rnorm: FloatPointer,
                   _ scale: ConstFloatPointer, rows n: Int, width c: Int, heads h: Int,
                   rowStride ld: Int, normalize: Bool) {
    let dk = c / h
    for r in 0..<n {
        for block in 0..<2 {
            for head in 0..<h {
                let col = block * c + head * dk
                let v = x + r * ld + col, u = unit + r * 2 * c + col, s = scale + head * dk
                let rn: Float = normalize ? reciprocalNorm(v, dk) : 1
                rnorm[r * 2 * h + block * h + head] = rn
                for j in 0..<dk {
                    u[j] = v[j] * rn
                    v[j] = s[j] * u[j]
                }
            }
        }
    }
}

/// Backward of `x_h = s ⊙ Norm(x_h)`, in place on the first 2C columns of `dx`:
/// ds += Σ dx⊙unit; with dn = dx⊙s, dx_pre = (dn − unit·(unit·dn))·rnorm
/// (or dn when not normalising). The incoming gradient is replaced, not accumulated: it is
/// the only consumer of the rotated q/k.
func qkNormBackward(_ dx: FloatPointer, _ dscale: FloatPointer, _ unit: ConstFloatPointer,
                    _ rnorm: ConstFloatPointer, _ scale: ConstFloatPointer,
                    rows n: Int, width c: Int, heads h: Int, rowStride ld: Int, normalize: Bool) {
    let dk = c / h
    for r in 0..<n {
        for block in 0..<2 {
            for head in 0..<h {
                let col = block * c + head * dk
                let g = dx + r * ld + col, u = unit + r * 2 * c + col, s = scale + head * dk
                let ds = dscale + head * dk
                var un: Float = 0
                for j in 0..<dk {
                    ds[j] += g[j] * u[j]
                    g[j] *= s[j]               // g is now dn
                    un += u[j] * g[j]
                }
                if normalize {
                    let rn = rnorm[r * 2 * h + block * h + head]
                    for j in 0..<dk { g[j] = (g[j] - u[j] * un) * rn }
                }
            }
        }
    }
}

/// Row normalisation: out (N, C) = Norm(inp), rnorm (N) = 1/‖inp‖. `out` may be `inp`.
func normalizeRows(_ out: FloatPointer, _ rnorm: FloatPointer, _ inp: ConstFloatPointer,
                   rows n: Int, width c: Int) {
    for r in 0..<n {
        let rn = reciprocalNorm(inp + r * c, c)
        rnorm[r] = rn
        for j in 0..<c { out[r * c + j] = inp[r * c + j] * rn }
    }
}

/// The normalised LERP residual, per row:
/// a = Norm(x), b = Norm(h), out = Norm(a + α⊙(b − a)).
/// Saves rnormX = 1/‖x‖, hUnit = b, rnormH = 1/‖h‖, rnormZ = 1/‖z‖ for backward.
func lerpResidualForward(_ out: FloatPointer, _ rnormX: FloatPointer, _ hUnit: FloatPointer,
                         _ rnormH: FloatPointer, _ rnormZ: FloatPointer,
                         _ x: ConstFloatPointer, _ h: ConstFloatPointer, _ alpha: ConstFloatPointer,
                         rows n: Int, width c: Int) {
    for r in 0..<n {
        let xr = x + r * c, hr = h + r * c, br = hUnit + r * c, o = out + r * c
        let rx = reciprocalNorm(xr, c), rh = reciprocalNorm(hr, c)
        rnormX[r] = rx
        rnormH[r] = rh
        for j in 0..<c {
            let a = xr[j] * rx, b = hr[j] * rh
            br[j] = b
            o[j] = a + alpha[j] * (b - a)
        }
        let rz = reciprocalNorm(o, c)
        rnormZ[r] = rz
        for j in 0..<c { o[j] *= rz }
    }
}

/// Backward of `out = Norm(a + α⊙(b − a))`, a = Norm(x), b = Norm(h):
/// dz = (dout − out·(out·dout))·rnormZ; dα += dz⊙(b − a);
/// db = α⊙dz → dh += (db − b·(b·db))·rnormH; da = (1−α)⊙dz → dx += (da − a·(a·da))·rnormX.
/// `scratch` holds 2C floats per thread (here: one row at a time).
func lerpResidualBackward(_ dx: FloatPointer, _ dh: FloatPointer, _ dalpha: FloatPointer,
                          _ dout: ConstFloatPointer, _ out: ConstFloatPointer,
                          _ x: ConstFloatPointer, _ rnormX: ConstFloatPointer,
                          _ hUnit: ConstFloatPointer, _ rnormH: ConstFloatPointer,
                          _ rnormZ: ConstFloatPointer, _ alpha: ConstFloatPointer,
                          _ scratch: FloatPointer, rows n: Int, width c: Int) {
    let da = scratch, db = scratch + c
    for r in 0..<n {
        let g = dout + r * c, o = out + r * c, xr = x + r * c, b = hUnit + r * c
        let rx = rnormX[r], rz = rnormZ[r]
        let og = dot(o, g, c)
        var ada: Float = 0, bdb: Float = 0
        for j in 0..<c {
            let dz = (g[j] - o[j] * og) * rz
            let a = xr[j] * rx
            dalpha[j] += dz * (b[j] - a)
            db[j] = alpha[j] * dz
            da[j] = dz - db[j]
            ada += a * da[j]
            bdb += b[j] * db[j]
        }
        let rh = rnormH[r], dhr = dh + r * c, dxr = dx + r * c
        for j in 0..<c {
            dhr[j] += (db[j] - b[j] * bdb) * rh
            dxr[j] += (da[j] - xr[j] * rx * ada) * rx
        }
    }
}
