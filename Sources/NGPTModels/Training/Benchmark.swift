import Foundation
import NGPTNumerics

/// What ``ModelBenchmark/run(_:)`` measures: a model shape, the batch, how many steps, and how many
/// tokens to sample. The defaults are the shape called bench-s in `docs/performance.md`.
public struct BenchmarkSettings: Codable, Sendable, Equatable {
    public var model: ModelConfig
    public var batch: Int
    /// Timed training steps (the median is reported).
    public var steps: Int
    /// Untimed steps first: the first step maps the activations' pages.
    public var warmup: Int
    /// Tokens generated with the key/value cache at batch 1 (0: no sampling figure).
    public var sampleTokens: Int
    /// A registered architecture to measure instead of the library's model of the kind
    /// (``ArchitectureRegistry``).
    public var architecture: String?

    public init(model: ModelConfig, batch: Int = 8, steps: Int = 10,
                warmup: Int = 2, sampleTokens: Int = 0) {
        self.model = model
        self.batch = batch
        self.steps = steps
        self.warmup = warmup
        self.sampleTokens = sampleTokens
    }

    /// bench-s: d 256, 4 layers, 4 heads, context 256, vocabulary 256 (4.3 M parameters); batch 8.
    public static func small(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, vocabularySize: 256, width: 256, heads: 4, layers: 4, context: 256)
    }

    /// bench-m: d 512, 8 layers, 8 heads, context 512, vocabulary 256 (33.8 M parameters); batch 4.
    public static func medium(_ kind: ModelKind) -> ModelConfig {
        ModelConfig(kind: kind, vocabularySize: 256, width: 512, heads: 8, layers: 8, context: 512)
    }
}

/// One benchmark's figures, encoded as one JSON object with snake_case keys.
public struct BenchmarkResult: Codable, Sendable {
    public var model: String
    public var dim: Int, layers: Int, heads: Int, context: Int, batch: Int, vocab: Int
    public var threads: Int
    public var params: Int
    /// `6·(16·L·d² + V·d) + 12·L·T·d`: forward and backward of every matrix, plus attention.
    public var flopPerToken: Double
    public var steps: Int
    public var stepSecondsMedian: Double, stepSecondsMin: Double, stepSecondsMax: Double
    public var tokensPerSecond: Double
    /// Model FLOP/s at the median step, in GFLOP/s.
    public var gflops: Double
    /// Best SGEMM rate at the model's largest matrix product, measured in the same process.
    public var gemmPeakGflops: Double
    /// `gflops / gemmPeakGflops`.
    public var mfu: Double
    /// Peak resident set of the process (`getrusage` `ru_maxrss`), MB.
    public var peakRssMB: Double
    /// Tokens per second decoded with the key/value cache, batch 1 (nil when not measured).
    public var sampleTokensPerSecond: Double?
    /// The same with bfloat16 weights (``DecodingPrecision/bfloat16``).
    public var sampleBFloat16TokensPerSecond: Double?

    enum CodingKeys: String, CodingKey {
        case model, dim, layers, heads, context, batch, vocab, threads, params
        case flopPerToken = "flop_per_token"
        case steps
        case stepSecondsMedian = "step_s_median", stepSecondsMin = "step_s_min", stepSecondsMax = "step_s_max"
        case tokensPerSecond = "tokens_per_s"
        case gflops
        case gemmPeakGflops = "gemm_peak_gflops"
        case mfu
        case peakRssMB = "peak_rss_mb"
        case sampleTokensPerSecond = "sample_tokens_per_s"
        case sampleBFloat16TokensPerSecond = "sample_bf16_tokens_per_s"
    }

    /// One line of JSON, keys in the order above.
    package var jsonLine: String {
        func number(_ x: Double, _ digits: Int = 6) -> String {
            guard x.isFinite else { return "null" }
            if digits == 0 { return "\(Int(x.rounded()))" }
            let scale = Foundation.pow(10.0, Double(digits))
            return "\((x * scale).rounded() / scale)"
        }
        var fields: [(CodingKeys, String)] = [
            (.model, "\"\(model)\""), (.dim, "\(dim)"), (.layers, "\(layers)"), (.heads, "\(heads)"),
            (.context, "\(context)"), (.batch, "\(batch)"), (.vocab, "\(vocab)"), (.threads, "\(threads)"),
            (.params, "\(params)"), (.flopPerToken, number(flopPerToken, 0)), (.steps, "\(steps)"),
            (.stepSecondsMedian, number(stepSecondsMedian)), (.stepSecondsMin, number(stepSecondsMin)),
            (.stepSecondsMax, number(stepSecondsMax)), (.tokensPerSecond, number(tokensPerSecond, 1)),
            (.gflops, number(gflops, 2)), (.gemmPeakGflops, number(gemmPeakGflops, 2)), (.mfu, number(mfu, 4)),
            (.peakRssMB, number(peakRssMB, 1)),
        ]
        if let sampleTokensPerSecond { fields.append((.sampleTokensPerSecond, number(sampleTokensPerSecond, 1))) }
        if let sampleBFloat16TokensPerSecond {
            fields.append((.sampleBFloat16TokensPerSecond, number(sampleBFloat16TokensPerSecond, 1)))
        }
        return "{" + fields.map { "\"\($0.0.stringValue)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// One training step of a model on a fixed batch of seeded random tokens, as
/// ``Trainer/trainStep()`` takes it (through the same ``TrainingStep``): zero the gradients,
/// forward and backward, the gradient norm, AdamW with the architecture's recipe (clipping at 1,
/// a tenth of its learning rate) and the architecture's update hook. The batch is drawn once; a
/// step allocates nothing.
public final class TrainingStepRunner {
    public let model: Transformer
    public let trainingStep: TrainingStep
    public var optimizer: AdamW { trainingStep.optimizer }
    public let batch: Int
    let inputs: [Int], targets: [Int]
    let learningRate: Float

    public init(model: Transformer, batch: Int, seed: UInt64 = 2) throws {
        guard batch >= 1 else { throw TrainingError.invalidOption("benchmark batch must be at least 1") }
        let c = model.config, n = batch * c.context
        let recipe = model.architecture.recipe
        self.model = model
        self.batch = batch
        trainingStep = TrainingStep(model: model, recipe: recipe)
        var rng = SeededGenerator(seed: seed)
        let stream = (0...n).map { _ in Int(rng.next() % UInt64(c.vocabularySize)) }
        inputs = Array(stream[0..<n])
        targets = Array(stream[1...n])
        learningRate = Float(recipe.learningRate) * 0.1
    }

    /// One full training step; returns the loss before the update.
    @discardableResult
    public func step() throws -> Float {
        let (x, y) = (inputs, targets)
        return Float(try trainingStep(lr: learningRate, batch: batch, sequence: model.config.context) { (x, y) }.loss)
    }

    /// The forward pass alone (with the loss); returns the loss.
    @discardableResult
    public func forward() throws -> Float {
        try model.forward(tokens: inputs, targets: targets, batch: batch, sequence: model.config.context)
    }
}

/// Training-step, GEMM and sampling benchmarks behind `ngpt bench` (and `Benchmarks/`).
///
/// A step is what ``Trainer/trainStep()`` does: zero the gradients, forward and backward one
/// batch, the gradient norm, AdamW with clipping and, for nGPT, renormalising the weights. The
/// tokens are seeded random bytes: speed does not depend on them.
public enum ModelBenchmark {
    /// Training FLOP per token, counted as `6·(16·L·d² + V·d) + 12·L·T·d` (PaLM's estimate with
    /// SwiGLU's 4d hidden width: 3d² + d² + 8d² + 4d² per layer, and the input and output
    /// embedding counted once).
    public static func flopPerToken(_ c: ModelConfig) -> Double {
        let (l, d, v, t) = (Double(c.layers), Double(c.width), Double(c.vocabularySize), Double(c.context))
        return 6 * (16 * l * d * d + v * d) + 12 * l * t * d
    }

    /// Peak resident memory of this process so far, in MB.
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024   // kilobytes on Linux
    }

    /// The best SGEMM rate (GFLOP/s) of `C (m, n) = A (m, k)·B (k, n)` over `repeats` runs, on
    /// the current ``/NGPTNumerics/Threads/count``.
    public static func gemmGigaflops(m: Int, n: Int, k: Int, repeats: Int = 20) -> Double {
        var rng = SeededGenerator(seed: 1)
        let a = Tensor(shape: [m, k], scalars: (0..<m * k).map { _ in Float(rng.nextNormal()) })
        let b = Tensor(shape: [k, n], scalars: (0..<k * n).map { _ in Float(rng.nextNormal()) })
        var c = Tensor(shape: [m, n])
        GEMM.multiply(a, .none, b, .none, into: &c)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            GEMM.multiply(a, .none, b, .none, into: &c)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return 2 * Double(m * n * k) / best / 1e9
    }

    /// The model's largest matrix product of a training step: (rows, outputs, inputs) of the
    /// linear map with the most multiply-adds, at `rows` = B·T.
    public static func largestProduct(_ c: ModelConfig, rows: Int) -> (m: Int, n: Int, k: Int) {
        let (d, f, v) = (c.width, c.hiddenWidth, c.vocabularySize)
        let maps = [(3 * d, d), (d, d), (2 * f, d), (d, f), (v, d)]
        let (o, i) = maps.max { $0.0 * $0.1 < $1.0 * $1.1 }!
        return (rows, o, i)
    }

    /// Seconds of each of `steps` timed training steps, after `warmup` untimed ones.
    public static func trainingStepSeconds(_ model: Transformer, batch: Int, steps: Int, warmup: Int) throws -> [Double] {
        let runner = try TrainingStepRunner(model: model, batch: batch)
        var seconds = [Double]()
        seconds.reserveCapacity(steps)
        for i in 0..<(warmup + steps) {
            let start = DispatchTime.now().uptimeNanoseconds
            try runner.step()
            if i >= warmup { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        return seconds
    }

    /// Tokens per second decoded with the key/value cache at batch 1: after a one-token prompt,
    /// `tokens` greedy steps (at most `context − 1`, so the cache is never rebuilt), each one
    /// ``Generator/append(_:)`` and the choice of the next token; the best of three runs.
    public static func samplingTokensPerSecond(_ model: Transformer, tokens: Int,
                                               precision: DecodingPrecision = .float32) throws -> Double {
        let count = max(1, min(tokens, model.config.context - 1))
        let generator = Generator(model: model, precision: precision)
        let greedy = SamplingOptions(temperature: 0)
        var rng = SeededGenerator(seed: 0)
        var best = 0.0
        for _ in 0..<3 {
            var logits = try generator.prime([0])
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count { logits = try generator.append(greedy.sample(logits, using: &rng)) }
            best = max(best, Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        return best
    }

    /// Runs the whole benchmark on the current ``/NGPTNumerics/Threads/count``: the training steps, the GEMM
    /// peak at the model's largest product, and sampling if asked for.
    public static func run(_ s: BenchmarkSettings) throws -> BenchmarkResult {
        guard s.batch >= 1, s.steps >= 1, s.warmup >= 0, s.sampleTokens >= 0 else {
            throw TrainingError.invalidOption("benchmark: batch and steps must be at least 1, warm-up and sample tokens at least 0")
        }
        let c = s.model
        let model = try Transformer(architecture: ArchitectureRegistry.architecture(named: s.architecture ?? c.kind.rawValue, config: c), seed: 0)
        let seconds = try trainingStepSeconds(model, batch: s.batch, steps: s.steps, warmup: s.warmup).sorted()
        let median = seconds.count % 2 == 1 ? seconds[seconds.count / 2]
            : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        let rss = peakResidentMegabytes()
        let tokens = Double(s.batch * c.context)
        let flop = flopPerToken(c)
        let shape = largestProduct(c, rows: s.batch * c.context)
        let peak = gemmGigaflops(m: shape.m, n: shape.n, k: shape.k)
        let sample = s.sampleTokens > 0 ? try samplingTokensPerSecond(model, tokens: s.sampleTokens) : nil
        let sampleHalf = s.sampleTokens > 0 ? try samplingTokensPerSecond(model, tokens: s.sampleTokens, precision: .bfloat16) : nil
        let gflops = tokens / median * flop / 1e9
        return BenchmarkResult(
            model: model.architecture.name, dim: c.width, layers: c.layers, heads: c.heads, context: c.context,
            batch: s.batch, vocab: c.vocabularySize, threads: Threads.count, params: model.parameterCount,
            flopPerToken: flop, steps: s.steps, stepSecondsMedian: median, stepSecondsMin: seconds.first!,
            stepSecondsMax: seconds.last!, tokensPerSecond: tokens / median, gflops: gflops,
            gemmPeakGflops: peak, mfu: gflops / peak, peakRssMB: rss, sampleTokensPerSecond: sample,
            sampleBFloat16TokensPerSecond: sampleHalf)
    }
}

/// One kernel's time in a training step of a shape: the best of a few runs per call, and how
/// many calls a step makes.
package struct KernelTiming: Sendable {
    package var name: String
    package var secondsPerCall: Double
    package var callsPerStep: Int
    package var secondsPerStep: Double { secondsPerCall * Double(callsPerStep) }

    /// One line of JSON: `kernel`, `calls_per_step`, `ms_per_call`, `ms_per_step`.
    package var jsonLine: String {
        func ms(_ s: Double) -> Double { (s * 1e6).rounded() / 1e3 }
        return "{\"kernel\": \"\(name)\", \"calls_per_step\": \(callsPerStep), \"ms_per_call\": \(ms(secondsPerCall)), \"ms_per_step\": \(ms(secondsPerStep))}"
    }
}

extension ModelBenchmark {
    /// Times each kernel of `repeats` training steps of `config` at batch `batch` on seeded
    /// random data, on the current ``/NGPTNumerics/Threads/count``: every kernel the architecture's blocks and
    /// head call (linear maps by shape), the embedding and cross-entropy, then the gradient
    /// norm, AdamW, zeroing and the update hook, each timed alone. A breakdown of where a
    /// step's time goes; the sum is close to a step, a little above it (timer overhead).
    package static func kernelTimings(_ config: ModelConfig, batch b: Int, repeats: Int = 5) throws -> [KernelTiming] {
        try config.validate()
        let model = try Transformer(config: config, seed: 1)
        let runner = try TrainingStepRunner(model: model, batch: b)
        try runner.step()   // maps the activations' pages
        let profile = KernelProfile()
        model.profile = profile
        for _ in 0..<repeats { try runner.step() }
        model.profile = nil
        var out = profile.names.map { name in
            let (seconds, calls) = profile.totals[name]!
            return KernelTiming(name: name, secondsPerCall: seconds / Double(calls), callsPerStep: calls / repeats)
        }
        func time(_ name: String, _ body: () -> Void) -> KernelTiming {
            body()
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return KernelTiming(name: name, secondsPerCall: best, callsPerStep: 1)
        }
        let optimizer = runner.optimizer
        out.append(time("gradient norm") { _ = AdamW.gradientNorm(model.gradients) })
        out.append(time("adamw") { optimizer.update(model.parameters, gradients: model.gradients, lr: 1e-4, gradientNorm: 1) })
        out.append(time("zero gradients") { model.gradients.zero() })
        out.append(time("after update (\(model.architecture.name))") { model.architecture.afterUpdate(model.parameters) })
        return out
    }
}
