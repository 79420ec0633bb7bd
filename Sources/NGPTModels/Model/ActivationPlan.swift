import NGPTNumerics

// What a block reserves before a pass is built: slots of its own (what its forward keeps for
// backward) and scratch shared by every layer, named by a type. Offsets are fixed when the pass
// is built (``Pass``), so nothing is allocated per step.

/// A tensor of one pass's activations: `count` floats of the pass's buffer, usually `(N, width)`
/// with `N` the pass's ``Pass/rows``. Reserved from an ``ActivationPlan``.
public struct Slot: Sendable, Equatable {
    let id: Int
    let start: Int
    /// Floats in the slot.
    public let count: Int

    /// Floats `start..<start + count` of this slot (for example `u` of a `u | ν` buffer).
    public func part(_ start: Int, _ count: Int) -> Slot {
        precondition(start >= 0 && count >= 0 && start + count <= self.count, "part \(start)..<\(start + count) of a slot of \(self.count)")
        return Slot(id: id, start: self.start + start, count: count)
    }
}

/// Names scratch space that every layer of a pass shares (``ActivationPlan/shared(_:_:)``).
///
/// A key is a type, so a misspelt key does not compile and two keys never collide by accident:
/// a variant declares its own as `enum MyScratch: ScratchKey {}`. The library's keys are in
/// ``Scratch``.
public protocol ScratchKey {}

/// The scratch keys of the library's blocks and heads; a variant's block that reuses one shares
/// that buffer with them (it is as large as the largest request).
public enum Scratch {
    /// (N, F): the MLP's hidden activation `u ⊙ SiLU(ν)`, recomputed by backward.
    public enum Hidden: ScratchKey {}
    /// (N, F): the gradient of the hidden activation.
    public enum HiddenGradient: ScratchKey {}
    /// (N, 2F): the gradient of the MLP's `u | ν`.
    public enum MLPInputGradient: ScratchKey {}
    /// (N, C): the gradient of a normalised input (GPT's RMSNorm outputs, the final norm).
    public enum NormedGradient: ScratchKey {}
    /// (N, C): the gradient of the stream between attention and the MLP.
    public enum MidStreamGradient: ScratchKey {}
    /// (N, C): the gradient of the attention's output.
    public enum AttentionOutputGradient: ScratchKey {}
    /// (N, 3C): the gradient of q | k | v.
    public enum QKVGradient: ScratchKey {}
    /// As large as the attention probabilities: the gradient of the scores.
    public enum ProbabilityGradient: ScratchKey {}
    /// (2C) or (C): the gradient of the effective q/k gains (``GPTBlock/QKNormalization``).
    public enum QKGainGradient: ScratchKey {}
    /// (N, C): nGPT's branch output `h_A` or `h_M` before its residual update.
    public enum Branch: ScratchKey {}
    /// (N, C): the gradient of the branch output.
    public enum BranchGradient: ScratchKey {}
    /// The gradients of a block's or head's effective scalers.
    public enum ScalerGradients: ScratchKey {}
    /// (N): what the LERP residual's backward needs per row.
    public enum LerpScratch: ScratchKey {}
}

/// Reserves the activations of one pass shape: what each block keeps from forward for backward
/// (``reserve(_:)``, ``rows(_:)``), and scratch that every layer reuses (``shared(_:_:)``).
/// Offsets are fixed when the pass is built, so nothing is allocated per step. Whether the pass
/// trains or decodes is fixed here too (``decoding``).
public struct ActivationPlan {
    /// Sequences in the pass (1 when decoding).
    public let batch: Int
    /// Positions per sequence (1 when decoding: one new position at a time).
    public let sequence: Int
    /// `N = batch · sequence`.
    public var rows: Int { batch * sequence }
    /// Training (a window, with backward) or decoding (one position against a key/value cache).
    let mode: Pass.Mode
    /// True for a decoding pass: attention reads a key/value cache, and no backward runs.
    public var decoding: Bool { mode.decoding != nil }
    /// The model's configuration.
    public let config: ModelConfig

    var sizes: [Int] = []
    private var sharedID: [ObjectIdentifier: Int] = [:]

    init(config: ModelConfig, batch: Int, sequence: Int, mode: Pass.Mode) {
        self.config = config
        self.batch = batch
        self.sequence = sequence
        self.mode = mode
    }

    /// A slot of its own, `count` floats.
    public mutating func reserve(_ count: Int) -> Slot {
        sizes.append(count)
        return Slot(id: sizes.count - 1, start: 0, count: count)
    }

    /// `(N, width)` of its own.
    public mutating func rows(_ width: Int) -> Slot { reserve(rows * width) }

    /// Scratch shared by every caller that asks for `key`; as large as the largest request
    /// (the slot returned has the requested size).
    public mutating func shared<Key: ScratchKey>(_ key: Key.Type, _ count: Int) -> Slot {
        let name = ObjectIdentifier(key)
        if let id = sharedID[name] {
            sizes[id] = max(sizes[id], count)
            return Slot(id: id, start: 0, count: count)
        }
        sizes.append(count)
        sharedID[name] = sizes.count - 1
        return Slot(id: sizes.count - 1, start: 0, count: count)
    }

    /// What causal attention keeps for backward: the probabilities of `heads` heads over the
    /// window (nothing when decoding: the cache holds its own scores).
    public mutating func attentionProbabilities(heads: Int) -> Slot {
        reserve(decoding ? 0 : batch * heads * attentionScoresCount(sequence: sequence))
    }
}

/// What ``Pass/lerpResidual(_:_:_:alpha:saved:normalize:)`` keeps for backward: 1/‖x‖, Norm(h),
/// 1/‖h‖ and 1/‖z‖ per row.
public struct LerpSaved: Sendable {
    public let rnormX: Slot, hUnit: Slot, rnormH: Slot, rnormZ: Slot

    /// Reserves the four slots for rows of `width`.
    public init(_ plan: inout ActivationPlan, width: Int) {
        rnormX = plan.rows(1)
        hUnit = plan.rows(width)
        rnormH = plan.rows(1)
        rnormZ = plan.rows(1)
    }
}
