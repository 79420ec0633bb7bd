import Foundation
import NGPT

/// The progress line on stderr: rewritten in place on a terminal, one line per second otherwise
/// (so logs stay readable). Evaluations always get their own line.
final class ProgressLine {
    private let label: String
    private let totalSteps: Int
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastPrint = Date.distantPast
    private let start = Date()
    private var firstStep: Int?

    init(label: String, totalSteps: Int) {
        self.label = label
        self.totalSteps = totalSteps
    }

    func update(_ r: MetricsRecord) {
        if r.kind == "eval" {
            let ctx = r.context.map { " (context \($0))" } ?? ""
            let bpb = r.valBitsPerByte.map { String(format: " (%.4f bits/byte)", $0) } ?? ""
            emit(String(format: "%@ step %ld  val loss %.4f%@%@", label, r.step, r.valLoss ?? .nan, bpb, ctx), final: true)
            return
        }
        if firstStep == nil { firstStep = r.step - 1 }
        let now = Date()
        guard r.step == totalSteps || now.timeIntervalSince(lastPrint) >= (isTerminal ? 0.1 : 1) else { return }
        lastPrint = now
        let done = r.step - (firstStep ?? 0)
        let perStep = now.timeIntervalSince(start) / Double(max(done, 1))
        let eta = perStep * Double(totalSteps - r.step)
        emit(String(format: "%@ step %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %@", label, r.step, totalSteps,
                    r.trainLoss ?? .nan, r.lr ?? 0, r.tokensPerSecond ?? 0, formatDuration(eta)),
             final: r.step == totalSteps)
    }

    private func emit(_ s: String, final: Bool) {
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + s + (final ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((s + "\n").utf8))
        }
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%ldh%02ldm", s / 3600, (s % 3600) / 60)
        : s >= 60 ? String(format: "%ldm%02lds", s / 60, s % 60) : "\(s)s"
}
