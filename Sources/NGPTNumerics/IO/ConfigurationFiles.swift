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
    /// Decodes `T` from the JSON file at `url`, every failure as a ``ConfigurationFileError``: a
    /// file that cannot be read or decoded, a file with a key twice in one object (a JSON reader would keep one of them silently) or a
    /// key that is none of `T`'s (a misspelt optional key would silently take its default),
    /// naming the key and the nearest one `T` knows. Keys whose value is `null` are accepted.
    package static func read<T: Codable>(_: T.Type, from url: URL, what: String, hint: String) throws -> T {
        let path = url.path
        func fail(_ reason: String) -> ConfigurationFileError { ConfigurationFileError(path: path, reason: reason, hint: hint) }
        if let why = ErrorText.notARegularFile(path) { throw fail(why) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw fail(ErrorText.reason(error, path: path)) }
        let tree: HeaderJSON?
        do { tree = try HeaderJSONParser.parse(Array(data)) } catch HeaderJSONParser.Failure.duplicateKey(let key, let at) {
            throw fail("the key '\(ErrorText.cut(key))' appears twice" + (at.isEmpty ? "" : " in '\(ErrorText.cut(at.joined(separator: ".")))'") + "; a reader would keep only one of them")
        } catch {
            tree = nil   // malformed JSON: the decoder's message below says where
        }
        let value: T
        do { value = try JSONDecoder().decode(T.self, from: data) } catch {
            throw fail("it is not a valid \(what): \(ErrorText.reason(error))")
        }
        if let tree, let encoded = try? JSONEncoder().encode(value), let known = try? HeaderJSONParser.parse(Array(encoded)),
           let (keyPath, nearest) = unknownKey(in: tree, known: known, path: []) {
            throw fail("'\(ErrorText.cut(keyPath))' is not a setting of a \(what)" + (nearest.map { " (did you mean '\($0)'?)" } ?? ""))
        }
        return value
    }

    /// The first key of `tree` (depth first, in key order) that `known` lacks, with the known key
    /// nearest to it at that level.
    static func unknownKey(in tree: HeaderJSON, known: HeaderJSON, path: [String]) -> (String, String?)? {
        switch (tree, known) {
        case let (.object(a), .object(b)):
            for key in a.keys.sorted() {
                guard let value = a[key] else { continue }
                if case .null = value { continue }
                guard let k = b[key] else {
                    let nearest = SafeTensorsFile.closeNames(to: key, in: b.keys.sorted()).first
                    return ((path + [key]).joined(separator: "."), nearest)
                }
                if let found = unknownKey(in: value, known: k, path: path + [key]) { return found }
            }
        case let (.array(a), .array(b)):
            for (i, (x, y)) in zip(a, b).enumerated() {
                if let found = unknownKey(in: x, known: y, path: path + ["\(i)"]) { return found }
            }
        default: break
        }
        return nil
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
