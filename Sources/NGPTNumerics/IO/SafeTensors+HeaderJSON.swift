// A small strict JSON reader for safetensors headers, written by hand rather than using
// Foundation's JSONSerialization because the header needs three things that one cannot give:
//   - duplicate keys are an error (JSONSerialization silently keeps one of them);
//   - numbers keep their text, so `2`, `2.0`, `2e0` and `-2` can be told apart when checking
//     shapes and offsets (JSONSerialization turns all of them into the same NSNumber);
//   - errors carry a byte offset into the header.
// It implements RFC 8259 exactly (no comments, no trailing commas, no NaN) and accepts JSON
// whitespace after the value, which covers the reference writer's space padding.

/// A JSON value from a safetensors header.
enum HeaderJSON: Equatable {
    case object([String: HeaderJSON])
    case array([HeaderJSON])
    case string(String)
    /// The number's source text, already checked against the JSON grammar.
    case number(String)
    case bool(Bool)
    case null

    /// What the value is, for error messages: "a string", "an array", …
    var kindDescription: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number(let text): return "the number \(text)"
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }

    /// How a JSON value reads as a non-negative `Int`.
    enum Integer: Equatable {
        case value(Int)
        case negative
        case notInteger      // a fraction or an exponent, or not a number at all
        case tooLarge
    }

    /// The value as a non-negative integer: only plain digit strings qualify, so `2.0` and `2e0`
    /// are `.notInteger`, as in the reference reader (which parses shapes as `usize`).
    var nonNegativeInteger: Integer {
        guard case .number(let text) = self else { return .notInteger }
        if text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e")
                                        || $0 == UInt8(ascii: "E") }) {
            return .notInteger
        }
        if text.hasPrefix("-") { return .negative }  // even "-0", which the reference reader rejects too
        guard let v = Int(text) else { return .tooLarge }
        return .value(v)
    }
}

/// Parses a header's bytes into a ``HeaderJSON``; see the comment at the top of the file.
struct HeaderJSONParser {
    enum Failure: Error, Equatable {
        /// Malformed JSON at byte `offset` of the header.
        case syntax(offset: Int, reason: String)
        /// `key` appears twice in the object reached by `path` (the keys leading to it).
        case duplicateKey(key: String, path: [String])
    }

    /// Deeper nesting than a header ever needs (it uses 3) is rejected rather than recursed into.
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The single JSON value in `bytes`, which may be surrounded by JSON whitespace.
    static func parse(_ bytes: [UInt8]) throws -> HeaderJSON {
        var p = HeaderJSONParser(bytes)
        let value = try p.parseValue(path: [])
        p.skipWhitespace()
        if p.i != p.bytes.count { throw p.syntax("unexpected \(p.describeByte()) after the top-level value") }
        return value
    }

    // MARK: - Grammar

    private mutating func parseValue(path: [String]) throws -> HeaderJSON {
        skipWhitespace()
        guard i < bytes.count else { throw syntax("unexpected end of header, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject(path: path)
        case UInt8(ascii: "["): return try parseArray(path: path)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw syntax("unexpected \(describeByte()), expected a value")
        }
    }

    private mutating func parseObject(path: [String]) throws -> HeaderJSON {
        guard path.count < Self.maxDepth else { throw syntax("nesting deeper than \(Self.maxDepth) levels") }
        i += 1  // {
        var members: [String: HeaderJSON] = [:]
        skipWhitespace()
        if peek(UInt8(ascii: "}")) { i += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw syntax("unexpected \(describeByte()), expected a key string") }
            let key = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw syntax("unexpected \(describeByte()), expected ':' after key") }
            i += 1
            let value = try parseValue(path: path + [key])
            if members.updateValue(value, forKey: key) != nil {
                throw Failure.duplicateKey(key: key, path: path)
            }
            skipWhitespace()
            guard i < bytes.count else { throw syntax("unexpected end of header inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw syntax("unexpected \(describeByte()), expected ',' or '}'")
        }
    }

    private mutating func parseArray(path: [String]) throws -> HeaderJSON {
        guard path.count < Self.maxDepth else { throw syntax("nesting deeper than \(Self.maxDepth) levels") }
        i += 1  // [
        var elements: [HeaderJSON] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) { i += 1; return .array(elements) }
        while true {
            // Arrays add a level of nesting without a key; "[]" stands in for it in the path.
            elements.append(try parseValue(path: path + ["[]"]))
            skipWhitespace()
            guard i < bytes.count else { throw syntax("unexpected end of header inside an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
            throw syntax("unexpected \(describeByte()), expected ',' or ']'")
        }
    }

    /// A string starting at the opening quote. The header was checked to be UTF-8 beforehand, so
    /// raw bytes are copied as they are; escapes are decoded, including surrogate pairs.
    private mutating func parseString() throws -> String {
        let start = i
        i += 1  // "
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { i = start; throw syntax("unterminated string") }
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                i += 1
                guard i < bytes.count else { throw syntax("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else { throw syntax("high surrogate \\u\(hex(scalar)) not followed by a low surrogate") }
                        i += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low)
                        else { throw syntax("high surrogate \\u\(hex(scalar)) followed by \\u\(hex(low))") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw syntax("lone low surrogate \\u\(hex(scalar))")
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    i -= 1
                    throw syntax("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
            case 0x00..<0x20:
                throw syntax("unescaped control character 0x\(hex(UInt32(b))) in a string")
            default:
                out.append(b)
                i += 1
            }
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw syntax("\\u escape needs four hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw syntax("\\u escape needs four hex digits, found \(describeByte())")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as text.
    private mutating func parseNumber() throws -> String {
        let start = i
        if peek(UInt8(ascii: "-")) { i += 1 }
        if peek(UInt8(ascii: "0")) {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw syntax("leading zero in a number") }
        } else {
            guard try skipDigits() > 0 else { throw syntax("unexpected \(describeByte()), expected a digit") }
        }
        if peek(UInt8(ascii: ".")) {
            i += 1
            guard try skipDigits() > 0 else { throw syntax("unexpected \(describeByte()), expected a digit after '.'") }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            i += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { i += 1 }
            guard try skipDigits() > 0 else { throw syntax("unexpected \(describeByte()), expected an exponent") }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func skipDigits() throws -> Int {
        let start = i
        while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        return i - start
    }

    private mutating func expectLiteral(_ word: StaticString) throws {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard i + w.count <= bytes.count, bytes[i..<i + w.count].elementsEqual(w)
        else { throw syntax("unexpected \(describeByte()), expected a value") }
        i += w.count
    }

    // MARK: - Helpers

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private func peek(_ b: UInt8) -> Bool { i < bytes.count && bytes[i] == b }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// The byte at the cursor, quoted if printable ASCII, for messages.
    private func describeByte() -> String {
        guard i < bytes.count else { return "end of header" }
        let b = bytes[i]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16, uppercase: true))"
    }

    private func syntax(_ reason: String) -> Failure { .syntax(offset: i, reason: reason) }
}
