import Foundation

extension Trainer {
    /// Everything about `run` on `dataset` that can be checked before anything is allocated or
    /// trained, so a run that cannot finish fails now with a message rather than hours later
    /// (or in the allocator): sizes that overflow, the memory the run needs against what the
    /// machine has, the configuration and options, and every window the run will read (training,
    /// validation and the `--extrapolate` contexts). `Trainer(resuming:)` calls it; callers that
    /// build a fresh ``Trainer`` from options should call it first.
    ///
    /// `hint` ends the memory message (what the user can change). `availableMemory` defaults to
    /// ``AvailableMemory/bytes()``; nil skips the memory check.
    public static func preflight(_ run: RunConfiguration, dataset: TokenDataset,
                                 availableMemory: Int? = AvailableMemory.bytes(),
                                 hint: String = "reduce --batch, --context, --dim or --layers") throws {
        let c = run.model, o = run.training
        let positive = [c.vocabularySize, c.width, c.heads, c.layers, c.context, o.batchSize, o.gradientAccumulation, o.evalBatches]
        if positive.allSatisfy({ $0 >= 1 }) {
            // before validate(), whose hints loop over the width; nothing here may trap
            try checkWindow(dataset.train, context: c.context)
            let part = o.validationPart.range(in: dataset.validation.count).count
            let where_ = o.validationPart == .whole ? "" : " (the \(o.validationPart.rawValue) half of it, \(part) tokens)"
            guard c.context < part else {
                if o.validationPart == .whole { try checkWindow(dataset.validation, context: c.context) }
                throw TrainingError.invalidOption("validation windows of \(c.context) tokens need \(dataset.validation.url.path)\(where_) to hold more tokens; give more validation data or use a shorter --context")
            }
            for m in o.extrapolation where m >= 1 {
                let (t, overflow) = m.multipliedReportingOverflow(by: c.context)
                guard !overflow, t < part else {
                    let most = (part - 1) / c.context
                    let usable = most >= 2 ? "use multipliers up to \(most)" : "drop --extrapolate"
                    throw TrainingError.invalidOption("--extrapolate \(m): windows of \(m) × \(c.context) tokens need \(dataset.validation.url.path)\(where_) to hold more tokens than its \(part); \(usable), or give more validation data")
                }
            }
            try checkMemory(run, availableMemory: availableMemory, hint: hint)
        }
        try c.validate()
        try o.validate()
        let (perStep, o1) = o.batchSize.multipliedReportingOverflow(by: o.gradientAccumulation)
        let (tokensPerStep, o2) = perStep.multipliedReportingOverflow(by: c.context)
        guard !o1, !o2, !tokensPerStep.multipliedReportingOverflow(by: o.steps).overflow else {
            throw TrainingError.invalidOption("\(o.steps) steps of \(o.batchSize) × \(o.gradientAccumulation) sequences of \(c.context) tokens are more tokens than this machine can count; use fewer steps or a smaller batch")
        }
    }

    /// `TokenFile.checkWindow` without overflowing for any `context`.
    static func checkWindow(_ file: TokenFile, context: Int) throws {
        guard context >= file.count else { return }
        guard context < Int.max else {
            throw TrainingError.invalidOption("\(file.url.path) has \(file.count) tokens, far fewer than a window of context \(context) needs: use a shorter --context")
        }
        throw TokenDataError.tooShort(path: file.url.path, tokens: file.count, context: context)
    }

    /// Refuses a run whose ``MemoryEstimate`` exceeds `availableMemory`.
    static func checkMemory(_ run: RunConfiguration, availableMemory: Int?, hint: String) throws {
        guard let available = availableMemory else { return }
        let c = run.model, o = run.training
        // the parameters alone first: a count no machine holds is refused before the activation
        // estimate builds the architecture's layout (10⁸ layers would take minutes and gigabytes)
        let model = MemoryEstimate.model(c)
        guard model.totalBytes <= available else {
            let f = MemoryEstimate.format
            let count = MemoryEstimate.parameterCount(c)
            throw TrainingError.invalidOption("this run's model (width \(c.width), \(c.layers) layers, vocabulary \(c.vocabularySize): \(count == Int.max ? "more than 9.2 quintillion" : "about \(count)") parameters) needs \(f(model.totalBytes)) for its parameters, gradients and Adam's moments alone, this machine has \(f(available)) available; \(hint)")
        }
        let contexts = o.extrapolation.map { MemoryEstimate.mul($0, c.context) }
        let e = MemoryEstimate.training(c, batch: o.batchSize, contexts: contexts, evaluationBatches: o.evalBatches)
        guard e.totalBytes <= available else {
            let f = MemoryEstimate.format
            throw TrainingError.invalidOption("this run needs \(f(e.totalBytes)) of memory (parameters, gradients and Adam's moments \(f(e.parameterBytes)), activations for batch \(o.batchSize) × context \(c.context) \(f(e.activationBytes)), \(o.evalBatches) validation batches and the rest \(f(e.otherBytes))), this machine has \(f(available)) available; \(hint)")
        }
    }
}
