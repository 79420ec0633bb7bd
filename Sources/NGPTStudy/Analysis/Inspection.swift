import Foundation
import NGPTNumerics
import NGPTModels

// Parameter inspection, docs/model.md §9 (the paper's Figures 4–6 and 10–12): condition numbers of the
// attention and MLP matrices, the geometry of the two embeddings, and what the architecture
// reports per layer (nGPT's scalers).
// Everything is computed from a model's parameters (a checkpoint loaded into a `Transformer`),
// in Double.

/// One of the matrix kinds whose condition numbers docs/model.md §9 reports.
public enum MatrixKind: String, Codable, Sendable, CaseIterable {
    /// `query.weight`, per head: rows `h·dk..<(h+1)·dk` (dk×d).
    case query
    /// `key.weight`, per head: rows `h·dk..<(h+1)·dk` (dk×d).
    case key
    /// `value.weight`, per head: rows `h·dk..<(h+1)·dk` (dk×d).
    case value
    /// `att_c_proj.weight`, the attention output projection, per head: columns `h·dk..<(h+1)·dk` (d×dk).
    case attentionOutput = "att_c_proj"
    /// `W_u`: rows `0..<4d` of `c_fc.weight` (4d×d), whole.
    case mlpU = "w_u"
    /// `W_ν`: rows `4d..<8d` of `c_fc.weight` (4d×d), whole.
    case mlpNu = "w_nu"
    /// `mlp_c_proj.weight`, the MLP output (d×4d), whole.
    case mlpOutput = "mlp_c_proj"

    /// Whether the kind is cut into per-head blocks.
    public var isPerHead: Bool { self == .query || self == .key || self == .value || self == .attentionOutput }

    /// A short label for tables and figures.
    public var title: String {
        switch self {
        case .query: return "W_q (query)"
        case .key: return "W_k (key)"
        case .value: return "W_v (value)"
        case .attentionOutput: return "W_o (att_c_proj)"
        case .mlpU: return "W_u (c_fc rows 0..<4d)"
        case .mlpNu: return "W_ν (c_fc rows 4d..<8d)"
        case .mlpOutput: return "W_mlp (mlp_c_proj)"
        }
    }

    /// The matrix of layer `l` this kind is cut from, the axis its d-long vectors lie along
    /// (docs/model.md §6), and the rows of it that belong to the kind.
    func source(layer l: Int, width d: Int) -> (name: String, alongRows: Bool, rows: Range<Int>?) {
        let p = "transformer.h.\(l)."
        switch self {
        case .query: return (p + "query.weight", true, nil)
        case .key: return (p + "key.weight", true, nil)
        case .value: return (p + "value.weight", true, nil)
        case .attentionOutput: return (p + "att_c_proj.weight", false, nil)
        case .mlpU: return (p + "c_fc.weight", true, 0..<4 * d)
        case .mlpNu: return (p + "c_fc.weight", true, 4 * d..<8 * d)
        case .mlpOutput: return (p + "mlp_c_proj.weight", false, nil)
        }
    }
}

/// The condition numbers of one matrix kind in one layer.
public struct LayerConditioning: Codable, Sendable, Equatable {
    /// The layer index `l` of `transformer.h.{l}`.
    public var layer: Int
    /// One entry per head (head 0 first) for the attention kinds, one entry for the MLP matrices.
    public var blocks: [SingularValueSummary]
    /// The distribution of `blocks`' condition numbers; its `median` is the paper's per-layer figure.
    public var cond: DistributionSummary

    public init(layer: Int, blocks: [SingularValueSummary]) {
        self.layer = layer
        self.blocks = blocks
        self.cond = DistributionSummary(blocks.map(\.cond))
    }
}

/// Per-layer condition numbers of every ``MatrixKind`` of a model.
///
/// In JSON an object keyed by the kinds' raw values (`query`, `key`, `value`, `att_c_proj`,
/// `w_u`, `w_nu`, `mlp_c_proj`), each an array of ``LayerConditioning`` in layer order, plus
/// `renormalized`.
public struct ConditionNumbers: Codable, Sendable, Equatable {
    /// Whether the matrices were renormalised along their d axis first (docs/model.md §9's GPT variant).
    public var renormalized: Bool
    private var kinds: [String: [LayerConditioning]]

    public init(renormalized: Bool, layers: [MatrixKind: [LayerConditioning]]) {
        self.renormalized = renormalized
        self.kinds = Dictionary(uniqueKeysWithValues: layers.map { ($0.key.rawValue, $0.value) })
    }

    /// The layers of one kind, layer 0 first.
    public subscript(kind: MatrixKind) -> [LayerConditioning] { kinds[kind.rawValue] ?? [] }

    /// The distribution of every block's condition number of one kind, over all layers and heads.
    public func overall(_ kind: MatrixKind) -> DistributionSummary {
        DistributionSummary(self[kind].flatMap { $0.blocks.map(\.cond) })
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        renormalized = try c.decode(Bool.self, forKey: Key(stringValue: "renormalized"))
        kinds = [:]
        for k in MatrixKind.allCases {
            kinds[k.rawValue] = try c.decode([LayerConditioning].self, forKey: Key(stringValue: k.rawValue))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(renormalized, forKey: Key(stringValue: "renormalized"))
        for k in MatrixKind.allCases { try c.encode(self[k], forKey: Key(stringValue: k.rawValue)) }
    }
}

/// What an architecture reports per layer (``/NGPTModels/LayerValues``; nGPT: the mean
/// |effective value| of each scaler, docs/model.md §9) and its effective logit scales s_z.
///
/// In `inspect.json`: `layers`, one object per layer with `layer` and a key per value, then
/// `sz_sorted` and `sz`. Three of nGPT's names keep the spelling `inspect.json` has always had
/// (``jsonKeys``).
public struct ScalerStatistics: Sendable, Equatable {
    /// The architecture's values in its order, each with one value per layer.
    public var values: [LayerValues]
    /// The effective s_z values, sorted ascending (empty when the architecture has none).
    public var sortedSz: [Double]
    public var sz: DistributionSummary

    public init(values: [LayerValues], sortedSz: [Double]) {
        self.values = values
        self.sortedSz = sortedSz
        sz = DistributionSummary(sorted: sortedSz)
    }

    /// The value called `name` (``/NGPTModels/LayerValues/name``), layer 0 first.
    public subscript(name: String) -> [Double]? { values.first { $0.name == name }?.values }

    /// Layers reported.
    public var layerCount: Int { values.map(\.values.count).max() ?? 0 }

    /// `inspect.json`'s spelling of names that differ from `metrics.jsonl`'s: nGPT's s_qk, s_u
    /// and s_ν, as version 1 of the file wrote them. Every other name is written as it is.
    public static let jsonKeys = ["sqk": "s_qk", "su": "s_u", "sv": "s_nu"]
}

extension ScalerStatistics: Codable {
    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        var layers = try c.nestedUnkeyedContainer(forKey: Key(stringValue: "layers"))
        let names = Dictionary(uniqueKeysWithValues: Self.jsonKeys.map { ($1, $0) })
        var byName = [String: [Double]]()
        while !layers.isAtEnd {
            let layer = try layers.nestedContainer(keyedBy: Key.self)
            for key in layer.allKeys where key.stringValue != "layer" {
                byName[names[key.stringValue] ?? key.stringValue, default: []].append(try layer.decode(Double.self, forKey: key))
            }
        }
        // the file keeps no titles or order: names, sorted
        values = byName.keys.sorted().map { LayerValues(name: $0, title: $0, values: byName[$0]!) }
        sortedSz = try c.decode([Double].self, forKey: Key(stringValue: "sz_sorted"))
        sz = try c.decode(DistributionSummary.self, forKey: Key(stringValue: "sz"))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        var layers = c.nestedUnkeyedContainer(forKey: Key(stringValue: "layers"))
        for l in 0..<layerCount {
            var layer = layers.nestedContainer(keyedBy: Key.self)
            try layer.encode(l, forKey: Key(stringValue: "layer"))
            for v in values where l < v.values.count {
                try layer.encode(v.values[l], forKey: Key(stringValue: Self.jsonKeys[v.name] ?? v.name))
            }
        }
        try c.encode(sortedSz, forKey: Key(stringValue: "sz_sorted"))
        try c.encode(sz, forKey: Key(stringValue: "sz"))
    }
}

/// Settings of an inspection.
public struct InspectionOptions: Codable, Sendable, Equatable {
    /// All `V(V−1)/2` pairs of embedding rows enter the cosine distribution when `V` is at most
    /// this; beyond it, ``sampledPairs`` pairs drawn with ``seed``.
    public var allPairsLimit: Int = 4096
    /// Pairs of distinct rows drawn (uniformly, with replacement) when `V > allPairsLimit`.
    public var sampledPairs: Int = 1_000_000
    /// Seed of the pair sample.
    public var seed: UInt64 = 0
    /// Bins of the cosine histogram over [−1, 1].
    public var histogramBins: Int = 200
    /// Also report GPT's condition numbers after renormalising along the d axis.
    public var renormalizeGPT: Bool = true

    public init(allPairsLimit: Int = 4096, sampledPairs: Int = 1_000_000, seed: UInt64 = 0,
                histogramBins: Int = 200, renormalizeGPT: Bool = true) {
        self.allPairsLimit = allPairsLimit
        self.sampledPairs = sampledPairs
        self.seed = seed
        self.histogramBins = histogramBins
        self.renormalizeGPT = renormalizeGPT
    }

    /// Checks the settings, with a message that says what to change.
    public func validate() throws {
        guard allPairsLimit >= 2 else { throw InspectionError("the all-pairs limit must be at least 2, got \(allPairsLimit)") }
        guard sampledPairs >= 1 else { throw InspectionError("sampled pairs must be at least 1, got \(sampledPairs)") }
        guard histogramBins >= 1 else { throw InspectionError("histogram bins must be at least 1, got \(histogramBins)") }
    }

    enum CodingKeys: String, CodingKey {
        case allPairsLimit = "all_pairs_limit", sampledPairs = "sampled_pairs", seed
        case histogramBins = "histogram_bins", renormalizeGPT = "renormalize_gpt"
    }
}

/// Every statistic of docs/model.md §9 for one model.
///
/// ```swift
/// let inspection = try ModelInspection(model: model, label: "nGPT")
/// inspection.conditionNumbers[.query][0].cond.median    // layer 0, median over heads
/// inspection.embedding("transformer.wte.weight")!.sortedNorms
/// ```
public struct ModelInspection: Codable, Sendable, Equatable {
    /// A short name for tables and legends (e.g. "GPT").
    public var label: String
    /// Where the parameters came from (a path), or empty.
    public var source: String
    /// The optimiser step of the checkpoint, when recorded.
    public var step: Int?
    public var config: ModelConfig
    /// Whether ``config`` was inferred from tensor shapes (a file without ngpt's metadata).
    public var configInferred: Bool
    /// Condition numbers of the matrices as they are.
    public var conditionNumbers: ConditionNumbers
    /// GPT (and an nGPT trained without weight normalisation) only: the same after renormalising
    /// every matrix along its d axis (docs/model.md §6's axes); nil for nGPT, whose matrices are
    /// already normalised.
    public var renormalizedConditionNumbers: ConditionNumbers?
    /// `transformer.wte.weight` then `lm_head.weight`.
    public var embeddings: [EmbeddingStatistics]
    /// What the architecture reports per layer, and its logit scales (nGPT's scalers); nil when
    /// it reports neither (GPT).
    public var scalers: ScalerStatistics?

    /// Computes every statistic of `model`'s current parameters.
    ///
    /// - Throws: ``InspectionError`` naming the tensor when a matrix holds NaN/Inf, or when the
    ///   options are invalid.
    public init(model: Transformer, label: String, source: String = "", step: Int? = nil,
                configInferred: Bool = false, options: InspectionOptions = InspectionOptions()) throws {
        try options.validate()
        self.label = label
        self.source = source
        self.step = step
        self.config = model.config
        self.configInferred = configInferred
        conditionNumbers = try model.conditionNumbers(renormalized: false)
        // Only a model whose architecture does not keep its matrices normalised (GPT, nGPT without
        // weight normalisation) is renormalised.
        renormalizedConditionNumbers = model.normalizedMatrices.isEmpty && options.renormalizeGPT
            ? try model.conditionNumbers(renormalized: true) : nil
        embeddings = try ["transformer.wte.weight", "lm_head.weight"].map { name in
            try EmbeddingStatistics(name: name, matrix: model.parameters.tensor(name)!, options: options)
        }
        let values = model.layerValues(), sz = model.effectiveLogitScales().map(Double.init).sorted()
        scalers = values.isEmpty && sz.isEmpty ? nil : ScalerStatistics(values: values, sortedSz: sz)
    }

    /// The statistics of embedding `name` (`transformer.wte.weight` or `lm_head.weight`).
    public func embedding(_ name: String) -> EmbeddingStatistics? { embeddings.first { $0.name == name } }

    enum CodingKeys: String, CodingKey {
        case label, source, step, config, configInferred = "config_inferred"
        case conditionNumbers = "condition_numbers", renormalizedConditionNumbers = "renormalized_condition_numbers"
        case embeddings, scalers
    }
}

extension Transformer {
    /// The condition numbers of docs/model.md §9 for every layer: per head for `query`, `key`, `value`
    /// (row blocks) and `att_c_proj` (column blocks); whole `W_u`, `W_ν` and `mlp_c_proj`.
    ///
    /// With `renormalized`, each matrix first has its d-long vectors made unit length (rows of
    /// `query`, `key`, `value`, `c_fc`; columns of `att_c_proj`, `mlp_c_proj` — the axes of
    /// docs/model.md §6), in Double. That is the paper's dotted GPT lines; an already-normalised matrix
    /// (any nGPT) is unchanged by it up to float32 round-off of its norms (~1e-7 relative).
    ///
    /// - Throws: ``InspectionError`` naming the tensor and head when a block holds NaN/Inf or
    ///   LAPACK fails.
    public func conditionNumbers(renormalized: Bool = false) throws -> ConditionNumbers {
        let (d, heads) = (config.width, config.heads)
        var out = [MatrixKind: [LayerConditioning]]()
        for kind in MatrixKind.allCases {
            out[kind] = try (0..<config.layers).map { l in
                let (name, defaultAlongRows, rows) = kind.source(layer: l, width: d)
                // The axis the architecture declares for the matrix (docs/model.md §6).
                let alongRows = layout.entry(name)?.spec.vectors.map { $0 == .rows } ?? defaultAlongRows
                var m = DoubleMatrix(parameters.tensor(name)!)
                if let rows { m = m.rowBlock(rows) }
                if renormalized { m = m.normalizingVectors(alongRows: alongRows) }
                let blocks: [DoubleMatrix] = kind.isPerHead
                    ? try LinearAlgebra.headBlocks(m, heads: heads, axis: kind == .attentionOutput ? .columns : .rows)
                    : [m]
                return LayerConditioning(layer: l, blocks: try blocks.enumerated().map { h, block in
                    do { return try SingularValueSummary(block) } catch {
                        let part = kind.isPerHead ? " head \(h)" : (rows.map { " rows \($0.lowerBound)..<\($0.upperBound)" } ?? "")
                        throw InspectionError("\(name)\(part): \(error)")
                    }
                })
            }
        }
        return ConditionNumbers(renormalized: renormalized, layers: out)
    }
}

/// The JSON file `ngpt inspect` writes: every model's statistics and the options used.
public struct InspectionReport: Codable, Sendable, Equatable {
    /// `"ngpt-inspect"`.
    public var format: String
    public var version: Int
    /// How an infinite number is written (``InspectionJSON/infinity``).
    public var infinity: String
    public var options: InspectionOptions
    public var models: [ModelInspection]

    public init(models: [ModelInspection], options: InspectionOptions) {
        format = "ngpt-inspect"
        version = 1
        infinity = InspectionJSON.infinity
        self.options = options
        self.models = models
    }

    /// The JSON text (``InspectionJSON/encoder()``).
    public func jsonData() throws -> Data { try InspectionJSON.encoder().encode(self) }

    /// Reads what ``jsonData()`` writes.
    public static func decode(_ data: Data) throws -> InspectionReport {
        try InspectionJSON.decoder().decode(InspectionReport.self, from: data)
    }
}
