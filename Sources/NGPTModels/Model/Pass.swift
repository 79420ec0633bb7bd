import NGPTNumerics

// What blocks are written in: ``Pass``, whose methods are the kernels (Pass+Kernels.swift), on
// the slots of an ``ActivationPlan`` and the parameter handles of ParameterHandles.swift. A block
// never sees a pointer; the pass turns slots and weights into the kernels' pointers, so the same
// block code runs a training window (with backward) and a decoding step against a key/value
// cache. Every kernel method checks its slots' sizes against the pass's rows and the widths its
// weights or other arguments give before the kernel runs: a wrong slot would otherwise write
// over its neighbour.

/// One forward (and backward) pass of a fixed shape: the activation buffer, the model's
/// parameters and gradients, and the kernels as methods on slots and weights.
///
/// Shapes follow the kernels' legend: `N` rows, `C` the width of a slot's rows. Forward methods
/// write their outputs; backward methods accumulate (`+=`) into parameter gradients and into the
/// input gradients they document. Each method checks that every slot it is given holds the
/// floats its shape needs (`N · width`) and stops the program naming the method and the argument
/// when one does not. Whether the pass trains or decodes is fixed when it is built; a backward
/// method in a decoding pass stops the program too.
public final class Pass {
    /// Training or decoding, fixed when the pass (and its ``ActivationPlan``) is built.
    enum Mode {
        /// Windows of ``Pass/sequence`` positions; attention reads the window itself; backward runs.
        case training
        /// One position at a time; attention appends to and reads the key/value cache; no backward.
        case decoding(DecodingState)

        var decoding: DecodingState? {
            if case .decoding(let state) = self { return state }
            return nil
        }
    }

    public let batch: Int, sequence: Int, rows: Int
    /// The cache, position and packed weights of a decoding pass; nil when training.
    let decoder: DecodingState?
    /// True for a decoding pass: attention reads the key/value cache, and no backward runs.
    public var decoding: Bool { decoder != nil }
    let buffer: FloatBuffer
    let offsets: [Int]
    let params: FloatPointer, grads: FloatPointer
    let rope: RoPETable
    /// Time per kernel while the model is profiled (`ModelBenchmark.kernelTimings`, `ngpt bench --kernels`).
    var profile: KernelProfile?
    /// Called with a broken contract before the kernel would run; the kernel then does not run.
    /// The default stops the program (a block's mistake, not an input's); the contract tests
    /// record instead.
    var contractViolation: (PassContractViolation) -> Void = { preconditionFailure($0.description) }

    init(plan: ActivationPlan, parameters: ParameterBuffer, gradients: ParameterBuffer, rope: RoPETable) {
        batch = plan.batch
        sequence = plan.sequence
        rows = plan.rows
        decoder = plan.mode.decoding
        var offsets = [Int](), total = 0
        for size in plan.sizes {
            offsets.append(total)
            total += size
        }
        self.offsets = offsets
        buffer = FloatBuffer(count: total)
        params = parameters.base
        grads = gradients.base
        self.rope = rope
    }

    /// Floats of activations this pass holds.
    public var activationCount: Int { buffer.count }

    /// The first position of the rows: the position being decoded, 0 in training.
    var position: Int { decoder?.position ?? 0 }

    @inline(__always) func p(_ s: Slot) -> FloatPointer { buffer.base + offsets[s.id] + s.start }

    /// A copy of a slot's values.
    public func values(_ s: Slot) -> [Float] { Array(UnsafeBufferPointer(start: p(s), count: s.count)) }
}

/// A kernel method called against its contract: a slot of the wrong size, or a backward in a
/// decoding pass.
struct PassContractViolation: Equatable, Sendable, CustomStringConvertible {
    /// The ``Pass`` method and the argument at fault (`linear`, `x`).
    let method: String, argument: String
    /// What is wrong, e.g. `has 60 floats; needs N·I = 10·7 = 70`.
    let problem: String

    var description: String { "Pass.\(method): \(argument) \(problem)" }
}

// The contract: each kernel method calls these before its kernel and returns at once when one
// fails (which happens only when ``Pass/contractViolation`` does not stop the program). The
// comparisons are a few integer tests per call; messages are formed only on failure.
extension Pass {
    /// True when `s` holds `count` floats; `shape` names the requirement (`N·I`, say) for the
    /// message.
    @inline(__always) func fits(_ s: Slot, _ count: Int, _ method: StaticString, _ argument: StaticString,
                                _ shape: @autoclosure () -> String) -> Bool {
        if s.count == count { return true }
        violated(method, argument, "has \(s.count) floats; needs \(shape()) = \(count)")
        return false
    }

    /// True when `s` holds `N·width` floats.
    @inline(__always) func fitsRows(_ s: Slot, width: Int, _ method: StaticString, _ argument: StaticString) -> Bool {
        fits(s, rows * width, method, argument, "N·\(width) = \(rows)·\(width)")
    }

    /// The width `C` of `s` read as `(N, multiple·C)`, or nil (reported) when `N·multiple` does
    /// not divide its count or `C` is not a whole number of `heads` heads.
    @inline(__always) func width(of s: Slot, multiple: Int = 1, heads: Int = 1, _ method: StaticString,
                                 _ argument: StaticString) -> Int? {
        let unit = rows * multiple
        if unit > 0, heads > 0, s.count % unit == 0, (s.count / unit) % heads == 0 { return s.count / unit }
        violated(method, argument, "has \(s.count) floats; needs N·\(multiple == 1 ? "" : "\(multiple)·")C = \(rows)·\(multiple == 1 ? "" : "\(multiple)·")C with C a multiple of \(heads) heads")
        return nil
    }

    /// True in a training pass; a backward method in a decoding pass is reported.
    @inline(__always) func training(_ method: StaticString) -> Bool {
        if decoder == nil { return true }
        violated(method, "pass", "is a decoding pass, which has no backward")
        return false
    }

    @inline(never) func violated(_ method: StaticString, _ argument: StaticString, _ problem: String) {
        contractViolation(PassContractViolation(method: "\(method)", argument: "\(argument)", problem: problem))
    }
}
