import Foundation

/// A horizontal dot-and-range chart: one labelled row per item, its value as a dot, its range
/// (e.g. a 95 % interval) as a line, an optional second mark (e.g. a published value) as a hollow
/// diamond, and a vertical reference line (e.g. at 0 % change). Rows whose value is not finite
/// are listed with "no value" instead of a dot. With a ``limit``, the axis stops at ±limit: a
/// value beyond it is drawn as an arrow at the edge with the value printed beside it, so one
/// far-off row does not squeeze the others.
package struct SVGRangeChart: Sendable {
    package struct Row: Sendable {
        package var label: String
        package var value: Double
        package var low: Double
        package var high: Double
        package var color: String
        /// A second value drawn as a hollow diamond (nil: none).
        package var mark: Double?

        package init(label: String, value: Double, low: Double, high: Double, color: String, mark: Double? = nil) {
            self.label = label
            self.value = value
            self.low = low
            self.high = high
            self.color = color
            self.mark = mark
        }
    }

    package var title: String
    package var xLabel: String
    /// What the rows are (the vertical axis's label).
    package var yLabel: String
    package var rows: [Row]
    package var reference: Double = 0
    package var width: Double = 760
    /// Where the axis is cut (values beyond ±limit are drawn clipped, their value printed).
    package var limit: Double?

    package init(title: String, xLabel: String, yLabel: String, rows: [Row]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.rows = rows
    }

    package func render() -> String {
        let left = 30 + Double(rows.map(\.label.count).max() ?? 0) * 6.6 + 12, right = 24.0, top = 34.0, rowHeight = 20.0
        let plotW = width - left - right, plotH = rowHeight * Double(max(rows.count, 1)), height = top + plotH + 52
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(f(width / 2))\" y=\"20\" class=\"chart-title\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(HTMLReport.escape(title))</text>\n"
        func clip(_ v: Double) -> Double { limit.map { min(max(v, -$0), $0) } ?? v }
        let values = rows.flatMap { [$0.value, $0.low, $0.high] + ($0.mark.map { [$0] } ?? []) }.filter(\.isFinite).map(clip) + [reference]
        var lo = values.min()!, hi = values.max()!
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.06
        let axis = SVGChart.Axis(lo: lo - pad, hi: hi + pad, scale: .linear, integer: false)
        func px(_ x: Double) -> Double { left + axis.fraction(x) * plotW }
        let ticks = axis.ticks()
        for (t, label) in zip(ticks, SVGChart.Axis.labels(ticks)) {
            svg += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + plotH))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(label)</text>\n"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#444\"/>\n"
        svg += "<line x1=\"\(f(px(reference)))\" y1=\"\(f(top))\" x2=\"\(f(px(reference)))\" y2=\"\(f(top + plotH))\" stroke=\"#444\" stroke-dasharray=\"4,3\"/>\n"
        for (i, r) in rows.enumerated() {
            let y = top + rowHeight * (Double(i) + 0.5)
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(HTMLReport.escape(r.label))</text>\n"
            guard r.value.isFinite else {
                svg += "<text x=\"\(f(left + 6))\" y=\"\(f(y + 4))\" fill=\"#888\">no value (diverged or not run)</text>\n"
                continue
            }
            if r.low.isFinite && r.high.isFinite {
                svg += "<line x1=\"\(f(px(clip(r.low))))\" y1=\"\(f(y))\" x2=\"\(f(px(clip(r.high))))\" y2=\"\(f(y))\" stroke=\"\(r.color)\" stroke-width=\"2.5\" opacity=\"0.55\"/>\n"
            }
            if let m = r.mark, m.isFinite {
                let x = px(clip(m))
                svg += "<path d=\"M\(f(x)) \(f(y - 5)) L\(f(x + 5)) \(f(y)) L\(f(x)) \(f(y + 5)) L\(f(x - 5)) \(f(y)) Z\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.2\"/>\n"
            }
            let x = px(clip(r.value))
            if clip(r.value) != r.value {
                // beyond the cut: an arrow at the edge and the value beside it, inside the plot
                let d = r.value > 0 ? 1.0 : -1.0
                svg += "<path d=\"M\(f(x + 6 * d)) \(f(y)) L\(f(x - 3 * d)) \(f(y - 5)) L\(f(x - 3 * d)) \(f(y + 5)) Z\" fill=\"\(r.color)\"/>\n"
                let label = String(format: "%+.1f", r.value)
                svg += "<text x=\"\(f(x - 8 * d))\" y=\"\(f(y - 6))\" text-anchor=\"\(d > 0 ? "end" : "start")\" font-size=\"11\" fill=\"\(r.color)\">\(label)</text>\n"
            } else {
                svg += "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"4\" fill=\"\(r.color)\"/>\n"
            }
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 36))\" class=\"x-label\" text-anchor=\"middle\">\(HTMLReport.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" class=\"y-label\" text-anchor=\"middle\">\(HTMLReport.escape(yLabel))</text>\n"
        return svg + "</svg>\n"
    }
}

extension SVGRangeChart {
    /// A cut for `extents` (each row's largest |value|) that keeps most rows readable: about
    /// 1.5× the 80th percentile, rounded up to 1, 2 or 5 × 10^k; nil when no row lies far beyond it.
    package static func limit(forExtents extents: [Double]) -> Double? {
        let e = extents.filter(\.isFinite).map(abs).sorted()
        guard e.count >= 3, let largest = e.last, largest > 0 else { return nil }
        let q = max(e[Int(0.8 * Double(e.count - 1))] * 1.5, 1e-9)
        let p = pow(10, (log10(q)).rounded(.down))
        let cut = [1.0, 2, 5, 10].map { $0 * p }.first { $0 >= q } ?? 10 * p
        return largest > 1.25 * cut ? cut : nil
    }
}

extension HTMLReport {
    /// Adds a range chart as a figure.
    package mutating func figure(_ chart: SVGRangeChart, caption: String? = nil) {
        raw("<figure>\n" + chart.render() + (caption.map { "<figcaption>\(HTMLReport.escape($0))</figcaption>\n" } ?? "") + "</figure>\n")
    }
}
