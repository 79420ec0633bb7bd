import Foundation
import NGPTNumerics
import NGPTModels

/// `report.html` and `report.md` of a comparison, from its ``ComparisonResults``.
public enum ComparisonReport {
    static func f(_ v: Double?, _ digits: Int = 4) -> String { ReportFormat.number(v, digits) }
    static func range(_ s: SeedSummary?) -> String { ReportFormat.range(s) }

    static func tokens(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 10_000 ? String(format: "%.0fk", Double(n) / 1e3)
            : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
    }

    static func seedRange(_ r: [Speedup.Ratio]) -> String {
        guard let lo = r.min(by: { $0.value < $1.value }), let hi = r.max(by: { $0.value < $1.value }) else { return "–" }
        return r.count > 1 && lo != hi ? "\(lo) – \(hi)" : "\(lo)"
    }

    static func rate(_ v: Double) -> String { String(format: "%.2e", v) }

    /// Whether any budget of `c` has losses in bits per byte.
    static func hasBitsPerByte(_ c: ComparisonResults.Context) -> Bool {
        (c.budgets + c.gptBeyond).contains { $0.gptBitsPerByte != nil || $0.ngptBitsPerByte != nil }
    }

    /// The speedup table of one context: header and rows (nGPT's budgets, then GPT's extra ones).
    /// Losses in bits per byte follow the losses when the runs recorded them.
    static func speedupTable(_ c: ComparisonResults.Context) -> (header: [String], rows: [[String]]) {
        let bpb = hasBitsPerByte(c)
        let header = ["budget (steps)", "tokens", "rates GPT / nGPT", "GPT val loss [seed range]", "nGPT val loss [seed range]"]
            + (bpb ? ["GPT bits/byte [seed range]", "nGPT bits/byte [seed range]"] : [])
            + ["GPT − nGPT at equal tokens [95 %]", "token speedup, power-law fit [95 %]", "per-seed speedups (fit)",
               "token speedup, straight line in log tokens", "wall-clock speedup", "GPT s/run", "nGPT s/run", "note"]
        let rows = c.budgets.map { b -> [String] in
            let rates: String = (b.lrGPT.map(rate) ?? rate(c.lrGPT)) + " / " + (b.lrNGPT.map(rate) ?? rate(c.lrNGPT))
            let straight: String = b.speedup.map { "\($0)" } ?? "–"
            let wall: String = b.wallClockSpeedup.map { "\($0)" } ?? "–"
            var row: [String] = [String(b.steps), tokens(b.tokens), rates, range(b.gpt), range(b.ngpt)]
            if bpb { row += [range(b.gptBitsPerByte), range(b.ngptBitsPerByte)] }
            row += [gap(b.lossGap, relativeTo: b.gpt?.mean)]
            row += [ratioWithInterval(b.speedupFit, b.speedupInterval), seedRange(b.speedupFitBySeed ?? []), straight, wall]
            row += [f(b.gptSeconds?.mean, 1), f(b.ngptSeconds?.mean, 1), b.note ?? ""]
            return row
        } + c.gptBeyond.map { b -> [String] in
            let rates: String = b.lrGPT.map(rate) ?? rate(c.lrGPT)
            return [String(b.steps), tokens(b.tokens), rates, range(b.gpt), "(GPT only)"] + (bpb ? [range(b.gptBitsPerByte), ""] : [])
                + ["", "", "", "", "", f(b.gptSeconds?.mean, 1), "", ""]
        }
        return (header, rows)
    }

    /// Token speedup against context: a row per nGPT budget, a column per context.
    static func contextTable(_ r: ComparisonResults, _ contexts: [ComparisonResults.Context]? = nil) -> (header: [String], rows: [[String]]) {
        let contexts = contexts ?? r.contexts
        let header = ["budget (steps)", "tokens per run"] + contexts.map { "context \($0.context) (batch \($0.batchSize))" }
        let rows = r.settings.budgets.map { n -> [String] in
            let cells = contexts.map { c -> String in
                guard let b = c.budgets.first(where: { $0.steps == n }), let sp = b.speedupFit ?? b.speedup else { return "–" }
                if b.speedupFit != nil { return ratioWithInterval(sp, b.speedupInterval) }
                let spread = seedRange(b.speedupBySeed)
                return b.speedupBySeed.count > 1 && spread != "\(sp)" ? "\(sp) [\(spread)]" : "\(sp)"
            }
            let perRun = Set(contexts.compactMap { c in c.budgets.first { $0.steps == n }?.tokens })
            return [String(n), perRun.count == 1 ? tokens(perRun.first!) : perRun.sorted().map(tokens).joined(separator: "/")] + cells
        }
        return (header, rows)
    }

    static func extrapolationTable(_ c: ComparisonResults.Context, _ multiples: [Int]) -> (header: [String], rows: [[String]]) {
        let header = ["model", "budget (steps)"] + multiples.map { "val loss at \($0 * c.context) (\($0)×)" }
        let rows = c.extrapolation.map { e in
            [e.kind.rawValue, String(e.steps)] + multiples.map { m in range(e.points.first { $0.multiple == m }?.seeds) }
        }
        return (header, rows)
    }

    static func tuningTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        if r.settings.tuning == .budgets {
            return ((r.shapes == nil ? [] : ["shape"]) + ["context", "model", "budget (steps)", "learning rate", "val loss (selection windows, mean of tuning seeds)", "status", "chosen"],
                    r.tuning.map { t in
                        (r.shapes == nil ? [] : [t.shape?.description ?? ""]) + [String(t.context), t.kind.rawValue, t.steps.map(String.init) ?? "", rate(t.lr), f(t.valLoss), t.status.rawValue, t.chosen == true ? "✓" : ""]
                    })
        }
        return (["context", "model", "learning rate", "val loss (selection windows)", "status", "chosen"],
         r.tuning.map { t in
             let chosen = r.contexts.first { $0.context == t.context }.map { (t.kind == .gpt ? $0.lrGPT : $0.lrNGPT) == t.lr } ?? false
             return [String(t.context), t.kind.rawValue, rate(t.lr), f(t.valLoss), t.status.rawValue, chosen ? "✓" : ""]
         })
    }

    static func learningRateTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        (["context", "batch", "GPT rate", "nGPT rate"],
         r.contexts.map { c in
             [String(c.context), String(c.batchSize), rate(c.lrGPT) + (c.lrAtGridEdge.contains(.gpt) ? " (grid edge)" : ""),
              rate(c.lrNGPT) + (c.lrAtGridEdge.contains(.ngpt) ? " (grid edge)" : "")]
         })
    }

    /// A sentence per context answering "does nGPT reach GPT's loss with fewer tokens?".
    public static func answer(_ r: ComparisonResults) -> [String] {
        let warnings = r.sweeps.map { sweeps in sweeps.filter(\.atEdge).map(edgeWarning) } ?? r.contexts.flatMap { c in
            c.lrAtGridEdge.map { kind in
                "Warning: \(kind.rawValue)'s best learning rate at context \(c.context) (\(rate(kind == .gpt ? c.lrGPT : c.lrNGPT))) is at the edge of the grid; its optimum may lie outside it — extend --lr-grid before trusting the comparison."
            }
        }
        let blocks: [(String, [ComparisonResults.Context])] = r.shapes.map { _ in sortedShapes(r).map { ("Shape \($0.shape) (\(parameters($0.nonEmbeddingParameters)) non-embedding), ", $0.contexts) } } ?? [("", r.contexts)]
        return warnings + blocks.flatMap { prefix, contexts in contexts.map { c in
            let parts = c.budgets.compactMap { b -> String? in
                guard let s = b.speedupFit ?? b.speedup else { return b.note.map { "\(b.steps) steps: \($0)" } }
                let bySeed = b.speedupFitBySeed ?? b.speedupBySeed
                let spread: String
                if let ci = b.speedupInterval {
                    spread = String(format: " (95 %% interval %.2f–%.2f×%@)", ci.low, ci.high, ci.contains(1) ? ": no speedup shown" : "")
                } else {
                    spread = bySeed.count > 1 ? " (seeds \(seedRange(bySeed)))" : ""
                }
                let what: String
                switch (s.bound, s.value >= 1) {
                case (.moreThan, _): what = "GPT did not reach nGPT's loss within its largest budget (speedup \(s))"
                case (.atMost, _): what = "GPT's smallest budget already matched nGPT (speedup \(s): nGPT is not faster here)"
                case (.exact, true): what = "GPT needs \(s) nGPT's tokens\(spread)"
                case (.exact, false): what = "nGPT is worse: GPT needs only \(s) of nGPT's tokens\(spread)"
                }
                return "\(b.steps) steps: \(what)"
            }
            return "\(prefix)Context \(c.context): " + (parts.isEmpty ? "no finished pairs of runs yet." : parts.joined(separator: "; ") + ".")
        } }
    }

    /// A sweep whose best rate is still on the grid's edge.
    static func edgeWarning(_ o: TuningSweep.Outcome) -> String {
        let shape: String = o.shape.map { "shape \($0), " } ?? ""
        let added: Int = o.extendedBelow + o.extendedAbove
        let best: String = rate(o.best ?? .nan)
        return "Warning: \(shape)context \(o.context): \(o.kind.rawValue)'s best learning rate at \(o.steps) steps (\(best)) is still at the edge of the grid after \(added) added rate(s); its optimum may lie outside it — widen --lr-grid or raise --grid-extensions before trusting the comparison."
    }

    /// What was run, in one paragraph.
    static func summary(_ r: ComparisonResults) -> String {
        let s = r.settings
        var text = "Data \(s.data); "
        if let shapes = s.shapes {
            text += "shapes (width × layers × heads) \(shapes.map(\.description).joined(separator: ", ")), vocabulary \(s.model.vocabularySize); "
        } else {
            text += "d \(s.model.width), \(s.model.layers) layers, \(s.model.heads) heads, vocabulary \(s.model.vocabularySize); "
        }
        text += "\(s.seeds) seed(s); parameters \(s.precision.rawValue). "
        if s.contexts.count > 1 && s.constantTokensPerStep {
            text += "Tokens per step are the same at every context (batch × context = \(s.tokensPerStep(at: s.contexts[0]))), so a budget is the same number of tokens at every context. "
        } else {
            text += s.contexts.count > 1 ? "Batch \(s.batchSize) at every context. " : "Batch \(s.batchSize). "
        }
        if !s.gptBudgets.isEmpty { text += "GPT also trains at \(s.gptBudgets.map(String.init).joined(separator: ", ")) steps, beyond nGPT's largest budget. " }
        text += "Learning rates \(r.lrSource). "
        text += "Every number is the final validation loss of a separate run with its own cosine schedule; all final runs are scored on the same \(s.evalBatches) validation batches."
        if let bpt = r.validationBytesPerToken {
            text += String(format: " Losses are in nats per token; the validation text has %.3f bytes per token, so bits per byte = loss ÷ (ln 2 × %.3f), comparable across tokenizers and vocabularies.", bpt, bpt)
        }
        return text
    }

    static let speedupExplanation = "Speedup: for each nGPT budget, the tokens GPT needs to reach nGPT's final loss, divided by nGPT's tokens. GPT's final loss against tokens (its separate runs at every budget, extra budgets included) is fitted by a power law a + b·t^(−c), which bends as GPT's curve does; where no fit exists (fewer than three budgets) it is interpolated linearly in log tokens, as the column \"straight line in log tokens\" does everywhere (kept beside it for comparison: it overstates the speedup when the curve bends). Neither is extended beyond GPT's measured budgets: \"> x\": GPT never got there within its largest budget; \"≤ x\": GPT's smallest budget already did (the note says which budget to add). Per seed: nGPT seed s against GPT seed s (same seed, same data order). Intervals are 95 % Student-t intervals over seeds: of the per-seed differences for the loss gap, of the log per-seed speedups for the speedup; an interval that holds 0 (or 1×) shows no difference. Below 1 means nGPT is worse. Wall-clock: the same straight-line interpolation in measured seconds, which carry the shared machine's noise."

    public static func markdown(_ r: ComparisonResults) -> String {
        let s = r.settings
        var md = "# GPT vs nGPT\n\n" + summary(r) + "\n\n"
        for a in answer(r) { md += "- \(a)\n" }
        let table = ReportFormat.markdownTable
        if r.shapes != nil { md += "\n## Token speedup and loss gap against model size (context \(s.contexts[0]))\n\n" + table(sizeTable(r)) }
        md += "\n## Learning rates\n\n" + table(s.tuning == .budgets ? ratesByBudgetTable(r) : learningRateTable(r))
        if !r.tuning.isEmpty { md += "\n### Sweep\n\n" + table(tuningTable(r)) }
        for (title, _, contexts) in shapeBlocks(r) {
            if let title { md += "\n# \(title)\n" }
            if contexts.count > 1 { md += "\n## Token speedup against context\n\n" + table(contextTable(r, contexts)) }
            for c in contexts {
                md += "\n## Context \(c.context)\n\n### Final loss and speedup\n\n" + table(speedupTable(c))
                if !s.extrapolation.isEmpty { md += "\n### Length extrapolation\n\n" + table(extrapolationTable(c, [1] + s.extrapolation)) }
            }
        }
        if !r.missingRuns.isEmpty { md += "\nRuns not finished: " + r.missingRuns.joined(separator: ", ") + "\n" }
        md += "\n" + speedupExplanation + "\n"
        return md
    }

    public static func html(_ r: ComparisonResults) -> String {
        let s = r.settings
        var page = HTMLReport(title: "GPT vs nGPT")
        page.paragraph(summary(r))
        page.raw("<ul>" + answer(r).map { "<li>\(HTMLReport.escape($0))</li>" }.joined() + "</ul>\n")
        if r.shapes != nil {
            page.heading("Speedup against model size")
            sizeFigures(r, into: &page)
            let t = sizeTable(r)
            page.table(header: t.header, rows: t.rows)
        }
        page.heading("Learning rates")
        let lrs = s.tuning == .budgets ? ratesByBudgetTable(r) : learningRateTable(r)
        page.table(header: lrs.header, rows: lrs.rows)
        if s.tuning == .budgets {
            sensitivityFigures(r, into: &page)
            let t = tuningTable(r)
            page.table(header: t.header, rows: t.rows)
        } else if !r.tuning.isEmpty {
            var chart = SVGChart(title: "Tuning at \(s.tuneBudget) steps", xLabel: "peak learning rate", yLabel: "final validation loss (nats/token)", xScale: .log)
            let tuned = Array(Set(r.tuning.map(\.context))).sorted()
            for (i, t) in tuned.enumerated() {
                for kind in ModelKind.allCases {
                    let pts = r.tuning.filter { $0.kind == kind && $0.context == t }.compactMap { x in x.valLoss.map { (x: x.lr, y: $0) } }
                    guard !pts.isEmpty else { continue }
                    // one colour per context (GPT dashed) when there are several; else the models' colours
                    chart.series.append(.init(name: tuned.count > 1 ? "\(kind.rawValue) context \(t)" : kind.rawValue, points: pts,
                                              color: tuned.count > 1 ? SVGChart.palette[(2 + i) % SVGChart.palette.count] : color(kind),
                                              dashed: tuned.count > 1 && kind == .gpt, markers: true))
                }
            }
            page.figure(chart, caption: s.tuning == .separate ? "Scored on the first half of the validation text; the reported losses below come from its second half." : nil)
            let t = tuningTable(r)
            page.table(header: t.header, rows: t.rows)
        }
        for (title, shape, contexts) in shapeBlocks(r) {
        if let title { page.heading(title) }
        if contexts.count > 1 {
            page.heading("Token speedup against context")
            var chart = SVGChart(title: "Token speedup of nGPT over GPT", xLabel: "training context (tokens)", yLabel: "tokens GPT needs ÷ nGPT's tokens", xScale: .log)
            chart.integerXTicks = true
            for (i, n) in s.budgets.enumerated() {
                var pts = [(x: Double, y: Double)](), band = [(x: Double, low: Double, high: Double)]()
                for c in contexts {
                    guard let b = c.budgets.first(where: { $0.steps == n }), let sp = b.speedupFit ?? b.speedup else { continue }
                    pts.append((Double(c.context), sp.value))
                    if let ci = b.speedupInterval {
                        band.append((Double(c.context), ci.low, ci.high))
                    } else {
                        let values = b.speedupBySeed.map(\.value)
                        if let lo = values.min(), let hi = values.max() { band.append((Double(c.context), lo, hi)) }
                    }
                }
                chart.series.append(.init(name: "\(n) steps (band: 95 % interval, else seed range)", points: pts, band: band,
                                          color: SVGChart.palette[(i + 2) % SVGChart.palette.count], markers: true))
            }
            chart.series.append(.init(name: "no speedup", points: contexts.map { (Double($0.context), 1) }, color: "#7f7f7f", dashed: true))
            page.figure(chart, caption: "Mean over seeds; a point that is a bound (see the table) is drawn at the bound. " + (s.constantTokensPerStep ? "Tokens per step are equal at every context." : "The batch is the same at every context, so longer contexts train on more tokens per step."))
            let t = contextTable(r, contexts)
            page.table(header: t.header, rows: t.rows)
        }
        for c in contexts {
            page.heading("Context \(c.context)")
            var curves = SVGChart(title: "Validation loss during training", xLabel: "training tokens", yLabel: "validation loss (nats/token)")
            for run in r.runs where run.run.context == c.context && run.run.shape == shape && !run.curve.isEmpty {
                curves.series.append(.init(name: "\(run.run.kind.rawValue) \(run.run.steps) steps seed \(run.run.seed)",
                                           points: run.curve.dropFirst().map { (Double($0.tokens), $0.loss) },
                                           color: color(run.run.kind), dashed: run.run.seed > 0))
            }
            if curves.series.count > 9 { curves.height = 400 + 18 * Double((curves.series.count - 9) / 3 + 1) }
            page.figure(curves, caption: "Every final run (dashed: seeds > 0). Each budget has its own cosine schedule, so the curves are separate runs, not points along one run.")
            var finals = SVGChart(title: "Final loss vs budget", xLabel: "training tokens (log)", yLabel: "final validation loss (nats/token)", xScale: .log)
            for kind in ModelKind.allCases {
                let bs = (c.budgets + (kind == .gpt ? c.gptBeyond : [])).compactMap { b -> (Double, SeedSummary)? in
                    let v = kind == .gpt ? b.gpt : b.ngpt
                    return v.map { (Double(b.tokens), $0) }
                }
                finals.series.append(.init(name: "\(kind.rawValue) (mean, band: seed range)", points: bs.map { ($0.0, $0.1.mean) },
                                           band: bs.map { ($0.0, $0.1.min, $0.1.max) }, color: color(kind), markers: true))
            }
            page.figure(finals, caption: "Mean over seeds with the range of seeds shaded. GPT's curve continues past nGPT's largest budget so that it reaches nGPT's losses.")
            if hasBitsPerByte(c) {
                var bits = SVGChart(title: "Final bits per byte vs budget", xLabel: "training tokens (log)", yLabel: "final validation loss (bits/byte)", xScale: .log)
                for kind in ModelKind.allCases {
                    let bs = (c.budgets + (kind == .gpt ? c.gptBeyond : [])).compactMap { b -> (Double, SeedSummary)? in
                        let v = kind == .gpt ? b.gptBitsPerByte : b.ngptBitsPerByte
                        return v.map { (Double(b.tokens), $0) }
                    }
                    bits.series.append(.init(name: "\(kind.rawValue) (mean, band: seed range)", points: bs.map { ($0.0, $0.1.mean) },
                                             band: bs.map { ($0.0, $0.1.min, $0.1.max) }, color: color(kind), markers: true))
                }
                page.figure(bits, caption: "The same losses in bits per byte of validation text (nats per token ÷ (ln 2 × bytes per token)): the axis on which runs with other tokenizers or vocabularies compare.")
            }
            let t = speedupTable(c)
            page.heading("Speedup", level: 3)
            page.table(header: t.header, rows: t.rows)
            if !s.extrapolation.isEmpty {
                page.heading("Length extrapolation", level: 3)
                let largest = s.budgets.last
                var ext = SVGChart(title: "Evaluated beyond the training context", xLabel: "evaluation context (tokens)", yLabel: "validation loss (nats/token)", xScale: .log)
                ext.integerXTicks = true
                for e in c.extrapolation where e.steps == largest {
                    let pts = e.points.map { (x: Double($0.context), y: $0.loss) }
                    let band = e.points.compactMap { p in p.seeds.map { (x: Double(p.context), low: $0.min, high: $0.max) } }
                    ext.series.append(.init(name: "\(e.kind.rawValue) \(e.steps) steps", points: pts, band: band, color: color(e.kind), markers: true))
                }
                let shared = s.extrapolationWindows == .shared
                page.figure(ext, caption: "Models of nGPT's largest budget (both models), mean over seeds, seed range shaded; RoPE unchanged. " + (shared ? "Every context scores the same tokens: windows of the longest length, cut into equal slices for the shorter contexts." : "Each context on windows of its own."))
                var byPosition = SVGChart(title: "Loss by position in a window of \((s.extrapolation.max() ?? 1) * c.context) tokens", xLabel: "position in the window (tokens)", yLabel: "validation loss (nats/token)")
                for e in c.extrapolation where e.steps == largest {
                    guard let losses = e.positionLoss, let bin = e.positionBin else { continue }
                    byPosition.series.append(.init(name: "\(e.kind.rawValue) \(e.steps) steps", points: losses.enumerated().map { (Double($0.offset * bin) + Double(bin) / 2, $0.element) },
                                                   color: color(e.kind), markers: true))
                }
                byPosition.series.append(.init(name: "training context", points: [(Double(c.context), byPosition.series.flatMap { $0.points.map(\.y) }.min() ?? 0), (Double(c.context), byPosition.series.flatMap { $0.points.map(\.y) }.max() ?? 1)], color: "#7f7f7f", dashed: true))
                if byPosition.series.count > 1 {
                    page.figure(byPosition, caption: "Mean loss of the tokens at each position (bins of \(c.extrapolation.compactMap(\.positionBin).first ?? 1) positions), averaged over windows and seeds; positions right of the dashed line lie beyond the training context.")
                }
                let x = extrapolationTable(c, [1] + s.extrapolation)
                page.table(header: x.header, rows: x.rows)
            }
        }
        }
        if !r.missingRuns.isEmpty { page.paragraph("Runs not finished: " + r.missingRuns.joined(separator: ", ")) }
        page.paragraph(speedupExplanation)
        return page.render()
    }

    /// The report's sections: one per shape of a size study (titled), else the contexts alone.
    static func shapeBlocks(_ r: ComparisonResults) -> [(title: String?, shape: ModelShape?, contexts: [ComparisonResults.Context])] {
        guard r.shapes != nil else { return [(nil, nil, r.contexts)] }
        return sortedShapes(r).map { ("Shape \($0.shape) (\(parameters($0.nonEmbeddingParameters)) non-embedding parameters)", $0.shape, $0.contexts) }
    }

    static func color(_ kind: ModelKind) -> String { SVGChart.color(forModel: kind.rawValue) ?? SVGChart.palette[0] }
}
