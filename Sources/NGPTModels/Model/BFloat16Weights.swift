import NGPTNumerics

/// bfloat16 copies of a model's matrices for decoding (``DecodingPrecision/bfloat16``): each
/// matrix is packed the first time a product reads it after ``invalidate()``.
final class BFloat16Weights {
    private var packed: [Int: UnsafeMutablePointer<UInt32>] = [:]
    private let split: FloatBuffer, sum: FloatBuffer

    init(maxWidth: Int) {
        split = FloatBuffer(count: maxWidth)
        sum = FloatBuffer(count: maxWidth)
    }

    deinit { invalidate() }

    /// Forgets the copies (the weights changed).
    func invalidate() {
        for (_, p) in packed { p.deallocate() }
        packed.removeAll()
    }

    /// out (O) = W·x from the bfloat16 copy of W, or out += W·x.
    func product(_ out: FloatPointer, _ x: FloatPointer, weightOffset: Int, weight: FloatPointer, inputs i: Int,
                 outputs o: Int, accumulate: Bool) {
        let words: UnsafeMutablePointer<UInt32>
        if let w = packed[weightOffset] { words = w } else {
            words = .allocate(capacity: max(1, i * o / 2))
            packBFloat16Pairs(words, weight, count: i * o)
            packed[weightOffset] = words
        }
        let target = accumulate ? sum.base : out
        linearRowBFloat16(target, x, words, split.base, inputs: i, outputs: o)
        if accumulate { addInPlace(out, target, count: o) }
    }
}
