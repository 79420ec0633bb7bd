/// The library's version, printed by `ngpt --version`.
public let ngptVersion = "0.1.0"
