// Linear maps without bias, in PyTorch's layout: W is (O, I) and y = x·Wᵀ.

/// out (N, O) = inp (N, I) · Wᵀ, plus `beta`·out (beta = 1 adds into a residual stream).
func linearForward(_ out: FloatPointer, _ inp: ConstFloatPointer, _ weight: ConstFloatPointer,
                   rows n: Int, inputs i: Int, outputs o: Int, beta: Float = 0) {
    GEMM.multiply(inp, MatrixLayout(rows: n, columns: i), .none,
                  weight, MatrixLayout(rows: o, columns: i), .transposed,
                  out, MatrixLayout(rows: n, columns: o), beta: beta)
}

/// Backward of `out = inp·Wᵀ`: dinp (N, I) += dout·W; dweight (O, I) += doutᵀ·inp.
/// Either gradient may be skipped by passing nil. With `overwriteInput` dinp is written
/// (`dinp = dout·W`) instead of accumulated, which saves zeroing a buffer with no other writer.
/// On two threads the two products (equal in size) run side by side, each whole on one thread.
func linearBackward(_ dinp: FloatPointer?, _ dweight: FloatPointer?, _ dout: ConstFloatPointer,
                    _ inp: ConstFloatPointer, _ weight: ConstFloatPointer,
                    rows n: Int, inputs i: Int, outputs o: Int, overwriteInput: Bool = false) {
    func inputGradient(_ dinp: FloatPointer) {
        GEMM.multiply(dout, MatrixLayout(rows: n, columns: o), .none,
                      weight, MatrixLayout(rows: o, columns: i), .none,
                      dinp, MatrixLayout(rows: n, columns: i), beta: overwriteInput ? 0 : 1)
    }
    func weightGradient(_ dweight: FloatPointer) {
        GEMM.multiply(dout, MatrixLayout(rows: n, columns: o), .transposed,
                      inp, MatrixLayout(rows: n, columns: i), .none,
                      dweight, MatrixLayout(rows: o, columns: i), beta: 1)
    }
    if let dinp, let dweight, Threads.available(2) == 2, n * i * o >= GEMM.splitWork {
        Threads.parallelFor(2) { $0 == 0 ? inputGradient(dinp) : weightGradient(dweight) }
        return
    }
    if let dinp { inputGradient(dinp) }
    if let dweight { weightGradient(dweight) }
}
