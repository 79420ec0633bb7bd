import ArgumentParser
import Foundation
import NGPT

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a GPT or nGPT model on a prepared data directory.",
        discussion: """
        Defaults are each model's recipe (docs/model.md §7): GPT lr 2e-3, weight decay 0.1, warm-up over the
        first 1/15 of the steps; nGPT lr 8e-3, no weight decay, no warm-up; both cosine to 0, clip 1.
        RUN gets config.json, metrics.jsonl, checkpoints/step-N/ (model.safetensors and
        optimizer.safetensors) and model.safetensors (the newest checkpoint's model).
        `ngpt train --resume RUN` continues an interrupted run exactly, with its own settings; of
        the training options only --checkpoint-every may change on resume. One process at a time
        may write RUN.
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
    @Option(help: "Train the run this file describes (a run configuration: the JSON of a run's config.json, or a file `ngpt compare --plan` wrote) into --out; the options that define a run come from the file.") var config: String?

    func run() throws {
        try applyThreads(threads)
        let (trainer, directory, lock) = try makeTrainer()
        defer { withExtendedLifetime(lock) {} }
        if trainer.step >= trainer.options.steps {
            // every record precedes the final checkpoint; a kill between that commit and the
            // status left "running", which would keep a study from counting the run
            if (try? RunStatus.read(directory))??.state != .finished {
                try RunStatus(state: .finished, step: trainer.step).write(to: directory)
            }
            printError("\(directory.path) is already finished (\(trainer.step) steps)")
            return
        }
        let progress = ProgressLine(label: trainer.run.architectureName, totalSteps: trainer.options.steps)
        printError("\(trainer.run.architectureName): \(trainer.model.parameterCount) parameters, \(trainer.tokensPerStep) tokens/step, \(trainer.options.steps) steps → \(directory.path)")
        try trainer.train(directory: directory, progress: progress.update)
        printError("done: \(directory.path)")
    }

    /// The trainer, its directory and the directory's lock (held until the process ends).
    private func makeTrainer() throws -> (Trainer, URL, RunLock) {
        if let resume {
            let dir = try pathOption(resume, "--resume")
            let saved = try Trainer.readConfiguration(dir)
            if shape.anyGiven {
                try shape.checkOptionsApply(to: saved.model.kind, model: resume)
                let asked = try shape.config(kind: saved.model.kind, vocabulary: saved.model.vocabularySize)
                guard asked == saved.model else {
                    throw TrainingError.resume("\(resume) was trained with a different model configuration (\(describe(saved.model))) than the options given (\(describe(asked))); drop the shape options to resume it as it was")
                }
            }
            if let out, try pathOption(out, "--out").standardizedFileURL != dir.standardizedFileURL {
                throw TrainingError.invalidOption("--out must be omitted (or equal --resume) when resuming")
            }
            if resumeExisting { throw TrainingError.invalidOption("--resume-existing goes with --out (for scripted sweeps); drop it when using --resume") }
            if config != nil { throw TrainingError.invalidOption("--config starts a run from a file; --resume \(resume) continues from the run's own config.json, so drop --config") }
            if self.`init` != nil { throw TrainingError.invalidOption("--init only starts a new run; --resume \(resume) continues from its own checkpoint, so drop --init") }
            var training = saved.training
            let changed = try apply(to: &training)
            let refused = changed.filter { $0.option != "--checkpoint-every" }
            if !refused.isEmpty {
                let list = refused.map { "\($0.option) \($0.given) (the run has \($0.stored))" }.joined(separator: ", ")
                throw TrainingError.resume("--resume \(resume) continues the run with its own settings, and \(list) would change it (the learning-rate schedule, batches and evaluations are fixed when a run starts); drop \(refused.count == 1 ? "that option" : "those options"), or start a new run with --out")
            }
            let dataset = try TokenDataset(directory: try data.map { try pathOption($0, "--data") } ?? URL(fileURLWithPath: saved.data),
                                           vocabularySize: saved.model.vocabularySize)
            let lock = try RunLock.acquire(dir)
            try training.validate()
            if let change = changed.first {
                // only when to checkpoint changes, never what is computed
                var run = saved
                run.training = training
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                try encoder.encode(run).write(to: dir.appendingPathComponent("config.json"), options: .atomic)
                printError("note: \(change.option) is now \(change.given) for \(resume) (was \(change.stored))")
            }
            return (try Trainer(resuming: dir, dataset: dataset), dir, lock)
        }
        if let config { return try start(configurationFile: try pathOption(config, "--config")) }
        guard let data else { throw TrainingError.invalidOption("--data DIR is required (a directory made by `ngpt prepare`)") }
        guard let out else { throw TrainingError.invalidOption("--out RUN is required: the directory for the run") }
        let dir = try pathOption(out, "--out")
        let dataURL = try pathOption(data, "--data").standardizedFileURL
        let initURL = try self.`init`.map { try pathOption($0, "--init") }
        let architecture = try shape.architecture()
        try shape.checkOptionsApply(to: architecture.baseKind)
        let dataset = try TokenDataset(directory: dataURL, vocabularySize: shape.vocab)
        let config = try shape.config(vocabulary: dataset.vocabularySize)
        let recipe = try ArchitectureRegistry.architecture(named: architecture.name, config: config).recipe
        var o = TrainingOptions(recipe: recipe, steps: steps ?? 1000, batchSize: batch ?? 16, seed: seed ?? 0)
        _ = try apply(to: &o)
        let run = RunConfiguration(model: config, training: o, data: dataURL.path, architecture: architecture.name)
        return try start(run, dataset: dataset, in: dir, initialWeights: initURL)
    }

    /// A run described by a file: every option that defines a run comes from it.
    private func start(configurationFile url: URL) throws -> (Trainer, URL, RunLock) {
        let given = [("--data", data != nil), ("the shape options", shape.anyGiven), ("--batch", batch != nil),
                     ("--grad-accum", gradAccum != nil), ("--steps", steps != nil), ("--lr", lr != nil),
                     ("--warmup", warmup != nil), ("--min-lr", minLr != nil), ("--weight-decay", weightDecay != nil),
                     ("--clip", clip != nil), ("--seed", seed != nil), ("--sampler", sampler != nil),
                     ("--eval-every", evalEvery != nil), ("--eval-batches", evalBatches != nil),
                     ("--checkpoint-every", checkpointEvery != nil), ("--param-precision", paramPrecision != nil),
                     ("--extrapolate", extrapolate != nil), ("--init", self.`init` != nil)].filter(\.1).map(\.0)
        guard given.isEmpty else {
            throw TrainingError.invalidOption("--config \(url.path) describes the whole run, so \(given.joined(separator: ", ")) cannot be given with it; edit the file or drop --config")
        }
        guard let out else { throw TrainingError.invalidOption("--out RUN is required with --config: the directory for the run") }
        let run = try RunConfiguration.read(from: url)
        let dataset = try TokenDataset(directory: URL(fileURLWithPath: run.data), vocabularySize: run.model.vocabularySize)
        return try start(run, dataset: dataset, in: try pathOption(out, "--out"), initialWeights: nil)
    }

    /// A new run into `dir` (or, with --resume-existing, the same run already there).
    private func start(_ run: RunConfiguration, dataset: TokenDataset, in dir: URL, initialWeights initURL: URL?) throws -> (Trainer, URL, RunLock) {
        let out = dir.path
        try checkNotAReportDirectory(dir)
        try Trainer.preflight(run, dataset: dataset)
        let lock = try RunLock.acquire(dir, creating: true)
        do {
            // nothing is removed here: a refused start leaves the directory as it was, and an
            // accepted one removes only ngpt's own temporaries (Trainer.train, Trainer(resuming:))
            let runDirectory = RunDirectory(dir)
            try runDirectory.checkLayout()
            if runDirectory.hasCheckpoint {
                guard resumeExisting else {
                    throw TrainingError.invalidOption("\(out) already holds a run; use --resume \(out) to continue it, or another --out")
                }
                let saved = try Trainer.readConfiguration(dir)
                guard saved.model == run.model && saved.training == run.training && saved.architectureName == run.architectureName else {
                    throw TrainingError.resume("\(out) holds a run with other settings; remove it or choose another --out")
                }
                return (try Trainer(resuming: dir, dataset: dataset), dir, lock)
            }
            return (try Trainer(run: run, dataset: dataset, initialWeights: initURL), dir, lock)
        } catch {
            lock.discardIfCreated()
            throw error
        }
    }

    /// Sets the training options that were given; returns those that differ from `o`'s values.
    private func apply(to o: inout TrainingOptions) throws -> [(option: String, given: String, stored: String)] {
        var changed = [(option: String, given: String, stored: String)]()
        func set<T: Equatable>(_ option: String, _ value: T?, _ field: WritableKeyPath<TrainingOptions, T>) {
            guard let value, value != o[keyPath: field] else { return }
            changed.append((option, "\(value)", "\(o[keyPath: field])"))
            o[keyPath: field] = value
        }
        set("--steps", steps, \.steps)
        set("--batch", batch, \.batchSize)
        set("--seed", seed, \.seed)
        set("--grad-accum", gradAccum, \.gradientAccumulation)
        set("--lr", lr, \.learningRate)
        set("--warmup", warmup, \.warmup)
        set("--min-lr", minLr, \.minLR)
        set("--weight-decay", weightDecay, \.weightDecay)
        set("--clip", clip, \.clip)
        set("--sampler", sampler, \.sampling)
        set("--eval-every", evalEvery, \.evalEvery)
        set("--eval-batches", evalBatches, \.evalBatches)
        set("--checkpoint-every", checkpointEvery, \.checkpointEvery)
        set("--param-precision", paramPrecision, \.parameterPrecision)
        if let extrapolate {
            let list: [Int] = try parseList(extrapolate, "--extrapolate")
            if list != o.extrapolation {
                changed.append(("--extrapolate", extrapolate, o.extrapolation.map(String.init).joined(separator: ",")))
                o.extrapolation = list
            }
        }
        return changed
    }

    private func describe(_ c: ModelConfig) -> String {
        let switches = c.kind == .ngpt
            ? [("--no-qk-norm", !c.qkNormalization), ("--no-weight-norm", !c.weightNormalization),
               ("--no-residual-norm", !c.residualNormalization)]
            : [("--gpt-qk-norm", c.gptQKNormalization)]
        return (["\(c.kind.rawValue) d \(c.width)", "\(c.heads) heads", "\(c.layers) layers", "context \(c.context)",
                 "vocabulary \(c.vocabularySize)"] + switches.filter(\.1).map(\.0)).joined(separator: ", ")
    }
}
