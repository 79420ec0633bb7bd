import Foundation
import NGPTNumerics

/// An architecture that files can name: model files and run configurations record
/// ``registeredName`` and the architecture's own ``Options``, and ``ArchitectureRegistry`` turns
/// them back into the architecture.
///
/// ```swift
/// extension QKNormGPT: RegisteredArchitecture {
///     public static let registeredName = "gpt-qknorm"
///     public static let summary = "GPT with per-head q/k RMS normalisation"
///     public static let baseKind = ModelKind.gpt
///     public init(config: ModelConfig, options: NoArchitectureOptions) throws { self.init(config: config) }
/// }
/// ArchitectureRegistry.register(QKNormGPT.self)
/// ```
public protocol RegisteredArchitecture: Architecture {
    /// The architecture's own settings beyond ``ModelConfig`` (``NoArchitectureOptions`` when it
    /// has none), written to files as JSON.
    associatedtype Options: Codable & Sendable & Equatable = NoArchitectureOptions
    /// The name files record and `--model` takes: lower case, digits and `-`.
    static var registeredName: String { get }
    /// One line for `ngpt info` and `--help`.
    static var summary: String { get }
    /// How reports name it ("GPT", "nGPT"); ``registeredName`` unless the architecture says.
    static var displayName: String { get }
    /// The library model whose configuration (defaults, switches, recipe) the architecture starts
    /// from; its ``ModelConfig/kind``.
    static var baseKind: ModelKind { get }
    /// Builds the architecture of `config` (whose kind is ``baseKind``) with `options`.
    init(config: ModelConfig, options: Options) throws
    /// The options it was built with.
    var options: Options { get }
}

/// The options of an architecture that has none.
public struct NoArchitectureOptions: Codable, Sendable, Equatable {
    public init() {}
}

extension RegisteredArchitecture where Options == NoArchitectureOptions {
    public var options: NoArchitectureOptions { NoArchitectureOptions() }
}

extension RegisteredArchitecture {
    public static var displayName: String { registeredName }

    /// The options as files record them: nil for ``NoArchitectureOptions``.
    public var encodedOptions: String? {
        guard Options.self != NoArchitectureOptions.self else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(options)).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension GPTArchitecture: RegisteredArchitecture {
    public static let registeredName = "gpt"
    public static let displayName = "GPT"
    public static let summary = "the baseline GPT: pre-RMSNorm blocks, softmax scale 1/√dk (--gpt-qk-norm: with q/k RMS normalisation)"
    public static let baseKind = ModelKind.gpt
    public init(config: ModelConfig, options: NoArchitectureOptions) throws { self.init(config: config) }
}

extension NGPTArchitecture: RegisteredArchitecture {
    public static let registeredName = "ngpt"
    public static let displayName = "nGPT"
    public static let summary = "the normalized Transformer, with the paper's ablations as switches"
    public static let baseKind = ModelKind.ngpt
    public init(config: ModelConfig, options: NoArchitectureOptions) throws { self.init(config: config) }
}

/// Why an architecture could not be found or built.
public struct ArchitectureError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// The architectures this program knows, by name: `gpt` and `ngpt`, and every architecture the
/// program registers (``register(_:)``). Loading a model file, resuming a run, `ngpt train
/// --config` and the study runners all build their models here, so a variant registered by a
/// program is as first-class in that program as the library's two.
public enum ArchitectureRegistry {
    /// What the registry knows of one architecture.
    public struct Entry: Sendable {
        public var name: String
        public var summary: String
        public var baseKind: ModelKind
        /// How reports name it (``RegisteredArchitecture/displayName``).
        public var displayName: String
        let make: @Sendable (ModelConfig, String?) throws -> any Architecture
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [String: Entry] = {
        var e = [String: Entry]()
        for entry in [entry(GPTArchitecture.self), entry(NGPTArchitecture.self)] { e[entry.name] = entry }
        return e
    }()

    private static func entry<A: RegisteredArchitecture>(_ type: A.Type) -> Entry {
        Entry(name: A.registeredName, summary: A.summary, baseKind: A.baseKind, displayName: A.displayName) { config, options in
            let decoded: A.Options
            if let options {
                do { decoded = try JSONDecoder().decode(A.Options.self, from: Data(options.utf8)) } catch {
                    throw ArchitectureError("the options of architecture \(A.registeredName) are unreadable (\(ErrorText.reason(error))): '\(ErrorText.cut(options))'")
                }
            } else if let none = NoArchitectureOptions() as? A.Options {
                decoded = none
            } else {
                do { decoded = try JSONDecoder().decode(A.Options.self, from: Data("{}".utf8)) } catch {
                    throw ArchitectureError("architecture \(A.registeredName) needs options, and none were given")
                }
            }
            var c = config
            c.kind = A.baseKind
            let built = try A(config: c, options: decoded)
            guard built.name == A.registeredName else {
                throw ArchitectureError("architecture \(A.registeredName) builds a model named '\(built.name)'; its `name` must be its registered name, which model files record")
            }
            return built
        }
    }

    /// Makes `type` known by its ``RegisteredArchitecture/registeredName`` (replacing an
    /// architecture registered earlier under that name, except `gpt` and `ngpt`).
    public static func register<A: RegisteredArchitecture>(_ type: A.Type) {
        precondition(A.registeredName.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" } && !A.registeredName.isEmpty,
                     "an architecture's name is lower case, digits and '-': \(A.registeredName)")
        precondition(!["gpt", "ngpt"].contains(A.registeredName) || A.self == GPTArchitecture.self || A.self == NGPTArchitecture.self,
                     "gpt and ngpt are the library's own architectures")
        lock.withLock { entries[A.registeredName] = entry(type) }
    }

    /// Every known architecture, the library's two first, then by name.
    public static var known: [Entry] {
        lock.withLock {
            let all = Array(entries.values)
            return all.filter { $0.name == "gpt" } + all.filter { $0.name == "ngpt" }
                + all.filter { !["gpt", "ngpt"].contains($0.name) }.sorted { $0.name < $1.name }
        }
    }

    /// The entry of `name`, or nil.
    public static func entry(named name: String) -> Entry? { lock.withLock { entries[name] } }

    /// The architecture `name` with `options` (JSON) of `config`.
    ///
    /// - Throws: ``ArchitectureError`` naming an unknown architecture, the ones this program
    ///   knows, and how to get a program that knows it; or the architecture's own error.
    public static func architecture(named name: String, config: ModelConfig, options: String? = nil) throws -> any Architecture {
        guard let e = entry(named: name) else { throw unknown(name) }
        return try e.make(config, options)
    }

    /// The error for an architecture this program does not know.
    public static func unknown(_ name: String, in source: String? = nil) -> ArchitectureError {
        let known = known.map(\.name).joined(separator: ", ")
        return ArchitectureError("\(source.map { "\($0): " } ?? "")the architecture '\(ErrorText.cut(name))' is not known to this program (it knows \(known)). HINT: use the program that trained it: a tool built on the library's NGPTCommand with that architecture registered (`NGPTCommand.main(registering: [...])`, as Examples/ builds ngpt-examples)")
    }
}

extension RunConfiguration {
    /// The run's architecture: ``architecture`` from the registry, or the library's model of
    /// ``ModelConfig/kind``.
    public func makeArchitecture() throws -> any Architecture {
        try ArchitectureRegistry.architecture(named: architectureName, config: model, options: architectureOptions)
    }

    /// The name of the run's architecture (``architecture``, else the model's kind).
    public var architectureName: String { architecture ?? model.kind.rawValue }
}
