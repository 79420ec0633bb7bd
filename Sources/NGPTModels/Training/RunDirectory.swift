import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a run directory keeps its checkpoints, and how one is committed.
///
/// ```
/// RUN/config.json, metrics.jsonl, .lock
/// RUN/checkpoints/step-000120/model.safetensors, optimizer.safetensors
/// RUN/model.safetensors      a hard link to (or copy of) the newest checkpoint's model
/// ```
///
/// A checkpoint is written into `checkpoints/step-N.tmp/`; its files are flushed, the
/// directory is renamed to `step-N` and `checkpoints/` is flushed: that rename is the commit, so
/// a checkpoint directory without the suffix is always complete. Only then are older step
/// directories removed, so a kill at any moment leaves at least one complete checkpoint (once
/// the first is committed). Resuming loads the step directory with the largest step.
/// `RUN/model.safetensors` is refreshed after each commit for readers outside ngpt; after a kill
/// it can be one checkpoint behind until the run is resumed, so ngpt's own readers use
/// ``newestModel(in:)``. Runs written before this layout (`model.safetensors` and
/// `optimizer.safetensors` at the top) still resume.
public struct RunDirectory: Sendable {
    public static let checkpointsDirectory = "checkpoints"
    static let temporarySuffix = ".tmp"

    public let url: URL
    public init(_ url: URL) { self.url = url }

    /// One complete checkpoint's files.
    public struct CheckpointFiles: Sendable, Equatable {
        /// The step from the directory's name; nil for the old two-file layout.
        public var step: Int?
        public var model: URL
        public var optimizer: URL
    }

    public var checkpoints: URL { url.appendingPathComponent(Self.checkpointsDirectory) }
    public var topLevelModel: URL { url.appendingPathComponent(Checkpoint.modelFile) }
    var legacyOptimizer: URL { url.appendingPathComponent(Checkpoint.optimizerFile) }

    /// `step-000120`: zero-padded so that names sort by step (larger steps just get longer).
    static func stepName(_ step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The step of a committed checkpoint directory's name, or nil for anything else.
    static func step(ofName name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        let digits = name.dropFirst(5)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// Committed step directories, by step.
    func committedSteps() -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
        return names.compactMap { name in Self.step(ofName: name).map { ($0, checkpoints.appendingPathComponent(name)) } }
            .sorted { $0.step < $1.step }
    }

    /// The checkpoint a resume continues from: the newest committed step directory, else the
    /// old two-file layout, else nil (nothing committed yet).
    public func latestCheckpoint() -> CheckpointFiles? {
        let fm = FileManager.default
        if let newest = committedSteps().last {
            return CheckpointFiles(step: newest.step, model: newest.url.appendingPathComponent(Checkpoint.modelFile),
                                   optimizer: newest.url.appendingPathComponent(Checkpoint.optimizerFile))
        }
        if fm.fileExists(atPath: topLevelModel.path) && fm.fileExists(atPath: legacyOptimizer.path) {
            return CheckpointFiles(step: nil, model: topLevelModel, optimizer: legacyOptimizer)
        }
        return nil
    }

    /// Whether the directory holds a committed checkpoint (of either layout).
    public var hasCheckpoint: Bool { latestCheckpoint() != nil }

    /// The newest committed checkpoint's model in `directory`, or nil (not a directory, or no
    /// step directory: then `RUN/model.safetensors`, if any, is the model).
    public static func newestModel(in directory: URL) -> URL? {
        RunDirectory(directory).committedSteps().last.map { $0.url.appendingPathComponent(Checkpoint.modelFile) }
    }

    /// Removes what killed writes leave behind: unfinished step directories and hidden
    /// temporary files. Call only while holding the directory's ``RunLock``.
    public func removeStaleTemporaries() {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: checkpoints.path)) ?? [] where Self.step(ofName: name) == nil {
            try? fm.removeItem(at: checkpoints.appendingPathComponent(name))
        }
        // `.model.safetensors.<pid>.<n>.tmp` (SafeTensorsFile.write), `.model.safetensors.link`
        // (refreshTopLevelModel) and Foundation's `.dat.nosync…` (atomic config/metrics writes)
        for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
        where name.hasPrefix(".") && (name.hasSuffix(Self.temporarySuffix) || name.hasSuffix(".link") || name.hasPrefix(".dat.nosync")) {
            try? fm.removeItem(at: url.appendingPathComponent(name))
        }
    }

    /// Commits the checkpoint of `step`: `write` fills a fresh directory (each file written
    /// atomically, hence flushed), which is then renamed into place; then the top-level model is
    /// refreshed and older checkpoints are removed. Call only while holding the ``RunLock``.
    public func commitCheckpoint(step: Int, write: (URL) throws -> Void) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: checkpoints.path) {
            try fm.createDirectory(at: checkpoints, withIntermediateDirectories: true)
            Self.syncDirectory(url)
        }
        let final = checkpoints.appendingPathComponent(Self.stepName(step))
        if fm.fileExists(atPath: final.path) {
            // The same step again (a caller saving twice): the files are replaced one at a time,
            // each atomically; either version of a file is a state of this same step.
            try write(final)
        } else {
            let temporary = checkpoints.appendingPathComponent(Self.stepName(step) + Self.temporarySuffix)
            try? fm.removeItem(at: temporary)
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
            do {
                try write(temporary)
                guard rename(temporary.path, final.path) == 0 else {
                    throw CheckpointError("cannot rename \(temporary.path) to \(final.path): \(String(cString: strerror(errno))); check the disk")
                }
            } catch {
                try? fm.removeItem(at: temporary)
                throw error
            }
            Self.syncDirectory(checkpoints)
        }
        try refreshTopLevelModel()
        for old in committedSteps() where old.step != step { try? fm.removeItem(at: old.url) }
        // an old-layout run's optimiser file is superseded by the first committed step directory
        if fm.fileExists(atPath: legacyOptimizer.path) { try? fm.removeItem(at: legacyOptimizer) }
    }

    /// Points `RUN/model.safetensors` at the newest checkpoint's model: a hard link (a copy where
    /// the file system has none) renamed over the old name, so it is always a whole file.
    public func refreshTopLevelModel() throws {
        guard let newest = committedSteps().last else { return }
        let source = newest.url.appendingPathComponent(Checkpoint.modelFile)
        var a = stat(), b = stat()
        if stat(source.path, &a) == 0, stat(topLevelModel.path, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino { return }
        let link = url.appendingPathComponent(".\(Checkpoint.modelFile).link")
        unlink(link.path)
        if hardLink(source.path, link.path) != 0 {
            do { try FileManager.default.copyItem(at: source, to: link) } catch {
                throw CheckpointError("cannot copy \(source.path) to \(link.path) (\(error.localizedDescription)); check the disk")
            }
            let fd = open(link.path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { _ = fsync(fd); close(fd) }
        }
        guard rename(link.path, topLevelModel.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(link.path)
            throw CheckpointError("cannot replace \(topLevelModel.path): \(reason); check the disk")
        }
        Self.syncDirectory(url)
    }

    /// Flushes a directory's entries (renames, creations) to disk; best effort.
    static func syncDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

/// `link(2)`, under a name that does not clash with the local variable above.
private func hardLink(_ source: String, _ destination: String) -> Int32 {
    #if canImport(Glibc)
    return Glibc.link(source, destination)
    #elseif canImport(Musl)
    return Musl.link(source, destination)
    #else
    return Darwin.link(source, destination)
    #endif
}
