import Foundation

/// A small, fast, seedable generator (SplitMix64 seeding a xoshiro256**), so that every
/// random choice in the library is reproducible from one integer and can be checkpointed.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var z = seed
        var s = [UInt64]()
        for _ in 0..<4 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            s.append(x ^ (x >> 31))
        }
        state = s
    }

    /// Restores a generator from ``state``.
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "invalid generator state")
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform Double in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal sample (Box–Muller, one value per call).
    public mutating func nextNormal() -> Double {
        var u = nextUniform()
        while u == 0 { u = nextUniform() }
        let v = nextUniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}


/// A uniform integer in `0..<n` without modulo bias (Lemire's multiply-and-reject), written out
/// here rather than using `Int.random(in:using:)` so the stream cannot change with the standard
/// library and resumed runs stay bit-identical across toolchains.
package func uniform(below n: UInt64, using generator: inout SeededGenerator) -> UInt64 {
    precondition(n > 0, "empty range")
    var m = generator.next().multipliedFullWidth(by: n)
    if m.low < n {
        let threshold = (0 &- n) % n
        while m.low < threshold { m = generator.next().multipliedFullWidth(by: n) }
    }
    return m.high
}
