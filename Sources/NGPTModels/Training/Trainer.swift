import Foundation
import NGPTNumerics

/// Trains one model on one dataset: the loop behind `ngpt train` and every run of
/// `ngpt compare`.
///
/// A step draws `gradientAccumulation` micro-batches from the sampler, averages their
/// gradients, clips, applies AdamW at the scheduled rate and, for nGPT, renormalises the
/// weights. A run directory holds `config.json`, `metrics.jsonl`, checkpoints and, for subword
/// data, a copy of the data's `tokenizer.json` (``RunDirectory``); resuming from it continues
/// bit for bit. One process at a time writes a
/// run directory (``RunLock``).
public final class Trainer {
    public let run: RunConfiguration
    public let model: Transformer
    public let optimizer: AdamW
    /// Forward, backward, clipping, AdamW and the architecture's update hook.
    public let trainingStep: TrainingStep
    public let dataset: TokenDataset
    public let validation: ValidationSet
    private var sampler: any BatchSampler
    /// Wall-clock seconds spent training before this process (for resumed runs).
    private var previousSeconds: Double = 0
    private var clockStart = Date()
    /// Held from resuming until the trainer is released.
    private var runLock: RunLock?

    public var step: Int { optimizer.step }
    public var options: TrainingOptions { run.training }
    public var tokensPerStep: Int { options.batchSize * options.gradientAccumulation * run.model.context }

    /// A fresh run: parameters from `seed` (or from `initialWeights`, checked by name and shape).
    /// `architecture` trains an architecture the library does not build from `run.model` (one
    /// written outside it); its `config` must be `run.model`.
    public init(run: RunConfiguration, dataset: TokenDataset, initialWeights: URL? = nil, architecture: (any Architecture)? = nil) throws {
        try run.model.validate()
        try run.training.validate()
        guard dataset.vocabularySize <= run.model.vocabularySize else {
            throw TrainingError.invalidOption("the data's vocabulary (\(dataset.vocabularySize)) is larger than the model's (\(run.model.vocabularySize)); use --vocab \(dataset.vocabularySize)")
        }
        try dataset.train.checkVocabulary(run.model.vocabularySize)
        try dataset.validation.checkVocabulary(run.model.vocabularySize)
        self.run = run
        self.dataset = dataset
        let o = run.training
        if let architecture, architecture.config != run.model {
            throw TrainingError.invalidOption("the architecture \(architecture.name) was built for another model configuration than the run's; build it from the run's model configuration")
        }
        model = try Transformer(architecture: architecture ?? run.makeArchitecture(), seed: o.seed)
        if let initialWeights {
            let file = try Checkpoint.modelView(SafeTensorsFile(contentsOf: initialWeights), note: { FileHandle.standardError.write(Data(("note: " + $0 + "\n").utf8)) })
            try model.parameters.load(try Checkpoint.tensors(file, model.layout), source: initialWeights.path)
            model.architecture.afterInitialization(model.parameters)
        }
        optimizer = AdamW(layout: model.layout, weightDecay: Float(o.weightDecay), clip: o.clip > 0 ? Float(o.clip) : nil,
                          beta1: Float(o.beta1), beta2: Float(o.beta2), epsilon: Float(o.epsilon))
        trainingStep = TrainingStep(model: model, optimizer: optimizer, parameterPrecision: o.parameterPrecision)
        sampler = try o.sampling.makeSampler(file: dataset.train, batchSize: o.batchSize, context: run.model.context, seed: o.seed)
        validation = try ValidationSet(file: dataset.validation, batchSize: o.batchSize, context: run.model.context,
                                       batches: o.evalBatches, seed: o.evalSeed, part: o.validationPart)
        trainingStep.roundToStoragePrecision()
    }

    /// Continues the run in `directory` from its newest complete checkpoint (either layout), after
    /// locking the directory and checking the run (``preflight(_:dataset:availableMemory:hint:)``);
    /// once the checkpoint is loaded, the temporaries ngpt's own killed writes left are removed
    /// (``RunDirectory/removeStaleTemporaries()``; nothing else is).
    /// `architecture` rebuilds a run of an architecture written outside the library from its
    /// stored model configuration.
    public convenience init(resuming directory: URL, dataset: TokenDataset? = nil,
                            architecture: (@Sendable (ModelConfig) -> any Architecture)? = nil) throws {
        let run = try Self.readConfiguration(directory)
        let lock = try RunLock.acquire(directory)
        let runDirectory = RunDirectory(directory)
        try runDirectory.checkLayout()
        let data = try dataset ?? TokenDataset(directory: URL(fileURLWithPath: run.data), vocabularySize: run.model.vocabularySize)
        try Self.preflight(run, dataset: data, hint: "free memory or resume on a larger machine (a resumed run keeps its shape)")
        guard let files = runDirectory.latestCheckpoint() else {
            let steps = (try? MetricsLog.read(directory.appendingPathComponent("metrics.jsonl")))?.map(\.step).max() ?? 0
            let why = steps > 0 ? "its metrics reach step \(steps) but \(RunDirectory.checkpointsDirectory)/ holds no committed step directory (they were removed)" : "it was stopped before its first one"
            throw TrainingError.resume("\(directory.path) has no checkpoint: \(why); start the run again with --out \(directory.path)")
        }
        try self.init(run: run, dataset: data, architecture: architecture?(run.model))
        runLock = lock
        let file = try SafeTensorsFile(contentsOf: files.model)
        if let json = file.metadata["config"], let saved = try? JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)), saved != run.model {
            throw TrainingError.resume("\(files.model.path) was written by a different model configuration than \(directory.path)/config.json")
        }
        try model.parameters.load(try Checkpoint.tensors(file, model.layout), source: files.model.path)
        let state = try Checkpoint.loadOptimizer(into: optimizer, from: files.optimizer)
        guard let modelStep = file.metadata["step"].flatMap(Int.init), modelStep == optimizer.step, files.step.map({ $0 == modelStep }) ?? true else {
            let found = "\(files.model.path) (step \(file.metadata["step"] ?? "?")) and \(files.optimizer.path) (step \(optimizer.step)) are not from the same step"
            if files.step == nil {
                // the old layout wrote its two files one after the other; a kill between them left this
                throw TrainingError.resume("\(found): an older ngpt was stopped between its two writes; remove both files and start the run again with --out \(directory.path)")
            }
            throw TrainingError.resume("\(found): the checkpoint is damaged; remove \(files.model.deletingLastPathComponent().path) and resume from an older checkpoint if one is left, else start the run again with --out \(directory.path)")
        }
        guard let json = state["sampler"] else { throw TrainingError.resume("\(files.optimizer.path) has no sampler state") }
        do {
            try sampler.restore(try JSONDecoder().decode(SamplerState.self, from: Data(json.utf8)))
        } catch {
            throw TrainingError.resume("\(files.optimizer.path): its sampler state cannot continue this run (\(ErrorText.reason(error))). HINT: the checkpoint is damaged; start the run again")
        }
        previousSeconds = Double(state["seconds"] ?? "0") ?? 0
        // the resume is accepted: what ngpt's own killed writes left can go
        runDirectory.removeStaleTemporaries()
        // after a kill between a commit and the link refresh, RUN/model.safetensors lags behind
        try runDirectory.refreshTopLevelModel()
    }

    /// Reads `RUN/config.json`.
    public static func readConfiguration(_ directory: URL) throws -> RunConfiguration {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TrainingError.resume("\(url.path) not found: \(directory.path) is not a run directory (made by ngpt train --out)")
        }
        return try RunConfiguration.read(from: url)
    }

    /// Wall-clock seconds of training, including earlier processes of a resumed run.
    public var seconds: Double { previousSeconds + Date().timeIntervalSince(clockStart) }

    /// One optimiser step. Throws ``TrainingError/nonFiniteLoss(step:loss:gradientNorm:)``
    /// before changing anything when the loss or the gradient is not finite.
    @discardableResult
    public func trainStep() throws -> MetricsRecord {
        let start = Date()
        let o = options, lr = o.schedule.lr(at: step)
        let result = try trainingStep(lr: Float(lr), batch: o.batchSize, sequence: run.model.context,
                                      microBatches: o.gradientAccumulation) {
            let batch = sampler.next()
            return (batch.inputs, batch.targets)
        }
        let (loss, norm) = (result.loss, result.gradientNorm)
        let elapsed = Date().timeIntervalSince(start)
        var r = MetricsRecord(kind: "train", step: step, tokens: step * tokensPerStep, lr: lr, trainLoss: loss,
                              gradNorm: Double(norm), seconds: seconds, tokensPerSecond: Double(tokensPerStep) / elapsed)
        addLayerValues(to: &r)
        return r
    }

    /// Mean loss over the validation windows, optionally at another context on windows of its
    /// own: `context` tokens, `max(1, batchSize·T/context)` per batch, from the same seed, so
    /// every run evaluated at that context sees the same tokens.
    public func evaluate(context: Int? = nil) throws -> Double {
        let t = context ?? run.model.context
        let set = t == run.model.context ? validation
            : try ValidationSet(file: dataset.validation, batchSize: max(1, options.batchSize * run.model.context / t),
                                context: t, batches: options.evalBatches, seed: options.evalSeed, part: options.validationPart)
        var total = 0.0
        for batch in set {
            total += Double(try model.forward(tokens: batch.inputs, targets: batch.targets, batch: batch.batchSize, sequence: t))
        }
        return total / Double(set.count)
    }

    /// An evaluation record for the current step.
    public func evaluationRecord(context: Int? = nil) throws -> MetricsRecord {
        let v = try evaluate(context: context)
        // A NaN in metrics.jsonl cannot be written as JSON; say what it means instead.
        guard v.isFinite else {
            if step > 0 { throw TrainingError.nonFiniteLoss(step: step, loss: Float(v), gradientNorm: nil) }
            throw TrainingError.invalidOption("the validation loss of the initial weights is \(v): the model's outputs are not finite; nothing was saved. HINT: check the --init weights (values too large for float32?) and the scaler options")
        }
        var r = MetricsRecord(kind: "eval", step: step, tokens: step * tokensPerStep, valLoss: v, seconds: seconds)
        r.valBitsPerByte = bitsPerByte(v)
        if let context, context != run.model.context { r.context = context } else { addLayerValues(to: &r) }
        return r
    }

    /// The length-extrapolation evaluation on shared windows (``ExtrapolationWindows/shared``):
    /// windows of `M·T` tokens (`M` the longest multiplier, `max(1, B/M)` per batch); at every
    /// multiple `m` of `[1] + extrapolation` the same windows cut into `M/m` slices of `m·T`.
    /// One record per multiple (with its `context`, also `T` for 1×); the longest one carries
    /// the loss by position in `bins` bins.
    public func sharedExtrapolationRecords(bins: Int = 32) throws -> [MetricsRecord] {
        let t = run.model.context, longest = options.longestMultiple, span = longest * t
        let set = try ValidationSet(file: dataset.validation, batchSize: max(1, options.batchSize / longest), context: span,
                                    batches: options.evalBatches, seed: options.evalSeed, part: options.validationPart)
        let multiples = [1] + options.extrapolation.sorted()
        var totals = [Double](repeating: 0, count: multiples.count)
        var byPosition = [Double](repeating: 0, count: span)
        // one multiple at a time over every batch: the model keeps the activations of one batch
        // shape, so this builds three shapes' buffers instead of three per batch (the sums are
        // the same, batch by batch in the same order)
        let batches = set.map { ($0.inputs, $0.targets, $0.batchSize) }
        for (i, m) in multiples.enumerated() {
            let slices = longest / m
            for (inputs, targets, windows) in batches {
                let loss = try model.forward(tokens: inputs, targets: targets, batch: windows * slices, sequence: m * t)
                totals[i] += Double(loss)
                if m == longest {
                    let losses = model.positionLosses.scalars
                    for (j, v) in losses.enumerated() { byPosition[j % span] += Double(v) }
                }
            }
        }
        let windows = Double(set.count * set.batchSize)
        let bin = max(1, (span + bins - 1) / bins)
        let binned = stride(from: 0, to: span, by: bin).map { start in
            let end = min(span, start + bin)
            return byPosition[start..<end].reduce(0, +) / (windows * Double(end - start))
        }
        return try multiples.enumerated().map { i, m in
            let v = totals[i] / Double(set.count)
            guard v.isFinite else { throw TrainingError.nonFiniteLoss(step: step, loss: Float(v), gradientNorm: nil) }
            var r = MetricsRecord(kind: "eval", step: step, tokens: step * tokensPerStep, valLoss: v, seconds: seconds)
            r.valBitsPerByte = bitsPerByte(v)
            r.context = m * t
            if m == longest {
                r.positionLoss = binned
                r.positionBin = bin
            }
            return r
        }
    }

    /// A validation loss in bits per byte of text, when the data says how many bytes a token covers.
    private func bitsPerByte(_ loss: Double) -> Double? {
        dataset.validationBytesPerToken.map { BitsPerByte.of(loss: loss, bytesPerToken: $0) }
    }

    /// The architecture's values per layer, each under its name, and the mean s_z.
    private func addLayerValues(to r: inout MetricsRecord) {
        for v in model.layerValues() { r.layerValues[v.name] = v.values }
        let sz = model.effectiveLogitScales()
        if !sz.isEmpty { r.szMean = sz.reduce(0.0) { $0 + Double($1) } / Double(sz.count) }
    }

    /// Commits a checkpoint of the current step into `directory` (``RunDirectory``):
    /// `model.safetensors` and `optimizer.safetensors` (moments, sampler state, elapsed time) in
    /// one step directory, which appears whole or not at all. The model file carries no time, so
    /// equal runs write equal bytes.
    public func saveCheckpoint(to directory: URL) throws {
        let lock = try RunLock.acquire(directory)
        let samplerJSON = try Checkpoint.jsonString(sampler.state)
        let state = ["sampler": samplerJSON, "seconds": String(seconds)]
        try RunDirectory(directory).commitCheckpoint(step: step) { dir in
            try Checkpoint.saveOptimizer(optimizer, state: state, to: dir.appendingPathComponent(Checkpoint.optimizerFile))
            try Checkpoint.saveModel(model, step: step, to: dir.appendingPathComponent(Checkpoint.modelFile))
        }
        withExtendedLifetime(lock) {}
    }

    /// Runs to the end of the schedule, writing `config.json`, metrics and checkpoints into
    /// `directory`, and calling `progress` with every record. A resumed trainer continues where
    /// its checkpoint left off.
    public func train(directory: URL, progress: (MetricsRecord) -> Void = { _ in }) throws {
        let lock = try RunLock.acquire(directory, creating: true)
        defer { withExtendedLifetime(lock) {} }
        try RunDirectory(directory).checkLayout()
        RunDirectory(directory).removeStaleTemporaries()
        let configURL = directory.appendingPathComponent("config.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(run).write(to: configURL, options: .atomic)
        // a subword run keeps its tokenizer, so that its models decode to text on their own
        if let tokenizer = dataset.tokenizerFile { try RunDirectory(directory).keepTokenizer(tokenizer) }
        try RunStatus(state: .running, step: step).write(to: directory)
        do {
            try trainToEnd(directory: directory, progress: progress)
        } catch {
            try? RunStatus(state: .failed, step: step, message: ErrorText.describe(error)).write(to: directory)
            throw error
        }
        try RunStatus(state: .finished, step: step).write(to: directory)
    }

    private func trainToEnd(directory: URL, progress: (MetricsRecord) -> Void) throws {
        let resuming = step > 0
        let log = try MetricsLog(url: directory.appendingPathComponent("metrics.jsonl"), keepingStepsThrough: resuming ? step : nil)
        clockStart = Date()
        let o = options
        if !resuming {
            let r = try evaluationRecord()
            try log.append(r)
            progress(r)
        }
        while step < o.steps {
            let r = try trainStep()
            try log.append(r)
            progress(r)
            let last = step == o.steps
            if last || (o.evalEvery > 0 && step % o.evalEvery == 0) {
                let e = try evaluationRecord()
                try log.append(e)
                progress(e)
            }
            if last && !o.extrapolation.isEmpty {
                let records = o.extrapolationWindows == .shared ? try sharedExtrapolationRecords()
                    : try o.extrapolation.map { try evaluationRecord(context: $0 * run.model.context) }
                for e in records {
                    try log.append(e)
                    progress(e)
                }
            }
            if last || (o.checkpointEvery > 0 && step % o.checkpointEvery == 0) {
                try saveCheckpoint(to: directory)
            }
        }
    }
}
