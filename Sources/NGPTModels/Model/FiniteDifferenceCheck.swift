import NGPTNumerics

/// Checks a model's backward against finite differences of its loss: for every parameter
/// tensor, the derivative of the mean loss along the tensor's own gradient direction (which must
/// equal the gradient's norm) and along a seeded random unit direction, by central differences.
///
/// For any ``Architecture``, this is the test that its blocks' and head's backward passes agree
/// with their forward passes. In float32 with the default step h = 1e-2 the difference quotient
/// is accurate to about 1e-3 of a typical gradient norm at the tiny shapes a check uses; a
/// dropped or mis-signed term is off by O(1), far outside the tolerance
/// `relativeTolerance·‖g‖ + absoluteTolerance`.
public struct FiniteDifferenceCheck: Sendable {
    /// One derivative compared.
    public struct Comparison: Sendable, CustomStringConvertible {
        public var parameter: String
        /// "gradient" or "random".
        public var direction: String
        /// ⟨gradient, u⟩ from backward.
        public var analytic: Double
        /// (L(p + h·u) − L(p − h·u)) / 2h.
        public var numeric: Double
        public var tolerance: Double
        public var passed: Bool { abs(analytic - numeric) <= tolerance }

        public var description: String {
            "\(parameter) along the \(direction) direction: backward \(analytic), finite differences \(numeric) (tolerance \(tolerance))"
        }
    }

    public var step: Float = 1e-2
    public var relativeTolerance: Double = 2e-2
    public var absoluteTolerance: Double = 2e-4
    /// Multiplies every vector parameter (scalers, gains) by 1 + 0.3·N(0, 1) first, so that a
    /// check does not happen to pass only at their initial values (|p|, sign and scale matter).
    public var perturbVectors = true

    public init() {}

    /// Runs the check on `model` (its parameters are restored afterwards, except for the vector
    /// perturbation) with seeded random tokens and targets: `batch` sequences of `sequence`.
    public func run(_ model: Transformer, batch: Int = 2, sequence: Int, seed: UInt64) throws -> [Comparison] {
        var rng = SeededGenerator(seed: seed)
        if perturbVectors {
            for e in model.layout.entries where e.shape.count == 1 {
                var t = model.parameters.tensor(e.name)!
                for i in 0..<t.count { t[i] = t[i] * Float(1 + 0.3 * rng.nextNormal()) }
                model.parameters.set(e.name, t)
            }
        }
        let v = UInt64(model.config.vocabularySize), n = batch * sequence
        let tokens = (0..<n).map { _ in Int(rng.next() % v) }
        let targets = (0..<n).map { _ in Int(rng.next() % v) }
        func loss() throws -> Double { Double(try model.forward(tokens: tokens, targets: targets, batch: batch, sequence: sequence)) }
        _ = try loss()
        model.zeroGradients()
        try model.backward()
        var out = [Comparison]()
        for e in model.layout.entries {
            let grad = model.gradients.tensor(e.name)!, saved = model.parameters.tensor(e.name)!
            let gnorm = Double(grad.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot())
            var random = (0..<e.count).map { _ in Float(rng.nextNormal()) }
            let rnorm = random.reduce(0) { $0 + $1 * $1 }.squareRoot()
            random = random.map { $0 / rnorm }
            let directions: [(String, [Float])] = (gnorm > 0 ? [("gradient", grad.scalars.map { $0 / Float(gnorm) })] : [])
                + [("random", random)]
            for (name, u) in directions {
                func shifted(_ s: Float) throws -> Double {
                    model.parameters.set(e.name, Tensor(shape: e.shape, scalars: zip(saved.scalars, u).map { $0 + s * $1 }))
                    return try loss()
                }
                let numeric = (try shifted(step) - shifted(-step)) / (2 * Double(step))
                model.parameters.set(e.name, saved)
                let analytic = zip(grad.scalars, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                out.append(Comparison(parameter: e.name, direction: name, analytic: analytic, numeric: numeric,
                                      tolerance: relativeTolerance * gnorm + absoluteTolerance))
            }
        }
        return out
    }
}
