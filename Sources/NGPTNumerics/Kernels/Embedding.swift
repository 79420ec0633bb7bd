/// out (N, C) = wte[tokens]: row r is the embedding of token `tokens[r]`.
package func embeddingForward(_ out: FloatPointer, _ tokens: UnsafePointer<Int32>, _ wte: ConstFloatPointer,
                      rows n: Int, width c: Int) {
    for r in 0..<n {
        (out + r * c).update(from: wte + Int(tokens[r]) * c, count: c)
    }
}

/// Backward of `out = wte[tokens]`: dwte[tokens[r]] += dout[r]. Runs in parallel over blocks of
/// columns, each adding rows in order (two rows may hit the same token).
package func embeddingBackward(_ dwte: FloatPointer, _ dout: ConstFloatPointer, _ tokens: UnsafePointer<Int32>,
                       rows n: Int, width c: Int) {
    Threads.parallelRanges(c, minimum: max(16, 8192 / max(1, n)), alignment: 16) { columns in
        let (j0, w) = (columns.lowerBound, columns.count)
        for r in 0..<n {
            let d = dwte + Int(tokens[r]) * c + j0, g = dout + r * c + j0
            @inline(__always) func lanes(_ j: Int, _ k: Int) {
                store(load(d + j, k) + load(g + j, k), d + j, k)
            }
            vectorLoop(w, lanes)
        }
    }
}
