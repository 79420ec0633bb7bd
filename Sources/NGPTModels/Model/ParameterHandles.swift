import NGPTNumerics

// Parameter handles: what a block takes from the ``ParameterLayout`` when it is built, and what
// ``Pass`` turns into the kernels' pointers. A block never holds a pointer.

/// A parameter matrix `(rows, columns)` in PyTorch's `(out, in)` layout (or several adjacent
/// ones read as one, such as query | key | value), as the operand of a linear map.
public struct Weight: Sendable, Equatable {
    let offset: Int
    public let rows: Int
    public let columns: Int
}

/// A learnable scaler (or a fixed one: no parameter) and how its stored values map to the
/// effective ones (``/NGPTNumerics/ScalerConfig``), for `count` dimensions.
public struct Scaler: Sendable, Equatable {
    let offset: Int?
    public let config: ScalerConfig
    public let count: Int
}

extension ParameterLayout {
    /// The matrix called `name`.
    public func weight(_ name: String) -> Weight { weight(fusing: [name]) }

    /// Adjacent matrices with equal columns read as one, rows stacked in order (q | k | v).
    public func weight(fusing names: [String]) -> Weight {
        let entries = names.map { n -> ParameterEntry in
            guard let e = entry(n) else { preconditionFailure("no parameter named \(n)") }
            precondition(e.shape.count == 2, "\(n) is not a matrix")
            return e
        }
        for (a, b) in zip(entries, entries.dropFirst()) {
            precondition(b.offset == a.offset + a.count && b.shape[1] == a.shape[1], "\(a.name) and \(b.name) are not adjacent matrices of equal width")
        }
        return Weight(offset: entries[0].offset, rows: entries.reduce(0) { $0 + $1.shape[0] }, columns: entries[0].shape[1])
    }

    /// The vector called `name` (an RMSNorm gain, say) as a one-row weight.
    public func vector(_ name: String) -> Weight {
        guard let e = entry(name) else { preconditionFailure("no parameter named \(name)") }
        return Weight(offset: e.offset, rows: 1, columns: e.count)
    }

    /// The scaler called `name` with `count` effective dimensions; a fixed scaler has no entry.
    public func scaler(_ name: String, _ config: ScalerConfig, count: Int) -> Scaler {
        let offset = entry(name)?.offset
        precondition((offset == nil) == (config.mode == .fixed), "scaler \(name): layout and configuration disagree")
        return Scaler(offset: offset, config: config, count: count)
    }
}
