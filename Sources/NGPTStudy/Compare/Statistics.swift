import Foundation

// PROVISIONAL: replaced by the statistics branch when it lands.
public struct Interval: Codable, Sendable, Equatable {
    public var mean: Double
    public var low: Double
    public var high: Double
    public var count: Int
    public var method: String

    static let t975: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]

    public static func t95(_ values: [Double]) -> Interval? {
        let v = values.filter(\.isFinite)
        guard v.count >= 2 else { return nil }
        let n = Double(v.count), m = v.reduce(0, +) / n
        let sd = sqrt(v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1))
        let t = v.count - 1 <= t975.count ? t975[v.count - 2] : 1.96
        return Interval(mean: m, low: m - t * sd / sqrt(n), high: m + t * sd / sqrt(n), count: v.count, method: "t")
    }

    public static func t95Ratio(_ ratios: [Double]) -> Interval? {
        guard let i = t95(ratios.filter { $0 > 0 }.map(log)) else { return nil }
        return Interval(mean: exp(i.mean), low: exp(i.low), high: exp(i.high), count: i.count, method: "t on log ratio")
    }

    public func contains(_ x: Double) -> Bool { low <= x && x <= high }
}

extension Speedup {
    public static func crossingByFit(of target: Double, curve: [(cost: Double, loss: Double)]) -> CurveCrossing? {
        crossing(of: target, curve: curve)
    }
}
