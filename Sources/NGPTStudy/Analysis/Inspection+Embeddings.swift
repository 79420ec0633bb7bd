import Foundation
import NGPTNumerics
import NGPTModels

/// Counts of values in equal bins over `[lower, upper]`; values outside are counted in the end
/// bins (cosines can exceed ±1 by round-off).
public struct Histogram: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var counts: [Int]

    public init(lower: Double, upper: Double, bins: Int) {
        precondition(bins >= 1 && upper > lower, "a histogram needs bins ≥ 1 and upper > lower")
        self.lower = lower
        self.upper = upper
        counts = [Int](repeating: 0, count: bins)
    }

    public var binWidth: Double { (upper - lower) / Double(counts.count) }
    public var total: Int { counts.reduce(0, +) }

    /// Counts `x` (NaN is ignored).
    public mutating func add(_ x: Double) {
        guard !x.isNaN else { return }
        let i = Int(((x - lower) / binWidth).rounded(.down))
        counts[min(max(i, 0), counts.count - 1)] += 1
    }
}

/// The distribution of cosine similarities between distinct rows of an embedding.
public struct CosineSimilarities: Codable, Sendable, Equatable {
    /// Pairs that entered the distribution.
    public var pairs: Int
    /// True when every unordered pair of distinct non-zero rows was used; false for a sample.
    public var allPairs: Bool
    /// The seed of the sample (nil for all pairs).
    public var seed: UInt64?
    /// Rows of zero norm, whose cosines are undefined and which were left out.
    public var zeroRows: Int
    public var summary: DistributionSummary
    /// Over [−1, 1].
    public var histogram: Histogram

    enum CodingKeys: String, CodingKey {
        case pairs, allPairs = "all_pairs", seed, zeroRows = "zero_rows", summary, histogram
    }
}

/// The geometry of one embedding matrix (`wte` or `lm_head`, V×d), docs/model.md §9 and the paper's
/// embedding figures.
public struct EmbeddingStatistics: Codable, Sendable, Equatable {
    public var name: String
    /// V
    public var rows: Int
    /// d
    public var columns: Int
    /// The 2-norm of every row, sorted ascending.
    public var sortedNorms: [Double]
    public var norms: DistributionSummary
    /// Eigenvalues of the d×d covariance of the rows, `Σ = (X − x̄)ᵀ(X − x̄) / (V − 1)` (rows
    /// centred, as `numpy.cov(X, rowvar=False)`), by LAPACK `dsyevd`, sorted descending.
    public var covarianceEigenvalues: [Double]
    /// The median of ``covarianceEigenvalues``.
    public var eigenvalueMedian: Double
    /// ``covarianceEigenvalues`` divided by ``eigenvalueMedian`` (descending); empty when the
    /// median is not positive (fewer rows than columns: the covariance is singular).
    public var normalizedEigenvalues: [Double]
    /// Cosine similarities of pairs of distinct rows.
    public var cosine: CosineSimilarities

    /// Computes the statistics of a V×d matrix.
    ///
    /// The covariance eigenvalues need V ≥ 2. Cosines are dot products of the rows normalised in
    /// Double and rounded to float32, by GEMM (all pairs) or in Double (a sample): good to ~1e-7,
    /// far below a histogram bin.
    public init(name: String, matrix: Tensor, options: InspectionOptions = InspectionOptions()) throws {
        try options.validate()
        guard matrix.rank == 2, matrix.rows >= 2, matrix.columns >= 1 else {
            throw InspectionError("\(name) has shape \(matrix.shape); embedding statistics need a V×d matrix with V ≥ 2")
        }
        let x = DoubleMatrix(matrix)
        if let i = x.elements.firstIndex(where: { !$0.isFinite }) {
            throw InspectionError("\(name): \(LinearAlgebraError.nonFinite(row: i / x.columns, column: i % x.columns, value: x.elements[i]))")
        }
        self.name = name
        rows = x.rows
        columns = x.columns
        let norms = x.rowNorms
        sortedNorms = norms.sorted()
        self.norms = DistributionSummary(sorted: sortedNorms)

        // Covariance of the centred rows, eigenvalues descending.
        var centred = x
        for j in 0..<x.columns {
            var mean = 0.0
            for i in 0..<x.rows { mean += x[i, j] }
            mean /= Double(x.rows)
            for i in 0..<x.rows { centred[i, j] -= mean }
        }
        var cov = LinearAlgebra.gramMatrix(centred)
        for k in cov.elements.indices { cov.elements[k] /= Double(x.rows - 1) }
        do {
            covarianceEigenvalues = try LinearAlgebra.symmetricEigenvalues(cov).reversed()
        } catch {
            throw InspectionError("\(name): covariance eigenvalues: \(error)")
        }
        eigenvalueMedian = DistributionSummary.quantile(sorted: covarianceEigenvalues.reversed(), 0.5)
        let median = eigenvalueMedian
        normalizedEigenvalues = median > 0 ? covarianceEigenvalues.map { $0 / median } : []

        cosine = Self.cosines(x, norms: norms, options: options)
    }

    /// Cosines of all pairs of distinct non-zero rows (V ≤ limit), or of a seeded sample.
    static func cosines(_ x: DoubleMatrix, norms: [Double], options: InspectionOptions) -> CosineSimilarities {
        let live = norms.indices.filter { norms[$0] > 0 }
        let (n, d) = (live.count, x.columns)
        var unit = DoubleMatrix(rows: n, columns: d, elements: [Double](repeating: 0, count: n * d))
        for (r, i) in live.enumerated() { for j in 0..<d { unit[r, j] = x[i, j] / norms[i] } }
        var histogram = Histogram(lower: -1, upper: 1, bins: options.histogramBins)
        var values = [Double]()
        let all = x.rows <= options.allPairsLimit
        if n < 2 {
            // nothing to compare
        } else if all {
            values.reserveCapacity(n * (n - 1) / 2)
            let u = Tensor(shape: [n, d], scalars: unit.elements.map(Float.init))
            let chunk = max(1, min(n, 1 << 22 / max(n, 1)))
            var block = Tensor(shape: [chunk, n])
            for start in stride(from: 0, to: n, by: chunk) {
                let m = min(chunk, n - start)
                GEMM.multiply(u, MatrixLayout(rows: m, columns: d, offset: start * d), .none,
                              u, MatrixLayout(u), .transposed, into: &block, MatrixLayout(rows: m, columns: n))
                block.withUnsafeBufferPointer { c in
                    for a in 0..<m {
                        for b in (start + a + 1)..<n { values.append(Double(c[a * n + b])) }
                    }
                }
            }
        } else {
            var rng = SeededGenerator(seed: options.seed)
            values.reserveCapacity(options.sampledPairs)
            for _ in 0..<options.sampledPairs {
                let a = Int(uniform(below: UInt64(n), using: &rng))
                var b = a
                while b == a { b = Int(uniform(below: UInt64(n), using: &rng)) }
                var dot = 0.0
                for j in 0..<d { dot += unit[a, j] * unit[b, j] }
                values.append(dot)
            }
        }
        for v in values { histogram.add(v) }
        values.sort()
        return CosineSimilarities(pairs: values.count, allPairs: all, seed: all ? nil : options.seed,
                                  zeroRows: x.rows - n, summary: DistributionSummary(sorted: values),
                                  histogram: histogram)
    }

    enum CodingKeys: String, CodingKey {
        case name, rows, columns, sortedNorms = "sorted_norms", norms
        case covarianceEigenvalues = "covariance_eigenvalues", eigenvalueMedian = "eigenvalue_median"
        case normalizedEigenvalues = "normalized_eigenvalues", cosine
    }
}
