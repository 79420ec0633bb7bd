import Foundation

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
        if let sampleBFloat16TokensPerSecond {
            fields.append((.sampleBFloat16TokensPerSecond, number(sampleBFloat16TokensPerSecond, 1)))
        }
        return "{" + fields.map { "\"\($0.0.stringValue)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// One training step of a model on a fixed batch of seeded random tokens, as
/// ``Trainer/trainStep()`` takes it: zero the gradients, forward and backward, the gradient norm,
/// AdamW with the model's recipe (clipping at 1, a tenth of its learning rate) and, for nGPT,
/// renormalising the weights. The batch is drawn once; a step allocates nothing.
public final class TrainingStepRunner {
    public let model: Transformer
    public let optimizer: AdamW
    public let batch: Int
    let inputs: [Int], targets: [Int]
    let learningRate: Float

    public init(model: Transformer, batch: Int, seed: UInt64 = 2) throws {
        guard batch >= 1 else { throw TrainingError.invalidOption("benchmark batch must be at least 1") }
        let c = model.config, n = batch * c.context
        let recipe = TrainingRecipe.default(for: c.kind)
        self.model = model
        self.batch = batch
        optimizer = AdamW(layout: model.layout, weightDecay: Float(recipe.weightDecay), clip: Float(recipe.clip),
                          beta1: Float(recipe.beta1), beta2: Float(recipe.beta2), epsilon: Float(recipe.epsilon))
        var rng = SeededGenerator(seed: seed)
        let stream = (0...n).map { _ in Int(rng.next() % UInt64(c.vocabularySize)) }
        inputs = Array(stream[0..<n])
        targets = Array(stream[1...n])
        learningRate = Float(recipe.learningRate) * 0.1
    }

    /// One full training step; returns the loss before the update.
    @discardableResult
    public func step() throws -> Float {
        model.zeroGradients()
        let loss = try forward()
        try model.backward()
        let norm = AdamW.gradientNorm(model.gradients)
        guard loss.isFinite, norm.isFinite else {
            throw TrainingError.nonFiniteLoss(step: optimizer.step + 1, loss: loss, gradientNorm: norm)
        }
        optimizer.update(model.parameters, gradients: model.gradients, lr: learningRate, gradientNorm: norm)
        if model.config.kind == .ngpt { model.normalizeWeights() }
        return loss
    }

    /// The forward pass alone (with the loss); returns the loss.
    @discardableResult
    public func forward() throws -> Float {
        try model.forward(tokens: inputs, targets: targets, batch: batch, sequence: model.config.context)!
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
    /// the current ``Threads/count``.
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
        let sampleHalf = s.sampleTokens > 0 ? try samplingTokensPerSecond(model, tokens: s.sampleTokens, precision: .bfloat16) : nil
        let gflops = tokens / median * flop / 1e9
        return BenchmarkResult(
            model: c.kind.rawValue, dim: c.width, layers: c.layers, heads: c.heads, context: c.context,
            batch: s.batch, vocab: c.vocabularySize, threads: Threads.count, params: model.parameterCount,
            flopPerToken: flop, steps: s.steps, stepSecondsMedian: median, stepSecondsMin: seconds.first!,
            stepSecondsMax: seconds.last!, tokensPerSecond: tokens / median, gflops: gflops,
            gemmPeakGflops: peak, mfu: gflops / peak, peakRssMB: rss, sampleTokensPerSecond: sample,
            sampleBFloat16TokensPerSecond: sampleHalf)
    }
}

/// One kernel's time in a training step of a shape: the best of a few runs per call, and how
/// many calls a step makes.
public struct KernelTiming: Sendable {
    public var name: String
    public var secondsPerCall: Double
    public var callsPerStep: Int
    public var secondsPerStep: Double { secondsPerCall * Double(callsPerStep) }

    /// One line of JSON: `kernel`, `calls_per_step`, `ms_per_call`, `ms_per_step`.
    public var jsonLine: String {
        func ms(_ s: Double) -> Double { (s * 1e6).rounded() / 1e3 }
        return "{\"kernel\": \"\(name)\", \"calls_per_step\": \(callsPerStep), \"ms_per_call\": \(ms(secondsPerCall)), \"ms_per_step\": \(ms(secondsPerStep))}"
    }
}

extension ModelBenchmark {
    /// Times each kernel of a training step of `config` at batch `batch` on seeded random data,
    /// on the current ``Threads/count``: the products of the linear maps (forward and backward,
    /// per map), attention, SwiGLU, the norms, cross-entropy, AdamW and nGPT's renormalisation.
    /// A breakdown of where a step's time goes (the sum is close to, not equal to, a step).
    public static func kernelTimings(_ config: ModelConfig, batch b: Int, repeats: Int = 5) throws -> [KernelTiming] {
        try config.validate()
        let (t, d, f, v, h, l) = (config.context, config.width, config.hiddenWidth, config.vocabularySize, config.heads, config.layers)
        let n = b * t, dk = d / h, scores = b * h * attentionScoresCount(sequence: t)
        var k = Carver()
        let x = k.take(n * d), y = k.take(n * d), dx = k.take(n * d), dy = k.take(n * d)
        let qkv = k.take(n * 3 * d), dqkv = k.take(n * 3 * d), unit = k.take(n * 2 * d), rn = k.take(n * 2 * h)
        let probs = k.take(scores), dprobs = k.take(scores)
        let uv = k.take(n * 2 * f), duv = k.take(n * 2 * f), hidden = k.take(n * f), dh = k.take(n * f)
        let logits = k.take(n * v), softmax = k.take(n * v), losses = k.take(n)
        let w = k.take(2 * f * d), dw = k.take(2 * f * d), vec = k.take(2 * f), dvec = k.take(2 * f)
        let r1 = k.take(n), r2 = k.take(n), r3 = k.take(n), r4 = k.take(n)
        let buffer = FloatBuffer(count: k.total)
        var rng = SeededGenerator(seed: 3)
        let values = (0..<k.total).map { _ in Float(rng.nextNormal()) * 0.5 }
        buffer.write(values, at: 0)
        for i in 0..<2 * f { buffer[vec + i] = 1 + 0.1 * values[i] }
        let targets = (0..<n).map { Int32(($0 * 7 + 1) % v) }
        func p(_ o: Int) -> FloatPointer { buffer.base + o }
        let rope = RoPETable(positions: t, headWidth: dk)

        func time(_ name: String, calls: Int, _ body: () -> Void) -> KernelTiming {
            body()
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return KernelTiming(name: name, secondsPerCall: best, callsPerStep: calls)
        }
        var out = [KernelTiming]()
        let maps: [(String, Int, Int)] = [("qkv", d, 3 * d), ("att_c_proj", d, d), ("c_fc", d, 2 * f), ("mlp_c_proj", f, d)]
        for (name, i, o) in maps {
            out.append(time("linear forward \(name)", calls: l) { linearForward(p(duv), p(hidden), p(w), rows: n, inputs: i, outputs: o) })
            out.append(time("linear backward \(name)", calls: l) {
                linearBackward(p(duv), p(dw), p(uv), p(hidden), p(w), rows: n, inputs: i, outputs: o, overwriteInput: true) })
        }
        out.append(time("linear forward lm_head", calls: 1) { linearForward(p(logits), p(x), p(w), rows: n, inputs: d, outputs: v) })
        out.append(time("linear backward lm_head", calls: 1) {
            linearBackward(p(dx), p(dw), p(logits), p(x), p(w), rows: n, inputs: d, outputs: v, overwriteInput: true) })
        let scale = 1 / Float(dk).squareRoot()
        for i in 0..<n { for j in 0..<3 * d { buffer[qkv + i * 3 * d + j] *= 0.3 } }
        out.append(time("attention forward", calls: l) {
            attentionForward(p(y), p(probs), p(qkv), batch: b, sequence: t, width: d, heads: h, scale: scale) })
        out.append(time("attention backward", calls: l) {
            attentionBackward(p(dqkv), p(dprobs), p(dy), p(qkv), p(probs), batch: b, sequence: t, width: d, heads: h, scale: scale) })
        let m: Float = config.kind == .ngpt ? Float(d).squareRoot() : 1
        let suv: ConstFloatPointer? = config.kind == .ngpt ? ConstFloatPointer(p(vec)) : nil
        out.append(time("swiglu forward", calls: l) { swigluForward(p(hidden), p(uv), suv, multiplier: m, rows: n, hidden: f) })
        out.append(time("swiglu backward (recomputing h)", calls: l) {
            swigluBackward(p(duv), config.kind == .ngpt ? p(dvec) : nil, p(dh), p(uv), suv, multiplier: m, rows: n, hidden: f,
                           recomputed: p(hidden), overwrite: true) })
        switch config.kind {
        case .gpt:
            out.append(time("rmsnorm forward", calls: 2 * l + 1) { rmsNormForward(p(y), p(r1), p(x), p(vec), rows: n, width: d) })
            out.append(time("rmsnorm backward", calls: 2 * l + 1) {
                rmsNormBackward(p(dx), p(dvec), p(dy), p(x), p(vec), p(r1), rows: n, width: d) })
            out.append(time("rope forward", calls: l) {
                ropeForward(p(qkv), rope, rows: n, sequence: t, heads: h, rowStride: 3 * d, blocks: 2) })
            out.append(time("rope backward", calls: l) {
                ropeBackward(p(dqkv), rope, rows: n, sequence: t, heads: h, rowStride: 3 * d, blocks: 2) })
        case .ngpt:
            let rotary = Rotary(table: rope, sequence: t)
            out.append(time("rope + qk-norm forward", calls: l) {
                qkNormForward(p(qkv), p(unit), p(rn), p(vec), rows: n, width: d, heads: h, rowStride: 3 * d,
                              normalize: true, rotary: rotary) })
            out.append(time("rope + qk-norm backward", calls: l) {
                qkNormBackward(p(dqkv), p(dvec), p(unit), p(rn), p(vec), rows: n, width: d, heads: h, rowStride: 3 * d,
                               normalize: true, rotary: rotary) })
            out.append(time("lerp residual forward", calls: 2 * l) {
                lerpResidualForward(p(y), p(r1), p(dy), p(r2), p(r3), p(x), p(dx), p(vec), rows: n, width: d) })
            out.append(time("lerp residual backward", calls: 2 * l) {
                lerpResidualBackward(p(dx), p(x), p(dvec), p(dqkv), p(y), p(x), p(r1), p(dy), p(r2), p(r3), p(vec), p(r4),
                                     rows: n, width: d) })
            out.append(time("logit scale forward", calls: 1) { scaleColumnsForward(p(softmax), p(logits), p(vec), rows: n, columns: v) })
            out.append(time("logit scale backward", calls: 1) {
                scaleColumnsBackward(p(duv), p(dvec), p(softmax), p(logits), p(vec), rows: n, columns: v) })
        }
        targets.withUnsafeBufferPointer { tg in
            out.append(time("cross-entropy forward", calls: 1) {
                _ = crossEntropyForward(p(losses), p(softmax), p(logits), tg.baseAddress!, rows: n, vocabulary: v) })
            out.append(time("cross-entropy backward", calls: 1) {
                crossEntropyBackward(p(softmax), tg.baseAddress!, dloss: 1, rows: n, vocabulary: v) })
        }
        let model = try Transformer(config: config, seed: 1)
        model.gradients.storage.write((0..<model.parameterCount).map { _ in Float(rng.nextNormal()) * 1e-3 }, at: 0)
        let recipe = TrainingRecipe.default(for: config.kind)
        let optimizer = AdamW(layout: model.layout, weightDecay: Float(recipe.weightDecay), clip: 1)
        out.append(time("gradient norm", calls: 1) { _ = AdamW.gradientNorm(model.gradients) })
        out.append(time("adamw", calls: 1) { optimizer.update(model.parameters, gradients: model.gradients, lr: 1e-4, gradientNorm: 1) })
        out.append(time("zero gradients", calls: 1) { model.gradients.zero() })
        if config.kind == .ngpt { out.append(time("renormalise weights", calls: 1) { model.normalizeWeights() }) }
        return out
    }
}
