import Foundation
import XCTest
@testable import NGPTStudy

/// The statistics of comparisons: t intervals (plain, on log ratios, paired by seed), the power
/// law fitted to a loss curve, and the crossing read from it. Expected values are worked out by
/// hand in the comments or were computed with SciPy (`scipy.stats.t.ppf`, a least-squares fit).
final class StatisticsTests: XCTestCase {
    // MARK: t intervals

    func testT95OfOneTwoThree() throws {
        // mean 2, s = 1, half-width t₀.₉₇₅,₂ · s/√n = 4.303/√3.
        let i = try XCTUnwrap(Interval.t95([1, 2, 3]))
        XCTAssertEqual(i.mean, 2, accuracy: 1e-12)
        XCTAssertEqual(i.high - i.mean, 4.303 / 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(i.mean - i.low, 4.303 / 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(i.count, 3)
        XCTAssertEqual(i.method, "t")
        XCTAssertTrue(i.contains(0))
        XCTAssertFalse(i.contains(4.5))
        // Non-finite values are left out; fewer than two finite values give no interval.
        XCTAssertEqual(Interval.t95([1, .nan, 2, .infinity, 3]), i)
        XCTAssertNil(Interval.t95([1]))
        XCTAssertNil(Interval.t95([1, .nan]))
        XCTAssertNil(Interval.t95([]))
        // Equal values: a zero-width interval.
        XCTAssertEqual(Interval.t95([0.5, 0.5, 0.5]), Interval(mean: 0.5, low: 0.5, high: 0.5, count: 3, method: "t"))
        // Two values 4 apart: s = 2√2, half-width 12.706 · 2√2/√2 = 25.412.
        let two = try XCTUnwrap(Interval.t95([3, 7]))
        XCTAssertEqual(two.low, 5 - 25.412, accuracy: 1e-9)
        XCTAssertEqual(two.high, 5 + 25.412, accuracy: 1e-9)
    }

    func testTQuantiles() {
        XCTAssertEqual(Interval.tQuantile975(degreesOfFreedom: 1), 12.706)
        XCTAssertEqual(Interval.tQuantile975(degreesOfFreedom: 2), 4.303)
        XCTAssertEqual(Interval.tQuantile975(degreesOfFreedom: 10), 2.228)
        XCTAssertEqual(Interval.tQuantile975(degreesOfFreedom: 30), 2.042)
        // Beyond the table: scipy.stats.t.ppf(0.975, ν).
        for (nu, exact) in [(31, 2.039513446396408), (40, 2.021075390306273), (60, 2.0002978220142604),
                            (120, 1.9799304050824402), (1000, 1.9623390808264083)] {
            XCTAssertEqual(Interval.tQuantile975(degreesOfFreedom: nu), exact, accuracy: 1e-6, "ν = \(nu)")
        }
        // Decreasing through the table's end, towards z = 1.96.
        let q = (1...200).map { Interval.tQuantile975(degreesOfFreedom: $0) }
        XCTAssertTrue(zip(q, q.dropFirst()).allSatisfy { $0 > $1 })
        XCTAssertGreaterThan(q.last!, 1.959963984540054)
    }

    func testT95RatioIsComputedOnLogs() throws {
        // log 1.2, log 1.5, log 1.8: mean 0.391858, s 0.203075; exp(mean ∓ 4.303 s/√3).
        let r = try XCTUnwrap(Interval.t95Ratio([1.2, 1.5, 1.8]))
        XCTAssertEqual(r.mean, pow(1.2 * 1.5 * 1.8, 1.0 / 3), accuracy: 1e-12, "the geometric mean")
        XCTAssertEqual(r.mean, 1.479727244598282, accuracy: 1e-12)
        XCTAssertEqual(r.low, 0.8934645609320889, accuracy: 1e-9)
        XCTAssertEqual(r.high, 2.450676629101187, accuracy: 1e-9)
        XCTAssertEqual(r.method, "t on log ratio")
        XCTAssertTrue(r.contains(1), "1× is inside: no speedup shown")
        // 2 and 8 (the rest are not positive and finite): log mean 2·log 2, s = √2·log 2,
        // half-width 12.706·log 2, so the interval is 2^(2 ∓ 12.706).
        let wide = try XCTUnwrap(Interval.t95Ratio([2, -1, 0, .nan, .infinity, 8]))
        XCTAssertEqual(wide.count, 2)
        XCTAssertEqual(wide.mean, 4, accuracy: 1e-12)
        XCTAssertEqual(log2(wide.low), 2 - 12.706, accuracy: 1e-9)
        XCTAssertEqual(log2(wide.high), 2 + 12.706, accuracy: 1e-9)
        XCTAssertNil(Interval.t95Ratio([1.5, -2]))
    }

    func testPairedDifferenceUsesSeedsInBoth() throws {
        // Seeds 1, 2, 3 in both (4 and 5 in one each): differences 1, 1.5, 1 → mean 7/6,
        // s = √(1/12), half-width 4.303 · √(1/12)/√3 = 4.303/6.
        let a: [Int: Double] = [1: 2, 2: 3, 3: 5, 4: 7, 6: .nan]
        let b: [Int: Double] = [1: 1, 2: 1.5, 3: 4, 5: 0, 6: 1]
        let d = try XCTUnwrap(Interval.pairedDifference(a, b))
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(d.mean, 7.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(d.high - d.mean, 4.303 / 6, accuracy: 1e-12)
        XCTAssertEqual(d.method, "paired t")
        XCTAssertFalse(d.contains(0))
        // The same numbers unpaired would give a much wider interval.
        let unpaired = try XCTUnwrap(Interval.t95([2, 3, 5]))
        XCTAssertGreaterThan(unpaired.high - unpaired.low, 3 * (d.high - d.low))
        XCTAssertNil(Interval.pairedDifference([1: 1, 2: 2], [2: 1, 3: 0]), "one common seed")
    }

    // MARK: power law

    func testPowerLawRecoversExactCoefficients() throws {
        let truth = PowerLaw.Fit(a: 1.2, b: 30, c: 0.4)
        for xs in [[1e5, 2e5, 4e5, 8e5], [1e5, 3e5, 2e6], [250, 500, 1_000, 2_000, 4_000]] {
            let fit = try XCTUnwrap(PowerLaw.fit(xs.map { (x: $0, y: truth.loss(at: $0)) }), "\(xs)")
            XCTAssertEqual(fit.a, 1.2, accuracy: 1e-3, "\(xs)")
            XCTAssertEqual(fit.b, 30, accuracy: 1e-3, "\(xs)")
            XCTAssertEqual(fit.c, 0.4, accuracy: 1e-3, "\(xs)")
        }
        XCTAssertEqual(truth.loss(at: 1e4), 1.2 + 30 * pow(1e4, -0.4), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(truth.tokens(toReach: truth.loss(at: 3e5))), 3e5, accuracy: 1e-6)
        XCTAssertNil(truth.tokens(toReach: 1.2), "the asymptote is never reached")
        XCTAssertNil(truth.tokens(toReach: 1.0))
        XCTAssertNil(truth.tokens(toReach: .nan))
    }

    func testPowerLawOnTheDemoCurveMatchesSciPy() throws {
        // GPT's final losses in the demo (README) at 125, 250, 500 and 1,000 steps of 2,048 tokens;
        // the least-squares a, b, c from SciPy (lstsq for a, b; minimize_scalar over log c).
        let demo = [(x: 262_144.0, y: 2.264), (x: 524_288, y: 1.990), (x: 1_048_576, y: 1.735), (x: 2_097_152, y: 1.538)]
        let fit = try XCTUnwrap(PowerLaw.fit(demo))
        XCTAssertEqual(fit.c, 0.2248640097233903, accuracy: 1e-5)
        XCTAssertEqual(fit.a, 0.3099833396015098, accuracy: 1e-4)
        XCTAssertEqual(fit.b / 32.34352604571186, 1, accuracy: 1e-4)
    }

    func testPowerLawRefusesWhatItCannotFit() {
        let truth = PowerLaw.Fit(a: 1.2, b: 30, c: 0.4)
        let two = [1e5, 2e5].map { (x: $0, y: truth.loss(at: $0)) }
        XCTAssertNil(PowerLaw.fit(two), "two points")
        XCTAssertNil(PowerLaw.fit(two + two), "three points but two distinct x")
        XCTAssertNil(PowerLaw.fit(two + [(x: 4e5, y: .nan)]), "a NaN loss is left out")
        XCTAssertNil(PowerLaw.fit(two + [(x: -4e5, y: 1.5)]), "x must be positive")
        XCTAssertNil(PowerLaw.fit([(x: 1, y: 1), (x: 2, y: 2), (x: 4, y: 3)]), "rising")
        XCTAssertNil(PowerLaw.fit([(x: 1, y: 2), (x: 2, y: 1), (x: 4, y: 2)]), "not falling overall")
        XCTAssertNil(PowerLaw.fit([(x: 1, y: 2), (x: 2, y: 2), (x: 4, y: 2)]), "flat")
        // Repeated x (several seeds at one budget) are fine.
        let seeds = [1e5, 1e5, 2e5, 2e5, 4e5, 4e5].enumerated().map { (x: $0.element, y: truth.loss(at: $0.element) + ($0.offset % 2 == 0 ? 0.01 : -0.01)) }
        XCTAssertNotNil(PowerLaw.fit(seeds))
    }

    // MARK: crossing by the fit

    func testCrossingByFitIsTheAnalyticInverseInsideAndABoundOutside() throws {
        let truth = PowerLaw.Fit(a: 1.2, b: 30, c: 0.4)
        let curve = [8e5, 1e5, 4e5, 2e5].map { (cost: $0, loss: truth.loss(at: $0)) }  // any order
        for x in [1.3e5, 2e5, 3e5, 7.9e5] {
            guard case let .at(c)? = Speedup.crossingByFit(of: truth.loss(at: x), curve: curve) else {
                return XCTFail("\(x): no crossing")
            }
            XCTAssertEqual(c / x, 1, accuracy: 1e-6, "\(x)")
        }
        // Reached at the smallest budget: a bound, as for the straight line.
        XCTAssertEqual(Speedup.crossingByFit(of: truth.loss(at: 1e5), curve: curve), .atOrBefore(1e5))
        XCTAssertEqual(Speedup.crossingByFit(of: truth.loss(at: 5e4), curve: curve), .atOrBefore(1e5))
        // Beyond the largest budget the fit has an answer (1e6) but it is not given: a bound stays a bound.
        XCTAssertNotNil(truth.tokens(toReach: truth.loss(at: 1e6)))
        XCTAssertEqual(Speedup.crossingByFit(of: truth.loss(at: 1e6), curve: curve), .beyond(8e5))
        XCTAssertEqual(Speedup.crossingByFit(of: 1.0, curve: curve), .beyond(8e5))
        XCTAssertNil(Speedup.crossingByFit(of: 2, curve: []))
    }

    func testCrossingByFitFallsBackToTheStraightLine() {
        let truth = PowerLaw.Fit(a: 1.2, b: 30, c: 0.4)
        let target = truth.loss(at: 1.5e5)
        // Two points: no fit.
        let two = [1e5, 2e5].map { (cost: $0, loss: truth.loss(at: $0)) }
        XCTAssertEqual(Speedup.crossingByFit(of: target, curve: two), Speedup.crossing(of: target, curve: two))
        guard case .at? = Speedup.crossing(of: target, curve: two) else { return XCTFail("the line crosses") }
        // A NaN loss leaves two finite points.
        let nan = two + [(cost: 4e5, loss: .nan)]
        XCTAssertEqual(Speedup.crossingByFit(of: target, curve: nan), Speedup.crossing(of: target, curve: nan))
        // Not falling overall (the last point above the first): no fit.
        let rising: [(cost: Double, loss: Double)] = [(1e5, 2.0), (2e5, 1.5), (4e5, 2.5)]
        XCTAssertNil(PowerLaw.fit(rising.map { (x: $0.cost, y: $0.loss) }))
        XCTAssertEqual(Speedup.crossingByFit(of: 1.8, curve: rising), Speedup.crossing(of: 1.8, curve: rising))
    }

    func testCrossingByFitStaysBetweenTheBracketingBudgets() throws {
        // A noisy curve: the measured points cross both 2.19 and 1.72 between 2e5 and 4e5, the
        // smooth fit (SciPy: a 1.098, b 441.7, c 0.498) crosses 2.19 before 2e5 and 1.72 after 4e5.
        // The answers are clamped into [2e5, 4e5].
        let curve: [(cost: Double, loss: Double)] = [(1e5, 2.5), (2e5, 2.2), (4e5, 1.7), (8e5, 1.65)]
        let fit = try XCTUnwrap(PowerLaw.fit(curve.map { (x: $0.cost, y: $0.loss) }))
        XCTAssertLessThan(try XCTUnwrap(fit.tokens(toReach: 2.19)), 2e5)
        XCTAssertGreaterThan(try XCTUnwrap(fit.tokens(toReach: 1.72)), 4e5)
        XCTAssertEqual(Speedup.crossingByFit(of: 2.19, curve: curve), .at(2e5))
        XCTAssertEqual(Speedup.crossingByFit(of: 1.72, curve: curve), .at(4e5))
        // Where the fit falls inside the bracket it is used as it is.
        guard case let .at(c)? = Speedup.crossingByFit(of: 1.9, curve: curve) else { return XCTFail("no crossing") }
        XCTAssertEqual(c, try XCTUnwrap(fit.tokens(toReach: 1.9)), accuracy: 1e-6)
        XCTAssertTrue((2e5...4e5).contains(c))
    }

    func testABendingCurveGivesASmallerSpeedupThanTheStraightLine() throws {
        // GPT's demo curve bends: its drop per doubling shrinks (0.274, 0.255, 0.197 nats). nGPT's
        // 500-step loss, 1.624 at 1,048,576 tokens, falls between GPT's 500 and 1,000 steps.
        let gpt: [(cost: Double, loss: Double)] = [(262_144, 2.264), (524_288, 1.990), (1_048_576, 1.735), (2_097_152, 1.538)]
        let ngptTokens = 1_048_576.0
        let line = Speedup.Ratio(try XCTUnwrap(Speedup.crossing(of: 1.624, curve: gpt)), over: ngptTokens)
        let fitted = Speedup.Ratio(try XCTUnwrap(Speedup.crossingByFit(of: 1.624, curve: gpt)), over: ngptTokens)
        XCTAssertEqual(line.bound, .exact)
        XCTAssertEqual(fitted.bound, .exact)
        // Straight line: 2^((1.735 − 1.624)/0.197) = 1.4778×; the fit (SciPy): 1.4662×.
        XCTAssertEqual(line.value, 1.4778007610581123, accuracy: 1e-9)
        XCTAssertEqual(fitted.value, 1.466190728448172, accuracy: 1e-4)
        XCTAssertLessThan(fitted.value, line.value)

        // On an exact power law the fit gives the true answer and the line overstates it.
        let truth = PowerLaw.Fit(a: 1.2, b: 30, c: 0.4)
        let curve = [1e5, 2e5, 4e5, 8e5].map { (cost: $0, loss: truth.loss(at: $0)) }
        let target = truth.loss(at: 3e5)
        let byLine = Speedup.Ratio(try XCTUnwrap(Speedup.crossing(of: target, curve: curve)), over: 2e5)
        let byFit = Speedup.Ratio(try XCTUnwrap(Speedup.crossingByFit(of: target, curve: curve)), over: 2e5)
        XCTAssertEqual(byFit.value, 1.5, accuracy: 1e-6)
        XCTAssertGreaterThan(byLine.value, byFit.value + 0.005)
    }
}
