import Foundation
import NGPTNumerics

/// How the next token is drawn from the logits.
public struct SamplingOptions: Sendable, Equatable {
    /// Softmax temperature; 0 picks the most likely token (greedy).
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (nil: all).
    public var topK: Int?
    public var seed: UInt64

    public init(temperature: Float = 1, topK: Int? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }

    /// Draws a token from `logits` with `rng`.
    public func sample(_ logits: [Float], using rng: inout SeededGenerator) -> Int {
        if temperature <= 0 { return logits.indices.max { logits[$0] < logits[$1] }! }
        var order = Array(logits.indices)
        if let k = topK, k > 0, k < logits.count {
            order.sort { logits[$0] > logits[$1] }
            order.removeLast(logits.count - k)
        }
        let m = order.map { logits[$0] }.max()!
        let weights = order.map { Foundation.exp(Double(logits[$0] - m) / Double(temperature)) }
        var u = rng.nextUniform() * weights.reduce(0, +)
        for (i, w) in zip(order, weights) {
            u -= w
            if u < 0 { return i }
        }
        return order.last!
    }
}

/// The precision of the weight matrices while decoding.
public enum DecodingPrecision: String, Sendable, CaseIterable, Codable {
    /// The model's own float32 weights: logits as a full forward pass gives them.
    case float32
    /// A bfloat16 copy of the block matrices and `lm_head` (taken at ``Generator/reset()``):
    /// the products are those of the weights rounded to 8 significant bits, accumulated in
    /// float32, and read half the bytes per token (decoding one position is bound by reading
    /// the weights).
    case bfloat16
}

/// Autoregressive decoding with a key/value cache: each new token costs one position's work
/// instead of a forward pass over the whole window.
///
/// The window is the model's training context, as in nanoGPT: once a sequence is longer, the
/// logits of the next token are those of the last `context` tokens. Past that point the cache is
/// rebuilt from the cropped window at every step (RoPE positions shift), which gives exactly
/// what an uncached forward pass over the cropped window gives.
public final class Generator {
    public let model: Transformer
    /// The precision of the weight matrices in the products.
    public let precision: DecodingPrecision
    /// The longest window attended to (the model's context).
    public let window: Int
    private var tokens: [Int] = []
    /// The model's own blocks and head for one position at a time, attending to the cache.
    private let graph: Graph
    /// The cache, the position and the bfloat16 copies the graph's pass reads.
    private let state: DecodingState

    public init(model: Transformer, precision: DecodingPrecision = .float32) {
        self.model = model
        self.precision = precision
        let c = model.config
        window = c.context
        state = DecodingState(cache: KeyValueCache(layers: c.layers, window: window, width: c.width),
                              packed: precision == .bfloat16 ? BFloat16Weights(maxWidth: max(2 * c.hiddenWidth, c.vocabularySize)) : nil)
        graph = model.makeGraph(batch: 1, sequence: 1, mode: .decoding(state))
        reset()
    }

    /// Forgets the sequence; the next ``append(_:)`` starts at position 0. Takes a new bfloat16
    /// copy of the weights, so a model trained further can be decoded again after a reset.
    public func reset() {
        tokens.removeAll()
        state.packed?.invalidate()
    }

    /// Feeds `prompt` from an empty sequence and returns the logits for the token after it.
    public func prime(_ prompt: [Int]) throws -> [Float] {
        guard !prompt.isEmpty else { throw ModelInputError.emptyBatch }
        reset()
        var out = [Float]()
        for t in prompt { out = try append(t) }
        return out
    }

    /// Appends one token and returns the logits (V) for the next one.
    public func append(_ token: Int) throws -> [Float] {
        let v = model.config.vocabularySize
        guard token >= 0 && token < v else {
            throw ModelInputError.tokenOutOfRange(position: tokens.count, token: token, vocabularySize: v)
        }
        if tokens.count < window {
            tokens.append(token)
            step(token, position: tokens.count - 1)
        } else {
            // The window is full: re-encode the last `window` tokens at positions 0..<window.
            let kept = Array((tokens + [token]).suffix(window))
            tokens = []
            for (i, t) in kept.enumerated() {
                tokens.append(t)
                step(t, position: i)
            }
        }
        return graph.pass.values(graph.logits)
    }

    /// Generates `count` tokens after `prompt`.
    public func generate(prompt: [Int], count: Int, options: SamplingOptions) throws -> [Int] {
        var rng = SeededGenerator(seed: options.seed)
        var next = try prime(prompt)
        var out = [Int]()
        for i in 0..<count {
            let t = options.sample(next, using: &rng)
            out.append(t)
            if i + 1 < count { next = try append(t) }
        }
        return out
    }

    /// One position through the model's blocks, writing its k, v into the cache and the logits.
    private func step(_ token: Int, position: Int) {
        graph.tokens[0] = Int32(token)
        graph.hasTargets = false
        state.position = position
        _ = model.run(graph)
    }
}

extension Transformer {
    /// Generates `count` tokens after `prompt` without a cache: a full forward pass over the
    /// last `context` tokens per new token. The reference for ``Generator``; slower.
    public func generateUncached(prompt: [Int], count: Int, options: SamplingOptions) throws -> [Int] {
        guard !prompt.isEmpty else { throw ModelInputError.emptyBatch }
        var rng = SeededGenerator(seed: options.seed)
        var seq = prompt, out = [Int]()
        let v = config.vocabularySize
        for _ in 0..<count {
            let window = Array(seq.suffix(config.context))
            try forward(tokens: window, batch: 1, sequence: window.count)
            let all = logits.scalars
            let t = options.sample(Array(all[(window.count - 1) * v..<window.count * v]), using: &rng)
            out.append(t)
            seq.append(t)
        }
        return out
    }
}
