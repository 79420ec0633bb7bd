import Foundation

/// Error text a user can act on: Foundation's and Codable's errors as plain clauses about a
/// file, names cut to a readable length, and every message on one line. The one place where
/// those errors are translated, so no `NSCocoaErrorDomain` or `DecodingError` text reaches a user.
public enum ErrorText {
    /// Longest name or value quoted in a message, in characters.
    public static let nameLimit = 200

    /// `text` on one line and at most `limit` characters, ending in "…" when cut.
    public static func cut(_ text: some StringProtocol, limit: Int = nameLimit) -> String {
        var s = String(text.prefix(limit + 1))
        if s.count > limit { s = String(s.prefix(limit - 1)) + "…" }
        return oneLine(s)
    }

    /// Up to `shown` names (each cut), then how many more there are.
    public static func list(_ names: [String], shown: Int = 8) -> String {
        let head = names.prefix(shown).map { cut($0) }.joined(separator: ", ")
        return names.count > shown ? head + " and \(names.count - shown) more" : head
    }

    /// `text` with line breaks and other control characters replaced by spaces.
    public static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" ? " " : $0
        }))
    }

    /// Why `path` is not a file that can be read, as a clause ("it is a directory, …"), when it
    /// is not: missing, a directory, or not a regular file (a FIFO would block and a device
    /// such as /dev/null reads as empty). Nil for a regular file or a link to one.
    public static func notARegularFile(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return errno == ENOENT ? "it does not exist" : "it cannot be read: \(String(cString: strerror(errno)))"
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "it is a directory, not a file"
        default: return "it is not a regular file (a FIFO, socket or device); give a file"
        }
    }

    /// Foundation's, Codable's and POSIX's errors as one plain clause about `path`, starting with
    /// the path (no period at the end); any other error as its description on one line.
    public static func describe(_ error: Error, path: String? = nil) -> String {
        let text = reason(error, path: path)
        guard isSystemError(error) else { return text }
        return (path ?? (error as NSError).userInfo[NSFilePathErrorKey] as? String).map { "\($0): \(text)" } ?? text
    }

    /// ``describe(_:path:)`` without the path, for messages that name the file already.
    public static func reason(_ error: Error, path: String? = nil) -> String {
        switch error {
        case let e as DecodingError:
            return describe(decoding: e)
        case let e as EncodingError:
            if case let .invalidValue(value, context) = e {
                return "\(keyPath(context.codingPath)) is \(cut("\(value)")), which JSON cannot hold"
            }
            return "a value cannot be written as JSON"
        case let e as CocoaError:
            return describe(cocoa: e, path: path)
        case let e as POSIXError:
            return String(cString: strerror(e.code.rawValue))
        default:
            break
        }
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain { return describe(cocoa: CocoaError(CocoaError.Code(rawValue: ns.code), userInfo: ns.userInfo), path: path) }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return cut("\(error)", limit: 2_000)
    }

    private static func isSystemError(_ error: Error) -> Bool {
        if error is DecodingError || error is EncodingError || error is CocoaError || error is POSIXError { return true }
        let domain = (error as NSError).domain
        return domain == NSCocoaErrorDomain || domain == NSPOSIXErrorDomain
    }

    private static func describe(decoding e: DecodingError) -> String {
        switch e {
        case let .keyNotFound(key, context):
            return "\(keyPath(context.codingPath + [key])) is missing"
        case let .typeMismatch(type, context):
            return "\(keyPath(context.codingPath)) is not \(typeName(type))"
        case let .valueNotFound(type, context):
            return "\(keyPath(context.codingPath)) is null, not \(typeName(type))"
        case let .dataCorrupted(context):
            // Foundation reports a number that does not fit its field (1e300 or 1.5 for an
            // integer) as invalid JSON, with no path.
            return context.codingPath.isEmpty
                ? "it is not valid JSON, or a number in it does not fit its field (a fraction or 1e300 where a whole number belongs)"
                : "\(keyPath(context.codingPath)) has a value that is not allowed"
        @unknown default:
            return "it cannot be decoded"
        }
    }

    private static func describe(cocoa e: CocoaError, path given: String?) -> String {
        let path = given ?? (e.userInfo[NSFilePathErrorKey] as? String) ?? e.url?.path
        switch e.code {
        case .fileNoSuchFile, .fileReadNoSuchFile:
            return "it does not exist"
        case .fileReadNoPermission, .fileWriteNoPermission:
            if let path, FileManager.default.fileExists(atPath: path), let why = notARegularFile(path) { return why }
            return "permission denied; check its permissions"
        case .fileWriteFileExists:
            return "it already exists; remove it or choose another path"
        case .fileWriteOutOfSpace:
            return "no space left on the device; free some space"
        case .fileWriteVolumeReadOnly:
            return "the file system is read-only"
        case .fileReadInapplicableStringEncoding, .fileReadUnknownStringEncoding:
            return "it is not UTF-8 text"
        case .fileReadCorruptFile, .propertyListReadCorrupt:
            return "it is not valid JSON (or is damaged)"
        case .fileReadTooLarge:
            return "it is too large to read"
        default:
            if let path, let file = fileAmongAncestors(of: path) {
                return "\(file) is a file, not a directory; choose another path"
            }
            if let posix = e.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
                return String(cString: strerror(Int32(posix.code)))
            }
            return "the file operation failed (error \(e.code.rawValue))"
        }
    }

    /// The nearest existing ancestor of `path` when it is not a directory (why a directory
    /// cannot be created there).
    private static func fileAmongAncestors(of path: String) -> String? {
        var url = URL(fileURLWithPath: path).deletingLastPathComponent()
        while url.path != "/" && !url.path.isEmpty {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? nil : url.path
            }
            url.deleteLastPathComponent()
        }
        return nil
    }

    private static func keyPath(_ path: [CodingKey]) -> String {
        guard !path.isEmpty else { return "the value" }
        return "'" + cut(path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")) + "'"
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
