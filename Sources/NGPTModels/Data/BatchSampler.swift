import Foundation
import NGPTNumerics

// B: rows per batch, T: context (tokens per row), N: tokens in the file.

/// One batch of `B` windows of `T` tokens, row-major, in the shapes ``Transformer`` takes.
public struct Batch: Sendable, Equatable {
    /// `B`.
    public let batchSize: Int
    /// `T`.
    public let context: Int
    /// `(B, T)`: row `r` is `file[s_r ..< s_r + T]`.
    public var inputs: [Int]
    /// `(B, T)`: `inputs` shifted by one, `file[s_r + 1 ..< s_r + T + 1]`.
    public var targets: [Int]
    /// `(B)`: the start offset `s_r` of each row in its token file.
    public var offsets: [Int]

    /// Reads the windows starting at `offsets` from `file`.
    public init(file: TokenFile, offsets: [Int], context: Int) {
        batchSize = offsets.count
        self.context = context
        self.offsets = offsets
        inputs = [Int](repeating: 0, count: offsets.count * context)
        targets = inputs
        var window = [Int](repeating: 0, count: context + 1)
        for (r, s) in offsets.enumerated() {
            file.copyTokens(from: s, count: context + 1, into: &window, at: 0)
            inputs.replaceSubrange(r * context..<(r + 1) * context, with: window[0..<context])
            targets.replaceSubrange(r * context..<(r + 1) * context, with: window[1...context])
        }
    }
}

/// How training windows are chosen.
public enum SamplingMode: String, Codable, Sendable, CaseIterable {
    /// nanoGPT's `get_batch`: each row starts at an offset drawn uniformly from `0...(N − T − 1)`.
    case random
    /// Row `r` of batch `i` starts at `((i·B + r)·T) mod (N − T − 1)`.
    case sequential

    /// A sampler of this mode over `file`. `seed` is used by ``random`` only.
    public func makeSampler(file: TokenFile, batchSize: Int, context: Int, seed: UInt64) throws -> any BatchSampler {
        switch self {
        case .random: return try RandomWindowSampler(file: file, batchSize: batchSize, context: context, seed: seed)
        case .sequential: return try SequentialWindowSampler(file: file, batchSize: batchSize, context: context)
        }
    }
}

/// Everything needed to continue a sampler exactly where it stopped, for a checkpoint.
///
/// The shape and the file's token count are recorded so that resuming with a different
/// batch size, context or data is an error rather than a silently different stream.
public struct SamplerState: Codable, Sendable, Equatable {
    public var mode: SamplingMode
    /// Batches drawn so far.
    public var batchIndex: Int
    /// The random generator after the last batch (``SamplingMode/random`` only).
    public var generator: SeededGenerator?
    public var batchSize: Int
    public var context: Int
    public var tokenCount: Int

    public init(mode: SamplingMode, batchIndex: Int, generator: SeededGenerator?, batchSize: Int, context: Int, tokenCount: Int) {
        self.mode = mode
        self.batchIndex = batchIndex
        self.generator = generator
        self.batchSize = batchSize
        self.context = context
        self.tokenCount = tokenCount
    }
}

/// Why a sampler cannot be built or restored.
public enum BatchSamplerError: Error, Equatable, CustomStringConvertible {
    /// Batch size or context below 1.
    case invalidShape(batchSize: Int, context: Int)
    /// A validation set of fewer than one batch.
    case invalidBatchCount(Int)
    /// A saved state that belongs to another sampler.
    case stateMismatch(saved: SamplerState, current: SamplerState)

    public var description: String {
        switch self {
        case let .invalidShape(b, t):
            return "batch size and context must be at least 1, got batch \(b), context \(t)"
        case let .invalidBatchCount(n):
            return "a validation set needs at least 1 batch, got \(n): use e.g. --eval-batches 10"
        case let .stateMismatch(s, c):
            func describe(_ x: SamplerState) -> String {
                "\(x.mode.rawValue) sampling of \(x.batchSize)×\(x.context) windows from \(x.tokenCount) tokens"
            }
            return "the saved sampler state is for \(describe(s)) but this run has \(describe(c)): resume with the same sampler, batch size, context and data"
        }
    }
}

/// A source of training batches that can be saved and restored bit-identically.
///
/// ```swift
/// var sampler = try RandomWindowSampler(file: data.train, batchSize: 16, context: 256, seed: 0)
/// let batch = sampler.next()
/// let saved = sampler.state          // store in the checkpoint
/// try sampler.restore(saved)         // later, on a sampler built with the same arguments
/// ```
public protocol BatchSampler: Sendable {
    var file: TokenFile { get }
    /// `B`.
    var batchSize: Int { get }
    /// `T`.
    var context: Int { get }
    /// The index of the batch the next call to ``next()`` returns (batches drawn so far).
    var batchIndex: Int { get }
    /// The state after the batches drawn so far.
    var state: SamplerState { get }
    /// Continues from `state`, which must come from a sampler of the same mode, shape and file size.
    mutating func restore(_ state: SamplerState) throws
    /// The next batch.
    mutating func next() -> Batch
}

/// Checks the shape and that the file holds one window; shared by the samplers' initialisers.
private func checkShape(file: TokenFile, batchSize: Int, context: Int) throws {
    guard batchSize >= 1 && context >= 1 else { throw BatchSamplerError.invalidShape(batchSize: batchSize, context: context) }
    try file.checkWindow(context: context)
}

/// nanoGPT's random windows: each row starts at an offset uniform in `0...(N − T − 1)`, drawn
/// in row order from a ``/NGPTNumerics/SeededGenerator``. The stream depends only on the seed, `B`, `T` and
/// `N`, and the generator is part of ``state``, so a restored sampler continues bit-identically.
public struct RandomWindowSampler: BatchSampler {
    public let file: TokenFile
    public let batchSize: Int
    public let context: Int
    public private(set) var batchIndex = 0
    public private(set) var generator: SeededGenerator

    /// - Throws: ``BatchSamplerError/invalidShape(batchSize:context:)`` or
    ///   ``TokenDataError/tooShort(path:tokens:context:)``.
    public init(file: TokenFile, batchSize: Int, context: Int, seed: UInt64) throws {
        try checkShape(file: file, batchSize: batchSize, context: context)
        self.file = file
        self.batchSize = batchSize
        self.context = context
        generator = SeededGenerator(seed: seed)
    }

    public var state: SamplerState {
        SamplerState(mode: .random, batchIndex: batchIndex, generator: generator,
                     batchSize: batchSize, context: context, tokenCount: file.count)
    }

    public mutating func restore(_ saved: SamplerState) throws {
        let current = state
        guard saved.mode == current.mode, saved.batchSize == batchSize, saved.context == context,
              saved.tokenCount == file.count, let g = saved.generator, saved.batchIndex >= 0 else {
            throw BatchSamplerError.stateMismatch(saved: saved, current: current)
        }
        generator = g
        batchIndex = saved.batchIndex
    }

    /// The start offsets of the next batch's rows, advancing the generator.
    public mutating func nextOffsets() -> [Int] {
        let starts = UInt64(file.count - context)  // the number of valid starts, 0...(N − T − 1)
        let offsets = (0..<batchSize).map { _ in Int(uniform(below: starts, using: &generator)) }
        batchIndex += 1
        return offsets
    }

    public mutating func next() -> Batch {
        Batch(file: file, offsets: nextOffsets(), context: context)
    }
}

/// Deterministic windows laid end to end: row `r` of batch `i` starts at
/// `((i·B + r)·T) mod (N − T − 1)` (modulus 1, i.e. offset 0, when `N = T + 1`). The stream
/// covers the file in order and wraps around; the modulus leaves out the last valid start
/// `N − T − 1`. The state is the batch index.
public struct SequentialWindowSampler: BatchSampler {
    public let file: TokenFile
    public let batchSize: Int
    public let context: Int
    public private(set) var batchIndex = 0

    /// - Throws: ``BatchSamplerError/invalidShape(batchSize:context:)`` or
    ///   ``TokenDataError/tooShort(path:tokens:context:)``.
    public init(file: TokenFile, batchSize: Int, context: Int) throws {
        try checkShape(file: file, batchSize: batchSize, context: context)
        self.file = file
        self.batchSize = batchSize
        self.context = context
    }

    /// The start offset of row `r` of batch `i`: `((i·B + r)·T) mod max(N − T − 1, 1)`.
    public static func offset(batch i: Int, row r: Int, batchSize: Int, context: Int, tokens n: Int) -> Int {
        ((i * batchSize + r) * context) % max(n - context - 1, 1)
    }

    public var state: SamplerState {
        SamplerState(mode: .sequential, batchIndex: batchIndex, generator: nil,
                     batchSize: batchSize, context: context, tokenCount: file.count)
    }

    public mutating func restore(_ saved: SamplerState) throws {
        let current = state
        guard saved.mode == current.mode, saved.batchSize == batchSize, saved.context == context,
              saved.tokenCount == file.count, saved.batchIndex >= 0 else {
            throw BatchSamplerError.stateMismatch(saved: saved, current: current)
        }
        batchIndex = saved.batchIndex
    }

    public mutating func next() -> Batch {
        let i = batchIndex
        let offsets = (0..<batchSize).map {
            Self.offset(batch: i, row: $0, batchSize: batchSize, context: context, tokens: file.count)
        }
        batchIndex += 1
        return Batch(file: file, offsets: offsets, context: context)
    }
}