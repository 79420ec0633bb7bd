import Foundation
import XCTest
@testable import NGPTModels
@testable import NGPTNumerics
@testable import NGPTStudy

/// Subword data: `prepareSubwords` (the split on characters, the text given back by decoding,
/// `meta.json`, a given tokenizer copied, uint32 ids), the data directory's checks of its
/// tokenizer, a run that keeps its tokenizer and records bits per byte, and the comparison's
/// losses in bits per byte.
final class SubwordDataTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try makeTemporaryDirectory("subwords") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Seeded text of words with 2-, 3- and 4-byte characters, so that split boundaries fall
    /// inside characters.
    func mixedText(bytes: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        let words = ["the", "light", "café", "中文", "😀", "it's", "12", "naïve", "\n", "  ", "unto"]
        var text = [UInt8]()
        while text.count < bytes { text += Array((words[Int(g.next() % UInt64(words.count))] + " ").utf8) }
        return text
    }

    func readIDs(_ url: URL, width: Int) throws -> [Int] {
        let bytes = [UInt8](try Data(contentsOf: url))
        return stride(from: 0, to: bytes.count, by: width).map { i in (0..<width).reduce(0) { $0 | Int(bytes[i + $1]) << (8 * $1) } }
    }

    func testPreparedTextDecodesBackAndSplitsOnCharacters() throws {
        let text = mixedText(bytes: 6_000, seed: 3)
        let source = dir.appendingPathComponent("text.txt")
        try Data(text).write(to: source)
        let out = dir.appendingPathComponent("data")
        let result = try DatasetPreparation.prepareSubwords(files: [source], outputDirectory: out, tokenizer: .train(vocabularySize: 300),
                                                            validationFraction: 0.25, split: .interleaved, validationBlock: 97)
        let info = result.info
        XCTAssertEqual(info.tokenizer, "byte-level-bpe")
        XCTAssertEqual(info.dtype, "uint16")
        XCTAssertEqual(info.vocabularySize, 300)
        let ranges = try XCTUnwrap(info.validationRanges).map { $0[0]..<$0[1] }
        XCTAssertGreaterThan(ranges.count, 10)
        for r in ranges {
            XCTAssertNotEqual(text[r.lowerBound] & 0xC0, 0x80, "validation range \(r) starts inside a character")
            if r.upperBound < text.count { XCTAssertNotEqual(text[r.upperBound] & 0xC0, 0x80, "validation range \(r) ends inside a character") }
        }
        var trainRanges = [Range<Int>](), start = 0
        for r in ranges {
            if r.lowerBound > start { trainRanges.append(start..<r.lowerBound) }
            start = r.upperBound
        }
        if start < text.count { trainRanges.append(start..<text.count) }
        XCTAssertEqual(info.validationBytes, ranges.reduce(0) { $0 + $1.count })
        XCTAssertEqual(info.trainBytes, text.count - info.validationBytes!)

        let tokenizer = try ByteLevelBPE(contentsOf: out.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(tokenizer, result.tokenizer)
        let train = try readIDs(out.appendingPathComponent("train.bin"), width: 2)
        let val = try readIDs(out.appendingPathComponent("val.bin"), width: 2)
        XCTAssertEqual(val, ranges.flatMap { tokenizer.encode(Array(text[$0])) }, "each validation range encoded on its own")
        XCTAssertEqual(train, trainRanges.flatMap { tokenizer.encode(Array(text[$0])) })
        XCTAssertEqual(tokenizer.decode(val), ranges.flatMap { text[$0] })
        XCTAssertEqual(tokenizer.decode(train), trainRanges.flatMap { text[$0] })
        // learnt on the training text only
        XCTAssertEqual(tokenizer, ByteLevelBPE.train(on: text, ranges: trainRanges, vocabularySize: 300))

        let data = try TokenDataset(directory: out)
        XCTAssertEqual(data.vocabularySize, 300)
        XCTAssertEqual(data.tokenizerFile?.lastPathComponent, "tokenizer.json")
        XCTAssertEqual(try XCTUnwrap(data.validationBytesPerToken), Double(info.validationBytes!) / Double(val.count), accuracy: 1e-12)
        XCTAssertEqual(data.metadata, info)
    }

    func testTokenizerFileOfTheDataIsChecked() throws {
        let source = dir.appendingPathComponent("text.txt")
        try Data(mixedText(bytes: 3_000, seed: 4)).write(to: source)
        let out = dir.appendingPathComponent("data")
        try DatasetPreparation.prepareSubwords(files: [source], outputDirectory: out, tokenizer: .train(vocabularySize: 300))
        let file = out.appendingPathComponent("tokenizer.json")
        var json = try Data(contentsOf: file)
        json.append(contentsOf: Array(" ".utf8))
        try json.write(to: file)
        XCTAssertThrowsError(try TokenDataset(directory: out)) { error in
            XCTAssertEqual(error as? TokenDataError, .tokenizerChanged(path: file.path))
            XCTAssertTrue("\(error)".contains("SHA-256"))
        }
        try FileManager.default.removeItem(at: file)
        XCTAssertThrowsError(try TokenDataset(directory: out)) { error in
            XCTAssertEqual(error as? TokenDataError, .tokenizerMissing(path: file.path))
        }
    }

    func testGivenTokenizerIsCopiedAndLargeVocabulariesUseUint32() throws {
        // ids 0–255 bytes, a gap, then "ab" as id 69,999
        var tokens = [[UInt8]?](repeating: nil, count: 70_000)
        for b in 0..<256 { tokens[b] = [UInt8(b)] }
        tokens[69_999] = Array("ab".utf8)
        let bpe = try ByteLevelBPE(tokens: tokens, merges: [.init(left: 0x61, right: 0x62, result: 69_999)])
        let file = dir.appendingPathComponent("wide.json")
        try bpe.write(to: file)
        let source = dir.appendingPathComponent("text.txt")
        try Data(String(repeating: "ab cab. ", count: 200).utf8).write(to: source)
        let out = dir.appendingPathComponent("data")
        let result = try DatasetPreparation.prepareSubwords(files: [source], outputDirectory: out, tokenizer: .file(file), split: .tail)
        XCTAssertEqual(result.info.dtype, "uint32")
        XCTAssertEqual(result.info.vocabularySize, 70_000)
        XCTAssertEqual(result.info.tokenizerSource, file.path)
        XCTAssertNil(result.trainingSeconds)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("tokenizer.json")), try Data(contentsOf: file))
        let val = try readIDs(out.appendingPathComponent("val.bin"), width: 4)
        XCTAssertTrue(val.contains(69_999))
        let data = try TokenDataset(directory: out)
        XCTAssertEqual(data.validation.dtype, .uint32)
        XCTAssertEqual(data.validation.tokens(0..<data.validation.count), val)
        XCTAssertEqual(data.vocabularySize, 70_000)
    }

    func testMetadataDtypeIsChecked() throws {
        let data = dir.appendingPathComponent("nano")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: false)
        for name in ["train.bin", "val.bin"] { try Data([1, 0, 2, 0, 3, 0, 4, 0]).write(to: data.appendingPathComponent(name)) }
        let meta = data.appendingPathComponent("meta.json")
        for (json, reason) in [
            (#"{"vocab_size": 70000, "dtype": "uint16"}"#, "vocab_size 70000 is outside 2...65536, the ids a uint16 token file can hold (a larger vocabulary needs dtype uint32)"),
            (#"{"vocab_size": 70000}"#, "vocab_size 70000 is outside 2...65536, the ids a uint16 token file can hold (a larger vocabulary needs dtype uint32)"),
            (#"{"vocab_size": 300, "dtype": "int8"}"#, "dtype int8 is neither uint16 nor uint32"),
            (#"{"vocab_size": 300, "tokenizer_file": "../x.json"}"#, "tokenizer_file ../x.json is not a file name in the data directory"),
        ] {
            try Data(json.utf8).write(to: meta)
            XCTAssertThrowsError(try TokenDataset(directory: data), json) { error in
                XCTAssertEqual(error as? TokenDataError, .invalidMetadata(path: meta.path, reason: reason))
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        // the same bytes as uint32: two ids
        try Data(#"{"vocab_size": 300000, "dtype": "uint32"}"#.utf8).write(to: meta)
        let wide = try TokenDataset(directory: data)
        XCTAssertEqual(wide.train.tokens(0..<2), [1 | 2 << 16, 3 | 4 << 16])
    }

    func testRefusedTokenizersWriteNothing() throws {
        let source = dir.appendingPathComponent("text.txt")
        try Data(mixedText(bytes: 3_000, seed: 5)).write(to: source)
        let out = dir.appendingPathComponent("data")
        let wordpiece = try XCTUnwrap(Bundle.module.url(forResource: "TokenizerFixtures", withExtension: nil)).appendingPathComponent("wordpiece.json")
        XCTAssertThrowsError(try DatasetPreparation.prepareSubwords(files: [source], outputDirectory: out, tokenizer: .file(wordpiece))) { error in
            guard case .unsupported? = error as? TokenizerFileError else { return XCTFail("threw \(error)") }
        }
        XCTAssertThrowsError(try DatasetPreparation.prepareSubwords(files: [source], outputDirectory: out, tokenizer: .train(vocabularySize: 100))) { error in
            XCTAssertEqual(error as? DatasetPreparationError, .subwordVocabularyOutOfRange(100))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testBitsPerByte() throws {
        XCTAssertEqual(BitsPerByte.of(loss: 2 * log(2.0), bytesPerToken: 2), 1, accuracy: 1e-15)
        let bytes = try makeTextDataset(in: dir, bytes: 5_000)
        XCTAssertEqual(try TokenDataset(directory: bytes).validationBytesPerToken, 1)
        // nanoGPT's directories say nothing about their text
        try FileManager.default.removeItem(at: bytes.appendingPathComponent("meta.json"))
        XCTAssertNil(try TokenDataset(directory: bytes).validationBytesPerToken)
    }

    func testRunKeepsItsTokenizerAndRecordsBitsPerByte() throws {
        let source = dir.appendingPathComponent("text.txt")
        try Data(mixedText(bytes: 20_000, seed: 6)).write(to: source)
        let dataURL = dir.appendingPathComponent("data")
        try DatasetPreparation.prepareSubwords(files: [source], outputDirectory: dataURL, tokenizer: .train(vocabularySize: 300))
        let data = try TokenDataset(directory: dataURL)
        let model = ModelConfig(kind: .ngpt, vocabularySize: data.vocabularySize, width: 16, heads: 2, layers: 1, context: 16)
        var o = TrainingOptions(recipe: model.architecture().recipe, steps: 3, batchSize: 2)
        o.evalEvery = 2
        o.evalBatches = 2
        let runURL = dir.appendingPathComponent("run")
        try Trainer(run: RunConfiguration(model: model, training: o, data: dataURL.path), dataset: data).train(directory: runURL)
        let kept = runURL.appendingPathComponent("tokenizer.json")
        XCTAssertEqual(try Data(contentsOf: kept), try Data(contentsOf: dataURL.appendingPathComponent("tokenizer.json")))
        let checkpoint = runURL.appendingPathComponent("checkpoints/step-000003/model.safetensors")
        for model in [runURL, runURL.appendingPathComponent("model.safetensors"), checkpoint] {
            XCTAssertEqual(RunDirectory.tokenizerFile(forModelAt: model), kept, model.path)
        }
        let bpt = try XCTUnwrap(data.validationBytesPerToken)
        let evals = try MetricsLog.read(runURL.appendingPathComponent("metrics.jsonl")).filter { $0.kind == "eval" }
        XCTAssertEqual(evals.count, 3)
        for e in evals {
            XCTAssertEqual(try XCTUnwrap(e.valBitsPerByte), e.valLoss! / (log(2) * bpt), accuracy: 1e-12)
        }
        let run = TrainedRun.read(runURL, steps: 3, context: 16)
        XCTAssertEqual(run.status, .finished)
        XCTAssertEqual(run.finalValBitsPerByte, evals.last?.valBitsPerByte)
        XCTAssertEqual(run.comparableBitsPerByte, evals.last?.valBitsPerByte)
        // a byte-level run keeps no tokenizer
        let bytes = try makeTextDataset(in: dir, bytes: 5_000)
        let byteRun = dir.appendingPathComponent("byte-run")
        let byteModel = ModelConfig(kind: .gpt, vocabularySize: 256, width: 16, heads: 2, layers: 1, context: 16)
        try Trainer(run: RunConfiguration(model: byteModel, training: o, data: bytes.path), dataset: try TokenDataset(directory: bytes))
            .train(directory: byteRun)
        XCTAssertNil(RunDirectory.tokenizerFile(forModelAt: byteRun))
        let last = try XCTUnwrap(try MetricsLog.read(byteRun.appendingPathComponent("metrics.jsonl")).last { $0.kind == "eval" })
        XCTAssertEqual(try XCTUnwrap(last.valBitsPerByte), last.valLoss! / log(2), accuracy: 1e-12)
    }

    func testComparisonReportsBitsPerByte() {
        var s = ComparisonSettings(data: "/data", model: ModelConfig(kind: .gpt, width: 32, heads: 2, layers: 2, context: 64),
                                   contexts: [64], budgets: [100, 200], seeds: 2, lrGrid: [1e-3])
        s.gptBudgets = []
        let rates = LearningRates(s, byModel: ["gpt": 1e-3, "ngpt": 2e-3])
        func context(bitsPerByte: Bool) -> ComparisonResults.Context {
            var byRun = [PlannedRun: RunResult]()
            for run in ComparisonPlanner.finalRuns(s, rates: rates) {
                let loss = (run.model == "gpt" ? 4.0 : 3.5) - Double(run.steps) / 1000 + Double(run.seed) / 100
                byRun[run] = RunResult(id: run.id, run: run, tokens: run.tokens(s),
                                       outcome: TrainedRun(status: .finished, finalValLoss: loss,
                                                           finalValBitsPerByte: bitsPerByte ? BitsPerByte.of(loss: loss, bytesPerToken: 3) : nil,
                                                           seconds: 1, curve: [], contexts: []))
            }
            return ComparisonResults.context(64, s, rates: rates, byRun: byRun)
        }
        let c = context(bitsPerByte: true)
        let b = c.budgets[0]
        XCTAssertEqual(try XCTUnwrap(b.ngptBitsPerByte?.mean), BitsPerByte.of(loss: b.ngpt!.mean, bytesPerToken: 3), accuracy: 1e-12)
        XCTAssertEqual(b.gptBitsPerByte?.values.count, 2)
        let table = ComparisonReport.speedupTable(s, c)
        let column = try? XCTUnwrap(table.header.firstIndex(of: "nGPT bits/byte [seed range]"))
        XCTAssertEqual(table.rows[0][column ?? 0], ReportFormat.range(b.ngptBitsPerByte))
        XCTAssertTrue(table.rows.allSatisfy { $0.count == table.header.count })
        // runs without bits per byte (written before they were recorded) keep the old table
        let old = ComparisonReport.speedupTable(s, context(bitsPerByte: false))
        XCTAssertFalse(old.header.contains { $0.contains("bits/byte") })
        XCTAssertEqual(old.header.count, table.header.count - 2)
    }
}

/// `ngpt prepare --tokenizer`, `ngpt train` on its output and `ngpt sample` printing text, as
/// processes; and their one-line errors.
final class SubwordCommandTests: CommandTestCase {
    /// 30 kB of seeded words of random letters: enough distinct pairs for a few hundred merges.
    func writeText() throws -> String {
        var g = SeededGenerator(seed: 11)
        var text = ""
        while text.utf8.count < 30_000 {
            text += String((0..<(1 + Int(g.next() % 7))).map { _ in Character(Unicode.Scalar(UInt8(97 + g.next() % 26))) })
            text += g.next() % 10 == 0 ? ".\n" : " "
        }
        let url = dir.appendingPathComponent("words.txt")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func testPrepareTrainAndSampleText() throws {
        let text = try writeText()
        let a = dir.appendingPathComponent("bpe-a"), b = dir.appendingPathComponent("bpe-b")
        for out in [a, b] {
            let r = try runProcess(binary, ["prepare", text, "--out", out.path, "--tokenizer", "bpe", "--vocab-size", "320"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("tokenizer.json: byte-level BPE, 320 ids"), r.stdout)
            XCTAssertTrue(r.stdout.contains("bytes per token"), r.stdout)
        }
        // two processes (each with its own hash seed) learn the same tokenizer and write the same ids
        for name in ["tokenizer.json", "train.bin", "val.bin", "meta.json"] {
            XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(name)), try Data(contentsOf: b.appendingPathComponent(name)), name)
        }
        let run = dir.appendingPathComponent("run")
        let t = try runProcess(binary, ["train", "--data", a.path, "--out", run.path, "--model", "gpt", "--dim", "16", "--layers", "1",
                                        "--heads", "2", "--context", "16", "--batch", "2", "--steps", "3", "--eval-batches", "1"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stderr.contains("bits/byte"), t.stderr)
        let s = try runProcess(binary, ["sample", run.path, "--prompt", "the light", "--tokens", "20", "--temperature", "0"])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stdout.hasPrefix("the light"), s.stdout)
        // the ids decode to text, not a list of numbers
        XCTAssertFalse(s.stdout.split(separator: " ").dropFirst(2).allSatisfy { $0.allSatisfy(\.isNumber) }, s.stdout)
        // a tokenizer larger than the model is refused
        let big = dir.appendingPathComponent("big")
        XCTAssertEqual(try runProcess(binary, ["prepare", text, "--out", big.path, "--tokenizer", "bpe", "--vocab-size", "400"]).status, 0)
        let wrong = try runProcess(binary, ["sample", run.path, "--tokenizer", big.appendingPathComponent("tokenizer.json").path])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("it is not this model's tokenizer"), wrong.stderr)
    }

    func testPrepareErrorsAreOneLine() throws {
        let text = dir.appendingPathComponent("text.txt").path
        let out = dir.appendingPathComponent("out").path
        let fixtures = try XCTUnwrap(Bundle.module.url(forResource: "TokenizerFixtures", withExtension: nil))
        let cut = dir.appendingPathComponent("cut.json")
        let whole = try Data(contentsOf: fixtures.appendingPathComponent("gpt2-style.json"))
        try whole.prefix(whole.count / 3).write(to: cut)
        for (arguments, fragment) in [
            (["--tokenizer", "bpe"], "--tokenizer bpe needs --vocab-size"),
            (["--vocab-size", "300"], "--vocab-size applies to --tokenizer bpe only"),
            (["--tokenizer", "bpe", "--vocab-size", "100"], "vocabulary size 100 is outside 256"),
            (["--tokenizer", dir.appendingPathComponent("missing.json").path], "does not exist"),
            (["--tokenizer", fixtures.appendingPathComponent("wordpiece.json").path], "its model is WordPiece"),
            (["--tokenizer", fixtures.appendingPathComponent("unigram.json").path], "its model is Unigram"),
            (["--tokenizer", fixtures.appendingPathComponent("normalizer.json").path], "its normalizer is NFC"),
            (["--tokenizer", cut.path], "not valid JSON"),
        ] {
            let r = try runProcess(binary, ["prepare", text, "--out", out] + arguments)
            XCTAssertEqual(r.status, 1, "\(arguments): \(r.stdout)")
            XCTAssertTrue(r.stderr.contains(fragment), "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "\(arguments): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(arguments) wrote \(out)")
        }
        // a GPT-2-style file as published encodes the text
        let given = try runProcess(binary, ["prepare", text, "--out", out, "--tokenizer", fixtures.appendingPathComponent("gpt2-style.json").path])
        XCTAssertEqual(given.status, 0, given.stderr)
        XCTAssertTrue(given.stdout.contains("copied from"), given.stdout)
    }
}
