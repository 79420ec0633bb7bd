import Foundation

/// cos/sin of the rotary angles `p·θᵢ`, `θᵢ = 10000^(−2i/dk)`, for positions `0..<positions`
/// and pairs `0..<dk/2` (docs/model.md §2), computed in Double and stored as float32.
///
/// They are stored once per element of a head, so a head rotates with whole vectors:
/// `cos` holds (cᵢ, cᵢ) at elements 2i, 2i+1 and `sin` holds (−sᵢ, sᵢ); then
/// `out = x ⊙ cos + swap(x) ⊙ sin`, where `swap` exchanges the two elements of every pair.
public struct RoPETable: Sendable {
    public let positions: Int
    public let headWidth: Int
    let cos: [Float]   // (positions, dk)
    let sin: [Float]   // (positions, dk)

    public init(positions: Int, headWidth dk: Int) {
        precondition(dk % 2 == 0, "RoPE needs an even head width, got \(dk)")
        self.positions = positions
        self.headWidth = dk
        var c = [Float](), s = [Float]()
        c.reserveCapacity(positions * dk)
        s.reserveCapacity(positions * dk)
        for p in 0..<positions {
            for i in 0..<dk / 2 {
                let theta = Foundation.pow(10000.0, -2.0 * Double(i) / Double(dk))
                let cp = Float(Foundation.cos(Double(p) * theta)), sp = Float(Foundation.sin(Double(p) * theta))
                c.append(cp); c.append(cp)
                s.append(-sp); s.append(sp)
            }
        }
        cos = c
        sin = s
    }
}

/// Rotates, in place, every head of the q and k columns of a (N, ld) buffer whose rows are
/// positions `start..<start + T` of consecutive sequences (`start` is 0 except when decoding
/// one position at a time with a key/value cache). Columns `h·dk ..< (h+1)·dk` of each of
/// `blocks` consecutive C-wide blocks (q then k) are rotated:
/// out[2i] = x[2i]·c − x[2i+1]·s, out[2i+1] = x[2i]·s + x[2i+1]·c. Rows run in parallel.
package func ropeForward(_ x: FloatPointer, _ table: RoPETable, rows n: Int, sequence t: Int, heads h: Int,
                 rowStride ld: Int, blocks: Int, start: Int = 0) {
    rotate(x, table, rows: n, sequence: t, heads: h, rowStride: ld, blocks: blocks, start: start, inverse: false)
}

/// Backward of the rotation: the gradient is rotated by the inverse (transposed) rotation,
/// dx[2i] = d[2i]·c + d[2i+1]·s, dx[2i+1] = −d[2i]·s + d[2i+1]·c. In place.
package func ropeBackward(_ dx: FloatPointer, _ table: RoPETable, rows n: Int, sequence t: Int, heads h: Int,
                  rowStride ld: Int, blocks: Int) {
    rotate(dx, table, rows: n, sequence: t, heads: h, rowStride: ld, blocks: blocks, start: 0, inverse: true)
}

private func rotate(_ x: FloatPointer, _ table: RoPETable, rows n: Int, sequence t: Int, heads h: Int,
                    rowStride ld: Int, blocks: Int, start: Int, inverse: Bool) {
    let dk = table.headWidth, c = h * dk
    precondition(start + t <= table.positions, "RoPE table covers \(table.positions) positions, need \(start + t)")
    table.cos.withUnsafeBufferPointer { cosTable in
        table.sin.withUnsafeBufferPointer { sinTable in
            let (cosBase, sinBase) = (cosTable.baseAddress!, sinTable.baseAddress!)
            Threads.parallelRanges(n, minimum: minimumRows(width: blocks * c)) { rows in
                for r in rows {
                    let p = start + r % t
                    for block in 0..<blocks {
                        for head in 0..<h {
                            rotateHead(x + r * ld + block * c + head * dk, cosBase + p * dk, sinBase + p * dk,
                                       width: dk, inverse: inverse)
                        }
                    }
                }
            }
        }
    }
}

/// One head in place: `v ← v ⊙ cos ± swap(v) ⊙ sin` (− for the inverse rotation).
@inline(__always) package func rotateHead(_ v: FloatPointer, _ cos: ConstFloatPointer, _ sin: ConstFloatPointer,
                                  width dk: Int, inverse: Bool) {
    @inline(__always) func lanes(_ i: Int, _ k: Int) {
        let x = load(v + i, k)
        let swapped = Vec(x[1], x[0], x[3], x[2], x[5], x[4], x[7], x[6])
        let s = load(sin + i, k)
        store(x * load(cos + i, k) + swapped * (inverse ? -s : s), v + i, k)
    }
    vectorLoop(dk, lanes)
}
