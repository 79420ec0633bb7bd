import Foundation
import NGPTNumerics
import NGPTModels

/// The parts of a comparison's report that a size study or per-budget tuning adds: speedup and
/// final loss against model size, and each model's loss against learning rate at every tuned
/// budget (the sensitivity curves).
extension ComparisonReport {
    /// "1.32× [1.10–1.58]" (the 95 % interval), or the ratio alone.
    static func ratioWithInterval(_ r: Speedup.Ratio?, _ i: Interval?) -> String {
        guard let r else { return "–" }
        guard let i, r.bound == .exact else { return "\(r)" }
        return "\(r) [\(String(format: "%.2f", i.low))–\(String(format: "%.2f", i.high))]"
    }

    /// "+0.081 [+0.040, +0.122] (4.6 %)": the baseline's loss minus the model's with its 95 %
    /// interval, and that as a share of the baseline's loss.
    static func gap(_ i: Interval?, relativeTo gpt: Double?) -> String {
        guard let i else { return "–" }
        var text = String(format: "%+.3f", i.mean)
        if i.count > 1, i.low.isFinite, i.high.isFinite { text += String(format: " [%+.3f, %+.3f]", i.low, i.high) }
        if let gpt, gpt > 0 { text += String(format: " (%.1f %%)", 100 * i.mean / gpt) }
        return text
    }

    /// Shapes of a size study, ascending in non-embedding parameters.
    static func sortedShapes(_ r: ComparisonResults) -> [ComparisonResults.Shape] {
        (r.shapes ?? []).sorted { $0.nonEmbeddingParameters < $1.nonEmbeddingParameters }
    }

    /// Speedup against model size: a row per shape (and compared model), a column per common
    /// budget (first context).
    static func sizeTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        let budgets = r.settings.budgets, base = r.settings.baseline
        let header = ["shape (d×L×heads)"] + (several(r) ? ["model"] : []) + ["non-embedding parameters", "tokens per parameter (largest common budget)"]
            + budgets.map { "speedup at \($0) steps [95 %]" }
            + budgets.map { "\(base.label) − \(several(r) ? "model" : r.settings.comparedModels[0].label) loss at \($0) steps [95 %]" }
        let rows = sortedShapes(r).flatMap { s in
            r.settings.comparedModels.map { m -> [String] in
                let c = s.contexts[0]
                let largest = c.budgets.last?.tokens ?? 0
                func at(_ n: Int) -> ComparisonResults.Budget? { c.budgets.first { $0.steps == n } }
                return [s.shape.description] + (several(r) ? [m.label] : [])
                    + [parameters(s.nonEmbeddingParameters), String(format: "%.1f", Double(largest) / Double(max(1, s.nonEmbeddingParameters)))]
                    + budgets.map { n in at(n)?[model: m.name].map { ratioWithInterval($0.speedupFit, $0.speedupInterval) } ?? "–" }
                    + budgets.map { n in at(n).map { b in b[model: m.name].map { gap($0.lossGap, relativeTo: b[model: base.name]?.loss?.mean) } ?? "–" } ?? "–" }
            }
        }
        return (header, rows)
    }

    static func parameters(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2f M", Double(n) / 1e6) : String(format: "%.0f k", Double(n) / 1e3)
    }

    /// The size figures: each compared model's speedup against non-embedding parameters (a
    /// line per budget, 95 % band) and final loss against parameters (every model, a line per
    /// budget).
    static func sizeFigures(_ r: ComparisonResults, into page: inout HTMLReport) {
        let shapes = sortedShapes(r)
        guard shapes.count > 1 else { return }
        let base = r.settings.baseline, compared = several(r) ? "each model" : r.settings.comparedModels[0].label
        var speed = SVGChart(title: "Token speedup of \(compared) over \(base.label) against model size", xLabel: "non-embedding parameters (log)",
                             yLabel: "tokens \(base.label) needs ÷ \(several(r) ? "the model" : compared)'s tokens", xScale: .log)
        var loss = SVGChart(title: "Final loss against model size", xLabel: "non-embedding parameters (log)",
                            yLabel: "final validation loss (nats/token)", xScale: .log)
        for (i, n) in r.settings.budgets.enumerated() {
            let colour = SVGChart.palette[(i + 2) % SVGChart.palette.count]
            func at(_ s: ComparisonResults.Shape) -> ComparisonResults.Budget? { s.contexts[0].budgets.first { $0.steps == n } }
            for (j, m) in r.settings.comparedModels.enumerated() {
                var pts = [(x: Double, y: Double)](), band = [(x: Double, low: Double, high: Double)]()
                for s in shapes {
                    guard let e = at(s)?[model: m.name], let sp = e.speedupFit else { continue }
                    let x = Double(s.nonEmbeddingParameters)
                    pts.append((x, sp.value))
                    if let ci = e.speedupInterval { band.append((x, ci.low, ci.high)) }
                }
                speed.series.append(.init(name: (several(r) ? "\(m.label) " : "") + "\(n) steps (band: 95 % interval)", points: pts, band: band,
                                          color: colour, dashed: j > 0, markers: true))
            }
            for m in r.settings.modelList {
                let pts = shapes.compactMap { s in at(s)?[model: m.name]?.loss.map { (x: Double(s.nonEmbeddingParameters), y: $0.mean) } }
                loss.series.append(.init(name: "\(m.label) \(n) steps", points: pts, color: colour, dashed: m == base, markers: true))
            }
        }
        speed.series.append(.init(name: "no speedup", points: shapes.map { (Double($0.nonEmbeddingParameters), 1) }, color: "#7f7f7f", dashed: true))
        page.figure(speed, caption: "Speedup from \(base.label)'s power-law fit, mean over seeds; the band is the 95 % t interval over seeds on the log scale (missing where a seed's speedup is only a bound). Tokens per step are the same for every shape, so a budget is the same number of tokens at every size and tokens per parameter fall as the model grows.")
        page.figure(loss, caption: "Mean over seeds (\(base.label) dashed). Each shape has its own tuned rates.")
    }

    /// Each model's tuning loss against learning rate at every tuned budget, per shape and context.
    static func sensitivityFigures(_ r: ComparisonResults, into page: inout HTMLReport) {
        guard let sweeps = r.sweeps, !sweeps.isEmpty else { return }
        var keys = [(ModelShape?, Int)]()
        for o in sweeps where !keys.contains(where: { $0.0 == o.shape && $0.1 == o.context }) { keys.append((o.shape, o.context)) }
        for (shape, t) in keys {
            let title = (shape.map { "Shape \($0), " } ?? "") + "context \(t): loss against learning rate"
            var chart = SVGChart(title: title, xLabel: "peak learning rate (log)", yLabel: "final validation loss (selection half)", xScale: .log)
            let cells = sweeps.filter { $0.shape == shape && $0.context == t }
            let steps = Array(Set(cells.map(\.steps))).sorted()
            for o in cells {
                let pts = zip(o.grid, o.losses).compactMap { lr, l in l.flatMap { $0.isFinite ? (x: lr, y: $0) : nil } }
                guard !pts.isEmpty else { continue }
                let shade = SVGChart.palette[(2 + (steps.firstIndex(of: o.steps) ?? 0)) % SVGChart.palette.count]
                chart.series.append(.init(name: "\(o.model) \(o.steps) steps" + (o.atEdge ? " (best at grid edge)" : ""), points: pts,
                                          color: shade, dashed: o.model == r.settings.baseline.name, markers: true))
            }
            page.figure(chart, caption: "Mean over \(r.settings.tuningSeedList.count) tuning seed(s) per rate (\(r.settings.baseline.label) dashed, a colour per tuned budget); diverged rates are left out. A flat curve means the comparison does not hinge on the exact rate.")
        }
    }

    /// The rates used at every budget, per shape and context.
    static func ratesByBudgetTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        var rows = [[String]]()
        for (_, shape, contexts) in shapeBlocks(r) {
            let name = shape?.description ?? ""
            for c in contexts {
                for b in c.budgets + c.baselineBeyond {
                    rows.append((r.shapes == nil ? [] : [name]) + [String(c.context), String(b.steps)]
                                + r.settings.modelList.map { m in b[model: m.name].map { $0.lr.map(rate) ?? "–" } ?? "(\(r.settings.baseline.label) only)" })
                }
            }
        }
        return ((r.shapes == nil ? [] : ["shape"]) + ["context", "budget (steps)"] + r.settings.modelList.map { "\($0.label) rate" }, rows)
    }
}
