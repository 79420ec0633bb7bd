import Foundation
import NGPTNumerics
import NGPTModels

/// A line chart rendered as self-contained SVG: labelled axes (linear or log), ticks, a legend,
/// lines with optional markers and shaded bands (e.g. the range over seeds). The title and the
/// axis labels are `<text>` elements of class `chart-title`, `x-label` and `y-label`.
package struct SVGChart: Sendable {
    package enum Scale: Sendable { case linear, log }

    package struct Series: Sendable {
        package var name: String
        package var points: [(x: Double, y: Double)]
        /// Shaded band: (x, low, high) per point.
        package var band: [(x: Double, low: Double, high: Double)]
        package var color: String
        package var dashed: Bool
        package var markers: Bool

        package init(name: String, points: [(x: Double, y: Double)], band: [(x: Double, low: Double, high: Double)] = [],
                    color: String, dashed: Bool = false, markers: Bool = false) {
            self.name = name
            self.points = points
            self.band = band
            self.color = color
            self.dashed = dashed
            self.markers = markers
        }
    }

    package var title: String
    package var xLabel: String
    package var yLabel: String
    package var xScale: Scale
    package var yScale: Scale
    package var series: [Series]
    package var width: Double = 640
    package var height: Double = 400
    /// Ticks of a linear x axis only at whole numbers (layers, steps).
    package var integerXTicks = false

    package init(title: String, xLabel: String, yLabel: String, xScale: Scale = .linear, yScale: Scale = .linear, series: [Series] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xScale = xScale
        self.yScale = yScale
        self.series = series
    }

    /// Colours used for GPT and nGPT throughout the reports.
    package static let gptColor = "#d62728"
    package static let ngptColor = "#1f77b4"

    /// The colour of a model's lines in every report, by architecture name: GPT red, nGPT blue,
    /// any other the next free colour of the palette.
    static func color(forModel name: String) -> String? {
        ["gpt": gptColor, "ngpt": ngptColor][name]
    }
    package static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// The SVG document.
    package func render() -> String {
        let left = 72.0, right = 16.0, top = 34.0, bottom = 52.0
        let longest = Double(series.map(\.name.count).max() ?? 0) * 6.6 + 44
        let legendColumns = max(1, min(3, Int((width - left - right) / longest)))
        let legendHeight = 18.0 * Double((series.count + legendColumns - 1) / legendColumns)
        let plotW = width - left - right, plotH = height - top - bottom - legendHeight
        func valid(_ v: Double, _ s: Scale) -> Bool { v.isFinite && (s == .linear || v > 0) }
        let xs = series.flatMap { $0.points.map(\.x) + $0.band.map(\.x) }.filter { valid($0, xScale) }
        let ys = series.flatMap { $0.points.map(\.y) + $0.band.flatMap { [$0.low, $0.high] } }.filter { valid($0, yScale) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(fmt(width / 2))\" y=\"20\" class=\"chart-title\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(HTMLReport.escape(title))</text>\n"
        guard let xr = Axis.range(xs, xScale), let yr = Axis.range(ys, yScale) else {
            svg += "<text x=\"\(fmt(width / 2))\" y=\"\(fmt(height / 2))\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n"
            return svg
        }
        let xAxis = Axis(lo: xr.0, hi: xr.1, scale: xScale, integer: integerXTicks), yAxis = Axis(lo: yr.0, hi: yr.1, scale: yScale)
        func px(_ x: Double) -> Double { left + xAxis.fraction(x) * plotW }
        func py(_ y: Double) -> Double { top + (1 - yAxis.fraction(y)) * plotH }
        // grid and ticks
        let xTicks = xAxis.ticks(), yTicks = yAxis.ticks()
        let xLabels = Axis.labels(xTicks), yLabels = Axis.labels(yTicks)
        for (t, label) in zip(xTicks, xLabels) {
            let x = px(t)
            svg += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(top))\" x2=\"\(fmt(x))\" y2=\"\(fmt(top + plotH))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(fmt(x))\" y=\"\(fmt(top + plotH + 16))\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for (t, label) in zip(yTicks, yLabels) {
            let y = py(t)
            svg += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y))\" x2=\"\(fmt(left + plotW))\" y2=\"\(fmt(y))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" text-anchor=\"end\">\(label)</text>\n"
        }
        svg += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(plotW))\" height=\"\(fmt(plotH))\" fill=\"none\" stroke=\"#444\"/>\n"
        svg += "<text x=\"\(fmt(left + plotW / 2))\" y=\"\(fmt(top + plotH + 36))\" class=\"x-label\" text-anchor=\"middle\">\(HTMLReport.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(fmt(top + plotH / 2))) rotate(-90)\" class=\"y-label\" text-anchor=\"middle\">\(HTMLReport.escape(yLabel))</text>\n"
        // series
        for s in series {
            let band = s.band.filter { valid($0.x, xScale) && valid($0.low, yScale) && valid($0.high, yScale) }
            if band.count >= 2 {
                let upper = band.map { "\(fmt(px($0.x))),\(fmt(py($0.high)))" }
                let lower = band.reversed().map { "\(fmt(px($0.x))),\(fmt(py($0.low)))" }
                svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(s.color)\" fill-opacity=\"0.15\" stroke=\"none\"/>\n"
            } else {
                for b in band {
                    svg += "<line x1=\"\(fmt(px(b.x)))\" y1=\"\(fmt(py(b.low)))\" x2=\"\(fmt(px(b.x)))\" y2=\"\(fmt(py(b.high)))\" stroke=\"\(s.color)\" stroke-width=\"2\" opacity=\"0.5\"/>\n"
                }
            }
            let pts = s.points.filter { valid($0.x, xScale) && valid($0.y, yScale) }
            if pts.count >= 2 {
                let d = pts.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
                svg += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.6\"\(s.dashed ? " stroke-dasharray=\"5,4\"" : "")/>\n"
            }
            if s.markers || pts.count == 1 {
                for p in pts { svg += "<circle cx=\"\(fmt(px(p.x)))\" cy=\"\(fmt(py(p.y)))\" r=\"3\" fill=\"\(s.color)\"/>\n" }
            }
        }
        // legend
        for (i, s) in series.enumerated() {
            let x = left + Double(i % legendColumns) * (plotW / Double(legendColumns))
            let y = height - legendHeight + 4 + 18 * Double(i / legendColumns)
            svg += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(y))\" x2=\"\(fmt(x + 22))\" y2=\"\(fmt(y))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5,4\"" : "")/>\n"
            svg += "<text x=\"\(fmt(x + 28))\" y=\"\(fmt(y + 4))\">\(HTMLReport.escape(s.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    struct Axis {
        let lo: Double, hi: Double, scale: Scale
        var integer = false

        static func range(_ v: [Double], _ scale: Scale) -> (Double, Double)? {
            guard var lo = v.min(), var hi = v.max() else { return nil }
            if lo == hi {
                if scale == .log { lo /= 2; hi *= 2 } else { lo -= max(abs(lo) * 0.1, 0.5); hi += max(abs(hi) * 0.1, 0.5) }
            } else if scale == .linear {
                let pad = (hi - lo) * 0.04
                lo -= pad; hi += pad
            } else {
                lo /= 1.15; hi *= 1.15
            }
            return (lo, hi)
        }

        func fraction(_ v: Double) -> Double {
            scale == .log ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) : (v - lo) / (hi - lo)
        }

        func ticks() -> [Double] {
            if scale == .log {
                let a = Int(floor(log10(lo))), b = Int(ceil(log10(hi)))
                var t = [Double]()
                // Within a decade or two, finer mantissas keep at least three ticks on the axis.
                let choices: [[Double]] = b - a <= 2 ? [[1, 2, 5], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]] : [[1]]
                let step = max(1, (b - a) / 8)
                for mantissas in choices where t.count < 3 {
                    t = []
                    for e in stride(from: a, through: b, by: step) {
                        for m in mantissas {
                            let v = m * pow(10, Double(e))
                            if v >= lo && v <= hi { t.append(v) }
                        }
                    }
                }
                if t.count < 3 { t = Axis(lo: lo, hi: hi, scale: .linear).ticks().filter { $0 > 0 } }
                return t
            }
            let raw = (hi - lo) / 6
            let mag = pow(10, floor(log10(raw)))
            var step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
            if integer { step = max(1, step.rounded(.up)) }
            var t = [Double]()
            var v = ceil(lo / step) * step
            while v <= hi + step * 1e-9 { t.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
            return t
        }

        /// Tick labels: ``label(_:)`` each, or, when that prints two ticks alike (a narrow linear
        /// range), fixed decimals enough to tell neighbours apart.
        static func labels(_ ticks: [Double]) -> [String] {
            let plain = ticks.map(label)
            guard Set(plain).count < plain.count, ticks.count >= 2 else { return plain }
            for decimals in 0...12 {
                let fixed = ticks.map { String(format: "%.\(decimals)f", $0) }
                if Set(fixed).count == fixed.count { return fixed }
            }
            return plain
        }

        static func label(_ v: Double) -> String {
            let a = abs(v)
            if a != 0 && (a >= 1e5 || a < 1e-3) {
                return String(format: "%.0e", v).replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+", with: "e")
            }
            if a >= 100 || v == v.rounded() { return String(format: "%.0f", v) }
            if a >= 1 { return String(format: "%.4g", v) }
            return String(format: "%.3g", v)
        }
    }
}

extension SVGChart.Series {
    /// A histogram as a step line: `counts` in equal bins over `[lower, upper]`, each drawn as a
    /// flat segment across its bin at height `count / (total · binWidth)` (a density, so
    /// histograms of different sample sizes overlay), or the raw count when `density` is false.
    package static func histogram(name: String, lower: Double, upper: Double, counts: [Int], color: String,
                                 density: Bool = true, dashed: Bool = false) -> SVGChart.Series {
        let width = (upper - lower) / Double(max(counts.count, 1))
        let total = Double(max(counts.reduce(0, +), 1))
        var points = [(x: Double, y: Double)]()
        for (i, c) in counts.enumerated() {
            let y = density ? Double(c) / (total * width) : Double(c)
            points.append((lower + Double(i) * width, y))
            points.append((lower + Double(i + 1) * width, y))
        }
        return SVGChart.Series(name: name, points: points, color: color, dashed: dashed)
    }
}

/// A coordinate with one decimal, as the figures write them.
private func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

extension HTMLReport {
    /// Escapes text for HTML and SVG.
    package static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// A self-contained HTML page (no external resources): headings, paragraphs, tables and inline
/// SVG figures.
package struct HTMLReport: Sendable {
    package var title: String
    private var body = ""

    package init(title: String) { self.title = title }

    package mutating func heading(_ text: String, level: Int = 2) { body += "<h\(level)>\(HTMLReport.escape(text))</h\(level)>\n" }
    package mutating func paragraph(_ text: String) { body += "<p>\(HTMLReport.escape(text))</p>\n" }
    package mutating func raw(_ html: String) { body += html }
    package mutating func figure(_ chart: SVGChart, caption: String? = nil) {
        body += "<figure>\n" + chart.render()
        if let caption { body += "<figcaption>\(HTMLReport.escape(caption))</figcaption>\n" }
        body += "</figure>\n"
    }
    package mutating func table(header: [String], rows: [[String]]) {
        body += "<table>\n<tr>" + header.map { "<th>\(HTMLReport.escape($0))</th>" }.joined() + "</tr>\n"
        for r in rows { body += "<tr>" + r.map { "<td>\(HTMLReport.escape($0))</td>" }.joined() + "</tr>\n" }
        body += "</table>\n"
    }

    package func render() -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(HTMLReport.escape(title))</title>
        <style>
        body { font-family: Helvetica, Arial, sans-serif; max-width: 1360px; margin: 24px auto; padding: 0 16px; color: #222; }
        h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; } h3 { font-size: 16px; }
        table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
        th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; } th { background: #f4f4f4; }
        td:first-child, th:first-child { text-align: left; }
        figure { display: inline-block; margin: 8px; vertical-align: top; } figcaption { font-size: 12px; color: #555; max-width: 640px; }
        </style></head><body>
        <h1>\(HTMLReport.escape(title))</h1>
        \(body)</body></html>

        """
    }
}
