/// RMSNorm epsilon of spec §3: `x / sqrt(mean(x²) + 1e-6)`.
let rmsNormEpsilon: Float = 1e-6

/// out (N, C) = x · rstd ⊙ weight with rstd (N) = 1/sqrt(mean(x²) + 1e-6), saved for backward.
func rmsNormForward(_ out: FloatPointer, _ rstd: FloatPointer, _ inp: ConstFloatPointer,
                    _ weight: ConstFloatPointer, rows n: Int, width c: Int) {
    for r in 0..<n {
        let x = inp + r * c, y = out + r * c
        let s = 1 / (dot(x, x, c) / Float(c) + rmsNormEpsilon).squareRoot()
        rstd[r] = s
        for j in 0..<c { y[j] = x[j] * s * weight[j] }
    }
}

/// Backward of `out = x·rstd⊙w`: with g = dout⊙w,
/// dx += rstd·g − x·rstd³·(g·x)/C and dw += Σ_rows dout⊙x·rstd.
func rmsNormBackward(_ dinp: FloatPointer, _ dweight: FloatPointer, _ dout: ConstFloatPointer,
                     _ inp: ConstFloatPointer, _ weight: ConstFloatPointer, _ rstd: ConstFloatPointer,
                     rows n: Int, width c: Int) {
    for r in 0..<n {
        let x = inp + r * c, g = dout + r * c, dx = dinp + r * c
        let s = rstd[r]
        var gx: Float = 0
        for j in 0..<c {
            gx += g[j] * weight[j] * x[j]
            dweight[j] += g[j] * x[j] * s
        }
        let k = s * s * s * gx / Float(c)
        for j in 0..<c { dx[j] += s * g[j] * weight[j] - x[j] * k }
    }
}
