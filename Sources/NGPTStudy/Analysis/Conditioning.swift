import Foundation
import NGPTNumerics
import NGPTModels

/// Why an inspection could not be computed: a bad head split, a tensor that is not a matrix, a
/// checkpoint whose shape cannot be inferred. The message says what to change.
public struct InspectionError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// Which axis of a matrix is cut into equal per-head blocks (docs/model.md §9).
///
/// `query`, `key` and `value` are `(d, d)` with head `h` in rows `h·dk..<(h+1)·dk` (a dk×d
/// block); `att_c_proj` is `(d, d)` with head `h` in columns `h·dk..<(h+1)·dk` (a d×dk block).
public enum HeadAxis: String, Codable, Sendable, CaseIterable {
    /// `H` blocks of consecutive rows.
    case rows
    /// `H` blocks of consecutive columns.
    case columns = "cols"
}

/// The extreme singular values and the 2-norm condition number of one matrix or block.
///
/// Singular values come from LAPACK `dgesdd` in Double (``/NGPTNumerics/LinearAlgebra``).
/// `cond = sigmaMax / sigmaMin`, or `+infinity` when the block is rank-deficient
/// (`sigmaMin ≤ max(rows, columns)·ε·sigmaMax`, see
/// ``/NGPTNumerics/LinearAlgebra/conditionNumber(singularValues:rows:columns:)``). In JSON an infinite
/// `cond` is the string `"inf"` (see ``InspectionJSON``).
public struct SingularValueSummary: Codable, Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    /// σmax, the largest singular value.
    public var sigmaMax: Double
    /// σmin, the smallest of the `min(rows, columns)` singular values.
    public var sigmaMin: Double
    /// σmax/σmin, `+infinity` when rank-deficient.
    public var cond: Double

    public init(rows: Int, columns: Int, sigmaMax: Double, sigmaMin: Double, cond: Double) {
        self.rows = rows
        self.columns = columns
        self.sigmaMax = sigmaMax
        self.sigmaMin = sigmaMin
        self.cond = cond
    }

    /// The singular values of `m` by `dgesdd`, summarised.
    public init(_ m: DoubleMatrix) throws {
        let s = try LinearAlgebra.singularValues(m)
        self.init(rows: m.rows, columns: m.columns, sigmaMax: s.first ?? 0, sigmaMin: s.last ?? 0,
                  cond: LinearAlgebra.conditionNumber(singularValues: s, rows: m.rows, columns: m.columns))
    }

    enum CodingKeys: String, CodingKey {
        case rows, columns, sigmaMax = "sigma_max", sigmaMin = "sigma_min", cond
    }
}

extension DoubleMatrix {
    /// Rows `range`, copied.
    public func rowBlock(_ range: Range<Int>) -> DoubleMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of \(rows)")
        return DoubleMatrix(rows: range.count, columns: columns,
                            elements: Array(elements[range.lowerBound * columns..<range.upperBound * columns]))
    }

    /// Columns `range`, copied.
    public func columnBlock(_ range: Range<Int>) -> DoubleMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= columns, "columns \(range) of \(columns)")
        var out = [Double]()
        out.reserveCapacity(rows * range.count)
        for i in 0..<rows { out += elements[i * columns + range.lowerBound..<i * columns + range.upperBound] }
        return DoubleMatrix(rows: rows, columns: range.count, elements: out)
    }

    /// Every row (`alongRows`) or every column divided by its 2-norm plus 1e-12, as docs/model.md §6
    /// normalises nGPT's matrices; a zero vector stays zero.
    public func normalizingVectors(alongRows: Bool) -> DoubleMatrix {
        var out = self
        if alongRows {
            for i in 0..<rows {
                var ss = 0.0
                for j in 0..<columns { ss += self[i, j] * self[i, j] }
                let r = 1 / (ss.squareRoot() + 1e-12)
                for j in 0..<columns { out[i, j] *= r }
            }
        } else {
            var ss = [Double](repeating: 0, count: columns)
            for i in 0..<rows { for j in 0..<columns { ss[j] += self[i, j] * self[i, j] } }
            let r = ss.map { 1 / ($0.squareRoot() + 1e-12) }
            for i in 0..<rows { for j in 0..<columns { out[i, j] *= r[j] } }
        }
        return out
    }

    /// The 2-norm of every row.
    public var rowNorms: [Double] {
        (0..<rows).map { i in
            var ss = 0.0
            for j in 0..<columns { ss += self[i, j] * self[i, j] }
            return ss.squareRoot()
        }
    }
}

extension LinearAlgebra {
    /// `m` cut into `heads` equal blocks along `axis`: block `h` is rows (or columns)
    /// `h·k..<(h+1)·k` with `k = rows/heads` (or `columns/heads`).
    ///
    /// - Throws: ``InspectionError`` when `heads < 1` or `heads` does not divide that axis.
    public static func headBlocks(_ m: DoubleMatrix, heads: Int, axis: HeadAxis) throws -> [DoubleMatrix] {
        let length = axis == .rows ? m.rows : m.columns
        guard heads >= 1, length % heads == 0 else {
            throw InspectionError("\(heads) heads do not divide the \(length) \(axis == .rows ? "rows" : "columns") of a \(m.rows)×\(m.columns) matrix; choose a head count that divides \(length), or the other axis")
        }
        let k = length / heads
        return (0..<heads).map { h in
            axis == .rows ? m.rowBlock(h * k..<(h + 1) * k) : m.columnBlock(h * k..<(h + 1) * k)
        }
    }

    /// Extreme singular values and condition number of each of `heads` blocks of `m` along
    /// `axis` (see ``headBlocks(_:heads:axis:)``), head 0 first.
    public static func headSummaries(_ m: DoubleMatrix, heads: Int, axis: HeadAxis) throws -> [SingularValueSummary] {
        try headBlocks(m, heads: heads, axis: axis).map { try SingularValueSummary($0) }
    }
}

/// Order statistics, mean and standard deviation of a list of numbers.
///
/// Quantiles interpolate linearly between order statistics, as numpy's default
/// `np.quantile(x, q)`; the median of an even count is the mean of the middle two. Infinite
/// values sort last (a quantile between a finite and an infinite value is infinite); the mean
/// and the population standard deviation are then infinite or NaN. An empty list gives NaN.
public struct DistributionSummary: Codable, Sendable, Equatable {
    public var count: Int
    public var minimum: Double
    public var lowerQuartile: Double
    public var median: Double
    public var upperQuartile: Double
    public var maximum: Double
    public var mean: Double
    public var standardDeviation: Double

    public init<C: Collection>(_ values: C) where C.Element == Double {
        self.init(sorted: values.sorted())
    }

    /// The summary of values already sorted ascending.
    public init(sorted v: [Double]) {
        count = v.count
        minimum = v.first ?? .nan
        maximum = v.last ?? .nan
        lowerQuartile = Self.quantile(sorted: v, 0.25)
        median = Self.quantile(sorted: v, 0.5)
        upperQuartile = Self.quantile(sorted: v, 0.75)
        let n = Double(max(v.count, 1))
        mean = v.isEmpty ? .nan : v.reduce(0, +) / n
        let m = mean
        standardDeviation = v.isEmpty ? .nan : (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n).squareRoot()
    }

    /// numpy's linear-interpolation quantile `q ∈ [0, 1]` of values sorted ascending.
    public static func quantile(sorted v: [Double], _ q: Double) -> Double {
        guard !v.isEmpty else { return .nan }
        let position = q * Double(v.count - 1)
        let i = Int(position.rounded(.down)), f = position - Double(i)
        let lo = v[i], hi = v[min(i + 1, v.count - 1)]
        if f == 0 || lo == hi { return lo }
        return lo + (hi - lo) * f
    }

    enum CodingKeys: String, CodingKey {
        case count, minimum = "min", lowerQuartile = "q25", median, upperQuartile = "q75", maximum = "max"
        case mean, standardDeviation = "std"
    }
}

/// The condition number of one 2-D tensor of a safetensors file, or of one head's block of it.
public struct TensorConditioning: Codable, Sendable, Equatable {
    /// The tensor's name in the file.
    public var name: String
    /// The head, or nil for the whole matrix.
    public var head: Int?
    /// The file's dtype for the tensor (`F32`, `F16`, `BF16`, `F64`).
    public var dtype: String
    public var summary: SingularValueSummary

    public init(name: String, head: Int?, dtype: String, summary: SingularValueSummary) {
        self.name = name
        self.head = head
        self.dtype = dtype
        self.summary = summary
    }

    /// The names of the rank-2 floating-point tensors of `file`, in file order.
    public static func matrixNames(in file: SafeTensorsFile) -> [String] {
        file.names.filter { file.entries[$0]!.shape.count == 2 && file.entries[$0]!.dtype.isFloatingPoint }
    }

    /// Condition numbers of tensor `name` of `file`: the whole matrix, or each of `heads` blocks
    /// along `axis`. `F64` tensors are used exactly; `F32`, `F16` and `BF16` are widened to Double.
    ///
    /// - Throws: ``/NGPTNumerics/SafeTensorsError/tensorNotFound(file:name:suggestions:)`` with the closest names;
    ///   ``InspectionError`` when the tensor is not 2-D or not floating point,
    ///   or `heads` does not divide the axis; ``/NGPTNumerics/LinearAlgebraError`` (wrapped with the tensor's
    ///   name in an ``InspectionError``) for NaN/Inf elements.
    /// A name without the `_orig_mod.`/`module.` prefix that every weight of the file carries
    /// (torch.compile, DistributedDataParallel) is found under it.
    public static func compute(file: SafeTensorsFile, name: String, heads: Int? = nil, axis: HeadAxis = .rows) throws -> [TensorConditioning] {
        guard let e = file.entries[name] ?? file.entries[Checkpoint.wrapperPrefix(of: file) + name] else {
            throw SafeTensorsError.tensorNotFound(file: file.source, name: name,
                                                 suggestions: SafeTensorsFile.closeNames(to: name, in: file.names))
        }
        guard e.shape.count == 2, e.dtype.isFloatingPoint else {
            throw InspectionError("\(ErrorText.cut(name)) in \(file.source) is \(e.dtype.rawValue) with shape \(ErrorText.cut("\(e.shape)")); condition numbers need a 2-D floating-point tensor")
        }
        let m = try doubleMatrix(file: file, entry: e)
        do {
            if let heads {
                return try LinearAlgebra.headSummaries(m, heads: heads, axis: axis).enumerated().map {
                    TensorConditioning(name: name, head: $0.offset, dtype: e.dtype.rawValue, summary: $0.element)
                }
            }
            return [TensorConditioning(name: name, head: nil, dtype: e.dtype.rawValue, summary: try SingularValueSummary(m))]
        } catch let error as InspectionError {
            throw InspectionError("\(ErrorText.cut(name)): \(error.message)")
        } catch {
            throw InspectionError("\(ErrorText.cut(name)) in \(file.source): \(error)")
        }
    }

    /// The tensor as a Double matrix: `F64` bit for bit, the rest through ``SafeTensorsFile/tensor(_:)``.
    static func doubleMatrix(file: SafeTensorsFile, entry e: SafeTensorsFile.Entry) throws -> DoubleMatrix {
        let (r, c) = (e.shape[0], e.shape[1])
        guard e.dtype == .f64 else { return DoubleMatrix(try file.tensor(e.name)) }
        let bytes = try file.bytes(e.name)
        let values: [Double] = bytes.withUnsafeBytes { raw in
            (0..<r * c).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
        return DoubleMatrix(rows: r, columns: c, elements: values)
    }

    enum CodingKeys: String, CodingKey {
        case name, head, dtype, rows, columns, sigmaMax = "sigma_max", sigmaMin = "sigma_min", cond
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        head = try c.decodeIfPresent(Int.self, forKey: .head)
        dtype = try c.decode(String.self, forKey: .dtype)
        summary = SingularValueSummary(
            rows: try c.decode(Int.self, forKey: .rows), columns: try c.decode(Int.self, forKey: .columns),
            sigmaMax: try c.decode(Double.self, forKey: .sigmaMax), sigmaMin: try c.decode(Double.self, forKey: .sigmaMin),
            cond: try c.decode(Double.self, forKey: .cond))
    }

    /// Flat: `name`, `head` (null for the whole matrix), `dtype`, `rows`, `columns`,
    /// `sigma_max`, `sigma_min`, `cond`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(head, forKey: .head)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(summary.rows, forKey: .rows)
        try c.encode(summary.columns, forKey: .columns)
        try c.encode(summary.sigmaMax, forKey: .sigmaMax)
        try c.encode(summary.sigmaMin, forKey: .sigmaMin)
        try c.encode(summary.cond, forKey: .cond)
    }
}

/// JSON for inspection results. JSON has no infinity: `+infinity` is written as the string
/// `"inf"` (and `-infinity`, NaN as `"-inf"`, `"nan"`) wherever a number is expected, which
/// Python's `float(x)` reads back for numbers and these strings alike.
public enum InspectionJSON {
    public static let infinity = "inf"

    /// Pretty-printed, keys sorted, non-finite numbers as strings.
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: infinity, negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// Reads what ``encoder()`` writes.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: infinity, negativeInfinity: "-inf", nan: "nan")
        return d
    }
}
