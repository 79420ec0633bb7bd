import Foundation
import XCTest
@testable import NGPTModels
@testable import NGPTNumerics

/// The byte-level BPE: ids equal to Hugging Face `tokenizers`' on the committed fixtures
/// (`TokenizerFixtures/`, made by scripts/make-tokenizer-fixtures.py), GPT-2's pre-tokenisation
/// piece by piece, lossless round trips over random bytes, deterministic training with its tie
/// rule, the file written and read back, and every kind of file that is refused.
final class TokenizerTests: XCTestCase {
    var fixtures: URL {
        get throws { try XCTUnwrap(Bundle.module.url(forResource: "TokenizerFixtures", withExtension: nil)) }
    }

    func fixture(_ name: String) throws -> ByteLevelBPE {
        try ByteLevelBPE(contentsOf: try fixtures.appendingPathComponent(name))
    }

    // MARK: against tokenizers

    func testIdsEqualTokenizersOnFixtures() throws {
        let data = try Data(contentsOf: try fixtures.appendingPathComponent("cases.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 60)
        for name in ["gpt2-style.json", "prefix-space.json"] {
            let bpe = try fixture(name)
            var compared = 0
            for (i, c) in cases.enumerated() {
                let text = try XCTUnwrap(c["text"] as? String)
                let expected = try XCTUnwrap(c[name] as? [Int], "case \(i) has no ids for \(name)")
                XCTAssertEqual(bpe.encode(text), expected, "\(name), case \(i): \(text.debugDescription)")
                compared += 1
            }
            XCTAssertEqual(compared, cases.count)
        }
    }

    func testFixtureFilesReadAsWritten() throws {
        let gpt2 = try fixture("gpt2-style.json")
        XCTAssertFalse(gpt2.addPrefixSpace)
        XCTAssertTrue(gpt2.useRegex)
        XCTAssertFalse(gpt2.ignoreMerges)
        XCTAssertEqual(gpt2.addedTokens.map(\.content), ["<|endoftext|>"])
        XCTAssertEqual(gpt2.vocabularySize, gpt2.addedTokens[0].id + 1)
        XCTAssertEqual(gpt2.merges.count, gpt2.vocabularySize - 1 - 256)
        let prefixed = try fixture("prefix-space.json")
        XCTAssertTrue(prefixed.addPrefixSpace)
        XCTAssertTrue(prefixed.ignoreMerges)
    }

    // MARK: pre-tokenisation

    func pieces(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var out = [String]()
        bytes.withUnsafeBufferPointer { p in
            GPT2PreTokenizer.split(p) { out.append(String(decoding: bytes[$0..<$1], as: UTF8.self)) }
        }
        return out
    }

    func testPreTokenizerCutsAsGPT2Pattern() {
        XCTAssertEqual(pieces("Hello  world"), ["Hello", " ", " world"])
        XCTAssertEqual(pieces("it's 12 ok!!\n\n  x"), ["it", "'s", " 12", " ok", "!!", "\n\n ", " x"])
        XCTAssertEqual(pieces("they're I'M 'll"), ["they", "'re", " I", "'", "M", " '", "ll"])
        XCTAssertEqual(pieces("a\t b"), ["a", "\t", " b"])
        XCTAssertEqual(pieces("end   "), ["end", "   "])
        XCTAssertEqual(pieces("x\u{00A0}y"), ["x", "\u{00A0}", "y"])
        XCTAssertEqual(pieces(" café ①②"), [" café", " ①②"])
        XCTAssertEqual(pieces(""), [])
    }

    func testInvalidBytesAreCharactersOfTheOtherClass() {
        // 0xFF, a lone continuation byte and a truncated sequence join punctuation, not words
        let bytes: [UInt8] = [0x61, 0xFF, 0x21, 0x80, 0x20, 0xE2, 0x82, 0x62, 0xED, 0xA0, 0x80]
        var cuts = [Range<Int>]()
        bytes.withUnsafeBufferPointer { p in GPT2PreTokenizer.split(p) { cuts.append($0..<$1) } }
        XCTAssertEqual(cuts, [0..<1, 1..<4, 4..<7, 7..<8, 8..<11])
    }

    // MARK: round trips

    func testDecodeInvertsEncodeOnRandomBytes() throws {
        let seed: UInt64 = 22
        var g = SeededGenerator(seed: seed)
        let trained = ByteLevelBPE.train(on: Array("the cat sat on the mat; it's the hat. 12 34 ".utf8), vocabularySize: 300)
        for bpe in [try fixture("gpt2-style.json"), trained] {
            for trial in 0..<200 {
                let n = Int(g.next() % 300)
                let alphabet: [UInt8] = trial % 3 == 0 ? [0x20, 0x0A, 0x61, 0x27, 0x73, 0xC3, 0xA9, 0xE2, 0x80, 0xFF] : Array(0...255)
                let bytes = (0..<n).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
                let ids = bpe.encode(bytes)
                XCTAssertEqual(bpe.decode(ids), bytes, "seed \(seed), trial \(trial)")
                XCTAssertTrue(ids.allSatisfy(bpe.isKnown), "seed \(seed), trial \(trial)")
            }
        }
        // a run of 200,000 spaces is one piece: merged by the queue, not by rescanning
        let spaces = [UInt8](repeating: 0x20, count: 200_000)
        XCTAssertEqual(trained.decode(trained.encode(spaces)), spaces)
    }

    // MARK: training

    func testTrainingBreaksTiesBySmallerIdsAndStopsWhenNothingIsLeft() {
        // "ab" and " cd": every pair occurs once; (0x20, c) has the smallest left id, then (a, b),
        // then (" c", d); after that every piece is one token.
        let bpe = ByteLevelBPE.train(on: Array("ab cd".utf8), vocabularySize: 1000)
        XCTAssertEqual(bpe.merges, [.init(left: 0x20, right: 0x63, result: 256), .init(left: 0x61, right: 0x62, result: 257),
                                    .init(left: 256, right: 0x64, result: 258)])
        XCTAssertEqual(bpe.vocabularySize, 259)
        XCTAssertEqual(bpe.tokens[258], Array(" cd".utf8))
    }

    func testTrainingMergesTheMostFrequentPairFirst() {
        // pieces "aaab" ×2 (one of them " aaab" has a leading space) … counted with multiplicity
        let bpe = ByteLevelBPE.train(on: Array("aaab aaab aaab aab".utf8), vocabularySize: 258)
        // (a, a): 2 per "aaab" ×3 + 1 in "aab" = 7, more than (a, b) = 4 or (0x20, a) = 3
        XCTAssertEqual(bpe.merges.first, .init(left: 0x61, right: 0x61, result: 256))
        // then "aa" + "a"? no: "aaab" is now [aa, a, b]: (aa, a) 3, (a, b) 3, (aa, b) 1, (0x20, aa) 3;
        // the tie among count 3 goes to the smallest left id, (0x20, aa)
        XCTAssertEqual(bpe.merges[1], .init(left: 0x20, right: 256, result: 257))
        XCTAssertEqual(bpe.encode("aaab"), [256, 0x61, 0x62])
    }

    func testTrainingIsDeterministic() throws {
        var g = SeededGenerator(seed: 7)
        let words = ["in", "the", "beginning", "God", "created", "heaven", "and", "earth", "it's", "1:1", "\n", "  "]
        var text = [UInt8]()
        while text.count < 40_000 { text += Array((words[Int(g.next() % UInt64(words.count))] + " ").utf8) }
        let a = ByteLevelBPE.train(on: text, vocabularySize: 300)
        let b = ByteLevelBPE.train(on: text, vocabularySize: 300)
        XCTAssertEqual(a.jsonData(), b.jsonData(), "seed 7")
        XCTAssertEqual(a.vocabularySize, 300)
        // training on a range sees only that range
        let first = ByteLevelBPE.train(on: text, ranges: [0..<1000], vocabularySize: 400)
        XCTAssertEqual(first, ByteLevelBPE.train(on: Array(text[0..<1000]), vocabularySize: 400))
    }

    // MARK: the file

    func testWrittenFileReadsBackToTheSameTokenizer() throws {
        let text = Array("In the beginning God created the heaven and the earth. \"Quote\" \\ back\tslash\n".utf8)
        let bpe = ByteLevelBPE.train(on: text + text, vocabularySize: 320)
        let json = bpe.jsonData()
        let read = try ByteLevelBPE(json: json)
        XCTAssertEqual(read, bpe)
        XCTAssertEqual(read.jsonData(), json)
        XCTAssertEqual(read.encode(text), bpe.encode(text))
        // ids 0–255 are the bytes
        XCTAssertEqual(bpe.encode([0x00, 0xFF]), [0, 255])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let vocab = try XCTUnwrap((object["model"] as? [String: Any])?["vocab"] as? [String: Int])
        XCTAssertEqual(vocab["Ġ"], 0x20)
        XCTAssertEqual(vocab["Ā"], 0x00)
        XCTAssertEqual(vocab.count, bpe.vocabularySize)
    }

    func testReadsMergesAsStringsAndAsPairs() throws {
        let url = try fixtures.appendingPathComponent("gpt2-style.json")
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var model = try XCTUnwrap(object["model"] as? [String: Any])
        let pairs = try XCTUnwrap(model["merges"] as? [[String]])
        model["merges"] = pairs.map { $0.joined(separator: " ") }
        object["model"] = model
        let strings = try ByteLevelBPE(json: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(strings, try fixture("gpt2-style.json"))
    }

    /// GPT-2's `tokenizer.json` as published is older than the fixture's layout: no model type,
    /// merges as strings, empty strings for the subword prefix and suffix, no `use_regex`, and
    /// `<|endoftext|>` in the vocabulary as well as a normalised added token.
    func testReadsGPT2sPublishedLayout() throws {
        let url = try fixtures.appendingPathComponent("gpt2-style.json")
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var model = try XCTUnwrap(object["model"] as? [String: Any])
        model["type"] = nil
        model["ignore_merges"] = nil
        model["continuing_subword_prefix"] = ""
        model["end_of_word_suffix"] = ""
        model["merges"] = try XCTUnwrap(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        var added = try XCTUnwrap(object["added_tokens"] as? [[String: Any]])
        added[0]["normalized"] = true
        var vocab = try XCTUnwrap(model["vocab"] as? [String: Any])
        vocab["<|endoftext|>"] = added[0]["id"]
        model["vocab"] = vocab
        object["model"] = model
        object["added_tokens"] = added
        for key in ["pre_tokenizer", "post_processor", "decoder"] {
            var component = try XCTUnwrap(object[key] as? [String: Any])
            component["use_regex"] = nil
            object[key] = component
        }
        let published = try ByteLevelBPE(json: JSONSerialization.data(withJSONObject: object))
        let fixture = try fixture("gpt2-style.json")
        let cases = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("cases.json"))) as? [String: Any])
        for c in try XCTUnwrap(cases["cases"] as? [[String: Any]]) {
            let text = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(published.encode(text), try XCTUnwrap(c["gpt2-style.json"] as? [Int]), text.debugDescription)
        }
        XCTAssertEqual(published.tokens, fixture.tokens)
        XCTAssertEqual(published.decode(published.encode("a<|endoftext|>b")), Array("a<|endoftext|>b".utf8))
    }

    // MARK: refused files

    func assertRefused(_ data: Data, _ expected: (TokenizerFileError) -> Bool, _ fragment: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ByteLevelBPE(json: data, path: "t.json"), file: file, line: line) { error in
            guard let e = error as? TokenizerFileError else { return XCTFail("threw \(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "threw \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(fragment), "\(e.description) does not mention \(fragment)", file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), "not one line: \(e.description)", file: file, line: line)
            XCTAssertTrue(e.description.contains("t.json"), file: file, line: line)
        }
    }

    func isUnsupported(_ e: TokenizerFileError) -> Bool { if case .unsupported = e { return true } else { return false } }
    func isInvalid(_ e: TokenizerFileError) -> Bool { if case .invalid = e { return true } else { return false } }
    func isNotJSON(_ e: TokenizerFileError) -> Bool { if case .notJSON = e { return true } else { return false } }

    func testRefusesKindsItDoesNotImplement() throws {
        for (name, what) in [("wordpiece.json", "model is WordPiece"), ("unigram.json", "model is Unigram"),
                             ("normalizer.json", "normalizer is NFC")] {
            assertRefused(try Data(contentsOf: try fixtures.appendingPathComponent(name)), isUnsupported, what)
        }
        let base = try Data(contentsOf: try fixtures.appendingPathComponent("gpt2-style.json"))
        func edited(_ edit: (inout [String: Any]) -> Void) throws -> Data {
            var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: base) as? [String: Any])
            edit(&object)
            return try JSONSerialization.data(withJSONObject: object)
        }
        assertRefused(try edited { $0["pre_tokenizer"] = ["type": "Whitespace"] }, isUnsupported, "pre_tokenizer is Whitespace")
        assertRefused(try edited { $0["post_processor"] = ["type": "TemplateProcessing"] }, isUnsupported, "post_processor is TemplateProcessing")
        assertRefused(try edited { $0["truncation"] = ["max_length": 8] }, isUnsupported, "truncat")
        assertRefused(try edited { o in
            var model = o["model"] as! [String: Any]
            model["dropout"] = 0.1
            o["model"] = model
        }, isUnsupported, "dropout")
        assertRefused(try edited { o in
            var added = o["added_tokens"] as! [[String: Any]]
            added[0]["lstrip"] = true
            o["added_tokens"] = added
        }, isUnsupported, "lstrip")
        assertRefused(try edited { o in
            var model = o["model"] as! [String: Any]
            var vocab = model["vocab"] as! [String: Any]
            vocab["▁the"] = 10_000
            model["vocab"] = vocab
            o["model"] = model
        }, isUnsupported, "U+2581")
    }

    func testRefusesBrokenFilesInOneLine() throws {
        let base = try Data(contentsOf: try fixtures.appendingPathComponent("gpt2-style.json"))
        assertRefused(base.prefix(base.count / 2), isNotJSON, "not valid JSON")
        assertRefused(Data(), isNotJSON, "empty")
        assertRefused(Data("[1, 2]".utf8), isNotJSON, "not a JSON object")
        func edited(_ edit: (inout [String: Any]) -> Void) throws -> Data {
            var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: base) as? [String: Any])
            var model = object["model"] as! [String: Any]
            edit(&model)
            object["model"] = model
            return try JSONSerialization.data(withJSONObject: object)
        }
        assertRefused(try edited { m in
            var merges = m["merges"] as! [[String]]
            merges[0] = ["Ġth", "zzz"]
            m["merges"] = merges
        }, isInvalid, "merge 0 names zzz, which is not in the vocabulary")
        assertRefused(try edited { m in
            var merges = m["merges"] as! [[String]]
            merges[3] = ["a", "b", "c"]
            m["merges"] = merges
        }, isInvalid, "merge 3")
        assertRefused(try edited { m in
            var vocab = m["vocab"] as! [String: Any]
            vocab["Ā"] = nil
            m["vocab"] = vocab
        }, isInvalid, "no token for byte 0x00")
        assertRefused(try edited { m in
            var vocab = m["vocab"] as! [String: Any]
            vocab["a"] = vocab["b"]
            m["vocab"] = vocab
        }, isInvalid, "is given to two tokens")
        assertRefused(try edited { m in
            var vocab = m["vocab"] as! [String: Any]
            vocab["a"] = "x"
            m["vocab"] = vocab
        }, isInvalid, "the id of token a")
    }

    // MARK: token files

    func testTokenFilesHoldTheirTypeAndRefuseIdsBeyondIt() throws {
        let dir = try makeTemporaryDirectory("tokenfiles")
        defer { try? FileManager.default.removeItem(at: dir) }
        let narrow = dir.appendingPathComponent("narrow.bin")
        var w16 = try TokenFileWriter(url: narrow, dtype: .uint16)
        try w16.append([0, 1, 65_535])
        XCTAssertThrowsError(try w16.append([7, 65_536])) { error in
            XCTAssertEqual(error as? DatasetPreparationError, .tokenOutsideType(token: 65_536, offset: 4, dtype: .uint16))
            XCTAssertFalse("\(error)".contains("\n"))
        }
        try w16.close()
        XCTAssertEqual([UInt8](try Data(contentsOf: narrow)), [0, 0, 1, 0, 0xFF, 0xFF])
        let wide = dir.appendingPathComponent("wide.bin")
        var w32 = try TokenFileWriter(url: wide, dtype: .uint32)
        try w32.append([1, 70_000, 4_000_000_000])
        try w32.close()
        // little-endian, four bytes each, as numpy's uint32 tofile() writes them
        XCTAssertEqual([UInt8](try Data(contentsOf: wide)), [1, 0, 0, 0, 0x70, 0x11, 0x01, 0x00, 0x00, 0x28, 0x6B, 0xEE])
        let file = try TokenFile(url: wide, dtype: .uint32)
        XCTAssertEqual(file.tokens(0..<3), [1, 70_000, 4_000_000_000])
        XCTAssertThrowsError(try file.checkVocabulary(70_000)) { error in
            XCTAssertEqual(error as? TokenDataError, .tokenOutOfRange(path: wide.path, offset: 1, token: 70_000, vocabularySize: 70_000))
        }
        try Data([1, 0, 0, 0, 2, 0]).write(to: wide)
        XCTAssertThrowsError(try TokenFile(url: wide, dtype: .uint32)) { error in
            XCTAssertEqual(error as? TokenDataError, .partialToken(path: wide.path, bytes: 6, dtype: .uint32))
        }
    }

    func testSHA256MatchesKnownDigests() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // two blocks of padding
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
