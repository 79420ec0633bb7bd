import Foundation
import NGPT

/// Runs the scheduled runs of a study (`compare`, `ablate`) as `ngpt train --config` child
/// processes, `jobs` at a time, skipping finished runs and continuing interrupted ones
/// (`--resume-existing`), with one progress line per finished run on stderr. Child processes
/// finish on other threads; the progress counters are only touched under `lock`, hence
/// `@unchecked Sendable`.
final class RunExecutor: @unchecked Sendable {
    let runsDirectory: URL
    let jobs: Int
    let threadsPerRun: Int
    let executable: URL
    /// The study's name in progress lines.
    let label: String
    private let lock = NSLock()
    private let start = Date()
    private var doneCost = 0.0, totalCost = 0.0, finished = 0, total = 0

    init(runsDirectory: URL, jobs: Int, threadsPerRun: Int, label: String = "compare") {
        self.runsDirectory = runsDirectory
        self.jobs = jobs
        self.threadsPerRun = threadsPerRun
        self.label = label
        executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        StudyInterruption.install(label: label)
    }

    func directory(_ run: ScheduledRun) -> URL { runsDirectory.appendingPathComponent(run.id) }

    func result(_ run: ScheduledRun) -> TrainedRun {
        TrainedRun.read(directory(run), steps: run.configuration.training.steps, context: run.configuration.model.context)
    }

    /// Adds runs to the progress accounting (so the ETA covers the whole plan).
    func expect(_ runs: [ScheduledRun]) {
        let pending = runs.filter { result($0).status != .finished }
        total += pending.count
        totalCost += pending.reduce(0) { $0 + $1.work }
    }

    /// The runs' environment: this process's, with `OPENBLAS_NUM_THREADS=1`. The library runs
    /// every GEMM on one OpenBLAS thread and splits work over threads of its own (`Threads`,
    /// set by `--threads`), so OpenBLAS's worker threads are never given work; started, they
    /// still poll now and then, about 2 % of a one-thread run's CPU time, which two runs at a time
    /// on two cores take from each other. Started with this, OpenBLAS starts none (the same
    /// results).
    static let runEnvironment = ProcessInfo.processInfo.environment.merging(runSettings) { _, setting in setting }

    /// What ``runEnvironment`` sets.
    static let runSettings = ["OPENBLAS_NUM_THREADS": "1"]

    /// The `ngpt train` arguments that perform `run` from its configuration file (written by
    /// ``writeConfiguration(_:)``): the file says what to train, the options only where and how.
    func trainArguments(_ run: ScheduledRun) -> [String] {
        let dir = directory(run)
        return ["train", "--config", dir.appendingPathComponent(ScheduledRun.configurationFile).path, "--out", dir.path,
                "--resume-existing", "--threads", "\(threadsPerRun)"]
    }

    /// Writes `run`'s configuration file into its directory.
    func writeConfiguration(_ run: ScheduledRun) throws {
        try run.writeConfiguration(to: directory(run))
    }

    /// The shell line that performs `run` (the same one `--plan` writes), in ``runEnvironment``;
    /// its configuration file must have been written.
    func commandLine(_ run: ScheduledRun, program: String) -> String {
        let dir = directory(run).path
        let settings = Self.runSettings.sorted { $0.key < $1.key }.map { "\($0.key)=\(quote($0.value))" }
        return (settings + [quote(program)] + trainArguments(run).map(quote)).joined(separator: " ")
            + " 2>> \(quote(dir + "/train.log"))"
    }

    /// Executes every run not yet finished. Failed runs (e.g. diverged) are reported, not fatal.
    /// SIGINT, SIGTERM or SIGHUP stops every running child and then the study
    /// (``StudyInterruption``); no run starts after it.
    func execute(_ runs: [ScheduledRun], phase: String) {
        let pending = ScheduledRun.startingOrder(runs.filter { result($0).status != .finished })
        if pending.isEmpty { return }
        printError("[\(label)] \(phase): \(pending.count) run(s) to do (\(runs.count - pending.count) already finished), \(jobs) at a time")
        let slots = DispatchSemaphore(value: jobs)
        let group = DispatchGroup()
        for run in pending {
            slots.wait()
            if StudyInterruption.isStopping { slots.signal(); break }
            group.enter()
            let dir = directory(run)
            do {
                try writeConfiguration(run)
                let log = dir.appendingPathComponent("train.log")
                if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
                let handle = try FileHandle(forWritingTo: log)
                try handle.seekToEnd()
                let p = Process()
                p.executableURL = executable
                p.arguments = trainArguments(run)
                p.environment = Self.runEnvironment
                p.standardError = handle
                p.standardOutput = handle
                p.terminationHandler = { [self] proc in
                    try? handle.close()
                    if !StudyInterruption.isStopping { finish(run, status: proc.terminationStatus) }
                    StudyInterruption.exited(proc.processIdentifier)
                    slots.signal()
                    group.leave()
                }
                guard try StudyInterruption.launch(p) else {
                    try? handle.close()
                    slots.signal()
                    group.leave()
                    break
                }
            } catch {
                printError("[\(label)] could not start \(run.id): \(error)")
                finish(run, status: -1)
                slots.signal()
                group.leave()
            }
        }
        group.wait()
        StudyInterruption.waitIfStopping()
    }

    private func finish(_ run: ScheduledRun, status: Int32) {
        let r = result(run)
        lock.lock()
        defer { lock.unlock() }
        finished += 1
        doneCost += run.work
        let elapsed = Date().timeIntervalSince(start)
        let eta = doneCost > 0 ? elapsed / doneCost * (totalCost - doneCost) : .nan
        let outcome: String
        switch r.status {
        case .finished: outcome = String(format: "val %.4f, %@", r.finalValLoss ?? .nan, formatDuration(r.seconds ?? 0))
        case .failed: outcome = "FAILED: " + (r.message ?? "see \(directory(run).path)/train.log")
        case .incomplete: outcome = "did not finish (exit \(status)); see \(directory(run).path)/train.log"
        }
        printError("[\(label)] \(finished)/\(total) \(run.id): \(outcome) — elapsed \(formatDuration(elapsed)), ETA \(formatDuration(eta))")
    }
}

/// A study's report directory (`ngpt compare`, `ngpt ablate`), locked for this process: with
/// `collect` and no new settings, the settings it holds; otherwise `make()`'s, written to
/// `DIR/settings.json` after checking that the directory does not hold a study with other
/// settings (the same settings resume it). A `settings.json` that `read` cannot take — another
/// study's, or a damaged or foreign file — is refused, never overwritten.
func openStudy<Settings: Codable & Equatable>(_ report: URL, command: String, what: String, collect: Bool,
                                              read: (URL) throws -> Settings,
                                              make: () throws -> Settings) throws -> (settings: Settings, lock: RunLock) {
    let settingsURL = report.appendingPathComponent("settings.json")
    if collect {
        guard FileManager.default.fileExists(atPath: settingsURL.path) else {
            throw TrainingError.invalidOption("\(settingsURL.path) not found: --collect needs a report directory made by `\(command)` or `\(command) --plan`")
        }
        let lock = try RunLock.acquire(report)
        do {
            return (try read(settingsURL), lock)
        } catch {
            throw foreignStudyError(settingsURL, command: command, what: what, error: error)
        }
    }
    let settings = try make()
    let lock = try RunLock.acquire(report, creating: true)
    do {
        if (try? FileManager.default.attributesOfItem(atPath: settingsURL.path)) != nil {
            let saved: Settings
            do { saved = try read(settingsURL) } catch { throw foreignStudyError(settingsURL, command: command, what: what, error: error) }
            guard saved == settings else {
                throw TrainingError.invalidOption("\(report.path) holds \(what) with other settings; use another --out (or the same options to resume it)")
            }
        }
        try FileManager.default.createDirectory(at: report.appendingPathComponent("runs"), withIntermediateDirectories: true)
    } catch {
        lock.discardIfCreated()
        throw error
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(settings).write(to: settingsURL, options: .atomic)
    return (settings, lock)
}

/// A Slurm job-array script whose task i runs line i of `commands`.
func slurmArray(name: String, count: Int, threads: Int, commands: URL, logs: URL) -> String {
    """
    #!/bin/bash
    # Slurm job array: task i runs line i of commands.txt.
    #SBATCH --job-name=\(name)
    #SBATCH --array=1-\(max(count, 1))
    #SBATCH --cpus-per-task=\(threads)
    #SBATCH --output=\(logs.path)/slurm-%A_%a.out
    set -euo pipefail
    line=$(sed -n "${SLURM_ARRAY_TASK_ID}p" \(quote(commands.path)))
    [ -n "$line" ] || exit 0
    eval "$line"

    """
}

/// Single-quotes `s` for a POSIX shell.
func quote(_ s: String) -> String {
    if s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=,:+".contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
