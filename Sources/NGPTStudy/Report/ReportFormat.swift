import Foundation

/// How the reports write numbers.
enum ReportFormat {
    /// `v` with `digits` decimals; "–" when missing, "diverged" when not finite.
    static func number(_ v: Double?, _ digits: Int = 4) -> String {
        guard let v else { return "–" }
        return v.isFinite ? String(format: "%.\(digits)f", v) : "diverged"
    }

    /// "mean [min–max]" over seeds, or the one value.
    static func range(_ s: SeedSummary?) -> String {
        guard let s else { return "–" }
        return s.values.count > 1 ? "\(number(s.mean)) [\(number(s.min))–\(number(s.max))]" : number(s.mean)
    }

    /// A Markdown table; a `|` inside a cell is escaped so that it stays in its cell.
    static func markdownTable(_ t: (header: [String], rows: [[String]])) -> String {
        func row(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
        return row(t.header) + "|" + t.header.map { _ in "---" }.joined(separator: "|") + "|\n" + t.rows.map(row).joined()
    }
}
