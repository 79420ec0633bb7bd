import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

// Singular values, condition numbers, symmetric eigenvalues and QR against values known by
// construction (Q·diag·Vᵀ has singular values |diag|), in closed form, or from numpy (the command
// that produced each pasted literal is beside it).

final class LinearAlgebraTests: XCTestCase {
    /// Asserts `got` equals `want` element by element within `tolerance · max(1, max|want|)`.
    private func assertClose(
        _ got: [Double], _ want: [Double], tolerance: Double, _ context: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(got.count, want.count, "\(context): count", file: file, line: line)
        let scale = max(1, want.map(abs).max() ?? 0)
        for (i, (g, w)) in zip(got, want).enumerated() {
            XCTAssertTrue(abs(g - w) <= tolerance * scale,
                          "\(context): element \(i) is \(g), want \(w) (tolerance \(tolerance * scale))",
                          file: file, line: line)
        }
    }

    /// The m×n orthonormal factor of a seeded Gaussian matrix.
    private func orthonormal(rows: Int, columns: Int, _ g: inout SeededGenerator) throws -> DoubleMatrix {
        try LinearAlgebra.orthonormalFactor(gaussianMatrix(rows: rows, columns: columns, &g))
    }

    // MARK: Singular values and condition numbers

    func testDiagonalMatrix() throws {
        let a = DoubleMatrix.diagonal([3, -5, 0.5, 2])
        assertClose(try LinearAlgebra.singularValues(a), [5, 3, 2, 0.5], tolerance: 1e-15, "diag(3, −5, 0.5, 2)")
        XCTAssertEqual(try LinearAlgebra.conditionNumber(a), 10, accuracy: 1e-13)

        // Badly conditioned but of full rank: 1e12 is far above the rank tolerance 2·ε.
        let b = DoubleMatrix.diagonal([1, 1e-12])
        XCTAssertEqual(try LinearAlgebra.conditionNumber(b), 1e12, accuracy: 1e12 * 1e-12)
    }

    func testOrthogonalTimesDiagonalSquare() throws {
        let seed: UInt64 = 1001
        var g = SeededGenerator(seed: seed)
        let q = try orthonormal(rows: 6, columns: 6, &g)
        let d = [0.5, -4, 2, 1e-3, 7, -1]
        let a = q.times(.diagonal(d))
        let want = d.map(abs).sorted(by: >)
        assertClose(try LinearAlgebra.singularValues(a), want, tolerance: 1e-13, "seed \(seed), Q·diag, 6×6")
        XCTAssertEqual(try LinearAlgebra.conditionNumber(a), 7 / 1e-3, accuracy: 7e3 * 1e-10, "seed \(seed)")
    }

    func testTallOrthonormalTimesDiagonal() throws {
        // A 9×4 Q with orthonormal columns times diag(d): AᵀA = diag(d²), so σ = |d|.
        let seed: UInt64 = 1002
        var g = SeededGenerator(seed: seed)
        let q = try orthonormal(rows: 9, columns: 4, &g)
        let d = [3, 0.25, -8, 1.5]
        let a = q.times(.diagonal(d))
        assertClose(try LinearAlgebra.singularValues(a), [8, 3, 1.5, 0.25], tolerance: 1e-13, "seed \(seed), 9×4 Q·diag")
        XCTAssertEqual(try LinearAlgebra.conditionNumber(a), 32, accuracy: 32 * 1e-12, "seed \(seed)")
    }

    func testTallAndWideMatricesWithConstructedSingularValues() throws {
        // A = U·diag(s)·Vᵀ with U 7×3 and V 3×3 orthonormal has singular values s; Aᵀ (3×7) too.
        let seed: UInt64 = 1003
        var g = SeededGenerator(seed: seed)
        let u = try orthonormal(rows: 7, columns: 3, &g)
        let v = try orthonormal(rows: 3, columns: 3, &g)
        let s = [4, 1.5, 0.25]
        let tall = u.times(.diagonal(s)).times(v.transposed)
        XCTAssertEqual(tall.rows, 7)
        assertClose(try LinearAlgebra.singularValues(tall), s, tolerance: 1e-13, "seed \(seed), 7×3")
        assertClose(try LinearAlgebra.singularValues(tall.transposed), s, tolerance: 1e-13, "seed \(seed), 3×7")
        XCTAssertEqual(try LinearAlgebra.conditionNumber(tall.transposed), 16, accuracy: 16 * 1e-12, "seed \(seed)")
    }

    func testTallAndWideMatricesAgainstNumpy() throws {
        let tall = DoubleMatrix(rows: 7, columns: 3, elements: [
            1, 2, 3, 4, 5, 6, 7, 8, 10, 1, 0, 1, 2, 1, 0, 0, 1, 1, 3, 3, 3,
        ])
        // python3 -c 'import numpy as np; np.set_printoptions(precision=17);
        //   A = np.array([[1,2,3],[4,5,6],[7,8,10],[1,0,1],[2,1,0],[0,1,1],[3,3,3]], dtype=float);
        //   print(repr(np.linalg.svd(A, compute_uv=False))); print(repr(np.linalg.cond(A)))'
        // array([18.294781997850173 ,  2.1101739325258206,  0.9209330190767332])
        // np.float64(19.86548600048168)
        let want = [18.294781997850173, 2.1101739325258206, 0.9209330190767332]
        assertClose(try LinearAlgebra.singularValues(tall), want, tolerance: 1e-12, "7×3 integer matrix")
        assertClose(try LinearAlgebra.singularValues(tall.transposed), want, tolerance: 1e-12, "3×7 integer matrix")
        XCTAssertEqual(try LinearAlgebra.conditionNumber(tall), 19.86548600048168, accuracy: 19.87 * 1e-12)
        XCTAssertEqual(try LinearAlgebra.conditionNumber(tall.transposed), 19.86548600048168, accuracy: 19.87 * 1e-12)
    }

    func testHilbertMatrixConditionNumber() throws {
        // H[i, j] = 1 / (i + j + 1), rounded to Double exactly as scipy.linalg.hilbert does.
        let n = 6
        let h = DoubleMatrix(rows: n, columns: n,
                             elements: (0..<n * n).map { 1 / Double($0 / n + $0 % n + 1) })
        // python3 -c 'import numpy as np; from scipy.linalg import hilbert; print(np.linalg.cond(hilbert(6)))'
        // 14951058.642254734
        // (In 50-digit arithmetic the rounded matrix has cond 14951058.6412973 and the exact Hilbert
        // matrix 14951058.6401312: all three agree within 2e-10 relative, inside the 1e-9 asked here.)
        let want = 14951058.642254734
        let got = try LinearAlgebra.conditionNumber(h)
        XCTAssertEqual(got, want, accuracy: want * 1e-9, "cond₂ of the 6×6 Hilbert matrix")
    }

    func testRankDeficientMatricesHaveInfiniteConditionNumber() throws {
        let equalRows = DoubleMatrix(rows: 3, columns: 3, elements: [1, 2, 3, 4, 5, 6, 1, 2, 3])
        XCTAssertEqual(try LinearAlgebra.conditionNumber(equalRows), .infinity)
        let zero = DoubleMatrix(rows: 4, columns: 2, elements: [Double](repeating: 0, count: 8))
        XCTAssertEqual(try LinearAlgebra.singularValues(zero), [0, 0])
        XCTAssertEqual(try LinearAlgebra.conditionNumber(zero), .infinity)
        // Rank 2 of a 5×3: the outer sum of two vectors.
        var rank2 = DoubleMatrix(rows: 5, columns: 3, elements: [Double](repeating: 0, count: 15))
        for i in 0..<5 { for j in 0..<3 { rank2[i, j] = Double(i + 1) * Double(j) + Double(i * i) * 0.5 } }
        XCTAssertEqual(try LinearAlgebra.conditionNumber(rank2), .infinity)
    }

    func testConditionNumberRankThreshold() {
        // σmin ≤ max(rows, columns)·ε·σmax counts as rank-deficient; here the threshold is 4ε.
        let eps = Double.ulpOfOne
        XCTAssertEqual(LinearAlgebra.conditionNumber(singularValues: [1, 3 * eps], rows: 4, columns: 2), .infinity)
        XCTAssertEqual(LinearAlgebra.conditionNumber(singularValues: [1, 5 * eps], rows: 4, columns: 2), 1 / (5 * eps))
        XCTAssertEqual(LinearAlgebra.conditionNumber(singularValues: [2, 1], rows: 2, columns: 2), 2)
        XCTAssertEqual(LinearAlgebra.conditionNumber(singularValues: [], rows: 0, columns: 0), .infinity)
        XCTAssertEqual(LinearAlgebra.conditionNumber(singularValues: [0, 0], rows: 2, columns: 2), .infinity)
    }

    // MARK: Errors

    /// Asserts `body` throws `.nonFinite` at (row, column) with a value satisfying `isValue`.
    private func assertNonFinite<T>(
        _ body: @autoclosure () throws -> T, row: Int, column: Int, _ isValue: (Double) -> Bool,
        _ context: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), context, file: file, line: line) { error in
            guard case let .nonFinite(r, c, v)? = error as? LinearAlgebraError else {
                return XCTFail("\(context): threw \(error), want .nonFinite", file: file, line: line)
            }
            XCTAssertEqual(r, row, "\(context): row", file: file, line: line)
            XCTAssertEqual(c, column, "\(context): column", file: file, line: line)
            XCTAssertTrue(isValue(v), "\(context): value \(v)", file: file, line: line)
        }
    }

    func testNonFiniteInputIsReportedWithItsPosition() {
        // 3×5, so the row and column come from dividing by 5, not 3. The first non-finite element
        // in row-major order is reported: (1, 3) comes before (2, 0).
        var a = DoubleMatrix(rows: 3, columns: 5, elements: (0..<15).map(Double.init))
        a[1, 3] = .nan
        a[2, 0] = .infinity
        assertNonFinite(try LinearAlgebra.singularValues(a), row: 1, column: 3, \.isNaN, "NaN, singularValues")
        assertNonFinite(try LinearAlgebra.conditionNumber(a), row: 1, column: 3, \.isNaN, "NaN, conditionNumber")
        a[1, 3] = 0
        assertNonFinite(try LinearAlgebra.singularValues(a), row: 2, column: 0, { $0 == .infinity }, "+Inf")
        a[2, 0] = 0
        a[0, 4] = -.infinity
        assertNonFinite(try LinearAlgebra.conditionNumber(a), row: 0, column: 4, { $0 == -.infinity }, "−Inf")
        XCTAssertThrowsError(try LinearAlgebra.conditionNumber(a)) { error in
            XCTAssertEqual(error as? LinearAlgebraError, .nonFinite(row: 0, column: 4, value: -.infinity))
            XCTAssertTrue("\(error)".contains("(0, 4)"), "message \(error) does not name the element")
        }

        var s = DoubleMatrix.diagonal([1, 2, 3])
        s[2, 1] = .nan
        assertNonFinite(try LinearAlgebra.symmetricEigenvalues(s), row: 2, column: 1, \.isNaN, "symmetricEigenvalues")
        var tall = DoubleMatrix(rows: 4, columns: 2, elements: [1, 0, 0, 1, 1, 1, 2, 3])
        tall[3, 0] = .infinity
        assertNonFinite(try LinearAlgebra.orthonormalFactor(tall), row: 3, column: 0, { $0 == .infinity }, "orthonormalFactor")
    }

    func testEmptyMatrixThrowsEmpty() {
        for (r, c) in [(0, 3), (3, 0), (0, 0)] {
            let a = DoubleMatrix(rows: r, columns: c, elements: [])
            XCTAssertThrowsError(try LinearAlgebra.singularValues(a)) {
                XCTAssertEqual($0 as? LinearAlgebraError, .empty(rows: r, columns: c))
            }
            XCTAssertThrowsError(try LinearAlgebra.conditionNumber(a)) {
                XCTAssertEqual($0 as? LinearAlgebraError, .empty(rows: r, columns: c))
            }
            XCTAssertThrowsError(try LinearAlgebra.singularValues(Tensor(shape: [r, c]))) {
                XCTAssertEqual($0 as? LinearAlgebraError, .empty(rows: r, columns: c))
            }
        }
        XCTAssertThrowsError(try LinearAlgebra.symmetricEigenvalues(DoubleMatrix(rows: 0, columns: 0, elements: []))) {
            XCTAssertEqual($0 as? LinearAlgebraError, .empty(rows: 0, columns: 0))
        }
    }

    // MARK: Symmetric eigenvalues

    func testSymmetricEigenvaluesOfTridiagonal() throws {
        // The n×n tridiagonal (1, 2, 1) matrix has eigenvalues 2 + 2·cos(kπ/(n+1)), k = 1…n.
        let n = 4
        var a = DoubleMatrix(rows: n, columns: n, elements: [Double](repeating: 0, count: n * n))
        for i in 0..<n {
            a[i, i] = 2
            if i + 1 < n { a[i, i + 1] = 1; a[i + 1, i] = 1 }
        }
        let want = (1...n).map { 2 + 2 * cos(Double($0) * .pi / Double(n + 1)) }.sorted()
        assertClose(try LinearAlgebra.symmetricEigenvalues(a), want, tolerance: 1e-14, "tridiagonal(1, 2, 1), n = 4")

        // Only the upper triangle is read: garbage below the diagonal changes nothing.
        var upper = a
        for i in 0..<n { for j in 0..<i { upper[i, j] = 100 * Double(i - j) } }
        XCTAssertEqual(try LinearAlgebra.symmetricEigenvalues(upper), try LinearAlgebra.symmetricEigenvalues(a))
    }

    func testSymmetricEigenvaluesOfRotatedDiagonal() throws {
        // Q·diag(λ)·Qᵀ has eigenvalues λ, returned ascending (negative ones included).
        let seed: UInt64 = 1004
        var g = SeededGenerator(seed: seed)
        let q = try orthonormal(rows: 5, columns: 5, &g)
        let lambda = [3, -2, 0.5, 10, -7]
        let a = q.times(.diagonal(lambda)).times(q.transposed)
        assertClose(try LinearAlgebra.symmetricEigenvalues(a), lambda.sorted(), tolerance: 1e-13, "seed \(seed)")
    }

    // MARK: QR

    func testOrthonormalFactor() throws {
        // Q (9×4) has orthonormal columns, and R = QᵀA is upper triangular with A = Q·R.
        let seed: UInt64 = 1005
        var g = SeededGenerator(seed: seed)
        let a = gaussianMatrix(rows: 9, columns: 4, &g)
        let q = try LinearAlgebra.orthonormalFactor(a)
        XCTAssertEqual(q.rows, 9)
        XCTAssertEqual(q.columns, 4)
        let identity = DoubleMatrix.diagonal([1, 1, 1, 1])
        XCTAssertLessThan(q.transposed.times(q).maxAbsDifference(identity), 1e-14, "seed \(seed): QᵀQ ≠ I")
        let r = q.transposed.times(a)
        for i in 0..<4 { for j in 0..<i { XCTAssertEqual(r[i, j], 0, accuracy: 1e-13, "seed \(seed): R[\(i), \(j)]") } }
        XCTAssertLessThan(q.times(r).maxAbsDifference(a), 1e-13, "seed \(seed): Q·R ≠ A")
    }

    // MARK: Tensor overloads

    func testTensorOverloadsEqualDoubleMatrixOverloads() throws {
        let seed: UInt64 = 1006
        var g = SeededGenerator(seed: seed)
        for shape in [[5, 4], [3, 8], [6, 6]] {
            let t = gaussianTensor(shape, &g)
            let m = DoubleMatrix(t)
            XCTAssertEqual(m.rows, shape[0])
            XCTAssertEqual(m.elements, t.scalars.map(Double.init))
            XCTAssertEqual(try LinearAlgebra.singularValues(t), try LinearAlgebra.singularValues(m), "seed \(seed), \(shape)")
            XCTAssertEqual(try LinearAlgebra.conditionNumber(t), try LinearAlgebra.conditionNumber(m), "seed \(seed), \(shape)")
        }
        var bad = Tensor(shape: [2, 3])
        bad[1, 2] = .nan
        assertNonFinite(try LinearAlgebra.conditionNumber(bad), row: 1, column: 2, \.isNaN, "Tensor with NaN")
    }
}
