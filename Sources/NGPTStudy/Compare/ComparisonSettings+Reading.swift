import Foundation
import NGPTNumerics
import NGPTModels

extension ComparisonSettings {
    /// Reads and checks a comparison's `settings.json`: its values, each context's model shape,
    /// and that the number of runs and the tokens of the longest one fit in `Int`.
    ///
    /// - Throws: ``/NGPTNumerics/ConfigurationFileError`` naming the file.
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
        // (negative sizes are left to validate(), whose messages name the option)
        let sizes = s.allGPTBudgets + s.contexts + [s.batchSize, s.tuneBudget, s.seeds] + s.extrapolation
        guard sizes.contains(where: { $0 < 0 }) || ConfigurationFile.product([s.allGPTBudgets.max() ?? 1, s.batchSize, s.contexts.max() ?? 1, s.extrapolation.max() ?? 1]) != nil,
              ConfigurationFile.product([s.tuneBudget, s.batchSize, s.contexts.max() ?? 1]) != nil,
              ConfigurationFile.product([2, s.contexts.count, s.allGPTBudgets.count, max(s.seeds, 0)]).map({ $0 <= 1_000_000 }) ?? false else {
            throw fail("its budgets, batch size, contexts and extrapolation give more tokens (or runs) than can be counted")
        }
        guard s.extrapolation.allSatisfy({ $0 >= 2 }) else { throw fail("its extrapolation multipliers \(ErrorText.cut("\(s.extrapolation)")) must each be at least 2") }
        do { try s.validate() } catch let e as TrainingError { throw fail("its settings are invalid: \(e.description)") }
        catch let e as ModelConfigError { throw fail("its model is invalid: \(e.message)") }
        return s
    }
}
