import Dispatch

/// Seconds and calls per kernel name, in the order first seen: the breakdown behind
/// `ModelBenchmark.kernelTimings` (`ngpt bench --kernels`). Attached to a
/// ``Pass`` only while a model is profiled.
final class KernelProfile {
    private(set) var names: [String] = []
    private(set) var totals: [String: (seconds: Double, calls: Int)] = [:]

    func add(_ name: String, seconds: Double) {
        if totals[name] == nil { names.append(name) }
        totals[name, default: (0, 0)].seconds += seconds
        totals[name, default: (0, 0)].calls += 1
    }
}

extension Pass {
    /// Runs `body`, adding its time to the profile under `name` when profiling (the name is
    /// not even formed otherwise).
    @inline(__always) func timed(_ name: @autoclosure () -> String, _ body: () -> Void) {
        guard let profile else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        profile.add(name(), seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
