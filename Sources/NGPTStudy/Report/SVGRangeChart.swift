import Foundation

/// A horizontal dot-and-range chart: one labelled row per item, its value as a dot, its range
/// (e.g. over seeds) as a line, and a vertical reference line (e.g. at 0 % change). Rows whose
/// value is not finite are listed with "no value" instead of a dot.
public struct SVGRangeChart: Sendable {
    public struct Row: Sendable {
        public var label: String
        public var value: Double
        public var low: Double
        public var high: Double
        public var color: String

        public init(label: String, value: Double, low: Double, high: Double, color: String) {
            self.label = label
            self.value = value
            self.low = low
            self.high = high
            self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    /// What the rows are (the vertical axis's label).
    public var yLabel: String
    public var rows: [Row]
    public var reference: Double = 0
    public var width: Double = 760

    public init(title: String, xLabel: String, yLabel: String, rows: [Row]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.rows = rows
    }

    public func render() -> String {
        let left = 30 + Double(rows.map(\.label.count).max() ?? 0) * 6.6 + 12, right = 24.0, top = 34.0, rowHeight = 20.0
        let plotW = width - left - right, plotH = rowHeight * Double(max(rows.count, 1)), height = top + plotH + 52
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(f(width / 2))\" y=\"20\" class=\"chart-title\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(HTMLReport.escape(title))</text>\n"
        let values = rows.flatMap { [$0.value, $0.low, $0.high] }.filter(\.isFinite) + [reference]
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
                svg += "<line x1=\"\(f(px(r.low)))\" y1=\"\(f(y))\" x2=\"\(f(px(r.high)))\" y2=\"\(f(y))\" stroke=\"\(r.color)\" stroke-width=\"2.5\" opacity=\"0.55\"/>\n"
            }
            svg += "<circle cx=\"\(f(px(r.value)))\" cy=\"\(f(y))\" r=\"4\" fill=\"\(r.color)\"/>\n"
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 36))\" class=\"x-label\" text-anchor=\"middle\">\(HTMLReport.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" class=\"y-label\" text-anchor=\"middle\">\(HTMLReport.escape(yLabel))</text>\n"
        return svg + "</svg>\n"
    }
}

extension HTMLReport {
    /// Adds a range chart as a figure.
    public mutating func figure(_ chart: SVGRangeChart, caption: String? = nil) {
        raw("<figure>\n" + chart.render() + (caption.map { "<figcaption>\(HTMLReport.escape($0))</figcaption>\n" } ?? "") + "</figure>\n")
    }
}
