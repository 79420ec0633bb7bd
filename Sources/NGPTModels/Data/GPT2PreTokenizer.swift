/// GPT-2's pre-tokenisation: the text cut into words, numbers, punctuation and spaces by
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// applied to the text's Unicode scalars, written out as a scanner (a regular-expression engine
/// would be slower and Foundation's differs between platforms). The alternatives are tried in
/// order at each position, as Oniguruma (Hugging Face's `tokenizers`) and Python's `regex` do:
///
/// 1. a contraction: `'` followed by `s`, `t`, `m`, `d`, `re`, `ve` or `ll` (lower case only);
/// 2. an optional space (U+0020) and a run of letters (general category L*), numbers (N*) or
///    other characters (neither White_Space nor L* nor N*);
/// 3. a run of whitespace (the White_Space property): all of it at the end of the text, else all
///    but its last character (which then starts the next piece, e.g. as the space before a word),
///    or the single whitespace character before a non-space.
///
/// Bytes that are not valid UTF-8 (strict decoding: no overlong forms, no surrogates, nothing
/// above U+10FFFF) are each one character of the "other" class, so they join runs of
/// punctuation and every byte still belongs to exactly one piece. Valid UTF-8 is cut exactly as
/// `tokenizers` cuts it; for text that is not, `tokenizers` has no answer (it takes strings).
enum GPT2PreTokenizer {
    enum CharacterClass: UInt8 { case letter, number, space, other }

    /// The class of each ASCII byte.
    private static let asciiClasses: [CharacterClass] = (0..<128).map { b -> CharacterClass in
        switch UInt8(b) {
        case 0x09...0x0D, 0x20: return .space
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        default: return .other
        }
    }

    /// The class of a scalar outside ASCII.
    static func characterClass(_ scalar: Unicode.Scalar) -> CharacterClass {
        let p = scalar.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The class and byte length of the character at `i` (an invalid byte: `.other`, 1).
    @inline(__always)
    static func character(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> (CharacterClass, Int) {
        let b0 = p[i]
        if b0 < 0x80 { return (asciiClasses[Int(b0)], 1) }
        guard let (scalar, length) = decodeScalar(p, i) else { return (.other, 1) }
        return (characterClass(scalar), length)
    }

    /// The scalar starting at `i` and its length in bytes, or nil if the bytes there are not
    /// well-formed UTF-8 (Unicode's table 3-7).
    static func decodeScalar(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int)? {
        let b0 = p[i], n = p.count
        func continuation(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> UInt32? {
            guard j < n, (lo...hi).contains(p[j]) else { return nil }
            return UInt32(p[j] & 0x3F)
        }
        var v: UInt32
        let length: Int
        switch b0 {
        case 0xC2...0xDF:
            guard let c1 = continuation(i + 1) else { return nil }
            v = UInt32(b0 & 0x1F) << 6 | c1
            length = 2
        case 0xE0...0xEF:
            let (lo, hi): (UInt8, UInt8) = b0 == 0xE0 ? (0xA0, 0xBF) : b0 == 0xED ? (0x80, 0x9F) : (0x80, 0xBF)
            guard let c1 = continuation(i + 1, lo, hi), let c2 = continuation(i + 2) else { return nil }
            v = UInt32(b0 & 0x0F) << 12 | c1 << 6 | c2
            length = 3
        case 0xF0...0xF4:
            let (lo, hi): (UInt8, UInt8) = b0 == 0xF0 ? (0x90, 0xBF) : b0 == 0xF4 ? (0x80, 0x8F) : (0x80, 0xBF)
            guard let c1 = continuation(i + 1, lo, hi), let c2 = continuation(i + 2), let c3 = continuation(i + 3) else { return nil }
            v = UInt32(b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            length = 4
        default:
            return nil
        }
        guard let scalar = Unicode.Scalar(v) else { return nil }
        return (scalar, length)
    }

    /// Calls `body(start, end)` for each piece of `p`, in order; the pieces cover `p` exactly.
    static func split(_ p: UnsafeBufferPointer<UInt8>, _ body: (Int, Int) -> Void) {
        let n = p.count
        let apostrophe = UInt8(ascii: "'"), space = UInt8(ascii: " ")
        var i = 0
        while i < n {
            let b = p[i]
            if b == apostrophe && i + 1 < n {
                let c = p[i + 1]
                switch c {
                case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
                    body(i, i + 2)
                    i += 2
                    continue
                case UInt8(ascii: "r"), UInt8(ascii: "v"), UInt8(ascii: "l"):
                    let expected = c == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
                    if i + 2 < n && p[i + 2] == expected {
                        body(i, i + 3)
                        i += 3
                        continue
                    }
                default:
                    break
                }
            }
            let (first, firstLength) = character(p, i)
            var run = first
            var j = i + firstLength
            if b == space && j < n {
                // ` ?\p{L}+` and its siblings: the space joins a run of letters, numbers or others
                let (next, nextLength) = character(p, j)
                if next != .space {
                    run = next
                    j += nextLength
                }
            }
            if run != .space {
                while j < n {
                    let (c, length) = character(p, j)
                    guard c == run else { break }
                    j += length
                }
                body(i, j)
                i = j
                continue
            }
            // `\s+(?!\S)|\s+`: whitespace to the end, or up to its last character
            var last = i
            j = i + firstLength
            while j < n {
                let (c, length) = character(p, j)
                guard c == .space else { break }
                last = j
                j += length
            }
            let end = j == n || last == i ? j : last
            body(i, end)
            i = end
        }
    }
}
