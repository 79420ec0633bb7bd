import Foundation
import NGPTNumerics
import NGPTModels

/// Where a target loss falls on a loss-vs-cost curve (cost: tokens or seconds).
public enum CurveCrossing: Equatable, Sendable {
    /// Reached at this cost, interpolated linearly in log cost between two budgets.
    case at(Double)
    /// Already reached at the smallest budget: the cost needed is at most this.
    case atOrBefore(Double)
    /// Not reached by the largest budget: the cost needed is more than this.
    case beyond(Double)
}

/// The speedup computation of `ngpt compare` (paper Figures 1–2): how many tokens GPT needs to
/// reach nGPT's final loss, relative to nGPT's budget.
public enum Speedup {
    /// The cost at which `curve` (cost ascending; loss of a separate full-schedule run per budget)
    /// first reaches `target`, interpolated in log cost; no extrapolation beyond the measured
    /// budgets. Non-finite losses count as not reached.
    public static func crossing(of target: Double, curve: [(cost: Double, loss: Double)]) -> CurveCrossing? {
        let points = curve.sorted { $0.cost < $1.cost }
        guard let first = points.first, let last = points.last else { return nil }
        guard let i = points.firstIndex(where: { $0.loss.isFinite && $0.loss <= target }) else { return .beyond(last.cost) }
        if i == 0 { return .atOrBefore(first.cost) }
        let a = points[i - 1], b = points[i]
        guard a.loss.isFinite else { return .atOrBefore(b.cost) }
        let f = (a.loss - target) / (a.loss - b.loss)
        return .at(exp(log(a.cost) + f * (log(b.cost) - log(a.cost))))
    }

    /// A speedup: the ratio of the cost GPT needs to nGPT's cost, possibly only a bound.
    public struct Ratio: Codable, Equatable, Sendable, CustomStringConvertible {
        public enum Bound: String, Codable, Sendable { case exact, atMost = "at_most", moreThan = "more_than" }
        public var value: Double
        public var bound: Bound

        public init(value: Double, bound: Bound) {
            self.value = value
            self.bound = bound
        }

        public init(_ crossing: CurveCrossing, over cost: Double) {
            switch crossing {
            case .at(let c): self.init(value: c / cost, bound: .exact)
            case .atOrBefore(let c): self.init(value: c / cost, bound: .atMost)
            case .beyond(let c): self.init(value: c / cost, bound: .moreThan)
            }
        }

        /// "1.32×", "> 2.00×" (GPT never got there) or "≤ 0.50×" (GPT's smallest run already did).
        public var description: String {
            let v = String(format: "%.2f×", value)
            switch bound {
            case .exact: return v
            case .atMost: return "≤ " + v
            case .moreThan: return "> " + v
            }
        }
    }

    /// The ratio for nGPT's `loss` at `cost`, against GPT's curve.
    public static func ratio(ngptLoss: Double, ngptCost: Double, gptCurve: [(cost: Double, loss: Double)]) -> Ratio? {
        guard ngptLoss.isFinite, let c = crossing(of: ngptLoss, curve: gptCurve) else { return nil }
        return Ratio(c, over: ngptCost)
    }
}
