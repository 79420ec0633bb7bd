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
    /// The part of `file` every window lies in.
    public let part: ValidationPart
    /// `(batches, B)`: the start offset of every row.
    public let offsets: [[Int]]

    /// The windows come from `part` of `file` (default the whole file); windows of different
    /// parts share no token.
    ///
    /// - Throws: ``BatchSamplerError`` for a shape or batch count below 1,
    ///   ``TokenDataError/tooShort(path:tokens:context:)`` if `file` (or its `part`) is shorter
    ///   than `context + 1`.
    public init(file: TokenFile, batchSize: Int, context: Int, batches: Int, seed: UInt64, part: ValidationPart = .whole) throws {
        guard batches >= 1 else { throw BatchSamplerError.invalidBatchCount(batches) }
        self.file = file
        self.batchSize = batchSize
        self.context = context
        self.seed = seed
        self.part = part
        let range = part.range(in: file.count)
        if range == 0..<file.count {
            var sampler = try RandomWindowSampler(file: file, batchSize: batchSize, context: context, seed: seed)
            offsets = (0..<batches).map { _ in sampler.nextOffsets() }
        } else {
            guard batchSize >= 1, context >= 1 else { throw BatchSamplerError.invalidShape(batchSize: batchSize, context: context) }
            guard range.count >= context + 1 else {
                throw TokenDataError.tooShort(path: file.url.path + " (\(part.rawValue) half, \(range.count) tokens)", tokens: range.count, context: context)
            }
            var generator = SeededGenerator(seed: seed)
            let starts = UInt64(range.count - context)
            offsets = (0..<batches).map { _ in
                (0..<batchSize).map { _ in range.lowerBound + Int(uniform(below: starts, using: &generator)) }
            }
        }
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

/// Which tokens of the validation file evaluation windows come from. A study that chooses
/// hyperparameters on ``selection`` windows and reports losses on ``report`` windows never
/// reports a loss measured on the text it was chosen on.
public enum ValidationPart: String, Codable, Sendable, CaseIterable {
    /// Anywhere in the file.
    case whole
    /// The first half of the file: for choosing (e.g. learning-rate tuning).
    case selection
    /// The second half: for reported losses.
    case report

    /// The token offsets of this part in a file of `count` tokens; a window starting in it also
    /// ends in it.
    public func range(in count: Int) -> Range<Int> {
        switch self {
        case .whole: 0..<count
        case .selection: 0..<count / 2
        case .report: count / 2..<count
        }
    }
}
