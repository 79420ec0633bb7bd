import ArgumentParser
import Foundation
import NGPT

/// The `ngpt` command line: `info`, `prepare`, `train`, `sample`, `compare`, `ablate`, `inspect`,
/// `cond` and `bench`.
///
/// A program built on it knows the architectures it registers, everywhere the tool names or
/// builds a model: `--model NAME`, model files, `--resume`, `train --config`, `sample`,
/// `inspect`, and the child runs and `--plan` scripts of studies (they run this same program).
///
/// ```swift
/// // Sources/my-ngpt/main.swift
/// import NGPTCommand
/// import MyArchitectures
///
/// NGPTCommand.main(registering: [QKNormGPT.self])
/// ```
public struct NGPTCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ngpt",
        abstract: "Train and study the normalized Transformer (nGPT) beside a baseline GPT on the CPU.",
        version: SwiftNGPT.version,
        subcommands: [Info.self, Prepare.self, Train.self, Sample.self, Compare.self, Ablate.self, Inspect.self, Cond.self, Bench.self]
    )

    public init() {}

    /// Registers `architectures` (``/NGPTModels/ArchitectureRegistry``), then runs the command
    /// line.
    public static func main(registering architectures: [any RegisteredArchitecture.Type]) {
        for a in architectures { ArchitectureRegistry.register(a) }
        main()
    }

    /// Every failure is one `Error:` line on stderr and exit status 1; help and version exit 0.
    public static func main() {
        let arguments = joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            printError("Error: " + userMessage(for: error, arguments: arguments))
            Foundation.exit(1)
        }
    }

    /// The error as one line: parsing errors with a pointer to the command's help, everything
    /// else through ``ErrorText`` (so no Foundation or Codable text).
    static func userMessage(for error: Error, arguments: [String]) -> String {
        guard exitCode(for: error) == .validationFailure else { return ErrorText.describe(error) }
        var text = ErrorText.oneLine(message(for: error)).trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        let names = configuration.subcommands.map { $0._commandName }
        let command = arguments.first { names.contains($0) }.map { "ngpt \($0)" } ?? "ngpt"
        return ErrorText.cut(text, limit: 2_000) + " (see `\(command) --help`)"
    }

    /// `--steps -1` → `--steps=-1`: the parser reads a token starting with "-" as an option
    /// name, so a negative number after a space would otherwise be a missing value.
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var out = [String]()
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--" { out += arguments[i...]; break }
            if a.hasPrefix("--"), !a.contains("="), i + 1 < arguments.count, isNegativeNumber(arguments[i + 1]) {
                out.append(a + "=" + arguments[i + 1])
                i += 2
                continue
            }
            out.append(a)
            i += 1
        }
        return out
    }

    private static func isNegativeNumber(_ s: String) -> Bool {
        guard s.count > 1, s.hasPrefix("-") else { return false }
        let rest = s.dropFirst()
        return Double(rest) != nil || rest.first?.isNumber == true || rest.hasPrefix(".")
    }
}
