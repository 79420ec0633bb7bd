import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

/// Seeded mutations of every file ngpt reads — model and optimizer safetensors files, a data
/// directory's meta.json, a run's config.json, a comparison's settings.json: byte flips,
/// truncations, header and metadata edits, sizes near Int's limits, non-finite values. Each
/// input is either accepted or refused with a one-line message that is no Foundation or
/// Codable text; a crash (trap, failed allocation) ends the test process. Library functions are
/// called directly, so thousands of cases take seconds. Keys are written sorted, so a seed
/// gives the same inputs in every process (dictionary order is seeded per process).
final class FuzzTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        // Thousands of small files are rewritten: in memory when the system has /dev/shm
        // (rewriting a file on this machine's disk costs about 2 ms).
        let shm = URL(fileURLWithPath: "/dev/shm")
        if FileManager.default.isWritableFile(atPath: shm.path) {
            dir = shm.appendingPathComponent("ngpt-fuzz-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } else {
            dir = try makeTemporaryDirectory("fuzz")
        }
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var rng = SeededGenerator(seed: 2024)
    var refused = 0, accepted = 0

    func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    func pick<T>(_ values: [T]) -> T { values[int(values.count)] }

    /// Values that break size arithmetic or types.
    var extremeValue: Any {
        pick([Int.max, Int.min, Int.max / 2, Int.max / 4 + 1, 1 << 31, 1 << 32, 1 << 53, 1 << 62, -1, 0, 1, 2, 3, 7,
              1_000_000, 1e308, -1e308, 1.5, 1e-320, "x", "", "1e999", true, NSNull(), [Any](), [String: Any](),
              String(repeating: "n", count: 5_000), [Int.max, Int.max], [-1, 2]] as [Any])
    }

    /// Asserts `body` either succeeds or throws a plain one-line error; counts both.
    func expectCleanOutcome(_ what: @autoclosure () -> String, _ body: () throws -> Void) {
        do {
            try body()
            accepted += 1
        } catch {
            refused += 1
            let text = "\(error)"
            if text.contains("\n") || text.count > 4_000 || text.isEmpty {
                XCTFail("\(what()): the message must be one short line, got \(text.count) characters: \(text.prefix(300))")
            }
            assertPlainOneLine(text)
        }
    }

    // MARK: - Mutations

    /// Flips bits, overwrites, deletes, inserts or truncates bytes.
    func mutateBytes(_ data: Data) -> Data {
        var bytes = [UInt8](data)
        for _ in 0..<(1 + int(4)) {
            guard !bytes.isEmpty else { break }
            switch int(5) {
            case 0: bytes[int(bytes.count)] ^= UInt8(1 << int(8))
            case 1: bytes[int(bytes.count)] = pick([0, 0xFF, 0x7F, 0x80, UInt8(ascii: "{"), UInt8(ascii: "\""), UInt8(ascii: "\n")])
            case 2: bytes.removeSubrange(int(bytes.count)..<bytes.count)
            case 3: bytes.remove(at: int(bytes.count))
            default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: int(bytes.count))
            }
        }
        return Data(bytes)
    }

    /// A random edit of a JSON tree: a value replaced by an extreme one, a key removed or added,
    /// nested one level down at random.
    func mutateJSON(_ value: Any, depth: Int = 0) -> Any {
        if var object = value as? [String: Any], !object.isEmpty {
            let key = object.keys.sorted()[int(object.count)]
            switch int(depth < 3 ? 5 : 3) {
            case 0: object[key] = extremeValue
            case 1: object.removeValue(forKey: key)
            case 2: object["unknown_\(int(100))"] = extremeValue
            default: object[key] = mutateJSON(object[key]!, depth: depth + 1)
            }
            return object
        }
        if var array = value as? [Any], !array.isEmpty {
            let i = int(array.count)
            switch int(4) {
            case 0: array[i] = extremeValue
            case 1: array.remove(at: i)
            case 2: array.append(extremeValue)
            default: array[i] = mutateJSON(array[i], depth: depth + 1)
            }
            return array
        }
        return extremeValue
    }

    /// A JSON document mutated as a tree (mostly) or as bytes, or with a non-finite number.
    func mutateJSONText(_ data: Data) -> Data {
        switch int(10) {
        case 0..<6:
            guard let tree = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return mutateBytes(data) }
            var mutated = tree
            for _ in 0..<(1 + int(3)) { mutated = mutateJSON(mutated) }
            return (try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed, .sortedKeys])) ?? data
        case 6:
            // A number replaced by a non-finite or out-of-range literal.
            var text = String(decoding: data, as: UTF8.self)
            if let r = text.range(of: #"-?[0-9]+(\.[0-9]+)?"#, options: .regularExpression) {
                text.replaceSubrange(r, with: pick(["NaN", "Infinity", "-Infinity", "1e999", "99999999999999999999999", "-0"]))
            }
            return Data(text.utf8)
        case 7:
            // A key given twice in its object, the second time with another value.
            var text = String(decoding: data, as: UTF8.self)
            let pairs = text.ranges(of: #/"[A-Za-z_]+"\s*:\s*(-?[0-9][0-9.eE+-]*|true|false|"[^"]*")\s*,/#)
            guard !pairs.isEmpty else { return mutateBytes(data) }
            let r = pairs[int(pairs.count)]
            let pair = String(text[r])
            let key = pair.prefix { $0 != ":" }
            text.replaceSubrange(r, with: pair + " " + key + ": " + pick(["0", "1", "-1", "true", "\"x\"", "1e30"]) + ",")
            return Data(text.utf8)
        default:
            return mutateBytes(data)
        }
    }

    /// `data` (a JSON object) with the value at one of `paths` set to a size near the limits,
    /// half the time; otherwise any mutation of ``mutateJSONText(_:)``.
    func mutateSizes(_ data: Data, paths: [[String]]) -> Data {
        guard int(2) == 0, let tree = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return mutateJSONText(data) }
        let path = pick(paths)
        let big: Any = pick([Int.max, Int.max / 2, 1 << 31, 1 << 32, 1 << 40, 1_000_000_000, -1, 0, 3] as [Any])
        let value: Any = int(3) == 0 ? [big, big] : big
        func set(_ object: [String: Any], _ keys: ArraySlice<String>) -> [String: Any] {
            var o = object
            guard let key = keys.first else { return o }
            o[key] = keys.count == 1 ? value : set(o[key] as? [String: Any] ?? [:], keys.dropFirst())
            return o
        }
        return (try? JSONSerialization.data(withJSONObject: set(tree, path[...]), options: [.sortedKeys])) ?? data
    }

    /// A safetensors file with its header edited: shapes, offsets, dtypes and names near the
    /// limits, metadata values replaced, the length field rewritten.
    func mutateSafeTensors(_ original: Data) -> Data {
        let (parsedHeader, parsedBody) = split(original)
        var header = parsedHeader, body = parsedBody
        let names = header.keys.filter { $0 != "__metadata__" }.sorted()
        for _ in 0..<(1 + int(3)) {
            let name = pick(names)
            switch int(9) {
            case 0:   // a shape extent
                if var entry = header[name] as? [String: Any], var shape = entry["shape"] as? [Any], !shape.isEmpty {
                    shape[int(shape.count)] = pick([Int.max, 1 << 31, 1 << 32, 1 << 62, -1, 0, 1_000_000, Int.max / 4 + 1] as [Any])
                    entry["shape"] = shape
                    header[name] = entry
                }
            case 1:   // data offsets
                if var entry = header[name] as? [String: Any] {
                    entry["data_offsets"] = pick([[0, Int.max], [Int.max - 3, Int.max], [-4, 0], [8, 4], [0], [1 << 62, 1 << 62]] as [Any])
                    header[name] = entry
                }
            case 2:   // dtype
                if var entry = header[name] as? [String: Any] {
                    entry["dtype"] = pick(["F16", "BF16", "F64", "I64", "U8", "BOOL", "F4", "", "f32"])
                    header[name] = entry
                }
            case 3:   // a renamed, removed or very long name
                let entry = header.removeValue(forKey: name)
                if int(3) > 0, let entry { header[pick([name + ".x", "transformer.h.7.query.weight", String(repeating: "w", count: 3_000), "_orig_mod." + name])] = entry }
            case 4:   // the model configuration in the metadata: a size near the limits, or any edit
                if var meta = header["__metadata__"] as? [String: String], let json = meta["config"] {
                    var edited = mutateJSONText(Data(json.utf8))
                    if int(2) == 0, var config = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] {
                        config[pick(["width", "heads", "layers", "context", "vocabularySize"])] =
                            pick([Int.max, 1 << 31, 1 << 32, 1 << 40, 1_000_000, 1_000_000_000, -2, 0, 3, 16, 24])
                        edited = (try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])) ?? edited
                    }
                    meta["config"] = String(decoding: edited, as: UTF8.self)
                    header["__metadata__"] = meta
                }
            case 5:   // other metadata
                if var meta = header["__metadata__"] as? [String: Any] {
                    meta[pick(["step", "format", "model", "sampler", "config"])] = pick(["-1", "9223372036854775808", "", "nan", "gpt", "{}"] as [Any])
                    if int(4) == 0 { meta["step"] = 7 }
                    header["__metadata__"] = meta
                }
            case 6:   // non-finite or huge weights in the data
                let value = pick([Float.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -0.0])
                if body.count >= 4 {
                    let at = 4 * int(body.count / 4)
                    withUnsafeBytes(of: value.bitPattern.littleEndian) { body.replaceSubrange(at..<at + 4, with: $0) }
                }
            case 7:   // truncated data
                body = body.prefix(int(body.count + 1))
            default:  // the whole header as JSON
                header = mutateJSON(header) as? [String: Any] ?? header
            }
        }
        guard let text = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) else { return original }
        var length = UInt64(text.count)
        if int(12) == 0 { length = pick([UInt64.max, UInt64(Int.max), UInt64(Int.max) + 1, 1 << 32, 0, length + 1]) }
        var out = Data()
        withUnsafeBytes(of: length.littleEndian) { out.append(contentsOf: $0) }
        out.append(text)
        out.append(body)
        return int(20) == 0 ? mutateBytes(out) : out
    }

    /// Header (as JSON) and data of a valid safetensors file, parsed once per file.
    var parsed = [Data: ([String: Any], Data)]()
    func split(_ data: Data) -> ([String: Any], Data) {
        if let p = parsed[data] { return p }
        let n = Int(data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let p = (try! JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + n)) as! [String: Any], data.subdata(in: 8 + n..<data.count))
        parsed[data] = p
        return p
    }

    // MARK: - Targets

    func testFuzzModelAndOptimizerFiles() throws {
        let start = Date()
        var models = [(Data, Transformer, AdamW)]()
        for kind in ModelKind.allCases {
            var c = ModelConfig(kind: kind, vocabularySize: 17, width: 8, heads: 2, layers: 2, context: 8)
            if kind == .ngpt { c.sz.mode = .scalar }
            let model = try Transformer(config: c, seed: 3)
            let optimizer = AdamW(layout: model.layout, weightDecay: 0.1)
            let url = dir.appendingPathComponent("\(kind).safetensors")
            try Checkpoint.saveModel(model, step: 5, to: url)
            models.append((try Data(contentsOf: url), model, optimizer))
        }
        let opt = dir.appendingPathComponent("opt.safetensors")
        try Checkpoint.saveOptimizer(models[0].2, state: ["sampler": "{}"], to: opt)
        let optimizerData = try Data(contentsOf: opt)
        let onDisk = dir.appendingPathComponent("case.safetensors")

        let cases = 2_000
        for k in 0..<cases {
            let (original, model, optimizer) = models[k % models.count]
            let data = mutateSafeTensors(original)
            let label = "model case \(k)"
            expectCleanOutcome(label) {
                let file = try SafeTensorsFile(data: data)
                // `ngpt sample`, `ngpt train --init` and `ngpt cond`'s reading of the same file.
                expectCleanOutcome(label + " (sample)") { _ = try Checkpoint.loadModel(file) }
                expectCleanOutcome(label + " (--init)") { _ = try Checkpoint.tensors(file, model.layout) }
                expectCleanOutcome(label + " (cond)") {
                    for name in TensorConditioning.matrixNames(in: file).prefix(2) {
                        _ = try TensorConditioning.compute(file: file, name: name, heads: 2)
                    }
                }
            }
            if k % 20 == 0 {
                // Through the file system: inspection (configuration inferred when the metadata
                // has none) and the optimizer checkpoint of a resumed run.
                try data.write(to: onDisk)
                expectCleanOutcome(label + " (inspect)") { _ = try InspectedCheckpoint.load(onDisk.path, heads: 2) }
                try mutateSafeTensors(optimizerData).write(to: onDisk)
                expectCleanOutcome(label + " (optimizer)") {
                    try Checkpoint.loadOptimizer(into: AdamW(layout: optimizer.firstMoment.layout, weightDecay: 0), from: onDisk)
                }
            }
        }
        report("safetensors", cases, start)
    }

    func testFuzzDataDirectoryMetadata() throws {
        let start = Date()
        let data = try makeTextDataset(in: dir, bytes: 4_000)
        let metaURL = data.appendingPathComponent(DatasetPreparation.metadataFileName)
        let original = try Data(contentsOf: metaURL)
        let cases = 1_000
        for k in 0..<cases {
            try mutateSizes(original, paths: [["vocab_size"], ["train_tokens"], ["val_tokens"]]).write(to: metaURL)
            expectCleanOutcome("meta.json case \(k)") { _ = try TokenDataset(directory: data, vocabularySize: k % 7 == 0 ? 256 : nil) }
        }
        report("meta.json", cases, start)
    }

    func testFuzzRunConfiguration() throws {
        let start = Date()
        let model = ModelConfig(kind: .ngpt, vocabularySize: 256, width: 16, heads: 2, layers: 2, context: 16)
        var options = TrainingOptions(recipe: .ngpt, steps: 100, batchSize: 4)
        options.extrapolation = [2, 4]
        let run = RunConfiguration(model: model, training: options, data: "/data")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let original = try encoder.encode(run)
        let url = dir.appendingPathComponent("config.json")
        let cases = 1_500
        let sizes = [["model", "width"], ["model", "heads"], ["model", "layers"], ["model", "context"], ["model", "vocabularySize"],
                     ["training", "steps"], ["training", "batchSize"], ["training", "gradientAccumulation"],
                     ["training", "extrapolation"], ["training", "warmup"], ["training", "evalBatches"]]
        for k in 0..<cases {
            try mutateSizes(original, paths: sizes).write(to: url)
            expectCleanOutcome("config.json case \(k)") {
                let read = try RunConfiguration.read(from: url)
                // What a run derives from it before allocating anything.
                let o = read.training
                _ = o.schedule.lr(at: o.steps / 2)
                _ = o.steps * o.batchSize * o.gradientAccumulation * read.model.context
                if let count = read.model.checkedParameterCount, count < 1_000_000 { _ = ParameterLayout(config: read.model) }
            }
        }
        report("config.json", cases, start)
    }

    func testFuzzComparisonSettings() throws {
        let start = Date()
        let settings = ComparisonSettings(data: "/data", model: ModelConfig(kind: .gpt, width: 32, heads: 2, layers: 2, context: 64),
                                          contexts: [64, 128], budgets: [100, 200, 400], seeds: 2, lrGrid: [1e-3, 4e-3])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let original = try encoder.encode(settings)
        let url = dir.appendingPathComponent("settings.json")
        let cases = 1_500
        let sizes = [["seeds"], ["budgets"], ["contexts"], ["batchSize"], ["tuneBudget"], ["evalBatches"], ["evalPoints"],
                     ["extrapolation"], ["threadsPerRun"], ["gptBudgets"], ["tuningSeed"], ["model", "width"], ["model", "layers"], ["model", "vocabularySize"]]
        for k in 0..<cases {
            try mutateSizes(original, paths: sizes).write(to: url)
            expectCleanOutcome("settings.json case \(k)") {
                let s = try ComparisonSettings.read(from: url)
                // What `ngpt compare` derives from it: the plan and each run's configuration.
                guard s.contexts.count * s.allGPTBudgets.count * s.seeds <= 10_000 else { return }
                for run in ComparisonPlanner.tuningRuns(s) + ComparisonPlanner.finalRuns(s, rates: LearningRates(s, byModel: ["gpt": 1e-3, "ngpt": 2e-3])) {
                    _ = run.tokens(s)
                    _ = run.configuration(s)
                }
            }
        }
        report("settings.json", cases, start)
    }

    func testFuzzAblationSettings() throws {
        let start = Date()
        let settings = AblationSettings(data: "/data", model: ModelConfig(kind: .ngpt, width: 32, heads: 2, layers: 2, context: 64),
                                        budget: 100, seeds: 2, batchSize: 4, lrGPT: 1e-3, lrNGPT: 1e-2,
                                        trainedValues: ScalerValues(alpha: 0.3, sqk: 1.9, suv: 1.1, sz: 22))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let original = try encoder.encode(settings)
        let url = dir.appendingPathComponent("settings.json")
        let cases = 1_000
        let sizes = [["seeds"], ["budget"], ["batchSize"], ["evalBatches"], ["evalPoints"], ["threadsPerRun"], ["lrGPT"], ["lrNGPT"],
                     ["gridExtensions"], ["tuningSeed"], ["tuningSeeds"], ["trainedValues", "sz"], ["trainedValues", "alpha"],
                     ["model", "width"], ["model", "layers"], ["model", "heads"], ["model", "context"], ["model", "vocabularySize"]]
        for k in 0..<cases {
            try mutateSizes(original, paths: sizes).write(to: url)
            expectCleanOutcome("ablation settings.json case \(k)") {
                let s = try AblationSettings.read(from: url)
                // What `ngpt ablate` derives from it: every run's configuration.
                guard s.seeds * s.variants.count <= 10_000 else { return }
                let study = AblationStudy(settings: s)
                for run in try study.currentRuns(try study.inputs(runsDirectory: url.deletingLastPathComponent())) { _ = run.configuration }
            }
        }
        report("ablation settings.json", cases, start)
    }

    func report(_ what: String, _ cases: Int, _ start: Date) {
        let seconds = (Date().timeIntervalSince(start) * 100).rounded() / 100
        print("fuzz \(what): \(cases) cases (\(refused + accepted) outcomes: \(refused) refused, \(accepted) accepted) in \(seconds) s")
        XCTAssertGreaterThan(refused, cases / 10, "\(what): most mutations must be refused (a fuzzer that changes nothing tests nothing)")
    }
}
