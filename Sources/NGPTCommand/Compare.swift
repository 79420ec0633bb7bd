import ArgumentParser
import Foundation
import NGPT

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark GPT against nGPT (or any models): tuned learning rates, separate full-schedule runs per budget and seed, speedup in tokens.",
        discussion: """
        1. At every shape and context, each model is tuned at its smallest and its largest budget
           (GPT's extra budgets included; --tune-budgets chooses others): one run per rate of
           --lr-grid and tuning seed (seeds of their own), scored on the first half of the
           validation text. A best rate on the grid's edge adds a rate beyond it and tunes again
           (up to --grid-extensions). The rate at every other budget is interpolated in log-log
           (--rate-rule). --tune-budget N tunes once at N steps instead (the procedure before);
           --lr-gpt/--lr-ngpt skip tuning.
        2. For each context, budget and seed, GPT and nGPT are trained from scratch with their own
           recipes and a cosine schedule ending at that budget; GPT also at --gpt-budgets beyond
           nGPT's largest. Tokens per step (batch × context) are those of the first context at
           every context unless --fixed-batch.
        3. Every final run is evaluated on the same windows of the second half of the validation
           text, also at --extrapolate multiples of its context (the same tokens at every
           multiple, with the loss by position).
        --shapes 64x2,128x4 makes a size study: every shape (width x layers, heads from
        --head-width, or width x layers x heads) is tuned and trained on its own at the same tokens
        per step, and the report adds speedup and loss against non-embedding parameters.
        --models gpt,qknorm-gpt,ngpt compares any number of models: architectures
        this program knows (`ngpt info` lists them), or NAME=ARCHITECTURE. The
        first is the baseline, which also trains at --gpt-budgets; every other
        model is measured against it. Each model is tuned on its own
        (--lr NAME=RATE fixes one).
        Speedups come from a power-law fit of GPT's loss against tokens (the straight line in log
        tokens beside it); the loss gap at equal tokens and 95 % t intervals over paired seeds are
        reported with them.
        REPORT gets report.html, report.md, results.json and runs/<run>/ for every run. Running the
        same command again resumes: finished runs are skipped, interrupted ones continue.
        --plan writes the runs as shell lines (REPORT/plan/commands.txt) and a Slurm job-array script
        instead of running them; --collect builds the report from finished run directories.
        """)

    @Option(help: "Data directory (from `ngpt prepare`).") var data: String?
    @Option(help: "Report directory.") var out: String
    @OptionGroup var shape: ModelOptions
    @Option(help: "Training contexts, e.g. 256,512 (default: --context, else 256).") var contexts: String?
    @Option(help: "Step budgets, each a separate full-schedule run (default 250,500,1000).") var budgets: String = "250,500,1000"
    @Option(name: [.customLong("gpt-budgets"), .customLong("baseline-budgets")],
            help: "Budgets only the baseline (GPT, or the first of --models) trains at, beyond the largest of --budgets: steps, or multiples of it like 2x (default 2x,4x; 'none').") var gptBudgets: String = "2x,4x"
    @Option(help: "Seeds per budget (default 3).") var seeds: Int = 3
    @Option(help: "Learning rates tried for each model.") var lrGrid: String = "1e-3,2e-3,4e-3,8e-3,1.6e-2"
    @Option(help: "GPT's learning rate (skips its tuning).") var lrGpt: Double?
    @Option(help: "nGPT's learning rate (skips its tuning).") var lrNgpt: Double?
    @Option(help: "The models compared, the baseline first: architectures this program knows, or NAME=ARCHITECTURE (default gpt,ngpt).") var models: String?
    @Option(help: "Fixed learning rates by model name, e.g. qknorm-gpt=4e-3,ngpt=3e-2 (those models skip tuning).") var lr: String?
    @Option(name: .customLong("model-options"), help: ArgumentHelp("A model's architecture options as JSON, NAME=JSON (repeat for several models).", valueName: "name=json")) var modelOptions: [String] = []
    @Option(help: "Model shapes of a size study: WIDTHxLAYERS (heads from --head-width) or WIDTHxLAYERSxHEADS, e.g. 64x2,128x4,256x4.") var shapes: String?
    @Option(help: "Head width of --shapes given as WIDTHxLAYERS (default 32; or give --heads for the same number of heads at every shape).") var headWidth: Int?
    @Option(help: "Tune at one budget only (the procedure of earlier versions): steps of the tuning runs.") var tuneBudget: Int?
    @Option(help: "Budgets each model is tuned at: 'ends' (its smallest and largest, GPT's extra budgets included), 'all', or a list of budgets (default ends).") var tuneBudgets: String = "ends"
    @Option(help: "Seeds per tuning point; a rate's score is their mean loss (default 1).") var tuningSeeds: Int = 1
    @Option(help: "Rates a grid may grow by at each end when its best rate is on the edge (default 2).") var gridExtensions: Int = 2
    @Option(help: "How the rate at an untuned budget follows from the tuned ones: log-log or nearest (default log-log).") var rateRule: String = "log-log"
    @Option(help: "Sequences per batch at the first context (default 16); other contexts keep batch × context.") var batch: Int = 16
    @Flag(help: "Keep --batch at every context (tokens per step then grow with the context).") var fixedBatch = false
    @Option(help: "Validation batches (default 10).") var evalBatches: Int = 10
    @Option(help: "Evaluations along each run (default 10).") var evalPoints: Int = 10
    @Option(help: "Context multiples for length extrapolation (default 2,4; 'none' to skip).") var extrapolate: String = "2,4"
    @Option(help: "Block-matrix storage: fp32 or bf16.") var paramPrecision: ParameterPrecision = .fp32
    @Option(help: "Runs at a time; each gets (cores / jobs) BLAS threads (default 1).") var jobs: Int = 1
    @Option(help: "Threads per run (default: cores / jobs).") var threadsPerRun: Int?
    @Flag(help: "Write the runs as commands (REPORT/plan/) instead of running them.") var plan = false
    @Flag(help: "Build the report from finished run directories (REPORT/settings.json).") var collect = false
    @Flag(help: "With --plan: skip the cost estimate (which times a few training steps of every model and shape).") var noEstimate = false

    func run() throws {
        let report = try pathOption(out, "--out").standardizedFileURL
        guard jobs >= 1, jobs <= maximumThreads else {
            throw TrainingError.invalidOption("--jobs must be between 1 and \(maximumThreads) (4 per core on this machine), got \(jobs)")
        }
        _ = try checkedThreads(threadsPerRun, option: "--threads-per-run")
        let runs = report.appendingPathComponent("runs")
        let (settings, lock) = try openStudy(report, command: "ngpt compare", what: "a comparison", collect: collect && !shape.anyGiven && data == nil,
                                             read: ComparisonSettings.read(from:), make: makeSettings)
        defer { withExtendedLifetime(lock) {} }
        let executor = RunExecutor(runsDirectory: runs, jobs: max(1, jobs), threadsPerRun: settings.threadsPerRun)
        if plan { return try writePlan(settings, executor, report) }
        try checkReusable(settings, runs)
        if !collect && settings.tuning == .budgets {
            try tuneByBudget(settings, executor, runs)
        } else if !collect {
            let tuning = ComparisonPlanner.tuningRuns(settings).map { $0.scheduled(settings) }
            executor.expect(tuning)
            if let (rates, _) = ComparisonResults.chosenLearningRates(settings, runsDirectory: runs) {
                executor.expect(ComparisonPlanner.finalRuns(settings, rates: rates).map { $0.scheduled(settings) })
            } else {
                // Final runs at rates not known yet, for the ETA (with shared tuning the one per
                // model that repeats a tuning run is not counted twice).
                let unknown = LearningRates(settings, every: -1)
                executor.expect(ComparisonPlanner.finalRuns(settings, rates: unknown).filter {
                    settings.tuning == .separate || !($0.context == settings.contexts[0] && $0.steps == settings.tuneBudget && $0.seed == 0)
                }.map { $0.scheduled(settings) })
            }
            executor.execute(tuning, phase: "learning-rate tuning")
            guard let (rates, _) = ComparisonResults.chosenLearningRates(settings, runsDirectory: runs) else {
                throw TrainingError.invalidOption("learning-rate tuning did not finish, or every rate diverged for a model; see \(runs.path)/tune-*/train.log")
            }
            for t in settings.contexts {
                let each = settings.modelList.map { String(format: "%@ %.2e", $0.label, rates.rate($0.name, context: t)) }
                printError("[compare] learning rates at context \(t): " + each.joined(separator: ", "))
            }
            executor.execute(ComparisonPlanner.finalRuns(settings, rates: rates).map { $0.scheduled(settings) }, phase: "final runs")
        }
        if settings.tuning == .budgets && !collect {
            guard let (rates, _) = ComparisonResults.chosenLearningRates(settings, runsDirectory: runs) else {
                throw TrainingError.invalidOption("learning-rate tuning did not finish, or every rate diverged for a model; see \(runs.path)/tune-*/train.log")
            }
            executor.execute(ComparisonPlanner.finalRuns(settings, rates: rates).map { $0.scheduled(settings) }, phase: "final runs")
        }
        try checkReusable(settings, runs)
        let results = try ComparisonResults.collect(settings, runsDirectory: runs)
        for r in results.runs where r.status == .failed {
            printError("[compare] \(r.id) failed: \(r.message ?? "see \(runs.appendingPathComponent(r.id).path)/train.log")")
        }
        try write(results, to: report)
        for line in ComparisonReport.answer(results) { print(line) }
        print("report: \(report.appendingPathComponent("report.html").path)")
        try checkStudyComplete(failed: results.runs.filter { $0.status == .failed }.map(\.id), missing: results.missingRuns)
    }

    /// Refuses to go on when a run directory of this study's plan (tuning runs, and final runs
    /// once the rates are known) was started with other settings.
    private func checkReusable(_ s: ComparisonSettings, _ runs: URL) throws {
        var planned = s.tuning == .budgets ? TuningSweep.currentRuns(s, runsDirectory: runs) : ComparisonPlanner.tuningRuns(s)
        if let (rates, _) = ComparisonResults.chosenLearningRates(s, runsDirectory: runs) { planned += ComparisonPlanner.finalRuns(s, rates: rates) }
        try ScheduledRun.checkReusable(planned.map { $0.scheduled(s) }, in: runs)
    }

    /// Tuning at several budgets: the sweeps' current grids are run, then grown where a best rate
    /// lies on an edge, until every sweep is complete (or a run did not finish). The final runs
    /// of a model whose sweeps are complete run beside a later round's tuning runs (they need
    /// nothing more), so that no job waits idle while another model's grid grows.
    private func tuneByBudget(_ settings: ComparisonSettings, _ executor: RunExecutor, _ runs: URL) throws {
        var expected = Set<String>()
        func expect(_ planned: [PlannedRun]) {
            let new = planned.filter { !expected.contains($0.id) }
            expected.formUnion(new.map(\.id))
            executor.expect(new.map { $0.scheduled(settings) })
        }
        var outcomes = TuningSweep.outcomes(settings, runsDirectory: runs)
        expect(TuningSweep.runs(of: outcomes, settings))
        // final runs at rates not known yet, for the ETA
        executor.expect(ComparisonPlanner.finalRuns(settings, rates: LearningRates(settings, every: -1)).map { $0.scheduled(settings) })
        var round = 0
        while true {
            let current = TuningSweep.runs(of: outcomes, settings)
            expect(current)
            let ready = ComparisonPlanner.finalRuns(settings, rates: TuningSweep.readyRates(settings, outcomes: outcomes)).filter { !$0.lr.isNaN }
            executor.execute((current + ready).map { $0.scheduled(settings) },
                             phase: round == 0 ? "learning-rate tuning" : "learning-rate tuning, grid grown (round \(round + 1))" + (ready.isEmpty ? "" : ", with the final runs of the models already tuned"))
            outcomes = TuningSweep.outcomes(settings, runsDirectory: runs)
            if outcomes.allSatisfy(\.complete) { break }
            // the same runs again: some did not finish, and running them again would not help
            if Set(TuningSweep.runs(of: outcomes, settings).map(\.id)) == Set(current.map(\.id)) { break }
            round += 1
        }
        for o in outcomes where o.complete {
            let shape = o.shape.map { "shape \($0), " } ?? ""
            let best = o.best.map { String(format: "%.2e", $0) } ?? "none (every rate diverged)"
            printError("[compare] \(shape)context \(o.context), \(o.model) at \(o.steps) steps: best rate \(best) of \(o.grid.count)\(o.atEdge ? " — still at the grid's edge" : "")")
        }
    }

    private func makeSettings() throws -> ComparisonSettings {
        guard let data else { throw TrainingError.invalidOption("--data DIR is required (a directory made by `ngpt prepare`)") }
        let dataURL = URL(fileURLWithPath: data).standardizedFileURL
        let dataset = try TokenDataset(directory: dataURL, vocabularySize: shape.vocab)
        let config = try shape.config(kind: .gpt, vocabulary: dataset.vocabularySize)
        let ctx: [Int] = try contexts.map { try parseList($0, "--contexts") } ?? [config.context]
        let steps: [Int] = try parseList(budgets, "--budgets")
        let extraGPT: [Int]
        if gptBudgets == "none" {
            extraGPT = []
        } else {
            let largest = steps.max() ?? 1
            guard !gptBudgets.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw TrainingError.invalidOption("--gpt-budgets is empty: give steps or multiples like 2x,4x, or 'none'")
            }
            extraGPT = try gptBudgets.split(separator: ",", omittingEmptySubsequences: false).map { item in
                let text = item.trimmingCharacters(in: .whitespaces)
                if text.hasSuffix("x"), let m = Double(text.dropLast()), m.isFinite, m > 0, m * Double(largest) < 1e12 {
                    return Int((m * Double(largest)).rounded())
                }
                guard let n = Int(text) else {
                    throw TrainingError.invalidOption("--gpt-budgets: '\(ErrorText.cut(text))' is neither a step count nor a multiple like 2x")
                }
                return n
            }
        }
        let extra: [Int] = extrapolate == "none" ? [] : try parseList(extrapolate, "--extrapolate")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let shapeList: [ModelShape]? = try shapes.map { text in
            if headWidth != nil && shape.heads != nil { throw TrainingError.invalidOption("give --heads (the same number of heads at every shape) or --head-width, not both") }
            if shape.dim != nil { throw TrainingError.invalidOption("--dim is part of each shape with --shapes (WIDTHxLAYERS); leave it out") }
            if shape.layers != nil { throw TrainingError.invalidOption("--layers is part of each shape with --shapes (WIDTHxLAYERS); leave it out") }
            return try text.split(separator: ",").map {
                try ModelShape.parse(String($0), headWidth: headWidth ?? config.headWidth, heads: headWidth == nil ? shape.heads : nil)
            }
        }
        if shapes == nil, headWidth != nil { throw TrainingError.invalidOption("--head-width is for --shapes given as WIDTHxLAYERS") }
        guard let rule = RateRule(rawValue: rateRule) else {
            throw TrainingError.invalidOption("--rate-rule must be log-log or nearest, got '\(ErrorText.cut(rateRule))'")
        }
        let tuneList: [Int]?
        switch tuneBudgets {
        case "ends": tuneList = nil
        case "all": tuneList = steps + extraGPT
        default: tuneList = try parseList(tuneBudgets, "--tune-budgets")
        }
        if tuneBudget != nil && tuneBudgets != "ends" { throw TrainingError.invalidOption("give --tune-budget (one budget) or --tune-budgets, not both") }
        var modelList = try models.map(parseModels)
        for item in modelOptions {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let i = modelList?.firstIndex(where: { $0.name == parts[0] }) else {
                throw TrainingError.invalidOption("--model-options '\(ErrorText.cut(item))' is not NAME=JSON for a model of --models (\((modelList ?? StudyModel.pair).map(\.name).joined(separator: ",")))")
            }
            guard modelList?[i].options == nil else { throw TrainingError.invalidOption("--model-options gives model \(parts[0]) twice") }
            modelList?[i].options = parts[1]
        }
        var fixed: [String: Double]?
        if let lr {
            fixed = [:]
            for item in lr.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let v = Double(parts[1]) else {
                    throw TrainingError.invalidOption("--lr: '\(ErrorText.cut(String(item)))' is not NAME=RATE (e.g. qknorm-gpt=4e-3)")
                }
                guard fixed?[parts[0]] == nil else { throw TrainingError.invalidOption("--lr gives model \(ErrorText.cut(parts[0])) twice") }
                fixed?[parts[0]] = v
            }
        }
        if let fixed, fixed["gpt"] != nil && lrGpt != nil || fixed["ngpt"] != nil && lrNgpt != nil {
            throw TrainingError.invalidOption("give a model's rate once: --lr-gpt/--lr-ngpt or --lr NAME=RATE")
        }
        let s = ComparisonSettings(
            data: dataURL.path, model: config, contexts: ctx, budgets: steps, gptBudgets: extraGPT, seeds: seeds,
            lrGrid: try parseList(lrGrid, "--lr-grid"), lrGPT: lrGpt, lrNGPT: lrNgpt, tuneBudget: tuneBudget,
            tuning: tuneBudget == nil ? .budgets : .separate,
            batchSize: batch, constantTokensPerStep: !fixedBatch, evalBatches: evalBatches, evalPoints: evalPoints, extrapolation: extra,
            precision: paramPrecision, threadsPerRun: threadsPerRun ?? max(1, cores / max(1, jobs)), shapes: shapeList,
            tuneBudgets: tuneList, tuningSeeds: tuningSeeds, gridExtensions: tuneBudget == nil ? gridExtensions : 0, rateRule: rule,
            models: modelList, fixedRates: fixed)
        try s.validate()
        let (perModel, o1) = (ctx.count * s.shapeList.count).multipliedReportingOverflow(by: s.allGPTBudgets.count)
        let (runCount, o2) = perModel.multipliedReportingOverflow(by: s.seeds)
        guard !o1, !o2, runCount <= 1_000_000 else {
            throw TrainingError.invalidOption("--seeds \(s.seeds) with \(ctx.count) context(s) and \(s.budgets.count) budget(s) makes more than a million runs per model; use fewer seeds or budgets")
        }
        // every run must fit (in memory, with `jobs` at once) and every window it reads must
        // exist: fail now, not after hours of training
        // a plan is for other machines (a cluster's nodes): their memory, not this one's, bounds its runs
        let available = plan ? nil : AvailableMemory.bytes().map { $0 / max(1, jobs) }
        for shape in s.shapeList {
        for t in ctx {
            for m in s.modelList {
                var run = PlannedRun(model: m.name, context: t, steps: max(s.allGPTBudgets.max() ?? 1, s.tuneBudget), seed: 0, lr: 1e-3, shape: shape).configuration(s)
                run.training.validationPart = .whole
                run.training.evalBatches = evalBatches
                try Trainer.preflight(run, dataset: dataset,
                                      availableMemory: available, hint: jobs > 1 ? "that is per run, with --jobs \(jobs) at a time; reduce --jobs, --batch, --eval-batches, --contexts or the model's size" : "reduce --batch, --eval-batches, --contexts or the model's size")
            }
        }
        }
        for t in ctx {
            try dataset.train.checkWindow(context: t)
            try dataset.validation.checkWindow(context: t * (extra.max() ?? 1))
            // tuning and reporting each read one half of the validation text
            for run in [PlannedRun(model: s.baseline.name, context: t, steps: 1, seed: 0, lr: 1e-3, purpose: .tuning), PlannedRun(model: s.baseline.name, context: t, steps: 1, seed: 0, lr: 1e-3)] {
                let o = run.configuration(s).training
                let half = o.validationPart.range(in: dataset.validation.count).count
                guard half > t * o.longestMultiple else {
                    throw TrainingError.invalidOption("\(dataset.validation.url.path) has \(dataset.validation.count) tokens; learning rates are chosen on its first half and losses reported on its second, and each half needs more than \(t * o.longestMultiple) tokens (context \(t) × \(o.longestMultiple)); give more validation data, a shorter context or fewer --extrapolate multiples")
                }
            }
        }
        return s
    }

    private func write(_ results: ComparisonResults, to report: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(results).write(to: report.appendingPathComponent("results.json"), options: .atomic)
        try Data(ComparisonReport.markdown(results).utf8).write(to: report.appendingPathComponent("report.md"), options: .atomic)
        try Data(ComparisonReport.html(results).utf8).write(to: report.appendingPathComponent("report.html"), options: .atomic)
    }

    private func writePlan(_ s: ComparisonSettings, _ executor: RunExecutor, _ report: URL) throws {
        let dir = report.appendingPathComponent("plan")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let program = executor.executable.path
        let runsDirectory = report.appendingPathComponent("runs")
        var runs = ComparisonPlanner.tuningRuns(s).map { $0.scheduled(s) }
        var stage = "tuning"
        var later = [ScheduledRun]()
        if s.tuning == .budgets && !TuningSweep.isComplete(s, runsDirectory: runsDirectory) {
            runs = TuningSweep.currentRuns(s, runsDirectory: runsDirectory).map { $0.scheduled(s) }
        } else if let (rates, _) = ComparisonResults.chosenLearningRates(s, runsDirectory: runsDirectory) {
            runs = ComparisonPlanner.finalRuns(s, rates: rates).map { $0.scheduled(s) }
            stage = "final"
        }
        if stage == "tuning" {
            // the final runs, at rates not chosen yet, for the estimate
            later = ComparisonPlanner.finalRuns(s, rates: LearningRates(s, every: 1e-3)).map { $0.scheduled(s) }
        }
        let pending = runs.filter { executor.result($0).status != .finished }
        for run in pending { try executor.writeConfiguration(run) }
        let lines = pending.map { executor.commandLine($0, program: program) }
        let commands = dir.appendingPathComponent("commands.txt")
        try Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8).write(to: commands, options: .atomic)
        try Data(slurmArray(name: "ngpt-compare-\(stage)", count: lines.count, threads: s.threadsPerRun, commands: commands, logs: dir).utf8)
            .write(to: dir.appendingPathComponent("slurm.sh"), options: .atomic)
        print("\(lines.count) \(stage) run(s) written to \(commands.path) (and slurm.sh beside it).")
        if !noEstimate {
            var estimate = CostEstimate()
            let file = dir.appendingPathComponent("estimate.tsv")
            let (now, rest) = try estimate.write(pending, later: later, threads: s.threadsPerRun, to: file)
            print(String(format: "Estimated cost from this machine's training throughput: %.2f core-hours for these runs", now)
                  + (stage == "tuning" ? String(format: ", %.2f for the final runs after them (more if a grid grows)", rest) : "")
                  + " (per run: \(file.path); training steps only, measured with \(s.threadsPerRun) thread(s) per run).")
        }
        if stage == "tuning" {
            print("Run them (e.g. `sbatch \(dir.path)/slurm.sh`), then run this same command again with --plan for the final runs.")
        } else {
            print("Run them, then `ngpt compare --collect --out \(report.path)` builds the report.")
        }
    }

    /// `--models`: a comma-separated list of `ARCHITECTURE` or `NAME=ARCHITECTURE` items, each an
    /// architecture this program knows.
    private func parseModels(_ text: String) throws -> [StudyModel] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try items.map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !item.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else {
                throw TrainingError.invalidOption("--models: '\(ErrorText.cut(item))' is not ARCHITECTURE or NAME=ARCHITECTURE (e.g. gpt,qknorm-gpt,ngpt)")
            }
            let m = parts.count == 2 ? StudyModel(parts[1], name: parts[0]) : StudyModel(parts[0])
            if let problem = m.nameProblem { throw TrainingError.invalidOption("--models: \(problem)") }
            _ = try m.entry()
            return m
        }
    }
}
