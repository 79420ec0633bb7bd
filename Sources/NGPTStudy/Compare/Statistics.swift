import Foundation

/// A 95 % confidence interval of a mean over seeds, and how it was computed.
///
/// Every interval here is Student's t interval: for `n` finite values `v₁ … vₙ` with mean
/// `m = Σvᵢ/n` and sample standard deviation `s = √(Σ(vᵢ − m)²/(n − 1))`,
///
///     low, high = m ∓ t₀.₉₇₅,ₙ₋₁ · s/√n
///
/// where `t₀.₉₇₅,ν` is the 97.5 % quantile of Student's t distribution with `ν` degrees of freedom
/// (``tQuantile975(degreesOfFreedom:)``). "Inside the noise" means the interval holds 0 for a
/// difference (``contains(_:)``), 1 for a ratio.
public struct Interval: Codable, Sendable, Equatable {
    /// The estimate: the mean (the geometric mean for ``t95Ratio(_:)``).
    public var mean: Double
    /// The lower end of the 95 % interval.
    public var low: Double
    /// The upper end of the 95 % interval.
    public var high: Double
    /// How many values it was computed from (finite ones only).
    public var count: Int
    /// How: `"t"` (``t95(_:)``), `"t on log ratio"` (``t95Ratio(_:)``) or `"paired t"`
    /// (``pairedDifference(_:_:)``).
    public var method: String

    public init(mean: Double, low: Double, high: Double, count: Int, method: String) {
        self.mean = mean
        self.low = low
        self.high = high
        self.count = count
        self.method = method
    }

    /// `t₀.₉₇₅,ν` for ν = 1 … 30, to three decimals (the usual table).
    static let t975Table: [Double] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ]

    /// The 97.5 % quantile of Student's t distribution with `ν` degrees of freedom (ν ≥ 1): the
    /// table's value for ν ≤ 30, else the Cornish–Fisher expansion about the normal quantile
    /// `z = 1.959964` (Abramowitz & Stegun 26.7.5),
    ///
    ///     t ≈ z + g₁/ν + g₂/ν² + g₃/ν³ + g₄/ν⁴,
    ///     g₁ = (z³ + z)/4,  g₂ = (5z⁵ + 16z³ + 3z)/96,  g₃ = (3z⁷ + 19z⁵ + 17z³ − 15z)/384,
    ///     g₄ = (79z⁹ + 776z⁷ + 1482z⁵ − 1920z³ − 945z)/92160,
    ///
    /// within 10⁻⁶ of the exact quantile for ν > 30.
    public static func tQuantile975(degreesOfFreedom nu: Int) -> Double {
        precondition(nu >= 1, "Student's t needs at least one degree of freedom, got \(nu)")
        if nu <= t975Table.count { return t975Table[nu - 1] }
        let z = 1.959963984540054, n = Double(nu)
        let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z
        let g1 = (z3 + z) / 4
        let g2 = (5 * z5 + 16 * z3 + 3 * z) / 96
        let g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384
        let g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160
        return z + g1 / n + g2 / (n * n) + g3 / (n * n * n) + g4 / (n * n * n * n)
    }

    /// Student's t 95 % interval of the mean of the finite `values` (NaN and ±∞ are left out):
    /// `m ∓ t₀.₉₇₅,ₙ₋₁ · s/√n`, method `"t"`. Nil for fewer than 2 finite values.
    public static func t95(_ values: [Double]) -> Interval? {
        let v = values.filter(\.isFinite)
        guard v.count >= 2 else { return nil }
        let n = Double(v.count)
        let m = v.reduce(0, +) / n
        let s = (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
        let half = tQuantile975(degreesOfFreedom: v.count - 1) * s / n.squareRoot()
        return Interval(mean: m, low: m - half, high: m + half, count: v.count, method: "t")
    }

    /// The 95 % interval of a ratio (a speedup), from the t interval of its logarithms,
    /// transformed back: with `mₗ ∓ hₗ` = ``t95(_:)`` of `log rᵢ`, `mean = exp(mₗ)` (the geometric
    /// mean), `low = exp(mₗ − hₗ)`, `high = exp(mₗ + hₗ)`; method `"t on log ratio"`. Ratios that are
    /// not finite and positive are left out; nil for fewer than 2 left.
    public static func t95Ratio(_ ratios: [Double]) -> Interval? {
        guard let i = t95(ratios.filter { $0.isFinite && $0 > 0 }.map { log($0) }) else { return nil }
        return Interval(mean: exp(i.mean), low: exp(i.low), high: exp(i.high), count: i.count, method: "t on log ratio")
    }

    /// The paired 95 % interval of `a − b` over the seeds (the keys) present in both with finite
    /// values: ``t95(_:)`` of `dₛ = a[s] − b[s]`, method `"paired t"`. Nil for fewer than 2 pairs.
    /// Pairing by seed removes what two runs of the same seed share (initial weights, data order).
    public static func pairedDifference(_ a: [Int: Double], _ b: [Int: Double]) -> Interval? {
        let d = a.keys.sorted().compactMap { s -> Double? in
            guard let x = a[s], let y = b[s], x.isFinite, y.isFinite else { return nil }
            return x - y
        }
        guard var i = t95(d) else { return nil }
        i.method = "paired t"
        return i
    }

    /// Whether `x` lies in `[low, high]`.
    public func contains(_ x: Double) -> Bool { low <= x && x <= high }
}

/// A power law with an offset, `loss(t) = a + b·t^(−c)` (b > 0, c > 0), fitted to a loss-vs-tokens
/// curve: a curve that bends, whose drop per doubling of t shrinks, unlike a straight line in
/// log t.
public enum PowerLaw {
    /// The fitted coefficients of `loss(t) = a + b·t^(−c)`.
    public struct Fit: Codable, Sendable, Equatable {
        /// The asymptote: the loss as t → ∞.
        public var a: Double
        /// The scale, positive.
        public var b: Double
        /// The exponent, positive.
        public var c: Double

        public init(a: Double, b: Double, c: Double) {
            self.a = a
            self.b = b
            self.c = c
        }

        /// `a + b·x^(−c)`.
        public func loss(at x: Double) -> Double { a + b * pow(x, -c) }

        /// The inverse, `x = (b / (loss − a))^(1/c)`; nil when `loss ≤ a` (the curve never gets
        /// there) or the result is not finite.
        public func tokens(toReach loss: Double) -> Double? {
            guard loss.isFinite, loss > a else { return nil }
            let x = pow(b / (loss - a), 1 / c)
            return x.isFinite && x > 0 ? x : nil
        }
    }

    /// The exponents tried before refinement: 0.02 … 3 in 120 equal steps of log c.
    static let exponentGrid: [Double] = (0...120).map { 0.02 * pow(150, Double($0) / 120) }

    /// The least-squares fit of `y = a + b·x^(−c)` to `points`.
    ///
    /// Points whose `x` is not finite and positive or whose `y` is not finite are left out. For a
    /// fixed c the model is linear in a and b, so they come from ordinary least squares on
    /// `uᵢ = (xᵢ/x₀)^(−c)` (x₀ the smallest x, for conditioning; `b = b′·x₀^c`):
    /// `b′ = Σ(uᵢ − ū)(yᵢ − ȳ) / Σ(uᵢ − ū)²`, `a = ȳ − b′ū`. The exponent minimises the sum of
    /// squared residuals over c ∈ [0.02, 3], among exponents whose b is positive: first on a grid
    /// of 121 values equally spaced in log c, then by golden-section search in log c between the
    /// best grid value's neighbours. With three distinct x the fit may pass through every point.
    ///
    /// Nil when fewer than 3 distinct x remain, when the data do not decrease overall (the mean y
    /// at the largest x is not below the mean y at the smallest), or when the fit is degenerate
    /// (no exponent gives b > 0, or the result is not finite).
    public static func fit(_ points: [(x: Double, y: Double)]) -> Fit? {
        let p = points.filter { $0.x.isFinite && $0.x > 0 && $0.y.isFinite }
        guard Set(p.map(\.x)).count >= 3, let x0 = p.map(\.x).min(), let x1 = p.map(\.x).max() else { return nil }
        let mean = { (ys: [Double]) in ys.reduce(0, +) / Double(ys.count) }
        guard mean(p.filter { $0.x == x1 }.map(\.y)) < mean(p.filter { $0.x == x0 }.map(\.y)) else { return nil }

        /// a, b′ and the sum of squared residuals for exponent c; nil when b′ ≤ 0 or degenerate.
        func linear(_ c: Double) -> (a: Double, b: Double, sse: Double)? {
            let u = p.map { pow($0.x / x0, -c) }
            let n = Double(p.count)
            let uBar = u.reduce(0, +) / n, yBar = p.reduce(0) { $0 + $1.y } / n
            var suu = 0.0, suy = 0.0
            for (ui, pi) in zip(u, p) {
                suu += (ui - uBar) * (ui - uBar)
                suy += (ui - uBar) * (pi.y - yBar)
            }
            guard suu > 0, suu.isFinite else { return nil }
            let b = suy / suu, a = yBar - b * uBar
            guard b > 0, a.isFinite, b.isFinite else { return nil }
            let sse = zip(u, p).reduce(0) { $0 + ($1.1.y - a - b * $1.0) * ($1.1.y - a - b * $1.0) }
            return sse.isFinite ? (a, b, sse) : nil
        }
        let objective = { (logC: Double) in linear(exp(logC))?.sse ?? .infinity }

        let grid = exponentGrid
        let scores = grid.map { objective(log($0)) }
        guard let best = scores.indices.min(by: { scores[$0] < scores[$1] }), scores[best].isFinite else { return nil }
        // Golden-section search for the minimum of the objective in log c between the neighbours.
        var lo = log(grid[max(best - 1, 0)]), hi = log(grid[min(best + 1, grid.count - 1)])
        let r = (5.0.squareRoot() - 1) / 2
        var m1 = hi - r * (hi - lo), m2 = lo + r * (hi - lo)
        var f1 = objective(m1), f2 = objective(m2)
        var steps = 0
        while hi - lo > 1e-13 && steps < 200 {
            steps += 1
            if f1 <= f2 {
                (hi, m2, f2) = (m2, m1, f1)
                m1 = hi - r * (hi - lo)
                f1 = objective(m1)
            } else {
                (lo, m1, f1) = (m1, m2, f2)
                m2 = lo + r * (hi - lo)
                f2 = objective(m2)
            }
        }
        let candidates = [(log(grid[best]), scores[best]), (m1, f1), (m2, f2)]
        let logC = candidates.min { $0.1 < $1.1 }!.0
        let c = exp(logC)
        guard let l = linear(c) else { return nil }
        let fit = Fit(a: l.a, b: l.b * pow(x0, c), c: c)
        return fit.a.isFinite && fit.b.isFinite && fit.b > 0 ? fit : nil
    }
}

extension Speedup {
    /// The cost at which `curve` (cost ascending; one full-schedule run per budget) reaches
    /// `target`, read from a power law fitted to the whole curve (``PowerLaw/fit(_:)``) instead of
    /// a straight line in log cost, and never extrapolated.
    ///
    /// The measured points decide the case, by the rules of ``crossing(of:curve:)``: reached at
    /// the smallest budget → `.atOrBefore(first cost)`; not reached by the largest →
    /// `.beyond(last cost)` (a bound stays a bound, whatever the fit would say beyond it).
    /// Otherwise the measured points cross the target between budgets `costᵢ₋₁` and `costᵢ`, and
    /// the answer is the fit's inverse `(b / (target − a))^(1/c)` clamped into
    /// `[costᵢ₋₁, costᵢ]`. When there is no fit (fewer than 3 finite points, losses that do not
    /// fall overall, no positive b) or the fit never reaches the target (`target ≤ a`), the
    /// answer is ``crossing(of:curve:)``'s, linear in log cost.
    ///
    /// On a curve that bends (a power law with a > 0 is convex in log cost), the straight line
    /// between two budgets lies above the curve and reaches the target later, so the fitted
    /// crossing is the smaller cost and the smaller speedup.
    public static func crossingByFit(of target: Double, curve: [(cost: Double, loss: Double)]) -> CurveCrossing? {
        guard let linear = crossing(of: target, curve: curve) else { return nil }
        guard case .at = linear else { return linear }
        let points = curve.sorted { $0.cost < $1.cost }
        guard let i = points.firstIndex(where: { $0.loss.isFinite && $0.loss <= target }), i > 0,
              let fit = PowerLaw.fit(points.map { (x: $0.cost, y: $0.loss) }),
              let x = fit.tokens(toReach: target) else { return linear }
        return .at(min(max(x, points[i - 1].cost), points[i].cost))
    }

    /// ``ratio(ngptLoss:ngptCost:gptCurve:)`` with the crossing read off the power-law fit
    /// (``crossingByFit(of:curve:)``).
    public static func ratioByFit(ngptLoss: Double, ngptCost: Double, gptCurve: [(cost: Double, loss: Double)]) -> Ratio? {
        guard ngptLoss.isFinite, let c = crossingByFit(of: ngptLoss, curve: gptCurve) else { return nil }
        return Ratio(c, over: ngptCost)
    }
}
