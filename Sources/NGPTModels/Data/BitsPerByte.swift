import Foundation

/// Losses in bits per byte of the original text, the axis on which byte-level and subword runs
/// (and vocabularies of any size) compare: a loss in nats per token says how well a model
/// predicts its tokens, and a token covers a different stretch of text under each tokenizer.
///
/// `bits/byte = loss / (ln 2 · bytes per token)`, with bytes per token measured on the
/// validation text (``TokenDataset/validationBytesPerToken``: `val_bytes ÷ val_tokens`, 1 for
/// byte tokens). The validation windows are a sample of that text, so the ratio is the file's
/// average rather than the windows' own; for byte tokens it is exact.
public enum BitsPerByte {
    /// `loss / (ln 2 · bytesPerToken)`.
    public static func of(loss: Double, bytesPerToken: Double) -> Double {
        loss / (M_LN2 * bytesPerToken)
    }
}
