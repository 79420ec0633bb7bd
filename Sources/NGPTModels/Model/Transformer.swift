import NGPTNumerics

/// Why a model could not run on its input.
public enum ModelInputError: Error, Equatable, CustomStringConvertible {
    case tokenOutOfRange(position: Int, token: Int, vocabularySize: Int)
    case shapeMismatch(what: String, expected: Int, got: Int)
    case emptyBatch
    case noForwardWithTargets

    public var description: String {
        switch self {
        case let .tokenOutOfRange(i, t, v):
            return "token id \(t) at position \(i) is outside the vocabulary 0..<\(v); prepare the data with the same tokenizer or set the vocabulary size to at least \(t + 1)"
        case let .shapeMismatch(what, e, g):
            return "\(what): expected \(e) values, got \(g)"
        case .emptyBatch:
            return "batch and sequence length must be at least 1"
        case .noForwardWithTargets:
            return "backward needs a forward pass with targets first"
        }
    }
}

/// A language model of any ``Architecture``: parameters and gradients in flat buffers laid out
/// by the architecture's ``ParameterLayout``, activations allocated once per batch shape.
///
/// ```swift
/// let model = try Transformer(architecture: NGPTArchitecture(config: config), seed: 0)
/// let loss = try model.forward(tokens: x, targets: y, batch: 8, sequence: 256)
/// model.zeroGradients()
/// try model.backward()          // gradients of the mean loss, in model.gradients
/// ```
public final class Transformer {
    /// What the model is: its parameters, blocks, head and update hook.
    public let architecture: any Architecture
    public var config: ModelConfig { architecture.config }
    public let layout: ParameterLayout
    /// The parameters, under their state-dict names.
    public let parameters: ParameterBuffer
    /// Gradients of the mean loss of the last ``forward(tokens:targets:batch:sequence:)``,
    /// accumulated by ``backward(lossScale:)`` until ``zeroGradients()``.
    public let gradients: ParameterBuffer

    private var graph: Graph?
    private(set) var rope: RoPETable
    /// When set, every kernel's time is added to it (`ModelBenchmark.kernelTimings`, `ngpt bench --kernels`).
    var profile: KernelProfile?

    /// The library's architecture for `config` (``ModelConfig/architecture()``), initialised
    /// from `seed` (docs/model.md §5–6).
    public convenience init(config: ModelConfig, seed: UInt64) throws {
        try self.init(architecture: config.architecture(), seed: seed)
    }

    /// The library's architecture for `config` with every parameter zero.
    public convenience init(config: ModelConfig) throws {
        try self.init(architecture: config.architecture())
    }

    /// `architecture` initialised from `seed`: each parameter as its spec says, in buffer order,
    /// then the architecture's ``Architecture/afterInitialization(_:)``.
    public convenience init(architecture: any Architecture, seed: UInt64) throws {
        try self.init(architecture: architecture)
        var rng = SeededGenerator(seed: seed)
        initializeParameters(using: &rng)
    }

    /// `architecture` with every parameter zero; set them with ``parameters`` or a checkpoint.
    public init(architecture: any Architecture) throws {
        let c = architecture.config
        try c.validate()
        self.architecture = architecture
        layout = architecture.layout
        for name in ["transformer.wte.weight", "lm_head.weight"] {
            guard let e = layout.entry(name), e.shape == [c.vocabularySize, c.width] else {
                throw ModelConfigError(message: "architecture \(architecture.name) must declare \(name) with shape [\(c.vocabularySize), \(c.width)]")
            }
        }
        parameters = ParameterBuffer(layout: layout)
        gradients = ParameterBuffer(layout: layout)
        rope = RoPETable(positions: c.context, headWidth: c.headWidth)
    }

    /// Number of parameters.
    public var parameterCount: Int { layout.count }

    public func zeroGradients() { gradients.zero() }

    /// Blocks, head and activations for `batch` sequences of `sequence` positions, training or
    /// decoding (`mode`) for good.
    func makeGraph(batch: Int, sequence: Int, mode: Pass.Mode = .training) -> Graph {
        if sequence > rope.positions { rope = RoPETable(positions: sequence, headWidth: config.headWidth) }
        return Graph(self, batch: batch, sequence: sequence, mode: mode)
    }

    private func graph(batch b: Int, sequence t: Int) -> Graph {
        if let g = graph, g.pass.batch == b, g.pass.sequence == t { return g }
        graph = nil   // release the old shape's memory before allocating the new one
        let g = makeGraph(batch: b, sequence: t)
        graph = g
        return g
    }

    /// Runs the model on `batch` sequences of `sequence` tokens (row-major, `tokens.count ==
    /// batch·sequence`) with `targets`, the next token at every position, and returns the mean
    /// cross-entropy, keeping what ``backward(lossScale:)`` needs. A sequence may be longer than
    /// the training context (RoPE extends to any length).
    @discardableResult
    public func forward(tokens: [Int], targets: [Int], batch: Int, sequence: Int) throws -> Float {
        let g = try prepare(tokens: tokens, targets: targets, batch: batch, sequence: sequence)
        return run(g)!
    }

    /// Runs the model without targets: only ``logits`` (and no backward).
    public func forward(tokens: [Int], batch: Int, sequence: Int) throws {
        _ = run(try prepare(tokens: tokens, targets: nil, batch: batch, sequence: sequence))
    }

    private func prepare(tokens: [Int], targets: [Int]?, batch: Int, sequence: Int) throws -> Graph {
        guard batch >= 1, sequence >= 1 else { throw ModelInputError.emptyBatch }
        let (n, overflow) = batch.multipliedReportingOverflow(by: sequence)
        guard !overflow, tokens.count == n else {
            throw ModelInputError.shapeMismatch(what: "tokens for \(batch)×\(sequence)", expected: overflow ? Int.max : n, got: tokens.count)
        }
        if let targets, targets.count != n {
            throw ModelInputError.shapeMismatch(what: "targets for \(batch)×\(sequence)", expected: n, got: targets.count)
        }
        let v = config.vocabularySize
        for (i, t) in tokens.enumerated() where t < 0 || t >= v {
            throw ModelInputError.tokenOutOfRange(position: i, token: t, vocabularySize: v)
        }
        for (i, t) in (targets ?? []).enumerated() where t < 0 || t >= v {
            throw ModelInputError.tokenOutOfRange(position: i, token: t, vocabularySize: v)
        }
        let g = graph(batch: batch, sequence: sequence)
        for i in 0..<n { g.tokens[i] = Int32(tokens[i]) }
        if let targets { for i in 0..<n { g.targets[i] = Int32(targets[i]) } }
        g.hasTargets = targets != nil
        return g
    }

    /// Embedding, blocks, head and (with targets) the loss of `g`'s tokens.
    func run(_ g: Graph) -> Float? {
        let pass = g.pass, c = config
        pass.profile = profile
        let wte = parameters.base + layout.offset("transformer.wte.weight")
        pass.timed("embedding forward") {
            g.tokens.withUnsafeBufferPointer {
                embeddingForward(pass.p(g.stream[0]), $0.baseAddress!, wte, rows: pass.rows, width: c.width)
            }
        }
        for (l, block) in g.blocks.enumerated() { block.forward(g.stream[l], g.stream[l + 1], pass) }
        g.head.forward(g.stream[c.layers], logits: g.logits, pass)
        guard g.hasTargets else { return nil }
        var loss: Float = 0
        pass.timed("cross-entropy forward") {
            loss = g.targets.withUnsafeBufferPointer {
                crossEntropyForward(pass.p(g.losses), pass.p(g.probs), pass.p(g.logits), $0.baseAddress!, rows: pass.rows,
                                    vocabulary: c.vocabularySize)
            }
        }
        return loss
    }

    /// Accumulates into ``gradients`` the gradient of the mean loss of the last forward pass
    /// with targets. Call ``zeroGradients()`` first unless accumulating over micro-batches;
    /// `lossScale` multiplies the gradient (e.g. 1/steps when accumulating).
    public func backward(lossScale: Float = 1) throws {
        guard let g = graph, g.hasTargets else { throw ModelInputError.noForwardWithTargets }
        let pass = g.pass, c = config
        let dLogits = g.probs
        pass.timed("cross-entropy backward") {
            g.targets.withUnsafeBufferPointer {
                crossEntropyBackward(pass.p(dLogits), $0.baseAddress!, dloss: lossScale, rows: pass.rows, vocabulary: c.vocabularySize)
            }
        }
        g.hasTargets = false   // probs now hold dlogits
        var (cur, other) = g.dStream
        pass.zero(cur)
        g.head.backward(dLogits, cur, g.stream[c.layers], pass)
        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            pass.zero(other)
            g.blocks[l].backward(cur, other, g.stream[l], g.stream[l + 1], pass)
            swap(&cur, &other)
        }
        let dwte = gradients.base + layout.offset("transformer.wte.weight")
        pass.timed("embedding backward") {
            g.tokens.withUnsafeBufferPointer {
                embeddingBackward(dwte, pass.p(cur), $0.baseAddress!, rows: pass.rows, width: c.width)
            }
        }
    }

    /// The logits of the last forward pass, shape (B, T, V).
    public var logits: Tensor {
        guard let g = graph else { return Tensor(shape: [0, 0, config.vocabularySize]) }
        return Tensor(shape: [g.pass.batch, g.pass.sequence, config.vocabularySize], scalars: g.pass.values(g.logits))
    }

    /// Per-position losses of the last forward pass with targets, shape (B, T).
    public var positionLosses: Tensor {
        guard let g = graph else { return Tensor(shape: [0, 0]) }
        return Tensor(shape: [g.pass.batch, g.pass.sequence], scalars: g.pass.values(g.losses))
    }

    /// Floats of activations the model holds for its current batch shape.
    public var activationCount: Int { graph?.pass.activationCount ?? 0 }
}

/// The two gradient streams backward alternates between (N, C): one enters a block, the other
/// leaves it.
private enum StreamGradient: ScratchKey {}
private enum OtherStreamGradient: ScratchKey {}

/// A model's blocks, head and activations for one pass shape.
final class Graph {
    let pass: Pass
    let blocks: [any TransformerBlock]
    let head: any ModelHead
    let stream: [Slot]              // L+1 × (N, C): stream[l] enters block l, stream[L] leaves the last
    let dStream: (Slot, Slot)       // gradient entering / leaving a block
    let logits: Slot, probs: Slot, losses: Slot   // (N, V), (N, V) softmax then dlogits, (N)
    var tokens: [Int32], targets: [Int32]
    var hasTargets = false

    init(_ model: Transformer, batch: Int, sequence: Int, mode: Pass.Mode) {
        var plan = ActivationPlan(config: model.config, batch: batch, sequence: sequence, mode: mode)
        let n = plan.rows
        (stream, blocks, head, logits, probs, losses, dStream) = Self.reserve(model.architecture, model.layout, &plan)
        tokens = [Int32](repeating: 0, count: n)
        targets = [Int32](repeating: 0, count: n)
        pass = Pass(plan: plan, parameters: model.parameters, gradients: model.gradients, rope: model.rope)
    }

    /// Everything a pass of `plan`'s shape holds: the streams, the blocks' and head's own
    /// activations, logits, probabilities, losses and the gradient streams.
    static func reserve(_ a: any Architecture, _ layout: ParameterLayout, _ plan: inout ActivationPlan)
        -> (stream: [Slot], blocks: [any TransformerBlock], head: any ModelHead, logits: Slot, probs: Slot, losses: Slot,
            dStream: (Slot, Slot)) {
        let c = a.config, (n, d, v) = (plan.rows, c.width, c.vocabularySize)
        let stream = (0...c.layers).map { _ in plan.rows(d) }
        let blocks = (0..<c.layers).map { a.makeBlock(layer: $0, layout: layout, plan: &plan) }
        let head = a.makeHead(layout: layout, plan: &plan)
        let logits = plan.rows(v), probs = plan.rows(v), losses = plan.rows(1)
        let dStream = (plan.shared(StreamGradient.self, n * d), plan.shared(OtherStreamGradient.self, n * d))
        return (stream, blocks, head, logits, probs, losses, dStream)
    }
}

extension Architecture {
    /// Floats of activations a training pass of `batch` sequences of `sequence` positions holds,
    /// without allocating them.
    public func activationCount(batch: Int, sequence: Int) -> Int {
        var plan = ActivationPlan(config: config, batch: batch, sequence: sequence, mode: .training)
        _ = Graph.reserve(self, layout, &plan)
        return plan.sizes.reduce(0, +)
    }
}
