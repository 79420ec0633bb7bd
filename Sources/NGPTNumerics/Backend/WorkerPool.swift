import Foundation
import Synchronization

/// The library's own worker threads, behind ``Threads``' parallel loops.
///
/// A region hands out `parts` indices; the calling thread and the workers claim them one at a
/// time, so a worker that wakes late (or a busy machine) only means the caller runs more parts
/// itself. A region allocates one small box (GCD's `concurrentPerform` allocates three objects
/// per call), and workers spin for a short while before sleeping, so back-to-back regions do
/// not pay a wake-up each.
final class WorkerPool: @unchecked Sendable {
    /// (generation mod 2²³) << 40 | parts << 20 | next part: one word, so that a claim sees a consistent
    /// region. A worker that read an older generation can never claim a part of a newer one.
    private let ticket = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let condition = NSCondition()
    /// The region's body: set before the generation is published, cleared after all its parts
    /// have finished.
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    private(set) var workers = 0

    /// Spins (about 50 µs) before a worker sleeps.
    private static let spins = 20_000

    /// Starts threads until there are at least `n` workers.
    func ensureWorkers(_ n: Int) {
        while workers < n {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.name = "ngpt-worker-\(workers)"
            thread.start()
            workers += 1
        }
    }

    /// Runs `body(i)` for every `i` in `0..<parts` (at most 2²⁰), on the calling thread and the
    /// workers, and returns when all have finished.
    func run(parts: Int, _ body: (Int) -> Void) {
        precondition(parts > 0 && parts < 1 << 20, "parts out of range: \(parts)")
        // `withoutActuallyEscaping` boxes the closure: the one heap allocation of a region.
        withoutActuallyEscaping(body) { publish($0, parts: parts) }
    }

    /// Publishes the region, takes part in it, and waits for its last part.
    private func publish(_ body: @escaping (Int) -> Void, parts: Int) {
        job = body
        let g = generation.load(ordering: .sequentiallyConsistent) &+ 1
        finished.store(0, ordering: .sequentiallyConsistent)
        ticket.store((g & 0x7F_FFFF) << 40 | parts << 20, ordering: .sequentiallyConsistent)
        generation.store(g, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        participate(g)
        var waited = 0
        while finished.load(ordering: .sequentiallyConsistent) < parts {
            waited += 1
            if waited % 1024 == 0 { sched_yield() }
        }
        job = nil
    }

    /// Claims and runs parts of region `g` until none are left (or a newer region began).
    private func participate(_ g: Int) {
        while true {
            let t = ticket.load(ordering: .sequentiallyConsistent)
            guard t >> 40 == g & 0x7F_FFFF else { return }
            let parts = (t >> 20) & 0xF_FFFF, next = t & 0xF_FFFF
            guard next < parts else { return }
            guard ticket.compareExchange(expected: t, desired: t + 1, ordering: .sequentiallyConsistent).exchanged else { continue }
            job!(next)
            finished.wrappingAdd(1, ordering: .sequentiallyConsistent)
        }
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .sequentiallyConsistent)
        while true {
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen && spins < Self.spins { spins += 1 }
            if generation.load(ordering: .sequentiallyConsistent) == seen {
                condition.lock()
                sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            participate(seen)
        }
    }
}
