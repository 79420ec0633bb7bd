import Foundation

/// Linear warm-up then cosine decay (docs/model.md §7), with `t` counted from 0:
/// `lr(t) = maxLR·t/W` for `t < W`, else `minLR + ½(1 + cos(π·(t−W)/(total−W)))·(maxLR − minLR)`.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var maxLR: Double
    public var warmup: Int
    public var total: Int
    public var minLR: Double

    public init(maxLR: Double, warmup: Int, total: Int, minLR: Double = 0) {
        self.maxLR = maxLR
        self.warmup = warmup
        self.total = total
        self.minLR = minLR
    }

    public func lr(at t: Int) -> Double {
        if t < warmup { return maxLR * Double(t) / Double(warmup) }
        guard total > warmup else { return minLR }
        let progress = min(1, Double(t - warmup) / Double(total - warmup))
        return minLR + 0.5 * (1 + cos(Double.pi * progress)) * (maxLR - minLR)
    }
}

/// A model's training recipe (docs/model.md §7); each architecture has its own
/// (``Architecture/recipe``): GPT decays weights and warms up, nGPT does neither.
public struct TrainingRecipe: Codable, Sendable, Equatable {
    public var learningRate: Double
    public var weightDecay: Double
    /// Warm-up steps as a fraction of the run's total steps.
    public var warmupFraction: Double
    public var minLR: Double
    public var clip: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double

    /// What both of the library's recipes share, and what keys missing from older run files
    /// take: no decay, no warm-up, cosine to 0, clip 1, β (0.9, 0.95), ε 1e-8 (the learning
    /// rate is 0: every recipe sets its own).
    public static let common = TrainingRecipe(learningRate: 0, weightDecay: 0, warmupFraction: 0,
                                              minLR: 0, clip: 1, beta1: 0.9, beta2: 0.95, epsilon: 1e-8)

    /// The schedule for a run of `steps` steps.
    public func schedule(steps: Int) -> LearningRateSchedule {
        LearningRateSchedule(maxLR: learningRate, warmup: Int((warmupFraction * Double(steps)).rounded()),
                             total: steps, minLR: minLR)
    }
}
