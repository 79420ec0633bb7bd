import Foundation
import NGPT

/// Which study a report directory's `settings.json` belongs to, recognised by the keys each
/// study writes (a comparison's `budgets` and `lrGrid`, an ablation's `budget` and
/// `variants`), so that one study never takes another's directory for its own.
enum StudyKind: CaseIterable {
    case comparison, ablation

    /// `ngpt compare`, `ngpt ablate`.
    var command: String {
        switch self {
        case .comparison: "ngpt compare"
        case .ablation: "ngpt ablate"
        }
    }

    /// "a comparison", "an ablation study".
    var what: String {
        switch self {
        case .comparison: "a comparison"
        case .ablation: "an ablation study"
        }
    }

    /// The study whose settings `url` holds, or nil (no such file, not a JSON object, or the
    /// keys of neither study). Files over 16 MB are no study's.
    static func of(settingsFile url: URL) -> StudyKind? {
        guard ErrorText.notARegularFile(url.path) == nil,
              let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size <= 16 << 20,
              let data = try? Data(contentsOf: url),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        let keys = Set(object.keys)
        if keys.isSuperset(of: ["budgets", "lrGrid"]) { return .comparison }
        if keys.isSuperset(of: ["budget", "variants"]) { return .ablation }
        return nil
    }

    /// The study `command` (as ``openStudy(_:command:what:collect:read:make:)`` is given it) runs.
    static func running(_ command: String) -> StudyKind? { allCases.first { $0.command == command } }
}

/// Why `settingsURL` cannot be taken as the settings of the study `command` runs, after `read`
/// failed with `error`: another study's directory, or a file this study cannot read. Either
/// way the file is left as it is.
func foreignStudyError(_ settingsURL: URL, command: String, what: String, error: Error) -> TrainingError {
    let report = settingsURL.deletingLastPathComponent().path
    if let other = StudyKind.of(settingsFile: settingsURL), other != StudyKind.running(command) {
        return .invalidOption("\(report) holds \(other.what) (made by `\(other.command)`), not \(what); `\(command)` leaves it as it is: use another --out (`\(other.command) --collect --out \(report)` reports that study)")
    }
    let reason = (error as? ConfigurationFileError)?.reason ?? ErrorText.reason(error, path: settingsURL.path)
    return .invalidOption("\(settingsURL.path) cannot be read as the settings of \(what) (\(reason)); `\(command)` leaves it as it is: use another --out, or move the file away to start \(what) in \(report)")
}

/// Refuses `directory` as a run directory when it is a study's report directory (its
/// `settings.json` is a comparison's or an ablation's).
func checkNotAReportDirectory(_ directory: URL) throws {
    guard let study = StudyKind.of(settingsFile: directory.appendingPathComponent("settings.json")) else { return }
    throw TrainingError.invalidOption("\(directory.path) is the report directory of \(study.what) (made by `\(study.command)`; its runs are in \(directory.appendingPathComponent("runs").path)), not a run directory; use another --out")
}
