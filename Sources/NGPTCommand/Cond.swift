import ArgumentParser
import Foundation
import NGPT

extension HeadAxis: ExpressibleByArgument {}

struct Cond: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Condition numbers and extreme singular values of the 2-D tensors of any safetensors file.",
        discussion: """
        Every 2-D floating-point tensor (F32, F16, BF16, F64) of FILE, or those named by --tensor, \
        by LAPACK dgesdd in Double. With --heads H each tensor is cut into H equal blocks: \
        --axis rows (default; query/key/value: head h is rows h·dk..<(h+1)·dk) or --axis cols \
        (att_c_proj: head h is columns h·dk..<(h+1)·dk). A rank-deficient block has cond inf. \
        --json prints an array of objects with name, head (null for a whole matrix), dtype, rows, \
        columns, sigma_max, sigma_min and cond; an infinite cond is the string "inf".
        """)

    @Argument(help: "A safetensors file (from ngpt, PyTorch, numpy, …).") var file: String
    @Option(name: .customLong("tensor"), help: "A tensor to analyse (repeatable; default: every 2-D floating-point tensor).")
    var tensors: [String] = []
    @Option(help: "Cut each tensor into this many equal blocks along --axis.") var heads: Int?
    @Option(help: "rows or cols: the axis the heads are cut along.") var axis: HeadAxis = .rows
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        if let heads, heads < 1 { throw ValidationError("--heads must be at least 1, got \(heads)") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw InspectionError("\(file) does not exist; give a .safetensors file")
        }
        let st = try SafeTensorsFile(contentsOf: url)
        var names = tensors
        if names.isEmpty {
            names = TensorConditioning.matrixNames(in: st)
            let skipped = st.names.filter { !names.contains($0) }
            guard !names.isEmpty else {
                throw InspectionError("\(file) has no 2-D floating-point tensor (it holds \(st.names.count) tensor(s)); nothing to analyse")
            }
            if !skipped.isEmpty { printError("skipped \(skipped.count) tensor(s) that are not 2-D floating point: \(ErrorText.list(skipped))") }
        }
        let results = try names.flatMap { try TensorConditioning.compute(file: st, name: $0, heads: heads, axis: axis) }
        if json {
            let encoder = InspectionJSON.encoder()
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
            return
        }
        var table = [["tensor", "head", "dtype", "shape", "sigma_max", "sigma_min", "cond"]]
        for r in results {
            let s = r.summary
            table.append([r.name, r.head.map(String.init) ?? "-", r.dtype, "\(s.rows)×\(s.columns)",
                          String(format: "%.6g", s.sigmaMax), String(format: "%.6g", s.sigmaMin),
                          s.cond == .infinity ? "inf" : String(format: "%.6g", s.cond)])
        }
        let widths = (0..<table[0].count).map { j in table.map { $0[j].count }.max()! }
        for row in table {
            print(row.enumerated().map { j, cell in
                let pad = String(repeating: " ", count: widths[j] - cell.count)
                return j == 0 ? cell + pad : pad + cell
            }.joined(separator: "  "))
        }
    }
}
