/// Why a LAPACK-backed computation could not give an answer.
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
    /// The matrix holds NaN or ±Inf at (row, column); LAPACK's answer would be meaningless.
    case nonFinite(row: Int, column: Int, value: Double)
    /// The matrix has no elements.
    case empty(rows: Int, columns: Int)
    /// A LAPACK routine returned `info != 0` (negative: bad argument; positive: no convergence).
    case lapack(routine: String, info: Int)

    public var description: String {
        switch self {
        case let .nonFinite(r, c, v):
            return "matrix element (\(r), \(c)) is \(v): singular values need finite input; check the weights for NaN/Inf (a diverged run)"
        case let .empty(r, c):
            return "matrix is \(r)×\(c): singular values need at least one row and one column"
        case let .lapack(routine, info):
            return info < 0
                ? "LAPACK \(routine) rejected argument \(-info) (info = \(info)); this is a bug, please report it"
                : "LAPACK \(routine) did not converge (info = \(info)); the matrix may be badly scaled"
        }
    }
}

extension LinearAlgebraError {
    /// The first NaN or ±Inf of a row-major matrix with `columns` columns, as ``nonFinite(row:column:value:)``,
    /// or nil. The one finiteness check behind `ngpt cond`, `ngpt sample` and `ngpt train --init`.
    public static func firstNonFinite<C: Collection>(_ elements: C, columns: Int) -> LinearAlgebraError?
    where C.Element: BinaryFloatingPoint, C.Index == Int {
        guard let i = elements.firstIndex(where: { !$0.isFinite }) else { return nil }
        let offset = i - elements.startIndex, width = max(columns, 1)
        return .nonFinite(row: offset / width, column: offset % width, value: Double(elements[i]))
    }
}

/// A matrix of Doubles in row-major order, the input of the analysis routines.
public struct DoubleMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var elements: [Double]

    public init(rows: Int, columns: Int, elements: [Double]) {
        precondition(rows >= 0 && columns >= 0 && elements.count == rows * columns,
                     "\(rows)×\(columns) matrix needs \(rows * columns) elements, got \(elements.count)")
        self.rows = rows
        self.columns = columns
        self.elements = elements
    }

    /// A rank-2 float32 tensor widened to Double.
    public init(_ t: Tensor) {
        self.init(rows: t.rows, columns: t.columns, elements: t.scalars.map(Double.init))
    }

    public subscript(i: Int, j: Int) -> Double {
        get { elements[i * columns + j] }
        set { elements[i * columns + j] = newValue }
    }
}

/// Singular values, condition numbers and symmetric eigenvalues by LAPACK, in Double.
public enum LinearAlgebra {
    /// Singular values of `a`, largest first (`min(rows, columns)` of them), from `dgesdd`.
    ///
    /// - Throws: ``LinearAlgebraError/nonFinite(row:column:value:)`` for NaN/Inf input,
    ///   ``LinearAlgebraError/empty(rows:columns:)`` for an empty matrix, and
    ///   ``LinearAlgebraError/lapack(routine:info:)`` when LAPACK reports `info != 0`.
    public static func singularValues(_ a: DoubleMatrix) throws -> [Double] {
        guard a.rows > 0 && a.columns > 0 else { throw LinearAlgebraError.empty(rows: a.rows, columns: a.columns) }
        if let e = LinearAlgebraError.firstNonFinite(a.elements, columns: a.columns) { throw e }
        var work = a.elements
        var s = [Double](repeating: 0, count: min(a.rows, a.columns))
        let info = work.withUnsafeMutableBufferPointer { w in
            s.withUnsafeMutableBufferPointer { s in
                BLAS.dgesddValues(w.baseAddress!, m: a.rows, n: a.columns, into: s.baseAddress!)
            }
        }
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "dgesdd", info: info) }
        return s
    }

    /// Singular values of a rank-2 float32 tensor (computed in Double).
    public static func singularValues(_ t: Tensor) throws -> [Double] {
        try singularValues(DoubleMatrix(t))
    }

    /// The 2-norm condition number `σmax / σmin` of singular values sorted largest first.
    ///
    /// A matrix is treated as rank-deficient, and its condition number is `+infinity`, when
    /// `σmin ≤ max(rows, columns) · ε · σmax` with ε the Double machine epsilon — the tolerance
    /// numpy's `matrix_rank` uses. Below that threshold σmin is round-off and the ratio would be a
    /// meaningless 1e16-ish number. The zero matrix also has infinite condition number.
    public static func conditionNumber(singularValues s: [Double], rows: Int, columns: Int) -> Double {
        guard let hi = s.first, let lo = s.last else { return .infinity }
        let tolerance = Double(max(rows, columns)) * Double.ulpOfOne * hi
        if hi == 0 || lo <= tolerance { return .infinity }
        return hi / lo
    }

    /// The 2-norm condition number `σmax / σmin` of `a` (see ``conditionNumber(singularValues:rows:columns:)``
    /// for rank-deficient matrices).
    public static func conditionNumber(_ a: DoubleMatrix) throws -> Double {
        conditionNumber(singularValues: try singularValues(a), rows: a.rows, columns: a.columns)
    }

    /// The condition number of a rank-2 float32 tensor, computed in Double.
    public static func conditionNumber(_ t: Tensor) throws -> Double {
        try conditionNumber(DoubleMatrix(t))
    }

    /// Eigenvalues of a symmetric matrix, ascending, from `dsyevd` (only the upper triangle is read).
    public static func symmetricEigenvalues(_ a: DoubleMatrix) throws -> [Double] {
        precondition(a.rows == a.columns, "eigenvalues of a non-square \(a.rows)×\(a.columns) matrix")
        guard a.rows > 0 else { throw LinearAlgebraError.empty(rows: a.rows, columns: a.columns) }
        if let e = LinearAlgebraError.firstNonFinite(a.elements, columns: a.columns) { throw e }
        var work = a.elements
        var w = [Double](repeating: 0, count: a.rows)
        let info = work.withUnsafeMutableBufferPointer { p in
            w.withUnsafeMutableBufferPointer { w in BLAS.dsyevdValues(p.baseAddress!, n: a.rows, into: w.baseAddress!) }
        }
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "dsyevd", info: info) }
        return w
    }

    /// The Gram matrix `aᵀ·a` (columns × columns, symmetric, both triangles filled) by BLAS
    /// `dsyrk`, in Double.
    public static func gramMatrix(_ a: DoubleMatrix) -> DoubleMatrix {
        let n = a.columns
        var c = [Double](repeating: 0, count: n * n)
        guard a.rows > 0, n > 0 else { return DoubleMatrix(rows: n, columns: n, elements: c) }
        a.elements.withUnsafeBufferPointer { pa in
            c.withUnsafeMutableBufferPointer { BLAS.dsyrkGram(pa.baseAddress!, m: a.rows, n: n, into: $0.baseAddress!) }
        }
        for i in 0..<n { for j in 0..<i { c[i * n + j] = c[j * n + i] } }
        return DoubleMatrix(rows: n, columns: n, elements: c)
    }

    /// The orthonormal factor Q (rows × columns, rows ≥ columns) of a Householder QR of `a`.
    public static func orthonormalFactor(_ a: DoubleMatrix) throws -> DoubleMatrix {
        precondition(a.rows >= a.columns, "QR needs rows ≥ columns, got \(a.rows)×\(a.columns)")
        if let e = LinearAlgebraError.firstNonFinite(a.elements, columns: a.columns) { throw e }
        var q = a
        let info = q.elements.withUnsafeMutableBufferPointer { BLAS.dorthonormalFactor($0.baseAddress!, m: a.rows, n: a.columns) }
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "dgeqrf/dorgqr", info: info) }
        return q
    }
}
