import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One writer per run (or report) directory: an exclusive `flock` on `DIR/.lock`, which holds
/// the PID of its owner.
///
/// The lock lives as long as the object (the CLI keeps it for the whole process); the kernel
/// drops it when the process dies, however it dies, so a killed run never leaves a stale lock.
/// Acquiring a directory this process already holds returns the same lock, so the library and
/// the command line can both ask for it. The descriptor is close-on-exec: child processes
/// (`ngpt compare`'s runs) do not inherit it.
public final class RunLock: @unchecked Sendable {
    public static let fileName = ".lock"

    public let directory: URL
    /// Whether ``acquire(_:creating:)`` created the directory (so a failed start may remove it).
    public private(set) var createdDirectory = false
    private let fd: Int32
    private let key: FileKey

    private struct FileKey: Hashable { var device: UInt64, inode: UInt64 }
    private final class Weak { weak var lock: RunLock?; init(_ l: RunLock) { lock = l } }
    nonisolated(unsafe) private static var held = [FileKey: Weak]()
    private static let registry = NSLock()

    private init(directory: URL, fd: Int32, key: FileKey) {
        self.directory = directory
        self.fd = fd
        self.key = key
    }

    deinit {
        // unlock first: a thread acquiring meanwhile finds no live holder and must not find the
        // file still locked by this process
        close(fd)
        Self.registry.lock()
        if Self.held[key]?.lock == nil { Self.held[key] = nil }
        Self.registry.unlock()
    }

    /// Locks `directory` (creating it first when `creating`), or throws
    /// ``RunLockError`` naming the process that holds it.
    public static func acquire(_ directory: URL, creating: Bool = false) throws -> RunLock {
        let path = directory.path
        var created = false
        if creating {
            if mkdir(path, 0o755) == 0 {
                created = true
            } else if errno == ENOENT {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                created = true
            } else if errno != EEXIST {
                throw RunLockError("cannot create \(path): \(String(cString: strerror(errno))); choose another directory")
            }
        }
        let lockPath = directory.appendingPathComponent(fileName).path
        // A failed start may remove the lock file (and its empty directory) while another process
        // waits on it: after locking, check the path still names the locked file, else retry.
        for _ in 0..<5 {
            let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                var isDirectory: ObjCBool = false
                if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) || !isDirectory.boolValue {
                    throw RunLockError("\(path) is not a directory; give a run directory")
                }
                throw RunLockError("cannot open \(lockPath): \(reason); check the directory's permissions")
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else { close(fd); throw RunLockError("cannot read \(lockPath): \(String(cString: strerror(errno)))") }
            let key = FileKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            registry.lock()
            if let existing = held[key]?.lock {
                registry.unlock()
                close(fd)
                return existing
            }
            registry.unlock()
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                let owner = readOwner(fd)
                close(fd)
                guard code == EWOULDBLOCK || code == EAGAIN else {
                    throw RunLockError("cannot lock \(lockPath): \(String(cString: strerror(code)))")
                }
                throw RunLockError("\(path) is in use by process \(owner.map(String.init) ?? "(PID not yet written)"), which holds \(lockPath); wait for it to finish or stop it")
            }
            var now = stat()
            guard stat(lockPath, &now) == 0, UInt64(now.st_ino) == key.inode, UInt64(now.st_dev) == key.device else {
                close(fd)
                if creating && !FileManager.default.fileExists(atPath: path) {
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    created = true
                }
                continue
            }
            let pid = Array("\(getpid())\n".utf8)
            _ = ftruncate(fd, 0)
            _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            let lock = RunLock(directory: directory, fd: fd, key: key)
            lock.createdDirectory = created
            registry.lock()
            held[key] = Weak(lock)
            registry.unlock()
            return lock
        }
        throw RunLockError("\(path) kept changing while it was being locked; try again")
    }

    /// The PID written in a lock file, if any.
    private static func readOwner(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// After a start that failed before writing anything: removes the lock file and, if this
    /// lock created the directory and nothing else is in it, the directory.
    public func discardIfCreated() {
        guard createdDirectory else { return }
        unlink(directory.appendingPathComponent(Self.fileName).path)
        rmdir(directory.path)
    }
}

/// A run directory that another process is writing, or that cannot be locked.
public struct RunLockError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}
