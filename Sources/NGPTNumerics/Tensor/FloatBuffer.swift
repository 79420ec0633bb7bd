import Foundation

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
        base = FloatBuffer.allocate(max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { free(base) }

    /// Buffers of at least this many bytes are placed on 2 MiB boundaries and offered to the
    /// kernel for transparent huge pages.
    static let hugePageThreshold = 4 << 20

    /// `count` floats from `posix_memalign`. A large buffer (the activations, the parameters and
    /// their moments) asks for huge pages (`madvise(MADV_HUGEPAGE)`; Linux gives them where
    /// transparent huge pages are `always` or `madvise`): one TLB entry maps 2 MiB instead of
    /// 4 KiB, which the passes over activations and BLAS's packing of large operands feel.
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = count * MemoryLayout<Float>.stride, huge = bytes >= hugePageThreshold
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, huge ? 2 << 20 : 64, bytes) == 0, let raw else {
            fatalError("out of memory: \(bytes) bytes for a float buffer")
        }
        #if os(Linux)
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        #endif
        return raw.bindMemory(to: Float.self, capacity: count)
    }

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
