import Foundation
import NGPTNumerics

extension ModelConfig {
    /// An upper bound of the number of parameters (16·d² + 11·d per layer, 2·V·d + V + d
    /// outside), computed without overflow; nil when four bytes per parameter do not fit in
    /// `Int` — such a model can never be allocated.
    public var checkedParameterCount: Int? {
        let d = width, v = vocabularySize
        guard d >= 0, v >= 0, layers >= 0, let dd = ConfigurationFile.product([d, d]) else { return nil }
        let terms = [ConfigurationFile.product([layers, 16, dd]), ConfigurationFile.product([layers, 11, d]),
                     ConfigurationFile.product([2, v, d]), v, d]
        var total = 0
        for term in terms {
            guard let term else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(term)
            if overflow { return nil }
            total = sum
        }
        return total <= Int.max / 4 ? total : nil
    }

    /// Why a shape read from a file cannot be built, or nil. Sizes are bounded before
    /// ``validate()`` runs, and its `--heads` suggestion (an option a file does not have) is
    /// never reached.
    package func problemInFile() -> String? {
        guard vocabularySize >= 2, width >= 2, heads >= 1, layers >= 1, context >= 1 else {
            return "its model has a size below the minimum (vocabulary \(vocabularySize), width \(width), heads \(heads), layers \(layers), context \(context))"
        }
        guard checkedParameterCount != nil else {
            return "its model (vocabulary \(vocabularySize), width \(width), layers \(layers)) is too large to exist"
        }
        guard width % heads == 0, (width / heads) % 2 == 0 else {
            return "its model has \(heads) heads for width \(width); the head width must be a whole, even number"
        }
        do { try validate() } catch { return "its model is invalid: \(error)" }
        return nil
    }
}

extension RunConfiguration {
    /// Reads and checks a run's `config.json`: the shape, the training options, and that the
    /// sizes derived from them (parameters, tokens per step, tokens of the whole run, the longest
    /// evaluation window) fit in `Int`.
    ///
    /// - Throws: ``/NGPTNumerics/ConfigurationFileError`` naming the file.
    public static func read(from url: URL) throws -> RunConfiguration {
        let hint = FileManager.default.fileExists(atPath: url.path)
            ? "the file was edited or damaged; restore it, or start a new run with `ngpt train --out`"
            : "check the path (a run's configuration is RUN/config.json, a study's planned run REPORT/runs/ID/run.json)"
        let run = try ConfigurationFile.read(RunConfiguration.self, from: url, what: "run configuration", hint: hint)
        func fail(_ reason: String) -> ConfigurationFileError { ConfigurationFileError(path: url.path, reason: reason, hint: hint) }
        let m = run.model, t = run.training
        if let problem = m.problemInFile() { throw fail(problem) }
        do { try t.validate() } catch let e as TrainingError { throw fail("its training options are invalid: \(e.description)") }
        guard ConfigurationFile.product([t.steps, t.batchSize, t.gradientAccumulation, m.context]) != nil,
              ConfigurationFile.product([t.batchSize, m.context, t.extrapolation.max() ?? 1]) != nil else {
            throw fail("its steps (\(t.steps)), batch (\(t.batchSize)), accumulation (\(t.gradientAccumulation)), context (\(m.context)) and extrapolation \(t.extrapolation) give more tokens than can be counted")
        }
        return run
    }
}
