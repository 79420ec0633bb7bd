import NGPTNumerics

/// The library itself.
public enum SwiftNGPT {
    /// The library's version, printed by `ngpt --version` and written to every run's configuration.
    public static let version = "0.1.0"
}
