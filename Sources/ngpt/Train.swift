import ArgumentParser
import Foundation
import NGPT

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a GPT or nGPT model on a prepared data directory.",
        discussion: """
        Defaults are each model's recipe (docs/model.md §7): GPT lr 2e-3, weight decay 0.1, warm-up over the
        first 1/15 of the steps; nGPT lr 8e-3, no weight decay, no warm-up; both cosine to 0, clip 1.
        RUN gets config.json, metrics.jsonl, model.safetensors and optimizer.safetensors.
        `ngpt train --resume RUN` continues an interrupted run exactly.
        """)

    @Option(help: "Data directory with train.bin and val.bin (from `ngpt prepare` or nanoGPT).") var data: String?
    @OptionGroup var shape: ModelOptions
    @Option(help: "Sequences per micro-batch (default 16).") var batch: Int?
    @Option(help: "Micro-batches per optimiser step (default 1).") var gradAccum: Int?
    @Option(help: "Optimiser steps (default 1000).") var steps: Int?
    @Option(help: "Peak learning rate (default: the model's recipe).") var lr: Double?
    @Option(help: "Warm-up steps (default: the model's recipe).") var warmup: Int?
    @Option(help: "Final learning rate of the cosine (default 0).") var minLr: Double?
    @Option(help: "Decoupled weight decay on matrices (default: the recipe's).") var weightDecay: Double?
    @Option(help: "Gradient-norm clip, 0 for none (default 1).") var clip: Double?
    @Option(help: "Seed of the initialisation and the sampler (default 0).") var seed: UInt64?
    @Option(help: "Window sampler: random or sequential (default random).") var sampler: SamplingMode?
    @Option(help: "Evaluate every N steps (default 100).") var evalEvery: Int?
    @Option(help: "Validation batches (default 10).") var evalBatches: Int?
    @Option(help: "Checkpoint every N steps; always at the end (default: only at the end).") var checkpointEvery: Int?
    @Option(help: "Block-matrix storage: fp32 or bf16 (default fp32).") var paramPrecision: ParameterPrecision?
    @Option(help: "Also evaluate the final model at these multiples of the context, e.g. 2,4.") var extrapolate: String?
    @Option(help: "Threads (default: OPENBLAS_NUM_THREADS, else all cores).") var threads: Int?
    @Option(help: "Start from these weights (safetensors, NVIDIA's names).") var `init`: String?
    @Option(help: "Run directory to write.") var out: String?
    @Option(help: "Continue the run in this directory from its last checkpoint.") var resume: String?
    @Flag(help: "If --out already holds this same run, continue it (or do nothing if it is finished) instead of failing; for scripted sweeps.") var resumeExisting = false

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw TrainingError.invalidOption("--threads must be at least 1") }
            Threads.set(threads)
        }
        let (trainer, directory) = try makeTrainer()
        if trainer.step >= trainer.options.steps {
            printError("\(directory.path) is already finished (\(trainer.step) steps)")
            return
        }
        let progress = ProgressLine(label: trainer.run.model.kind.rawValue, totalSteps: trainer.options.steps)
        printError("\(trainer.run.model.kind.rawValue): \(trainer.model.parameterCount) parameters, \(trainer.tokensPerStep) tokens/step, \(trainer.options.steps) steps → \(directory.path)")
        try trainer.train(directory: directory, progress: progress.update)
        printError("done: \(directory.path)")
    }

    private func makeTrainer() throws -> (Trainer, URL) {
        if let resume {
            let dir = URL(fileURLWithPath: resume)
            let saved = try Trainer.readConfiguration(dir)
            if shape.anyGiven {
                let asked = try shape.config(kind: saved.model.kind, vocabulary: saved.model.vocabularySize)
                guard asked == saved.model else {
                    throw TrainingError.resume("\(resume) was trained with a different model configuration (\(describe(saved.model))) than the options given (\(describe(asked))); drop the shape options to resume it as it was")
                }
            }
            if let out, URL(fileURLWithPath: out).standardizedFileURL != dir.standardizedFileURL {
                throw TrainingError.invalidOption("--out must be omitted (or equal --resume) when resuming")
            }
            let dataset = try TokenDataset(directory: URL(fileURLWithPath: data ?? saved.data), vocabularySize: saved.model.vocabularySize)
            return (try Trainer(resuming: dir, dataset: dataset), dir)
        }
        guard let data else { throw TrainingError.invalidOption("--data DIR is required (a directory made by `ngpt prepare`)") }
        guard let out else { throw TrainingError.invalidOption("--out RUN is required: the directory for the run") }
        let dir = URL(fileURLWithPath: out)
        let existing = FileManager.default.fileExists(atPath: dir.appendingPathComponent(Checkpoint.modelFile).path)
        if existing && !resumeExisting {
            throw TrainingError.invalidOption("\(out) already holds a run; use --resume \(out) to continue it, or another --out")
        }
        let dataURL = URL(fileURLWithPath: data).standardizedFileURL
        let dataset = try TokenDataset(directory: dataURL, vocabularySize: shape.vocab)
        let config = try shape.config(vocabulary: dataset.vocabularySize)
        let recipe = config.architecture().recipe
        var o = TrainingOptions(recipe: recipe, steps: steps ?? 1000, batchSize: batch ?? 16, seed: seed ?? 0)
        if let gradAccum { o.gradientAccumulation = gradAccum }
        if let lr { o.learningRate = lr }
        if let warmup { o.warmup = warmup }
        if let minLr { o.minLR = minLr }
        if let weightDecay { o.weightDecay = weightDecay }
        if let clip { o.clip = clip }
        if let sampler { o.sampling = sampler }
        if let evalEvery { o.evalEvery = evalEvery }
        if let evalBatches { o.evalBatches = evalBatches }
        if let checkpointEvery { o.checkpointEvery = checkpointEvery }
        if let paramPrecision { o.parameterPrecision = paramPrecision }
        if let extrapolate { o.extrapolation = try parseList(extrapolate, "--extrapolate") }
        let run = RunConfiguration(model: config, training: o, data: dataURL.path)
        if existing {
            let saved = try Trainer.readConfiguration(dir)
            guard saved.model == run.model && saved.training == run.training else {
                throw TrainingError.resume("\(out) holds a run with other settings; remove it or choose another --out")
            }
            return (try Trainer(resuming: dir, dataset: dataset), dir)
        }
        return (try Trainer(run: run, dataset: dataset, initialWeights: self.`init`.map { URL(fileURLWithPath: $0) }), dir)
    }

    private func describe(_ c: ModelConfig) -> String {
        "\(c.kind.rawValue) d \(c.width), \(c.heads) heads, \(c.layers) layers, context \(c.context), vocabulary \(c.vocabularySize)"
    }
}
