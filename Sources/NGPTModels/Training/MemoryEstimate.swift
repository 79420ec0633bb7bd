import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Roughly how much memory training a configuration takes, computed without allocating and
/// without overflowing (a size that does not fit in `Int` saturates at `Int.max`).
///
/// The activation term is what the architecture's blocks and head reserve for one (B, T). Parameters,
/// gradients, moments and activations come within 5 % below the peak resident memory
/// `ngpt bench` measures at bench-s and bench-m (which writes no checkpoint); the total adds a
/// checkpoint's copies of the parameters and moments, and 32 MB for the process.
public struct MemoryEstimate: Sendable, Equatable {
    /// Parameters, gradients, Adam's two moments, and the copies a checkpoint write makes.
    public var parameterBytes: Int
    /// The largest activation buffer of any shape the run uses (training or evaluation).
    public var activationBytes: Int
    /// Validation windows, batches, the RoPE table and the process itself.
    public var otherBytes: Int

    public var totalBytes: Int { Self.add(Self.add(parameterBytes, activationBytes), otherBytes) }

    /// Floats of the model's parameters.
    public static func parameterCount(_ c: ModelConfig) -> Int {
        let d = c.width, v = c.vocabularySize, f = mul(4, d)
        let matrices = mul(16, mul(d, d))                       // q, k, v, att_c_proj, c_fc (2F×d), mlp_c_proj
        let vectors = add(mul(4, d), mul(2, f))                 // norms or scalers, generously
        let perLayer = add(matrices, vectors)
        return add(add(mul(c.layers, perLayer), mul(2, mul(v, d))), add(v, d))
    }

    /// Floats of the activation buffer for `batch` sequences of `sequence` tokens: the
    /// architecture's own count (``Architecture/activationCount(batch:sequence:)``) when the
    /// sizes are sane, else a saturating upper bound from the shape alone.
    public static func activationCount(_ c: ModelConfig, batch b: Int, sequence t: Int) -> Int {
        let bound = activationBound(c, batch: b, sequence: t)
        // the architecture's count builds the parameter layout, which takes time and memory in
        // proportion to the layers: beyond a few thousand the bound serves
        guard bound < 1 << 40, c.layers <= maximumCountedLayers, (try? c.validate()) != nil else { return bound }
        return c.architecture().activationCount(batch: b, sequence: t)
    }

    /// Above this many layers ``activationCount(_:batch:sequence:)`` is the bound from the shape.
    static let maximumCountedLayers = 4096

    /// An upper bound on either architecture's activations (streams, q|k|v, attention
    /// probabilities, the MLP's u|ν, logits and the backward's scratch), without overflowing.
    static func activationBound(_ c: ModelConfig, batch b: Int, sequence t: Int) -> Int {
        let n = mul(b, t), d = c.width, v = c.vocabularySize, h = c.heads
        let nd = mul(n, d)
        let scores = mul(mul(b, h), attentionScores(t))
        let perLayer = add(add(mul(17, nd), mul(add(mul(2, h), 8), n)), add(scores, mul(11, d)))
        let head = add(add(mul(4, mul(n, v)), v), nd)
        let scratch = add(add(mul(26, nd), scores), add(add(mul(11, d), v), mul(3, n)))
        return add(add(mul(add(c.layers, 1), nd), mul(c.layers, perLayer)), add(head, scratch))
    }

    /// Attention probabilities kept per (sequence, head): causal rows in blocks of 128.
    static func attentionScores(_ t: Int) -> Int {
        let block = 128, k = t / block, r = t % block
        let full = mul(block * block, mul(k, add(k, 1)) / 2)
        return add(full, mul(r, add(mul(block, k), r)))
    }

    /// Training `config` with `batch`, also evaluating at `contexts` (each with the batch the
    /// trainer uses there, `max(1, batch·T/context)`), over `evaluationBatches` windows.
    public static func training(_ config: ModelConfig, batch: Int, contexts: [Int] = [], evaluationBatches: Int = 1) -> MemoryEstimate {
        let p = parameterCount(config)
        let t = config.context
        var activations = activationCount(config, batch: batch, sequence: t)
        var longest = t
        for context in contexts where context > 0 {
            let b = max(1, mul(batch, t) / context)
            activations = max(activations, activationCount(config, batch: b, sequence: context))
            longest = max(longest, context)
        }
        let tokens = mul(batch, t)
        // ValidationSet keeps one array of `batch` offsets per window batch (8 bytes each, plus
        // the array's header and the allocator's, about 64 bytes): the run's own set, and one
        // more at a time for the other contexts
        let windows = mul(mul(evaluationBatches, add(64, mul(8, batch))), contexts.isEmpty ? 1 : 2)
        let other = add(add(windows, mul(32, tokens)), add(mul(8, mul(longest, config.headWidth)), 32 << 20))
        return MemoryEstimate(parameterBytes: mul(4, mul(6, p)), activationBytes: mul(4, activations), otherBytes: other)
    }

    /// Parameters, gradients and moments only: what a configuration needs before any batch.
    public static func model(_ config: ModelConfig) -> MemoryEstimate {
        MemoryEstimate(parameterBytes: mul(4, mul(6, parameterCount(config))), activationBytes: 0, otherBytes: 32 << 20)
    }

    /// `1.2 GB`, `340 MB`; `more than 9.2 EB` for a saturated size.
    public static func format(_ bytes: Int) -> String {
        if bytes == Int.max { return "more than 9.2 EB" }
        let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes), i = 0
        while value >= 1000 && i < units.count - 1 { value /= 1000; i += 1 }
        return i == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[i])
    }

    static func mul(_ a: Int, _ b: Int) -> Int {
        guard a >= 0, b >= 0 else { return 0 }
        let (r, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Int.max : r
    }

    static func add(_ a: Int, _ b: Int) -> Int {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : r
    }
}

/// Memory this process can still get: `/proc/meminfo`'s MemAvailable, lowered to the headroom
/// of any cgroup limit on the way to the root (v2 `memory.max`, v1 `memory.limit_in_bytes`) and
/// to what the address-space limit (`RLIMIT_AS`, `ulimit -v`) leaves above the process's size.
public enum AvailableMemory {
    /// Bytes available, or nil where none of the sources exists (then nothing is checked).
    public static func bytes() -> Int? {
        var best: Int? = read("/proc/meminfo").flatMap(memAvailable)
        if let cgroups = read("/proc/self/cgroup") {
            for limit in cgroupHeadrooms(cgroups, read: read) { best = min(best ?? limit, limit) }
        }
        if let limit = addressSpaceHeadroom() { best = min(best ?? limit, limit) }
        #if !os(Linux)
        if best == nil { best = Int(clamping: ProcessInfo.processInfo.physicalMemory) }
        #endif
        return best
    }

    /// `RLIMIT_AS` (soft) less this process's virtual size, or nil without a limit.
    static func addressSpaceHeadroom() -> Int? {
        var limit = rlimit()
        #if os(Linux)
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0 else { return nil }
        #else
        guard getrlimit(RLIMIT_AS, &limit) == 0 else { return nil }
        #endif
        guard limit.rlim_cur != rlim_t.max, limit.rlim_cur < rlim_t(Int.max) else { return nil }
        let pages = read("/proc/self/statm").flatMap { $0.split(separator: " ").first.flatMap { Int($0) } } ?? 0
        return max(0, Int(limit.rlim_cur) - MemoryEstimate.mul(pages, max(1, Int(sysconf(Int32(_SC_PAGESIZE))))))
    }

    /// MemAvailable from the text of `/proc/meminfo`, in bytes.
    static func memAvailable(_ meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kB = Int(fields[1]) else { return nil }
            return MemoryEstimate.mul(kB, 1024)
        }
        return nil
    }

    /// `limit − usage` of every limited cgroup from this process's up to the root, given the
    /// text of `/proc/self/cgroup` and a file reader.
    static func cgroupHeadrooms(_ cgroup: String, read: (String) -> String?) -> [Int] {
        var out = [Int]()
        func walk(_ root: String, _ path: String, limitFile: String, usageFile: String) {
            var components = path.split(separator: "/").map(String.init)
            while true {
                let dir = ([root] + components).joined(separator: "/")
                if let text = read(dir + "/" + limitFile)?.trimmingCharacters(in: .whitespacesAndNewlines),
                   let limit = Int(text), limit < (1 << 60) {
                    let usage = read(dir + "/" + usageFile).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
                    out.append(max(0, limit - usage))
                }
                if components.isEmpty { break }
                components.removeLast()
            }
        }
        for line in cgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty {
                walk("/sys/fs/cgroup", parts[2], limitFile: "memory.max", usageFile: "memory.current")
            } else if parts[1].split(separator: ",").contains("memory") {
                walk("/sys/fs/cgroup/memory", parts[2], limitFile: "memory.limit_in_bytes", usageFile: "memory.usage_in_bytes")
            }
        }
        return out
    }

    static func read(_ path: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
    }
}
