import NGPT

// Helpers shared by the test files. Every random input comes from a `SeededGenerator` whose seed
// the calling test names in its failure messages.

/// A tensor of standard-normal samples, rounded to float32.
func gaussianTensor(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(g.nextNormal()) })
}

/// A matrix of standard-normal samples in Double.
func gaussianMatrix(rows: Int, columns: Int, _ g: inout SeededGenerator) -> DoubleMatrix {
    DoubleMatrix(rows: rows, columns: columns, elements: (0..<rows * columns).map { _ in g.nextNormal() })
}

extension DoubleMatrix {
    /// The textbook product `self · other`.
    func times(_ other: DoubleMatrix) -> DoubleMatrix {
        precondition(columns == other.rows, "\(rows)×\(columns) · \(other.rows)×\(other.columns)")
        var c = DoubleMatrix(rows: rows, columns: other.columns,
                             elements: [Double](repeating: 0, count: rows * other.columns))
        for i in 0..<rows {
            for j in 0..<other.columns {
                var s = 0.0
                for p in 0..<columns { s += self[i, p] * other[p, j] }
                c[i, j] = s
            }
        }
        return c
    }

    var transposed: DoubleMatrix {
        var t = DoubleMatrix(rows: columns, columns: rows, elements: elements)
        for i in 0..<rows { for j in 0..<columns { t[j, i] = self[i, j] } }
        return t
    }

    static func diagonal(_ d: [Double]) -> DoubleMatrix {
        var m = DoubleMatrix(rows: d.count, columns: d.count,
                             elements: [Double](repeating: 0, count: d.count * d.count))
        for (i, x) in d.enumerated() { m[i, i] = x }
        return m
    }

    /// Largest `|self[i, j] − other[i, j]|`.
    func maxAbsDifference(_ other: DoubleMatrix) -> Double {
        precondition(rows == other.rows && columns == other.columns, "shapes differ")
        return zip(elements, other.elements).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}
