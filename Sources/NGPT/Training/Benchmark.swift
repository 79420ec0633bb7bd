import Foundation

/// What ``Benchmark/run(_:)`` measures: a model shape, the batch, how many steps, and how many
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

    public init(model: ModelConfig = BenchmarkSettings.small(.gpt), batch: Int = 8, steps: Int = 10,
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
    /// Tokens per second generated with the key/value cache, batch 1 (nil when not measured).
    public var sampleTokensPerSecond: Double?

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
    }

    /// One line of JSON, keys in the order above.
    public var jsonLine: String {
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
        return "{" + fields.map { "\"\($0.0.stringValue)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// Training-step, GEMM and sampling benchmarks behind `ngpt bench` (and `Benchmarks/`).
///
/// A step is what ``Trainer/trainStep()`` does: zero the gradients, forward and backward one
/// batch, the gradient norm, AdamW with clipping and, for nGPT, renormalising the weights. The
/// tokens are seeded random bytes: speed does not depend on them.
public enum Benchmark {
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
    /// the current ``Threads/count``.
    public static func gemmGigaflops(m: Int, n: Int, k: Int, repeats: Int = 10) -> Double {
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
        let c = model.config, t = c.context, n = batch * t
        let recipe = TrainingRecipe.default(for: c.kind)
        let optimizer = AdamW(layout: model.layout, weightDecay: Float(recipe.weightDecay), clip: Float(recipe.clip),
                              beta1: Float(recipe.beta1), beta2: Float(recipe.beta2), epsilon: Float(recipe.epsilon))
        var rng = SeededGenerator(seed: 2)
        let stream = (0...n).map { _ in Int(rng.next() % UInt64(c.vocabularySize)) }
        let inputs = Array(stream[0..<n]), targets = Array(stream[1...n])
        let lr = Float(recipe.learningRate) * 0.1
        var seconds = [Double]()
        for i in 0..<(warmup + steps) {
            let start = DispatchTime.now().uptimeNanoseconds
            model.zeroGradients()
            let loss = try model.forward(tokens: inputs, targets: targets, batch: batch, sequence: t)!
            try model.backward()
            let norm = AdamW.gradientNorm(model.gradients)
            precondition(loss.isFinite && norm.isFinite, "benchmark step \(i): loss \(loss), gradient norm \(norm)")
            optimizer.update(model.parameters, gradients: model.gradients, lr: lr, gradientNorm: norm)
            if c.kind == .ngpt { model.normalizeWeights() }
            if i >= warmup { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        return seconds
    }

    /// Tokens per second generated greedily with the key/value cache after a one-token prompt
    /// (at most `context − 1` tokens, so the cache is never rebuilt).
    public static func samplingTokensPerSecond(_ model: Transformer, tokens: Int) throws -> Double {
        let count = max(1, min(tokens, model.config.context - 1))
        let generator = Generator(model: model)
        _ = try generator.generate(prompt: [0], count: min(count, 8), options: SamplingOptions(temperature: 0))
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try generator.generate(prompt: [0], count: count, options: SamplingOptions(temperature: 0))
        return Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Runs the whole benchmark on the current ``Threads/count``: the training steps, the GEMM
    /// peak at the model's largest product, and sampling if asked for.
    public static func run(_ s: BenchmarkSettings) throws -> BenchmarkResult {
        guard s.batch >= 1, s.steps >= 1, s.warmup >= 0, s.sampleTokens >= 0 else {
            throw TrainingError.invalidOption("benchmark: batch and steps must be at least 1, warm-up and sample tokens at least 0")
        }
        let c = s.model
        let model = try Transformer(config: c, seed: 0)
        let seconds = try trainingStepSeconds(model, batch: s.batch, steps: s.steps, warmup: s.warmup).sorted()
        let median = seconds.count % 2 == 1 ? seconds[seconds.count / 2]
            : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        let rss = peakResidentMegabytes()
        let tokens = Double(s.batch * c.context)
        let flop = flopPerToken(c)
        let shape = largestProduct(c, rows: s.batch * c.context)
        let peak = gemmGigaflops(m: shape.m, n: shape.n, k: shape.k)
        let sample = s.sampleTokens > 0 ? try samplingTokensPerSecond(model, tokens: s.sampleTokens) : nil
        let gflops = tokens / median * flop / 1e9
        return BenchmarkResult(
            model: c.kind.rawValue, dim: c.width, layers: c.layers, heads: c.heads, context: c.context,
            batch: s.batch, vocab: c.vocabularySize, threads: Threads.count, params: model.parameterCount,
            flopPerToken: flop, steps: s.steps, stepSecondsMedian: median, stepSecondsMin: seconds.first!,
            stepSecondsMax: seconds.last!, tokensPerSecond: tokens / median, gflops: gflops,
            gemmPeakGflops: peak, mfu: gflops / peak, peakRssMB: rss, sampleTokensPerSecond: sample)
    }
}
