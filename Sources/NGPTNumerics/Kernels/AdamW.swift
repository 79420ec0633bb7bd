/// The constants of one AdamW update: learning rate, betas, epsilon, the bias corrections
/// `c1 = 1 − β1ᵗ`, `c2 = 1 − β2ᵗ`, and the factor clipping scales the gradients by (1: none).
package struct AdamWHyperparameters {
    package var lr: Float, beta1: Float, beta2: Float, epsilon: Float, c1: Float, c2: Float, clipScale: Float

    package init(lr: Float, beta1: Float, beta2: Float, epsilon: Float, c1: Float, c2: Float, clipScale: Float) {
        (self.lr, self.beta1, self.beta2, self.epsilon, self.c1, self.c2, self.clipScale) = (lr, beta1, beta2, epsilon, c1, c2, clipScale)
    }
}

/// One AdamW update of `count` parameters in place (PyTorch's order): g ← g·clipScale (written
/// back when clipping); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// p ← p·decay − lr·(m/c1)/(√(v/c2) + ε), where `decay` applies to the segments (parameter
/// tensors) that decay and 1 to the others. One parallel region over the whole buffer; each thread walks the
/// segments its range meets, eight elements at a time with exactly the scalar update's operations.
package func adamWUpdate(_ p: FloatPointer, _ g: FloatPointer, _ m: FloatPointer, _ v: FloatPointer,
                         segments: [(range: Range<Int>, decays: Bool)], decay weightDecay: Float, count: Int,
                         _ h: AdamWHyperparameters) {
    let clipping = h.clipScale != 1
    let (b1, b2, eps, lr, c1, c2, clipScale) = (h.beta1, h.beta2, h.epsilon, h.lr, h.c1, h.c2, h.clipScale)
    Threads.parallelRanges(count, minimum: 1 << 14, alignment: 16) { range in
        for s in segments where s.range.overlaps(range) {
            let decay = s.decays ? weightDecay : 1
            let lo = max(range.lowerBound, s.range.lowerBound), hi = min(range.upperBound, s.range.upperBound)
            let (p, g, m, v) = (p + lo, g + lo, m + lo, v + lo)
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                var gj = load(g + j, k)
                if clipping {
                    gj *= clipScale
                    store(gj, g + j, k)
                }
                let mj = b1 * load(m + j, k) + (1 - b1) * gj
                let vj = b2 * load(v + j, k) + (1 - b2) * gj * gj
                store(mj, m + j, k)
                store(vj, v + j, k)
                store(load(p + j, k) * decay - lr * (mj / c1) / ((vj / c2).squareRoot() + eps), p + j, k)
            }
            vectorLoop(hi - lo, lanes)
        }
    }
}
