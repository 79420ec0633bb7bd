import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SafeTensorsFile {
    /// The bytes of a safetensors file holding `tensors` as `F32` and `metadata`.
    ///
    /// The output is deterministic; the layout is described on the `SafeTensorsValue` overload.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        try encode(tensors.mapValues { SafeTensorsValue.float32($0) }, metadata: metadata)
    }

    /// The bytes of a safetensors file holding `values` and `metadata`.
    ///
    /// Layout, fixed so that equal inputs give identical bytes: tensors in ascending order of
    /// their names' UTF-8 bytes, each directly after the previous in the data buffer; the header
    /// is compact JSON (no whitespace) with every object's keys in the same byte order, so
    /// `__metadata__` sits among the tensor names and each entry reads
    /// `{"data_offsets":[b,e],"dtype":"F32","shape":[…]}`; `__metadata__` is omitted when empty.
    /// Like the reference writer, the header is padded with spaces to a multiple of 8 bytes so
    /// the data buffer starts 8-byte aligned. Non-ASCII text is written as raw UTF-8; `"`, `\`
    /// and control characters are escaped.
    ///
    /// - Throws: ``SafeTensorsError/invalidTensorName(name:reason:)`` for the name `__metadata__`,
    ///   ``SafeTensorsError/invalidValue(name:reason:)`` for an `int64` value whose count differs
    ///   from its shape's product.
    public static func encode(_ values: [String: SafeTensorsValue], metadata: [String: String] = [:]) throws -> Data {
        let layout = try Layout(values: values, metadata: metadata)
        var out = Data()
        out.reserveCapacity(layout.fileSize)
        layout.emit { out.append(contentsOf: $0) }
        return out
    }

    /// Writes `tensors` as `F32` with `metadata` to `url`, atomically.
    ///
    /// Same bytes as `encode(_:metadata:)`; the file is replaced as described on the
    /// `SafeTensorsValue` overload.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try write(tensors.mapValues { SafeTensorsValue.float32($0) }, metadata: metadata, to: url)
    }

    /// Writes `values` with `metadata` to `url`, atomically.
    ///
    /// The bytes go to a temporary file in the destination's directory, which is flushed to disk
    /// (`fsync`) and then renamed over `url`; the directory is then flushed too, so after a crash
    /// `url` holds either the old file or the whole new one. On any failure the temporary file is
    /// removed and `url` is left as it was. Same bytes as `encode(_:metadata:)`.
    ///
    /// - Throws: the errors of `encode(_:metadata:)` (before anything is written), or
    ///   ``SafeTensorsError/writeFailed(file:operation:reason:)``.
    public static func write(_ values: [String: SafeTensorsValue], metadata: [String: String] = [:], to url: URL) throws {
        let layout = try Layout(values: values, metadata: metadata)
        try writeAtomically(to: url) { sink in try layout.emit(sink) }
    }

    /// What to write and where each tensor goes, computed (and validated) before any I/O.
    struct Layout {
        /// The header JSON padded with spaces to a multiple of 8 bytes.
        let header: [UInt8]
        /// In data-buffer order.
        let items: [(name: String, value: SafeTensorsValue)]
        let fileSize: Int

        init(values: [String: SafeTensorsValue], metadata: [String: String]) throws {
            let names = values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            var entries: [(key: String, json: String)] = []
            var offset = 0
            for name in names {
                guard name != "__metadata__" else {
                    throw SafeTensorsError.invalidTensorName(name: name, reason: "the name is reserved for the metadata map")
                }
                let value = values[name]!
                if case let .int64(shape, ints) = value {
                    guard shape.allSatisfy({ $0 >= 0 }) else {
                        throw SafeTensorsError.invalidValue(name: name, reason: "shape \(shape) has a negative extent")
                    }
                    guard shape.reduce(1, *) == ints.count else {
                        throw SafeTensorsError.invalidValue(
                            name: name, reason: "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(ints.count) values")
                    }
                }
                let byteCount = value.shape.reduce(1, *) * value.dtype.size
                let shape = value.shape.map(String.init).joined(separator: ",")
                entries.append((name, "{\"data_offsets\":[\(offset),\(offset + byteCount)],"
                                + "\"dtype\":\"\(value.dtype.rawValue)\",\"shape\":[\(shape)]}"))
                offset += byteCount
            }
            if !metadata.isEmpty {
                let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                let map = keys.map { JSONString.quoted($0) + ":" + JSONString.quoted(metadata[$0]!) }.joined(separator: ",")
                entries.append(("__metadata__", "{" + map + "}"))
                entries.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            }
            var header = Array(("{" + entries.map { JSONString.quoted($0.key) + ":" + $0.json }.joined(separator: ",") + "}").utf8)
            header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
            self.header = header
            self.items = names.map { ($0, values[$0]!) }
            self.fileSize = 8 + header.count + offset
        }

        /// Feeds the file's bytes, in order, to `sink`.
        func emit(_ sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try sink($0) }
            try header.withUnsafeBytes { try sink($0) }
            for (_, value) in items {
                switch value {
                case .float32(let t):
                    #if _endian(little)
                    try t.withUnsafeBufferPointer { try sink(UnsafeRawBufferPointer($0)) }
                    #else
                    try t.scalars.map { $0.bitPattern.littleEndian }.withUnsafeBytes { try sink($0) }
                    #endif
                case .int64(_, let ints):
                    try ints.map { Int64($0).littleEndian }.withUnsafeBytes { try sink($0) }
                }
            }
        }

    }

    /// Creates `url` by writing through `body` into a temporary file beside it, flushing it and
    /// renaming it over `url`; on any failure (including one thrown by `body`) the temporary file
    /// is removed and `url` is untouched. Internal so tests can inject failures mid-write.
    static func writeAtomically(to url: URL, _ body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp").path
        func failure(_ operation: String) -> SafeTensorsError {
            SafeTensorsError.writeFailed(file: path, operation: operation, reason: String(cString: strerror(errno)))
        }

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("creating the temporary file \(temporary)") }
        var isOpen = true
        do {
            try body { buffer in
                var done = 0
                while done < buffer.count {
                    let n = posixWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw failure("writing \(temporary)")
                    }
                    done += n
                }
            }
            guard fsync(fd) == 0 else { throw failure("flushing \(temporary) to disk") }
            isOpen = false
            guard close(fd) == 0 else { throw failure("closing \(temporary)") }
            guard rename(temporary, path) == 0 else { throw failure("renaming \(temporary) over the destination") }
        } catch {
            if isOpen { close(fd) }
            unlink(temporary)
            throw error
        }
        // Make the rename itself durable. Best effort: the new file is complete either way.
        let dirfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }
}

/// `write(2)`, under a name that the `write(_:…)` methods above (and other types' `write`
/// methods) do not shadow.
package func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
