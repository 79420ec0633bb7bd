import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Tests that would let a wrong result through were they missing: NaN in comparisons, AdamW's
/// clipping and weight decay on every kind of parameter, a forward longer than the training
/// context, and signed against absolute α.
final class SeesEveryFailureTests: XCTestCase {
    /// A NaN is the largest difference, never none: `max` and `>` drop NaN, which made an
    /// all-NaN gradient compare as error 0.
    func testNaNIsNeverASmallDifference() {
        let a = Tensor(shape: [3], scalars: [1, 2, 3])
        let nan = Tensor(shape: [3], scalars: [.nan, .nan, .nan])
        XCTAssertTrue(a.maxAbsDifference(nan).isNaN)
        XCTAssertTrue(nan.maxAbsDifference(a).isNaN)
        XCTAssertTrue(Tensor(shape: [3], scalars: [1, .nan, 3]).maxAbsDifference(a).isNaN)
        XCTAssertTrue(nan.maxAbs.isNaN)
        XCTAssertFalse(a.maxAbsDifference(nan) <= 1e-5, "a tolerance check must fail on NaN")
        XCTAssertTrue(largestDifference([0, .nan, 0], [0, 0, 0]).error.isNaN)
        XCTAssertEqual(largestDifference([0, .nan, 0], [0, 0, 0]).at, 1)
        XCTAssertTrue(largestDifference([.nan, .nan], [1, 2]).error.isNaN, "an all-NaN gradient")
        XCTAssertTrue(maxAbsError([Float.nan, 0], [0.0, 0]).isNaN)
        XCTAssertTrue(maxAbsError([Float.infinity], [Double.infinity]).isNaN, "inf − inf is not agreement")
        XCTAssertEqual(largestDifference([1, 5, 2], [1, 2, 2]).error, 3)
        XCTAssertEqual(maxAbsError([1.0, -4], [1.0, 0]), 4)
    }

    // MARK: - AdamW by hand

    /// Decoupled decay applies to matrices and embeddings (rank 2), never to vectors: written
    /// out by name here, independently of the library's rule.
    static func decays(_ name: String) -> Bool {
        let vectors = ["rmsnorm_att.weight", "rmsnorm_mlp.weight", "rmsnorm_f.weight", "attn_alpha", "mlp_alpha", "sqk", "suv"]
        return name != "sz" && !vectors.contains { name.hasSuffix($0) }
    }

    /// Two AdamW steps against PyTorch's algorithm written out in Double: global-norm clipping
    /// active at both steps with different factors (the second step's update depends on their
    /// ratio; Adam's first step alone would hide it), decoupled decay on wte, lm_head and every
    /// block matrix, none on vectors. The moments after each step are compared too.
    func testAdamWMatchesHandComputedSteps() throws {
        for kind in ModelKind.allCases {
            let config = ModelConfig(kind: kind, vocabularySize: 5, width: 4, heads: 1, layers: 2, context: 4)
            let layout = ParameterLayout(config: config)
            XCTAssertTrue(layout.entries.contains { !Self.decays($0.name) } && layout.entries.contains { Self.decays($0.name) })
            let (lr, wd, clip, b1, b2, eps) = (0.05, 0.5, 1.0, 0.9, 0.95, 1e-8)
            var rng = SeededGenerator(seed: 31)
            let n = layout.count
            let p0 = (0..<n).map { _ in Float(rng.nextNormal()) }
            // Norms about 3·√n and 0.5·√n: clipped by different factors at the two steps.
            let grads = [(0..<n).map { _ in Float(3 * rng.nextNormal()) }, (0..<n).map { _ in Float(0.5 * rng.nextNormal()) }]

            let parameters = ParameterBuffer(layout: layout), gradients = ParameterBuffer(layout: layout)
            parameters.storage.write(p0, at: 0)
            let optimizer = AdamW(layout: layout, weightDecay: Float(wd), clip: Float(clip), beta1: Float(b1), beta2: Float(b2), epsilon: Float(eps))

            var p = p0.map(Double.init), m = [Double](repeating: 0, count: n), v = m
            var factors = [Double]()
            for (step, g32) in grads.enumerated() {
                let g = g32.map(Double.init)
                let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let factor = norm > clip ? clip / (norm + 1e-6) : 1
                factors.append(factor)
                let t = Double(step + 1)
                for e in layout.entries {
                    for i in e.range {
                        let gi = g[i] * factor
                        m[i] = b1 * m[i] + (1 - b1) * gi
                        v[i] = b2 * v[i] + (1 - b2) * gi * gi
                        if Self.decays(e.name) { p[i] *= 1 - lr * wd }
                        p[i] -= lr * (m[i] / (1 - pow(b1, t))) / ((v[i] / (1 - pow(b2, t))).squareRoot() + eps)
                    }
                }
                gradients.storage.write(g32, at: 0)
                optimizer.update(parameters, gradients: gradients, lr: Float(lr))
                for e in layout.entries {
                    let label = "\(kind) step \(step + 1) \(e.name)"
                    let got = parameters.storage.copy(e.range), moment1 = optimizer.firstMoment.storage.copy(e.range)
                    let moment2 = optimizer.secondMoment.storage.copy(e.range)
                    XCTAssertLessThanOrEqual(maxAbsError(got, Array(p[e.range])), 2e-6, "\(label): parameters")
                    XCTAssertLessThanOrEqual(maxAbsError(moment1, Array(m[e.range])), 1e-6 * (1 + Array(m[e.range]).map(abs).max()!), "\(label): first moment")
                    XCTAssertLessThanOrEqual(maxAbsError(moment2, Array(v[e.range])), 1e-6 * (1 + Array(v[e.range]).map(abs).max()!), "\(label): second moment")
                }
            }
            XCTAssertLessThan(factors[0], 0.9, "\(kind): clipping must be active at step 1")
            XCTAssertLessThan(factors[1], 0.99, "\(kind): clipping must be active at step 2")
            XCTAssertGreaterThan(factors[1] / factors[0], 2, "\(kind): different clip factors, so step 2 depends on them")
        }
    }

    // MARK: - Longer than the training context

    /// The reference fixtures (float64 logits of 16-token sequences) reproduced by the same
    /// weights built with a training context of 8 and of 4: the forward pass at 2× and 4× the
    /// context — the length-extrapolation path, where the rotary table grows — matches the
    /// reference, and its first T positions equal a T-token forward (causal attention).
    func testForwardLongerThanTheTrainingContext() throws {
        for url in try FixtureTests.fixtureFiles() {
            let f = try FixtureTests.Fixture(url)
            let want = try f.file.tensor("logits")
            for context in [f.sequence / 2, f.sequence / 4] {
                var config = f.config
                config.context = context
                let m = try Transformer(config: config)
                try m.parameters.load(f.model().parameters.dictionary, source: f.name)
                _ = try m.forward(tokens: f.tokens, batch: f.batch, sequence: f.sequence)
                let long = m.logits
                let err = long.maxAbsDifference(want) / want.maxAbs
                XCTAssertLessThanOrEqual(err, 1e-5, "\(f.name) at context \(context): logits of \(f.sequence) tokens differ from the reference by \(err)")

                // The first `context` positions of every sequence equal a forward of just those.
                let v = config.vocabularySize
                let prefix = (0..<f.batch).flatMap { b in f.tokens[b * f.sequence..<b * f.sequence + context] }
                _ = try m.forward(tokens: prefix, batch: f.batch, sequence: context)
                let short = m.logits.scalars
                for b in 0..<f.batch {
                    let a = Array(long.scalars[(b * f.sequence) * v..<(b * f.sequence + context) * v])
                    let s = Array(short[(b * context) * v..<(b + 1) * context * v])
                    XCTAssertLessThanOrEqual(maxAbsError(a, s), 1e-5 * Double(want.maxAbs), "\(f.name) context \(context), sequence \(b): causal prefix")
                }
            }
        }
    }

    // MARK: - Signed and absolute α

    /// With `absolute` (NVIDIA's |α|) a negative stored α acts as its magnitude and its gradient
    /// flips sign; signed α uses it as it is. A model that ignored `absolute`, or always applied
    /// it, fails here.
    func testSignedAndAbsoluteAlphaAreTold() throws {
        var absolute = ModelConfig(kind: .ngpt, vocabularySize: 11, width: 8, heads: 2, layers: 2, context: 6)
        absolute.alpha.absolute = true
        var signed = absolute
        signed.alpha.absolute = false
        let base = try Transformer(config: absolute, seed: 5)
        let tokens = (0..<12).map { ($0 * 5 + 1) % 11 }, targets = (0..<12).map { ($0 * 3 + 2) % 11 }
        let alphas = base.layout.names.filter { $0.hasSuffix("_alpha") }
        XCTAssertEqual(alphas.count, 4)

        /// Logits, loss and α gradients of `config` with the base weights, α negated or not.
        func run(_ config: ModelConfig, negated: Bool) throws -> (logits: [Float], alphaGradients: [Float]) {
            let m = try Transformer(config: config)
            try m.parameters.load(base.parameters.dictionary)
            if negated {
                for name in alphas {
                    var t = m.parameters.tensor(name)!
                    t.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = -p[i] } }
                    m.parameters.set(name, t)
                }
            }
            _ = try m.forward(tokens: tokens, targets: targets, batch: 2, sequence: 6)
            m.zeroGradients()
            try m.backward()
            return (m.logits.scalars, alphas.flatMap { m.gradients.tensor($0)!.scalars })
        }
        let absPlus = try run(absolute, negated: false), absMinus = try run(absolute, negated: true)
        let signedPlus = try run(signed, negated: false), signedMinus = try run(signed, negated: true)
        XCTAssertEqual(absPlus.logits, signedPlus.logits, "positive α: both parameterisations agree")
        XCTAssertEqual(absMinus.logits, absPlus.logits, "|α|: a negated α gives the same outputs")
        XCTAssertEqual(absMinus.alphaGradients, absPlus.alphaGradients.map { -$0 }, "|α|: the gradient flips sign with α")
        XCTAssertGreaterThan(maxAbsError(signedMinus.logits, signedPlus.logits), 1e-3, "signed α: a negated α changes the outputs")
        XCTAssertGreaterThan(maxAbsError(signedMinus.alphaGradients, absMinus.alphaGradients), 1e-4, "signed and |α| differ for negative α")
    }
}
