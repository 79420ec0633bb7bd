import Foundation
import NGPTNumerics
import NGPTModels

/// `report.html` and `report.md` of an ablation study, from its ``AblationResults``.
public enum AblationReport {
    static func f(_ v: Double?, _ digits: Int = 4) -> String { ReportFormat.number(v, digits) }

    static func percent(_ v: Double?) -> String {
        guard let v else { return "–" }
        return v.isFinite ? String(format: "%+.2f %%", v) : "diverged"
    }

    package static func loss(_ s: SeedSummary?) -> String { ReportFormat.range(s) }

    package static func change(_ r: AblationResults.Row) -> String {
        guard let c = r.changePercent else { return "–" }
        guard let i = r.changeInterval, i.low.isFinite, i.high.isFinite else { return percent(c) }
        return "\(percent(c)) [\(percent(i.low)), \(percent(i.high))]"
    }

    package static func reading(_ r: AblationResults.Row) -> String {
        if r.name == AblationVariant.referenceName { return "reference" }
        if !r.missing.isEmpty { return "\(r.missing.count) run(s) not finished" }
        if !r.failed.isEmpty { return "diverged: " + r.failed.joined(separator: "; ") }
        if let s = r.changeBySeed, s.values.allSatisfy({ abs($0) < 0.005 }) { return "no change to 0.01 %" }
        return r.reading ?? "one seed: no interval"
    }

    /// The results table: header and rows.
    public static func table(_ r: AblationResults) -> (header: [String], rows: [[String]]) {
        let header = ["variant", "what it changes", "final val loss [seed range]", "change vs nGPT [95 % interval]",
                      "paper", "reading", "|α_A|", "|α_M|", "s_qk", "s_z"]
        let rows = r.rows.map { row in
            [row.name, row.summary, loss(row.loss), change(row), row.paper ?? "–", reading(row),
             f(row.alphaA, 3), f(row.alphaM, 3), f(row.sqk, 3), f(row.sz, 2)]
        }
        return (header, rows)
    }

    static func summary(_ r: AblationResults) -> String {
        let s = r.settings
        return "Data \(s.data); d \(s.model.width), \(s.model.layers) layers, \(s.model.heads) heads, context \(s.model.context), batch \(s.batchSize); "
            + "every row trained \(s.budget) steps (one cosine schedule) with seeds 0–\(s.seeds - 1); a seed is the same initial draw and the same batches in every row of a model. "
            + "Learning rates GPT \(String(format: "%.2e", s.lrGPT)), nGPT \(String(format: "%.2e", s.lrNGPT)) (\(s.lrSource)); every nGPT row uses nGPT's, every GPT row GPT's, each with its model's recipe unless the row changes it. "
            + "Losses on the same \(s.evalBatches) validation batches (second half of the validation text). "
            + "Change: 100 · (row's mean ÷ default nGPT's mean − 1); per seed against default nGPT's run of that seed; the interval is the 95 % Student-t interval of the per-seed changes (paired: same seed, same data order). \"No difference shown\": the interval holds 0; \"better\"/\"worse\": it lies below/above 0."
    }

    static let paperNote = "Paper: the change the nGPT paper reports for that ablation (0.5B model, 1k context, OpenWebText; Tables 4–6), where it gives one."

    public static func markdown(_ r: AblationResults) -> String {
        var md = "# nGPT ablations\n\n" + summary(r) + "\n\n"
        md += ReportFormat.markdownTable(table(r))
        md += "\n" + paperNote + " Scalers: final values, mean over layers and seeds (|α| effective, s_qk effective, s_z mean).\n"
        return md
    }

    public static func html(_ r: AblationResults) -> String {
        var page = HTMLReport(title: "nGPT ablations")
        page.paragraph(summary(r))
        let rows = r.rows.filter { $0.name != AblationVariant.referenceName }.map { row in
            SVGRangeChart.Row(label: row.name, value: row.changePercent ?? .nan, low: row.changeBySeed?.min ?? .nan,
                              high: row.changeBySeed?.max ?? .nan, color: color(row))
        }
        page.figure(SVGRangeChart(title: "Final validation loss against default nGPT", xLabel: "change of the final validation loss (%): dot mean, line per-seed range",
                                  yLabel: "variant", rows: rows),
                    caption: "Right of the dashed line: worse than default nGPT.")
        let t = table(r)
        page.table(header: t.header, rows: t.rows)
        page.paragraph(paperNote)
        var curves = SVGChart(title: "Validation loss during training (mean over seeds)", xLabel: "training tokens", yLabel: "validation loss (nats/token)")
        for (i, row) in r.rows.enumerated() where !row.curve.isEmpty {
            let isReference = row.name == AblationVariant.referenceName || row.name == "gpt"
            curves.series.append(.init(name: row.name, points: row.curve.dropFirst().map { (Double($0.tokens), $0.loss) },
                                       color: isReference ? color(row) : SVGChart.palette[(i + 2) % SVGChart.palette.count],
                                       dashed: !isReference && i % 2 == 1))
        }
        if curves.series.count > 9 { curves.height = 400 + 18 * Double((curves.series.count - 9) / 3 + 1) }
        curves.width = 900
        page.figure(curves, caption: "The step-0 evaluation is left out so that the scale shows the end of training.")
        return page.render()
    }

    static func color(_ row: AblationResults.Row) -> String {
        SVGChart.color(forModel: row.kind.rawValue) ?? SVGChart.palette[0]
    }
}
