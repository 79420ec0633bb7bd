import Foundation
import NGPTNumerics
import NGPTModels

/// The learning-rate sweep of ``TuningProcedure/budgets``: at every shape and context, each model
/// is tuned at several of its budgets, and a grid whose best rate lies on an edge grows there.
///
/// A *cell* is one model at one shape, context and budget. Its grid starts as
/// ``ComparisonSettings/lrGrid``; every rate is trained with each tuning seed and scored by the
/// mean of their final losses on the selection half of the validation text (a diverged run
/// scores +∞). When every run of the grid has finished and the best rate is the smallest (or
/// largest) of the grid, one rate is added below (above) it — the grid's own spacing at that end
/// (×2 for a one-point grid) — and the cell is tuned again, up to
/// ``ComparisonSettings/gridExtensions`` points at each end. A best rate still on an edge after
/// that is reported as such.
public enum TuningSweep {
    /// One model at one shape, context and budget.
    public struct Cell: Hashable, Sendable {
        public var shape: ModelShape?
        public var context: Int
        public var kind: ModelKind
        public var steps: Int

        /// The tuning runs of `grid`: every rate with every tuning seed.
        public func runs(grid: [Double], _ s: ComparisonSettings) -> [PlannedRun] {
            grid.flatMap { lr in
                s.tuningSeedList.map { PlannedRun(kind: kind, context: context, steps: steps, seed: $0, lr: lr, purpose: .tuning, shape: shape) }
            }
        }

        var key: LearningRates.Key { LearningRates.Key(shape: shape, context: context, kind: kind) }
    }

    /// Where a cell's sweep stands.
    public struct Outcome: Codable, Sendable {
        public var shape: ModelShape?
        public var context: Int
        public var kind: ModelKind
        public var steps: Int
        /// The rates tried, ascending (the grid with its extensions).
        public var grid: [Double]
        /// The mean final loss over the tuning seeds of each rate (+∞ if a seed diverged; nil
        /// while a run is unfinished).
        public var losses: [Double?]
        /// Each rate's losses by tuning seed (nil: unfinished).
        public var seedLosses: [[Double?]]
        /// Rates added below and above the given grid.
        public var extendedBelow: Int
        public var extendedAbove: Int
        /// The best rate, once every run of the grid has finished (nil if all diverged).
        public var best: Double?
        /// Every run of the grid has finished and no further extension is due.
        public var complete: Bool
        /// The best rate is still the smallest or largest tried (extensions used up).
        public var atEdge: Bool
    }

    /// The cells of `s`: every shape, context, model that needs tuning and budget it is tuned at.
    public static func cells(_ s: ComparisonSettings) -> [Cell] {
        s.shapeList.flatMap { shape in
            s.contexts.flatMap { t in
                ModelKind.allCases.filter(s.needsTuning).flatMap { kind in
                    s.tuningBudgets(of: kind).map { Cell(shape: shape, context: t, kind: kind, steps: $0) }
                }
            }
        }
    }

    /// Every cell's sweep as far as the finished runs in `runsDirectory` take it.
    public static func outcomes(_ s: ComparisonSettings, runsDirectory: URL) -> [Outcome] {
        cells(s).map { outcome($0, s, runsDirectory: runsDirectory) }
    }

    /// The tuning runs needed now: the current grid of every cell (finished ones included).
    public static func currentRuns(_ s: ComparisonSettings, runsDirectory: URL) -> [PlannedRun] {
        runs(of: outcomes(s, runsDirectory: runsDirectory), s)
    }

    /// The runs of the current grids of `outcomes`.
    public static func runs(of outcomes: [Outcome], _ s: ComparisonSettings) -> [PlannedRun] {
        outcomes.flatMap { o in Cell(shape: o.shape, context: o.context, kind: o.kind, steps: o.steps).runs(grid: o.grid, s) }
    }

    /// Whether every cell's sweep is complete.
    public static func isComplete(_ s: ComparisonSettings, runsDirectory: URL) -> Bool {
        outcomes(s, runsDirectory: runsDirectory).allSatisfy(\.complete)
    }

    static func outcome(_ cell: Cell, _ s: ComparisonSettings, runsDirectory: URL) -> Outcome {
        var grid = s.lrGrid.sorted()
        var below = 0, above = 0
        while true {
            let seedLosses: [[Double?]] = grid.map { lr in
                cell.runs(grid: [lr], s).map { run in
                    TrainedRun.read(runsDirectory.appendingPathComponent(run.id), steps: run.steps, context: run.context).comparableLoss
                }
            }
            let losses: [Double?] = seedLosses.map { seeds in
                seeds.contains { $0 == nil } ? nil : seeds.reduce(0.0) { $0 + ($1!.isFinite ? $1! : .infinity) } / Double(seeds.count)
            }
            var o = Outcome(shape: cell.shape, context: cell.context, kind: cell.kind, steps: cell.steps, grid: grid, losses: losses,
                            seedLosses: seedLosses, extendedBelow: below, extendedAbove: above, best: nil, complete: false, atEdge: false)
            guard losses.allSatisfy({ $0 != nil }) else { return o }
            let scores = losses.map { $0! }
            guard let i = scores.indices.min(by: { scores[$0] < scores[$1] }), scores[i].isFinite else {
                o.complete = true
                return o
            }
            o.best = grid[i]
            let low = i == 0 && grid.count > 1 || grid.count == 1
            let high = i == grid.count - 1 && grid.count > 1 || grid.count == 1
            if low && below < s.gridExtensions {
                grid.insert(rounded(grid[0] / (grid.count > 1 ? grid[1] / grid[0] : 2)), at: 0)
                below += 1
                continue
            }
            if high && above < s.gridExtensions {
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
    static func rounded(_ lr: Double) -> Double { Double(String(format: "%.2e", lr)) ?? lr }

    /// The rates chosen at every tuned budget, once every sweep is complete (nil while a run is
    /// unfinished, or when every rate of a cell diverged); fixed rates (`--lr-gpt`/`--lr-ngpt`)
    /// hold at every budget.
    public static func chosenRates(_ s: ComparisonSettings, runsDirectory: URL) -> (rates: LearningRates, outcomes: [Outcome])? {
        let all = outcomes(s, runsDirectory: runsDirectory)
        guard all.allSatisfy({ $0.complete && $0.best != nil }) else { return nil }
        var points = [LearningRates.Key: [LearningRates.Point]]()
        for o in all {
            points[LearningRates.Key(shape: o.shape, context: o.context, kind: o.kind), default: []].append(.init(steps: o.steps, lr: o.best!))
        }
        for shape in s.shapeList {
            for t in s.contexts {
                for kind in ModelKind.allCases {
                    if let fixed = kind == .gpt ? s.lrGPT : s.lrNGPT {
                        points[LearningRates.Key(shape: shape, context: t, kind: kind)] = [.init(steps: 1, lr: fixed)]
                    }
                }
            }
        }
        return (LearningRates(points: points, rule: s.rateRule), all)
    }
}
