import Foundation

/// How many threads the library computes with, and how work is split between them.
///
/// All of the library's parallelism is its own: every GEMM it issues runs OpenBLAS
/// single-threaded, and a large product is cut into one block of rows (or columns) per thread
/// (``GEMM``), the way small products (one attention head of one sequence) and the row-wise
/// kernels are run side by side. OpenBLAS's own worker threads are therefore never woken, so
/// they never spin on a core that the library's threads need (they would, for a while, after
/// every threaded BLAS call). Inside a parallel region BLAS is switched to one thread and a
/// nested region runs on its thread; afterwards the BLAS count is restored to ``count`` for
/// callers outside the library.
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

    /// Whether a parallel region is running (set and cleared by the thread that enters it).
    nonisolated(unsafe) private static var inRegion = false

    /// The worker threads (``count`` − 1 of them once a region has run).
    private static let pool = WorkerPool()

    /// The number of threads used by BLAS and by the library's own parallel loops.
    public static var count: Int { _count }

    /// Sets the thread count for BLAS and for the library's parallel loops (at least 1).
    public static func set(_ n: Int) {
        precondition(n >= 1, "thread count must be at least 1, got \(n)")
        _count = n
        BLAS.setNumThreads(n)
    }

    /// Threads a new region would use for `items` independent items: 1 inside a region.
    static func available(_ items: Int) -> Int { inRegion ? 1 : min(count, items) }

    /// Runs `body(i)` for `i` in `0..<n`, spread over ``count`` threads in contiguous chunks,
    /// with BLAS single-threaded for the duration. With one thread (or `n == 1`, or inside
    /// another region) it is a loop.
    public static func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        let workers = available(n)
        if workers <= 1 {
            singleThreadedBLAS { for i in 0..<n { body(i) } }
            return
        }
        region(workers) { w in
            let lo = n * w / workers, hi = n * (w + 1) / workers
            for i in lo..<hi { body(i) }
        }
    }

    /// Runs `body` on contiguous ranges that cover `0..<n`, one per thread. Range boundaries are
    /// multiples of `alignment` (so no two threads write into one cache line of a row-major block
    /// of columns) and ranges hold at least `minimum` items: below that, or inside another
    /// region, the loop runs on the calling thread. Results must not depend on how `0..<n` is
    /// split; kernels that sum over the split axis sum each item in a fixed order instead.
    public static func parallelRanges(_ n: Int, minimum: Int = 1, alignment: Int = 1,
                                      _ body: (Range<Int>) -> Void) {
        let units = (n + alignment - 1) / alignment
        let workers = min(available(units), max(1, n / max(1, minimum)))
        if workers <= 1 {
            if n > 0 { singleThreadedBLAS { body(0..<n) } }
            return
        }
        region(workers) { w in
            let lo = min(n, units * w / workers * alignment), hi = min(n, units * (w + 1) / workers * alignment)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body` with BLAS on one thread (a no-op inside a region, where it already is).
    @inline(__always)
    static func singleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        if inRegion || _count == 1 { return try body() }
        BLAS.setNumThreads(1)
        defer { BLAS.setNumThreads(_count) }
        return try body()
    }

    /// Runs `body(0..<parts)` on the worker pool, BLAS single-threaded.
    private static func region(_ parts: Int, _ body: (Int) -> Void) {
        inRegion = true
        BLAS.setNumThreads(1)
        defer {
            BLAS.setNumThreads(_count)
            inRegion = false
        }
        pool.ensureWorkers(_count - 1)
        pool.run(parts: parts, body)
    }

    /// The BLAS library's own description: build configuration, core kernel, thread count.
    public static var blasDescription: (config: String, core: String, threads: Int, processors: Int) {
        _ = _count
        return (BLAS.config, BLAS.coreName, BLAS.numThreads, BLAS.numProcs)
    }
}
