import Foundation

/// How a model's ids and text map onto each other: byte tokens (ids 0–255 are the bytes; no
/// file) or the byte-level BPE of a `tokenizer.json`.
///
/// A data directory names its tokenizer in `meta.json`; a run trained on subword data keeps a
/// copy as `RUN/tokenizer.json` (``Trainer/train(directory:progress:)``), which
/// ``RunDirectory/tokenizerFile(forModelAt:)`` finds from the run directory or any of its model
/// files.
public enum Tokenizer: Sendable, Equatable {
    case bytes
    case byteLevelBPE(ByteLevelBPE)

    /// The ids of `bytes`.
    public func encode(_ bytes: [UInt8]) -> [Int] {
        switch self {
        case .bytes: return bytes.map(Int.init)
        case let .byteLevelBPE(bpe): return bpe.encode(bytes)
        }
    }

    /// The bytes of `ids`; an id without a token (``isKnown(_:)``) gives none.
    public func decode(_ ids: [Int]) -> [UInt8] {
        switch self {
        case .bytes: return ids.filter(isKnown).map { UInt8($0) }
        case let .byteLevelBPE(bpe): return bpe.decode(ids)
        }
    }

    /// Whether `id` stands for some bytes.
    public func isKnown(_ id: Int) -> Bool {
        switch self {
        case .bytes: return (0..<256).contains(id)
        case let .byteLevelBPE(bpe): return bpe.isKnown(id)
        }
    }

    /// `V`: 256 for bytes.
    public var vocabularySize: Int {
        switch self {
        case .bytes: return 256
        case let .byteLevelBPE(bpe): return bpe.vocabularySize
        }
    }
}
