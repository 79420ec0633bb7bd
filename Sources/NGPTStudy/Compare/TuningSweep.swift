import Foundation
import NGPTNumerics
import NGPTModels

/// The learning-rate sweep of ``TuningProcedure/budgets``: at every shape and context, each model
/// is tuned at several of its budgets, and a grid whose best rate lies on an edge grows there.
///
/// A *cell* is one model at one shape, context and budget. Its grid starts as
/// ``ComparisonSettings/lrGrid`` and is searched by ``RateGrid/search(start:extensions:seedLosses:)``
/// with ``ComparisonSettings/tuningSeeds`` seeds per rate, up to ``ComparisonSettings/gridExtensions``
/// points added at each end.
public enum TuningSweep {
    /// One model at one shape, context and budget.
    public struct Cell: Hashable, Sendable {
        public var shape: ModelShape?
        public var context: Int
        /// The model's name.
        public var model: String
        public var steps: Int

        /// The tuning runs of `grid`: every rate with every tuning seed.
        public func runs(grid: [Double], _ s: ComparisonSettings) -> [PlannedRun] {
            grid.flatMap { lr in
                s.tuningSeedList.map { PlannedRun(model: model, context: context, steps: steps, seed: $0, lr: lr, purpose: .tuning, shape: shape) }
            }
        }

        var key: LearningRates.Key { LearningRates.Key(shape: shape, context: context, model: model) }
    }

    /// Where a cell's sweep stands.
    public struct Outcome: Codable, Sendable {
        public var shape: ModelShape?
        public var context: Int
        /// The model's name.
        public var model: String
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
                s.modelList.map(\.name).filter(s.needsTuning).flatMap { model in
                    s.tuningBudgets(of: model).map { Cell(shape: shape, context: t, model: model, steps: $0) }
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
        outcomes.flatMap { o in Cell(shape: o.shape, context: o.context, model: o.model, steps: o.steps).runs(grid: o.grid, s) }
    }

    /// Whether every cell's sweep is complete.
    public static func isComplete(_ s: ComparisonSettings, runsDirectory: URL) -> Bool {
        outcomes(s, runsDirectory: runsDirectory).allSatisfy(\.complete)
    }

    static func outcome(_ cell: Cell, _ s: ComparisonSettings, runsDirectory: URL) -> Outcome {
        let g = RateGrid.search(start: s.lrGrid, extensions: s.gridExtensions) { lr in
            cell.runs(grid: [lr], s).map { run in
                TrainedRun.read(runsDirectory.appendingPathComponent(run.id), steps: run.steps, context: run.context).comparableLoss
            }
        }
        return Outcome(shape: cell.shape, context: cell.context, model: cell.model, steps: cell.steps, grid: g.grid, losses: g.losses,
                       seedLosses: g.seedLosses, extendedBelow: g.extendedBelow, extendedAbove: g.extendedAbove, best: g.best,
                       complete: g.complete, atEdge: g.atEdge)
    }

    /// A grown grid's rate to three significant digits, as run names write it.
    static func rounded(_ lr: Double) -> Double { RateGrid.rounded(lr) }

    /// The rates chosen at every tuned budget, once every sweep is complete (nil while a run is
    /// unfinished, or when every rate of a cell diverged); fixed rates (`--lr-gpt`/`--lr-ngpt`,
    /// `--lr NAME=RATE`) hold at every budget.
    public static func chosenRates(_ s: ComparisonSettings, runsDirectory: URL) -> (rates: LearningRates, outcomes: [Outcome])? {
        let all = outcomes(s, runsDirectory: runsDirectory)
        guard all.allSatisfy({ $0.complete && $0.best != nil }) else { return nil }
        return (readyRates(s, outcomes: all), all)
    }

    /// The rates chosen so far: those of every shape, context and model whose cells (all its
    /// tuned budgets) are complete with a best rate, and the fixed rates. The others have no
    /// rate (``LearningRates/rate(_:shape:context:steps:)`` is NaN), so their final runs can be
    /// told apart: a model whose sweeps are done can train while another's grid still grows.
    public static func readyRates(_ s: ComparisonSettings, outcomes all: [Outcome]) -> LearningRates {
        var points = [LearningRates.Key: [LearningRates.Point]]()
        let pending = Set(all.filter { !$0.complete || $0.best == nil }.map { LearningRates.Key(shape: $0.shape, context: $0.context, model: $0.model) })
        for o in all {
            let key = LearningRates.Key(shape: o.shape, context: o.context, model: o.model)
            if !pending.contains(key) { points[key, default: []].append(.init(steps: o.steps, lr: o.best!)) }
        }
        for shape in s.shapeList {
            for t in s.contexts {
                for m in s.modelList {
                    if let fixed = s.fixedRate(m.name) {
                        points[LearningRates.Key(shape: shape, context: t, model: m.name)] = [.init(steps: 1, lr: fixed)]
                    }
                }
            }
        }
        return LearningRates(points: points, rule: s.rateRule)
    }
}
