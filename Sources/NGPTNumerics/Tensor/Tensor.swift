/// A dense float32 array with a shape, stored row-major (the last axis is contiguous).
///
/// `Tensor` is a value type backed by a Swift array: copies are cheap until written. Element
/// access checks bounds; kernels reach the storage through `withUnsafe…` closures only.
public struct Tensor: Equatable, Sendable, CustomStringConvertible {
    /// The extent of each axis; empty for a scalar.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public private(set) var scalars: [Float]

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of the given shape holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A rank-2 tensor from rows of equal length.
    public init(rows: [[Float]]) {
        let cols = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == cols }, "rows of unequal length")
        self.init(shape: [rows.count, cols], scalars: rows.flatMap { $0 })
    }

    public var rank: Int { shape.count }
    public var count: Int { scalars.count }

    /// Rows of a rank-2 tensor.
    public var rows: Int { precondition(rank == 2, "rows of a rank-\(rank) tensor"); return shape[0] }
    /// Columns of a rank-2 tensor.
    public var columns: Int { precondition(rank == 2, "columns of a rank-\(rank) tensor"); return shape[1] }

    /// Row-major offset of a multi-index, with bounds checks on every axis.
    public func offset(of index: [Int]) -> Int {
        precondition(index.count == rank, "index \(index) for a tensor of shape \(shape)")
        var o = 0
        for (axis, (i, n)) in zip(index, shape).enumerated() {
            precondition(i >= 0 && i < n, "index \(i) out of range 0..<\(n) on axis \(axis)")
            o = o * n + i
        }
        return o
    }

    public subscript(index: Int...) -> Float {
        get { scalars[offset(of: index)] }
        set { scalars[offset(of: index)] = newValue }
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// The transpose of a rank-2 tensor.
    public var transposed: Tensor {
        var t = Tensor(shape: [columns, rows])
        for i in 0..<rows { for j in 0..<columns { t.scalars[j * rows + i] = scalars[i * columns + j] } }
        return t
    }

    /// Rows `range` of a rank-2 tensor, copied.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of \(rows)")
        return Tensor(shape: [range.count, columns],
                      scalars: Array(scalars[range.lowerBound * columns..<range.upperBound * columns]))
    }

    /// Columns `range` of a rank-2 tensor, copied.
    public func columns(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= columns, "columns \(range) of \(columns)")
        var out = [Float]()
        out.reserveCapacity(rows * range.count)
        for i in 0..<rows { out += scalars[i * columns + range.lowerBound..<i * columns + range.upperBound] }
        return Tensor(shape: [rows, range.count], scalars: out)
    }

    /// Largest absolute element-wise difference; shapes must match.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        // NaN anywhere is the answer: `max` would drop it and report a NaN tensor as equal.
        var m: Float = 0
        for (a, b) in zip(scalars, other.scalars) {
            let d = abs(a - b)
            if d.isNaN { return .nan }
            m = max(m, d)
        }
        return m
    }

    /// Largest absolute element; NaN if any element is NaN.
    public var maxAbs: Float {
        var m: Float = 0
        for x in scalars {
            if x.isNaN { return .nan }
            m = max(m, abs(x))
        }
        return m
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    public var description: String { "Tensor(shape: \(shape))" }
}
