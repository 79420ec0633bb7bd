import Foundation
import NGPTNumerics
import NGPTModels

/// One model of a study: a registered architecture with its own options, under a name that its
/// runs' directories and the reports use.
///
/// A comparison holds a list of them (``ComparisonSettings/modelList``); the first is the baseline
/// every other model is measured against. The library's two are ``gpt`` and ``ngpt``; a program
/// that registers an architecture (``/NGPTModels/ArchitectureRegistry``) can name it here, e.g.
/// `StudyModel("qknorm-gpt")`.
public struct StudyModel: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Its name in run directories (`NAME-t256-n500-…`), learning-rate keys and reports: lower
    /// case, digits and `-`.
    public var name: String
    /// The registered architecture it trains.
    public var architecture: String
    /// That architecture's own options as JSON (nil: none).
    public var options: String?

    /// The model of `architecture` (named after it unless `name` is given) with `options`.
    public init(_ architecture: String, name: String? = nil, options: String? = nil) {
        self.name = name ?? architecture
        self.architecture = architecture
        self.options = options
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let architecture = try c.decode(String.self, forKey: .architecture)
        self.init(architecture, name: try c.decodeIfPresent(String.self, forKey: .name), options: try c.decodeIfPresent(String.self, forKey: .options))
    }

    /// The library's baseline GPT.
    public static let gpt = StudyModel("gpt")
    /// The library's nGPT.
    public static let ngpt = StudyModel("ngpt")
    /// The models of a comparison that names none: GPT (the baseline), then nGPT.
    public static let pair = [gpt, ngpt]

    public var description: String { name }

    /// The registry's entry of ``architecture``.
    ///
    /// - Throws: ``/NGPTModels/ArchitectureError`` when this program does not know it.
    public func entry() throws -> ArchitectureRegistry.Entry {
        guard let e = ArchitectureRegistry.entry(named: architecture) else { throw ArchitectureRegistry.unknown(architecture) }
        return e
    }

    /// How reports name it: the architecture's display name ("GPT", "nGPT") when it goes by its
    /// architecture's name, else its own name.
    public var label: String {
        guard name == architecture, let e = ArchitectureRegistry.entry(named: architecture) else { return name }
        return e.displayName
    }

    /// The library model its architecture starts from (``/NGPTModels/RegisteredArchitecture/baseKind``);
    /// nil when this program does not know the architecture.
    public var baseKind: ModelKind? { ArchitectureRegistry.entry(named: architecture)?.baseKind }

    /// `shape` as this model: the base kind's configuration (``/NGPTModels/ModelConfig/asKind(_:)``).
    public func config(_ shape: ModelConfig) -> ModelConfig { shape.asKind(baseKind ?? shape.kind) }

    /// The architecture of `shape`, built to check that it can be (known name, readable options,
    /// a shape it accepts).
    public func build(_ shape: ModelConfig) throws -> any Architecture {
        _ = try entry()
        return try ArchitectureRegistry.architecture(named: architecture, config: config(shape), options: options)
    }

    /// Why this model cannot be in a study, or nil: a name that is not lower case, digits and `-`.
    package var nameProblem: String? {
        let ok = !name.isEmpty && name.count <= 64 && name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
            && !name.hasPrefix("tune-") && !name.hasPrefix("-")
        return ok ? nil : "the model name '\(ErrorText.cut(name))' is not lower case letters, digits and '-' (up to 64, not starting with 'tune-')"
    }
}

extension RunConfiguration {
    /// A study's run of `model` at the shape of `shape` (``StudyModel/config(_:)``); the
    /// architecture's recipe with this run's steps, batch, seed and rate; `evalPoints` evaluations
    /// along the run and four checkpoints. The library's two models are written without an
    /// architecture name, as before names existed.
    static func study(_ model: StudyModel, shape: ModelConfig, context: Int, steps: Int, batchSize: Int, seed: Int,
                      learningRate: Double, evalPoints: Int, evalBatches: Int, data: String) -> RunConfiguration {
        var c = model.config(shape)
        c.context = context
        // a study's models were built once when its settings were checked (validate()), so the
        // architecture is known here; the base kind's recipe is only the fallback of an unchecked one
        let recipe = (try? model.build(c))?.recipe ?? c.architecture().recipe
        var o = TrainingOptions(recipe: recipe, steps: steps, batchSize: batchSize, seed: UInt64(seed))
        o.learningRate = learningRate
        o.evalEvery = evalPoints > 0 ? max(1, steps / evalPoints) : 0
        o.evalBatches = evalBatches
        o.checkpointEvery = max(1, steps / 4)
        return RunConfiguration(model: c, training: o, data: data, architecture: model.architecture, architectureOptions: model.options)
    }
}
