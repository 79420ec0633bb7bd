import ArgumentParser
import Foundation
import NGPT

/// Which benchmark shape the options start from.
enum BenchPreset: String, ExpressibleByArgument, CaseIterable {
    case s, m
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time full training steps (and optionally sampling); print one JSON line.",
        discussion: """
        A step is forward, backward, gradient norm, AdamW with clipping and, for nGPT, the weight
        renormalisation, on seeded random tokens. Shape options override the preset: s (bench-s:
        d 256, 4 layers, 4 heads, context 256, batch 8) or m (bench-m: d 512, 8 layers, 8 heads,
        context 512, batch 4). Keys: model, the shape, params, flop_per_token, step_s_median/min/max,
        tokens_per_s, gflops, gemm_peak_gflops (best SGEMM at the model's largest product, same
        process), mfu, peak_rss_mb, and with --sample sample_tokens_per_s and
        sample_bf16_tokens_per_s (decoding with the key/value cache at batch 1, float32 and bfloat16
        weights). Build with -c release.
        """)

    @Option(help: "Preset shape: s or m (default s).") var preset: BenchPreset = .s
    @OptionGroup var shape: ModelOptions
    @Option(help: "Sequences per batch (default: the preset's, 8 or 4).") var batch: Int?
    @Option(help: "Timed steps; the median is reported (default 10).") var steps: Int = 10
    @Option(help: "Untimed steps before timing (default 2).") var warmup: Int = 2
    @Flag(help: "Also time sampling with the key/value cache (batch 1, greedy).") var sample = false
    @Option(help: "Tokens to sample with --sample (default: context − 1).") var sampleTokens: Int?
    @Flag(help: "Instead, time each kernel of a step (one JSON line per kernel).") var kernels = false
    @Option(help: "Threads (default: OPENBLAS_NUM_THREADS, else all cores).") var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
        if steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if warmup < 0 { throw ValidationError("--warmup must be at least 0, got \(warmup)") }
        if let b = batch, b < 1 { throw ValidationError("--batch must be at least 1, got \(b)") }
        if let n = sampleTokens, n < 1 { throw ValidationError("--sample-tokens must be at least 1, got \(n)") }
    }

    func run() throws {
        try applyThreads(threads)
        let architecture = try shape.architecture()
        let kind = architecture.baseKind
        try shape.checkOptionsApply(to: kind)
        var c = preset == .s ? BenchmarkSettings.small(kind) : BenchmarkSettings.medium(kind)
        let given = try shape.config(kind: kind, vocabulary: c.vocabularySize)
        // Ablation switches come from the options; each shape field from the option if given,
        // else from the preset.
        let preset = c
        c = given
        c.width = shape.dim ?? preset.width
        c.layers = shape.layers ?? preset.layers
        c.heads = shape.heads ?? preset.heads
        c.context = shape.context ?? preset.context
        let batch = self.batch ?? (self.preset == .s ? 8 : 4)
        if let available = AvailableMemory.bytes(), MemoryEstimate.training(c, batch: batch).totalBytes > available {
            let needed = MemoryEstimate.training(c, batch: batch).totalBytes
            throw TrainingError.invalidOption("this shape needs \(MemoryEstimate.format(needed)) of memory at batch \(batch), this machine has \(MemoryEstimate.format(available)) available; reduce --batch, --context or --dim")
        }
        try c.validate()
        #if DEBUG
        printError("warning: a debug build; build with `swift build -c release` for meaningful figures")
        #endif
        if kernels {
            for k in try ModelBenchmark.kernelTimings(c, batch: batch) { print(k.jsonLine) }
            return
        }
        var settings = BenchmarkSettings(model: c, batch: batch, steps: steps,
                                         warmup: warmup, sampleTokens: sample ? (sampleTokens ?? c.context - 1) : 0)
        settings.architecture = architecture.name == kind.rawValue ? nil : architecture.name
        print(try ModelBenchmark.run(settings).jsonLine)
    }
}
