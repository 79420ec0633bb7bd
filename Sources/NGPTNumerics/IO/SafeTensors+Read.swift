import Foundation

/// A parsed, validated safetensors file: its metadata, one ``Entry`` per tensor, and the bytes.
///
/// The initialisers check the whole header against the format's rules and throw a
/// ``SafeTensorsError`` naming the first problem; a value of this type therefore always has
/// entries that tile its data buffer exactly. Tensors are decoded on demand:
///
/// ```swift
/// let file = try SafeTensorsFile(contentsOf: url)
/// let wte = try file.tensor("transformer.wte.weight")   // (V, C) float32
/// let tokens = try file.integers("input_tokens")        // B·T token ids
/// let model = file.metadata["model"]
/// ```
///
/// Files are memory-mapped when the platform allows it, so opening a large checkpoint reads only
/// its header; each tensor's bytes are read when it is decoded.
public struct SafeTensorsFile: Sendable {
    /// The largest header accepted, as in the reference implementation: 100,000,000 bytes.
    public static let maxHeaderLength = 100_000_000

    /// Where a tensor lives in the file.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let dtype: SafeTensorsDType
        /// The extent of each axis, row-major; empty for a scalar.
        public let shape: [Int]
        /// Byte range within the data buffer (which starts after the header), as in the header.
        public let dataOffsets: Range<Int>
        /// Number of elements, the product of `shape`.
        public var count: Int { shape.reduce(1, *) }
    }

    /// The path the file was read from, or `<in-memory data>`; used in error messages.
    public let source: String
    /// The `__metadata__` map; empty when the file has none.
    public let metadata: [String: String]
    /// Every tensor by name.
    public let entries: [String: Entry]
    /// Tensor names in ascending order of their UTF-8 bytes (plain alphabetical order for ASCII).
    public let names: [String]

    /// The whole file, mapped or in memory.
    private let storage: Data
    /// Offset of the data buffer from `storage.startIndex`: `8 + header length`.
    private let dataStart: Int

    /// The same file seen through other names: each entry whose name `rename` maps to a new
    /// name is kept under it (the data is not copied); entries mapped to nil are left out.
    package func renamed(_ rename: (String) -> String?) -> SafeTensorsFile {
        var kept = [String: Entry]()
        for name in names {
            guard let new = rename(name), let e = entries[name] else { continue }
            kept[new] = Entry(name: new, dtype: e.dtype, shape: e.shape, dataOffsets: e.dataOffsets)
        }
        return SafeTensorsFile(source: source, metadata: metadata, entries: kept, storage: storage, dataStart: dataStart)
    }

    private init(source: String, metadata: [String: String], entries: [String: Entry], storage: Data, dataStart: Int) {
        self.source = source
        self.metadata = metadata
        self.entries = entries
        names = entries.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        self.storage = storage
        self.dataStart = dataStart
    }

    /// Reads and validates the file at `url`, memory-mapping it when possible.
    ///
    /// - Throws: ``SafeTensorsError``: `readFailed` if the file cannot be read, otherwise the
    ///   first format violation found (see ``init(data:)``).
    public init(contentsOf url: URL) throws {
        // A FIFO would block and a device such as /dev/null reads as empty: refuse both by name.
        if let why = ErrorText.notARegularFile(url.path) {
            throw SafeTensorsError.readFailed(file: url.path, reason: why)
        }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            // Mapping can fail where reading would not (an empty file, some file systems).
            do { data = try Data(contentsOf: url) } catch let readError {
                throw SafeTensorsError.readFailed(file: url.path, reason: Self.describe(readError))
            }
        }
        try self.init(data: data, source: url.path)
    }

    /// Parses and validates a safetensors file held in `data`.
    ///
    /// Checks, in order: at least 8 bytes; header length ≤ ``maxHeaderLength`` and within the
    /// data; header valid UTF-8, starting with `{`, a JSON object without duplicate keys;
    /// `__metadata__` (if present) an object of strings; each entry an object with a known
    /// `dtype`, a `shape` of non-negative integers and `data_offsets` `[begin, end]` with
    /// `begin ≤ end` and `end − begin = product(shape) · dtype.size`; sorted by `begin`, the
    /// tensors tile the data buffer from 0 with no gap or overlap, and the last ends exactly at
    /// the end of the data. Entries are checked in name order, so the error is deterministic.
    ///
    /// - Throws: ``SafeTensorsError`` naming the first violation.
    public init(data: Data) throws {
        try self.init(data: data, source: "<in-memory data>")
    }

    init(data: Data, source: String) throws {
        self.source = source
        self.storage = data
        let file = source

        // Length prefix.
        guard data.count >= 8 else { throw SafeTensorsError.fileTooShort(file: file, byteCount: data.count) }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(Self.maxHeaderLength) else {
            throw SafeTensorsError.headerTooLarge(file: file, headerLength: headerLength)
        }
        guard headerLength <= UInt64(data.count - 8) else {
            throw SafeTensorsError.headerBeyondFile(file: file, headerLength: headerLength, fileSize: data.count)
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let dataLength = data.count - dataStart

        // Header text.
        let header = data.withUnsafeBytes { [UInt8]($0[8..<8 + n]) }
        if let bad = Self.firstInvalidUTF8Offset(header) {
            throw SafeTensorsError.headerNotUTF8(file: file, offset: bad)
        }
        // The reference reader insists on '{' first, so leading whitespace is an error too.
        guard header.first == UInt8(ascii: "{") else { throw SafeTensorsError.headerNotObject(file: file) }
        let json: HeaderJSON
        do {
            json = try HeaderJSONParser.parse(header)
        } catch HeaderJSONParser.Failure.syntax(let offset, let reason) {
            throw SafeTensorsError.invalidJSON(file: file, offset: offset, reason: reason)
        } catch HeaderJSONParser.Failure.duplicateKey(let key, let path) {
            let context: String
            switch path.count {
            case 0: context = "the header (two tensors with this name, or two __metadata__)"
            case 1: context = path[0] == "__metadata__" ? "__metadata__" : "the entry of tensor '\(path[0])'"
            default: context = "the header at " + path.joined(separator: ".")
            }
            throw SafeTensorsError.duplicateKey(file: file, key: key, context: context)
        }
        guard case .object(var top) = json else { throw SafeTensorsError.headerNotObject(file: file) }

        // Metadata. `null` is what an absent Option serialises to in the reference writer.
        var metadata: [String: String] = [:]
        switch top.removeValue(forKey: "__metadata__") {
        case nil, .null?:
            break
        case .object(let map)?:
            for key in map.keys.sorted() {
                guard case .string(let value) = map[key]! else {
                    throw SafeTensorsError.invalidMetadata(
                        file: file, key: key, reason: "the value is \(map[key]!.kindDescription), not a string")
                }
                metadata[key] = value
            }
        case let other?:
            throw SafeTensorsError.invalidMetadata(
                file: file, key: nil, reason: "it is \(other.kindDescription), not an object of strings")
        }
        self.metadata = metadata

        // Entries, each on its own.
        let names = top.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var entries: [String: Entry] = [:]
        entries.reserveCapacity(names.count)
        for name in names {
            entries[name] = try Self.entry(name: name, json: top[name]!, file: file)
        }

        // Together they must tile the data buffer. Ties in `begin` (empty tensors) sort by end
        // and then name, so an empty tensor sharing its begin with a non-empty one is fine.
        let byOffset = entries.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
                || ($0.dataOffsets == $1.dataOffsets && $0.name.utf8.lexicographicallyPrecedes($1.name.utf8))
        }
        var end = 0
        for e in byOffset {
            guard e.dataOffsets.lowerBound == end else {
                throw SafeTensorsError.offsetsNotContiguous(
                    file: file, tensor: e.name, expectedBegin: end, begin: e.dataOffsets.lowerBound)
            }
            end = e.dataOffsets.upperBound
        }
        guard end == dataLength else {
            throw SafeTensorsError.dataLengthMismatch(file: file, expectedBytes: end, actualBytes: dataLength)
        }
        self.entries = entries
        self.names = names
    }

    /// Validates one header entry on its own (not yet against the other entries).
    private static func entry(name: String, json: HeaderJSON, file: String) throws -> Entry {
        guard case .object(let fields) = json else {
            throw SafeTensorsError.entryNotObject(file: file, tensor: name)
        }
        func field(_ key: String) throws -> HeaderJSON {
            guard let v = fields[key] else { throw SafeTensorsError.missingField(file: file, tensor: name, field: key) }
            return v
        }

        guard case .string(let dtypeName) = try field("dtype") else {
            throw SafeTensorsError.wrongFieldType(file: file, tensor: name, field: "dtype",
                                                  expected: "a string such as \"F32\"")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError.unknownDType(file: file, tensor: name, dtype: dtypeName)
        }

        guard case .array(let extents) = try field("shape") else {
            throw SafeTensorsError.wrongFieldType(file: file, tensor: name, field: "shape",
                                                  expected: "an array of integers such as [64, 32]")
        }
        var shape: [Int] = []
        for (axis, extent) in extents.enumerated() {
            switch extent.nonNegativeInteger {
            case .value(let v): shape.append(v)
            case .negative:
                throw SafeTensorsError.invalidShape(file: file, tensor: name,
                                                    reason: "extent \(extent.kindDescription) on axis \(axis) is negative")
            case .notInteger:
                throw SafeTensorsError.invalidShape(file: file, tensor: name,
                                                    reason: "extent on axis \(axis) is \(extent.kindDescription), not an integer")
            case .tooLarge:
                throw SafeTensorsError.invalidShape(file: file, tensor: name,
                                                    reason: "extent \(extent.kindDescription) on axis \(axis) is too large")
            }
        }

        guard case .array(let offsets) = try field("data_offsets") else {
            throw SafeTensorsError.wrongFieldType(file: file, tensor: name, field: "data_offsets",
                                                  expected: "an array [begin, end]")
        }
        guard offsets.count == 2 else {
            throw SafeTensorsError.invalidDataOffsets(file: file, tensor: name,
                                                      reason: "it has \(offsets.count) elements, not 2")
        }
        var bounds: [Int] = []
        for (label, o) in zip(["begin", "end"], offsets) {
            guard case .value(let v) = o.nonNegativeInteger else {
                throw SafeTensorsError.invalidDataOffsets(
                    file: file, tensor: name, reason: "\(label) is \(o.kindDescription), not a non-negative integer")
            }
            bounds.append(v)
        }
        guard bounds[0] <= bounds[1] else {
            throw SafeTensorsError.invalidDataOffsets(file: file, tensor: name,
                                                      reason: "begin \(bounds[0]) is after end \(bounds[1])")
        }

        var byteCount = dtype.size
        for extent in shape {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw SafeTensorsError.invalidShape(file: file, tensor: name, reason: "the byte count of \(shape) overflows")
            }
            byteCount = product
        }
        guard byteCount == bounds[1] - bounds[0] else {
            throw SafeTensorsError.byteSizeMismatch(file: file, tensor: name, dtype: dtype, shape: shape,
                                                    expectedBytes: byteCount, actualBytes: bounds[1] - bounds[0])
        }
        return Entry(name: name, dtype: dtype, shape: shape, dataOffsets: bounds[0]..<bounds[1])
    }

    // MARK: - Decoding

    /// The tensor `name` as float32, converting exactly where float32 can represent the value.
    ///
    /// - `F32`: bit-for-bit.
    /// - `BF16`: the bits shifted left by 16 — bfloat16 is the upper half of a float32, so this is
    ///   exact, including infinities, NaN payloads and subnormals.
    /// - `F16`: exact (every half is a float32): normals re-biased, subnormals `m · 2⁻²⁴`, ±0, ±inf,
    ///   and NaN with its payload shifted into the top of the float32 mantissa.
    /// - `F64`: rounded to the nearest float32 (ties to even); beyond the float32 range gives ±inf.
    ///
    /// - Throws: ``SafeTensorsError/tensorNotFound(file:name:suggestions:)`` with the closest names,
    ///   or ``SafeTensorsError/dtypeMismatch(file:tensor:dtype:requested:)`` for any other dtype.
    public func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        guard e.dtype.isFloatingPoint else {
            throw SafeTensorsError.dtypeMismatch(file: source, tensor: name, dtype: e.dtype,
                                                 requested: "a float32 Tensor")
        }
        var scalars = [Float](repeating: 0, count: e.count)
        withBytes(of: e) { raw in
            switch e.dtype {
            case .f32:
                #if _endian(little)
                scalars.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
                #else
                for k in scalars.indices {
                    scalars[k] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
                }
                #endif
            case .bf16:
                for k in scalars.indices {
                    let h = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))
                    scalars[k] = Float(bitPattern: UInt32(h) << 16)
                }
            case .f16:
                for k in scalars.indices {
                    let h = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))
                    scalars[k] = Self.floatFromHalf(h)
                }
            case .f64:
                for k in scalars.indices {
                    let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self))
                    scalars[k] = Float(Double(bitPattern: bits))
                }
            default:
                preconditionFailure("dtype \(e.dtype) passed the isFloatingPoint check")
            }
        }
        return Tensor(shape: e.shape, scalars: scalars)
    }

    /// The elements of integer tensor `name` (`I8`…`I64`, `U8`…`U64`) in row-major order; the
    /// shape is `entries[name]!.shape`.
    ///
    /// - Throws: ``SafeTensorsError/tensorNotFound(file:name:suggestions:)``,
    ///   ``SafeTensorsError/dtypeMismatch(file:tensor:dtype:requested:)`` for a non-integer dtype, or
    ///   ``SafeTensorsError/integerOutOfRange(file:tensor:index:)`` for a `U64` above `Int.max`.
    public func integers(_ name: String) throws -> [Int] {
        let e = try entry(name)
        guard e.dtype.isInteger else {
            throw SafeTensorsError.dtypeMismatch(file: source, tensor: name, dtype: e.dtype,
                                                 requested: "integers")
        }
        return try withBytes(of: e) { raw -> [Int] in
            func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
                (0..<e.count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * T.bitWidth / 8, as: T.self)) }
            }
            switch e.dtype {
            case .u8: return load(UInt8.self).map(Int.init)
            case .i8: return load(Int8.self).map(Int.init)
            case .u16: return load(UInt16.self).map(Int.init)
            case .i16: return load(Int16.self).map(Int.init)
            case .u32: return load(UInt32.self).map(Int.init)
            case .i32: return load(Int32.self).map(Int.init)
            case .i64: return load(Int64.self).map(Int.init)
            case .u64:
                return try load(UInt64.self).enumerated().map { k, v in
                    guard let i = Int(exactly: v) else {
                        throw SafeTensorsError.integerOutOfRange(file: source, tensor: name, index: k)
                    }
                    return i
                }
            default:
                preconditionFailure("dtype \(e.dtype) passed the isInteger check")
            }
        }
    }

    /// The raw little-endian bytes of tensor `name`, as stored.
    public func bytes(_ name: String) throws -> Data {
        let e = try entry(name)
        return withBytes(of: e) { Data($0) }
    }

    /// The entry for `name`, or `tensorNotFound` with the closest names.
    private func entry(_ name: String) throws -> Entry {
        guard let e = entries[name] else {
            throw SafeTensorsError.tensorNotFound(file: source, name: name,
                                                 suggestions: Self.closeNames(to: name, in: names))
        }
        return e
    }

    /// Runs `body` over the bytes of entry `e` (validated at init to lie inside the data buffer).
    private func withBytes<R>(of e: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { all in
            let begin = dataStart + e.dataOffsets.lowerBound
            return try body(UnsafeRawBufferPointer(rebasing: all[begin..<begin + e.dataOffsets.count]))
        }
    }

    // MARK: - Helpers

    /// IEEE 754 binary16 bits to float32, exactly.
    static func floatFromHalf(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x03FF)
        switch exponent {
        case 0:
            // ±0 and subnormals: m · 2⁻²⁴, exact in float32.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        case 0x1F:
            // ±inf (m = 0) and NaN, keeping the payload (its top bit is the quiet bit in both formats).
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            // Re-bias the exponent from 15 to 127 and widen the mantissa from 10 to 23 bits.
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// Offset of the first byte that does not belong to a valid UTF-8 sequence, or nil.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        // The standard library validates fast; the offset is looked for only in a bad header.
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// Up to five names within a small edit distance of `name` (or containing it, or contained in
    /// it), closest first.
    package static func closeNames(to name: String, in names: [String]) -> [String] {
        // Edit distances cost length²: names beyond 256 bytes (hostile ones) get no suggestions.
        let longest = 256
        guard name.utf8.count <= longest else { return [] }
        let query = Array(name.utf8)
        let limit = max(2, query.count / 4)
        var scored: [(distance: Int, name: String)] = []
        for candidate in names where candidate.utf8.count <= longest {
            let c = Array(candidate.utf8)
            let d = editDistance(query, c)
            let related = query.count >= 3 && (candidate.contains(name) || (c.count >= 3 && name.contains(candidate)))
            if d <= limit || related { scored.append((d, candidate)) }
        }
        scored.sort {
            $0.distance != $1.distance ? $0.distance < $1.distance : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        return scored.prefix(5).map(\.name)
    }

    /// Levenshtein distance between byte strings.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1,
                                 previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// A Foundation error as one clause, without the trailing period the message is embedded after.
    static func describe(_ error: Error) -> String {
        var text = ErrorText.reason(error)
        while text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
