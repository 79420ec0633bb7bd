import ArgumentParser
import Foundation
import NGPT

struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The nGPT paper's ablations as one study: default nGPT, GPT and every variant, at one budget over several seeds.",
        discussion: """
        Every row (see --list-variants) trains --budget steps with seeds 0..<--seeds, from the same
        initial draw and on the same batches as the other rows of its model, each with its model's
        recipe and learning rate unless the row changes them. The report gives each row's final
        validation loss with its seed range, its change against default nGPT (per seed and mean),
        the paper's reported change where it gives one, the learning curves and the final scalers.
        The shape defaults to the demo's (d 64, 2 layers, 4 heads, context 128).
        OUT gets report.html, report.md, results.json and runs/<row>-seed<n>/ for every run. Running
        the same command again resumes. --plan writes the runs as shell lines and a Slurm job-array
        script (OUT/plan/) instead; --collect builds the report from the run directories.
        """)

    @Option(help: "Data directory (from `ngpt prepare`).") var data: String?
    @Option(help: "Report directory.") var out: String?
    @OptionGroup var shape: ModelOptions
    @Option(help: "Optimiser steps of every run (default 500).") var budget: Int = 500
    @Option(help: "Seeds per row (default 3).") var seeds: Int = 3
    @Option(help: "Sequences per batch (default 16).") var batch: Int = 16
    @Option(help: "GPT's learning rate (default: its recipe's, or --rates-from).") var lrGpt: Double?
    @Option(help: "nGPT's learning rate (default: its recipe's, or --rates-from).") var lrNgpt: Double?
    @Option(help: "Take both learning rates from an `ngpt compare` report directory (its tuned rates at this context).") var ratesFrom: String?
    @Option(help: "Rows to train, comma-separated (default: all; see --list-variants).") var variants: String?
    @Flag(help: "List the rows and exit.") var listVariants = false
    @Option(help: "Validation batches (default 10).") var evalBatches: Int = 10
    @Option(help: "Evaluations along each run (default 10).") var evalPoints: Int = 10
    @Option(help: "Runs at a time; each gets (cores / jobs) BLAS threads (default 1).") var jobs: Int = 1
    @Option(help: "Threads per run (default: cores / jobs).") var threadsPerRun: Int?
    @Flag(help: "Write the runs as commands (OUT/plan/) instead of running them.") var plan = false
    @Flag(help: "Build the report from finished run directories (OUT/settings.json).") var collect = false

    func run() throws {
        if listVariants {
            for v in AblationVariant.defaultSet {
                print("\(v.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(v.kind.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(v.summary)\(v.paper.map { " (paper: \($0))" } ?? "")")
            }
            return
        }
        guard let out else { throw TrainingError.invalidOption("--out DIR is required: the directory the study's runs and report go to") }
        let report = try pathOption(out, "--out").standardizedFileURL
        guard jobs >= 1, jobs <= maximumThreads else {
            throw TrainingError.invalidOption("--jobs must be between 1 and \(maximumThreads) (4 per core on this machine), got \(jobs)")
        }
        _ = try checkedThreads(threadsPerRun, option: "--threads-per-run")
        let runs = report.appendingPathComponent("runs")
        let (settings, lock) = try openStudy(report, command: "ngpt ablate", what: "an ablation study", collect: collect && !shape.anyGiven && data == nil,
                                             read: AblationSettings.read(from:), make: makeSettings)
        defer { withExtendedLifetime(lock) {} }
        let study = AblationStudy(settings: settings)
        let executor = RunExecutor(runsDirectory: runs, jobs: max(1, jobs), threadsPerRun: settings.threadsPerRun, label: "ablate")
        let scheduled = try study.runs()
        try ScheduledRun.checkReusable(scheduled, in: runs)
        if plan { return try writePlan(scheduled, executor, report, threads: settings.threadsPerRun) }
        if !collect {
            executor.expect(scheduled)
            executor.execute(scheduled, phase: "runs")
        }
        let results = try AblationResults.collect(study, runsDirectory: runs)
        for row in results.rows { for f in row.failed { printError("[ablate] \(row.name) \(f)") } }
        try AblationReport.write(results, to: report)
        let reference = results.rows.first { $0.name == AblationVariant.referenceName }
        print("default nGPT: final validation loss \(AblationReport.loss(reference?.loss))")
        for row in results.rows where row.name != AblationVariant.referenceName {
            print("\(row.name): \(AblationReport.change(row)) (\(AblationReport.reading(row)))")
        }
        print("report: \(report.appendingPathComponent("report.html").path)")
        let outcomes = scheduled.map { (id: $0.id, status: executor.result($0).status) }
        try checkStudyComplete(failed: outcomes.filter { $0.status == .failed }.map(\.id),
                               missing: outcomes.filter { $0.status == .incomplete }.map(\.id))
    }

    private func makeSettings() throws -> AblationSettings {
        guard let data else { throw TrainingError.invalidOption("--data DIR is required (a directory made by `ngpt prepare`)") }
        // every switch of either model (what ModelOptions knows as the other kind's options)
        let switches = (shape.model != nil ? ["--model"] : []) + shape.optionsOfOtherKind(than: .gpt) + shape.optionsOfOtherKind(than: .ngpt)
        if !switches.isEmpty {
            throw TrainingError.invalidOption("ngpt ablate takes the shape only (--dim, --layers, --heads, --context, --vocab), not \(switches.joined(separator: ", ")); each row sets its model and switches (see --list-variants)")
        }
        let dataURL = URL(fileURLWithPath: data).standardizedFileURL
        let dataset = try TokenDataset(directory: dataURL, vocabularySize: shape.vocab)
        var options = shape
        if options.dim == nil { options.dim = 64 }
        if options.layers == nil { options.layers = 2 }
        if options.heads == nil { options.heads = 4 }
        if options.context == nil { options.context = 128 }
        let config = try options.config(kind: .ngpt, vocabulary: dataset.vocabularySize)
        var rates: (gpt: Double, ngpt: Double, source: String)?
        if let ratesFrom {
            rates = try Self.tunedRates(from: URL(fileURLWithPath: ratesFrom).standardizedFileURL, shape: config, budget: budget)
        }
        let names = variants.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? AblationVariant.defaultSet.map(\.name)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let s = AblationSettings(data: dataURL.path, model: config, budget: budget, seeds: seeds, batchSize: batch,
                                 lrGPT: lrGpt ?? rates?.gpt, lrNGPT: lrNgpt ?? rates?.ngpt,
                                 lrSource: lrGpt == nil && lrNgpt == nil ? rates?.source : nil, variants: names,
                                 evalBatches: evalBatches, evalPoints: evalPoints, threadsPerRun: threadsPerRun ?? max(1, cores / max(1, jobs)))
        let study = AblationStudy(settings: s)
        try study.validate()
        // every run must fit (in memory, with `jobs` at once) and every window must exist
        let available = AvailableMemory.bytes().map { $0 / max(1, jobs) }
        for run in try study.runs() where run.id.hasSuffix("-seed0") {
            var c = run.configuration
            c.training.validationPart = .whole
            try Trainer.preflight(c, dataset: dataset, availableMemory: available,
                                  hint: jobs > 1 ? "that is per run, with --jobs \(jobs) at a time; reduce --jobs, --batch or --dim" : "reduce --batch or --dim")
            guard c.model.context < dataset.validation.count - dataset.validation.count / 2 else {
                throw TrainingError.invalidOption("\(dataset.validation.url.path) has \(dataset.validation.count) tokens; losses are reported on its second half, which needs more than \(c.model.context) tokens; give more validation data or a shorter --context")
            }
        }
        return s
    }

    /// The tuned rates of a comparison report at this shape and context. Only the few keys
    /// needed are read, so reports written before per-context rates work too (their one pair of
    /// rates served every context).
    static func tunedRates(from report: URL, shape: ModelConfig, budget: Int? = nil) throws -> (gpt: Double, ngpt: Double, source: String) {
        struct Rates: Decodable {
            struct Settings: Decodable { var model: ModelConfig; var contexts: [Int] }
            /// Comparisons that tune per budget record the rate of every budget.
            struct Budget: Decodable { var steps: Int; var lrGPT: Double?; var lrNGPT: Double? }
            struct Context: Decodable { var context: Int; var lrGPT: Double?; var lrNGPT: Double?; var budgets: [Budget]? }
            var settings: Settings
            var lrGPT: Double
            var lrNGPT: Double
            var contexts: [Context]
        }
        let url = report.appendingPathComponent("results.json")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let results: Rates
        do {
            results = try decoder.decode(Rates.self, from: Data(contentsOf: url))
        } catch {
            throw TrainingError.invalidOption("--rates-from: \(url.path) cannot be read as a comparison's results (\(ErrorText.reason(error, path: url.path))); give a directory made by `ngpt compare`")
        }
        let m = results.settings.model
        guard m.width == shape.width, m.layers == shape.layers, m.heads == shape.heads, m.vocabularySize == shape.vocabularySize,
              let c = results.contexts.first(where: { $0.context == shape.context }) else {
            throw TrainingError.invalidOption("--rates-from: \(report.path) compared another shape (d \(m.width), \(m.layers) layers, \(m.heads) heads, contexts \(results.settings.contexts)); its rates were tuned for that shape, not for d \(shape.width), \(shape.layers) layers, \(shape.heads) heads, context \(shape.context)")
        }
        if let budget, let b = c.budgets?.first(where: { $0.steps == budget }), let g = b.lrGPT, let n = b.lrNGPT {
            return (g, n, "tuned by the comparison in \(report.path) for \(budget) steps at context \(c.context)")
        }
        return (c.lrGPT ?? results.lrGPT, c.lrNGPT ?? results.lrNGPT, "tuned by the comparison in \(report.path) at context \(c.context)")
    }

    private func writePlan(_ runs: [ScheduledRun], _ executor: RunExecutor, _ report: URL, threads: Int) throws {
        let dir = report.appendingPathComponent("plan")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let pending = runs.filter { executor.result($0).status != .finished }
        for run in pending { try executor.writeConfiguration(run) }
        let lines = pending.map { executor.commandLine($0, program: executor.executable.path) }
        let commands = dir.appendingPathComponent("commands.txt")
        try Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8).write(to: commands, options: .atomic)
        try Data(slurmArray(name: "ngpt-ablate", count: lines.count, threads: threads, commands: commands, logs: dir).utf8)
            .write(to: dir.appendingPathComponent("slurm.sh"), options: .atomic)
        print("\(lines.count) run(s) written to \(commands.path) (and slurm.sh beside it).")
        print("Run them (e.g. `sbatch \(dir.path)/slurm.sh`), then `ngpt ablate --collect --out \(report.path)` builds the report.")
    }
}
