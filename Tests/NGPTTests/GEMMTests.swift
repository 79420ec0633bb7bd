import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

// GEMM against the textbook triple loop in Double.
//
// Tolerance: for each product, every element of C's window must satisfy
//     |got − want| ≤ 1e-5 · max(1, max |want|)
// where `want` is computed in Double from the same float32 inputs and the max runs over that
// product's window. float32 accumulation over K ≤ 128 standard-normal terms stays well inside
// this (its error is about √K · 2⁻²⁴ · Σ|aᵢbᵢ|); a wrong index, stride or transpose is off by O(1).
// Elements of C outside the written windows must be bit-for-bit unchanged.

/// One product `C[cl] = alpha·op(A[al])·op(B[bl]) + beta·C[cl]`.
private struct Product {
    var al: MatrixLayout, ta: Transpose
    var bl: MatrixLayout, tb: Transpose
    var cl: MatrixLayout
}

extension MatrixLayout {
    /// Buffer indices of the window's elements, row by row.
    fileprivate var elementIndices: [Int] {
        (0..<rows).flatMap { r in (0..<columns).map { c in offset + r * leadingDimension + c } }
    }
}

/// The window of `op(A)` as a Double matrix: `op(A)[i, p]`.
private func operand(_ x: Tensor, _ l: MatrixLayout, _ t: Transpose) -> DoubleMatrix {
    let (rows, columns) = l.shape(t)
    var m = DoubleMatrix(rows: rows, columns: columns, elements: [Double](repeating: 0, count: rows * columns))
    for i in 0..<rows {
        for j in 0..<columns {
            let (r, c) = t == .none ? (i, j) : (j, i)
            m[i, j] = Double(x.scalars[l.offset + r * l.leadingDimension + c])
        }
    }
    return m
}

/// `alpha·op(A)·op(B) + beta·C` on the window, in Double, from C's contents before the product.
private func reference(
    _ a: Tensor, _ b: Tensor, _ cBefore: Tensor, _ p: Product, alpha: Double, beta: Double
) -> [Double] {
    let ab = operand(a, p.al, p.ta).times(operand(b, p.bl, p.tb))
    precondition(ab.rows == p.cl.rows && ab.columns == p.cl.columns, "test bug: C window shape")
    return zip(ab.elements, p.cl.elementIndices).map { s, i in
        // BLAS does not read C when beta = 0, so NaN there must not leak into the result.
        alpha * s + (beta == 0 ? 0 : beta * Double(cBefore.scalars[i]))
    }
}

/// Checks every product's window against the reference and that nothing else in C changed.
private func assertProducts(
    _ products: [Product], a: Tensor, b: Tensor, cBefore: Tensor, cAfter: Tensor,
    alpha: Float, beta: Float, _ context: String, file: StaticString = #filePath, line: UInt = #line
) {
    var written = Set<Int>()
    for (n, p) in products.enumerated() {
        let want = reference(a, b, cBefore, p, alpha: Double(alpha), beta: Double(beta))
        let tolerance = 1e-5 * max(1, want.map(abs).max() ?? 0)
        var worst = 0.0, worstAt = -1
        for (w, i) in zip(want, p.cl.elementIndices) {
            let err = abs(Double(cAfter.scalars[i]) - w)
            if !(err <= worst) { worst = err; worstAt = i }   // also catches NaN
            written.insert(i)
        }
        XCTAssertTrue(worst <= tolerance,
                      "\(context), product \(n): |got − want| = \(worst) at buffer index \(worstAt) > \(tolerance)",
                      file: file, line: line)
    }
    let changed = (0..<cBefore.count).filter {
        !written.contains($0) && cAfter.scalars[$0].bitPattern != cBefore.scalars[$0].bitPattern
    }
    XCTAssertEqual(changed, [], "\(context): elements outside the C windows changed", file: file, line: line)
}

final class GEMMTests: XCTestCase {
    private static let transposes: [(Transpose, Transpose)] =
        [(.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed)]

    func testDenseProductsAllTransposesOddSizes() {
        let seed: UInt64 = 20_240_601
        var g = SeededGenerator(seed: seed)
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 128, 31), (2, 1, 9)] {
            for (ta, tb) in Self.transposes {
                // op(A) is m×k and op(B) is k×n; stored transposed when op is a transpose.
                let a = gaussianTensor(ta == .none ? [m, k] : [k, m], &g)
                let b = gaussianTensor(tb == .none ? [k, n] : [n, k], &g)
                let cBefore = gaussianTensor([m, n], &g)
                var c = cBefore
                GEMM.multiply(a, ta, b, tb, into: &c)
                assertProducts([Product(al: MatrixLayout(a), ta: ta, bl: MatrixLayout(b), tb: tb, cl: MatrixLayout(c))],
                               a: a, b: b, cBefore: cBefore, cAfter: c, alpha: 1, beta: 0,
                               "seed \(seed), m×n×k = \(m)×\(n)×\(k), op = (\(ta), \(tb))")

                let p = GEMM.product(a, ta, b, tb)
                XCTAssertEqual(p.shape, [m, n])
                XCTAssertEqual(p, c, "seed \(seed): product(...) differs from multiply(...) for \(m)×\(n)×\(k)")
            }
        }
    }

    func testAlphaAndBeta() {
        let seed: UInt64 = 77
        var g = SeededGenerator(seed: seed)
        let (m, n, k) = (13, 9, 21)
        for (alpha, beta) in [(Float(0.5), Float(-1.25)), (-2, 1), (0, 3), (1.5, 0)] {
            for (ta, tb) in Self.transposes {
                let a = gaussianTensor(ta == .none ? [m, k] : [k, m], &g)
                let b = gaussianTensor(tb == .none ? [k, n] : [n, k], &g)
                let cBefore = gaussianTensor([m, n], &g)
                var c = cBefore
                GEMM.multiply(a, ta, b, tb, into: &c, alpha: alpha, beta: beta)
                assertProducts([Product(al: MatrixLayout(a), ta: ta, bl: MatrixLayout(b), tb: tb, cl: MatrixLayout(c))],
                               a: a, b: b, cBefore: cBefore, cAfter: c, alpha: alpha, beta: beta,
                               "seed \(seed), alpha = \(alpha), beta = \(beta), op = (\(ta), \(tb))")
            }
        }
    }

    func testBetaZeroOverwritesNaNInC() {
        // With beta = 0 BLAS must not read C: a reused buffer holding NaN is simply overwritten.
        let seed: UInt64 = 5
        var g = SeededGenerator(seed: seed)
        let a = gaussianTensor([6, 4], &g), b = gaussianTensor([4, 5], &g)
        let cBefore = Tensor(shape: [6, 5], repeating: .nan)
        var c = cBefore
        GEMM.multiply(a, .none, b, into: &c, alpha: 2, beta: 0)
        XCTAssertTrue(c.scalars.allSatisfy(\.isFinite), "seed \(seed): NaN from C survived beta = 0")
        assertProducts([Product(al: MatrixLayout(a), ta: .none, bl: MatrixLayout(b), tb: .none, cl: MatrixLayout(c))],
                       a: a, b: b, cBefore: cBefore, cAfter: c, alpha: 2, beta: 0, "seed \(seed), NaN in C")
    }

    /// The attention layout: q, k and v of one sequence and head are (T, dk) windows of a
    /// (B·T, 3·d) buffer with leading dimension 3·d.
    private struct Attention {
        let B = 2, T = 9, H = 4, dk = 4
        var d: Int { H * dk }
        func q(_ b: Int, _ h: Int) -> MatrixLayout {
            MatrixLayout(rows: T, columns: dk, leadingDimension: 3 * d, offset: b * T * 3 * d + h * dk)
        }
        func k(_ b: Int, _ h: Int) -> MatrixLayout {
            var l = q(b, h); l.offset += d; return l
        }
        func v(_ b: Int, _ h: Int) -> MatrixLayout {
            var l = q(b, h); l.offset += 2 * d; return l
        }
    }

    func testStridedHeadWindowIntoWindowOfLargerC() {
        let seed: UInt64 = 314
        var g = SeededGenerator(seed: seed)
        let s = Attention()
        let qkv = gaussianTensor([s.B * s.T, 3 * s.d], &g)          // (B·T, 3·d)
        // Scores S = q·kᵀ (T, T) of (b, h) = (1, 2), written into a window of a (T + 5, 2·T + 3)
        // buffer at row 3, column T + 1 (ldc = 2·T + 3 > T).
        let (b, h) = (1, 2)
        let ldc = 2 * s.T + 3
        let cl = MatrixLayout(rows: s.T, columns: s.T, leadingDimension: ldc, offset: 3 * ldc + s.T + 1)
        let cBefore = gaussianTensor([s.T + 5, ldc], &g)
        for (alpha, beta) in [(Float(1), Float(0)), (1 / Float(s.dk).squareRoot(), 0.5)] {
            var c = cBefore
            GEMM.multiply(qkv, s.q(b, h), .none, qkv, s.k(b, h), .transposed, into: &c, cl, alpha: alpha, beta: beta)
            assertProducts([Product(al: s.q(b, h), ta: .none, bl: s.k(b, h), tb: .transposed, cl: cl)],
                           a: qkv, b: qkv, cBefore: cBefore, cAfter: c, alpha: alpha, beta: beta,
                           "seed \(seed), q·kᵀ of head (\(b), \(h)), alpha = \(alpha), beta = \(beta)")
        }

        // att (T, T) · v (T, dk) into head h's columns of a (B·T, d) output, ldc = d.
        let att = gaussianTensor([s.T, s.T], &g)
        let ol = MatrixLayout(rows: s.T, columns: s.dk, leadingDimension: s.d, offset: b * s.T * s.d + h * s.dk)
        let outBefore = gaussianTensor([s.B * s.T, s.d], &g)
        var out = outBefore
        GEMM.multiply(att, MatrixLayout(att), .none, qkv, s.v(b, h), .none, into: &out, ol)
        assertProducts([Product(al: MatrixLayout(att), ta: .none, bl: s.v(b, h), tb: .none, cl: ol)],
                       a: att, b: qkv, cBefore: outBefore, cAfter: out, alpha: 1, beta: 0,
                       "seed \(seed), att·v of head (\(b), \(h))")

        // The backward form dq = dS·k reads k as a (T, dk) window with op = none, and
        // dk = dSᵀ·q reads dS transposed: all four combinations on windows.
        let dS = gaussianTensor([s.T, s.T + 2], &g)                 // padded: ld = T + 2
        let dSl = MatrixLayout(rows: s.T, columns: s.T, leadingDimension: s.T + 2, offset: 1)
        for (ta, tb) in Self.transposes {
            let bl = tb == .none ? s.k(b, h) : MatrixLayout(rows: s.dk, columns: s.T, leadingDimension: s.T, offset: 0)
            let bBuffer = tb == .none ? qkv : gaussianTensor([s.dk, s.T], &g)
            var o = outBefore
            GEMM.multiply(dS, dSl, ta, bBuffer, bl, tb, into: &o, ol, alpha: -0.75, beta: 1)
            assertProducts([Product(al: dSl, ta: ta, bl: bl, tb: tb, cl: ol)],
                           a: dS, b: bBuffer, cBefore: outBefore, cAfter: o, alpha: -0.75, beta: 1,
                           "seed \(seed), windowed op = (\(ta), \(tb))")
        }
    }

    func testBatchedAttentionProductsOnOneAndTwoThreads() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        let seed: UInt64 = 2718
        let s = Attention()
        let items = s.B * s.H                                          // 8
        for threads in [2, 1] {
            Threads.set(threads)
            var g = SeededGenerator(seed: seed)
            let qkv = gaussianTensor([s.B * s.T, 3 * s.d], &g)
            let item = { (i: Int) in (b: i / s.H, h: i % s.H) }

            // Scores of all items into one (B·H·T, T + 1) buffer; the last column is padding.
            let sl = { (i: Int) in MatrixLayout(rows: s.T, columns: s.T, leadingDimension: s.T + 1, offset: i * s.T * (s.T + 1)) }
            let scoresBefore = gaussianTensor([items * s.T, s.T + 1], &g)
            var scores = scoresBefore
            let alpha = 1 / Float(s.dk).squareRoot()
            GEMM.batched(count: items, qkv, { s.q(item($0).b, item($0).h) }, .none,
                         qkv, { s.k(item($0).b, item($0).h) }, .transposed,
                         into: &scores, sl, alpha: alpha)
            assertProducts((0..<items).map { Product(al: s.q(item($0).b, item($0).h), ta: .none,
                                                     bl: s.k(item($0).b, item($0).h), tb: .transposed, cl: sl($0)) },
                           a: qkv, b: qkv, cBefore: scoresBefore, cAfter: scores, alpha: alpha, beta: 0,
                           "seed \(seed), \(threads) threads, batched q·kᵀ")
            XCTAssertEqual(Threads.blasDescription.threads, threads,
                           "BLAS thread count not restored after GEMM.batched on \(threads) threads")

            // att·v for all items into the shared (B·T, d) output, accumulating (beta = 1).
            let att = gaussianTensor([items * s.T, s.T], &g)
            let al = { (i: Int) in MatrixLayout(rows: s.T, columns: s.T, leadingDimension: s.T, offset: i * s.T * s.T) }
            let ol = { (i: Int) in
                MatrixLayout(rows: s.T, columns: s.dk, leadingDimension: s.d, offset: item(i).b * s.T * s.d + item(i).h * s.dk)
            }
            let outBefore = gaussianTensor([s.B * s.T, s.d], &g)
            var out = outBefore
            GEMM.batched(count: items, att, al, .none, qkv, { s.v(item($0).b, item($0).h) }, .none,
                         into: &out, ol, beta: 1)
            assertProducts((0..<items).map { Product(al: al($0), ta: .none, bl: s.v(item($0).b, item($0).h), tb: .none, cl: ol($0)) },
                           a: att, b: qkv, cBefore: outBefore, cAfter: out, alpha: 1, beta: 1,
                           "seed \(seed), \(threads) threads, batched att·v")
        }
    }

    func testBatchedMatchesOneByOne() {
        // Same inputs, batched on two threads and looped one product at a time: bit-identical,
        // since each item is the same single-threaded sgemm call.
        let saved = Threads.count
        defer { Threads.set(saved) }
        let seed: UInt64 = 99
        var g = SeededGenerator(seed: seed)
        let (count, m, n, k) = (5, 17, 11, 23)
        let a = gaussianTensor([count * k, m], &g)                 // item i: rows i·k..<(i+1)·k, used transposed
        let b = gaussianTensor([n, k], &g)                         // shared, used transposed
        let al = { (i: Int) in MatrixLayout(rows: k, columns: m, leadingDimension: m, offset: i * k * m) }
        let bl = { (_: Int) in MatrixLayout(rows: n, columns: k) }
        let cl = { (i: Int) in MatrixLayout(rows: m, columns: n, leadingDimension: count * n, offset: i * n) }
        var batched = Tensor(shape: [m, count * n])
        Threads.set(2)
        GEMM.batched(count: count, a, al, .transposed, b, bl, .transposed, into: &batched, cl)
        Threads.set(1)
        var looped = Tensor(shape: [m, count * n])
        for i in 0..<count {
            GEMM.multiply(a, al(i), .transposed, b, bl(i), .transposed, into: &looped, cl(i))
        }
        XCTAssertEqual(batched, looped, "seed \(seed): batched and one-by-one products differ")
        assertProducts((0..<count).map { Product(al: al($0), ta: .transposed, bl: bl($0), tb: .transposed, cl: cl($0)) },
                       a: a, b: b, cBefore: Tensor(shape: [m, count * n]), cAfter: batched, alpha: 1, beta: 0,
                       "seed \(seed), batched (transposed, transposed)")
    }

    func testEmptyInnerDimensionScalesC() {
        // k = 0: op(A)·op(B) is an m×n matrix of zeros, so C = beta·C.
        let a = Tensor(shape: [3, 0]), b = Tensor(shape: [0, 4])
        XCTAssertEqual(GEMM.product(a, .none, b), Tensor(shape: [3, 4]))
        var c = Tensor(shape: [3, 4], repeating: 2)
        GEMM.multiply(a, .none, b, into: &c, beta: 0.5)
        XCTAssertEqual(c, Tensor(shape: [3, 4], repeating: 1))
        XCTAssertEqual(GEMM.product(Tensor(shape: [0, 5]), .none, Tensor(shape: [5, 2])).shape, [0, 2])
    }
}
