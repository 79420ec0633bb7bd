import NGPTNumerics

/// A flat buffer laid out by a ``ParameterLayout``: the parameters, their gradients, or an
/// optimiser moment. Named views copy in and out as ``/NGPTNumerics/Tensor``s.
public final class ParameterBuffer {
    public let layout: ParameterLayout
    public let storage: FloatBuffer

    public init(layout: ParameterLayout) {
        self.layout = layout
        self.storage = FloatBuffer(count: layout.count)
    }

    var base: UnsafeMutablePointer<Float> { storage.base }

    /// The tensor called `name` (a copy), or nil when the model has no such parameter.
    public func tensor(_ name: String) -> Tensor? {
        guard let e = layout.entry(name) else { return nil }
        return Tensor(shape: e.shape, scalars: storage.copy(e.range))
    }

    /// Overwrites the tensor called `name`; the name must exist and the shape match.
    public func set(_ name: String, _ t: Tensor) {
        guard let e = layout.entry(name) else { preconditionFailure("no parameter named \(name)") }
        precondition(e.shape == t.shape, "\(name): shape \(t.shape), expected \(e.shape)")
        storage.write(t.scalars, at: e.offset)
    }

    /// Every parameter as (name, tensor) in layout order.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        layout.entries.map { ($0.name, Tensor(shape: $0.shape, scalars: storage.copy($0.range))) }
    }

    public func zero() { storage.zero() }
}
