import XCTest
@testable import NGPTNumerics

/// Attention's own causal products against OpenBLAS over whole blocks: the same outputs and
/// gradients for head widths that are and are not multiples of 16, sequences that end inside a
/// vector and that span two causal blocks. The own products' buffers start filled with NaN, so
/// a product that read a score or probability the forward did not write would show.
final class CausalProductsTests: XCTestCase {
    struct Shape { var batch, sequence, width, heads: Int }

    func compare(_ s: Shape, seed: UInt64) {
        var g = GradientCheck(seed: seed)
        let n = s.batch * s.sequence, c = s.width
        let qkv = g.normal(n * 3 * c), dy = g.normal(n * c), start = g.normal(n * 3 * c)
        let scores = s.batch * s.heads * attentionScoresCount(sequence: s.sequence)
        let scale = 1 / Float(c / s.heads).squareRoot()
        func run(_ products: AttentionProducts, fill: Float) -> (y: [Float], dqkv: [Float]) {
            let fwd = withPointers([qkv, zeros(n * c), [Float](repeating: fill, count: scores)]) { p in
                attentionForward(p[1], p[2], p[0], batch: s.batch, sequence: s.sequence, width: c, heads: s.heads,
                                 scale: scale, products: products)
            }
            let bwd = withPointers([qkv, fwd[2], dy, start, [Float](repeating: fill, count: scores)]) { p in
                attentionBackward(p[3], p[4], p[2], p[0], p[1], batch: s.batch, sequence: s.sequence, width: c,
                                  heads: s.heads, scale: scale, products: products)
            }
            return (fwd[1], bwd[3])
        }
        let blas = run(.blas, fill: 0), own = run(.causal, fill: .nan)
        let label = "T \(s.sequence), head width \(c / s.heads)"
        let (dy0, at0) = largestDifference(blas.y, own.y)
        XCTAssertLessThan(dy0, 1e-5, "\(label): output differs at \(at0)")
        let (dg, at1) = largestDifference(blas.dqkv, own.dqkv)
        XCTAssertLessThan(dg, 1e-5, "\(label): gradient differs at \(at1)")
    }

    func testHeadsOfSixteenInOneBlock() { compare(Shape(batch: 2, sequence: 37, width: 64, heads: 4), seed: 11) }
    func testHeadsOfTwentyFourOverTwoBlocks() { compare(Shape(batch: 1, sequence: 150, width: 48, heads: 2), seed: 12) }
    func testHeadsOfThirtyTwoOverTwoBlocks() { compare(Shape(batch: 1, sequence: 133, width: 64, heads: 2), seed: 13) }
    func testHeadsOfEight() { compare(Shape(batch: 2, sequence: 9, width: 16, heads: 2), seed: 14) }
}
