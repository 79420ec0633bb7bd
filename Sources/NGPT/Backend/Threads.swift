import Dispatch
import Foundation

/// How many threads the library computes with, and how work is split between Swift and BLAS.
///
/// There are two ways to use the cores: OpenBLAS threads a large GEMM by itself, while small
/// products (one attention head, one sequence) are too small for that and are instead run side by
/// side from Swift threads. The two are never combined: inside ``parallelFor(_:_:)`` OpenBLAS is
/// switched to one thread, and restored afterwards, so the machine is never oversubscribed.
///
/// After a threaded call OpenBLAS's worker threads keep polling for more work for a while
/// (`OPENBLAS_THREAD_TIMEOUT`, about 2²⁸ cycles by default) before they sleep, so a parallel
/// region entered right after a large GEMM shares the cores with them and runs slower
/// (see the "after a threaded SGEMM" benchmark in `Benchmarks/`).
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

    /// The BLAS library's own description: build configuration, core kernel, thread count.
    public static var blasDescription: (config: String, core: String, threads: Int, processors: Int) {
        _ = _count
        return (BLAS.config, BLAS.coreName, BLAS.numThreads, BLAS.numProcs)
    }
}
