/// A matrix window inside a row-major buffer: `rows × columns` elements starting at `offset`,
/// consecutive rows `leadingDimension` elements apart.
///
/// One head of a `(B·T, d)` activation is the window `offset: b·T·d + h·dk, rows: T,
/// columns: dk, leadingDimension: d` — it is used in a product without being copied.
public struct MatrixLayout: Sendable, Equatable {
    public var offset: Int
    public var rows: Int
    public var columns: Int
    public var leadingDimension: Int

    /// Without `leadingDimension` the rows are packed: `max(1, columns)` apart. BLAS wants a
    /// leading dimension of at least 1 even when there are no columns (a `k = 0` product).
    public init(rows: Int, columns: Int, leadingDimension: Int? = nil, offset: Int = 0) {
        self.rows = rows
        self.columns = columns
        self.leadingDimension = leadingDimension ?? max(1, columns)
        self.offset = offset
    }

    /// The whole of a rank-2 tensor.
    public init(_ t: Tensor) { self.init(rows: t.rows, columns: t.columns) }

    /// Elements the window reaches to (exclusive) from the start of its buffer.
    var end: Int { rows == 0 || columns == 0 ? offset : offset + (rows - 1) * leadingDimension + columns }

    func validate(in count: Int, _ what: String) {
        precondition(rows >= 0 && columns >= 0 && offset >= 0, "\(what): negative extent in \(self)")
        precondition(leadingDimension >= max(1, columns),
                     "\(what): leading dimension \(leadingDimension) < columns \(columns)")
        precondition(end <= count, "\(what): window \(self) reaches element \(end) of a buffer of \(count)")
    }

    func shape(_ t: Transpose) -> (rows: Int, columns: Int) {
        t == .none ? (rows, columns) : (columns, rows)
    }
}

/// General matrix products through OpenBLAS `sgemm`.
public enum GEMM {
    /// `C = alpha·op(A)·op(B) + beta·C` for rank-2 tensors.
    public static func multiply(
        _ a: Tensor, _ transA: Transpose = .none, _ b: Tensor, _ transB: Transpose = .none,
        into c: inout Tensor, alpha: Float = 1, beta: Float = 0
    ) {
        multiply(a, MatrixLayout(a), transA, b, MatrixLayout(b), transB,
                 into: &c, MatrixLayout(c), alpha: alpha, beta: beta)
    }

    /// `op(A)·op(B)` as a new tensor.
    public static func product(
        _ a: Tensor, _ transA: Transpose = .none, _ b: Tensor, _ transB: Transpose = .none
    ) -> Tensor {
        let m = MatrixLayout(a).shape(transA).rows, n = MatrixLayout(b).shape(transB).columns
        var c = Tensor(shape: [m, n])
        multiply(a, transA, b, transB, into: &c)
        return c
    }

    /// `C[cl] = alpha·op(A[al])·op(B[bl]) + beta·C[cl]` on windows of flat buffers.
    public static func multiply(
        _ a: Tensor, _ al: MatrixLayout, _ transA: Transpose,
        _ b: Tensor, _ bl: MatrixLayout, _ transB: Transpose,
        into c: inout Tensor, _ cl: MatrixLayout, alpha: Float = 1, beta: Float = 0
    ) {
        al.validate(in: a.count, "A"); bl.validate(in: b.count, "B"); cl.validate(in: c.count, "C")
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    multiply(pa.baseAddress!, al, transA, pb.baseAddress!, bl, transB,
                             pc.baseAddress!, cl, alpha: alpha, beta: beta)
                }
            }
        }
    }

    /// Batched products: for every `i` in `0..<count`, `C[cl(i)] = alpha·op(A[al(i)])·op(B[bl(i)]) +
    /// beta·C[cl(i)]`. Items run side by side on ``Threads/count`` threads, each calling
    /// single-threaded BLAS. Output windows must not overlap.
    public static func batched(
        count: Int,
        _ a: Tensor, _ al: (Int) -> MatrixLayout, _ transA: Transpose,
        _ b: Tensor, _ bl: (Int) -> MatrixLayout, _ transB: Transpose,
        into c: inout Tensor, _ cl: (Int) -> MatrixLayout, alpha: Float = 1, beta: Float = 0
    ) {
        for i in 0..<count {
            al(i).validate(in: a.count, "A[\(i)]"); bl(i).validate(in: b.count, "B[\(i)]")
            cl(i).validate(in: c.count, "C[\(i)]")
        }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    let (pa, pb, pc) = (pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                    Threads.parallelFor(count) { i in
                        multiply(pa, al(i), transA, pb, bl(i), transB, pc, cl(i), alpha: alpha, beta: beta)
                    }
                }
            }
        }
    }

    /// The unchecked kernel form used inside the library: windows are relative to the pointers.
    ///
    /// BLAS always runs single-threaded here (see ``Threads``). A product of at least
    /// `splitWork` multiply-adds, outside a parallel region, is cut into one block of C's rows
    /// (or, when C is wider than tall, of its columns) per thread. The cut is fixed for a given
    /// thread count, so results repeat exactly; OpenBLAS rounds a block slightly differently
    /// from the whole product, so they differ in the last bits between thread counts.
    static func multiply(
        _ a: UnsafePointer<Float>, _ al: MatrixLayout, _ transA: Transpose,
        _ b: UnsafePointer<Float>, _ bl: MatrixLayout, _ transB: Transpose,
        _ c: UnsafeMutablePointer<Float>, _ cl: MatrixLayout, alpha: Float = 1, beta: Float = 0
    ) {
        let (m, k) = al.shape(transA)
        let (k2, n) = bl.shape(transB)
        precondition(k == k2 && cl.rows == m && cl.columns == n,
                     "GEMM shapes: op(A) \(m)×\(k), op(B) \(k2)×\(n), C \(cl.rows)×\(cl.columns)")
        if m == 0 || n == 0 { return }
        let work = m * n * max(k, 1)
        if Threads.available(2) > 1 && work >= (m == 1 ? splitWork / 32 : splitWork) {
            if m >= n && m >= 32 {
                Threads.parallelRanges(m, alignment: 16) { rows in
                    var al = al, cl = cl
                    if transA == .none { al.offset += rows.lowerBound * al.leadingDimension; al.rows = rows.count }
                    else { al.offset += rows.lowerBound; al.columns = rows.count }
                    cl.offset += rows.lowerBound * cl.leadingDimension
                    cl.rows = rows.count
                    product(a, al, transA, b, bl, transB, c, cl, alpha: alpha, beta: beta)
                }
                return
            }
            if n >= 32 {
                Threads.parallelRanges(n, alignment: 16) { columns in
                    var bl = bl, cl = cl
                    if transB == .none { bl.offset += columns.lowerBound; bl.columns = columns.count }
                    else { bl.offset += columns.lowerBound * bl.leadingDimension; bl.rows = columns.count }
                    cl.offset += columns.lowerBound
                    cl.columns = columns.count
                    product(a, al, transA, b, bl, transB, c, cl, alpha: alpha, beta: beta)
                }
                return
            }
        }
        Threads.singleThreadedBLAS { product(a, al, transA, b, bl, transB, c, cl, alpha: alpha, beta: beta) }
    }

    /// Multiply-adds from which a product is split between threads (a parallel region costs
    /// about as much as 2 M of them); a one-row product, bound by reading B, from 64 K (256 KB
    /// of B), where two threads read faster than one.
    static let splitWork = 1 << 21

    /// One BLAS call for a checked product.
    @inline(__always)
    private static func product(
        _ a: UnsafePointer<Float>, _ al: MatrixLayout, _ transA: Transpose,
        _ b: UnsafePointer<Float>, _ bl: MatrixLayout, _ transB: Transpose,
        _ c: UnsafeMutablePointer<Float>, _ cl: MatrixLayout, alpha: Float, beta: Float
    ) {
        let (m, k) = al.shape(transA)
        let n = bl.shape(transB).columns
        if m == 1 && k > 0 {
            // One row (decoding one position): c = op(B)ᵀ·a as a matrix-vector product, which
            // reads B once instead of packing it first.
            let incx = transA == .none ? 1 : al.leadingDimension
            BLAS.sgemv(transB == .none ? .transposed : .none, m: bl.rows, n: bl.columns, alpha: alpha,
                       a: b + bl.offset, lda: bl.leadingDimension, x: a + al.offset, incx: incx,
                       beta: beta, y: c + cl.offset, incy: 1)
            return
        }
        BLAS.sgemm(transA, transB, m: m, n: n, k: k, alpha: alpha,
                   a: a + al.offset, lda: al.leadingDimension,
                   b: b + bl.offset, ldb: bl.leadingDimension,
                   beta: beta, c: c + cl.offset, ldc: cl.leadingDimension)
    }
}
