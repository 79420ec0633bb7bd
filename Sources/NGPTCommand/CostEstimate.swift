import Foundation
import NGPT

/// What a study's runs will cost, from this machine's own training throughput: for every model,
/// shape and context of the plan, training steps are timed (at the run's threads: one untimed
/// and one timed step of at most about 1,024 tokens for models above 20 M parameters, so that
/// paper-sized models are measured in a minute or two, else one untimed and two timed steps of
/// at most 2,048 tokens),
/// and each run's core-hours are its training tokens ÷ that rate × its threads. Evaluations,
/// start-up and checkpoints are left out, so short runs cost a little more than estimated; a
/// cluster node's cores differ from this machine's, so scale by the ratio of their GEMM rates
/// (`ngpt bench` prints this machine's).
struct CostEstimate {
    /// Measured seconds per token, by model configuration (its description) and threads.
    private var secondsPerToken = [String: Double]()

    /// Seconds per training token of `run` on its threads, measured once per model, shape and
    /// context.
    mutating func secondsPerToken(_ run: RunConfiguration, threads: Int) throws -> Double {
        let probe = "\(run.model) threads \(threads)"
        if let known = secondsPerToken[probe] { return known }
        let large = MemoryEstimate.parameterCount(run.model) > 20_000_000
        let batch = max(1, min(run.training.batchSize, (large ? 1024 : 2048) / max(1, run.model.context)))
        let previous = Threads.count
        Threads.set(threads)
        defer { Threads.set(previous) }
        let model = try Transformer(architecture: run.makeArchitecture(), seed: 0)
        let seconds = try ModelBenchmark.trainingStepSeconds(model, batch: batch, steps: large ? 1 : 2, warmup: 1).sorted()
        let perToken = seconds[0] / Double(batch * run.model.context)
        secondsPerToken[probe] = perToken
        printError(String(format: "[plan] %@ d %d, %d layers, context %d: %.0f tokens/s on %d thread(s)",
                          run.architectureName, run.model.width, run.model.layers, run.model.context, 1 / perToken, threads))
        return perToken
    }

    /// Core-hours of `run` (training tokens only).
    mutating func coreHours(_ run: RunConfiguration, threads: Int) throws -> Double {
        let tokens = Double(run.training.steps) * Double(run.training.batchSize) * Double(run.model.context)
        return tokens * (try secondsPerToken(run, threads: threads)) * Double(threads) / 3600
    }

    /// `estimate.tsv` (run, tokens, core-hours) and the totals, for the runs of this stage and
    /// for the `later` runs whose rates are not chosen yet.
    mutating func write(_ runs: [ScheduledRun], later: [ScheduledRun], threads: Int, to file: URL) throws -> (now: Double, later: Double) {
        var lines = ["run\ttokens\tcore_hours"]
        var now = 0.0, rest = 0.0
        for run in runs {
            let h = try coreHours(run.configuration, threads: threads)
            now += h
            let o = run.configuration.training
            lines.append("\(run.id)\t\(o.steps * o.batchSize * run.configuration.model.context)\t\(String(format: "%.4f", h))")
        }
        for run in later { rest += try coreHours(run.configuration, threads: threads) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file, options: .atomic)
        return (now, rest)
    }
}
