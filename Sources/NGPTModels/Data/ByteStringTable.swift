/// An open-addressing hash table from byte strings to entry numbers (0, 1, 2, … in the order
/// of insertion), with the keys copied into one arena: a lookup takes a buffer pointer and
/// allocates nothing. The tokenizer's word cache and its training's word counts use it; entry
/// order is insertion order, so iterating it is deterministic (a `Dictionary`'s is not).
struct ByteStringTable {
    /// Key `i` is `arena[starts[i]..<starts[i + 1]]`.
    private(set) var arena = [UInt8]()
    private(set) var starts = [0]
    private var hashes = [UInt64]()
    /// `-1` for an empty slot, else an entry number; the capacity is a power of two.
    private var slots: [Int32]

    init(capacity: Int = 1 << 12) {
        var n = 16
        while n < 2 * capacity { n <<= 1 }
        slots = [Int32](repeating: -1, count: n)
    }

    var count: Int { hashes.count }

    /// The bytes of entry `i`.
    func key(_ i: Int) -> ArraySlice<UInt8> { arena[starts[i]..<starts[i + 1]] }

    /// 64-bit FNV-1a.
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// The entry of `key`, or nil.
    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        find(key, hash: Self.hash(key)).entry
    }

    /// The entry of `key` and, when it is absent, the slot where it would go.
    private func find(_ key: UnsafeBufferPointer<UInt8>, hash h: UInt64) -> (entry: Int?, slot: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        return arena.withUnsafeBufferPointer { a in
            while true {
                let e = Int(slots[slot])
                if e < 0 { return (nil, slot) }
                if hashes[e] == h {
                    let s = starts[e], length = starts[e + 1] - s
                    if length == key.count && (length == 0 || memcmp(a.baseAddress! + s, key.baseAddress!, length) == 0) {
                        return (e, slot)
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The entry of `key`, inserting it first when it is absent.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>) -> (entry: Int, inserted: Bool) {
        let h = Self.hash(key)
        let (found, slot) = find(key, hash: h)
        if let found { return (found, false) }
        let e = hashes.count
        arena.append(contentsOf: key)
        starts.append(arena.count)
        hashes.append(h)
        slots[slot] = Int32(e)
        if 2 * hashes.count > slots.count { grow() }
        return (e, true)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: 2 * slots.count)
        let mask = slots.count - 1
        for (e, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(e)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
