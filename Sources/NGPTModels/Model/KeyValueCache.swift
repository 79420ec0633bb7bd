import NGPTNumerics

/// Keys and values of every layer for the positions decoded so far, (window, C) per layer.
final class KeyValueCache {
    let layers: Int, window: Int, width: Int
    let buffer: FloatBuffer
    private let perLayer: Int

    init(layers: Int, window: Int, width: Int) {
        self.layers = layers
        self.window = window
        self.width = width
        perLayer = 2 * window * width
        buffer = FloatBuffer(count: layers * perLayer + window)
    }

    /// Stores this position's k, v (from the rotated, normalised q | k | v row) and attends.
    func attend(_ out: FloatPointer, qkv: FloatPointer, layer: Int, position: Int, width c: Int, heads: Int, scale: Float) {
        precondition(layer >= 0 && layer < layers, "layer \(layer) outside a cache of \(layers) layers")
        precondition(position < window && c == width, "position \(position) outside the cache")
        let keys = buffer.base + layer * perLayer, values = keys + window * c, scores = buffer.base + buffer.count - window
        (keys + position * c).update(from: qkv + c, count: c)
        (values + position * c).update(from: qkv + 2 * c, count: c)
        cachedAttentionForward(out, qkv, keys, values, scores, length: position + 1, width: c, heads: heads, scale: scale)
    }
}

/// What a decoding pass reads besides its slots (``Pass/Mode/decoding(_:)``): the key/value
/// cache attention appends to, the position being decoded, and the bfloat16 copies of the
/// weights its one-row products read when decoding in bfloat16.
final class DecodingState {
    let cache: KeyValueCache
    let packed: BFloat16Weights?
    /// The position of the row being decoded.
    var position = 0

    init(cache: KeyValueCache, packed: BFloat16Weights?) {
        self.cache = cache
        self.packed = packed
    }
}
