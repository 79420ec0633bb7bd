import Foundation
import NGPT
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Stops a study (`ngpt compare`, `ngpt ablate`) together with its runs. The child
/// `ngpt train` processes run in process groups of their own, so a Ctrl-C at the terminal,
/// `kill` or `timeout` reaches the study only: SIGINT, SIGTERM and SIGHUP to the study are
/// forwarded to every running child, which stops as an interrupted run does (its newest
/// checkpoint kept; running the study again resumes it); once every child has exited the study
/// exits with status 128 + the signal. No run starts after the signal.
///
/// The signal handler only writes the signal's number to a pipe (what a handler may do); a
/// thread of its own reads it and does the rest. A signal ignored when the study started (`nohup`,
/// a background job's SIGINT) stays ignored, and so it does for the children.
enum StudyInterruption {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed = false
    nonisolated(unsafe) private static var running = Set<Int32>()
    nonisolated(unsafe) private static var stopping: Int32 = 0
    nonisolated(unsafe) private static var label = "study"
    /// The pipe's write end, read by the handler.
    nonisolated(unsafe) fileprivate static var writeEnd: Int32 = -1

    static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// Installs the handlers (once per process); `label` names the study in its messages.
    static func install(label: String) {
        lock.lock()
        defer { lock.unlock() }
        Self.label = label
        guard !installed else { return }
        installed = true
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        writeEnd = ends[1]
        let readEnd = ends[0]
        for signal in signals {
            var previous = sigaction()
            guard sigaction(signal, nil, &previous) == 0, !isIgnored(previous) else { continue }
            var action = sigaction()
            setHandler(&action)
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n == 1 { stop(Int32(byte)) }
                if n == 0 || (n < 0 && errno != EINTR) { return }
            }
        }
        thread.name = "ngpt-study-signals"
        thread.start()
    }

    /// Whether a signal has asked the study to stop.
    static var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping != 0
    }

    /// Starts `process` and records it as a running child, unless the study is stopping (then
    /// returns false and starts nothing). The two happen under one lock, so a signal either
    /// finds the child or prevents it.
    static func launch(_ process: Process) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard stopping == 0 else { return false }
        try process.run()
        running.insert(process.processIdentifier)
        return true
    }

    /// Records that the child `pid` has exited (its termination handler calls this).
    static func exited(_ pid: Int32) {
        lock.lock()
        running.remove(pid)
        lock.unlock()
    }

    /// Blocks the calling thread for good once the study is stopping: the signal thread ends the
    /// process when the children have exited, and nothing else may run meanwhile.
    static func waitIfStopping() {
        guard isStopping else { return }
        while true { sleep(60) }
    }

    /// Forwards `signal` to every running child, waits for them to exit (up to a minute, then
    /// SIGKILL), and exits with 128 + `signal`.
    private static func stop(_ signal: Int32) {
        lock.lock()
        let first = stopping == 0
        if first { stopping = signal }
        let children = running
        let label = Self.label
        lock.unlock()
        guard first else { return }
        let name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : signal == SIGHUP ? "SIGHUP" : "signal \(signal)"
        if !children.isEmpty {
            printError("[\(label)] \(name): stopping \(children.count) running run(s)")
        }
        for pid in children { kill(pid, signal) }
        var remaining = children
        for (limit, escalate) in [(60.0, true), (10.0, false)] {
            let deadline = Date().addingTimeInterval(limit)
            while Date() < deadline {
                lock.lock()
                remaining = running
                lock.unlock()
                if remaining.isEmpty { break }
                usleep(20_000)
            }
            guard !remaining.isEmpty, escalate else { break }
            for pid in remaining { kill(pid, SIGKILL) }
        }
        printError("[\(label)] interrupted by \(name)" + (children.isEmpty ? "" : ": \(children.count - remaining.count) run(s) stopped")
                   + (remaining.isEmpty ? "" : ", \(remaining.count) did not exit (PID \(remaining.sorted().map(String.init).joined(separator: ", ")))")
                   + "; run the same command again to continue")
        exit(128 + signal)
    }

    private static func isIgnored(_ action: sigaction) -> Bool {
        #if canImport(Darwin)
        return unsafeBitCast(action.__sigaction_u.__sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
        #else
        return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
        #endif
    }

    private static func setHandler(_ action: inout sigaction) {
        #if canImport(Darwin)
        action.__sigaction_u.__sa_handler = studySignalHandler
        #else
        action.__sigaction_handler.sa_handler = studySignalHandler
        #endif
    }
}

/// The signal handler: writes the signal's number to ``StudyInterruption``'s pipe, nothing else.
private func studySignalHandler(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(StudyInterruption.writeEnd, &byte, 1)
}

/// Ends a study whose conclusion lacks runs: when any run `failed` or is `missing` (their ids),
/// throws "the conclusion is incomplete", naming them, so that the study exits non-zero after
/// writing its report.
func checkStudyComplete(failed: [String], missing: [String]) throws {
    let count = failed.count + missing.count
    guard count > 0 else { return }
    let what = failed.isEmpty ? "missing" : missing.isEmpty ? "failed" : "failed or missing"
    let items = failed.isEmpty || missing.isEmpty ? (failed + missing).map { ErrorText.cut($0, limit: 120) }
        : failed.map { "\(ErrorText.cut($0, limit: 120)) (failed)" } + missing.map { "\(ErrorText.cut($0, limit: 120)) (missing)" }
    let shown = items.prefix(8).joined(separator: ", ") + (items.count > 8 ? " and \(items.count - 8) more" : "")
    let hint = [failed.isEmpty ? nil : "a failed run's train.log (in its run directory) says why it failed",
                missing.isEmpty ? nil : "running the same command again trains the missing runs"].compactMap { $0 }.joined(separator: "; ")
    throw TrainingError.invalidOption("the conclusion is incomplete: \(count) run(s) \(what): \(shown); the report was written without their results. HINT: \(hint)")
}
