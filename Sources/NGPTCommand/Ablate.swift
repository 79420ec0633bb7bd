import ArgumentParser
import Foundation
import NGPT

struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The nGPT paper's ablations as one study: default nGPT, GPT and every variant, at one budget over several seeds.",
        discussion: """
        Every row (see --list-variants: the paper's Tables 4–6, scale-matched rows and rows beyond
        the paper) trains --budget steps with seeds 0..<--seeds, from the same initial draw and on
        the same batches as the other rows of its model, each with its model's recipe and learning
        rate unless the row changes them. Each model's rate is --lr-gpt/--lr-ngpt, --rates-from a
        comparison, or else tuned by this study at --budget on --lr-grid (selection half of the
        validation text, seed 1000, grids grown at an edge as in `ngpt compare`). Rows that change
        the optimisation (no-weight-norm, ngpt-gpt-recipe, gpt-qk-norm) get rates of their own by
        the same search (no-weight-norm also chooses its weight decay) unless --no-retune.
        Scale-matched rows fix a scaler at the value default nGPT's runs end at (they wait for
        those runs), or at --trained-values. The report gives each row's final validation loss,
        its change against default nGPT with a 95 % t interval over the paired seeds and the
        reading it supports, the paper's value, the rate and where it came from, the learning
        curves and the final scalers. The shape defaults to the demo's (d 64, 2 layers, 4 heads,
        context 128). OUT gets report.html, report.md, results.json and runs/ for every run.
        Running the same command again resumes. --plan writes the runs that can run now as shell
        lines and a Slurm job-array script (OUT/plan/); run --plan again when they have finished
        for the rows that waited for them; --collect builds the report from the run directories.
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
    @Option(help: "Starting grid of every tuned rate, comma-separated (default 2e-3,4e-3,8e-3,1.6e-2,3.2e-2).") var lrGrid: String?
    @Option(help: "Rates a tuning grid may grow by at each end when its best rate is on the edge (default 2).") var gridExtensions: Int = 2
    @Option(help: "Seeds scoring each tuned rate (default 1).") var tuningSeeds: Int = 1
    @Flag(help: "Train rows that change the optimisation at their model's rate instead of tuning their own.") var noRetune = false
    @Option(help: "Values the scale-matched rows fix, e.g. alpha=0.3,sqk=1.9,suv=1.1,sz=22 (default: default nGPT's trained means).") var trainedValues: String?
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
            for v in Self.knownRows {
                let rate = v.rate == .model ? "" : " [own rate\(v.rate == .own ? "" : " and weight decay")]"
                print("\(v.name.padding(toLength: 29, withPad: " ", startingAt: 0)) \(v.kind.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(v.group.padding(toLength: 17, withPad: " ", startingAt: 0)) \(v.summary)\(rate)\(v.paper.map { " (paper: \($0))" } ?? "")")
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
        let study = AblationStudy(settings: settings, variants: Self.knownRows)
        let executor = RunExecutor(runsDirectory: runs, jobs: max(1, jobs), threadsPerRun: settings.threadsPerRun, label: "ablate")
        try ScheduledRun.checkReusable(try study.currentRuns(try study.inputs(runsDirectory: runs)), in: runs)
        if plan { return try writePlan(study, executor, report, threads: settings.threadsPerRun) }
        if !collect { try execute(study, executor, runs) }
        let inputs = try study.inputs(runsDirectory: runs)
        let scheduled = try study.currentRuns(inputs)
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
        let waiting = try study.rows().compactMap { v in study.waiting(v, inputs: inputs).map { "\(v.name) (\($0))" } }
        try checkStudyComplete(failed: outcomes.filter { $0.status == .failed && !$0.id.hasPrefix("tune-") }.map(\.id),
                               missing: outcomes.filter { $0.status == .incomplete }.map(\.id) + waiting)
    }

    /// Runs what can run now, reads what those runs determine (tuned rates, trained scalers) and
    /// runs what that unblocks, until nothing new can run.
    private func execute(_ study: AblationStudy, _ executor: RunExecutor, _ runs: URL) throws {
        var expected = Set<String>()
        var round = 0
        while !StudyInterruption.isStopping {
            let inputs = try study.inputs(runsDirectory: runs)
            let current = try study.currentRuns(inputs)
            let new = current.filter { !expected.contains($0.id) }
            if round > 0 && new.isEmpty { break }
            expected.formUnion(new.map(\.id))
            executor.expect(new)
            let tuning = current.filter { $0.id.hasPrefix("tune-") }.count
            let phase = round == 0 ? "runs (\(tuning) of them learning-rate tuning)" : "runs unblocked by finished ones (round \(round + 1))"
            executor.execute(current, phase: phase)
            for line in try study.rows().compactMap({ v in study.waiting(v, inputs: inputs).map { "\(v.name) \($0)" } }) where round == 0 {
                printError("[ablate] \(line)")
            }
            round += 1
        }
        let inputs = try study.inputs(runsDirectory: runs)
        for o in inputs.tuning where o.search.complete {
            let best = o.search.best.map(AblationStudy.rate) ?? "none (every rate diverged)"
            let wd = o.weightDecay.map { " at weight decay \(String(format: "%g", $0))" } ?? ""
            printError("[ablate] \(o.row)\(wd): best rate \(best) of \(o.search.grid.count)\(o.search.atEdge ? " — still at the grid's edge" : "")")
        }
        if let t = inputs.trainedValues, try study.rows().contains(where: { !$0.fixedAtTrainedValue.isEmpty }) {
            printError("[ablate] scale-matched rows fix α \(t.alpha), s_qk \(t.sqk), s_uv \(t.suv), s_z \(t.sz) (\(inputs.trainedValuesSource ?? "given"))")
        }
    }

    /// The library's rows and one for every architecture this program registered.
    static var knownRows: [AblationVariant] { AblationVariant.defaultSet + AblationVariant.registeredRows() }

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
        let names = variants.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? Self.knownRows.map(\.name)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let grid = try lrGrid.map { text in
            try text.split(separator: ",").map { part -> Double in
                guard let v = Double(part.trimmingCharacters(in: .whitespaces)) else {
                    throw TrainingError.invalidOption("--lr-grid: '\(ErrorText.cut(String(part)))' is not a number; give rates like 2e-3,4e-3,8e-3")
                }
                return v
            }
        } ?? AblationSettings.defaultGrid
        let s = AblationSettings(data: dataURL.path, model: config, budget: budget, seeds: seeds, batchSize: batch,
                                 lrGPT: lrGpt ?? rates?.gpt, lrNGPT: lrNgpt ?? rates?.ngpt,
                                 lrSource: lrGpt == nil && lrNgpt == nil ? rates?.source : nil, retune: !noRetune,
                                 lrGrid: grid, gridExtensions: gridExtensions, tuningSeeds: tuningSeeds,
                                 trainedValues: try trainedValues.map { try ScalerValues(parsing: $0) }, variants: names,
                                 evalBatches: evalBatches, evalPoints: evalPoints, threadsPerRun: threadsPerRun ?? max(1, cores / max(1, jobs)))
        let study = AblationStudy(settings: s, variants: Self.knownRows)
        try study.validate()
        // every run must fit (in memory, with `jobs` at once) and every window must exist
        let available = AvailableMemory.bytes().map { $0 / max(1, jobs) }
        for v in try study.rows() {
            var c = study.provisionalRun(v, seed: 0).configuration
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

    private func writePlan(_ study: AblationStudy, _ executor: RunExecutor, _ report: URL, threads: Int) throws {
        let dir = report.appendingPathComponent("plan")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let inputs = try study.inputs(runsDirectory: executor.runsDirectory)
        let pending = try study.currentRuns(inputs).filter { executor.result($0).status != .finished }
        let waiting = try study.rows().filter { study.waiting($0, inputs: inputs) != nil }.map(\.name)
        for run in pending { try executor.writeConfiguration(run) }
        let lines = pending.map { executor.commandLine($0, program: executor.executable.path) }
        let commands = dir.appendingPathComponent("commands.txt")
        try Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8).write(to: commands, options: .atomic)
        try Data(slurmArray(name: "ngpt-ablate", count: lines.count, threads: threads, commands: commands, logs: dir).utf8)
            .write(to: dir.appendingPathComponent("slurm.sh"), options: .atomic)
        print("\(lines.count) run(s) written to \(commands.path) (and slurm.sh beside it).")
        if waiting.isEmpty {
            print("Run them (e.g. `sbatch \(dir.path)/slurm.sh`), then `ngpt ablate --collect --out \(report.path)` builds the report.")
        } else {
            print("Rows \(waiting.joined(separator: ", ")) wait for these runs (their rates or default nGPT's trained scalers): run them (e.g. `sbatch \(dir.path)/slurm.sh`), then `ngpt ablate --plan --out \(report.path)` again for the next runs, and `ngpt ablate --collect --out \(report.path)` at the end.")
        }
    }
}
