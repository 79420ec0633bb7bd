import Foundation

/// cos/sin of the rotary angles `p·θᵢ`, `θᵢ = 10000^(−2i/dk)`, for positions `0..<positions`
/// and pairs `0..<dk/2` (spec §2), computed in Double and stored as float32.
public struct RoPETable: Sendable {
    public let positions: Int
    public let headWidth: Int
    let cos: [Float]   // (positions, dk/2)
    let sin: [Float]

    public init(positions: Int, headWidth dk: Int) {
        precondition(dk % 2 == 0, "RoPE needs an even head width, got \(dk)")
        self.positions = positions
        self.headWidth = dk
        var c = [Float](), s = [Float]()
        c.reserveCapacity(positions * dk / 2)
        s.reserveCapacity(positions * dk / 2)
        for p in 0..<positions {
            for i in 0..<dk / 2 {
                let theta = Foundation.pow(10000.0, -2.0 * Double(i) / Double(dk))
                c.append(Float(Foundation.cos(Double(p) * theta)))
                s.append(Float(Foundation.sin(Double(p) * theta)))
            }
        }
        cos = c
        sin = s
    }
}

/// Rotates, in place, every head of the q and k columns of a (N, ld) buffer whose rows are
/// positions `start..<start + T` of consecutive sequences (`start` is 0 except when decoding
/// one position at a time with a key/value cache). Columns `column0 + h·dk ..< column0 + (h+1)·dk` of
/// each of `blocks` consecutive C-wide blocks (q then k) are rotated:
/// out[2i] = x[2i]·c − x[2i+1]·s, out[2i+1] = x[2i]·s + x[2i+1]·c.
func ropeForward(_ x: FloatPointer, _ table: RoPETable, rows n: Int, sequence t: Int, heads h: Int,
                 rowStride ld: Int, blocks: Int, start: Int = 0) {
    rotate(x, table, rows: n, sequence: t, heads: h, rowStride: ld, blocks: blocks, start: start, sign: 1)
}

/// Backward of the rotation: the gradient is rotated by the inverse (transposed) rotation,
/// dx[2i] = d[2i]·c + d[2i+1]·s, dx[2i+1] = −d[2i]·s + d[2i+1]·c. In place.
func ropeBackward(_ dx: FloatPointer, _ table: RoPETable, rows n: Int, sequence t: Int, heads h: Int,
                  rowStride ld: Int, blocks: Int) {
    rotate(dx, table, rows: n, sequence: t, heads: h, rowStride: ld, blocks: blocks, start: 0, sign: -1)
}

private func rotate(_ x: FloatPointer, _ table: RoPETable, rows n: Int, sequence t: Int, heads h: Int,
                    rowStride ld: Int, blocks: Int, start: Int, sign: Float) {
    let dk = table.headWidth, half = dk / 2, c = h * dk
    precondition(start + t <= table.positions, "RoPE table covers \(table.positions) positions, need \(start + t)")
    table.cos.withUnsafeBufferPointer { cosTable in
        table.sin.withUnsafeBufferPointer { sinTable in
            for r in 0..<n {
                let p = start + r % t
                let cs = cosTable.baseAddress! + p * half, sn = sinTable.baseAddress! + p * half
                for block in 0..<blocks {
                    for head in 0..<h {
                        let v = x + r * ld + block * c + head * dk
                        for i in 0..<half {
                            let a = v[2 * i], b = v[2 * i + 1]
                            let s = sign * sn[i]
                            v[2 * i] = a * cs[i] - b * s
                            v[2 * i + 1] = a * s + b * cs[i]
                        }
                    }
                }
            }
        }
    }
}
