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

/// A GPT or nGPT language model: parameters and gradients in flat buffers laid out by
/// ``ParameterLayout``, activations allocated once per batch shape.
///
/// ```swift
/// let model = try Transformer(config: ModelConfig(kind: .ngpt), seed: 0)
/// let loss = try model.forward(tokens: x, targets: y, batch: 8, sequence: 256)
/// model.zeroGradients()
/// try model.backward()          // gradients of the mean loss, in model.gradients
/// ```
public final class Transformer {
    public let config: ModelConfig
    public let layout: ParameterLayout
    /// The parameters, under their spec names.
    public let parameters: ParameterBuffer
    /// Gradients of the mean loss of the last ``forward(tokens:targets:batch:sequence:)``,
    /// accumulated by ``backward()`` until ``zeroGradients()``.
    public let gradients: ParameterBuffer

    let blocks: [any TransformerBlock]
    let layerOffsets: [LayerParameterOffsets]
    private var acts: Activations?
    private(set) var rope: RoPETable

    /// A model with parameters initialised per spec §5 (and, for nGPT, normalised per §6)
    /// from `seed`.
    public convenience init(config: ModelConfig, seed: UInt64) throws {
        try self.init(config: config)
        var rng = SeededGenerator(seed: seed)
        initializeParameters(using: &rng)
    }

    /// A model with all parameters zero; set them with ``parameters`` or ``load(_:)``.
    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        layout = ParameterLayout(config: config)
        parameters = ParameterBuffer(layout: layout)
        gradients = ParameterBuffer(layout: layout)
        let layout = self.layout, kind = config.kind
        let offsets = (0..<config.layers).map { LayerParameterOffsets(layout: layout, layer: $0) }
        layerOffsets = offsets
        blocks = offsets.map { w -> any TransformerBlock in kind == .gpt ? GPTBlock(w: w) : NGPTBlock(w: w) }
        rope = RoPETable(positions: config.context, headWidth: config.headWidth)
    }

    /// Number of parameters.
    public var parameterCount: Int { layout.count }

    public func zeroGradients() { gradients.zero() }

    private func activations(batch b: Int, sequence t: Int) -> Activations {
        if let a = acts, a.batch == b, a.sequence == t { return a }
        if t > rope.positions { rope = RoPETable(positions: t, headWidth: config.headWidth) }
        acts = nil   // release the old shape's memory before allocating the new one
        let a = Activations(config: config, batch: b, sequence: t)
        acts = a
        return a
    }

    private func context(_ a: Activations) -> BlockContext {
        BlockContext(config: config, acts: a, rope: rope, params: parameters.base, grads: gradients.base)
    }

    /// Runs the model on `batch` sequences of `sequence` tokens (row-major, `tokens.count ==
    /// batch·sequence`). With `targets` (the next token at every position) it returns the mean
    /// cross-entropy and keeps what ``backward()`` needs; without, it only computes ``logits``.
    /// A sequence may be longer than the training context (RoPE extends to any length).
    @discardableResult
    public func forward(tokens: [Int], targets: [Int]?, batch: Int, sequence: Int) throws -> Float? {
        guard batch >= 1, sequence >= 1 else { throw ModelInputError.emptyBatch }
        let n = batch * sequence
        guard tokens.count == n else { throw ModelInputError.shapeMismatch(what: "tokens for \(batch)×\(sequence)", expected: n, got: tokens.count) }
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
        let a = activations(batch: batch, sequence: sequence)
        for i in 0..<n { a.tokens[i] = Int32(tokens[i]) }
        if let targets { for i in 0..<n { a.targets[i] = Int32(targets[i]) } }
        a.hasTargets = targets != nil
        return run(a)
    }

    private func run(_ a: Activations) -> Float? {
        let c = config, ctx = context(a), p = parameters.base
        let (n, d, v) = (a.rows, c.width, c.vocabularySize)
        let wte = p + layout.offset("transformer.wte.weight"), lmHead = p + layout.offset("lm_head.weight")
        a.tokens.withUnsafeBufferPointer { embeddingForward(a.p(a.stream[0]), $0.baseAddress!, wte, rows: n, width: d) }
        for (l, block) in blocks.enumerated() {
            (block as? NGPTBlock)?.prepareScalers(a.layers[l], ctx)
            block.forward(a.p(a.stream[l]), a.p(a.stream[l + 1]), a.layers[l], ctx)
        }
        let xL = a.p(a.stream[c.layers])
        switch c.kind {
        case .gpt:
            rmsNormForward(a.p(a.finalNormed), a.p(a.finalRstd), xL, p + layout.offset("rmsnorm_f.weight"), rows: n, width: d)
            linearForward(a.p(a.logits), a.p(a.finalNormed), lmHead, rows: n, inputs: d, outputs: v)
        case .ngpt:
            scalerForward(a.p(a.sz), layout.optionalOffset("sz").map { p + $0 }, c.sz, count: v)
            linearForward(a.p(a.logitsRaw), xL, lmHead, rows: n, inputs: d, outputs: v)
            scaleColumnsForward(a.p(a.logits), a.p(a.logitsRaw), a.p(a.sz), rows: n, columns: v)
        }
        guard a.hasTargets else { return nil }
        return a.targets.withUnsafeBufferPointer {
            crossEntropyForward(a.p(a.losses), a.p(a.probs), a.p(a.logits), $0.baseAddress!, rows: n, vocabulary: v)
        }
    }

    /// Accumulates into ``gradients`` the gradient of the mean loss of the last forward pass
    /// with targets. Call ``zeroGradients()`` first unless accumulating over micro-batches;
    /// `lossScale` multiplies the gradient (e.g. 1/steps when accumulating).
    public func backward(lossScale: Float = 1) throws {
        guard let a = acts, a.hasTargets else { throw ModelInputError.noForwardWithTargets }
        let c = config, ctx = context(a), p = parameters.base, g = gradients.base
        let (n, d, v) = (a.rows, c.width, c.vocabularySize)
        let lm = layout.offset("lm_head.weight")
        let dlogits = a.p(a.probs)
        a.targets.withUnsafeBufferPointer {
            crossEntropyBackward(dlogits, $0.baseAddress!, dloss: lossScale, rows: n, vocabulary: v)
        }
        a.hasTargets = false   // probs now hold dlogits
        var cur = a.p(a.dStream[0]), other = a.p(a.dStream[1])
        cur.update(repeating: 0, count: n * d)
        let xL = a.p(a.stream[c.layers])
        switch c.kind {
        case .gpt:
            let dNormed = a.p(a.dNormed), rms = layout.offset("rmsnorm_f.weight")
            dNormed.update(repeating: 0, count: n * d)
            linearBackward(dNormed, g + lm, dlogits, a.p(a.finalNormed), p + lm, rows: n, inputs: d, outputs: v)
            rmsNormBackward(cur, g + rms, dNormed, xL, p + rms, a.p(a.finalRstd), rows: n, width: d)
        case .ngpt:
            let dRaw = a.p(a.dLogitsRaw), dsz = a.p(a.dScaler)
            dRaw.update(repeating: 0, count: n * v)
            dsz.update(repeating: 0, count: v)
            scaleColumnsBackward(dRaw, dsz, dlogits, a.p(a.logitsRaw), a.p(a.sz), rows: n, columns: v)
            let szOffset = layout.optionalOffset("sz")
            scalerBackward(szOffset.map { g + $0 }, dsz, szOffset.map { p + $0 }, c.sz, count: v)
            linearBackward(cur, g + lm, dRaw, xL, p + lm, rows: n, inputs: d, outputs: v)
        }
        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            other.update(repeating: 0, count: n * d)
            blocks[l].backward(cur, other, a.p(a.stream[l]), a.p(a.stream[l + 1]), a.layers[l], ctx)
            swap(&cur, &other)
        }
        let wte = layout.offset("transformer.wte.weight")
        a.tokens.withUnsafeBufferPointer { embeddingBackward(g + wte, cur, $0.baseAddress!, rows: n, width: d) }
    }

    /// The logits of the last forward pass, shape (B, T, V).
    public var logits: Tensor {
        guard let a = acts else { return Tensor(shape: [0, 0, config.vocabularySize]) }
        let count = a.rows * config.vocabularySize
        return Tensor(shape: [a.batch, a.sequence, config.vocabularySize], scalars: a.buffer.copy(a.logits..<a.logits + count))
    }

    /// Per-position losses of the last forward pass with targets, shape (B, T).
    public var positionLosses: Tensor {
        guard let a = acts else { return Tensor(shape: [0, 0]) }
        return Tensor(shape: [a.batch, a.sequence], scalars: a.buffer.copy(a.losses..<a.losses + a.rows))
    }
}
