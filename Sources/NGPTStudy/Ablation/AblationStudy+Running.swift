import Foundation
import NGPTNumerics
import NGPTModels

extension AblationStudy {
    /// The study's runs with the variant each belongs to.
    func plannedRuns() throws -> [(variant: AblationVariant, run: ScheduledRun)] {
        let rows = try rows()
        return (0..<settings.seeds).flatMap { seed in rows.map { ($0, run($0, seed: seed)) } }
    }

    /// Trains, in this process and one after another, every run of the study that has not
    /// finished in `directory/runs` (an interrupted one continues from its checkpoint), then
    /// writes the report into `directory` and returns its numbers. A run that diverges is
    /// recorded as failed and the study goes on. This is the route for variants written
    /// outside the library (``AblationVariant/architecture``); `ngpt ablate` runs the library's
    /// own variants as child processes instead, several at a time.
    @discardableResult
    public func run(in directory: URL, progress: (ScheduledRun, TrainedRun) -> Void = { _, _ in }) throws -> AblationResults {
        try validate()
        let lock = try RunLock.acquire(directory, creating: true)
        defer { withExtendedLifetime(lock) {} }
        let runs = directory.appendingPathComponent("runs")
        let data = try TokenDataset(directory: URL(fileURLWithPath: settings.data), vocabularySize: settings.model.vocabularySize)
        for (variant, run) in try plannedRuns() {
            let dir = runs.appendingPathComponent(run.id)
            let steps = run.configuration.training.steps, context = run.configuration.model.context
            guard TrainedRun.read(dir, steps: steps, context: context).status != .finished else { continue }
            try run.writeConfiguration(to: dir)
            let trainer = RunDirectory(dir).latestCheckpoint() != nil
                ? try Trainer(resuming: dir, dataset: data, architecture: variant.architecture)
                : try Trainer(run: run.configuration, dataset: data, architecture: variant.architecture?(run.configuration.model))
            do {
                try trainer.train(directory: dir)
            } catch TrainingError.nonFiniteLoss {
                // status.json says it failed and why; the table shows the row as diverged
            }
            progress(run, TrainedRun.read(dir, steps: steps, context: context))
        }
        let results = try AblationResults.collect(self, runsDirectory: runs)
        try AblationReport.write(results, to: directory)
        return results
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
