import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

final class TensorTests: XCTestCase {
    func testShapeCountAndRank() {
        let t = Tensor(shape: [2, 3, 4], repeating: 1.5)
        XCTAssertEqual(t.shape, [2, 3, 4])
        XCTAssertEqual(t.rank, 3)
        XCTAssertEqual(t.count, 24)
        XCTAssertTrue(t.scalars.allSatisfy { $0 == 1.5 })

        let scalar = Tensor(shape: [], scalars: [7])
        XCTAssertEqual(scalar.rank, 0)
        XCTAssertEqual(scalar.count, 1)
        XCTAssertEqual(scalar.offset(of: []), 0)

        let empty = Tensor(shape: [3, 0])
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual(empty.rows, 3)
        XCTAssertEqual(empty.columns, 0)
    }

    func testOffsetIsRowMajor() {
        // (2, 3, 4): strides (12, 4, 1).
        let t = Tensor(shape: [2, 3, 4])
        XCTAssertEqual(t.offset(of: [0, 0, 0]), 0)
        XCTAssertEqual(t.offset(of: [0, 0, 3]), 3)
        XCTAssertEqual(t.offset(of: [0, 2, 1]), 9)
        XCTAssertEqual(t.offset(of: [1, 0, 0]), 12)
        XCTAssertEqual(t.offset(of: [1, 2, 3]), 23)
    }

    func testSubscriptReadsAndWritesTheRowMajorElement() {
        var t = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(t[0, 0], 0)
        XCTAssertEqual(t[0, 2], 2)
        XCTAssertEqual(t[1, 0], 3)
        XCTAssertEqual(t[1, 2], 5)
        t[1, 1] = -9
        XCTAssertEqual(t.scalars, [0, 1, 2, 3, -9, 5])
    }

    func testInitFromRows() {
        let t = Tensor(rows: [[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.scalars, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Tensor(rows: []).shape, [0, 0])
    }

    func testRowsAndColumnsSlicesCopyTheRightElements() {
        // t[i, j] = 10·i + j, shape (4, 5).
        let t = Tensor(shape: [4, 5], scalars: (0..<4).flatMap { i in (0..<5).map { j in Float(10 * i + j) } })
        XCTAssertEqual(t.rows, 4)
        XCTAssertEqual(t.columns, 5)

        let r = t.rows(1..<3)
        XCTAssertEqual(r.shape, [2, 5])
        XCTAssertEqual(r.scalars, [10, 11, 12, 13, 14, 20, 21, 22, 23, 24])

        let c = t.columns(2..<4)
        XCTAssertEqual(c.shape, [4, 2])
        XCTAssertEqual(c.scalars, [2, 3, 12, 13, 22, 23, 32, 33])

        XCTAssertEqual(t.rows(0..<4), t)
        XCTAssertEqual(t.columns(0..<5), t)
        XCTAssertEqual(t.rows(2..<2).shape, [0, 5])
        XCTAssertEqual(t.columns(3..<3).shape, [4, 0])
    }

    func testTransposed() {
        let t = Tensor(rows: [[1, 2, 3], [4, 5, 6]])
        let tt = t.transposed
        XCTAssertEqual(tt.shape, [3, 2])
        XCTAssertEqual(tt.scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(tt.transposed, t)

        let seed: UInt64 = 11
        var g = SeededGenerator(seed: seed)
        let r = gaussianTensor([7, 3], &g)
        let rt = r.transposed
        for i in 0..<7 {
            for j in 0..<3 {
                XCTAssertEqual(rt[j, i], r[i, j], "seed \(seed): element (\(i), \(j))")
            }
        }
    }

    func testReshapedKeepsScalarOrder() {
        let t = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        let r = t.reshaped([3, 2])
        XCTAssertEqual(r.shape, [3, 2])
        XCTAssertEqual(r.scalars, t.scalars)
        XCTAssertEqual(r[2, 0], 4)
    }

    func testMaxAbsAndMaxAbsDifference() {
        let a = Tensor(rows: [[1, -7], [3, 2]])
        let b = Tensor(rows: [[1.5, -7], [0, 2]])
        XCTAssertEqual(a.maxAbs, 7)
        XCTAssertEqual(a.maxAbsDifference(b), 3)
        XCTAssertEqual(a.maxAbsDifference(a), 0)
    }

    func testMatrixLayoutOfATensorAndItsExtent() {
        let t = Tensor(shape: [4, 6])
        XCTAssertEqual(MatrixLayout(t), MatrixLayout(rows: 4, columns: 6, leadingDimension: 6, offset: 0))
        XCTAssertEqual(MatrixLayout(t).end, 24)
        // No columns: rows still 1 apart, as BLAS requires a leading dimension ≥ 1.
        XCTAssertEqual(MatrixLayout(Tensor(shape: [3, 0])).leadingDimension, 1)
        XCTAssertEqual(MatrixLayout(Tensor(shape: [3, 0])).end, 0)
        // One head (T = 3, dk = 2) of a (T, 3·d = 12) buffer, second head of K (offset d + dk).
        let head = MatrixLayout(rows: 3, columns: 2, leadingDimension: 12, offset: 4 + 2)
        XCTAssertEqual(head.end, 6 + 2 * 12 + 2)
        XCTAssertEqual(head.shape(.transposed).rows, 2)
        XCTAssertEqual(head.shape(.transposed).columns, 3)
    }

    /// Large buffers start on a 2 MiB boundary (where a huge page can back them), small ones on a
    /// cache line; every buffer starts zeroed and keeps what is written to it.
    func testFloatBufferPlacementAndContents() {
        let large = FloatBuffer(count: FloatBuffer.hugePageThreshold / 4 + 3), small = FloatBuffer(count: 1000)
        XCTAssertEqual(Int(bitPattern: large.base) % (2 << 20), 0, "a large buffer starts on a 2 MiB boundary")
        XCTAssertEqual(Int(bitPattern: small.base) % 64, 0, "a small buffer starts on a cache line")
        for buffer in [large, small] {
            XCTAssertTrue(buffer.array.allSatisfy { $0 == 0 }, "a new buffer of \(buffer.count) floats is zero")
            buffer[buffer.count - 1] = 7
            XCTAssertEqual(buffer.copy(buffer.count - 2..<buffer.count), [0, 7])
        }
        XCTAssertEqual(FloatBuffer(count: 0).count, 0)
    }
}
