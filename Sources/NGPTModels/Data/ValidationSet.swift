import NGPTNumerics

/// A fixed set of validation batches: the same windows for the same arguments, whatever the
/// model, so that every run (GPT or nGPT, any seed) is evaluated on exactly the same tokens.
///
/// The windows are the first `batches` batches of a ``RandomWindowSampler`` over `file` seeded
/// with `seed`. Only their offsets are stored; each batch is read from the mapped file when
/// accessed. For length-extrapolation evaluation build one set per context (e.g. T, 2T, 4T);
/// each needs `file` to hold at least `context + 1` tokens.
///
/// ```swift
/// let eval = try ValidationSet(file: data.validation, batchSize: 16, context: 256, batches: 10, seed: 0)
/// for batch in eval { ... }
/// ```
public struct ValidationSet: RandomAccessCollection, Sendable {
    public let file: TokenFile
    /// `B`.
    public let batchSize: Int
    /// `T`.
    public let context: Int
    public let seed: UInt64
    /// `(batches, B)`: the start offset of every row.
    public let offsets: [[Int]]

    /// - Throws: ``BatchSamplerError`` for a shape or batch count below 1,
    ///   ``TokenDataError/tooShort(path:tokens:context:)`` if `file` is shorter than `context + 1`.
    public init(file: TokenFile, batchSize: Int, context: Int, batches: Int, seed: UInt64) throws {
        guard batches >= 1 else { throw BatchSamplerError.invalidBatchCount(batches) }
        var sampler = try RandomWindowSampler(file: file, batchSize: batchSize, context: context, seed: seed)
        self.file = file
        self.batchSize = batchSize
        self.context = context
        self.seed = seed
        offsets = (0..<batches).map { _ in sampler.nextOffsets() }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { offsets.count }

    /// Batch `index`, read from the file.
    public subscript(index: Int) -> Batch {
        Batch(file: file, offsets: offsets[index], context: context)
    }

    /// The number of predicted tokens in one evaluation over the whole set, `batches·B·T`.
    public var tokenCount: Int { offsets.count * batchSize * context }
}
