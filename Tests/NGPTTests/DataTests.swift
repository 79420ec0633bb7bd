import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// The data layer: `prepareBytes`, token files in nanoGPT's layout, the vocabulary rules, the
/// samplers and the validation set. Every test works in its own temporary directory.
final class DataTests: XCTestCase {
    // MARK: helpers

    /// A fresh directory, removed after the test.
    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ngpt-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Writes `bytes` to `dir/name`.
    @discardableResult
    func write(_ bytes: [UInt8], _ name: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// Writes token ids the way nanoGPT's `np.array(ids, dtype=np.uint16).tofile(path)` does on
    /// a little-endian machine: two bytes per id, low byte first, no header. Spelled out byte by
    /// byte so it does not share code with the library.
    @discardableResult
    func writeTokens(_ ids: [Int], _ name: String, in dir: URL) throws -> URL {
        try write(ids.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, name, in: dir)
    }

    /// Decodes a token file byte by byte (low byte first).
    func readTokens(_ url: URL) throws -> [Int] {
        let bytes = [UInt8](try Data(contentsOf: url))
        XCTAssertEqual(bytes.count % 2, 0, "\(url.lastPathComponent) has an odd length")
        return stride(from: 0, to: bytes.count, by: 2).map { Int(bytes[$0]) | Int(bytes[$0 + 1]) << 8 }
    }

    func contents(of dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    /// Asserts that `body` throws exactly `expected`.
    func assertThrows<E: Error & Equatable, T>(_ expected: E, _ body: @autoclosure () throws -> T,
                                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? E, expected, "threw \(error)", file: file, line: line)
        }
    }

    /// A data directory whose train.bin and val.bin hold `train` and `val`, without meta.json.
    func nanoGPTDirectory(train: [Int], val: [Int]) throws -> URL {
        let dir = try temporaryDirectory().appendingPathComponent("data")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        try writeTokens(train, "train.bin", in: dir)
        try writeTokens(val, "val.bin", in: dir)
        return dir
    }

    // MARK: prepare

    func testPrepareRoundTripsBytesSplitsAndDescribesTheData() throws {
        let tmp = try temporaryDirectory()
        let text = Array("In the beginning, héllo\n".utf8)           // valid UTF-8, with a 2-byte character
        let binary: [UInt8] = [0xFF, 0x00, 0x80, 0xC3, 10, 20, 30, 0xFE]  // not UTF-8, with a 0 byte
        let a = try write(text, "a.txt", in: tmp)
        let b = try write(binary, "b.bin", in: tmp)
        let out = tmp.appendingPathComponent("nested/out")               // neither exists yet
        let info = try DatasetPreparation.prepareBytes(files: [a, b], outputDirectory: out, validationFraction: 0.25)

        let all = (text + binary).map(Int.init)
        let n = all.count
        let trainCount = Int(Double(n) * 0.75)
        XCTAssertEqual(contents(of: out), ["meta.json", "train.bin", "val.bin"])
        XCTAssertEqual(contents(of: tmp.appendingPathComponent("nested")), ["out"], "no staging directory may remain")
        let train = try readTokens(out.appendingPathComponent("train.bin"))
        let val = try readTokens(out.appendingPathComponent("val.bin"))
        XCTAssertEqual(train.count, trainCount)
        XCTAssertEqual(val.count, n - trainCount)
        XCTAssertEqual(train + val, all, "train.bin + val.bin must be the concatenated input, one token per byte")

        // meta.json, read by key rather than through the library's Codable type.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("meta.json"))) as? [String: Any])
        XCTAssertEqual(json["vocab_size"] as? Int, 256)
        XCTAssertEqual(json["tokenizer"] as? String, "bytes")
        XCTAssertEqual(json["dtype"] as? String, "uint16")
        XCTAssertEqual(json["byte_order"] as? String, "little")
        XCTAssertEqual(json["train_tokens"] as? Int, trainCount)
        XCTAssertEqual(json["val_tokens"] as? Int, n - trainCount)
        XCTAssertEqual(json["val_fraction"] as? Double, 0.25)
        let sources = try XCTUnwrap(json["sources"] as? [[String: Any]])
        XCTAssertEqual(sources.map { $0["path"] as? String }, [a.path, b.path])
        XCTAssertEqual(sources.map { $0["bytes"] as? Int }, [text.count, binary.count])
        XCTAssertEqual(sources.map { $0["valid_utf8"] as? Bool }, [true, false])

        XCTAssertEqual(info, try JSONDecoder().decode(PreparedDatasetInfo.self, from: Data(contentsOf: out.appendingPathComponent("meta.json"))))
        XCTAssertEqual(info.trainTokens, trainCount)
    }

    /// Pseudo-random bytes (all 256 values, so not UTF-8), the same for every run.
    func seededBytes(_ count: Int, seed: UInt64 = 11) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// The tail split writes exactly what `ngpt prepare` wrote before interleaved splits existed:
    /// the first ⌊N·(1 − f)⌋ bytes and the rest as little-endian uint16, and the same meta.json
    /// bytes (no split key), captured from the earlier version.
    func testTailSplitIsByteIdenticalToTheEarlierFormat() throws {
        let tmp = try temporaryDirectory()
        // Long enough for the default interleaved split (6 × 64 KiB + 1), so only `.tail` makes this the tail.
        let bytes = seededBytes(400_001)
        let source = try write(bytes, "t.bin", in: tmp)
        let out = tmp.appendingPathComponent("out")
        let info = try DatasetPreparation.prepareBytes(files: [source], outputDirectory: out, split: .tail)
        XCTAssertEqual(info.split, .tail)
        let trainCount = 360_000  // ⌊400,001 · 0.9⌋
        let le = { (b: ArraySlice<UInt8>) in Data(b.flatMap { [$0, 0] }) }
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("train.bin")), le(bytes[..<trainCount]))
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("val.bin")), le(bytes[trainCount...]))
        let meta = """
            {
              "byte_order" : "little",
              "dtype" : "uint16",
              "sources" : [
                {
                  "bytes" : 400001,
                  "path" : "\(source.path)",
                  "valid_utf8" : false
                }
              ],
              "tokenizer" : "bytes",
              "train_tokens" : 360000,
              "val_fraction" : 0.1,
              "val_tokens" : 40001,
              "vocab_size" : 256
            }

            """
        XCTAssertEqual(String(decoding: try Data(contentsOf: out.appendingPathComponent("meta.json")), as: UTF8.self), meta)
    }

    /// Rebuilds the text from train.bin and val.bin by the rule `prepare` documents, written out
    /// here without the library: blocks of B tokens (the last may be shorter); block i is
    /// validation when i mod k = o and it is not the last block, and each file holds its blocks in
    /// order. Fails if a file has tokens left over or runs short.
    func reassemble(train: [Int], val: [Int], block b: Int, every k: Int, offset o: Int,
                    file: StaticString = #filePath, line: UInt = #line) -> [Int] {
        let n = train.count + val.count
        let blocks = (n + b - 1) / b
        var text = [Int](), t = 0, v = 0
        for i in 0..<blocks {
            let length = min(b, n - i * b)
            if i % k == o && i != blocks - 1 {
                guard v + length <= val.count else { XCTFail("val.bin runs short at block \(i)", file: file, line: line); return text }
                text += val[v..<(v + length)]
                v += length
            } else {
                guard t + length <= train.count else { XCTFail("train.bin runs short at block \(i)", file: file, line: line); return text }
                text += train[t..<(t + length)]
                t += length
            }
        }
        XCTAssertEqual(t, train.count, "train.bin has tokens left over", file: file, line: line)
        XCTAssertEqual(v, val.count, "val.bin has tokens left over", file: file, line: line)
        return text
    }

    func testInterleavedSplitHoldsOutEveryKthBlockButTheLast() throws {
        let tmp = try temporaryDirectory()
        // (length, fraction, the validation blocks of 100 bytes expected)
        let cases: [(n: Int, f: Double, blocks: [Int])] = [
            (2_537, 0.1, [5, 15]),         // 26 blocks, the last (25) short and training text
            (2_600, 0.1, [5, 15]),         // 26 full blocks: 25 is the last, so training text
            (2_601, 0.1, [5, 15, 25]),     // 27 blocks: 25 is no longer the last
            (601, 0.1, [5]),               // the shortest text with a validation block
            (1_250, 0.25, [2, 6, 10]),     // k = 4, from block 2
            (1_000, 0.3, [1, 4, 7]),       // k = round(3.33) = 3, from block 1; 9 is the last
            (900, 0.5, [1, 3, 5, 7]),      // k = 2
        ]
        for (index, c) in cases.enumerated() {
            let bytes = seededBytes(c.n, seed: UInt64(index))
            // Two input files, cut inside a block, so blocks span the seam between files.
            let a = try write(Array(bytes[..<(c.n / 3)]), "a\(index).bin", in: tmp)
            let b = try write(Array(bytes[(c.n / 3)...]), "b\(index).bin", in: tmp)
            let out = tmp.appendingPathComponent("out\(index)")
            let info = try DatasetPreparation.prepareBytes(files: [a, b], outputDirectory: out, validationFraction: c.f,
                                                           split: .interleaved, validationBlock: 100)
            let k = Int((1 / c.f).rounded()), o = k / 2
            XCTAssertEqual(info.split, .interleaved(InterleavedSplit(blockTokens: 100, period: k, offset: o)), "case \(index)")
            let train = try readTokens(out.appendingPathComponent("train.bin"))
            let val = try readTokens(out.appendingPathComponent("val.bin"))
            let all = bytes.map(Int.init)
            XCTAssertTrue(val == c.blocks.flatMap { all[($0 * 100)..<($0 * 100 + 100)] },
                          "case \(index): val.bin (\(val.count) tokens) is not blocks \(c.blocks)")
            XCTAssertEqual(train.count, c.n - 100 * c.blocks.count, "case \(index)")
            XCTAssertTrue(reassemble(train: train, val: val, block: 100, every: k, offset: o) == all,
                          "case \(index): train.bin and val.bin do not rebuild the text by the rule")
            XCTAssertEqual(Array(train.prefix(100)), Array(all.prefix(100)), "the first block is training text")
            XCTAssertEqual(train.last, all.last, "the last block is training text")
            XCTAssertEqual(info.trainTokens, train.count)
            XCTAssertEqual(info.validationTokens, val.count)
        }
    }

    func testInterleavedSplitIsTheDefaultAndRecordedInMeta() throws {
        let tmp = try temporaryDirectory()
        let block = DatasetPreparation.defaultValidationBlock
        let n = 6 * block + 1  // the shortest text the defaults hold out a block of: block 5 and one byte after it
        let bytes = seededBytes(n)
        let source = try write(bytes, "t.bin", in: tmp)
        let out = tmp.appendingPathComponent("out")
        let info = try DatasetPreparation.prepareBytes(files: [source], outputDirectory: out)
        XCTAssertEqual(info.split, .interleaved(InterleavedSplit(blockTokens: 65_536, period: 10, offset: 5)))
        let train = try readTokens(out.appendingPathComponent("train.bin"))
        let val = try readTokens(out.appendingPathComponent("val.bin"))
        XCTAssertTrue(val == bytes[(5 * block)..<(6 * block)].map(Int.init), "val.bin is not block 5")
        XCTAssertTrue(reassemble(train: train, val: val, block: block, every: 10, offset: 5) == bytes.map(Int.init),
                      "train.bin and val.bin do not rebuild the text by the rule")

        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("meta.json"))) as? [String: Any])
        XCTAssertEqual(json["split"] as? String, "interleaved")
        XCTAssertEqual(json["val_block"] as? Int, 65_536)
        XCTAssertEqual(json["val_every"] as? Int, 10)
        XCTAssertEqual(json["val_offset"] as? Int, 5)
        XCTAssertEqual(json["val_fraction"] as? Double, 0.1)
        XCTAssertEqual(json["train_tokens"] as? Int, 5 * block + 1)
        XCTAssertEqual(json["val_tokens"] as? Int, block)
        let data = try TokenDataset(directory: out)
        XCTAssertEqual(data.metadata, info)
        XCTAssertEqual(data.validation.count, block)

        // One byte shorter: the default falls back to the tail split (and says so in meta.json by
        // having no split key); asked for explicitly, it is an error that names the length needed.
        let short = try write(Array(bytes.dropLast()), "short.bin", in: tmp)
        let tail = try DatasetPreparation.prepareBytes(files: [short], outputDirectory: tmp.appendingPathComponent("tail"))
        XCTAssertEqual(tail.split, .tail)
        XCTAssertEqual(tail.validationTokens, 6 * block - Int(Double(6 * block) * 0.9))
        let tailJSON = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: tmp.appendingPathComponent("tail/meta.json"))) as? [String: Any])
        XCTAssertNil(tailJSON["split"])
        XCTAssertNil(tailJSON["val_block"])
        let tooShort = DatasetPreparationError.textTooShortForInterleavedSplit(tokens: 6 * block, blockTokens: block, needed: 6 * block + 1)
        assertThrows(tooShort, try DatasetPreparation.prepareBytes(files: [short], outputDirectory: tmp.appendingPathComponent("x"), split: .interleaved))
        XCTAssertEqual(tooShort.description, "the text has 393216 bytes; an interleaved split with blocks of 65536 bytes needs at least 393217 (its first validation block and a training block after it): use a smaller --val-block or --split tail")
        // A fraction above 2/3 (k = 1) or a block below 2 bytes cannot be interleaved; the default
        // falls back to the tail, an explicit request is refused before anything is read.
        assertThrows(DatasetPreparationError.validationFractionTooLargeForInterleavedSplit(0.7),
                     try DatasetPreparation.prepareBytes(files: [source], outputDirectory: tmp.appendingPathComponent("x"),
                                                         validationFraction: 0.7, split: .interleaved))
        assertThrows(DatasetPreparationError.validationBlockTooSmall(1),
                     try DatasetPreparation.prepareBytes(files: [tmp.appendingPathComponent("missing")],
                                                         outputDirectory: tmp.appendingPathComponent("x"), split: .interleaved, validationBlock: 1))
        XCTAssertEqual(try DatasetPreparation.prepareBytes(files: [source], outputDirectory: tmp.appendingPathComponent("f7"),
                                                           validationFraction: 0.7).split, .tail)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("x").path))
        XCTAssertEqual(DatasetPreparation.interleavedSplitProblem(tokens: 1 << 30, validationFraction: 1.5, validationBlock: 100),
                       .validationFractionOutOfRange(1.5))
        XCTAssertNil(DatasetPreparation.interleavedSplitProblem(tokens: 601, validationFraction: 0.1, validationBlock: 100))
        XCTAssertEqual(DatasetPreparation.interleavedSplitProblem(tokens: 600, validationFraction: 0.1, validationBlock: 100),
                       .textTooShortForInterleavedSplit(tokens: 600, blockTokens: 100, needed: 601))
    }

    func testMetaJSONWithoutASplitKeyReadsAsTail() throws {
        // meta.json as every earlier version wrote it.
        let dir = try nanoGPTDirectory(train: Array(repeating: 65, count: 9), val: [66, 67])
        try write(Array("""
            {
              "byte_order" : "little",
              "dtype" : "uint16",
              "sources" : [ { "bytes" : 11, "path" : "/old/text.txt", "valid_utf8" : true } ],
              "tokenizer" : "bytes",
              "train_tokens" : 9,
              "val_fraction" : 0.1,
              "val_tokens" : 2,
              "vocab_size" : 256
            }
            """.utf8), "meta.json", in: dir)
        let data = try TokenDataset(directory: dir)
        let meta = try XCTUnwrap(data.metadata)
        XCTAssertEqual(meta.split, .tail)
        XCTAssertEqual(meta.trainTokens, 9)
        XCTAssertEqual(data.validation.tokens(0..<2), [66, 67])

        // An interleaved meta.json without val_every/val_offset derives them from val_fraction;
        // a split the library does not know leaves the metadata unread, as any malformed key does.
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as? [String: Any])
        json["split"] = "interleaved"
        json["val_block"] = 4
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("meta.json"))
        XCTAssertEqual(try TokenDataset(directory: dir).metadata?.split, .interleaved(InterleavedSplit(blockTokens: 4, period: 10, offset: 5)))
        json["split"] = "shuffled"
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("meta.json"))
        XCTAssertNil(try TokenDataset(directory: dir).metadata)
    }

    func testSplitSizesFollowNanoGPT() {
        // nanoGPT: train = data[:int(n*0.9)], val = data[int(n*0.9):]; values from Python.
        XCTAssertTrue(DatasetPreparation.splitSizes(tokens: 10, validationFraction: 0.1) == (9, 1))
        XCTAssertTrue(DatasetPreparation.splitSizes(tokens: 1000, validationFraction: 0.1) == (900, 100))
        XCTAssertTrue(DatasetPreparation.splitSizes(tokens: 4_298_239, validationFraction: 0.1) == (3_868_415, 429_824))
        XCTAssertTrue(DatasetPreparation.splitSizes(tokens: 3, validationFraction: 0.5) == (1, 2))
    }

    func testPrepareReplacesItsFilesAndKeepsOthers() throws {
        let out = try temporaryDirectory()
        let corpus = try write(Array("the corpus lives beside its tokens".utf8), "corpus.txt", in: out)
        try writeTokens([1, 2, 3], "train.bin", in: out)
        try write(Array("{}".utf8), "meta.json", in: out)
        try DatasetPreparation.prepareBytes(files: [corpus], outputDirectory: out, validationFraction: 0.5)
        XCTAssertEqual(contents(of: out), ["corpus.txt", "meta.json", "train.bin", "val.bin"])
        XCTAssertEqual(try readTokens(out.appendingPathComponent("train.bin")) + readTokens(out.appendingPathComponent("val.bin")),
                       Array("the corpus lives beside its tokens".utf8).map(Int.init))
        XCTAssertEqual(try TokenDataset(directory: out).vocabularySource, .metadata)
    }

    func testPrepareErrorsLeaveNothingBehind() throws {
        let tmp = try temporaryDirectory()
        let text = try write(Array("twenty bytes of text".utf8), "text.txt", in: tmp)
        let empty = try write([], "empty.txt", in: tmp)
        let out = tmp.appendingPathComponent("new/out")
        func prepare(_ files: [URL], _ f: Double = 0.1, out: URL = out) throws {
            try DatasetPreparation.prepareBytes(files: files, outputDirectory: out, validationFraction: f)
        }
        let missing = tmp.appendingPathComponent("missing.txt")
        assertThrows(DatasetPreparationError.noInputFiles, try prepare([]))
        assertThrows(DatasetPreparationError.inputNotFound(path: missing.path), try prepare([text, missing]))
        assertThrows(DatasetPreparationError.inputIsDirectory(path: tmp.path), try prepare([tmp]))
        assertThrows(DatasetPreparationError.emptyInput(paths: [empty.path]), try prepare([empty]))
        assertThrows(DatasetPreparationError.emptyInput(paths: [empty.path, empty.path]), try prepare([empty, empty]))
        for f in [0, 1, -0.1, 1.5, .infinity] {
            assertThrows(DatasetPreparationError.validationFractionOutOfRange(f), try prepare([text], f))
        }
        XCTAssertThrowsError(try prepare([text], .nan)) { error in
            guard case let .validationFractionOutOfRange(f)? = error as? DatasetPreparationError, f.isNaN else {
                return XCTFail("NaN fraction: threw \(error)")
            }
        }
        // 20 tokens: f = 0.01 leaves val.bin 1 token; 3 tokens at f = 0.5 leave train.bin 1.
        assertThrows(DatasetPreparationError.splitTooSmall(tokens: 20, train: 19, validation: 1, fraction: 0.01), try prepare([text], 0.01))
        let three = try write([1, 2, 3], "three.bin", in: tmp)
        assertThrows(DatasetPreparationError.splitTooSmall(tokens: 3, train: 1, validation: 2, fraction: 0.5), try prepare([three], 0.5))
        assertThrows(DatasetPreparationError.outputIsFile(path: text.path), try prepare([text], out: text))

        XCTAssertEqual(contents(of: tmp), ["empty.txt", "text.txt", "three.bin"], "a failed prepare must not create anything")
        XCTAssertEqual(try Data(contentsOf: text), Data("twenty bytes of text".utf8))
        XCTAssertEqual(DatasetPreparationError.splitTooSmall(tokens: 20, train: 19, validation: 1, fraction: 0.01).description,
                       "splitting 20 tokens with validation fraction 0.01 leaves val.bin 1 token(s); each split needs at least 2 (an input and its target): give more text or change --val-fraction")
    }

    struct InjectedFailure: Error {}

    func testAFailedWriteRemovesStagingAndCreatedDirectories() throws {
        let tmp = try temporaryDirectory()
        // A new directory two levels down: the failure must remove both levels and the staging.
        let out = tmp.appendingPathComponent("a/b/out")
        XCTAssertThrowsError(try DatasetPreparation.writeAtomically(["train.bin"], into: out) { staging in
            try Data([1, 0, 2]).write(to: staging.appendingPathComponent("train.bin"))
            throw InjectedFailure()
        }) { error in
            guard case .writeFailed(let path, _)? = error as? DatasetPreparationError else { return XCTFail("threw \(error)") }
            XCTAssertEqual(path, out.path)
        }
        XCTAssertEqual(contents(of: tmp), [])

        // An existing directory: its old train.bin stays as it was.
        let existing = tmp.appendingPathComponent("existing")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: false)
        try writeTokens([7, 8, 9], "train.bin", in: existing)
        XCTAssertThrowsError(try DatasetPreparation.writeAtomically(["train.bin"], into: existing) { staging in
            try Data([1, 0]).write(to: staging.appendingPathComponent("train.bin"))
            throw InjectedFailure()
        })
        XCTAssertEqual(contents(of: tmp), ["existing"])
        XCTAssertEqual(try readTokens(existing.appendingPathComponent("train.bin")), [7, 8, 9])
    }

    func testPrepareCommandFailsWithOneLine() throws {
        let binary = try ngptBinary()
        let tmp = try temporaryDirectory()
        let missing = tmp.appendingPathComponent("missing.txt").path
        let out = tmp.appendingPathComponent("out").path
        let failed = try runProcess(binary, ["prepare", missing, "--out", out])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertEqual(failed.stderr, "Error: \(DatasetPreparationError.inputNotFound(path: missing))\n")
        XCTAssertEqual(contents(of: tmp), [])

        let text = try write(Array("a line of text for the command".utf8), "t.txt", in: tmp)
        let ok = try runProcess(binary, ["prepare", text.path, "--out", out, "--val-fraction", "0.2"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try TokenDataset(directory: URL(fileURLWithPath: out)).validation.count, 30 - 24)
        XCTAssertTrue(ok.stdout.contains("note: the text (30 bytes) is too short for an interleaved split with blocks of 65536 bytes, which needs 196609; val.bin is the last 0.2 of the text instead (the tail split)"), ok.stdout)

        // Asked for by name (or by its block), a split that cannot be cut is an error.
        for arguments in [["--split", "interleaved"], ["--val-block", "10"]] {
            let refused = try runProcess(binary, ["prepare", text.path, "--out", tmp.appendingPathComponent("x").path] + arguments)
            XCTAssertEqual(refused.status, 1)
            XCTAssertTrue(refused.stderr.hasPrefix("Error: the text has 30 bytes; an interleaved split with blocks of"), refused.stderr)
        }
        let both = try runProcess(binary, ["prepare", text.path, "--out", tmp.appendingPathComponent("x").path, "--split", "tail", "--val-block", "10"])
        XCTAssertEqual(both.stderr, "Error: --val-block applies to --split interleaved only; drop it or use --split interleaved\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("x").path))
        // 15 blocks of 2 bytes: 2, 6 and 10 are validation text, 14 is the last.
        let blocks = try runProcess(binary, ["prepare", text.path, "--out", out, "--val-block", "2", "--val-fraction", "0.25"])
        XCTAssertEqual(blocks.status, 0, blocks.stderr)
        XCTAssertTrue(blocks.stdout.contains("val.bin: 6 tokens (3 block(s) of 2 bytes, 1 in every 4 from block 2)"), blocks.stdout)
        XCTAssertFalse(blocks.stdout.contains("note: the text"), blocks.stdout)
    }

    // MARK: token files

    func testTokenFileReadsNanoGPTLayout() throws {
        let ids = [0, 1, 255, 256, 258, 50256, 65535, 7]
        let dir = try temporaryDirectory()
        let url = try writeTokens(ids, "train.bin", in: dir)
        let file = try TokenFile(url: url)
        XCTAssertEqual(file.count, ids.count)
        XCTAssertEqual(file.largestToken, 65535)
        XCTAssertEqual(file.tokens(0..<ids.count), ids)
        XCTAssertEqual(file.tokens(3..<6), [256, 258, 50256])
        XCTAssertEqual(file[4], 258)
        XCTAssertTrue(file.firstToken(atLeast: 256)! == (3, 256))
        XCTAssertNil(file.firstToken(atLeast: 65536))
    }

    #if os(Linux)
    func testTokenFileIsMemoryMapped() throws {
        let dir = try temporaryDirectory()
        let url = try writeTokens(Array(repeating: 3, count: 100_000), "train.bin", in: dir)
        let file = try TokenFile(url: url)
        // Read to the end: String(contentsOfFile:) stops after the first 4 KiB of a /proc file.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps"))
        defer { try? handle.close() }
        let maps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        XCTAssertTrue(maps.contains(url.path), "\(url.path) is not in /proc/self/maps: it was read, not mapped")
        XCTAssertEqual(file.count, 100_000)
    }
    #endif

    func testDatasetOpensAPreparedDirectory() throws {
        let tmp = try temporaryDirectory()
        let text = Array(String(repeating: "abcdefghij", count: 10).utf8)
        let out = tmp.appendingPathComponent("out")
        let info = try DatasetPreparation.prepareBytes(files: [try write(text, "t.txt", in: tmp)], outputDirectory: out)
        let data = try TokenDataset(directory: out)
        XCTAssertEqual(data.vocabularySize, 256)
        XCTAssertEqual(data.vocabularySource, .metadata)
        XCTAssertEqual(data.metadata, info)
        XCTAssertEqual(data.train.count, 90)
        XCTAssertEqual(data[.val].count, 10)
        XCTAssertEqual(data.train.tokens(0..<90) + data.validation.tokens(0..<10), text.map(Int.init))
        XCTAssertEqual(try TokenDataset(directory: out, vocabularySize: 256).vocabularySize, 256)
        assertThrows(TokenDataError.vocabularyConflict(metadata: 256, requested: 50304),
                     try TokenDataset(directory: out, vocabularySize: 50304))
    }

    func testVocabularyWithoutMetadata() throws {
        // Bytes only: 256.
        let bytes = try TokenDataset(directory: try nanoGPTDirectory(train: [0, 255, 3], val: [10, 20]))
        XCTAssertEqual(bytes.vocabularySize, 256)
        XCTAssertEqual(bytes.vocabularySource, .inferred)
        XCTAssertNil(bytes.metadata)
        // One id of 256 in val.bin: GPT-2's padded 50304.
        XCTAssertEqual(try TokenDataset(directory: try nanoGPTDirectory(train: [0, 255, 3], val: [256, 20])).vocabularySize, 50304)
        XCTAssertEqual(try TokenDataset(directory: try nanoGPTDirectory(train: [50303, 1], val: [2, 3])).vocabularySize, 50304)
        // Beyond GPT-2: no guess; the first offending id is reported.
        let big = try nanoGPTDirectory(train: [1, 2, 3], val: [4, 50304, 60000])
        assertThrows(TokenDataError.vocabularyNotInferable(path: big.appendingPathComponent("val.bin").path, offset: 1, token: 50304),
                     try TokenDataset(directory: big))
        // An explicit size wins over inference, and is checked.
        let explicit = try TokenDataset(directory: big, vocabularySize: 60001)
        XCTAssertEqual(explicit.vocabularySize, 60001)
        XCTAssertEqual(explicit.vocabularySource, .explicit)
        assertThrows(TokenDataError.tokenOutOfRange(path: big.appendingPathComponent("val.bin").path, offset: 2, token: 60000, vocabularySize: 60000),
                     try TokenDataset(directory: big, vocabularySize: 60000))
        assertThrows(TokenDataError.invalidVocabularySize(1), try TokenDataset(directory: big, vocabularySize: 1))
    }

    func testTokenOutsideTheVocabularyIsReportedWithItsOffset() throws {
        let tmp = try temporaryDirectory()
        let out = tmp.appendingPathComponent("out")
        try DatasetPreparation.prepareBytes(files: [try write(Array(repeating: 65, count: 40), "t.txt", in: tmp)], outputDirectory: out)
        // Same length as the prepared val.bin (4 tokens), so meta.json's counts still agree.
        let val = try writeTokens([65, 65, 65, 300], "val.bin", in: out)
        let expected = TokenDataError.tokenOutOfRange(path: val.path, offset: 3, token: 300, vocabularySize: 256)
        assertThrows(expected, try TokenDataset(directory: out))
        XCTAssertEqual(expected.description, "\(val.path): token id 300 at token offset 3 (byte 6) is outside the vocabulary 0..<256: prepare the data with the tokenizer this vocabulary belongs to, or use a vocabulary size of at least 301")
        assertThrows(expected, try TokenFile(url: val, vocabularySize: 256))
    }

    func testDataDirectoryErrors() throws {
        let tmp = try temporaryDirectory()
        let missing = tmp.appendingPathComponent("missing")
        assertThrows(TokenDataError.directoryNotFound(path: missing.path), try TokenDataset(directory: missing))
        let file = try write([1, 2], "file", in: tmp)
        assertThrows(TokenDataError.notADirectory(path: file.path), try TokenDataset(directory: file))
        let dir = tmp.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        assertThrows(TokenDataError.directoryEmpty(path: dir.path), try TokenDataset(directory: dir))

        try writeTokens([1, 2, 3], "val.bin", in: dir)
        assertThrows(TokenDataError.missingTokenFile(path: dir.appendingPathComponent("train.bin").path), try TokenDataset(directory: dir))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("val.bin"))
        try writeTokens([1, 2, 3], "train.bin", in: dir)
        assertThrows(TokenDataError.missingTokenFile(path: dir.appendingPathComponent("val.bin").path), try TokenDataset(directory: dir))

        let odd = try write([1, 0, 2, 0, 3], "val.bin", in: dir)
        assertThrows(TokenDataError.oddByteCount(path: odd.path, bytes: 5), try TokenDataset(directory: dir))
        try write([], "val.bin", in: dir)
        assertThrows(TokenDataError.emptyTokenFile(path: odd.path), try TokenDataset(directory: dir))
        try writeTokens([4, 5], "val.bin", in: dir)
        XCTAssertEqual(try TokenDataset(directory: dir).validation.count, 2)

        let meta = dir.appendingPathComponent("meta.json")
        try write(Array("not json".utf8), "meta.json", in: dir)
        assertThrows(TokenDataError.invalidMetadata(path: meta.path, reason: "it is not a JSON object with vocab_size"), try TokenDataset(directory: dir))
        try write(Array(#"{"tokenizer": "bytes"}"#.utf8), "meta.json", in: dir)
        assertThrows(TokenDataError.invalidMetadata(path: meta.path, reason: "it has no vocab_size"), try TokenDataset(directory: dir))
        try write(Array("[1,2]".utf8), "meta.json", in: dir)
        assertThrows(TokenDataError.invalidMetadata(path: meta.path, reason: "it is not a JSON object with vocab_size"), try TokenDataset(directory: dir))
        try write(Array(#"{"vocab_size": "x"}"#.utf8), "meta.json", in: dir)
        assertThrows(TokenDataError.invalidMetadata(path: meta.path, reason: "vocab_size is not an integer"), try TokenDataset(directory: dir))
        try write(Array(#"{"vocab_size": 256, "train_tokens": 4}"#.utf8), "meta.json", in: dir)
        assertThrows(TokenDataError.metadataMismatch(path: meta.path, file: "train.bin", recorded: 4, actual: 3), try TokenDataset(directory: dir))
        // nanoGPT's key alone is enough.
        try write(Array(#"{"vocab_size": 65}"#.utf8), "meta.json", in: dir)
        let data = try TokenDataset(directory: dir)
        XCTAssertEqual(data.vocabularySize, 65)
        XCTAssertNil(data.metadata)
    }

    func testTooShortForTheContext() throws {
        let dir = try nanoGPTDirectory(train: Array(0..<300), val: Array(0..<37))
        let data = try TokenDataset(directory: dir)
        let val = dir.appendingPathComponent("val.bin").path
        let expected = TokenDataError.tooShort(path: val, tokens: 37, context: 256)
        assertThrows(expected, try RandomWindowSampler(file: data.validation, batchSize: 2, context: 256, seed: 0))
        assertThrows(expected, try SequentialWindowSampler(file: data.validation, batchSize: 2, context: 256))
        assertThrows(expected, try ValidationSet(file: data.validation, batchSize: 2, context: 256, batches: 1, seed: 0))
        XCTAssertEqual(expected.description, "\(val) has 37 tokens; a window of context 256 needs at least 257: use a shorter --context or more data")
        // The boundary: 37 tokens hold one window of context 36 but none of 37.
        XCTAssertNoThrow(try RandomWindowSampler(file: data.validation, batchSize: 2, context: 36, seed: 0))
        assertThrows(TokenDataError.tooShort(path: val, tokens: 37, context: 37),
                     try RandomWindowSampler(file: data.validation, batchSize: 2, context: 37, seed: 0))
        assertThrows(BatchSamplerError.invalidShape(batchSize: 0, context: 8),
                     try RandomWindowSampler(file: data.train, batchSize: 0, context: 8, seed: 0))
        assertThrows(BatchSamplerError.invalidShape(batchSize: 2, context: 0),
                     try SequentialWindowSampler(file: data.train, batchSize: 2, context: 0))
    }

    // MARK: samplers

    /// A file whose token at offset i is i, so every window shows where it starts.
    func countingFile(_ n: Int) throws -> TokenFile {
        try TokenFile(url: try writeTokens(Array(0..<n), "train.bin", in: try temporaryDirectory()))
    }

    /// Checks that each row is the window at its offset and the targets are the inputs shifted by one.
    func assertWindows(_ batch: Batch, file: StaticString = #filePath, line: UInt = #line) {
        let t = batch.context
        XCTAssertEqual(batch.inputs.count, batch.batchSize * t, file: file, line: line)
        XCTAssertEqual(batch.targets.count, batch.batchSize * t, file: file, line: line)
        for (r, s) in batch.offsets.enumerated() {
            XCTAssertEqual(Array(batch.inputs[r * t..<(r + 1) * t]), Array(s..<s + t), "row \(r) inputs", file: file, line: line)
            XCTAssertEqual(Array(batch.targets[r * t..<(r + 1) * t]), Array(s + 1..<s + t + 1), "row \(r) targets", file: file, line: line)
        }
    }

    func testSequentialOffsetsFollowTheFormula() throws {
        let (n, b, t) = (100, 3, 7)
        let file = try countingFile(n)
        var sampler = try SequentialWindowSampler(file: file, batchSize: b, context: t)
        var batches = [Batch]()
        for i in 0..<12 {
            let batch = sampler.next()
            XCTAssertEqual(batch.offsets, (0..<b).map { r in ((i * b + r) * t) % (n - t - 1) }, "batch \(i)")
            assertWindows(batch)
            batches.append(batch)
        }
        // By hand: batch 4 rows 0...2 start at 84, 91 and 98 mod 92 = 6.
        XCTAssertEqual(batches[4].offsets, [84, 91, 6])
        XCTAssertEqual(batches[0].offsets, [0, 7, 14])
        XCTAssertEqual(sampler.batchIndex, 12)

        // Resume from batch 5.
        var first = try SequentialWindowSampler(file: file, batchSize: b, context: t)
        for _ in 0..<5 { _ = first.next() }
        let saved = try JSONDecoder().decode(SamplerState.self, from: JSONEncoder().encode(first.state))
        var resumed = try SequentialWindowSampler(file: file, batchSize: b, context: t)
        try resumed.restore(saved)
        XCTAssertEqual((5..<12).map { _ in resumed.next() }, Array(batches[5..<12]))

        // N = T + 1: the only window starts at 0.
        var tight = try SequentialWindowSampler(file: try countingFile(8), batchSize: 4, context: 7)
        XCTAssertEqual(tight.next().offsets, [0, 0, 0, 0])
        XCTAssertEqual(tight.next().offsets, [0, 0, 0, 0])
    }

    func testRandomSamplerIsSeededUniformAndInRange() throws {
        let (n, b, t) = (12, 5, 4)
        let file = try countingFile(n)
        var a = try RandomWindowSampler(file: file, batchSize: b, context: t, seed: 7)
        var c = try RandomWindowSampler(file: file, batchSize: b, context: t, seed: 7)
        var other = try RandomWindowSampler(file: file, batchSize: b, context: t, seed: 8)
        var seen = Set<Int>()
        var differs = false
        for i in 0..<60 {
            let x = a.next(), y = c.next(), z = other.next()
            XCTAssertEqual(x, y, "seed 7, batch \(i): the same seed must give the same batch")
            differs = differs || x.offsets != z.offsets
            assertWindows(x)
            seen.formUnion(x.offsets)
        }
        XCTAssertTrue(differs, "seeds 7 and 8 gave the same 60 batches")
        XCTAssertEqual(seen, Set(0...(n - t - 1)), "seed 7: 300 draws must cover every start 0...N−T−1 and nothing else")
    }

    func testRandomSamplerResumesBitIdentically() throws {
        let file = try countingFile(1000)
        var straight = try RandomWindowSampler(file: file, batchSize: 4, context: 16, seed: 42)
        let reference = (0..<10).map { _ in straight.next() }

        var first = try RandomWindowSampler(file: file, batchSize: 4, context: 16, seed: 42)
        XCTAssertEqual((0..<4).map { _ in first.next() }, Array(reference[0..<4]))
        let saved = try JSONDecoder().decode(SamplerState.self, from: JSONEncoder().encode(first.state))
        XCTAssertEqual(saved.batchIndex, 4)
        // The restored state, not the seed, decides what comes next.
        var resumed = try RandomWindowSampler(file: file, batchSize: 4, context: 16, seed: 999)
        try resumed.restore(saved)
        XCTAssertEqual((4..<10).map { _ in resumed.next() }, Array(reference[4..<10]), "seed 42: resumed batches 4..<10 differ")
        XCTAssertEqual(resumed.batchIndex, 10)
        XCTAssertEqual(resumed.state, straight.state)

        // A state from another sampler is refused.
        var wrongShape = try RandomWindowSampler(file: file, batchSize: 3, context: 16, seed: 42)
        XCTAssertThrowsError(try wrongShape.restore(saved)) { XCTAssertEqual($0 as? BatchSamplerError, .stateMismatch(saved: saved, current: wrongShape.state)) }
        var sequential = try SequentialWindowSampler(file: file, batchSize: 4, context: 16)
        XCTAssertThrowsError(try sequential.restore(saved)) { XCTAssertTrue($0 is BatchSamplerError) }
        var otherData = try RandomWindowSampler(file: try countingFile(999), batchSize: 4, context: 16, seed: 42)
        XCTAssertThrowsError(try otherData.restore(saved)) { XCTAssertTrue($0 is BatchSamplerError) }
    }

    func testSamplingModeMakesTheMatchingSampler() throws {
        let file = try countingFile(200)
        var random = try SamplingMode.random.makeSampler(file: file, batchSize: 2, context: 8, seed: 3)
        var direct = try RandomWindowSampler(file: file, batchSize: 2, context: 8, seed: 3)
        XCTAssertEqual(random.next(), direct.next())
        XCTAssertEqual(random.state.mode, .random)
        var sequential = try SamplingMode.sequential.makeSampler(file: file, batchSize: 2, context: 8, seed: 3)
        XCTAssertEqual(sequential.next().offsets, [0, 8])
        XCTAssertEqual(sequential.state.mode, .sequential)
    }

    // MARK: validation set

    func testValidationSetIsTheSameForTheSameArguments() throws {
        let file = try countingFile(500)
        let one = try ValidationSet(file: file, batchSize: 4, context: 16, batches: 5, seed: 11)
        let two = try ValidationSet(file: file, batchSize: 4, context: 16, batches: 5, seed: 11)
        XCTAssertEqual(one.count, 5)
        XCTAssertEqual(one.tokenCount, 5 * 4 * 16)
        XCTAssertEqual(one.offsets, two.offsets)
        XCTAssertEqual(Array(one), Array(two), "seed 11: two constructions gave different batches")
        for batch in one { assertWindows(batch) }
        XCTAssertNotEqual(one.offsets, try ValidationSet(file: file, batchSize: 4, context: 16, batches: 5, seed: 12).offsets)
        // The windows are those of a random sampler with the same seed.
        var sampler = try RandomWindowSampler(file: file, batchSize: 4, context: 16, seed: 11)
        XCTAssertEqual(Array(one), (0..<5).map { _ in sampler.next() })

        // Longer contexts for length extrapolation: 2T and 4T, each within the file.
        for context in [32, 64] {
            let long = try ValidationSet(file: file, batchSize: 4, context: context, batches: 5, seed: 11)
            XCTAssertEqual(long.offsets, try ValidationSet(file: file, batchSize: 4, context: context, batches: 5, seed: 11).offsets)
            for batch in long {
                XCTAssertEqual(batch.inputs.count, 4 * context)
                XCTAssertTrue(batch.offsets.allSatisfy { $0 >= 0 && $0 + context < 500 })
                assertWindows(batch)
            }
        }
        assertThrows(BatchSamplerError.invalidBatchCount(0), try ValidationSet(file: file, batchSize: 4, context: 16, batches: 0, seed: 11))
    }
}
