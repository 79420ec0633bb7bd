import Foundation
import NGPTNumerics

/// `RUN/status.json`: whether a run is running, finished or failed (with the message), written by
/// the trainer while it holds the run's lock. `ngpt compare` and `--collect` read it.
public struct RunStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case running, finished, failed }

    public var state: State
    /// Optimiser steps taken when the status was written.
    public var step: Int
    /// Why the run failed (one line).
    public var message: String?

    public init(state: State, step: Int, message: String? = nil) {
        self.state = state
        self.step = step
        self.message = message
    }

    public static let file = "status.json"

    /// Writes the status into `directory` atomically.
    public func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent(Self.file), options: .atomic)
    }

    /// The status in `directory`: nil when there is none (a run from before status files, or one
    /// that never started).
    ///
    /// - Throws: ``/NGPTNumerics/ConfigurationFileError`` naming the file when it is damaged.
    public static func read(_ directory: URL) throws -> RunStatus? {
        let url = directory.appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try ConfigurationFile.read(RunStatus.self, from: url, what: "run status",
                                          hint: "the file was edited or damaged; resume the run to rewrite it")
    }
}
