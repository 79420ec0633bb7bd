import Foundation
import NGPTNumerics
import NGPTModels

extension AblationStudy {
    /// Trains, in this process and one after another, every run of the study that has not
    /// finished in `directory/runs` (an interrupted one continues from its checkpoint) — the
    /// tuning runs first, then every row whose inputs they determine, round by round until
    /// nothing new can run — then writes the report into `directory` and returns its numbers. A
    /// run that diverges is recorded as failed and the study goes on. This is the route for
    /// variants written outside the library (``AblationVariant/architecture``); `ngpt ablate`
    /// runs the library's own variants as child processes instead, several at a time.
    @discardableResult
    public func run(in directory: URL, progress: (ScheduledRun, TrainedRun) -> Void = { _, _ in }) throws -> AblationResults {
        try validate()
        let lock = try RunLock.acquire(directory, creating: true)
        defer { withExtendedLifetime(lock) {} }
        let runs = directory.appendingPathComponent("runs")
        let data = try TokenDataset(directory: URL(fileURLWithPath: settings.data), vocabularySize: settings.model.vocabularySize)
        var tried = Set<String>()
        while true {
            let current = try currentRunsByRow(try inputs(runsDirectory: runs)).filter { !tried.contains($0.run.id) }
            if current.isEmpty { break }
            for (row, run) in current {
                tried.insert(run.id)
                let dir = runs.appendingPathComponent(run.id)
                let steps = run.configuration.training.steps, context = run.configuration.model.context
                guard TrainedRun.read(dir, steps: steps, context: context).status != .finished else { continue }
                try run.writeConfiguration(to: dir)
                let architecture = variants.first { $0.name == row }?.architecture
                let trainer = RunDirectory(dir).latestCheckpoint() != nil
                    ? try Trainer(resuming: dir, dataset: data, architecture: architecture)
                    : try Trainer(run: run.configuration, dataset: data, architecture: architecture?(run.configuration.model))
                do {
                    try trainer.train(directory: dir)
                } catch TrainingError.nonFiniteLoss {
                    // status.json says it failed and why; the table shows the row as diverged
                }
                progress(run, TrainedRun.read(dir, steps: steps, context: context))
            }
        }
        let results = try AblationResults.collect(self, runsDirectory: runs)
        try AblationReport.write(results, to: directory)
        return results
    }

    /// ``currentRuns(_:)`` with the row each run trains (a tuning run's row is the one tuned):
    /// the tuning runs of the current grids, then the reported runs, seed by seed, so that an
    /// interrupted study has every row at the first seeds.
    func currentRunsByRow(_ inputs: Inputs) throws -> [(row: String, run: ScheduledRun)] {
        let tuning = inputs.tuning.flatMap { o in
            o.search.grid.flatMap { lr in
                settings.tuningSeedList.map { (row: o.row, run: tuningRun(TuningCell(row: o.row, weightDecay: o.weightDecay), lr: lr, seed: $0)) }
            }
        }
        let rows = try rows()
        let finals = (0..<settings.seeds).flatMap { seed in rows.compactMap { v in run(v, seed: seed, inputs: inputs).map { (row: v.name, run: $0) } } }
        return tuning + finals
    }
}

extension AblationReport {
    /// Writes `results.json`, `report.md` and `report.html` into `directory`.
    public static func write(_ results: AblationResults, to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(results).write(to: directory.appendingPathComponent("results.json"), options: .atomic)
        try Data(markdown(results).utf8).write(to: directory.appendingPathComponent("report.md"), options: .atomic)
        try Data(html(results).utf8).write(to: directory.appendingPathComponent("report.html"), options: .atomic)
    }
}

extension AblationSettings {
    /// Reads and checks an ablation study's `settings.json`.
    ///
    /// - Throws: ``/NGPTNumerics/ConfigurationFileError`` naming the file.
    public static func read(from url: URL) throws -> AblationSettings {
        let hint = "the file was edited or damaged; run `ngpt ablate` again with its options to rewrite it, or use another --out"
        let s = try ConfigurationFile.read(AblationSettings.self, from: url, what: "ablation settings file", hint: hint)
        func fail(_ reason: String) -> ConfigurationFileError { ConfigurationFileError(path: url.path, reason: reason, hint: hint) }
        if let problem = s.model.problemInFile() { throw fail(problem) }
        guard ConfigurationFile.product([max(s.budget, 0), max(s.batchSize, 0), max(s.model.context, 0)]) != nil,
              s.variants.count <= 10_000 else {
            throw fail("its budget, batch and context give more tokens than can be counted")
        }
        do { try s.validate() } catch let e as TrainingError { throw fail("its settings are invalid: \(e.description)") }
        catch let e as ModelConfigError { throw fail("its model is invalid: \(e.message)") }
        return s
    }
}
