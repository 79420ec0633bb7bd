/// out (N, C) = wte[tokens]: row r is the embedding of token `tokens[r]`.
func embeddingForward(_ out: FloatPointer, _ tokens: UnsafePointer<Int32>, _ wte: ConstFloatPointer,
                      rows n: Int, width c: Int) {
    for r in 0..<n {
        (out + r * c).update(from: wte + Int(tokens[r]) * c, count: c)
    }
}

/// Backward of `out = wte[tokens]`: dwte[tokens[r]] += dout[r].
func embeddingBackward(_ dwte: FloatPointer, _ dout: ConstFloatPointer, _ tokens: UnsafePointer<Int32>,
                       rows n: Int, width c: Int) {
    for r in 0..<n {
        let d = dwte + Int(tokens[r]) * c, g = dout + r * c
        for j in 0..<c { d[j] += g[j] }
    }
}
