import Foundation
import NGPTNumerics
import NGPTModels

/// `report.html` and `report.md` of a comparison, from its ``ComparisonResults``.
public enum ComparisonReport {
    static func f(_ v: Double?, _ digits: Int = 4) -> String {
        guard let v else { return "–" }
        return v.isFinite ? String(format: "%.\(digits)f", v) : "diverged"
    }

    static func range(_ s: SeedSummary?) -> String {
        guard let s else { return "–" }
        return s.values.count > 1 ? "\(f(s.mean)) [\(f(s.min))–\(f(s.max))]" : f(s.mean)
    }

    static func tokens(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 10_000 ? String(format: "%.0fk", Double(n) / 1e3)
            : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
    }

    static func seedRange(_ r: [Speedup.Ratio]) -> String {
        guard let lo = r.min(by: { $0.value < $1.value }), let hi = r.max(by: { $0.value < $1.value }) else { return "–" }
        return r.count > 1 ? "\(lo) – \(hi)" : "\(lo)"
    }

    /// The speedup table of one context: header and rows.
    static func speedupTable(_ c: ComparisonResults.Context) -> (header: [String], rows: [[String]]) {
        let header = ["budget (steps)", "tokens", "GPT val loss [seed range]", "nGPT val loss [seed range]",
                      "token speedup", "per-seed speedups", "wall-clock speedup", "GPT s/run", "nGPT s/run"]
        let rows = c.budgets.map { b in
            [String(b.steps), tokens(b.tokens), range(b.gpt), range(b.ngpt),
             b.speedup.map { "\($0)" } ?? "–", seedRange(b.speedupBySeed), b.wallClockSpeedup.map { "\($0)" } ?? "–",
             f(b.gptSeconds?.mean, 1), f(b.ngptSeconds?.mean, 1)]
        }
        return (header, rows)
    }

    static func extrapolationTable(_ c: ComparisonResults.Context, _ multiples: [Int]) -> (header: [String], rows: [[String]]) {
        let header = ["model", "budget (steps)"] + multiples.map { "val loss at \($0 * c.context) (\($0)×)" }
        let rows = c.extrapolation.map { e in
            [e.kind.rawValue, String(e.steps)] + multiples.map { f(e.loss(multiple: $0)) }
        }
        return (header, rows)
    }

    static func tuningTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        (["model", "learning rate", "val loss", "status"],
         r.tuning.map { [$0.kind.rawValue, String(format: "%.2e", $0.lr), f($0.valLoss), $0.status.rawValue] })
    }

    /// A sentence per context answering "does nGPT reach GPT's loss with fewer tokens?".
    public static func answer(_ r: ComparisonResults) -> [String] {
        let warnings = r.lrAtGridEdge.map { kind in
            "Warning: \(kind.rawValue)'s best learning rate (\(String(format: "%.2e", kind == .gpt ? r.lrGPT : r.lrNGPT))) is at the edge of the grid; its optimum may lie outside it — extend --lr-grid before trusting the comparison."
        }
        return warnings + r.contexts.map { c in
            let parts = c.budgets.compactMap { b -> String? in
                guard let s = b.speedup else { return nil }
                let what: String
                switch (s.bound, s.value >= 1) {
                case (.moreThan, _): what = "GPT did not reach nGPT's loss within its largest budget (speedup \(s))"
                case (.atMost, _): what = "GPT's smallest budget already matched nGPT (speedup \(s): nGPT is not faster here)"
                case (.exact, true): what = "GPT needs \(s) nGPT's tokens"
                case (.exact, false): what = "nGPT is worse: GPT needs only \(s) of nGPT's tokens"
                }
                return "\(b.steps) steps: \(what)"
            }
            return "Context \(c.context): " + (parts.isEmpty ? "no finished pairs of runs yet." : parts.joined(separator: "; ") + ".")
        }
    }

    public static func markdown(_ r: ComparisonResults) -> String {
        let s = r.settings
        var md = "# GPT vs nGPT\n\n"
        md += "Data `\(s.data)`; d \(s.model.width), \(s.model.layers) layers, \(s.model.heads) heads, vocabulary \(s.model.vocabularySize); "
        md += "batch \(s.batchSize); \(s.seeds) seed(s); parameters \(s.precision.rawValue). "
        md += "Learning rates: GPT \(String(format: "%.2e", r.lrGPT)), nGPT \(String(format: "%.2e", r.lrNGPT)) (\(r.lrSource)). "
        md += "Every number is the final validation loss of a separate run with its own cosine schedule, on the same \(s.evalBatches) validation batches.\n\n"
        for a in answer(r) { md += "- \(a)\n" }
        func table(_ t: (header: [String], rows: [[String]])) -> String {
            "| " + t.header.joined(separator: " | ") + " |\n|" + t.header.map { _ in "---" }.joined(separator: "|") + "|\n"
                + t.rows.map { "| " + $0.joined(separator: " | ") + " |\n" }.joined()
        }
        if !r.tuning.isEmpty { md += "\n## Learning-rate sweep\n\n" + table(tuningTable(r)) }
        for c in r.contexts {
            md += "\n## Context \(c.context)\n\n### Final loss and speedup\n\n" + table(speedupTable(c))
            if !s.extrapolation.isEmpty { md += "\n### Length extrapolation\n\n" + table(extrapolationTable(c, [1] + s.extrapolation)) }
        }
        if !r.missingRuns.isEmpty { md += "\nRuns not finished: " + r.missingRuns.joined(separator: ", ") + "\n" }
        md += "\nSpeedup: for each nGPT budget, the tokens GPT needs to reach nGPT's final loss, interpolating GPT's final-loss-vs-budget curve (mean over seeds) in log tokens, divided by nGPT's tokens. \"> x\": GPT never got there within its largest budget; \"≤ x\": GPT's smallest budget already did. Below 1 means nGPT is worse.\n"
        return md
    }

    public static func html(_ r: ComparisonResults) -> String {
        let s = r.settings
        var page = HTMLReport(title: "GPT vs nGPT")
        page.paragraph("Data \(s.data); d \(s.model.width), \(s.model.layers) layers, \(s.model.heads) heads, vocabulary \(s.model.vocabularySize); batch \(s.batchSize); \(s.seeds) seed(s); parameters \(s.precision.rawValue). Learning rates: GPT \(String(format: "%.2e", r.lrGPT)), nGPT \(String(format: "%.2e", r.lrNGPT)) (\(r.lrSource)). Each point is a separate run with its own cosine schedule; losses are on the same \(s.evalBatches) validation batches.")
        page.raw("<ul>" + answer(r).map { "<li>\(HTMLReport.escape($0))</li>" }.joined() + "</ul>\n")
        if !r.tuning.isEmpty {
            page.heading("Learning-rate sweep")
            var chart = SVGChart(title: "Tuning at \(s.tuneBudget) steps", xLabel: "peak learning rate", yLabel: "final validation loss (nats/token)", xScale: .log)
            for kind in ModelKind.allCases {
                let pts = r.tuning.filter { $0.kind == kind }.compactMap { t in t.valLoss.map { (x: t.lr, y: $0) } }
                chart.series.append(.init(name: kind.rawValue, points: pts, color: color(kind), markers: true))
            }
            page.figure(chart)
            let t = tuningTable(r)
            page.table(header: t.header, rows: t.rows)
        }
        for c in r.contexts {
            page.heading("Context \(c.context)")
            var curves = SVGChart(title: "Validation loss during training", xLabel: "training tokens", yLabel: "validation loss (nats/token)")
            for run in r.runs where run.run.context == c.context && !run.curve.isEmpty {
                curves.series.append(.init(name: "\(run.run.kind.rawValue) \(run.run.steps) steps seed \(run.run.seed)",
                                           points: run.curve.dropFirst().map { (Double($0.tokens), $0.loss) },
                                           color: color(run.run.kind), dashed: run.run.seed > 0))
            }
            if curves.series.count > 9 { curves.height = 400 + 18 * Double((curves.series.count - 9) / 3 + 1) }
            page.figure(curves, caption: "Every final run (dashed: seeds > 0). Each budget has its own cosine schedule, so the curves are separate runs, not points along one run.")
            var finals = SVGChart(title: "Final loss vs budget", xLabel: "training tokens (log)", yLabel: "final validation loss (nats/token)", xScale: .log)
            for kind in ModelKind.allCases {
                let bs = c.budgets.compactMap { b -> (Double, SeedSummary)? in
                    let v = kind == .gpt ? b.gpt : b.ngpt
                    return v.map { (Double(b.tokens), $0) }
                }
                finals.series.append(.init(name: "\(kind.rawValue) (mean, band: seed range)", points: bs.map { ($0.0, $0.1.mean) },
                                           band: bs.map { ($0.0, $0.1.min, $0.1.max) }, color: color(kind), markers: true))
            }
            page.figure(finals, caption: "Mean over seeds with the range of seeds shaded.")
            let t = speedupTable(c)
            page.heading("Speedup", level: 3)
            page.table(header: t.header, rows: t.rows)
            if !s.extrapolation.isEmpty {
                page.heading("Length extrapolation", level: 3)
                var ext = SVGChart(title: "Evaluated beyond the training context", xLabel: "evaluation context (tokens)", yLabel: "validation loss (nats/token)", xScale: .log)
                for e in c.extrapolation where e.steps == s.budgets.last {
                    let pts = e.points.map { (x: Double($0.context), y: $0.loss) }
                    ext.series.append(.init(name: "\(e.kind.rawValue) \(e.steps) steps", points: pts, color: color(e.kind), markers: true))
                }
                page.figure(ext, caption: "Models of the largest budget, mean over seeds; RoPE unchanged.")
                let x = extrapolationTable(c, [1] + s.extrapolation)
                page.table(header: x.header, rows: x.rows)
            }
        }
        if !r.missingRuns.isEmpty { page.paragraph("Runs not finished: " + r.missingRuns.joined(separator: ", ")) }
        page.paragraph("Speedup: for each nGPT budget, the tokens GPT needs to reach nGPT's final loss, interpolating GPT's final-loss-vs-budget curve (mean over seeds) in log tokens, divided by nGPT's tokens; per seed, nGPT seed s against GPT seed s. \"> x\": GPT never got there within its largest budget; \"≤ x\": GPT's smallest budget already did. Below 1 means nGPT is worse. Wall-clock: the same in measured seconds.")
        return page.render()
    }

    static func color(_ kind: ModelKind) -> String { SVGChart.color(forModel: kind.rawValue) ?? SVGChart.palette[0] }
}
