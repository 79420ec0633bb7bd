/// A fixed-size, zero-initialised block of float32 memory owned by a class, for the model's
/// parameters, gradients, optimiser moments and activations: allocated once, never resized, and
/// handed to kernels as a raw pointer. Outside the library it is read and written through
/// ``Tensor`` copies.
public final class FloatBuffer {
    public let count: Int
    package let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "negative buffer size \(count)")
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { base.deallocate() }

    /// Sets every element to zero (in parallel for large buffers).
    public func zero() {
        let base = base
        Threads.parallelRanges(count, minimum: 1 << 18, alignment: 16) { r in
            (base + r.lowerBound).update(repeating: 0, count: r.count)
        }
    }

    /// A copy of elements `range`.
    public func copy(_ range: Range<Int>) -> [Float] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) of \(count)")
        return Array(UnsafeBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Overwrites elements starting at `offset` with `values`.
    public func write(_ values: [Float], at offset: Int) {
        precondition(offset >= 0 && offset + values.count <= count, "write of \(values.count) at \(offset) into \(count)")
        values.withUnsafeBufferPointer { (base + offset).update(from: $0.baseAddress!, count: values.count) }
    }

    /// Copies all elements from a buffer of the same size.
    public func assign(from other: FloatBuffer) {
        precondition(other.count == count, "assigning \(other.count) elements to \(count)")
        base.update(from: other.base, count: count)
    }

    public subscript(i: Int) -> Float {
        get { precondition(i >= 0 && i < count, "index \(i) of \(count)"); return base[i] }
        set { precondition(i >= 0 && i < count, "index \(i) of \(count)"); base[i] = newValue }
    }

    /// All elements as an array.
    public var array: [Float] { copy(0..<count) }
}
