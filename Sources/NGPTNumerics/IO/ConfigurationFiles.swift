import Foundation

/// A JSON file written by ngpt (a run's `config.json`, a comparison's `settings.json`) that
/// cannot be used: its path, what is wrong and what to do, on one line.
public struct ConfigurationFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var hint: String
    public var description: String { "\(path): \(reason). HINT: \(hint)" }

    public init(path: String, reason: String, hint: String) {
        self.path = path
        self.reason = reason
        self.hint = hint
    }
}

package enum ConfigurationFile {
    /// Decodes `T` from the JSON file at `url`, every failure as a ``ConfigurationFileError``.
    package static func read<T: Decodable>(_: T.Type, from url: URL, what: String, hint: String) throws -> T {
        let path = url.path
        func fail(_ reason: String) -> ConfigurationFileError { ConfigurationFileError(path: path, reason: reason, hint: hint) }
        if let why = ErrorText.notARegularFile(path) { throw fail(why) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw fail(ErrorText.reason(error, path: path)) }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw fail("it is not a valid \(what): \(ErrorText.reason(error))")
        }
    }

    /// `a · b · …`, or nil when the product overflows `Int` (or a factor is negative).
    package static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, overflow) = p.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            p = r
        }
        return p
    }
}
