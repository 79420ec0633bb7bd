// The only file of the library that calls OpenBLAS and LAPACKE. Everything above it uses
// these thin, typed wrappers, so the C interface (and its integer widths) stays in one place.
internal import _COpenBLAS

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable, Equatable {
    case none
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

enum BLAS {
    /// `c = alpha·op(a)·op(b) + beta·c`, row-major; `op(a)` is m×k, `op(b)` is k×n, `c` is m×n.
    @inline(__always)
    static func sgemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas,
            blasint(m), blasint(n), blasint(k), alpha,
            a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// `y = alpha·op(a)·x + beta·y`, row-major `a` of m×n (`op(a)` is n×m when transposed).
    @inline(__always)
    static func sgemv(
        _ trans: Transpose, m: Int, n: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, incx: Int,
        beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
    ) {
        cblas_sgemv(CblasRowMajor, trans.cblas, blasint(m), blasint(n), alpha,
                    a, blasint(lda), x, blasint(incx), beta, y, blasint(incy))
    }

    /// Singular values (descending) of a row-major m×n Double matrix, which is overwritten.
    /// Returns LAPACK's `info`.
    static func dgesddValues(
        _ a: UnsafeMutablePointer<Double>, m: Int, n: Int, into s: UnsafeMutablePointer<Double>
    ) -> Int {
        // With jobz = "N" neither U nor Vᵀ is referenced, but LAPACKE's row-major wrapper still
        // rejects ldvt < n (info = -11), so the dummy Vᵀ is declared n wide.
        var u = 0.0
        var vt = 0.0
        let info = LAPACKE_dgesdd(
            LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int32(m), Int32(n),
            a, Int32(n), s, &u, 1, &vt, Int32(max(1, n)))
        return Int(info)
    }

    /// The upper triangle of `c = aᵀ·a` (n×n) for a row-major m×n Double matrix `a`, by `dsyrk`.
    static func dsyrkGram(_ a: UnsafePointer<Double>, m: Int, n: Int, into c: UnsafeMutablePointer<Double>) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(n), blasint(m),
                    1, a, blasint(max(1, n)), 0, c, blasint(max(1, n)))
    }

    /// Eigenvalues (ascending) of a symmetric row-major n×n Double matrix, which is overwritten.
    /// Returns LAPACK's `info`.
    static func dsyevdValues(
        _ a: UnsafeMutablePointer<Double>, n: Int, into w: UnsafeMutablePointer<Double>
    ) -> Int {
        Int(LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int8(UInt8(ascii: "U")),
            Int32(n), a, Int32(n), w))
    }

    /// Householder QR of a row-major m×n (m ≥ n) Double matrix, replaced by the explicit
    /// m×n orthonormal factor Q. Returns LAPACK's `info` (of the first routine that failed).
    static func dorthonormalFactor(_ a: UnsafeMutablePointer<Double>, m: Int, n: Int) -> Int {
        var tau = [Double](repeating: 0, count: n)
        let info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), a, Int32(n), &tau)
        if info != 0 { return Int(info) }
        return Int(LAPACKE_dorgqr(
            LAPACK_ROW_MAJOR, Int32(m), Int32(n), Int32(n), a, Int32(n), &tau))
    }

    // MARK: OpenBLAS configuration

    static var numThreads: Int { Int(openblas_get_num_threads()) }
    static func setNumThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    static var numProcs: Int { Int(openblas_get_num_procs()) }
    static var config: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }
    static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
    static var parallelMode: Int { Int(openblas_get_parallel()) }
}
