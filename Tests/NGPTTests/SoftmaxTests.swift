import XCTest
@testable import NGPTNumerics

/// Rows taken two at a time (``softmaxPair(_:_:)``, which attention and cross-entropy use) give
/// every bit that one row at a time gives, for rows that end inside a vector, with and without
/// room past their end, of large magnitudes, and with a NaN.
final class SoftmaxTests: XCTestCase {
    /// `count` floats of varied sizes, NaN at `nan` if given.
    func row(_ g: inout GradientCheck, count: Int, magnitude: Float, nan: Int? = nil) -> [Float] {
        var r = g.normal(count).map { $0 * magnitude }
        if let nan { r[nan] = .nan }
        return r
    }

    func testPairsGiveTheBitsOfSingleRows() {
        var g = GradientCheck(seed: 21)
        for (a, b) in [(1, 2), (7, 8), (8, 9), (15, 16), (17, 31), (33, 40), (64, 65), (127, 128), (256, 256)] {
            for room in [0, 3, 16] {
                for magnitude: Float in [1, 80] {
                    let ra = row(&g, count: a, magnitude: magnitude), rb = row(&g, count: b, magnitude: magnitude)
                    compare(ra, rb, room: room, label: "counts \(a), \(b), room +\(room), magnitude \(magnitude)")
                }
            }
        }
        compare(row(&g, count: 20, magnitude: 1, nan: 17), row(&g, count: 21, magnitude: 1), room: 5, label: "NaN row")
    }

    /// The two rows in one buffer of width max(count) + `room`, as attention lays them out.
    func compare(_ ra: [Float], _ rb: [Float], room extra: Int, label: String) {
        let width = max(ra.count, rb.count) + extra
        var single = [Float](repeating: 0, count: 2 * width), paired = single
        for (i, v) in ra.enumerated() { single[i] = v }
        for (i, v) in rb.enumerated() { single[width + i] = v }
        paired = single
        let one = single.withUnsafeMutableBufferPointer { p in
            let s = p.baseAddress!
            return (softmax(s, s, count: ra.count, room: width), softmax(s + width, s + width, count: rb.count, room: width))
        }
        let two = paired.withUnsafeMutableBufferPointer { p in
            let s = p.baseAddress!
            return softmaxPair(SoftmaxRow(s, s, count: ra.count, room: width),
                               SoftmaxRow(s + width, s + width, count: rb.count, room: width))
        }
        XCTAssertEqual(single.map(\.bitPattern), paired.map(\.bitPattern), "\(label): probabilities differ")
        XCTAssertEqual([one.0.max, one.0.sum, one.1.max, one.1.sum].map(\.bitPattern),
                       [two.a.max, two.a.sum, two.b.max, two.b.sum].map(\.bitPattern), "\(label): maxima or sums differ")
        if label == "NaN row" { XCTAssertTrue(paired[0..<ra.count].allSatisfy(\.isNaN), "a NaN input makes its row NaN") }
    }

    /// Cross-entropy over an odd number of rows (the last one alone) against log-sum-exp row by row.
    func testCrossEntropyRowsInPairsAndAlone() {
        var g = GradientCheck(seed: 22)
        let (n, v) = (5, 37)
        let logits = g.normal(n * v).map { $0 * 4 }
        let targets: [Int32] = [0, 36, 5, 17, 2]
        var losses = [Float](repeating: 0, count: n), probs = [Float](repeating: 0, count: n * v)
        _ = losses.withUnsafeMutableBufferPointer { l in
            probs.withUnsafeMutableBufferPointer { p in
                logits.withUnsafeBufferPointer { x in
                    targets.withUnsafeBufferPointer { t in
                        crossEntropyForward(l.baseAddress!, p.baseAddress!, x.baseAddress!, t.baseAddress!, rows: n, vocabulary: v)
                    }
                }
            }
        }
        for r in 0..<n {
            let x = logits[r * v..<(r + 1) * v].map(Double.init), m = x.max()!
            let expected = m + log(x.map { Foundation.exp($0 - m) }.reduce(0, +)) - x[Int(targets[r])]
            XCTAssertEqual(Double(losses[r]), expected, accuracy: 1e-5, "row \(r)")
            XCTAssertEqual(probs[r * v..<(r + 1) * v].reduce(0, +), 1, accuracy: 1e-5, "row \(r)'s probabilities")
        }
    }
}
