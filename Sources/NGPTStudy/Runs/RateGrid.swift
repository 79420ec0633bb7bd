import Foundation

/// A learning-rate grid that grows at an edge: the search `ngpt compare` and `ngpt ablate` tune
/// every learning rate with.
///
/// Every rate of the grid is trained with each tuning seed and scored by the mean of their final
/// losses on the selection half of the validation text (a diverged seed scores +∞). When every
/// run has finished and the best rate is the smallest (largest) of the grid, one rate is added
/// below (above) it — the grid's own spacing at that end, ×2 for a one-point grid — and the search
/// goes on, up to `extensions` rates at each end. A best rate still on an edge after that is
/// reported as such (``atEdge``).
public struct RateGrid: Codable, Sendable, Equatable {
    /// The rates tried, ascending (the starting grid with its extensions).
    public var grid: [Double]
    /// The mean final loss over the tuning seeds of each rate (+∞ if a seed diverged; nil while a
    /// run is unfinished).
    public var losses: [Double?]
    /// Each rate's losses by tuning seed (nil: unfinished).
    public var seedLosses: [[Double?]]
    /// Rates added below and above the starting grid.
    public var extendedBelow: Int
    public var extendedAbove: Int
    /// The best rate, once every run of the grid has finished (nil if all diverged).
    public var best: Double?
    /// Every run of the grid has finished and no further extension is due.
    public var complete: Bool
    /// The best rate is still the smallest or largest tried (extensions used up).
    public var atEdge: Bool

    /// The search as far as the finished runs take it. `seedLosses(lr)` gives the final loss of
    /// each tuning seed's run at `lr` (nil: not finished; +∞ or NaN: diverged).
    public static func search(start: [Double], extensions: Int, seedLosses: (Double) -> [Double?]) -> RateGrid {
        var grid = start.sorted()
        var below = 0, above = 0
        while true {
            let bySeed = grid.map(seedLosses)
            let losses: [Double?] = bySeed.map { seeds in
                seeds.contains { $0 == nil } ? nil : seeds.reduce(0.0) { $0 + ($1!.isFinite ? $1! : .infinity) } / Double(max(1, seeds.count))
            }
            var o = RateGrid(grid: grid, losses: losses, seedLosses: bySeed, extendedBelow: below, extendedAbove: above,
                             best: nil, complete: false, atEdge: false)
            guard losses.allSatisfy({ $0 != nil }) else { return o }
            let scores = losses.map { $0! }
            guard let i = scores.indices.min(by: { scores[$0] < scores[$1] }), scores[i].isFinite else {
                o.complete = true
                return o
            }
            o.best = grid[i]
            let low = i == 0 && grid.count > 1 || grid.count == 1
            let high = i == grid.count - 1 && grid.count > 1 || grid.count == 1
            if low && below < extensions {
                grid.insert(rounded(grid[0] / (grid.count > 1 ? grid[1] / grid[0] : 2)), at: 0)
                below += 1
                continue
            }
            if high && above < extensions {
                let n = grid.count
                grid.append(rounded(grid[n - 1] * (n > 1 ? grid[n - 1] / grid[n - 2] : 2)))
                above += 1
                continue
            }
            o.complete = true
            o.atEdge = grid.count > 1 && (i == 0 || i == grid.count - 1)
            return o
        }
    }

    /// A grown grid's rate to three significant digits, as run names write it.
    public static func rounded(_ lr: Double) -> Double { Double(String(format: "%.2e", lr)) ?? lr }
}
