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

    /// How the report names model `name` ("GPT", "nGPT", or the model's own name).
    static func label(_ r: ComparisonResults, _ name: String) -> String { r.settings.studyModel(named: name).label }

    /// The report's title: the models' labels, "GPT vs nGPT" for the default pair.
    static func title(_ r: ComparisonResults) -> String { r.settings.modelList.map(\.label).joined(separator: " vs ") }

    /// Whether more than one model is measured against the baseline (cells then name the model).
    static func several(_ r: ComparisonResults) -> Bool { several(r.settings) }
    static func several(_ s: ComparisonSettings) -> Bool { s.comparedModels.count > 1 }

    /// Whether any budget of `c` has losses in bits per byte.
    static func hasBitsPerByte(_ c: ComparisonResults.Context) -> Bool {
        (c.budgets + c.baselineBeyond).contains { $0.models.contains { $0.bitsPerByte != nil } }
    }

    /// The speedup table of one context: header and rows (the common budgets, then the
    /// baseline's extra ones); a column of each model's loss, and each compared model's gap and
    /// speedups against the baseline. Losses in bits per byte follow the losses when the runs
    /// recorded them.
    static func speedupTable(_ s: ComparisonSettings, _ c: ComparisonResults.Context) -> (header: [String], rows: [[String]]) {
        let bpb = hasBitsPerByte(c)
        let models = s.modelList, compared = s.comparedModels, base = s.baseline
        var header = ["budget (steps)", "tokens", "rates " + models.map(\.label).joined(separator: " / ")]
        header += models.map { "\($0.label) val loss [seed range]" }
        if bpb { header += models.map { "\($0.label) bits/byte [seed range]" } }
        for m in compared {
            let of = several(s) ? " of \(m.label)" : ""
            header += ["\(base.label) − \(m.label) at equal tokens [95 %]", "token speedup\(of), power-law fit [95 %]", "per-seed speedups\(of) (fit)",
                       "token speedup\(of), straight line in log tokens", "wall-clock speedup\(of)"]
        }
        header += models.map { "\($0.label) s/run" } + ["note"]
        func row(_ b: ComparisonResults.Budget) -> [String] {
            let entries = models.map { b[model: $0.name] }
            var row: [String] = [String(b.steps), tokens(b.tokens), entries.compactMap { $0 }.map { e in e.lr.map(rate) ?? "–" }.joined(separator: " / ")]
            row += entries.map { $0 == nil ? "(\(base.label) only)" : range($0?.loss) }
            if bpb { row += entries.map { $0 == nil ? "" : range($0?.bitsPerByte) } }
            let baseLoss = b[model: base.name]?.loss?.mean
            for m in compared {
                guard let e = b[model: m.name] else {
                    row += ["", "", "", "", ""]
                    continue
                }
                row += [gap(e.lossGap, relativeTo: baseLoss), ratioWithInterval(e.speedupFit, e.speedupInterval), seedRange(e.speedupFitBySeed ?? []),
                        e.speedup.map { "\($0)" } ?? "–", e.wallClockSpeedup.map { "\($0)" } ?? "–"]
            }
            row += entries.map { $0 == nil ? "" : f($0?.seconds?.mean, 1) }
            row += [compared.compactMap { m in b[model: m.name]?.note.map { several(s) ? "\(m.label): \($0)" : $0 } }.joined(separator: "; ")]
            return row
        }
        return (header, (c.budgets + c.baselineBeyond).map(row))
    }

    /// The speedup cell of `e`: the fitted speedup with its interval, else the straight line with
    /// its seed range.
    static func speedupCell(_ e: ComparisonResults.ModelBudget?) -> String {
        guard let e, let sp = e.speedupFit ?? e.speedup else { return "–" }
        if e.speedupFit != nil { return ratioWithInterval(sp, e.speedupInterval) }
        let bySeed = e.speedupBySeed ?? []
        let spread = seedRange(bySeed)
        return bySeed.count > 1 && spread != "\(sp)" ? "\(sp) [\(spread)]" : "\(sp)"
    }

    /// Token speedup against context: a row per common budget (and compared model), a column per
    /// context.
    static func contextTable(_ r: ComparisonResults, _ contexts: [ComparisonResults.Context]? = nil) -> (header: [String], rows: [[String]]) {
        let contexts = contexts ?? r.contexts
        let header = ["budget (steps)"] + (several(r) ? ["model"] : []) + ["tokens per run"] + contexts.map { "context \($0.context) (batch \($0.batchSize))" }
        let rows = r.settings.budgets.flatMap { n in
            r.settings.comparedModels.map { m -> [String] in
                let cells = contexts.map { c in speedupCell(c.budgets.first { $0.steps == n }?[model: m.name]) }
                let perRun = Set(contexts.compactMap { c in c.budgets.first { $0.steps == n }?.tokens })
                return [String(n)] + (several(r) ? [m.label] : []) + [perRun.count == 1 ? tokens(perRun.first!) : perRun.sorted().map(tokens).joined(separator: "/")] + cells
            }
        }
        return (header, rows)
    }

    static func extrapolationTable(_ c: ComparisonResults.Context, _ multiples: [Int]) -> (header: [String], rows: [[String]]) {
        let header = ["model", "budget (steps)"] + multiples.map { "val loss at \($0 * c.context) (\($0)×)" }
        let rows = c.extrapolation.map { e in
            [e.model, String(e.steps)] + multiples.map { m in range(e.points.first { $0.multiple == m }?.seeds) }
        }
        return (header, rows)
    }

    static func tuningTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        if r.settings.tuning == .budgets {
            return ((r.shapes == nil ? [] : ["shape"]) + ["context", "model", "budget (steps)", "learning rate", "val loss (selection windows, mean of tuning seeds)", "status", "chosen"],
                    r.tuning.map { t in
                        (r.shapes == nil ? [] : [t.shape?.description ?? ""]) + [String(t.context), t.model, t.steps.map(String.init) ?? "", rate(t.lr), f(t.valLoss), t.status.rawValue, t.chosen == true ? "✓" : ""]
                    })
        }
        return (["context", "model", "learning rate", "val loss (selection windows)", "status", "chosen"],
         r.tuning.map { t in
             let chosen = r.contexts.first { $0.context == t.context }.map { $0.rates[t.model] == t.lr } ?? false
             return [String(t.context), t.model, rate(t.lr), f(t.valLoss), t.status.rawValue, chosen ? "✓" : ""]
         })
    }

    static func learningRateTable(_ r: ComparisonResults) -> (header: [String], rows: [[String]]) {
        let models = r.settings.modelList
        return (["context", "batch"] + models.map { "\($0.label) rate" },
         r.contexts.map { c in
             [String(c.context), String(c.batchSize)] + models.map { m in
                 rate(c.rates[m.name] ?? .nan) + (c.lrAtGridEdge.contains(m.name) ? " (grid edge)" : "")
             }
         })
    }

    /// A sentence per context (and compared model) answering "does this model reach the
    /// baseline's loss with fewer tokens?".
    public static func answer(_ r: ComparisonResults) -> [String] {
        let warnings = r.sweeps.map { sweeps in sweeps.filter(\.atEdge).map(edgeWarning) } ?? r.contexts.flatMap { c in
            c.lrAtGridEdge.map { model in
                "Warning: \(model)'s best learning rate at context \(c.context) (\(rate(c.rates[model] ?? .nan))) is at the edge of the grid; its optimum may lie outside it — extend --lr-grid before trusting the comparison."
            }
        }
        let blocks: [(String, [ComparisonResults.Context])] = r.shapes.map { _ in sortedShapes(r).map { ("Shape \($0.shape) (\(parameters($0.nonEmbeddingParameters)) non-embedding), ", $0.contexts) } } ?? [("", r.contexts)]
        let base = r.settings.baseline.label
        return warnings + blocks.flatMap { prefix, contexts in contexts.flatMap { c in r.settings.comparedModels.map { m in
            let label = m.label
            let parts = c.budgets.compactMap { b -> String? in
                guard let e = b[model: m.name] else { return nil }
                guard let s = e.speedupFit ?? e.speedup else { return e.note.map { "\(b.steps) steps: \($0)" } }
                let bySeed = e.speedupFitBySeed ?? e.speedupBySeed ?? []
                let spread: String
                if let ci = e.speedupInterval {
                    spread = String(format: " (95 %% interval %.2f–%.2f×%@)", ci.low, ci.high, ci.contains(1) ? ": no speedup shown" : "")
                } else {
                    spread = bySeed.count > 1 ? " (seeds \(seedRange(bySeed)))" : ""
                }
                let what: String
                switch (s.bound, s.value >= 1) {
                case (.moreThan, _): what = "\(base) did not reach \(label)'s loss within its largest budget (speedup \(s))"
                case (.atMost, _): what = "\(base)'s smallest budget already matched \(label) (speedup \(s): \(label) is not faster here)"
                case (.exact, true): what = "\(base) needs \(s) \(label)'s tokens\(spread)"
                case (.exact, false): what = "\(label) is worse: \(base) needs only \(s) of \(label)'s tokens\(spread)"
                }
                return "\(b.steps) steps: \(what)"
            }
            let which = several(r) ? ", \(label) against \(base)" : ""
            return "\(prefix)Context \(c.context)\(which): " + (parts.isEmpty ? "no finished pairs of runs yet." : parts.joined(separator: "; ") + ".")
        } } }
    }

    /// A sweep whose best rate is still on the grid's edge.
    static func edgeWarning(_ o: TuningSweep.Outcome) -> String {
        let shape: String = o.shape.map { "shape \($0), " } ?? ""
        let added: Int = o.extendedBelow + o.extendedAbove
        let best: String = rate(o.best ?? .nan)
        return "Warning: \(shape)context \(o.context): \(o.model)'s best learning rate at \(o.steps) steps (\(best)) is still at the edge of the grid after \(added) added rate(s); its optimum may lie outside it — widen --lr-grid or raise --grid-extensions before trusting the comparison."
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
        if s.models != nil { text += "models \(s.modelList.map { $0.name == $0.architecture ? $0.name : "\($0.name) (\($0.architecture))" }.joined(separator: ", ")), each measured against \(s.baseline.label); " }
        text += "\(s.seeds) seed(s); parameters \(s.precision.rawValue). "
        if s.contexts.count > 1 && s.constantTokensPerStep {
            text += "Tokens per step are the same at every context (batch × context = \(s.tokensPerStep(at: s.contexts[0]))), so a budget is the same number of tokens at every context. "
        } else {
            text += s.contexts.count > 1 ? "Batch \(s.batchSize) at every context. " : "Batch \(s.batchSize). "
        }
        if !s.gptBudgets.isEmpty {
            let others = s.comparedModels.count == 1 ? "\(s.comparedModels[0].label)'s" : "the other models'"
            text += "\(s.baseline.label) also trains at \(s.gptBudgets.map(String.init).joined(separator: ", ")) steps, beyond \(others) largest budget. "
        }
        text += "Learning rates \(r.lrSource). "
        text += "Every number is the final validation loss of a separate run with its own cosine schedule; all final runs are scored on the same \(s.evalBatches) validation batches."
        if let bpt = r.validationBytesPerToken {
            text += String(format: " Losses are in nats per token; the validation text has %.3f bytes per token, so bits per byte = loss ÷ (ln 2 × %.3f), comparable across tokenizers and vocabularies.", bpt, bpt)
        }
        return text
    }

    /// How the speedups are computed, naming the comparison's baseline and compared model(s).
    static func speedupExplanation(_ r: ComparisonResults) -> String {
        let gpt = r.settings.baseline.label
        let ngpt = several(r) ? "the model" : r.settings.comparedModels[0].label
        let each = several(r) ? "budget of every other model" : "\(ngpt) budget"
        return "Speedup: for each \(each), the tokens \(gpt) needs to reach \(ngpt)'s final loss, divided by \(ngpt)'s tokens. \(gpt)'s final loss against tokens (its separate runs at every budget, extra budgets included) is fitted by a power law a + b·t^(−c), which bends as \(gpt)'s curve does; where no fit exists (fewer than three budgets) it is interpolated linearly in log tokens, as the column \"straight line in log tokens\" does everywhere (kept beside it for comparison: it overstates the speedup when the curve bends). Neither is extended beyond \(gpt)'s measured budgets: \"> x\": \(gpt) never got there within its largest budget; \"≤ x\": \(gpt)'s smallest budget already did (the note says which budget to add). Per seed: \(ngpt) seed s against \(gpt) seed s (same seed, same data order). Intervals are 95 % Student-t intervals over seeds: of the per-seed differences for the loss gap, of the log per-seed speedups for the speedup; an interval that holds 0 (or 1×) shows no difference. Below 1 means \(ngpt) is worse. Wall-clock: the same straight-line interpolation in measured seconds, which carry the shared machine's noise."
    }

    public static func markdown(_ r: ComparisonResults) -> String {
        let s = r.settings
        var md = "# \(title(r))\n\n" + summary(r) + "\n\n"
        for a in answer(r) { md += "- \(a)\n" }
        let table = ReportFormat.markdownTable
        if r.shapes != nil { md += "\n## Token speedup and loss gap against model size (context \(s.contexts[0]))\n\n" + table(sizeTable(r)) }
        md += "\n## Learning rates\n\n" + table(s.tuning == .budgets ? ratesByBudgetTable(r) : learningRateTable(r))
        if !r.tuning.isEmpty { md += "\n### Sweep\n\n" + table(tuningTable(r)) }
        for (title, _, contexts) in shapeBlocks(r) {
            if let title { md += "\n# \(title)\n" }
            if contexts.count > 1 { md += "\n## Token speedup against context\n\n" + table(contextTable(r, contexts)) }
            for c in contexts {
                md += "\n## Context \(c.context)\n\n### Final loss and speedup\n\n" + table(speedupTable(s, c))
                if !s.extrapolation.isEmpty { md += "\n### Length extrapolation\n\n" + table(extrapolationTable(c, [1] + s.extrapolation)) }
            }
        }
        if !r.missingRuns.isEmpty { md += "\nRuns not finished: " + r.missingRuns.joined(separator: ", ") + "\n" }
        md += "\n" + speedupExplanation(r) + "\n"
        return md
    }

    public static func html(_ r: ComparisonResults) -> String {
        let s = r.settings
        var page = HTMLReport(title: title(r))
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
                for m in s.modelList {
                    let pts = r.tuning.filter { $0.model == m.name && $0.context == t }.compactMap { x in x.valLoss.map { (x: x.lr, y: $0) } }
                    guard !pts.isEmpty else { continue }
                    // one colour per context (the baseline dashed) when there are several; else the models' colours
                    chart.series.append(.init(name: tuned.count > 1 ? "\(m.name) context \(t)" : m.name, points: pts,
                                              color: tuned.count > 1 ? SVGChart.palette[(2 + i) % SVGChart.palette.count] : color(r, m.name),
                                              dashed: tuned.count > 1 && m == s.baseline, markers: true))
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
            let base = s.baseline.label, compared = several(r) ? "each model" : s.comparedModels[0].label
            var chart = SVGChart(title: "Token speedup of \(compared) over \(base)", xLabel: "training context (tokens)",
                                 yLabel: "tokens \(base) needs ÷ \(several(r) ? "the model" : compared)'s tokens", xScale: .log)
            chart.integerXTicks = true
            for (j, m) in s.comparedModels.enumerated() {
                for (i, n) in s.budgets.enumerated() {
                    var pts = [(x: Double, y: Double)](), band = [(x: Double, low: Double, high: Double)]()
                    for c in contexts {
                        guard let e = c.budgets.first(where: { $0.steps == n })?[model: m.name], let sp = e.speedupFit ?? e.speedup else { continue }
                        pts.append((Double(c.context), sp.value))
                        if let ci = e.speedupInterval {
                            band.append((Double(c.context), ci.low, ci.high))
                        } else {
                            let values = (e.speedupBySeed ?? []).map(\.value)
                            if let lo = values.min(), let hi = values.max() { band.append((Double(c.context), lo, hi)) }
                        }
                    }
                    chart.series.append(.init(name: (several(r) ? "\(m.label) " : "") + "\(n) steps (band: 95 % interval, else seed range)", points: pts, band: band,
                                              color: SVGChart.palette[(i + 2) % SVGChart.palette.count], dashed: j > 0, markers: true))
                }
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
                curves.series.append(.init(name: "\(run.run.model) \(run.run.steps) steps seed \(run.run.seed)",
                                           points: run.curve.dropFirst().map { (Double($0.tokens), $0.loss) },
                                           color: color(r, run.run.model), dashed: run.run.seed > 0))
            }
            if curves.series.count > 9 { curves.height = 400 + 18 * Double((curves.series.count - 9) / 3 + 1) }
            page.figure(curves, caption: "Every final run (dashed: seeds > 0). Each budget has its own cosine schedule, so the curves are separate runs, not points along one run.")
            var finals = SVGChart(title: "Final loss vs budget", xLabel: "training tokens (log)", yLabel: "final validation loss (nats/token)", xScale: .log)
            for m in s.modelList {
                let bs = (c.budgets + c.baselineBeyond).compactMap { b in b[model: m.name]?.loss.map { (Double(b.tokens), $0) } }
                finals.series.append(.init(name: "\(m.name) (mean, band: seed range)", points: bs.map { ($0.0, $0.1.mean) },
                                           band: bs.map { ($0.0, $0.1.min, $0.1.max) }, color: color(r, m.name), markers: true))
            }
            let others = several(r) ? "the other models'" : "\(s.comparedModels[0].label)'s"
            page.figure(finals, caption: "Mean over seeds with the range of seeds shaded. \(s.baseline.label)'s curve continues past \(others) largest budget so that it reaches \(several(r) ? "their" : others) losses.")
            if hasBitsPerByte(c) {
                var bits = SVGChart(title: "Final bits per byte vs budget", xLabel: "training tokens (log)", yLabel: "final validation loss (bits/byte)", xScale: .log)
                for m in s.modelList {
                    let bs = (c.budgets + c.baselineBeyond).compactMap { b in b[model: m.name]?.bitsPerByte.map { (Double(b.tokens), $0) } }
                    bits.series.append(.init(name: "\(m.name) (mean, band: seed range)", points: bs.map { ($0.0, $0.1.mean) },
                                             band: bs.map { ($0.0, $0.1.min, $0.1.max) }, color: color(r, m.name), markers: true))
                }
                page.figure(bits, caption: "The same losses in bits per byte of validation text (nats per token ÷ (ln 2 × bytes per token)): the axis on which runs with other tokenizers or vocabularies compare.")
            }
            let t = speedupTable(s, c)
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
                    ext.series.append(.init(name: "\(e.model) \(e.steps) steps", points: pts, band: band, color: color(r, e.model), markers: true))
                }
                let shared = s.extrapolationWindows == .shared
                page.figure(ext, caption: "Models of the largest common budget (\(several(r) ? "every model" : "both models")), mean over seeds, seed range shaded; RoPE unchanged. " + (shared ? "Every context scores the same tokens: windows of the longest length, cut into equal slices for the shorter contexts." : "Each context on windows of its own."))
                var byPosition = SVGChart(title: "Loss by position in a window of \((s.extrapolation.max() ?? 1) * c.context) tokens", xLabel: "position in the window (tokens)", yLabel: "validation loss (nats/token)")
                for e in c.extrapolation where e.steps == largest {
                    guard let losses = e.positionLoss, let bin = e.positionBin else { continue }
                    byPosition.series.append(.init(name: "\(e.model) \(e.steps) steps", points: losses.enumerated().map { (Double($0.offset * bin) + Double(bin) / 2, $0.element) },
                                                   color: color(r, e.model), markers: true))
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
        page.paragraph(speedupExplanation(r))
        return page.render()
    }

    /// The report's sections: one per shape of a size study (titled), else the contexts alone.
    static func shapeBlocks(_ r: ComparisonResults) -> [(title: String?, shape: ModelShape?, contexts: [ComparisonResults.Context])] {
        guard r.shapes != nil else { return [(nil, nil, r.contexts)] }
        return sortedShapes(r).map { ("Shape \($0.shape) (\(parameters($0.nonEmbeddingParameters)) non-embedding parameters)", $0.shape, $0.contexts) }
    }

    /// The colour of model `name`: GPT's and nGPT's own, the others the palette's after the
    /// colours the budgets use.
    static func color(_ r: ComparisonResults, _ name: String) -> String {
        if let own = SVGChart.color(forModel: name) { return own }
        let i = r.settings.modelList.firstIndex { $0.name == name } ?? 0
        return SVGChart.palette[(5 + i) % SVGChart.palette.count]
    }
}
