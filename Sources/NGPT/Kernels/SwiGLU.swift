import Foundation

/// SwiGLU over a (N, 2F) buffer `uv` of u | ν: out (N, F) = u ⊙ SiLU(ν), SiLU(z) = z·σ(z).
/// With `scale` (2F) the inputs are first multiplied column-wise by `scale·multiplier`
/// (nGPT's `suv_eff · √d`); `uv` itself is left unscaled for backward.
func swigluForward(_ out: FloatPointer, _ uv: ConstFloatPointer, _ scale: ConstFloatPointer?,
                   multiplier: Float, rows n: Int, hidden f: Int) {
    for r in 0..<n {
        let row = uv + r * 2 * f, o = out + r * f
        for j in 0..<f {
            var u = row[j], v = row[f + j]
            if let scale {
                u *= scale[j] * multiplier
                v *= scale[f + j] * multiplier
            }
            o[j] = u * v / (1 + expf(-v))
        }
    }
}

/// Backward of `out = u ⊙ ν·σ(ν)` with u, ν = uv ⊙ scale·m:
/// du = dout·SiLU(ν), dν = dout·u·σ(ν)(1 + ν(1 − σ(ν)));
/// duv += (du | dν)⊙scale·m, dscale += (du | dν)⊙uv·m.
func swigluBackward(_ duv: FloatPointer, _ dscale: FloatPointer?, _ dout: ConstFloatPointer,
                    _ uv: ConstFloatPointer, _ scale: ConstFloatPointer?,
                    multiplier m: Float, rows n: Int, hidden f: Int) {
    for r in 0..<n {
        let row = uv + r * 2 * f, g = dout + r * f, d = duv + r * 2 * f
        for j in 0..<f {
            let su = scale.map { $0[j] * m } ?? 1, sv = scale.map { $0[f + j] * m } ?? 1
            let u = row[j] * su, v = row[f + j] * sv
            let sig = 1 / (1 + expf(-v))
            let du = g[j] * v * sig
            let dv = g[j] * u * sig * (1 + v * (1 - sig))
            d[j] += du * su
            d[f + j] += dv * sv
            if let dscale {
                dscale[j] += du * row[j] * m
                dscale[f + j] += dv * row[f + j] * m
            }
        }
    }
}
