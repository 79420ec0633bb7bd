import Foundation
import NGPTNumerics

/// How the block matrices are stored between steps.
public enum ParameterPrecision: String, Codable, Sendable, CaseIterable {
    /// float32 throughout.
    case fp32
    /// After every step the parameters whose spec asks for it (``ParameterSpec/bf16Storage``:
    /// the library's block matrices) are rounded to bfloat16 (round to nearest even) and kept at
    /// that precision, as in NVIDIA's bf16 setup; embeddings, vectors and Adam's moments stay
    /// float32.
    case bf16
}

/// Everything about a training run except the model's shape. Defaults come from the model's
/// ``TrainingRecipe``.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public var steps: Int
    /// Sequences per micro-batch.
    public var batchSize: Int
    /// Micro-batches per optimiser step (their gradients are averaged).
    public var gradientAccumulation: Int
    public var learningRate: Double
    /// Linear warm-up steps (docs/model.md §7).
    public var warmup: Int
    public var minLR: Double
    public var weightDecay: Double
    /// Global gradient-norm clip; 0 turns clipping off.
    public var clip: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// Seeds the initialisation and the training sampler.
    public var seed: UInt64
    public var sampling: SamplingMode
    /// Evaluate every this many steps (and at the start and the end); 0: only at the end.
    public var evalEvery: Int
    /// Validation batches; they are the same windows for every run with the same `evalSeed`,
    /// batch size and context, whatever the model or training seed.
    public var evalBatches: Int
    public var evalSeed: UInt64
    /// Write a checkpoint every this many steps (and always at the end); 0: only at the end.
    public var checkpointEvery: Int
    public var parameterPrecision: ParameterPrecision
    /// Context multipliers (e.g. [2, 4]) at which the final model is also evaluated, for length
    /// extrapolation (see ``extrapolationWindows``).
    public var extrapolation: [Int]
    /// Where the extrapolation windows come from: by default the same tokens at every
    /// multiple, with the loss by position.
    public var extrapolationWindows: ExtrapolationWindows
    /// Which part of the validation file the evaluations read (default the whole file).
    public var validationPart: ValidationPart

    /// The recipe's defaults for a run of `steps` steps.
    public init(recipe: TrainingRecipe, steps: Int, batchSize: Int = 16, seed: UInt64 = 0) {
        self.steps = steps
        self.batchSize = batchSize
        gradientAccumulation = 1
        learningRate = recipe.learningRate
        warmup = recipe.schedule(steps: steps).warmup
        minLR = recipe.minLR
        weightDecay = recipe.weightDecay
        clip = recipe.clip
        beta1 = recipe.beta1
        beta2 = recipe.beta2
        epsilon = recipe.epsilon
        self.seed = seed
        sampling = .random
        evalEvery = 100
        evalBatches = 10
        evalSeed = 1234
        checkpointEvery = 0
        parameterPrecision = .fp32
        extrapolation = []
        extrapolationWindows = .shared
        validationPart = .whole
    }

    /// Decodes a `config.json`; keys added after a run was written take their defaults, so
    /// older runs still resume.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let steps = try c.decode(Int.self, forKey: .steps)
        self.init(recipe: .common, steps: steps, batchSize: try c.decode(Int.self, forKey: .batchSize),
                  seed: try c.decode(UInt64.self, forKey: .seed))
        gradientAccumulation = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? 1
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        warmup = try c.decode(Int.self, forKey: .warmup)
        minLR = try c.decodeIfPresent(Double.self, forKey: .minLR) ?? 0
        weightDecay = try c.decode(Double.self, forKey: .weightDecay)
        clip = try c.decodeIfPresent(Double.self, forKey: .clip) ?? clip
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? beta1
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? beta2
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? epsilon
        sampling = try c.decodeIfPresent(SamplingMode.self, forKey: .sampling) ?? .random
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? evalEvery
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches) ?? evalBatches
        evalSeed = try c.decodeIfPresent(UInt64.self, forKey: .evalSeed) ?? evalSeed
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? 0
        parameterPrecision = try c.decodeIfPresent(ParameterPrecision.self, forKey: .parameterPrecision) ?? .fp32
        extrapolation = try c.decodeIfPresent([Int].self, forKey: .extrapolation) ?? []
        // runs written before shared windows existed keep what their numbers meant
        extrapolationWindows = try c.decodeIfPresent(ExtrapolationWindows.self, forKey: .extrapolationWindows) ?? .separate
        validationPart = try c.decodeIfPresent(ValidationPart.self, forKey: .validationPart) ?? .whole
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(maxLR: learningRate, warmup: warmup, total: steps, minLR: minLR)
    }

    /// Checks the values, with a message that names the option to change.
    public func validate() throws {
        func fail(_ s: String) -> TrainingError { .invalidOption(s) }
        guard steps >= 1 else { throw fail("--steps must be at least 1, got \(steps)") }
        guard batchSize >= 1 else { throw fail("--batch must be at least 1, got \(batchSize)") }
        guard gradientAccumulation >= 1 else { throw fail("--grad-accum must be at least 1, got \(gradientAccumulation)") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("--lr must be a positive number, got \(learningRate)") }
        // training computes in float32: a rate it rounds to 0 or ∞ would train nothing, or NaN
        guard Float(learningRate).isFinite, Float(learningRate) >= Float.leastNormalMagnitude else {
            throw fail("--lr \(learningRate) is outside float32's range (1.2e-38 to 3.4e38), in which training computes; give a rate in that range")
        }
        guard warmup >= 0, warmup <= steps else { throw fail("--warmup must be between 0 and --steps (\(steps)), got \(warmup)") }
        guard minLR >= 0, minLR <= learningRate else { throw fail("--min-lr must be between 0 and --lr, got \(minLR)") }
        guard weightDecay >= 0, Float(weightDecay).isFinite else {
            throw fail("--weight-decay must be ≥ 0 and within float32's range (at most 3.4e38), got \(weightDecay)")
        }
        guard clip >= 0, Float(clip).isFinite else {
            throw fail("--clip must be ≥ 0 (0 turns clipping off) and within float32's range (at most 3.4e38), got \(clip)")
        }
        // Adam's decays and ε, used as float32 (only a run file or the library sets them)
        for (name, value, usual) in [("beta1", beta1, "0.9"), ("beta2", beta2, "0.95")] {
            guard value >= 0, Float(value) < 1 else {
                throw fail("\(name) (an Adam moment's decay) must be in [0, 1) — below 1 also once rounded to float32 — got \(value); set it in the run configuration (the recipes use \(usual))")
            }
        }
        guard epsilon > 0, Float(epsilon).isFinite, Float(epsilon) >= Float.leastNormalMagnitude else {
            throw fail("epsilon (Adam's ε) must be a positive number within float32's range (1.2e-38 to 3.4e38), got \(epsilon); set it in the run configuration (the recipes use 1e-8)")
        }
        guard evalEvery >= 0, checkpointEvery >= 0 else { throw fail("--eval-every and --checkpoint-every must be ≥ 0") }
        guard evalBatches >= 1 else { throw fail("--eval-batches must be at least 1, got \(evalBatches)") }
        guard extrapolation.allSatisfy({ $0 >= 2 }) else { throw fail("--extrapolate multipliers must be at least 2, got \(extrapolation)") }
        if extrapolationWindows == .shared, let longest = extrapolation.max(), let m = extrapolation.first(where: { longest % $0 != 0 }) {
            throw fail("--extrapolate \(m) does not divide the longest multiplier \(longest): every context reads slices of the same windows of \(longest)× the context, so each multiplier must divide the largest (e.g. 2,4)")
        }
    }

    /// The longest evaluation window, as a multiple of the training context.
    public var longestMultiple: Int { extrapolation.max() ?? 1 }
}

/// Where the windows of the length-extrapolation evaluation come from.
public enum ExtrapolationWindows: String, Codable, Sendable {
    /// Each context on windows of its own, seeded like the ordinary validation windows
    /// (`max(1, B/m)` windows of `m·T` tokens per batch).
    case separate
    /// One set of windows of the longest length (`max(1, B/M)` windows of `M·T` per batch);
    /// every shorter context `m·T` reads them cut into `M/m` equal slices, so every context
    /// scores the same tokens. The longest evaluation also records the loss by position.
    case shared
}

/// A whole run: what `RUN/config.json` holds.
public struct RunConfiguration: Codable, Sendable, Equatable {
    public var model: ModelConfig
    public var training: TrainingOptions
    /// The data directory the run reads.
    public var data: String
    public var version: String
    /// The registered architecture the run trains (``ArchitectureRegistry``); nil: the library's
    /// model of ``ModelConfig/kind`` (every file written before architectures had names).
    public var architecture: String?
    /// That architecture's own options as JSON (nil: none).
    public var architectureOptions: String?

    public init(model: ModelConfig, training: TrainingOptions, data: String, architecture: String? = nil, architectureOptions: String? = nil) {
        self.model = model
        self.training = training
        self.data = data
        version = SwiftNGPT.version
        self.architecture = architecture == model.kind.rawValue && architectureOptions == nil ? nil : architecture
        self.architectureOptions = architectureOptions
    }
}

/// What stops a training run.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    /// The loss (or gradient norm) became NaN or infinite; nothing of this step was applied.
    case nonFiniteLoss(step: Int, loss: Float, gradientNorm: Float?)
    case resume(String)

    public var description: String {
        switch self {
        case let .invalidOption(s):
            return s
        case let .nonFiniteLoss(step, loss, norm):
            let what = loss.isFinite ? "the gradient norm is \(norm.map { "\($0)" } ?? "?")" : "the loss is \(loss)"
            return "training diverged at step \(step): \(what); checkpoints written before it are kept. HINT: lower --lr, raise --warmup, or keep --clip at 1"
        case let .resume(s):
            return s
        }
    }
}
