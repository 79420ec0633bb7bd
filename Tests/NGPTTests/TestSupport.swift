import Foundation
import NGPT
import XCTest

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

    /// Largest `|self[i, j] − other[i, j]|`; NaN if any difference is NaN.
    func maxAbsDifference(_ other: DoubleMatrix) -> Double {
        precondition(rows == other.rows && columns == other.columns, "shapes differ")
        return maxAbsError(elements, other.elements)
    }
}

/// Largest `|a[i] − b[i]|` in Double; NaN if any difference is NaN (`max` and `Array.max()`
/// drop NaN, so a NaN result would otherwise compare as a small error).
func maxAbsError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
    precondition(a.count == b.count, "sizes \(a.count) and \(b.count) differ")
    var m = 0.0
    for (x, y) in zip(a, b) {
        let d = abs(Double(x) - Double(y))
        if d.isNaN { return .nan }
        m = max(m, d)
    }
    return m
}

/// A failure to find what a test needs.
struct TestSetupError: Error, CustomStringConvertible {
    var description: String
}

/// The built `ngpt` binary next to the test bundle (`swift test` builds it with the tests).
func ngptBinary() throws -> URL {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for dir in [bundle.deletingLastPathComponent(), bundle.deletingLastPathComponent().deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("ngpt")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw TestSetupError(description: "the ngpt binary is not beside \(bundle.path); run `swift build` before the tests")
}

/// Runs `binary` with `arguments` and returns its exit status and output.
func runProcess(_ binary: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory(_ label: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ngpt-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// A small byte-level dataset of seeded pseudo-English in `dir/data` (about `bytes` bytes).
func makeTextDataset(in dir: URL, bytes: Int = 30_000, seed: UInt64 = 5) throws -> URL {
    var rng = SeededGenerator(seed: seed)
    let words = ["the", "and", "of", "light", "earth", "water", "said", "unto", "them", "was", "day", "night", "god", "made"]
    var text = ""
    while text.utf8.count < bytes {
        text += words[Int(rng.next() % UInt64(words.count))]
        text += rng.next() % 9 == 0 ? ".\n" : " "
    }
    let source = dir.appendingPathComponent("text.txt")
    try Data(text.utf8).write(to: source)
    let data = dir.appendingPathComponent("data")
    try DatasetPreparation.prepareBytes(files: [source], outputDirectory: data)
    return data
}

/// A test case that runs the `ngpt` binary on a small dataset in a fresh temporary directory.
class CommandTestCase: XCTestCase {
    var dir: URL!
    var binary: URL!
    var data: URL!
    /// Bytes of text in the dataset.
    var datasetBytes: Int { 30_000 }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(String(describing: type(of: self)))
        binary = try ngptBinary()
        data = try makeTextDataset(in: dir, bytes: datasetBytes)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }
}
