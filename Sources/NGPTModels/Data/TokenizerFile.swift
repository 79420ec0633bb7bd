import Foundation
import NGPTNumerics

/// Why a `tokenizer.json` cannot be used. Every message names the file and says what to do.
public enum TokenizerFileError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read.
    case unreadable(path: String, reason: String)
    /// The file is not JSON (a truncated file, say) or not a tokenizer's JSON object.
    case notJSON(path: String, reason: String)
    /// A tokenizer of a kind this library does not implement: `what` names it (a WordPiece or
    /// Unigram model, a normaliser, a pre-tokenizer other than `ByteLevel`, …).
    case unsupported(path: String, what: String)
    /// A byte-level BPE file that contradicts itself (a merge naming an unknown token, an id
    /// given twice, a missing byte token, …).
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, reason):
            return "cannot read tokenizer \(p): \(reason)"
        case let .notJSON(p, reason):
            return "tokenizer \(p) is not a tokenizer.json (\(reason)): the file is cut short or of another kind; give a Hugging Face tokenizer.json"
        case let .unsupported(p, what):
            return "tokenizer \(p) is not supported: \(what); ngpt reads byte-level BPE tokenizers (GPT-2's kind: model BPE, pre_tokenizer ByteLevel, no normalizer) — use --tokenizer bpe to train one on your text"
        case let .invalid(p, reason):
            return "tokenizer \(p) cannot be used: \(reason); fix or replace the file"
        }
    }

    /// The same error about the file at `path`.
    func at(_ path: String) -> TokenizerFileError {
        switch self {
        case let .unreadable(_, r): return .unreadable(path: path, reason: r)
        case let .notJSON(_, r): return .notJSON(path: path, reason: r)
        case let .unsupported(_, w): return .unsupported(path: path, what: w)
        case let .invalid(_, r): return .invalid(path: path, reason: r)
        }
    }
}

/// Reading and writing Hugging Face's `tokenizer.json` (the format of the `tokenizers` library,
/// which `Tokenizer.from_file` loads).
///
/// Read: a `BPE` model with the `ByteLevel` pre-tokenizer (`add_prefix_space` and `use_regex` as
/// the file says), no normaliser, a `ByteLevel` decoder and post-processor or none, merges as
/// `"a b"` strings or `["a", "b"]` pairs, added tokens without `lstrip`, `rstrip` or
/// `single_word`. Anything else is refused with ``TokenizerFileError/unsupported(path:what:)``
/// naming it, so a file is never encoded differently from `tokenizers`.
///
/// Written: that layout with `add_prefix_space` false, as GPT-2's file has it, the vocabulary in
/// id order and the merges as `"a b"` strings (which every version of `tokenizers` reads; a
/// byte-level token never holds a space).
extension ByteLevelBPE {
    /// Reads a `tokenizer.json`.
    ///
    /// - Throws: ``TokenizerFileError``.
    public init(contentsOf url: URL) throws {
        try self.init(json: try Self.readFile(url), path: url.path)
    }

    /// The bytes of the file at `url`.
    static func readFile(_ url: URL) throws -> Data {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerFileError.unreadable(path: path, reason: "it does not exist; check the path")
        }
        if isDirectory.boolValue { throw TokenizerFileError.unreadable(path: path, reason: "it is a directory; give the tokenizer.json file in it") }
        if let why = ErrorText.notARegularFile(path) { throw TokenizerFileError.unreadable(path: path, reason: why) }
        do { return try Data(contentsOf: url) } catch {
            throw TokenizerFileError.unreadable(path: path, reason: ErrorText.reason(error, path: path))
        }
    }

    /// Reads the JSON of a `tokenizer.json`; `path` names it in errors.
    public init(json data: Data, path: String = "tokenizer.json") throws {
        func unsupported(_ what: String) -> TokenizerFileError { .unsupported(path: path, what: what) }
        func invalid(_ reason: String) -> TokenizerFileError { .invalid(path: path, reason: reason) }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw TokenizerFileError.notJSON(path: path, reason: data.isEmpty ? "it is empty" : "it is not valid JSON")
        }
        guard let root = object as? [String: Any] else { throw TokenizerFileError.notJSON(path: path, reason: "it is not a JSON object") }
        guard let model = root["model"] as? [String: Any] else { throw TokenizerFileError.notJSON(path: path, reason: "it has no model object") }
        let kind = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "an untyped model")
        guard kind == "BPE" else { throw unsupported("its model is \(kind)") }

        func component(_ key: String) -> (type: String, fields: [String: Any])? {
            guard let value = root[key], !(value is NSNull) else { return nil }
            guard let fields = value as? [String: Any] else { return ("a non-object", [:]) }
            return (fields["type"] as? String ?? "an untyped one", fields)
        }
        if let n = component("normalizer") { throw unsupported("its normalizer is \(n.type), which ngpt does not implement") }
        guard let pre = component("pre_tokenizer") else {
            throw unsupported("it has no pre_tokenizer, so it is not byte-level")
        }
        guard pre.type == "ByteLevel" else { throw unsupported("its pre_tokenizer is \(pre.type)") }
        if let d = component("decoder"), d.type != "ByteLevel" { throw unsupported("its decoder is \(d.type)") }
        if let p = component("post_processor"), p.type != "ByteLevel" {
            throw unsupported("its post_processor is \(p.type), which adds tokens when encoding")
        }
        if let t = root["truncation"], !(t is NSNull) { throw unsupported("it truncates what it encodes (truncation is set)") }
        if let p = root["padding"], !(p is NSNull) { throw unsupported("it pads what it encodes (padding is set)") }
        if let dropout = model["dropout"], !(dropout is NSNull), (dropout as? Double).map({ $0 > 0 }) ?? true {
            throw unsupported("it uses BPE dropout (dropout \(dropout)), which makes encoding random")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty { throw unsupported("its model has a \(key) (\"\(s)\")") }
        }

        // added tokens
        var added = [AddedToken]()
        if let list = root["added_tokens"], !(list is NSNull) {
            guard let list = list as? [[String: Any]] else { throw invalid("added_tokens is not a list of objects") }
            for entry in list {
                guard let id = entry["id"] as? Int, id >= 0, let content = entry["content"] as? String, !content.isEmpty else {
                    throw invalid("an added token has no id ≥ 0 or no content")
                }
                for flag in ["lstrip", "rstrip", "single_word"] where entry[flag] as? Bool == true {
                    throw unsupported("its added token \(content) uses \(flag)")
                }
                added.append(AddedToken(id: id, content: content, special: entry["special"] as? Bool ?? false,
                                        normalized: entry["normalized"] as? Bool ?? true))
            }
        }
        let addedContent = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })

        // the vocabulary
        guard let vocab = model["vocab"] as? [String: Any] else { throw invalid("its model has no vocab object") }
        var largest = added.map(\.id).max() ?? -1
        var byID = [Int: String]()
        var idOf = [String: Int]()
        for (token, value) in vocab {
            guard let id = value as? Int, id >= 0, id < Int(Int32.max) else {
                throw invalid("the id of token \(token) is not an integer in 0..<\(Int32.max)")
            }
            if let other = byID[id] { throw invalid("id \(id) is given to two tokens, \(min(other, token)) and \(max(other, token))") }
            byID[id] = token
            idOf[token] = id
            largest = max(largest, id)
        }
        var tokens = [[UInt8]?](repeating: nil, count: largest + 1)
        for (id, token) in byID {
            if addedContent[token] != nil {
                tokens[id] = Array(token.utf8)
                continue
            }
            switch ByteLevelBPE.bytes(ofSymbols: token) {
            case let .success(bytes) where !bytes.isEmpty:
                tokens[id] = bytes
            case .success:
                throw invalid("token \(id) is empty")
            case let .failure(e):
                throw unsupported("token \(id) (\(token)) holds \(String(format: "U+%04X", e.scalar.value)), which is not one of GPT-2's 256 byte symbols, so the vocabulary is not byte-level")
            }
        }
        for a in added {
            if let existing = tokens[a.id], existing != Array(a.content.utf8) {
                throw invalid("added token \(a.content) has id \(a.id), which the vocabulary gives to another token")
            }
            tokens[a.id] = Array(a.content.utf8)
        }

        // the merges
        guard let mergeList = model["merges"] as? [Any] else { throw invalid("its model has no merges list") }
        var merges = [Merge]()
        merges.reserveCapacity(mergeList.count)
        for (rank, entry) in mergeList.enumerated() {
            let pair: [String]
            if let s = entry as? String {
                pair = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let p = entry as? [String] {
                pair = p
            } else {
                throw invalid("merge \(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard pair.count == 2 else { throw invalid("merge \(rank) (\(pair.joined(separator: " "))) does not name two tokens") }
            guard let left = idOf[pair[0]] else { throw invalid("merge \(rank) names \(pair[0]), which is not in the vocabulary") }
            guard let right = idOf[pair[1]] else { throw invalid("merge \(rank) names \(pair[1]), which is not in the vocabulary") }
            guard let result = idOf[pair[0] + pair[1]] else {
                throw invalid("merge \(rank) makes \(pair[0] + pair[1]), which is not in the vocabulary")
            }
            merges.append(Merge(left: left, right: right, result: result))
        }
        do {
            try self.init(tokens: tokens, merges: merges, addedTokens: added,
                          addPrefixSpace: pre.fields["add_prefix_space"] as? Bool ?? true,
                          useRegex: pre.fields["use_regex"] as? Bool ?? true,
                          ignoreMerges: model["ignore_merges"] as? Bool ?? false)
        } catch let e as TokenizerFileError {
            throw e.at(path)
        }
    }

    /// The `tokenizer.json` of this tokenizer (Hugging Face's layout, two-space indents, the
    /// vocabulary in id order): the same bytes for the same tokenizer.
    public func jsonData() -> Data {
        let string = JSONString.quoted
        func text(_ id: Int) -> String {
            if let a = addedTokens.first(where: { $0.id == id }) { return a.content }
            return ByteLevelBPE.symbols(tokens[id]!)
        }
        func byteLevel(prefix: Bool, trim: Bool, indent: String) -> String {
            "{\n\(indent)  \"type\": \"ByteLevel\",\n\(indent)  \"add_prefix_space\": \(prefix),\n\(indent)  \"trim_offsets\": \(trim),\n\(indent)  \"use_regex\": \(useRegex)\n\(indent)}"
        }
        var json = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        json += addedTokens.isEmpty ? "],\n" : "\n" + addedTokens.map { a in
            "    {\n      \"id\": \(a.id),\n      \"content\": \(string(a.content)),\n      \"single_word\": false,\n      \"lstrip\": false,\n      \"rstrip\": false,\n      \"normalized\": \(a.normalized),\n      \"special\": \(a.special)\n    }"
        }.joined(separator: ",\n") + "\n  ],\n"
        json += "  \"normalizer\": null,\n"
        json += "  \"pre_tokenizer\": " + byteLevel(prefix: addPrefixSpace, trim: true, indent: "  ") + ",\n"
        json += "  \"post_processor\": " + byteLevel(prefix: true, trim: false, indent: "  ") + ",\n"
        json += "  \"decoder\": " + byteLevel(prefix: true, trim: true, indent: "  ") + ",\n"
        json += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
        json += "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
        json += "    \"byte_fallback\": false,\n    \"ignore_merges\": \(ignoreMerges),\n    \"vocab\": {\n"
        json += tokens.indices.filter { tokens[$0] != nil }.map { "      \(string(text($0))): \($0)" }.joined(separator: ",\n")
        json += "\n    },\n    \"merges\": [\n"
        json += merges.map { "      " + string(text($0.left) + " " + text($0.right)) }.joined(separator: ",\n")
        json += (merges.isEmpty ? "" : "\n") + "    ]\n  }\n}\n"
        return Data(json.utf8)
    }

    /// Writes ``jsonData()`` to `url` (atomically).
    public func write(to url: URL) throws {
        try jsonData().write(to: url, options: .atomic)
    }
}
