import Dispatch
import Foundation

/// How many threads the library computes with, and how work is split between Swift and BLAS.
///
/// There are two ways to use the cores: OpenBLAS threads a large GEMM by itself, while small
/// products (one attention head, one sequence) are too small for that and are instead run side by
/// side from Swift threads. The two are never combined: inside ``parallelFor(_:_:)`` OpenBLAS is
/// switched to one thread, and restored afterwards, so the machine is never oversubscribed.
///
/// The count starts from `OPENBLAS_NUM_THREADS` when it is set, else from the number of cores.
/// Parallel regions must not be entered from two threads at once (the BLAS thread count is
/// process-global); the library never does so.
public enum Threads {
    nonisolated(unsafe) private static var _count: Int = {
        let env = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"].flatMap { Int($0) }
        let n = max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
        BLAS.setNumThreads(n)
        return n
    }()

    /// The number of threads used by BLAS and by the library's own parallel loops.
    public static var count: Int { _count }

    /// Sets the thread count for BLAS and for the library's parallel loops (at least 1).
    public static func set(_ n: Int) {
        precondition(n >= 1, "thread count must be at least 1, got \(n)")
        _count = n
        BLAS.setNumThreads(n)
    }

    /// Runs `body(i)` for `i` in `0..<n`, spread over ``count`` threads in contiguous chunks,
    /// with BLAS single-threaded for the duration. With one thread (or `n == 1`) it is a loop.
    public static func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        let workers = min(count, n)
        if workers <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        BLAS.setNumThreads(1)
        defer { BLAS.setNumThreads(count) }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = n * w / workers, hi = n * (w + 1) / workers
                for i in lo..<hi { body(i) }
            }
        }
    }

    /// Runs `body` on contiguous ranges that cover `0..<n`, one per thread, for loops that call
    /// no BLAS (row-wise kernels, optimiser updates). Range boundaries are multiples of
    /// `alignment` (so no two threads write into one cache line of a row-major block of columns)
    /// and ranges hold at least `minimum` items: below that the loop runs on the calling thread.
    /// Results must not depend on how `0..<n` is split; kernels that sum over the split axis
    /// write per-range results and combine them in a fixed order.
    public static func parallelRanges(_ n: Int, minimum: Int = 1, alignment: Int = 1,
                                      _ body: (Range<Int>) -> Void) {
        let units = (n + alignment - 1) / alignment
        let workers = min(count, units, max(1, n / max(1, minimum)))
        if workers <= 1 {
            if n > 0 { body(0..<n) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = min(n, units * w / workers * alignment), hi = min(n, units * (w + 1) / workers * alignment)
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// The BLAS library's own description: build configuration, core kernel, thread count.
    public static var blasDescription: (config: String, core: String, threads: Int, processors: Int) {
        _ = _count
        return (BLAS.config, BLAS.coreName, BLAS.numThreads, BLAS.numProcs)
    }
}
