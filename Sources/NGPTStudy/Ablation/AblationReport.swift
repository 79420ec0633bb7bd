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
        if let w = r.waiting { return w }
        if !r.missing.isEmpty { return "\(r.missing.count) run(s) not finished" }
        if !r.failed.isEmpty { return "diverged: " + r.failed.joined(separator: "; ") }
        if let s = r.changeBySeed, s.values.allSatisfy({ abs($0) < 0.005 }) { return "no change to 0.01 %" }
        return r.reading ?? "one seed: no interval"
    }

    /// The results table: header and rows.
    public static func table(_ r: AblationResults) -> (header: [String], rows: [[String]]) {
        let header = ["variant", "from", "what it changes", "rate", "final val loss [seed range]", "change vs nGPT [95 % interval]",
                      "paper", "reading", "|α_A|", "|α_M|", "s_qk", "s_uv", "s_z"]
        let bpb = r.rows.contains { $0.bitsPerByte != nil }
        let rows = r.rows.map { row in
            [row.name, row.group ?? "–", row.summary, rate(row), loss(row.loss)] + (bpb ? [ReportFormat.range(row.bitsPerByte)] : [])
                + [change(row), row.paper ?? "–", reading(row), f(row.alphaA, 3), f(row.alphaM, 3), f(row.sqk, 3), f(row.suv, 3), f(row.sz, 2)]
        }
        return (Array(header.prefix(5)) + (bpb ? ["bits/byte [seed range]"] : []) + header.dropFirst(5), rows)
    }

    /// The row's rate, with its tuned weight decay and a mark for rates tuned for the row itself.
    static func rate(_ row: AblationResults.Row) -> String {
        guard let lr = row.learningRate else { return "–" }
        let own = row.rateSource.map { !$0.contains("'s rate (") && $0.hasPrefix("tuned") } ?? false
        return AblationStudy.rate(lr) + (row.weightDecay.map { ", wd \(String(format: "%g", $0))" } ?? "") + (own && row.name != "ngpt" && row.name != "gpt" ? " (own)" : "")
    }

    static func summary(_ r: AblationResults) -> String {
        let s = r.settings
        return "Data \(s.data); d \(s.model.width), \(s.model.layers) layers, \(s.model.heads) heads, context \(s.model.context), batch \(s.batchSize); "
            + "every row trained \(s.budget) steps (one cosine schedule) with seeds 0–\(s.seeds - 1); a seed is the same initial draw and the same batches in every row of a model. "
            + rates(r)
            + "Losses on the same \(s.evalBatches) validation batches (second half of the validation text). "
            + "Change: 100 · (row's mean ÷ default nGPT's mean − 1); per seed against default nGPT's run of that seed; the interval is the 95 % Student-t interval of the per-seed changes (paired: same seed, same data order). \"No difference shown\": the interval holds 0; \"better\"/\"worse\": it lies below/above 0."
    }

    /// How the rates were chosen, in words.
    static func rates(_ r: AblationResults) -> String {
        let s = r.settings
        func model(_ kind: ModelKind) -> String {
            let row = r.rows.first { $0.name == AblationVariant.referenceName(of: kind) }
            let lr = s.givenRate(kind) ?? row?.learningRate
            let source = s.givenRate(kind) != nil ? s.lrSource : (row?.rateSource ?? "tuned in this study")
            return "\(StudyModel(kind.rawValue).label) \(lr.map(AblationStudy.rate) ?? "not chosen yet") (\(source))"
        }
        var text = "Learning rates: \(model(.ngpt)); \(model(.gpt)). Every row trains at its model's rate with its model's recipe unless it changes them"
        text += s.retune
            ? "; rows marked \"own\" change the optimisation (no weight normalisation, GPT's recipe, q/k normalisation in GPT) and were tuned for themselves by the same search (grid \(s.lrGrid.map(AblationStudy.rate).joined(separator: ", ")), grown by up to \(s.gridExtensions) at an edge, \(s.budget) steps, scored on the selection half of the validation text). "
            : "; no row was retuned (its model's rate for every row). "
        if let t = r.trainedValues {
            text += "Scale-matched rows fix their scaler at α \(t.alpha), s_qk \(t.sqk), s_uv \(t.suv), s_z \(t.sz) (\(r.trainedValuesSource ?? "given")). "
        }
        return text
    }

    static let paperNote = "Paper: the change the nGPT paper reports for that ablation (0.5B model, 1k context, OpenWebText with the LLaMA-2 tokenizer's 32k vocabulary, 100k steps; Tables 4–6 and its appendix), where it gives one."

    /// The tuning searches: one line per tuned rate.
    static func tuningTable(_ r: AblationResults) -> (header: [String], rows: [[String]])? {
        guard let tuning = r.tuning, !tuning.isEmpty else { return nil }
        let rows = tuning.map { o -> [String] in
            let losses = zip(o.search.grid, o.search.losses).map { "\(AblationStudy.rate($0)): \($1.map { $0.isFinite ? String(format: "%.4f", $0) : "diverged" } ?? "–")" }
            return [o.row, o.weightDecay.map { String(format: "%g", $0) } ?? "recipe's", losses.joined(separator: ", "),
                    o.search.best.map(AblationStudy.rate) ?? (o.search.complete ? "none (all diverged)" : "not finished"),
                    o.search.atEdge ? "yes" : "no"]
        }
        return (["tuned row", "weight decay", "selection-half loss by rate", "best", "at grid edge"], rows)
    }

    public static func markdown(_ r: AblationResults) -> String {
        var md = "# nGPT ablations\n\n" + summary(r) + "\n\n"
        md += ReportFormat.markdownTable(table(r))
        md += "\n" + paperNote + " Scalers: final values, mean over layers and seeds (|α| effective, s_qk effective, s_uv mean of s_u and s_ν, s_z mean).\n"
        if let t = tuningTable(r) {
            md += "\n## Learning-rate tuning\n\n" + ReportFormat.markdownTable(t)
        }
        return md
    }

    public static func html(_ r: AblationResults) -> String {
        var page = HTMLReport(title: "nGPT ablations")
        page.paragraph(summary(r))
        page.figure(changeChart(r), caption: "Right of the dashed line: worse than default nGPT. Line: 95 % interval of the paired per-seed changes; hollow diamond: the paper's value. Rows beyond the axis are drawn at its edge with their value printed.")
        let t = table(r)
        page.table(header: t.header, rows: t.rows)
        page.paragraph(paperNote)
        if let t = tuningTable(r) {
            page.heading("Learning-rate tuning")
            page.table(header: t.header, rows: t.rows)
        }
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

    /// The change of every row against default nGPT with its interval and the paper's value,
    /// the axis cut where a few rows lie far beyond the rest.
    package static func changeChart(_ r: AblationResults) -> SVGRangeChart {
        let rows = r.rows.filter { $0.name != AblationVariant.referenceName }.map { row in
            SVGRangeChart.Row(label: row.name, value: row.changePercent ?? .nan, low: row.changeInterval?.low ?? .nan,
                              high: row.changeInterval?.high ?? .nan, color: color(row), mark: paperValue(row.paper))
        }
        var chart = SVGRangeChart(title: "Final validation loss against default nGPT",
                                  xLabel: "change of the final validation loss (%): dot mean, line 95 % interval, ◇ paper", yLabel: "variant", rows: rows)
        chart.limit = SVGRangeChart.limit(forExtents: rows.map { [$0.value, $0.low, $0.high].filter(\.isFinite).map(abs).max() ?? .nan })
        return chart
    }

    /// The paper's change as a number ("+1.94 %" → 1.94), or nil.
    static func paperValue(_ text: String?) -> Double? {
        guard let text else { return nil }
        let t = text.replacingOccurrences(of: "−", with: "-").replacingOccurrences(of: "%", with: "").trimmingCharacters(in: .whitespaces)
        return Double(t)
    }

    static func color(_ row: AblationResults.Row) -> String {
        SVGChart.color(forModel: row.kind.rawValue) ?? SVGChart.palette[0]
    }
}
