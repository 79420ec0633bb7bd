import Foundation
import NGPTNumerics
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
/// RUN/tokenizer.json         a copy of the data's tokenizer (subword data only)
/// RUN/checkpoints/step-000120/model.safetensors, optimizer.safetensors
/// RUN/model.safetensors      a hard link to (or copy of) the newest checkpoint's model
/// ```
///
/// A checkpoint is written into `checkpoints/step-N.tmp/`, which first gets a marker file
/// (``partialMarker``, so the directory is recognisably ngpt's own); its files are flushed, the
/// marker is removed, the directory is renamed to `step-N` and `checkpoints/` is flushed: that rename is the commit, so
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

    /// `RUN/tokenizer.json`: the data's tokenizer, copied when a run on subword data starts.
    public var tokenizer: URL { url.appendingPathComponent(TokenDataset.tokenizerFileName) }

    /// The `tokenizer.json` that belongs to a model: for a run directory `RUN/tokenizer.json`;
    /// for a model file the one beside it, else — for a checkpoint's
    /// `RUN/checkpoints/step-N/model.safetensors` — the run's. Nil when there is none (byte-level
    /// runs have none).
    public static func tokenizerFile(forModelAt url: URL) -> URL? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return nil }
        let directory = isDirectory.boolValue ? url : url.deletingLastPathComponent()
        var candidates = [RunDirectory(directory).tokenizer]
        if !isDirectory.boolValue, directory.deletingLastPathComponent().lastPathComponent == checkpointsDirectory {
            candidates.append(RunDirectory(directory.deletingLastPathComponent().deletingLastPathComponent()).tokenizer)
        }
        return candidates.first { fm.fileExists(atPath: $0.path) }
    }

    /// Copies the data's tokenizer file to ``tokenizer`` unless an identical copy is there
    /// (atomically, so a reader never sees half a file).
    public func keepTokenizer(_ source: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: source) } catch {
            throw CheckpointError("cannot read \(source.path) to keep it with the run: \(ErrorText.reason(error, path: source.path))")
        }
        if let existing = try? Data(contentsOf: tokenizer), existing == data { return }
        do { try data.write(to: tokenizer, options: .atomic) } catch {
            throw CheckpointError("cannot write \(tokenizer.path): \(ErrorText.reason(error, path: tokenizer.path)); check the disk")
        }
    }

    /// Whether the directory holds a committed checkpoint (of either layout).
    public var hasCheckpoint: Bool { latestCheckpoint() != nil }

    /// The newest committed checkpoint's model in `directory`, or nil (not a directory, or no
    /// step directory: then `RUN/model.safetensors`, if any, is the model).
    public static func newestModel(in directory: URL) -> URL? {
        RunDirectory(directory).committedSteps().last.map { $0.url.appendingPathComponent(Checkpoint.modelFile) }
    }

    /// Refuses a directory ngpt could not write a run into: `checkpoints` that is not a
    /// directory, or a directory where ngpt writes a file (`model.safetensors`, `config.json`,
    /// `metrics.jsonl`, `status.json`). Checked before the first step, so a run never trains
    /// to find it cannot save.
    public func checkLayout() throws {
        var isDirectory: ObjCBool = false
        if Self.fileType(checkpoints.path) != nil,
           !FileManager.default.fileExists(atPath: checkpoints.path, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw TrainingError.invalidOption("\(checkpoints.path) is not a directory: ngpt keeps the run's checkpoints there; move it out of \(url.path), or choose another --out")
        }
        for name in [Checkpoint.modelFile, "config.json", "metrics.jsonl", RunStatus.file, TokenDataset.tokenizerFileName] {
            let path = url.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw TrainingError.invalidOption("\(path) is a directory: ngpt writes the run's \(name) there; move it out of \(url.path), or choose another --out")
            }
        }
    }

    /// The file a checkpoint's temporary directory (`step-N.tmp/`) gets first, before either
    /// checkpoint file: what marks the directory as ngpt's own. It is removed just before the
    /// directory is renamed into place.
    public static let partialMarker = ".ngpt-partial-checkpoint"

    /// Removes what killed writes of ngpt's own leave behind, and nothing else: in
    /// `checkpoints/`, `step-N.tmp` directories holding only the files a checkpoint write
    /// creates there; at the top, `.model.safetensors.<pid>.<n>.tmp` and
    /// `.optimizer.safetensors.<pid>.<n>.tmp` (``/NGPTNumerics/SafeTensorsFile`` writes),
    /// `.model.safetensors.link` (``refreshTopLevelModel()``) and Foundation's
    /// `.dat.nosync<PID in hex>.<6 letters or digits>` (atomic writes of `config.json`,
    /// `status.json`, `metrics.jsonl`). Anything else in the directory — a user's
    /// `checkpoints/best/`, `.notes.tmp` — is left alone. Call only while holding the
    /// directory's ``RunLock``, once the start is accepted.
    ///
    /// - Returns: the entries of `checkpoints/` that ngpt did not write (left as they are).
    @discardableResult
    public func removeStaleTemporaries() -> [String] {
        let fm = FileManager.default
        var foreign = [String]()
        for name in (try? fm.contentsOfDirectory(atPath: checkpoints.path)) ?? [] where Self.step(ofName: name) == nil {
            let entry = checkpoints.appendingPathComponent(name)
            if Self.isOwnTemporaryStepDirectory(entry) {
                try? fm.removeItem(at: entry)
            } else {
                foreign.append(name)
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? [] where Self.isOwnTemporaryFile(name) {
            let entry = url.appendingPathComponent(name)
            if Self.fileType(entry.path) == S_IFREG { unlink(entry.path) }
        }
        return foreign.sorted()
    }

    /// Whether `name` is a hidden temporary file ngpt writes at the top of a run directory.
    static func isOwnTemporaryFile(_ name: String) -> Bool {
        name == linkName
            || isSafeTensorsTemporary(name, of: [Checkpoint.modelFile, Checkpoint.optimizerFile])
            || isFoundationTemporary(name)
    }

    /// `.model.safetensors.link`: the next top-level model before it is renamed into place.
    static let linkName = ".\(Checkpoint.modelFile).link"

    /// `.<file>.<pid>.<n>.tmp` for one of `files`, as ``/NGPTNumerics/SafeTensorsFile`` names its temporary
    /// file (both numbers in decimal).
    static func isSafeTensorsTemporary(_ name: String, of files: [String]) -> Bool {
        guard name.hasSuffix(temporarySuffix) else { return false }
        for file in files where name.hasPrefix("." + file + ".") {
            let middle = name.dropFirst(file.count + 2).dropLast(temporarySuffix.count)
            let parts = middle.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) { return true }
        }
        return false
    }

    /// `.dat.nosync<PID in upper-case hex>.<6 letters or digits>`: the temporary file of
    /// Foundation's atomic `Data.write` (`mktemp`'s six characters).
    static func isFoundationTemporary(_ name: String) -> Bool {
        let prefix = ".dat.nosync"
        guard name.hasPrefix(prefix) else { return false }
        let parts = name.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let pid = parts[0], random = parts[1]
        return !pid.isEmpty && pid.allSatisfy { $0.isASCII && ($0.isNumber || ("A"..."F").contains($0)) }
            && random.count == 6 && random.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    /// `step-N.tmp`, the name a checkpoint has while it is written.
    static func isTemporaryStepName(_ name: String) -> Bool {
        name.hasSuffix(temporarySuffix) && step(ofName: String(name.dropLast(temporarySuffix.count))) != nil
    }

    /// Whether `directory` is a checkpoint write of ngpt's own cut short: named `step-N.tmp`, a
    /// real directory (not a link), holding only regular files named as a checkpoint write
    /// names them (the marker, the two checkpoint files and their temporaries). Older versions
    /// wrote no marker; their leftovers hold only the checkpoint files.
    static func isOwnTemporaryStepDirectory(_ directory: URL) -> Bool {
        guard isTemporaryStepName(directory.lastPathComponent), fileType(directory.path) == S_IFDIR,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return false }
        let files = [Checkpoint.modelFile, Checkpoint.optimizerFile]
        return names.allSatisfy { name in
            (name == partialMarker || files.contains(name) || isSafeTensorsTemporary(name, of: files))
                && fileType(directory.appendingPathComponent(name).path) == S_IFREG
        }
    }

    /// The type bits of `path` itself (`S_IFREG`, `S_IFDIR`, `S_IFLNK`, …; links not followed),
    /// or nil when it does not exist.
    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
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
            if Self.fileType(temporary.path) != nil {
                guard Self.isOwnTemporaryStepDirectory(temporary) else {
                    throw CheckpointError("\(temporary.path) is in the way of this checkpoint and holds files ngpt did not write; move it out of \(checkpoints.path)")
                }
                try? fm.removeItem(at: temporary)
            }
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
            do {
                try Self.writeMarker(in: temporary)
                try write(temporary)
                unlink(temporary.appendingPathComponent(Self.partialMarker).path)
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

    /// Creates the ``partialMarker`` in a fresh temporary step directory.
    static func writeMarker(in directory: URL) throws {
        let path = directory.appendingPathComponent(partialMarker).path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError("cannot create \(path): \(String(cString: strerror(errno))); check the disk")
        }
        let text = Array("a checkpoint ngpt was writing; a run that is resumed removes this directory\n".utf8)
        _ = text.withUnsafeBytes { posixWrite(fd, $0.baseAddress!, $0.count) }
        close(fd)
    }

    /// Points `RUN/model.safetensors` at the newest checkpoint's model: a hard link (a copy where
    /// the file system has none) renamed over the old name, so it is always a whole file.
    public func refreshTopLevelModel() throws {
        guard let newest = committedSteps().last else { return }
        let source = newest.url.appendingPathComponent(Checkpoint.modelFile)
        var a = stat(), b = stat()
        if stat(source.path, &a) == 0, stat(topLevelModel.path, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino { return }
        let link = url.appendingPathComponent(Self.linkName)
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
