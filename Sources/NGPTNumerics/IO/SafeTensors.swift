// The safetensors format (https://github.com/huggingface/safetensors):
//
//   bytes 0..<8        N, the header length, unsigned 64-bit little-endian
//   bytes 8..<8+N      header: a UTF-8 JSON object
//                        { "__metadata__": { "k": "v", … },           (optional, strings only)
//                          "<name>": { "dtype": "F32", "shape": [r, c],
//                                      "data_offsets": [begin, end] }, … }
//                      possibly padded with trailing spaces
//   bytes 8+N..<end    the data buffer; every tensor's bytes are data[begin..<end], row-major,
//                      little-endian, and the tensors tile the buffer exactly.
//
// Reading lives in `SafeTensors+Read.swift`, writing in `SafeTensors+Write.swift`, and the
// header's JSON scanner in `SafeTensors+HeaderJSON.swift`.

/// An element type of a safetensors tensor, spelled as in the file's header.
///
/// Only the byte-sized types of the reference implementation are listed; a file using any other
/// dtype (the sub-byte `F4`/`F6` formats, for example) is rejected with
/// ``SafeTensorsError/unknownDType(file:tensor:dtype:)``.
/// ``SafeTensorsFile/tensor(_:)`` converts `F16`, `BF16`, `F32` and `F64`;
/// ``SafeTensorsFile/integers(_:)`` converts the integer types.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// Whether ``SafeTensorsFile/tensor(_:)`` can convert this dtype to float32.
    public var isFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: return true
        default: return false
        }
    }

    /// Whether ``SafeTensorsFile/integers(_:)`` can convert this dtype to `Int`.
    public var isInteger: Bool {
        switch self {
        case .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64: return true
        default: return false
        }
    }
}

/// One tensor to write: a float32 ``Tensor`` or a 64-bit integer array (token ids).
public enum SafeTensorsValue: Equatable, Sendable {
    /// Written as `F32`.
    case float32(Tensor)
    /// Written as `I64`; `values.count` must equal the product of `shape`.
    case int64(shape: [Int], values: [Int])

    /// The dtype this value is written as.
    public var dtype: SafeTensorsDType {
        switch self {
        case .float32: return .f32
        case .int64: return .i64
        }
    }

    /// The shape written to the header.
    public var shape: [Int] {
        switch self {
        case .float32(let t): return t.shape
        case .int64(let shape, _): return shape
        }
    }
}

/// Everything that can go wrong reading or writing a safetensors file.
///
/// Each case names the file (its path, or `<in-memory data>`), the tensor when there is one, and
/// ``description`` adds a `HINT:` with what to do next.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    // Reading: the file as a whole.
    /// The file could not be opened or read.
    case readFailed(file: String, reason: String)
    /// Fewer than the 8 bytes that hold the header length.
    case fileTooShort(file: String, byteCount: Int)
    /// The header length exceeds ``SafeTensorsFile/maxHeaderLength`` (100,000,000 bytes).
    case headerTooLarge(file: String, headerLength: UInt64)
    /// The header length points past the end of the file.
    case headerBeyondFile(file: String, headerLength: UInt64, fileSize: Int)
    /// The header is not valid UTF-8; `offset` is the first bad byte, counted from the header start.
    case headerNotUTF8(file: String, offset: Int)
    /// The header is not valid JSON; `offset` is counted from the header start.
    case invalidJSON(file: String, offset: Int, reason: String)
    /// The header is valid JSON but does not start with `{` (it is not an object).
    case headerNotObject(file: String)
    /// A key appears twice in one JSON object; `context` says which object.
    case duplicateKey(file: String, key: String, context: String)

    // Reading: one entry.
    /// A tensor's entry is not a JSON object.
    case entryNotObject(file: String, tensor: String)
    /// A tensor's entry lacks `dtype`, `shape` or `data_offsets`.
    case missingField(file: String, tensor: String, field: String)
    /// A field of a tensor's entry has the wrong JSON type.
    case wrongFieldType(file: String, tensor: String, field: String, expected: String)
    /// The dtype string is not one of ``SafeTensorsDType``.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// An extent is negative, not an integer, too large, or the element count overflows.
    case invalidShape(file: String, tensor: String, reason: String)
    /// `data_offsets` is not `[begin, end]` with non-negative integers and `begin <= end`.
    case invalidDataOffsets(file: String, tensor: String, reason: String)
    /// `end - begin` differs from `product(shape) · dtype.size`.
    case byteSizeMismatch(file: String, tensor: String, dtype: SafeTensorsDType, shape: [Int],
                          expectedBytes: Int, actualBytes: Int)
    /// Sorted by `begin`, this tensor does not start where the previous one ends (or at 0):
    /// a gap if `begin > expectedBegin`, an overlap if smaller.
    case offsetsNotContiguous(file: String, tensor: String, expectedBegin: Int, begin: Int)
    /// The last tensor's end differs from the data buffer's length (truncated file or trailing bytes).
    case dataLengthMismatch(file: String, expectedBytes: Int, actualBytes: Int)
    /// `__metadata__` is not an object of strings; `key` is the offending entry, if any.
    case invalidMetadata(file: String, key: String?, reason: String)

    // Reading: asking for a tensor.
    /// No tensor of that name; `suggestions` are the closest names in the file.
    case tensorNotFound(file: String, name: String, suggestions: [String])
    /// `tensor(_:)` of a non-float dtype or `integers(_:)` of a non-integer one.
    case dtypeMismatch(file: String, tensor: String, dtype: SafeTensorsDType, requested: String)
    /// An unsigned 64-bit value does not fit in `Int`.
    case integerOutOfRange(file: String, tensor: String, index: Int)

    // Writing.
    /// The name cannot be written (`__metadata__` is reserved).
    case invalidTensorName(name: String, reason: String)
    /// A value to write is inconsistent (element count differs from its shape's product).
    case invalidValue(name: String, reason: String)
    /// A system call failed while writing; the destination is unchanged.
    case writeFailed(file: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case let .readFailed(file, reason):
            return "\(file): cannot read the file: \(ErrorText.cut(reason)). HINT: check the path and permissions."
        case let .fileTooShort(file, byteCount):
            return "\(file): the file has \(byteCount) bytes, fewer than the 8 that hold the header "
                + "length. HINT: the file is empty or cut short; re-create or re-copy it."
        case let .headerTooLarge(file, headerLength):
            return "\(file): the header length is \(headerLength) bytes, more than the limit of "
                + "\(SafeTensorsFile.maxHeaderLength). HINT: this is not a safetensors file, or its "
                + "first 8 bytes are corrupt."
        case let .headerBeyondFile(file, headerLength, fileSize):
            return "\(file): the header length is \(headerLength) bytes but the file has only "
                + "\(fileSize - 8) bytes after the length field. HINT: the file is truncated or not a "
                + "safetensors file."
        case let .headerNotUTF8(file, offset):
            return "\(file): the header is not valid UTF-8 (bad byte at header offset \(offset), file "
                + "offset \(offset + 8)). HINT: the file is corrupt or not a safetensors file."
        case let .invalidJSON(file, offset, reason):
            return "\(file): the header is not valid JSON: \(ErrorText.cut(reason)) at header offset \(offset) (file "
                + "offset \(offset + 8)). HINT: inspect it with `head -c \(offset + 40) FILE | tail -c 80`; "
                + "re-create the file with a safetensors writer."
        case let .headerNotObject(file):
            return "\(file): the header is not a JSON object (it must start with '{'). HINT: this is "
                + "not a safetensors file."
        case let .duplicateKey(file, key, context):
            return "\(file): the key '\(ErrorText.cut(key))' appears twice in \(ErrorText.cut(context)). HINT: readers would disagree "
                + "on which value wins; re-create the file."
        case let .entryNotObject(file, tensor):
            return "\(file): the entry of tensor '\(ErrorText.cut(tensor))' is not a JSON object with dtype, shape and "
                + "data_offsets. HINT: re-create the file with a safetensors writer."
        case let .missingField(file, tensor, field):
            return "\(file): tensor '\(ErrorText.cut(tensor))' has no '\(ErrorText.cut(field))'. HINT: every entry needs dtype, shape "
                + "and data_offsets; re-create the file."
        case let .wrongFieldType(file, tensor, field, expected):
            return "\(file): tensor '\(ErrorText.cut(tensor))': '\(ErrorText.cut(field))' must be \(expected). HINT: re-create the "
                + "file with a safetensors writer."
        case let .unknownDType(file, tensor, dtype):
            let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(file): tensor '\(ErrorText.cut(tensor))' has unknown dtype '\(ErrorText.cut(dtype))'; known: \(known). HINT: "
                + "convert the tensor to F32 before saving."
        case let .invalidShape(file, tensor, reason):
            return "\(file): tensor '\(ErrorText.cut(tensor))' has an invalid shape: \(ErrorText.cut(reason)). HINT: extents must be "
                + "non-negative integers; re-create the file."
        case let .invalidDataOffsets(file, tensor, reason):
            return "\(file): tensor '\(ErrorText.cut(tensor))' has invalid data_offsets: \(ErrorText.cut(reason)). HINT: data_offsets "
                + "must be [begin, end] with 0 <= begin <= end; re-create the file."
        case let .byteSizeMismatch(file, tensor, dtype, shape, expectedBytes, actualBytes):
            return "\(file): tensor '\(ErrorText.cut(tensor))' is \(dtype.rawValue) \(ErrorText.cut("\(shape)")), which needs "
                + "\(expectedBytes) bytes, but its data_offsets span \(actualBytes). HINT: the header "
                + "is inconsistent; re-create the file."
        case let .offsetsNotContiguous(file, tensor, expectedBegin, begin):
            let what = begin > expectedBegin
                ? "leaving a gap of \(begin - expectedBegin) bytes"
                : "overlapping the previous tensor by \(expectedBegin - begin) bytes"
            return "\(file): tensor '\(ErrorText.cut(tensor))' starts at data offset \(begin), but the previous tensor "
                + "(in offset order) ends at \(expectedBegin), \(what). HINT: tensors must tile the data "
                + "buffer exactly; re-create the file."
        case let .dataLengthMismatch(file, expectedBytes, actualBytes):
            let what = actualBytes < expectedBytes
                ? "the file is truncated: \(expectedBytes - actualBytes) bytes are missing"
                : "\(actualBytes - expectedBytes) bytes after the last tensor belong to no tensor"
            return "\(file): the header describes \(expectedBytes) data bytes but the file has "
                + "\(actualBytes) after the header; \(what). HINT: re-copy or re-create the file."
        case let .invalidMetadata(file, key, reason):
            let at = key.map { " at key '\(ErrorText.cut($0))'" } ?? ""
            return "\(file): __metadata__ is invalid\(at): \(ErrorText.cut(reason)). HINT: metadata must map strings to "
                + "strings; encode numbers and lists as strings."
        case let .tensorNotFound(file, name, suggestions):
            let near = suggestions.isEmpty
                ? "no name is close."
                : "did you mean " + suggestions.map { "'\(ErrorText.cut($0))'" }.joined(separator: ", ") + "?"
            return "\(file): no tensor named '\(ErrorText.cut(name))'; \(near) HINT: `ngpt cond FILE` without --tensor lists the 2-D tensors."
        case let .dtypeMismatch(file, tensor, dtype, requested):
            let other = dtype.isInteger ? " it holds integers (ids or counts), not weights; choose a floating-point tensor of the file (a Swift program reads it with SafeTensorsFile.integers(_:))."
                : dtype.isFloatingPoint ? " read it as floating point (a Swift program uses SafeTensorsFile.tensor(_:))." : ""
            return "\(file): tensor '\(ErrorText.cut(tensor))' is \(dtype.rawValue), which cannot be read as "
                + "\(requested). HINT:\(other.isEmpty ? " convert it when saving." : other)"
        case let .integerOutOfRange(file, tensor, index):
            return "\(file): tensor '\(ErrorText.cut(tensor))' element \(index) does not fit in Int. HINT: values "
                + "above Int.max cannot be token ids; check how the file was written."
        case let .invalidTensorName(name, reason):
            return "cannot write tensor '\(ErrorText.cut(name))': \(ErrorText.cut(reason)). HINT: rename the tensor."
        case let .invalidValue(name, reason):
            return "cannot write tensor '\(ErrorText.cut(name))': \(ErrorText.cut(reason)). HINT: make the values match the shape."
        case let .writeFailed(file, operation, reason):
            return "\(file): \(operation) failed: \(ErrorText.cut(reason)). The destination was not changed. HINT: "
                + "check that the directory exists, is writable and has free space."
        }
    }
}
