import Foundation
import NGPTNumerics
import NGPTModels

// The figures and tables of `ngpt inspect`: an HTML page in the style of the paper's Figures
// 4–6 (condition numbers per layer on a log axis, sorted embedding norms, normalised covariance
// spectra, cosine distributions, scalers per layer) with every model overlaid, and the compact
// text table printed on stdout.

extension InspectionReport {
    /// The colour of each model: the first GPT red, the first nGPT blue, the others from the palette.
    public var modelColors: [String] {
        var used = Set<String>(), out = [String]()
        var spare = SVGChart.palette.filter { $0 != SVGChart.gptColor && $0 != SVGChart.ngptColor }.makeIterator()
        for m in models {
            let preferred = SVGChart.color(forModel: m.config.kind.rawValue)
            let c = preferred.flatMap { used.contains($0) ? nil : $0 } ?? spare.next() ?? "#444444"
            used.insert(c)
            out.append(c)
        }
        return out
    }

    /// Median condition number of every matrix kind over all heads of all layers, per model
    /// (and per GPT model once more after renormalisation): the header and one row per kind.
    public func conditionSummary() -> (header: [String], rows: [[String]]) {
        var header = ["matrix"]
        var columns = [ConditionNumbers]()
        for m in models {
            header.append(m.label)
            columns.append(m.conditionNumbers)
            if let r = m.renormalizedConditionNumbers {
                header.append(m.label + " renorm.")
                columns.append(r)
            }
        }
        let rows = MatrixKind.allCases.map { kind in
            [kind.rawValue + (kind.isPerHead ? " (per head)" : "")] + columns.map { Self.number($0.overall(kind).median) }
        }
        return (header, rows)
    }

    /// The text table `ngpt inspect` prints: median condition numbers, then embedding norms.
    public func textTable() -> String {
        var lines = ["median condition number σmax/σmin (over all heads of all layers)"]
        let (header, rows) = conditionSummary()
        lines += Self.align([header] + rows)
        lines.append("")
        lines.append("embedding row norms (min / median / max) and mean cosine of row pairs")
        var table = [["model", "wte norms", "wte cos", "lm_head norms", "lm_head cos"]]
        for m in models {
            var row = [m.label]
            for e in m.embeddings {
                row.append("\(Self.number(e.norms.minimum)) / \(Self.number(e.norms.median)) / \(Self.number(e.norms.maximum))")
                row.append(Self.number(e.cosine.summary.mean))
            }
            table.append(row)
        }
        lines += Self.align(table)
        return lines.joined(separator: "\n") + "\n"
    }

    /// A number for tables: three significant digits, `inf` for +∞.
    public static func number(_ v: Double) -> String {
        if v == .infinity { return "inf" }
        if v.isNaN { return "nan" }
        return String(format: "%.3g", v)
    }

    static func align(_ table: [[String]]) -> [String] {
        let widths = (0..<(table.map(\.count).max() ?? 0)).map { j in table.map { j < $0.count ? $0[j].count : 0 }.max() ?? 0 }
        return table.map { row in
            row.enumerated().map { j, cell in
                let pad = String(repeating: " ", count: widths[j] - cell.count)
                return j == 0 ? cell + pad : pad + cell
            }.joined(separator: "   ")
        }
    }

    /// The self-contained HTML report.
    public func html(title: String = "Parameter inspection") -> String {
        let colors = modelColors
        var page = HTMLReport(title: title)
        page.paragraph("Spec §9 statistics of each model's parameters, in the style of the nGPT paper's Figures 4–6 (and 10–12 for the renormalised GPT). Every number is in inspect.json beside this page; infinite condition numbers (rank-deficient blocks) are written there as \"inf\" and are not drawn.")
        page.table(header: ["model", "kind", "d", "heads", "layers", "vocabulary", "step", "source"], rows: models.map { m in
            [m.label, m.config.kind.rawValue, "\(m.config.width)", "\(m.config.heads)", "\(m.config.layers)",
             "\(m.config.vocabularySize)", m.step.map(String.init) ?? "?",
             m.source + (m.configInferred ? " (configuration inferred from shapes)" : "")]
        })

        page.heading("Condition numbers per layer")
        page.paragraph("cond = σmax/σmin by LAPACK dgesdd in Double. Attention matrices per head (rows h·dk..<(h+1)·dk of W_q, W_k, W_v; columns of att_c_proj): the line is the median over heads, the band spans the smallest to the largest head. MLP matrices whole. Dashed: GPT after renormalising each matrix along its d axis.")
        let summary = conditionSummary()
        page.table(header: summary.header, rows: summary.rows)
        for kind in MatrixKind.allCases {
            var chart = SVGChart(title: "\(kind.title): condition number" + (kind.isPerHead ? " per head" : ""),
                                 xLabel: "layer", yLabel: "condition number σmax/σmin", yScale: .log)
            chart.integerXTicks = true
            for (m, color) in zip(models, colors) {
                chart.series.append(conditionSeries(m.label, m.conditionNumbers[kind], color: color, dashed: false))
                if let r = m.renormalizedConditionNumbers {
                    chart.series.append(conditionSeries(m.label + " renormalised", r[kind], color: color, dashed: true))
                }
            }
            page.figure(chart, caption: kind.isPerHead ? "Median over heads per layer; band: min–max over heads (none for the dashed renormalised lines)." : "Whole matrix per layer.")
        }

        page.heading("Embeddings")
        for name in ["transformer.wte.weight", "lm_head.weight"] {
            page.heading(name, level: 3)
            var norms = SVGChart(title: "\(name): row norms, sorted", xLabel: "row rank (ascending norm)", yLabel: "row 2-norm")
            var spectrum = SVGChart(title: "\(name): covariance eigenvalues / median", xLabel: "eigenvalue index (descending)",
                                    yLabel: "eigenvalue / median eigenvalue", yScale: .log)
            var cosine = SVGChart(title: "\(name): cosine similarity of row pairs", xLabel: "cosine similarity", yLabel: "density")
            var rows = [[String]]()
            for (m, color) in zip(models, colors) {
                guard let e = m.embedding(name) else { continue }
                norms.series.append(.init(name: m.label, points: e.sortedNorms.enumerated().map { (Double($0.offset), $0.element) }, color: color))
                spectrum.series.append(.init(name: m.label, points: e.normalizedEigenvalues.enumerated().map { (Double($0.offset + 1), $0.element) }, color: color))
                let h = e.cosine.histogram
                cosine.series.append(.histogram(name: m.label, lower: h.lower, upper: h.upper, counts: h.counts, color: color))
                rows.append([m.label, Self.number(e.norms.minimum), Self.number(e.norms.median), Self.number(e.norms.maximum),
                             Self.number(e.norms.standardDeviation / e.norms.mean),
                             Self.number((e.covarianceEigenvalues.first ?? .nan) / e.eigenvalueMedian),
                             Self.number(e.cosine.summary.mean), Self.number(e.cosine.summary.standardDeviation),
                             "\(e.cosine.pairs)" + (e.cosine.allPairs ? " (all)" : " (sampled, seed \(e.cosine.seed ?? 0))")])
            }
            page.table(header: ["model", "norm min", "norm median", "norm max", "norm std/mean", "λmax/median",
                                "cos mean", "cos std", "pairs"], rows: rows)
            page.figure(norms, caption: "Norms of the V rows, sorted ascending. nGPT keeps every row on the unit sphere.")
            page.figure(spectrum, caption: "Eigenvalues of the d×d covariance of the (centred) rows, descending, divided by their median.")
            page.figure(cosine, caption: "Distribution of the cosine similarity of pairs of distinct rows (density over [−1, 1]).")
        }

        page.heading("Scalers and other values per layer")
        let scaled = zip(models, colors).filter { $0.0.scalers != nil }
        if scaled.isEmpty {
            page.paragraph("No inspected architecture reports values per layer (GPT has no scalers).")
        } else {
            page.paragraph("What each architecture reports per layer: for nGPT, the mean |effective value| of each scaler (docs/model.md §4: the stored parameter times s_init/s_scale; s_u and s_ν without the √d factor). GPT reports none.")
            // every name any model reports, in the order first seen
            var names = [String](), titles = [String: String]()
            for (m, _) in scaled {
                for v in m.scalers!.values where titles[v.name] == nil {
                    names.append(v.name)
                    titles[v.name] = v.title
                }
            }
            for name in names {
                var chart = SVGChart(title: titles[name]!, xLabel: "layer", yLabel: name)
                chart.integerXTicks = true
                for (m, color) in scaled {
                    guard let values = m.scalers![name] else { continue }
                    chart.series.append(.init(name: m.label, points: values.enumerated().map { (Double($0.offset), $0.element) }, color: color, markers: true))
                }
                page.figure(chart)
            }
            let withSz = scaled.filter { !$0.0.scalers!.sortedSz.isEmpty }
            if !withSz.isEmpty {
                var sz = SVGChart(title: "s_z (logit scaling), sorted", xLabel: "token rank (ascending s_z)", yLabel: "effective s_z")
                for (m, color) in withSz {
                    sz.series.append(.init(name: m.label, points: m.scalers!.sortedSz.enumerated().map { (Double($0.offset), $0.element) }, color: color))
                }
                page.figure(sz, caption: "The V effective logit scales, sorted.")
            }
            page.table(header: ["model", "layer"] + names, rows: scaled.flatMap { m, _ in
                (0..<m.scalers!.layerCount).map { l in
                    [m.label, "\(l)"] + names.map { name in m.scalers![name].flatMap { l < $0.count ? Self.number($0[l]) : nil } ?? "" }
                }
            })
        }
        return page.render()
    }

    private func conditionSeries(_ name: String, _ layers: [LayerConditioning], color: String, dashed: Bool) -> SVGChart.Series {
        SVGChart.Series(name: name,
                        points: layers.map { (Double($0.layer), $0.cond.median) },
                        band: !dashed && layers.count > 0 && layers[0].blocks.count > 1 ? layers.map { (Double($0.layer), $0.cond.minimum, $0.cond.maximum) } : [],
                        color: color, dashed: dashed, markers: true)
    }
}
