import NGPTNumerics

/// One optimiser step, the only one in the library: zero the gradients; forward and backward
/// every micro-batch (gradients averaged); the global gradient norm; AdamW with clipping; the
/// architecture's ``Architecture/afterUpdate(_:)`` (nGPT renormalises its matrices); and, with
/// bfloat16 parameter storage, rounding the parameters the specs mark (the block matrices).
/// ``Trainer``, the benchmarks and the tests all step through it, so none can forget a part.
public final class TrainingStep {
    public let model: Transformer
    public let optimizer: AdamW
    /// How the block matrices are stored between steps.
    public let parameterPrecision: ParameterPrecision

    public init(model: Transformer, optimizer: AdamW, parameterPrecision: ParameterPrecision = .fp32) {
        precondition(optimizer.firstMoment.layout == model.layout, "the optimiser was made for another layout")
        self.model = model
        self.optimizer = optimizer
        self.parameterPrecision = parameterPrecision
    }

    /// AdamW with the clipping, betas, epsilon and weight decay of `recipe`.
    public convenience init(model: Transformer, recipe: TrainingRecipe, parameterPrecision: ParameterPrecision = .fp32) {
        let optimizer = AdamW(layout: model.layout, weightDecay: Float(recipe.weightDecay), clip: recipe.clip > 0 ? Float(recipe.clip) : nil,
                              beta1: Float(recipe.beta1), beta2: Float(recipe.beta2), epsilon: Float(recipe.epsilon))
        self.init(model: model, optimizer: optimizer, parameterPrecision: parameterPrecision)
    }

    /// What one step measured.
    public struct Result: Sendable, Equatable {
        /// The mean loss over the micro-batches, before the update.
        public var loss: Double
        /// The global gradient norm before clipping.
        public var gradientNorm: Float
    }

    /// One step at learning rate `lr` over `microBatches` batches of `batch` sequences of
    /// `sequence` tokens, each drawn by `next` (inputs and targets, row-major).
    ///
    /// - Throws: ``TrainingError/nonFiniteLoss(step:loss:gradientNorm:)`` before changing any
    ///   parameter when a loss or the gradient norm is not finite; the model's input errors.
    @discardableResult
    public func callAsFunction(lr: Float, batch: Int, sequence: Int, microBatches: Int = 1,
                               next: () throws -> (inputs: [Int], targets: [Int])) throws -> Result {
        precondition(microBatches >= 1, "at least one micro-batch")
        model.zeroGradients()
        var loss = 0.0
        for _ in 0..<microBatches {
            let (inputs, targets) = try next()
            let l = try model.forward(tokens: inputs, targets: targets, batch: batch, sequence: sequence)
            guard l.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step + 1, loss: l, gradientNorm: nil) }
            loss += Double(l)
            try model.backward(lossScale: 1 / Float(microBatches))
        }
        loss /= Double(microBatches)
        let norm = AdamW.gradientNorm(model.gradients)
        guard norm.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step + 1, loss: Float(loss), gradientNorm: norm) }
        optimizer.update(model.parameters, gradients: model.gradients, lr: lr, gradientNorm: norm)
        model.architecture.afterUpdate(model.parameters)
        roundToStoragePrecision()
        return Result(loss: loss, gradientNorm: norm)
    }

    /// With bfloat16 storage, rounds every parameter whose spec asks for it
    /// (``ParameterSpec/bf16Storage``: the library's block matrices) to the nearest bfloat16
    /// (ties to even); nothing with float32 storage.
    public func roundToStoragePrecision() {
        guard parameterPrecision == .bf16 else { return }
        let p = model.parameters.base
        for e in model.layout.entries where e.spec.bf16Storage {
            roundToBFloat16(p + e.offset, count: e.count)
        }
    }
}
