import Foundation
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

// MARK: - Helpers

/// A file from a literal header and data bytes; `headerLength` overrides the length prefix.
private func rawFile(_ header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
    let h = Array(header.utf8)
    return rawFile(headerBytes: h, data: data, headerLength: headerLength)
}

private func rawFile(headerBytes h: [UInt8], data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
    var out = Data()
    withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

/// Little-endian bytes of 16-bit patterns.
private func bytes16(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }

/// Asserts that `body` throws a `SafeTensorsError` for which `matches` is true.
private func assertThrows<T>(_ body: @autoclosure () throws -> T, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line,
                             matches: (SafeTensorsError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected \(what), nothing was thrown", file: file, line: line)
    } catch let error as SafeTensorsError {
        XCTAssertTrue(matches(error), "expected \(what), got: \(error)", file: file, line: line)
        XCTAssertTrue(error.description.contains("HINT"), "no hint in: \(error)", file: file, line: line)
    } catch {
        XCTFail("expected \(what), got non-SafeTensorsError \(error)", file: file, line: line)
    }
}

/// A fresh empty directory under the temporary directory.
private func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("SafeTensorsTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    return url
}

private struct Injected: Error {}

final class SafeTensorsTests: XCTestCase {
    private var fixtures: URL {
        get throws { try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)) }
    }

    private func fixtureFiles() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: fixtures, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "safetensors" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    // MARK: Fixtures

    /// Every fixture file: metadata and shapes agree with each other and with the README's layout.
    func testEveryFixtureIsConsistent() throws {
        let files = try fixtureFiles()
        XCTAssertGreaterThanOrEqual(files.count, 2)
        for url in files {
            let f = try SafeTensorsFile(contentsOf: url)
            let name = url.lastPathComponent
            let model = try XCTUnwrap(f.metadata["model"], name)
            XCTAssertTrue(name.hasPrefix(model + "_"), "\(name): model \(model)")
            let v = try XCTUnwrap(Int(f.metadata["vocab_size"] ?? ""), name)
            let c = try XCTUnwrap(Int(f.metadata["n_embd"] ?? ""), name)
            let b = try XCTUnwrap(Int(f.metadata["batch"] ?? ""), name)
            let t = try XCTUnwrap(Int(f.metadata["block_size"] ?? ""), name)
            XCTAssertEqual(f.names, f.names.sorted(), name)

            XCTAssertEqual(f.entries["transformer.wte.weight"]?.shape, [v, c], name)
            XCTAssertEqual(try f.tensor("transformer.wte.weight").shape, [v, c], name)
            XCTAssertEqual(try f.tensor("logits").shape, [b, t, v], name)
            for tokens in ["input_tokens", "target_tokens"] {
                XCTAssertEqual(f.entries[tokens]?.dtype, .i64, name)
                XCTAssertEqual(f.entries[tokens]?.shape, [b, t], name)
                let ids = try f.integers(tokens)
                XCTAssertEqual(ids.count, b * t, name)
                XCTAssertTrue(ids.allSatisfy { (0..<v).contains($0) }, "\(name): \(tokens) out of range")
            }
            let parameters = f.names.filter {
                !$0.hasPrefix("grad.") && !$0.hasPrefix("step1.") && !["input_tokens", "target_tokens", "logits"].contains($0)
            }
            XCTAssertFalse(parameters.isEmpty, name)
            for p in parameters {
                let w = try f.tensor(p)
                XCTAssertEqual(f.entries[p]?.dtype, .f32, "\(name): \(p)")
                XCTAssertTrue(w.scalars.allSatisfy(\.isFinite), "\(name): \(p)")
                XCTAssertEqual(f.entries["grad." + p]?.shape, w.shape, "\(name): grad.\(p)")
                XCTAssertEqual(f.entries["step1." + p]?.shape, w.shape, "\(name): step1.\(p)")
            }
            XCTAssertEqual(f.names.count, 3 * parameters.count + 3, name)
        }
    }

    /// Known values from `safetensors.numpy.load_file` on the fixture, to catch offset or byte-order slips.
    func testGPTFixtureKnownValues() throws {
        let f = try SafeTensorsFile(contentsOf: fixtures.appendingPathComponent("gpt_v64_d32_l2_h4_t16_b2.safetensors"))
        XCTAssertEqual(f.metadata["model"], "gpt")
        XCTAssertEqual(f.metadata["betas"], "0.9,0.95")
        XCTAssertEqual(f.metadata["loss"], "4.15540812687")
        XCTAssertEqual(f.metadata.count, 17)
        XCTAssertEqual(f.names.count, 60)
        let wte = try f.tensor("transformer.wte.weight")
        XCTAssertEqual(wte.shape, [64, 32])
        XCTAssertEqual(Array(wte.scalars.prefix(3)), [0x1.63bcacp-7, 0x1.8338b0p-6, 0x1.931686p-9])
        XCTAssertEqual(wte.scalars.last, 0x1.6c2c3cp-7)
        XCTAssertEqual(Array(try f.integers("input_tokens").prefix(8)), [47, 19, 38, 53, 12, 52, 24, 57])
        XCTAssertEqual(Array(try f.integers("target_tokens").prefix(4)), [48, 59, 12, 37])
    }

    /// Headers from other writers: whitespace between tokens, escaped names, `null` metadata,
    /// a file read from a slice of a larger buffer.
    func testAcceptsOtherWritersHeaders() throws {
        let header = "{\n  \"__metadata__\": null,\n  \"\\u00e9\\ud83d\\ude42\\/x\" : { \"shape\" : [ 1 ] ,"
            + " \"dtype\" : \"F32\", \"data_offsets\" : [ 0 , 4 ] }\r\n\t}   "
        let bytes = Data([9, 9]) + rawFile(header, data: [0, 0, 0x80, 0x3F])
        let f = try SafeTensorsFile(data: bytes.dropFirst(2))
        XCTAssertEqual(f.metadata, [:])
        XCTAssertEqual(f.names, ["\u{e9}\u{1F642}/x"])
        XCTAssertEqual(try f.tensor("é🙂/x").scalars, [1])
    }

    func testEmptyFileOnDisk() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: url)
        assertThrows(try SafeTensorsFile(contentsOf: url), "fileTooShort") {
            if case .fileTooShort(url.path, 0) = $0 { return true } else { return false }
        }
    }

    // MARK: Writing

    func testRoundTripIsBitIdentical() throws {
        let special: [Float] = [0, -0.0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNormalMagnitude,
                                .greatestFiniteMagnitude, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFFA0_0001), 0.1]
        let tensors: [String: SafeTensorsValue] = [
            "a.weight": .float32(Tensor(shape: [3, 4], scalars: special)),
            "scalar": .float32(Tensor(shape: [], scalars: [42.5])),
            "empty": .float32(Tensor(shape: [0, 3])),
            "odd": .float32(Tensor(shape: [3], scalars: [1, 2, 3])),  // leaves the next tensor 4-byte aligned
            "tokens": .int64(shape: [2, 3], values: [0, 1, -1, Int.max, Int.min, 63]),
            "Zed": .float32(Tensor(shape: [1, 1, 1], scalars: [7])),
        ]
        let metadata = ["model": "gpt", "quote\"back\\slash": "line\nbreak\ttab\u{01}", "unicode": "é ∑ 🙂", "empty": ""]
        let data = try SafeTensorsFile.encode(tensors, metadata: metadata)
        let f = try SafeTensorsFile(data: data)
        XCTAssertEqual(f.metadata, metadata)
        XCTAssertEqual(f.names, ["Zed", "a.weight", "empty", "odd", "scalar", "tokens"])
        for (name, value) in tensors {
            switch value {
            case .float32(let t):
                let back = try f.tensor(name)
                XCTAssertEqual(back.shape, t.shape, name)
                XCTAssertEqual(back.scalars.map(\.bitPattern), t.scalars.map(\.bitPattern), name)
                XCTAssertEqual(f.entries[name]?.dtype, .f32)
            case let .int64(shape, values):
                XCTAssertEqual(f.entries[name]?.shape, shape)
                XCTAssertEqual(f.entries[name]?.dtype, .i64)
                XCTAssertEqual(try f.integers(name), values)
            }
        }
    }

    func testFixtureRewriteRoundTrips() throws {
        let source = try SafeTensorsFile(contentsOf: fixtures.appendingPathComponent("ngpt_v64_d32_l2_h4_t16_b2.safetensors"))
        var values: [String: SafeTensorsValue] = [:]
        for name in source.names {
            let e = source.entries[name]!
            values[name] = e.dtype == .i64 ? .int64(shape: e.shape, values: try source.integers(name)) : .float32(try source.tensor(name))
        }
        let copy = try SafeTensorsFile(data: SafeTensorsFile.encode(values, metadata: source.metadata))
        XCTAssertEqual(copy.metadata, source.metadata)
        XCTAssertEqual(copy.names, source.names)
        for name in source.names {
            XCTAssertEqual(try copy.bytes(name), try source.bytes(name), name)
            XCTAssertEqual(copy.entries[name]?.shape, source.entries[name]?.shape, name)
        }
    }

    func testEncodingIsDeterministicAndExact() throws {
        let a = Tensor(shape: [2], scalars: [1, 2])
        let b = Tensor(shape: [1], scalars: [-1])
        var forward: [String: Tensor] = [:]
        forward["b"] = b
        forward["a"] = a
        // Same contents, different insertion history, so the dictionaries' internal order can differ.
        var backward: [String: Tensor] = [:]
        for k in ["a", "b", "c", "d", "e"] { backward[k] = a }
        for k in ["c", "d", "e"] { backward[k] = nil }
        backward["b"] = b
        let one = try SafeTensorsFile.encode(forward, metadata: ["z": "1", "k": "v"])
        let two = try SafeTensorsFile.encode(backward, metadata: ["k": "v", "z": "1"])
        XCTAssertEqual(one, two)

        let header = #"{"__metadata__":{"k":"v","z":"1"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},"b":{"data_offsets":[8,12],"dtype":"F32","shape":[1]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        XCTAssertEqual(padded.utf8.count % 8, 0)
        XCTAssertNotEqual(padded.utf8.count, header.utf8.count, "test should exercise padding")
        let expected = rawFile(padded, data: [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x80, 0xBF])
        XCTAssertEqual(one, expected)

        // Empty input, as in the reference writer's own test: "{}" plus six spaces.
        XCTAssertEqual(try SafeTensorsFile.encode([String: Tensor]()), rawFile("{}      "))
    }

    func testWriteToFileIsDeterministicAndMatchesEncode() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tensors = ["w": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])]
        let url1 = dir.appendingPathComponent("one.safetensors")
        let url2 = dir.appendingPathComponent("two.safetensors")
        try SafeTensorsFile.write(tensors, metadata: ["m": "x"], to: url1)
        try SafeTensorsFile.write(tensors, metadata: ["m": "x"], to: url2)
        let bytes1 = try Data(contentsOf: url1)
        XCTAssertEqual(bytes1, try Data(contentsOf: url2))
        XCTAssertEqual(bytes1, try SafeTensorsFile.encode(tensors, metadata: ["m": "x"]))
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url1).tensor("w"), tensors["w"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(),
                       ["one.safetensors", "two.safetensors"])
    }

    func testWriteRejectsReservedNameAndInconsistentIntegers() throws {
        assertThrows(try SafeTensorsFile.encode(["__metadata__": Tensor(shape: [1])]), "invalidTensorName") {
            if case .invalidTensorName(name: "__metadata__", _) = $0 { return true } else { return false }
        }
        assertThrows(try SafeTensorsFile.encode(["t": SafeTensorsValue.int64(shape: [2, 2], values: [1, 2, 3])]),
                     "invalidValue") {
            if case .invalidValue(name: "t", _) = $0 { return true } else { return false }
        }
    }

    // MARK: Atomic writes

    func testWriteReplacesExistingFileAndLeavesNoTemporary() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try Data("old".utf8).write(to: url)
        try SafeTensorsFile.write(["x": Tensor(shape: [1], scalars: [3])], to: url)
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url).tensor("x").scalars, [3])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.safetensors"])
    }

    func testWriteIntoMissingDirectoryFails() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("no-such-dir/model.safetensors")
        assertThrows(try SafeTensorsFile.write(["x": Tensor(shape: [1])], to: url), "writeFailed") {
            if case .writeFailed(let file, _, _) = $0 { return file == url.path } else { return false }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    /// A failure halfway through writing leaves the old file as it was and no temporary file.
    func testFailureMidWriteKeepsDestinationAndRemovesTemporary() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        let old = try SafeTensorsFile.encode(["x": Tensor(shape: [1], scalars: [1])])
        try old.write(to: url)
        XCTAssertThrowsError(try SafeTensorsFile.writeAtomically(to: url) { sink in
            try [UInt8](repeating: 7, count: 100).withUnsafeBytes { try sink($0) }
            throw Injected()
        }) { XCTAssertTrue($0 is Injected, "\($0)") }
        XCTAssertEqual(try Data(contentsOf: url), old)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.safetensors"])
    }

    /// A failing rename (the destination is a non-empty directory) also cleans up.
    func testFailedRenameRemovesTemporary() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: url.appendingPathComponent("inside"))
        assertThrows(try SafeTensorsFile.write(["x": Tensor(shape: [1])], to: url), "writeFailed on rename") {
            if case .writeFailed(_, let operation, _) = $0 { return operation.hasPrefix("renaming") } else { return false }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.safetensors"])
        XCTAssertEqual(try Data(contentsOf: url.appendingPathComponent("inside")), Data("keep".utf8))
    }

    // MARK: Decoding other dtypes

    func testBF16Decoding() throws {
        let patterns: [UInt16] = [0x3F80, 0xC000, 0x7F80, 0xFF80, 0x0001, 0x8000, 0x3EAB, 0x7FC1]
        let data = rawFile(#"{"h":{"dtype":"BF16","shape":[2,4],"data_offsets":[0,16]}}"#, data: bytes16(patterns))
        let t = try SafeTensorsFile(data: data).tensor("h")
        XCTAssertEqual(t.shape, [2, 4])
        XCTAssertEqual(t.scalars[0], 1.0)
        XCTAssertEqual(t.scalars[1], -2.0)
        XCTAssertEqual(t.scalars[2], .infinity)
        XCTAssertEqual(t.scalars[3], -.infinity)
        XCTAssertEqual(t.scalars[4], Float(bitPattern: 0x0001_0000))  // a bfloat16 subnormal
        XCTAssertEqual(t.scalars[5].bitPattern, 0x8000_0000)          // -0
        XCTAssertEqual(t.scalars[6], 0x1.56p-2)                        // 0.333984375
        XCTAssertEqual(t.scalars[7].bitPattern, 0x7FC1_0000)          // NaN, payload kept
    }

    func testF16Decoding() throws {
        let patterns: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00,
                                  0x8000, 0x8001, 0x3555, 0x7E00]
        let data = rawFile(#"{"h":{"dtype":"F16","shape":[12],"data_offsets":[0,24]}}"#, data: bytes16(patterns))
        let t = try SafeTensorsFile(data: data).tensor("h")
        let expected: [Float] = [1, -2, 0x1p-24, 1023 * 0x1p-24, 0x1p-14, 65504, .infinity, -.infinity,
                                 -0.0, -0x1p-24, 0x1.554p-2]
        XCTAssertEqual(Array(t.scalars.prefix(11)).map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertEqual(t.scalars[11].bitPattern, 0x7FC0_0000)  // the canonical quiet NaN
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    /// All 65,536 half-precision patterns against the standard library's `Float16` conversion.
    func testF16DecodingMatchesFloat16Exhaustively() {
        for bits in 0...UInt16.max {
            let ours = SafeTensorsFile.floatFromHalf(bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                XCTAssertTrue(ours.isNaN, "0x\(String(bits, radix: 16))")
                XCTAssertEqual(ours.sign, reference.sign, "0x\(String(bits, radix: 16))")
            } else if ours.bitPattern != reference.bitPattern {
                XCTFail("0x\(String(bits, radix: 16)): \(ours) != \(reference)")
                return
            }
        }
    }
    #endif

    func testF64DecodingRoundsToNearest() throws {
        let values: [Double] = [1.0 / 3.0, 1e300, -0.0, 1e-50, 0.1]
        let bytes = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let data = rawFile(#"{"d":{"dtype":"F64","shape":[5],"data_offsets":[0,40]}}"#, data: bytes)
        let t = try SafeTensorsFile(data: data).tensor("d")
        XCTAssertEqual(t.scalars.map(\.bitPattern), [Float(1.0 / 3.0), .infinity, -0.0, 0, 0.1].map(\.bitPattern))
    }

    func testIntegerDTypes() throws {
        let i32: [Int32] = [-5, 7, .max]
        let u8: [UInt8] = [0, 255]
        var data: [UInt8] = i32.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        data += u8
        let file = try SafeTensorsFile(data: rawFile(
            #"{"a":{"dtype":"I32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"U8","shape":[2],"data_offsets":[12,14]}}"#,
            data: data))
        XCTAssertEqual(try file.integers("a"), [-5, 7, Int(Int32.max)])
        XCTAssertEqual(try file.integers("b"), [0, 255])
    }

    // MARK: Malformed files, one case each

    func testFileShorterThanEightBytes() {
        for n in [0, 1, 7] {
            assertThrows(try SafeTensorsFile(data: Data(repeating: 0, count: n)), "fileTooShort") {
                if case .fileTooShort(_, let count) = $0 { return count == n } else { return false }
            }
        }
    }

    func testHeaderLengthOverLimit() {
        assertThrows(try SafeTensorsFile(data: rawFile("{}", headerLength: 100_000_001)), "headerTooLarge") {
            if case .headerTooLarge(_, 100_000_001) = $0 { return true } else { return false }
        }
        assertThrows(try SafeTensorsFile(data: rawFile("{}", headerLength: .max)), "headerTooLarge") {
            if case .headerTooLarge = $0 { return true } else { return false }
        }
    }

    func testHeaderLengthBeyondFile() {
        assertThrows(try SafeTensorsFile(data: rawFile("{}  ", headerLength: 5)), "headerBeyondFile") {
            if case .headerBeyondFile(_, 5, 12) = $0 { return true } else { return false }
        }
    }

    func testHeaderNotUTF8() {
        var h = Array(#"{"a":1}"#.utf8)
        h[2] = 0xFF
        assertThrows(try SafeTensorsFile(data: rawFile(headerBytes: h)), "headerNotUTF8") {
            if case .headerNotUTF8(_, 2) = $0 { return true } else { return false }
        }
    }

    func testHeaderNotJSON() {
        for header in [#"{"a":"#, #"{"a" 1}"#, #"{"a":{}} x"#, #"{"a":[1,]}"#, #"{'a':1}"#, #"{"a":01}"#,
                       #"{"a":"\x"}"#, "{\"a\":\"\u{01}\"}", #"{"a":"\uD800"}"#] {
            assertThrows(try SafeTensorsFile(data: rawFile(header)), "invalidJSON for \(header)") {
                if case .invalidJSON = $0 { return true } else { return false }
            }
        }
    }

    func testHeaderNotAnObject() {
        for header in ["[1, 2]", "\"x\"", " {}"] {
            assertThrows(try SafeTensorsFile(data: rawFile(header)), "headerNotObject for \(header)") {
                if case .headerNotObject = $0 { return true } else { return false }
            }
        }
    }

    func testDuplicateTensorName() {
        let header = #"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(header, data: [0, 0, 0, 0])), "duplicateKey") {
            if case .duplicateKey(_, "a", _) = $0 { return true } else { return false }
        }
    }

    func testDuplicateFieldAndMetadataKey() {
        let field = #"{"a":{"dtype":"F32","dtype":"F32","shape":[],"data_offsets":[0,4]}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(field, data: [0, 0, 0, 0])), "duplicateKey dtype") {
            if case .duplicateKey(_, "dtype", let context) = $0 { return context.contains("'a'") } else { return false }
        }
        let meta = #"{"__metadata__":{"k":"1","k":"2"}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(meta)), "duplicateKey k") {
            if case .duplicateKey(_, "k", "__metadata__") = $0 { return true } else { return false }
        }
    }

    func testEntryMissingField() {
        let cases = [("dtype", #"{"t":{"shape":[1],"data_offsets":[0,4]}}"#),
                     ("shape", #"{"t":{"dtype":"F32","data_offsets":[0,4]}}"#),
                     ("data_offsets", #"{"t":{"dtype":"F32","shape":[1]}}"#)]
        for (field, header) in cases {
            assertThrows(try SafeTensorsFile(data: rawFile(header, data: [0, 0, 0, 0])), "missingField \(field)") {
                if case .missingField(_, "t", let f) = $0 { return f == field } else { return false }
            }
        }
    }

    func testEntryFieldOfWrongType() {
        let cases = [("dtype", #"{"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#),
                     ("shape", #"{"t":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}"#),
                     ("data_offsets", #"{"t":{"dtype":"F32","shape":[1],"data_offsets":{"begin":0}}}"#)]
        for (field, header) in cases {
            assertThrows(try SafeTensorsFile(data: rawFile(header, data: [0, 0, 0, 0])), "wrongFieldType \(field)") {
                if case .wrongFieldType(_, "t", let f, _) = $0 { return f == field } else { return false }
            }
        }
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"t":[1]}"#)), "entryNotObject") {
            if case .entryNotObject(_, "t") = $0 { return true } else { return false }
        }
    }

    func testUnknownDType() {
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#,
                                                       data: [0, 0, 0, 0])), "unknownDType") {
            if case .unknownDType(_, "t", "F33") = $0 { return true } else { return false }
        }
    }

    func testNegativeShape() {
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#)),
                     "invalidShape") {
            if case .invalidShape(_, "t", let reason) = $0 { return reason.contains("negative") } else { return false }
        }
    }

    func testNonIntegerShape() {
        for extent in ["1.0", "1e0", "true", "\"1\""] {
            let header = #"{"t":{"dtype":"F32","shape":["# + extent + #"],"data_offsets":[0,4]}}"#
            assertThrows(try SafeTensorsFile(data: rawFile(header, data: [0, 0, 0, 0])), "invalidShape \(extent)") {
                if case .invalidShape(_, "t", let reason) = $0 { return reason.contains("not an integer") } else { return false }
            }
        }
    }

    func testShapeOverflow() {
        let header = #"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(header, data: [0, 0, 0, 0])), "invalidShape overflow") {
            if case .invalidShape(_, "t", let reason) = $0 { return reason.contains("overflows") } else { return false }
        }
    }

    func testDataOffsetsNotAPair() {
        for offsets in ["[0]", "[0,4,8]", "[]", "[-4,0]", "[0,4.0]"] {
            let header = #"{"t":{"dtype":"F32","shape":[1],"data_offsets":"# + offsets + "}}"
            assertThrows(try SafeTensorsFile(data: rawFile(header, data: [0, 0, 0, 0])), "invalidDataOffsets \(offsets)") {
                if case .invalidDataOffsets(_, "t", _) = $0 { return true } else { return false }
            }
        }
    }

    func testDataOffsetsBeginAfterEnd() {
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#,
                                                       data: [UInt8](repeating: 0, count: 8))), "invalidDataOffsets") {
            if case .invalidDataOffsets(_, "t", let reason) = $0 { return reason.contains("after") } else { return false }
        }
    }

    func testByteSizeMismatch() {
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                                                       data: [0, 0, 0, 0])), "byteSizeMismatch") {
            if case .byteSizeMismatch(_, "t", .f32, [2], 8, 4) = $0 { return true } else { return false }
        }
    }

    func testOffsetsWithGap() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(header, data: [UInt8](repeating: 0, count: 12))), "gap") {
            if case .offsetsNotContiguous(_, "b", 4, 8) = $0 { return true } else { return false }
        }
    }

    func testOffsetsOverlapping() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(header, data: [UInt8](repeating: 0, count: 12))), "overlap") {
            if case .offsetsNotContiguous(_, "b", 8, 4) = $0 { return true } else { return false }
        }
    }

    func testOffsetsNotStartingAtZero() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertThrows(try SafeTensorsFile(data: rawFile(header, data: [UInt8](repeating: 0, count: 8))), "not at 0") {
            if case .offsetsNotContiguous(_, "a", 0, 4) = $0 { return true } else { return false }
        }
    }

    func testTruncatedFile() throws {
        let good = try SafeTensorsFile.encode(["a": Tensor(shape: [2], scalars: [1, 2])])
        XCTAssertNoThrow(try SafeTensorsFile(data: good))
        assertThrows(try SafeTensorsFile(data: good.dropLast()), "dataLengthMismatch (truncated)") {
            if case .dataLengthMismatch(_, 8, 7) = $0 { return true } else { return false }
        }
    }

    func testTrailingBytesAfterLastTensor() throws {
        let good = try SafeTensorsFile.encode(["a": Tensor(shape: [2], scalars: [1, 2])])
        assertThrows(try SafeTensorsFile(data: good + [0]), "dataLengthMismatch (trailing)") {
            if case .dataLengthMismatch(_, 8, 9) = $0 { return true } else { return false }
        }
    }

    func testMetadataNotAStringMap() {
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"__metadata__":{"a":"x","n":1}}"#)), "invalidMetadata value") {
            if case .invalidMetadata(_, "n", _) = $0 { return true } else { return false }
        }
        assertThrows(try SafeTensorsFile(data: rawFile(#"{"__metadata__":["a"]}"#)), "invalidMetadata array") {
            if case .invalidMetadata(_, nil, _) = $0 { return true } else { return false }
        }
    }

    // MARK: Asking for tensors

    func testMissingTensorSuggestsCloseNames() throws {
        let f = try SafeTensorsFile(contentsOf: fixtures.appendingPathComponent("gpt_v64_d32_l2_h4_t16_b2.safetensors"))
        assertThrows(try f.tensor("transformer.wte.weights"), "tensorNotFound") {
            if case .tensorNotFound(let file, "transformer.wte.weights", let suggestions) = $0 {
                return file.hasSuffix("gpt_v64_d32_l2_h4_t16_b2.safetensors") && suggestions.first == "transformer.wte.weight"
            }
            return false
        }
        assertThrows(try f.integers("input_token"), "tensorNotFound") {
            if case .tensorNotFound(_, _, let suggestions) = $0 { return suggestions.prefix(1) == ["input_tokens"] }
            return false
        }
    }

    func testDTypeMismatch() throws {
        let f = try SafeTensorsFile(contentsOf: fixtures.appendingPathComponent("gpt_v64_d32_l2_h4_t16_b2.safetensors"))
        assertThrows(try f.tensor("input_tokens"), "dtypeMismatch for tensor()") {
            if case .dtypeMismatch(_, "input_tokens", .i64, _) = $0 { return true } else { return false }
        }
        assertThrows(try f.integers("transformer.wte.weight"), "dtypeMismatch for integers()") {
            if case .dtypeMismatch(_, "transformer.wte.weight", .f32, _) = $0 { return true } else { return false }
        }
    }

    func testMissingFileFailsToRead() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString).safetensors")
        assertThrows(try SafeTensorsFile(contentsOf: url), "readFailed") {
            if case .readFailed(let file, _) = $0 { return file == url.path } else { return false }
        }
    }
}
