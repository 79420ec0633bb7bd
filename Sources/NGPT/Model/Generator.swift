import Foundation

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

/// Autoregressive decoding with a key/value cache: each new token costs one position's work
/// instead of a forward pass over the whole window.
///
/// The window is the model's training context, as in nanoGPT: once a sequence is longer, the
/// logits of the next token are those of the last `context` tokens. Past that point the cache is
/// rebuilt from the cropped window at every step (RoPE positions shift), which gives exactly
/// what an uncached forward pass over the cropped window gives.
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

public final class Generator {
    public let model: Transformer
    /// The precision of the weight matrices in the products.
    public let precision: DecodingPrecision
    /// The longest window attended to (the model's context).
    public let window: Int
    private var tokens: [Int] = []
    private let buffer: FloatBuffer
    private let keys: [Int], values: [Int]          // per layer: (window, C)
    private let x: Int, a: Int, qkv: Int, attY: Int, branch: Int, xMid: Int, uv: Int, h: Int
    private let unit: Int, scores: Int, logits: Int, logitsRaw: Int, stats: Int, scalers: [Int], sz: Int
    private let wte: Int, lmHead: Int, finalNorm: Int?   // parameter offsets
    private let split: Int                               // (F) x split into even | odd columns
    /// bfloat16 pairs of the matrices (``DecodingPrecision/bfloat16`` only), by parameter offset.
    private let packed: UnsafeMutablePointer<UInt32>?
    private let packedOffsets: [Int: Int], packedSizes: [Int: Int]

    public init(model: Transformer, precision: DecodingPrecision = .float32) {
        self.model = model
        self.precision = precision
        let c = model.config
        let window = c.context
        self.window = window
        let (d, f, v, l) = (c.width, c.hiddenWidth, c.vocabularySize, c.layers)
        var k = Carver()
        var keys = [Int](), values = [Int]()
        for _ in 0..<l { keys.append(k.take(window * d)); values.append(k.take(window * d)) }
        self.keys = keys
        self.values = values
        x = k.take(d); a = k.take(d); qkv = k.take(3 * d); attY = k.take(d); branch = k.take(d)
        xMid = k.take(d); uv = k.take(2 * f); h = k.take(f); unit = k.take(2 * d); scores = k.take(window)
        logits = k.take(v); logitsRaw = k.take(v); stats = k.take(2 * c.heads + 8); sz = k.take(v)
        var scalers = [Int]()
        for _ in 0..<l { scalers.append(k.take(3 * d + 2 * f)) }
        self.scalers = scalers
        split = k.take(f)
        buffer = FloatBuffer(count: k.total)
        var offsets = [Int: Int](), sizes = [Int: Int](), words = 0
        if precision == .bfloat16 {
            // (parameter offset, floats): q|k|v is one (3d, d) matrix.
            let matrices = model.layerOffsets.flatMap { [($0.qkv, 3 * d * d), ($0.attProj, d * d), ($0.fc, 2 * f * d), ($0.mlpProj, d * f)] }
                + [(model.layout.offset("lm_head.weight"), v * d)]
            for (o, count) in matrices {
                offsets[o] = words
                sizes[o] = count
                words += count / 2
            }
        }
        packedOffsets = offsets
        packedSizes = sizes
        packed = precision == .bfloat16 ? .allocate(capacity: max(words, 1)) : nil
        wte = model.layout.offset("transformer.wte.weight")
        lmHead = model.layout.offset("lm_head.weight")
        finalNorm = model.layout.optionalOffset("rmsnorm_f.weight")
        reset()
    }

    deinit { packed?.deallocate() }

    private func p(_ o: Int) -> FloatPointer { buffer.base + o }

    /// out (O) = W·x, plus out when `accumulate`, W the (O, I) parameter at `weight`; in bfloat16
    /// from the packed copy when decoding in bfloat16.
    private func product(_ out: FloatPointer, _ x: FloatPointer, _ weight: Int, inputs i: Int, outputs o: Int,
                         accumulate: Bool = false) {
        guard let packed else {
            linearForward(out, x, model.parameters.base + weight, rows: 1, inputs: i, outputs: o, beta: accumulate ? 1 : 0)
            return
        }
        let target = accumulate ? p(branch) : out   // (d) GPT's residual products; GPT leaves `branch` unused
        linearRowBFloat16(target, x, packed + packedOffsets[weight]!, p(split), inputs: i, outputs: o)
        if accumulate { addInPlace(out, target, count: o) }
    }

    /// Forgets the sequence; the next ``append(_:)`` starts at position 0. Reads the model's
    /// current scalers, so a model trained further can be decoded again after a reset.
    public func reset() {
        tokens.removeAll()
        if let packed {
            let params = model.parameters.base
            for (offset, words) in packedOffsets {
                packBFloat16Pairs(packed + words, params + offset, count: packedSizes[offset]!)
            }
        }
        guard model.config.kind == .ngpt else { return }
        let c = model.config, params = model.parameters.base
        for (l, w) in model.layerOffsets.enumerated() {
            let s = p(scalers[l])
            scalerForward(s, w.attnAlpha.map { params + $0 }, c.alpha, count: c.width)
            scalerForward(s + c.width, w.mlpAlpha.map { params + $0 }, c.alpha, count: c.width)
            scalerForward(s + 2 * c.width, w.sqk.map { params + $0 }, c.sqk, count: c.width)
            scalerForward(s + 3 * c.width, w.suv.map { params + $0 }, c.suv, count: 2 * c.hiddenWidth)
        }
        scalerForward(p(sz), model.layout.optionalOffset("sz").map { params + $0 }, c.sz, count: c.vocabularySize)
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
        return buffer.copy(logits..<logits + v)
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

    /// One position through every layer, writing its k, v into the caches and the logits.
    private func step(_ token: Int, position pos: Int) {
        let c = model.config, params = model.parameters.base
        let (d, f, hN, v) = (c.width, c.hiddenWidth, c.heads, c.vocabularySize)
        let xp = p(x), st = p(stats)
        xp.update(from: params + wte + token * d, count: d)
        for (l, w) in model.layerOffsets.enumerated() {
            let q = p(qkv)
            switch c.kind {
            case .gpt:
                rmsNormForward(p(a), st, xp, params + w.rmsAtt!, rows: 1, width: d)
                product(q, p(a), w.qkv, inputs: d, outputs: 3 * d)
                ropeForward(q, model.rope, rows: 1, sequence: 1, heads: hN, rowStride: 3 * d, blocks: 2, start: pos)
            case .ngpt:
                let s = p(scalers[l])
                product(q, xp, w.qkv, inputs: d, outputs: 3 * d)
                ropeForward(q, model.rope, rows: 1, sequence: 1, heads: hN, rowStride: 3 * d, blocks: 2, start: pos)
                qkNormForward(q, p(unit), st, s + 2 * d, rows: 1, width: d, heads: hN, rowStride: 3 * d,
                              normalize: c.qkNormalization)
            }
            (p(keys[l]) + pos * d).update(from: q + d, count: d)
            (p(values[l]) + pos * d).update(from: q + 2 * d, count: d)
            let scale = c.kind == .gpt ? 1 / Float(c.headWidth).squareRoot() : Float(c.headWidth).squareRoot()
            cachedAttentionForward(p(attY), q, p(keys[l]), p(values[l]), p(scores), length: pos + 1,
                                   width: d, heads: hN, scale: scale)
            switch c.kind {
            case .gpt:
                product(xp, p(attY), w.attProj, inputs: d, outputs: d, accumulate: true)
                rmsNormForward(p(a), st, xp, params + w.rmsMlp!, rows: 1, width: d)
                product(p(uv), p(a), w.fc, inputs: d, outputs: 2 * f)
                swigluForward(p(h), p(uv), nil, multiplier: 1, rows: 1, hidden: f)
                product(xp, p(h), w.mlpProj, inputs: f, outputs: d, accumulate: true)
            case .ngpt:
                let s = p(scalers[l])
                product(p(branch), p(attY), w.attProj, inputs: d, outputs: d)
                lerpResidualForward(p(xMid), st, p(a), st + 1, st + 2, xp, p(branch), s, rows: 1, width: d)
                product(p(uv), p(xMid), w.fc, inputs: d, outputs: 2 * f)
                swigluForward(p(h), p(uv), s + 3 * d, multiplier: Float(d).squareRoot(), rows: 1, hidden: f)
                product(p(branch), p(h), w.mlpProj, inputs: f, outputs: d)
                lerpResidualForward(xp, st, p(a), st + 1, st + 2, p(xMid), p(branch), s + d, rows: 1, width: d)
            }
        }
        switch c.kind {
        case .gpt:
            rmsNormForward(p(a), st, xp, params + finalNorm!, rows: 1, width: d)
            product(p(logits), p(a), lmHead, inputs: d, outputs: v)
        case .ngpt:
            product(p(logitsRaw), xp, lmHead, inputs: d, outputs: v)
            scaleColumnsForward(p(logits), p(logitsRaw), p(sz), rows: 1, columns: v)
        }
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
            try forward(tokens: window, targets: nil, batch: 1, sequence: window.count)
            let all = logits.scalars
            let t = options.sample(Array(all[(window.count - 1) * v..<window.count * v]), using: &rng)
            out.append(t)
            seq.append(t)
        }
        return out
    }
}
