import Foundation

/// A JSON file written by ngpt (a run's `config.json`, a comparison's `settings.json`) that
/// cannot be used: its path, what is wrong and what to do, on one line.
public struct ConfigurationFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var hint: String
    public var description: String { "\(path): \(reason). HINT: \(hint)" }
}

enum ConfigurationFile {
    /// Decodes `T` from the JSON file at `url`, every failure as a ``ConfigurationFileError``.
    static func read<T: Decodable>(_: T.Type, from url: URL, what: String, hint: String) throws -> T {
        let path = url.path
        func fail(_ reason: String) -> ConfigurationFileError { ConfigurationFileError(path: path, reason: reason, hint: hint) }
        if let why = ErrorText.notARegularFile(path) { throw fail(why) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw fail(ErrorText.reason(error, path: path)) }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw fail("it is not a valid \(what): \(ErrorText.reason(error))")
        }
    }

    /// `a · b · …`, or nil when the product overflows `Int` (or a factor is negative).
    static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, overflow) = p.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            p = r
        }
        return p
    }
}

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
    func problemInFile() -> String? {
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
    /// - Throws: ``ConfigurationFileError`` naming the file.
    public static func read(from url: URL) throws -> RunConfiguration {
        let hint = "the file was edited or damaged; restore it, or start a new run with `ngpt train --out`"
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

extension ComparisonSettings {
    /// Reads and checks a comparison's `settings.json`: its values, each context's model shape,
    /// and that the number of runs and the tokens of the longest one fit in `Int`.
    ///
    /// - Throws: ``ConfigurationFileError`` naming the file.
    public static func read(from url: URL) throws -> ComparisonSettings {
        let hint = "the file was edited or damaged; run `ngpt compare` again with its options to rewrite it, or use another --out"
        let s = try ConfigurationFile.read(ComparisonSettings.self, from: url, what: "comparison settings file", hint: hint)
        func fail(_ reason: String) -> ConfigurationFileError { ConfigurationFileError(path: url.path, reason: reason, hint: hint) }
        if let problem = s.model.problemInFile() { throw fail(problem) }
        // The number of runs, as the plan lists them, must be a list that can be made.
        guard let finals = ConfigurationFile.product([2, s.contexts.count, s.budgets.count, max(s.seeds, 0)]),
              finals <= 1_000_000, s.lrGrid.count <= 1_000_000 else {
            throw fail("it plans more than a million runs (\(s.contexts.count) contexts × \(s.budgets.count) budgets × \(s.seeds) seeds × 2 models)")
        }
        guard s.extrapolation.allSatisfy({ $0 >= 2 }) else { throw fail("its extrapolation multipliers \(ErrorText.cut("\(s.extrapolation)")) must each be at least 2") }
        do { try s.validate() } catch let e as TrainingError { throw fail("its settings are invalid: \(e.description)") }
        catch let e as ModelConfigError { throw fail("its model is invalid: \(e.message)") }
        guard ConfigurationFile.product([s.budgets.max() ?? 1, s.batchSize, s.contexts.max() ?? 1, s.extrapolation.max() ?? 1]) != nil,
              ConfigurationFile.product([s.tuneBudget, s.batchSize, s.contexts.max() ?? 1]) != nil else {
            throw fail("its budgets, batch size, contexts and extrapolation give more tokens than can be counted")
        }
        return s
    }
}
