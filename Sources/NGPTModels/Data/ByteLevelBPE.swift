import Foundation

/// A byte-level BPE tokenizer: GPT-2's scheme, and the model of a Hugging Face `tokenizer.json`
/// whose pre-tokenizer is `ByteLevel` (``init(contentsOf:)``, ``write(to:)``).
///
/// Encoding a text:
/// 1. cut it at the added tokens (``AddedToken``; e.g. GPT-2's `<|endoftext|>`), leftmost
///    and longest match first, as `tokenizers` does;
/// 2. cut each remaining segment into pieces by GPT-2's pattern (`GPT2PreTokenizer`), after
///    putting a space in front when ``addPrefixSpace`` is set (and the segment does not start with
///    one);
/// 3. write each piece as one token per byte and apply the ``merges``: repeatedly the adjacent
///    pair of lowest rank (its index in ``merges``), the leftmost on a tie, until no pair has a
///    merge. A piece already seen is looked up in a cache.
///
/// Every byte has a token of its own (a file lacking one is refused), so any byte sequence —
/// invalid UTF-8 included — encodes, and ``decode(_:)`` gives it back (with ``addPrefixSpace``,
/// with the space it added).
///
/// Ids and token files: a token's text in `tokenizer.json` is its bytes written with GPT-2's
/// `bytes_to_unicode` table (``byteSymbols``: a space is `Ġ`, a newline `Ċ`), so every token is a
/// printable string.
public struct ByteLevelBPE: Sendable, Equatable {
    /// One merge: the tokens `left` and `right` side by side become `result`.
    public struct Merge: Sendable, Equatable, Hashable {
        public var left: Int
        public var right: Int
        public var result: Int

        public init(left: Int, right: Int, result: Int) {
            self.left = left
            self.right = right
            self.result = result
        }
    }

    /// A token matched in the text itself before pre-tokenisation (`added_tokens` in
    /// `tokenizer.json`).
    public struct AddedToken: Sendable, Equatable {
        public var id: Int
        /// The text it matches (and decodes to).
        public var content: String
        /// `special` in `tokenizer.json` (recorded; both kinds are matched when encoding).
        public var special: Bool
        /// `normalized`: such tokens are matched after the others (with no normaliser, on the same
        /// text).
        public var normalized: Bool

        public init(id: Int, content: String, special: Bool = true, normalized: Bool = false) {
            self.id = id
            self.content = content
            self.special = special
            self.normalized = normalized
        }
    }

    /// The bytes of each id's token (an added token's: its content's UTF-8); nil for an id the
    /// vocabulary skips.
    public let tokens: [[UInt8]?]
    /// In rank order: merge `i` has rank `i`.
    public let merges: [Merge]
    public let addedTokens: [AddedToken]
    /// `add_prefix_space` of the `ByteLevel` pre-tokenizer.
    public let addPrefixSpace: Bool
    /// `use_regex`: cut segments with GPT-2's pattern (false: each segment is one piece).
    public let useRegex: Bool
    /// `ignore_merges`: a piece that is a token of the vocabulary as a whole is that token.
    public let ignoreMerges: Bool

    /// The id of each byte's one-byte token.
    let byteTokens: [Int32]
    /// `(left, right)` packed as `left << 32 | right` → `rank << 32 | result`. A pair merged twice
    /// keeps its last rank, as `tokenizers` does.
    let mergeRanks: [UInt64: UInt64]
    /// Token bytes → id, for ``ignoreMerges``.
    let vocabularyTable: ByteStringTable?

    /// `V`: one more than the largest id.
    public var vocabularySize: Int { tokens.count }

    /// Builds a tokenizer; `tokens` must hold a one-byte token for each of the 256 bytes and every
    /// merge must name tokens that exist.
    ///
    /// - Throws: ``TokenizerFileError/invalid(path:reason:)`` (path empty) naming what is wrong.
    public init(tokens: [[UInt8]?], merges: [Merge], addedTokens: [AddedToken] = [], addPrefixSpace: Bool = false,
                useRegex: Bool = true, ignoreMerges: Bool = false) throws {
        func fail(_ reason: String) -> TokenizerFileError { .invalid(path: "", reason: reason) }
        guard tokens.count <= Int(Int32.max) else { throw fail("it has \(tokens.count) ids; at most \(Int32.max) are supported") }
        var byteTokens = [Int32](repeating: -1, count: 256)
        let added = Set(addedTokens.map(\.id))
        for (id, bytes) in tokens.enumerated() where !added.contains(id) {
            if let bytes, bytes.count == 1, byteTokens[Int(bytes[0])] < 0 { byteTokens[Int(bytes[0])] = Int32(id) }
        }
        if let missing = byteTokens.firstIndex(of: -1) {
            throw fail("it has no token for byte \(String(format: "0x%02X", missing)) (written \(Self.byteSymbols[missing])); a byte-level vocabulary needs one for each of the 256 bytes, so that any text can be encoded")
        }
        var ranks = [UInt64: UInt64](minimumCapacity: merges.count)
        for (rank, m) in merges.enumerated() {
            for id in [m.left, m.right, m.result] where !(0..<tokens.count).contains(id) || tokens[id] == nil {
                throw fail("merge \(rank) names id \(id), which is not in the vocabulary")
            }
            ranks[UInt64(m.left) << 32 | UInt64(m.right)] = UInt64(rank) << 32 | UInt64(m.result)
        }
        for a in addedTokens where !(0..<tokens.count).contains(a.id) || a.content.isEmpty {
            throw fail("added token \(a.id) is outside the vocabulary or empty")
        }
        self.tokens = tokens
        self.merges = merges
        self.addedTokens = addedTokens
        self.addPrefixSpace = addPrefixSpace
        self.useRegex = useRegex
        self.ignoreMerges = ignoreMerges
        self.byteTokens = byteTokens
        mergeRanks = ranks
        if ignoreMerges {
            var table = ByteStringTable(capacity: tokens.count)
            var ids = [Int]()
            for (id, bytes) in tokens.enumerated() {
                guard let bytes, !added.contains(id) else { continue }
                if bytes.withUnsafeBufferPointer({ table.insert($0).inserted }) { ids.append(id) }
            }
            vocabularyTable = table
            vocabularyIDs = ids
        } else {
            vocabularyTable = nil
            vocabularyIDs = []
        }
    }

    /// The id of each ``vocabularyTable`` entry.
    let vocabularyIDs: [Int]

    public static func == (a: ByteLevelBPE, b: ByteLevelBPE) -> Bool {
        a.tokens == b.tokens && a.merges == b.merges && a.addedTokens == b.addedTokens && a.addPrefixSpace == b.addPrefixSpace
            && a.useRegex == b.useRegex && a.ignoreMerges == b.ignoreMerges
    }

    // MARK: GPT-2's byte symbols

    /// GPT-2's `bytes_to_unicode`: the printable bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand for
    /// themselves; the other 68 bytes, in increasing order, for U+0100, U+0101, … (so a space,
    /// 0x20, is `Ġ`, U+0120).
    public static let byteSymbols: [Character] = {
        var symbols = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            let scalar: UInt32
            if printable {
                scalar = UInt32(b)
            } else {
                scalar = next
                next += 1
            }
            symbols[b] = Character(Unicode.Scalar(scalar)!)
        }
        return symbols
    }()

    /// The inverse of ``byteSymbols``: scalar value → byte.
    static let symbolBytes: [UInt32: UInt8] = {
        var map = [UInt32: UInt8]()
        for (b, c) in byteSymbols.enumerated() { map[c.unicodeScalars.first!.value] = UInt8(b) }
        return map
    }()

    /// `bytes` written with ``byteSymbols``.
    public static func symbols(_ bytes: [UInt8]) -> String {
        String(bytes.map { byteSymbols[Int($0)] })
    }

    /// The bytes a string of ``byteSymbols`` stands for, or the first scalar that is not one.
    static func bytes(ofSymbols text: String) -> Result<[UInt8], UnicodeScalarError> {
        var out = [UInt8]()
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            guard let b = symbolBytes[s.value] else { return .failure(UnicodeScalarError(scalar: s)) }
            out.append(b)
        }
        return .success(out)
    }

    struct UnicodeScalarError: Error { var scalar: Unicode.Scalar }

    // MARK: Encoding

    /// The ids of `text` (its UTF-8 bytes).
    public func encode(_ text: String) -> [Int] { encode(Array(text.utf8)) }

    /// The ids of `bytes`.
    public func encode(_ bytes: [UInt8]) -> [Int] {
        var cache = EncodingCache()
        var out = [Int]()
        bytes.withUnsafeBufferPointer { encode($0, into: &out, cache: &cache) }
        return out
    }

    /// Appends the ids of `text` to `out`, looking pieces up in (and adding them to) `cache`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int], cache: inout EncodingCache) {
        guard !addedTokens.isEmpty else {
            encodeSegment(text, into: &out, cache: &cache)
            return
        }
        // non-normalised added tokens first, then normalised ones in what is left (tokenizers'
        // two passes; with no normaliser both see the same text)
        let passes = [addedTokens.filter { !$0.normalized }, addedTokens.filter(\.normalized)].filter { !$0.isEmpty }
        func run(_ range: Range<Int>, pass: Int) {
            guard pass < passes.count else {
                encodeSegment(UnsafeBufferPointer(rebasing: text[range]), into: &out, cache: &cache)
                return
            }
            var start = range.lowerBound, i = range.lowerBound
            while i < range.upperBound {
                if let token = longestAddedToken(in: text, at: i, end: range.upperBound, among: passes[pass]) {
                    if start < i { run(start..<i, pass: pass + 1) }
                    out.append(token.id)
                    i += token.content.utf8.count
                    start = i
                } else {
                    i += 1
                }
            }
            if start < range.upperBound { run(start..<range.upperBound, pass: pass + 1) }
        }
        run(0..<text.count, pass: 0)
    }

    /// The longest of `tokens` whose content starts at `i`.
    private func longestAddedToken(in text: UnsafeBufferPointer<UInt8>, at i: Int, end: Int, among tokens: [AddedToken]) -> AddedToken? {
        var best: AddedToken?
        for t in tokens {
            let content = t.content.utf8
            guard content.first == text[i], content.count <= end - i, content.count > (best?.content.utf8.count ?? 0) else { continue }
            if content.elementsEqual(text[i..<i + content.count]) { best = t }
        }
        return best
    }

    /// The ids of one segment between added tokens.
    private func encodeSegment(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int], cache: inout EncodingCache) {
        guard !text.isEmpty else { return }
        if addPrefixSpace && text[0] != UInt8(ascii: " ") {
            let spaced = [UInt8(ascii: " ")] + Array(text)
            spaced.withUnsafeBufferPointer { encodePieces($0, into: &out, cache: &cache) }
        } else {
            encodePieces(text, into: &out, cache: &cache)
        }
    }

    /// Pre-tokenises `text` (``useRegex``) and encodes each piece.
    private func encodePieces(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int], cache: inout EncodingCache) {
        if useRegex {
            GPT2PreTokenizer.split(text) { start, end in
                encodePiece(UnsafeBufferPointer(rebasing: text[start..<end]), into: &out, cache: &cache)
            }
        } else {
            encodePiece(text, into: &out, cache: &cache)
        }
    }

    /// The ids of one piece, from the cache or by ``mergePiece(_:into:workspace:)``.
    private func encodePiece(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int], cache: inout EncodingCache) {
        if let e = cache.table.find(piece) {
            for k in cache.ranges[e] { out.append(Int(cache.ids[k])) }
            return
        }
        if cache.table.count >= EncodingCache.limit { cache.clear() }
        let start = cache.ids.count
        if ignoreMerges, let table = vocabularyTable, let e = table.find(piece) {
            cache.ids.append(Int32(vocabularyIDs[e]))
        } else {
            mergePiece(piece, into: &cache.ids, workspace: &cache.workspace)
        }
        _ = cache.table.insert(piece)
        cache.ranges.append(start..<cache.ids.count)
        for k in start..<cache.ids.count { out.append(Int(cache.ids[k])) }
    }

    /// BPE on one piece, as `tokenizers`' `Word::merge_all`: a queue of adjacent pairs by (rank,
    /// position); the first is merged if its two symbols are still side by side and still merge
    /// to the same token, and the pairs it forms with its neighbours join the queue.
    func mergePiece(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32], workspace w: inout MergeWorkspace) {
        let n = piece.count
        w.reset(count: n)
        for (i, b) in piece.enumerated() {
            w.ids[i] = byteTokens[Int(b)]
            w.previous[i] = Int32(i - 1)
            w.next[i] = i + 1 < n ? Int32(i + 1) : -1
        }
        func push(_ pos: Int) {
            let nextPos = Int(w.next[pos])
            guard nextPos >= 0, let m = mergeRanks[UInt64(UInt32(w.ids[pos])) << 32 | UInt64(UInt32(w.ids[nextPos]))] else { return }
            w.queue.push(.init(rank: UInt32(m >> 32), position: UInt32(pos), result: Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)))
        }
        for i in 0..<max(0, n - 1) { push(i) }
        while let top = w.queue.pop() {
            let pos = Int(top.position)
            guard w.alive[pos] else { continue }
            let nextPos = Int(w.next[pos])
            guard nextPos >= 0,
                  let m = mergeRanks[UInt64(UInt32(w.ids[pos])) << 32 | UInt64(UInt32(w.ids[nextPos]))],
                  Int32(truncatingIfNeeded: m & 0xFFFF_FFFF) == top.result else { continue }
            w.ids[pos] = top.result
            w.alive[nextPos] = false
            let after = w.next[nextPos]
            w.next[pos] = after
            if after >= 0 { w.previous[Int(after)] = Int32(pos) }
            if w.previous[pos] >= 0 { push(Int(w.previous[pos])) }
            push(pos)
        }
        var i = 0
        while i >= 0 && i < n {
            out.append(w.ids[i])
            i = Int(w.next[i])
        }
    }

    // MARK: Decoding

    /// Whether `id` has a token.
    public func isKnown(_ id: Int) -> Bool { (0..<tokens.count).contains(id) && tokens[id] != nil }

    /// The bytes of `ids`, one token after the other; an id without a token (``isKnown(_:)``)
    /// gives none.
    public func decode(_ ids: [Int]) -> [UInt8] {
        var out = [UInt8]()
        for id in ids where isKnown(id) { out += tokens[id]! }
        return out
    }
}

/// What encoding keeps between pieces: the cache of pieces seen and the merge workspace.
struct EncodingCache {
    /// More distinct pieces than this empty the cache (memory stays bounded on any text).
    static let limit = 1 << 20
    var table = ByteStringTable()
    /// Piece `e`'s ids are `ids[ranges[e]]`.
    var ranges = [Range<Int>]()
    var ids = [Int32]()
    var workspace = MergeWorkspace()

    mutating func clear() {
        table = ByteStringTable()
        ranges.removeAll(keepingCapacity: true)
        ids.removeAll(keepingCapacity: true)
    }
}

/// The arrays of one piece's merge loop, reused from piece to piece.
struct MergeWorkspace {
    var ids = [Int32](), previous = [Int32](), next = [Int32](), alive = [Bool]()
    var queue = MergeQueue()

    mutating func reset(count n: Int) {
        if ids.count < n {
            ids = [Int32](repeating: 0, count: n)
            previous = ids
            next = ids
            alive = [Bool](repeating: true, count: n)
        } else {
            for i in 0..<n { alive[i] = true }
        }
        queue.removeAll()
    }
}

/// A candidate merge of the encoder's queue: the lowest rank first, then the leftmost position.
struct MergeCandidate: HeapEntry {
    var rank: UInt32
    var position: UInt32
    var result: Int32
    var key: UInt64 { UInt64(rank) << 32 | UInt64(position) }

    @inline(__always)
    func precedes(_ other: MergeCandidate) -> Bool { key < other.key }
}

typealias MergeQueue = BinaryHeap<MergeCandidate>

/// What a ``BinaryHeap`` orders: whether an entry comes out before another.
protocol HeapEntry {
    func precedes(_ other: Self) -> Bool
}

/// A binary heap whose first entry precedes every other: the merge queues of encoding
/// (``MergeCandidate``) and of training (pair counts).
struct BinaryHeap<Entry: HeapEntry> {
    typealias Element = Entry
    private var heap = [Entry]()

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var first = i
                if l < heap.count && heap[l].precedes(heap[first]) { first = l }
                if r < heap.count && heap[r].precedes(heap[first]) { first = r }
                guard first != i else { break }
                heap.swapAt(i, first)
                i = first
            }
        }
        return top
    }
}
