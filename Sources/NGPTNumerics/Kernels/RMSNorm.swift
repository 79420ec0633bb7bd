/// RMSNorm epsilon of docs/model.md §3: `x / sqrt(mean(x²) + 1e-6)`.
package let rmsNormEpsilon: Float = 1e-6

/// out (N, C) = x · rstd ⊙ weight with rstd (N) = 1/sqrt(mean(x²) + 1e-6), saved for backward.
/// Rows run in parallel.
package func rmsNormForward(_ out: FloatPointer, _ rstd: FloatPointer, _ inp: ConstFloatPointer,
                    _ weight: ConstFloatPointer, rows n: Int, width c: Int) {
    Threads.parallelRanges(n, minimum: minimumRows(width: c)) { rows in
        for r in rows {
            let x = inp + r * c, y = out + r * c
            let s = 1 / (dot(x, x, c) / Float(c) + rmsNormEpsilon).squareRoot()
            rstd[r] = s
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                store(load(x + j, k) * s * load(weight + j, k), y + j, k)
            }
            vectorLoop(c, lanes)
        }
    }
}

/// Backward of `out = x·rstd⊙w`: with g = dout⊙w,
/// dx += rstd·g − x·rstd³·(g·x)/C and dw += Σ_rows dout⊙x·rstd.
/// dx runs in parallel over rows; dw over blocks of columns, summing rows in order.
package func rmsNormBackward(_ dinp: FloatPointer, _ dweight: FloatPointer, _ dout: ConstFloatPointer,
                     _ inp: ConstFloatPointer, _ weight: ConstFloatPointer, _ rstd: ConstFloatPointer,
                     rows n: Int, width c: Int) {
    Threads.parallelRanges(n, minimum: minimumRows(width: c)) { rows in
        for r in rows {
            let x = inp + r * c, g = dout + r * c, dx = dinp + r * c
            let s = rstd[r]
            var gx = Vec()
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                gx += load(g + j, k) * load(weight + j, k) * load(x + j, k)
            }
            vectorLoop(c, lanes)
            let f = s * s * s * gx.sum() / Float(c)
            @inline(__always) func lanes2(_ j: Int, _ k: Int) {
                store(load(dx + j, k) + s * load(g + j, k) * load(weight + j, k) - load(x + j, k) * f, dx + j, k)
            }
            vectorLoop(c, lanes2)
        }
    }
    Threads.parallelRanges(c, minimum: 64, alignment: 16) { columns in
        let (j0, w) = (columns.lowerBound, columns.count)
        for r in 0..<n {
            let x = inp + r * c + j0, g = dout + r * c + j0, dw = dweight + j0, s = rstd[r]
            @inline(__always) func lanes3(_ j: Int, _ k: Int) {
                store(load(dw + j, k) + load(g + j, k) * load(x + j, k) * s, dw + j, k)
            }
            vectorLoop(w, lanes3)
        }
    }
}
