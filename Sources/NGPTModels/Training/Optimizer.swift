import Foundation
import NGPTNumerics

/// AdamW with PyTorch's semantics (docs/model.md §7), over the flat parameter buffer.
///
/// One step: clip the global gradient norm; for every parameter, decoupled weight decay
/// `p ← p − lr·wd·p` (rank ≥ 2 tensors only), then Adam with bias correction. The two moments
/// share the parameters' layout, so a checkpoint stores them as named tensors.
public final class AdamW {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Largest allowed global gradient norm; `nil` or ≤ 0 turns clipping off.
    public var clip: Float?
    /// Steps taken so far (`t` of the bias correction is `step + 1` during a step).
    public private(set) var step: Int = 0
    public let firstMoment: ParameterBuffer
    public let secondMoment: ParameterBuffer
    /// Each parameter tensor's elements and whether weight decay applies to it.
    private let segments: [(range: Range<Int>, decays: Bool)]

    public init(layout: ParameterLayout, weightDecay: Float, clip: Float? = 1,
                beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.clip = clip
        firstMoment = ParameterBuffer(layout: layout)
        secondMoment = ParameterBuffer(layout: layout)
        segments = layout.entries.map { ($0.range, $0.decays) }
    }

    /// Restores the step count (with the moments, from a checkpoint).
    public func restore(step: Int) {
        precondition(step >= 0, "negative optimiser step \(step)")
        self.step = step
    }

    /// The global L2 norm of the gradients, accumulated in Double: the buffer is cut into 64
    /// fixed slices, summed in parallel and combined in order, so the value does not depend on
    /// the thread count.
    public static func gradientNorm(_ gradients: ParameterBuffer) -> Float {
        let g = gradients.base, count = gradients.layout.count
        let slices = 64, size = (count + slices - 1) / slices
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: slices) { partial in
            let sums = partial.baseAddress!
            Threads.parallelRanges(slices, minimum: max(1, (1 << 16) / max(1, size))) { range in
                for slice in range {
                    var s = SIMD4<Double>()
                    var i = slice * size
                    let end = min(count, i + size)
                    while i + 4 <= end {
                        let v = SIMD4<Double>(Double(g[i]), Double(g[i + 1]), Double(g[i + 2]), Double(g[i + 3]))
                        s += v * v
                        i += 4
                    }
                    var tail = 0.0
                    while i < end { tail += Double(g[i]) * Double(g[i]); i += 1 }
                    sums[slice] = s.sum() + tail
                }
            }
            var ss = 0.0
            for slice in 0..<slices { ss += sums[slice] }
            return Float(ss.squareRoot())
        }
    }

    /// Applies one update to `parameters` from `gradients` (which are clipped in place) at
    /// learning rate `lr`. Returns the gradient norm before clipping; pass it as `gradientNorm`
    /// when it is already known (``gradientNorm(_:)`` of the same gradients) to skip computing
    /// it again. Elements are updated in parallel; each depends only on itself.
    @discardableResult
    public func update(_ parameters: ParameterBuffer, gradients: ParameterBuffer, lr: Float,
                       gradientNorm known: Float? = nil) -> Float {
        precondition(parameters.layout == firstMoment.layout && gradients.layout == firstMoment.layout,
                     "optimiser, parameters and gradients must share one layout")
        let norm = known ?? Self.gradientNorm(gradients)
        let clipScale: Float = if let clip, clip > 0, norm > clip { clip / (norm + 1e-6) } else { 1 }
        step += 1
        let t = Double(step)
        let c1 = Float(1 - pow(Double(beta1), t)), c2 = Float(1 - pow(Double(beta2), t))
        adamWUpdate(parameters.base, gradients.base, firstMoment.base, secondMoment.base, segments: segments,
                    decay: 1 - lr * weightDecay, count: parameters.layout.count,
                    AdamWHyperparameters(lr: lr, beta1: beta1, beta2: beta2, epsilon: epsilon, c1: c1, c2: c2, clipScale: clipScale))
        return norm
    }
}
