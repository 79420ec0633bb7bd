// Training-step, forward and sampling speed of GPT and nGPT at the shapes of docs/performance.md:
// bench-s (d 256, 4 layers, 4 heads, context 256, batch 8) and bench-m (d 512, 8 layers, 8 heads,
// context 512, batch 4) on 2 threads, and the demo's shape (d 64, 2 layers, 4 heads, context 128,
// batch 16) on one thread, as `ngpt compare` runs it; vocabulary 256.
//
// A training step is what `ngpt bench` times (ModelBenchmark in the library): zero the gradients,
// forward and backward one batch, the gradient norm, AdamW with clipping and, for nGPT, the weight
// renormalisation. Every iteration records tokens per second in a custom metric, and a training
// step also its MFU (the step's GFLOP/s over the machine's own SGEMM peak at the model's largest
// product on the same threads, measured in the benchmark's setup), in thousandths; the malloc
// counters (MallocInterposer) show whether a step allocates.
import Benchmark
import Foundation
import NGPT

let benchmarks: @Sendable () -> Void = {
    #if DEBUG
    fatalError("ModelBenchmarks refuses to run in a debug build: use `swift package benchmark` (release)")
    #else
    registerModelBenchmarks()
    #endif
}

/// Tokens processed per second by one timed iteration; larger is better.
let tokensPerSecond = BenchmarkMetric.custom("tokens/s", polarity: .prefersLarger, useScalingFactor: false)

/// The step's GFLOP/s over the SGEMM peak, in thousandths (MFU 0.85 is 850); larger is better.
let mfu = BenchmarkMetric.custom("MFU ‰", polarity: .prefersLarger, useScalingFactor: false)

let threads = 2

struct Shape: Sendable {
    var name: String
    var config: @Sendable (ModelKind) -> ModelConfig
    var batch: Int
    var iterations: Int
    var threads = 2
}

let shapes = [
    Shape(name: "bench-s", config: { BenchmarkSettings.small($0) }, batch: 8, iterations: 20),
    Shape(name: "bench-m", config: { BenchmarkSettings.medium($0) }, batch: 4, iterations: 6),
    Shape(name: "demo", config: { ModelConfig(kind: $0, vocabularySize: 256, width: 64, heads: 4, layers: 2, context: 128) },
          batch: 16, iterations: 60, threads: 1),
]

func registerModelBenchmarks() {
    // No resident-memory metric: its sampling thread allocates while the step runs, and the
    // malloc count would then include it (`ngpt bench` reports the peak resident memory).
    for shape in shapes {
        for kind in ModelKind.allCases {
            let passes: [(String, @Sendable (TrainingStepRunner) throws -> Void)] = [
                ("Train step", { try $0.step() }), ("Forward", { try $0.forward() }),
            ]
            for (name, pass) in passes {
                let training = name == "Train step"
                let configuration = Benchmark.Configuration(
                    metrics: [.wallClock, tokensPerSecond] + (training ? [mfu] : []) + [.mallocCountTotal],
                    units: [tokensPerSecond: .count, mfu: .count], warmupIterations: 2,
                    maxDuration: .seconds(60), maxIterations: shape.iterations)
                Benchmark("\(name) \(shape.name) \(kind.rawValue)", configuration: configuration) { (benchmark: Benchmark, state: StepState) in
                    let runner = state.runner, tokens = runner.batch * runner.model.config.context
                    let perSecond = record(tokens, in: benchmark) {
                        // A failing step (a non-finite loss, say) stops the run rather than being timed.
                        do { try pass(runner) } catch { fatalError("\(name) \(shape.name) \(kind.rawValue): \(error)") }
                    }
                    if training {
                        let gflops = Double(perSecond) * ModelBenchmark.flopPerToken(runner.model.config) / 1e9
                        benchmark.measurement(mfu, Int((1000 * gflops / state.peakGflops).rounded()))
                    }
                } setup: {
                    Threads.set(shape.threads)
                    let runner = try validatedRunner(shape, kind)
                    let product = ModelBenchmark.largestProduct(runner.model.config, rows: shape.batch * runner.model.config.context)
                    return StepState(runner: runner, peakGflops: ModelBenchmark.gemmGigaflops(m: product.m, n: product.n, k: product.k))
                }
            }
        }
    }

    // Decoding at batch 1 with the key/value cache, bench-s width: an iteration restarts from a
    // one-token prompt (untimed) and appends `SamplingState.tokens` tokens, so the cache never
    // holds more than a context and is never rebuilt.
    for kind in ModelKind.allCases {
        for precision in DecodingPrecision.allCases {
            let configuration = Benchmark.Configuration(
                metrics: [.wallClock, tokensPerSecond], units: [tokensPerSecond: .count], warmupIterations: 2,
                maxDuration: .seconds(10), maxIterations: 40)
            Benchmark("Sample bench-s \(kind.rawValue) \(precision.rawValue)", configuration: configuration) { (benchmark: Benchmark, state: SamplingState) in
                for _ in benchmark.scaledIterations {
                    state.restart()
                    record(SamplingState.tokens, in: benchmark) { state.decode() }
                }
            } setup: {
                Threads.set(threads)
                return try SamplingState(kind: kind, precision: precision)
            }
        }
    }
}

/// A checked step runner and the SGEMM peak (GFLOP/s) its MFU is measured against.
struct StepState {
    var runner: TrainingStepRunner
    var peakGflops: Double
}

/// Times `body` and records its rate as tokens per second (and returns it).
@inline(__always) @discardableResult
func record(_ tokens: Int, in benchmark: Benchmark, _ body: () -> Void) -> Int {
    let start = ContinuousClock.now
    body()
    let perSecond = rate(tokens, since: start)
    benchmark.measurement(tokensPerSecond, perSecond)
    return perSecond
}

func rate(_ tokens: Int, since start: ContinuousClock.Instant) -> Int {
    let elapsed = (ContinuousClock.now - start).components
    let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    return Int((Double(tokens) / seconds).rounded())
}

struct ValidationError: Error, CustomStringConvertible {
    var description: String
}

/// A step runner whose model has been checked to train: the first loss on uniform random bytes is
/// near ln V, and two steps on the same batch lower it. A broken forward, backward or update
/// stops the run instead of being timed.
func validatedRunner(_ shape: Shape, _ kind: ModelKind) throws -> TrainingStepRunner {
    let config = shape.config(kind)
    let runner = try TrainingStepRunner(model: try Transformer(config: config, seed: 0), batch: shape.batch)
    let uniform = Float(log(Double(config.vocabularySize)))
    let first = try runner.step()
    guard abs(first - uniform) < 0.5 else {
        throw ValidationError(description: "\(shape.name) \(kind.rawValue): initial loss \(first), expected near ln V = \(uniform)")
    }
    try runner.step()
    let third = try runner.step()
    guard third < first else {
        throw ValidationError(description: "\(shape.name) \(kind.rawValue): loss did not fall on a fixed batch (\(first) → \(third))")
    }
    return runner
}

/// A generator at bench-s width whose cached logits were checked against a full forward pass.
final class SamplingState {
    let generator: Generator
    var logits: [Float]

    init(kind: ModelKind, precision: DecodingPrecision) throws {
        let model = try Transformer(config: BenchmarkSettings.small(kind), seed: 0)
        generator = Generator(model: model, precision: precision)
        let prompt = [3, 1, 4, 1, 5, 9, 2, 6]
        logits = try generator.prime(prompt)
        try model.forward(tokens: prompt, batch: 1, sequence: prompt.count)
        let full = model.logits
        // bfloat16 weights round each product's inputs to 8 bits of mantissa.
        let tolerance: Float = precision == .float32 ? 1e-4 : 5e-2
        let scale = max(1, full.maxAbs)
        for j in 0..<model.config.vocabularySize {
            let want = full[0, prompt.count - 1, j]
            guard abs(logits[j] - want) <= tolerance * scale else {
                throw ValidationError(description: "\(kind.rawValue) \(precision.rawValue): cached logit \(j) is \(logits[j]), full forward gives \(want)")
            }
        }
    }

    /// Tokens decoded per timed iteration (the cache then holds 1 + tokens < context).
    static let tokens = 128

    /// Starts a new sequence from a one-token prompt.
    func restart() {
        do { logits = try generator.prime([0]) } catch { fatalError("sampling: \(error)") }
    }

    /// Appends the most likely next token, `tokens` times.
    func decode() {
        for _ in 0..<Self.tokens {
            var best = 0
            for j in logits.indices where logits[j] > logits[best] { best = j }
            do { logits = try generator.append(best) } catch { fatalError("sampling: \(error)") }
        }
    }
}
