import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import NGPTNumerics
@testable import NGPTModels
@testable import NGPTStudy

// Parameter inspection (docs/model.md §9): condition numbers and their head slicing against numpy and
// against matrices built with known singular values; embedding, scaler and renormalisation
// invariants; configuration inference for files written outside ngpt; the report's figures;
// and `ngpt cond` / `ngpt inspect` run as processes on files written by the `safetensors`
// library (Tests/NGPTTests/InspectionFixtures, made by scripts/make-inspection-fixtures.py).

final class InspectionTests: XCTestCase {
    static var fixtures: URL {
        get throws { try XCTUnwrap(Bundle.module.url(forResource: "InspectionFixtures", withExtension: nil)) }
    }
    static var matricesFile: URL { get throws { try fixtures.appendingPathComponent("pytorch_matrices.safetensors") } }
    static var ngptFile: URL { get throws { try fixtures.appendingPathComponent("pytorch_ngpt_d8_h2_l1_v16.safetensors") } }

    /// `|got − want| ≤ tolerance·|want|` for every element.
    private func assertRelative(_ got: [Double], _ want: [Double], _ tolerance: Double, _ context: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, "\(context): count", file: file, line: line)
        for (i, (g, w)) in zip(got, want).enumerated() {
            XCTAssertTrue(abs(g - w) <= tolerance * abs(w), "\(context)[\(i)]: got \(g), want \(w) (relative tolerance \(tolerance))",
                          file: file, line: line)
        }
    }

    /// U·diag(s)·Vᵀ with U (m×k) and V (n×k) orthonormal, k = s.count: its singular values are s.
    private func matrix(rows m: Int, columns n: Int, singularValues s: [Double], _ g: inout SeededGenerator) throws -> DoubleMatrix {
        let u = try LinearAlgebra.orthonormalFactor(gaussianMatrix(rows: m, columns: s.count, &g))
        let v = try LinearAlgebra.orthonormalFactor(gaussianMatrix(rows: n, columns: s.count, &g))
        return u.times(.diagonal(s)).times(v.transposed)
    }

    // MARK: Condition numbers and head slicing

    func testSingularValuesAndHeadBlocksAgainstNumpy() throws {
        // The 6×4 matrix "a" of pytorch_matrices.safetensors.
        let a = DoubleMatrix(rows: 6, columns: 4, elements: [4, 1, 0, 2, 1, 3, 1, 0, 0, 1, 5, 1, 2, 0, 1, 6, 1, 2, 3, 4, 0.5, -1, 2, -3])
        // python3 -c 'import numpy as np;
        //   a = np.array([[4,1,0,2],[1,3,1,0],[0,1,5,1],[2,0,1,6],[1,2,3,4],[0.5,-1,2,-3]]);
        //   print(repr(np.linalg.svd(a, compute_uv=False)), repr(np.linalg.cond(a)));
        //   print([np.linalg.cond(a[0:3]), np.linalg.cond(a[3:6])]);          # 2 heads of rows
        //   print([np.linalg.cond(a[:, 0:2]), np.linalg.cond(a[:, 2:4])])'    # 2 heads of columns
        // array([9.41458688, 5.753161  , 3.74078859, 2.91945084]) 3.2247800683395806
        // [2.411312090853542, 4.359779127172868]
        // [1.6729859138285463, 1.5344476494149872]
        let whole = try SingularValueSummary(a)
        XCTAssertEqual(whole.sigmaMax, 9.414586875346235, accuracy: 9.41 * 1e-13)
        XCTAssertEqual(whole.sigmaMin, 2.9194508387648734, accuracy: 2.92 * 1e-13)
        XCTAssertEqual(whole.cond, 3.2247800683395806, accuracy: 3.22 * 1e-12)
        XCTAssertEqual([whole.rows, whole.columns], [6, 4])
        let rows = try LinearAlgebra.headSummaries(a, heads: 2, axis: .rows)
        assertRelative(rows.map(\.cond), [2.411312090853542, 4.359779127172868], 1e-12, "row heads")
        XCTAssertEqual(rows.map(\.rows), [3, 3])
        let columns = try LinearAlgebra.headSummaries(a, heads: 2, axis: .columns)
        assertRelative(columns.map(\.cond), [1.6729859138285463, 1.5344476494149872], 1e-12, "column heads")
        XCTAssertEqual(columns.map(\.columns), [2, 2])
    }

    func testHeadSlicingOnMatrixWithKnownPerHeadConditionNumbers() throws {
        // Three 4×12 blocks stacked into a 12×12 matrix, block h built with singular values
        // s_h, so cond(block h) = max(s_h)/min(s_h) = 2, 50, 1000 by construction; any other
        // slicing (wrong axis, wrong width, wrong order) gives other numbers.
        let seed: UInt64 = 4242
        var g = SeededGenerator(seed: seed)
        let s: [[Double]] = [[2, 1.5, 1.2, 1], [5, 0.4, 3, 0.1], [0.8, 1e-3, 0.05, 1]]
        let want = [2.0, 50, 1000]
        var elements = [Double]()
        for sh in s { elements += try matrix(rows: 4, columns: 12, singularValues: sh, &g).elements }
        let stacked = DoubleMatrix(rows: 12, columns: 12, elements: elements)

        let byRows = try LinearAlgebra.headSummaries(stacked, heads: 3, axis: .rows)
        assertRelative(byRows.map(\.cond), want, 1e-10, "seed \(seed): row blocks")
        assertRelative(byRows.map(\.sigmaMax), s.map { $0.max()! }, 1e-12, "seed \(seed): row-block σmax")
        assertRelative(byRows.map(\.sigmaMin), s.map { $0.min()! }, 1e-9, "seed \(seed): row-block σmin")
        let byColumns = try LinearAlgebra.headSummaries(stacked.transposed, heads: 3, axis: .columns)
        assertRelative(byColumns.map(\.cond), want, 1e-10, "seed \(seed): column blocks of the transpose")

        // The model slices query/key/value by rows and att_c_proj by columns (docs/model.md §9).
        let config = ModelConfig(kind: .gpt, vocabularySize: 16, width: 12, heads: 3, layers: 1, context: 8)
        let model = try Transformer(config: config, seed: 1)
        let asTensor = { (m: DoubleMatrix) in Tensor(shape: [m.rows, m.columns], scalars: m.elements.map(Float.init)) }
        model.parameters.set("transformer.h.0.key.weight", asTensor(stacked))
        model.parameters.set("transformer.h.0.att_c_proj.weight", asTensor(stacked.transposed))
        let cn = try model.conditionNumbers()
        assertRelative(cn[.key][0].blocks.map(\.cond), want, 1e-4, "seed \(seed): key heads (float32 storage)")
        assertRelative(cn[.attentionOutput][0].blocks.map(\.cond), want, 1e-4, "seed \(seed): att_c_proj heads (float32 storage)")
        XCTAssertEqual(cn[.key][0].cond.median, cn[.key][0].blocks[1].cond, "median of three heads is the middle one")
        XCTAssertEqual(cn[.key][0].cond.minimum, cn[.key][0].blocks[0].cond)
        XCTAssertEqual(cn[.key][0].cond.maximum, cn[.key][0].blocks[2].cond)
    }

    func testModelBlocksAreTheSpecSlices() throws {
        // Every kind of every layer against a direct slice of the named tensor.
        let seed: UInt64 = 11
        let config = ModelConfig(kind: .gpt, vocabularySize: 32, width: 16, heads: 4, layers: 2, context: 8)
        let model = try Transformer(config: config, seed: seed)
        let cn = try model.conditionNumbers()
        let (d, dk) = (16, 4)
        for l in 0..<2 {
            let p = "transformer.h.\(l)."
            let t = { model.parameters.tensor(p + $0)! }
            for (kind, name) in [(MatrixKind.query, "query.weight"), (.key, "key.weight"), (.value, "value.weight")] {
                let want = try (0..<4).map { try LinearAlgebra.conditionNumber(t(name).rows($0 * dk..<($0 + 1) * dk)) }
                assertRelative(cn[kind][l].blocks.map(\.cond), want, 1e-12, "seed \(seed) layer \(l) \(kind)")
            }
            let o = try (0..<4).map { try LinearAlgebra.conditionNumber(t("att_c_proj.weight").columns($0 * dk..<($0 + 1) * dk)) }
            assertRelative(cn[.attentionOutput][l].blocks.map(\.cond), o, 1e-12, "seed \(seed) layer \(l) att_c_proj")
            assertRelative(cn[.mlpU][l].blocks.map(\.cond), [try LinearAlgebra.conditionNumber(t("c_fc.weight").rows(0..<4 * d))], 1e-12, "W_u")
            assertRelative(cn[.mlpNu][l].blocks.map(\.cond), [try LinearAlgebra.conditionNumber(t("c_fc.weight").rows(4 * d..<8 * d))], 1e-12, "W_ν")
            assertRelative(cn[.mlpOutput][l].blocks.map(\.cond), [try LinearAlgebra.conditionNumber(t("mlp_c_proj.weight"))], 1e-12, "mlp_c_proj")
            XCTAssertEqual(cn[.mlpU][l].blocks[0].rows, 4 * d)
            XCTAssertEqual(cn[.mlpOutput][l].blocks[0].columns, 4 * d)
        }
    }

    func testHeadCountMustDivideTheAxis() throws {
        let m = DoubleMatrix(rows: 6, columns: 4, elements: (0..<24).map(Double.init))
        XCTAssertThrowsError(try LinearAlgebra.headBlocks(m, heads: 4, axis: .rows)) { error in
            XCTAssertTrue("\(error)".contains("4 heads do not divide the 6 rows"), "\(error)")
        }
        XCTAssertThrowsError(try LinearAlgebra.headBlocks(m, heads: 0, axis: .columns))
        XCTAssertEqual(try LinearAlgebra.headBlocks(m, heads: 4, axis: .columns).map(\.columns), [1, 1, 1, 1])
    }

    func testRankDeficientBlockIsInfiniteAndWrittenAsInf() throws {
        // Head 1 (rows 2..<4) repeats one row: rank 1, so its condition number is +∞; head 0 is fine.
        let m = DoubleMatrix(rows: 4, columns: 3, elements: [1, 0, 0, 0, 2, 0, 1, 2, 3, 1, 2, 3])
        let heads = try LinearAlgebra.headSummaries(m, heads: 2, axis: .rows)
        XCTAssertEqual(heads[0].cond, 2, accuracy: 1e-14)
        XCTAssertEqual(heads[1].cond, .infinity)
        let summary = DistributionSummary(heads.map(\.cond))
        XCTAssertEqual(summary.median, .infinity, "the median of 2 and ∞ is ∞")
        XCTAssertEqual(summary.minimum, 2)
        let json = String(decoding: try InspectionJSON.encoder().encode(heads), as: UTF8.self)
        XCTAssertTrue(json.contains("\"cond\" : \"inf\""), json)
        let back = try InspectionJSON.decoder().decode([SingularValueSummary].self, from: Data(json.utf8))
        XCTAssertEqual(back, heads)
    }

    func testDistributionSummaryAgainstNumpy() {
        // python3 -c 'import numpy as np; x = np.array([3., 1, 4, 1, 5, 9, 2, 6]);
        //   print(np.quantile(x, [0.25, 0.5, 0.75]), x.mean(), x.std())'
        // [1.75 3.5  5.25] 3.875 2.5708704751503917
        let s = DistributionSummary([3, 1, 4, 1, 5, 9, 2, 6])
        XCTAssertEqual([s.lowerQuartile, s.median, s.upperQuartile], [1.75, 3.5, 5.25])
        XCTAssertEqual(s.mean, 3.875)
        XCTAssertEqual(s.standardDeviation, 2.5708704751503917, accuracy: 1e-15)
        XCTAssertEqual([s.minimum, s.maximum], [1, 9])
        XCTAssertEqual(s.count, 8)
        XCTAssertTrue(DistributionSummary([Double]()).median.isNaN)
    }

    // MARK: Model statistics

    func testFreshNGPTEmbeddingRowsHaveUnitNorm() throws {
        let seed: UInt64 = 5
        let config = ModelConfig(kind: .ngpt, vocabularySize: 48, width: 16, heads: 2, layers: 1, context: 8)
        let inspection = try ModelInspection(model: try Transformer(config: config, seed: seed), label: "nGPT")
        XCTAssertEqual(inspection.embeddings.map(\.name), ["transformer.wte.weight", "lm_head.weight"])
        for e in inspection.embeddings {
            XCTAssertEqual(e.sortedNorms.count, 48)
            for (i, n) in e.sortedNorms.enumerated() {
                XCTAssertEqual(n, 1, accuracy: 1e-6, "seed \(seed): \(e.name) sorted row \(i) has norm \(n)")
            }
            XCTAssertEqual(e.sortedNorms, e.sortedNorms.sorted(), "\(e.name): norms ascending")
        }
        // A GPT's embeddings are N(0, 0.02): norms near 0.02·√d = 0.08, nowhere near 1.
        let gpt = try ModelInspection(model: try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 48, width: 16, heads: 2, layers: 1, context: 8), seed: seed), label: "GPT")
        XCTAssertLessThan(gpt.embeddings[0].norms.maximum, 0.2, "seed \(seed)")
    }

    func testRenormalisationLeavesNormalisedMatricesUnchanged() throws {
        let seed: UInt64 = 6
        func assertSame(_ a: ConditionNumbers, _ b: ConditionNumbers, _ tolerance: Double, _ context: String) {
            for kind in MatrixKind.allCases {
                for (la, lb) in zip(a[kind], b[kind]) {
                    assertRelative(la.blocks.map(\.cond), lb.blocks.map(\.cond), tolerance, "\(context): \(kind) layer \(la.layer)")
                }
            }
        }
        // An nGPT model is normalised at initialisation: renormalising changes nothing beyond
        // the float32 round-off of its norms.
        let ngpt = try Transformer(config: ModelConfig(kind: .ngpt, vocabularySize: 32, width: 16, heads: 4, layers: 2, context: 8), seed: seed)
        assertSame(try ngpt.conditionNumbers(renormalized: true), try ngpt.conditionNumbers(), 1e-5, "seed \(seed) nGPT")

        // GPT: renormalising in the inspection equals normalising the weights first (docs/model.md §6's
        // axes, by the model's own normalizeMatrices), and then renormalising again is a no-op.
        let config = ModelConfig(kind: .gpt, vocabularySize: 32, width: 16, heads: 4, layers: 2, context: 8)
        let gpt = try Transformer(config: config, seed: seed)
        let renormalized = try gpt.conditionNumbers(renormalized: true)
        let copy = try Transformer(config: config)
        try copy.parameters.load(gpt.parameters.dictionary)
        copy.normalizeMatrices()
        assertSame(renormalized, try copy.conditionNumbers(), 1e-5, "seed \(seed) GPT renormalised vs normalizeMatrices")
        assertSame(try copy.conditionNumbers(renormalized: true), try copy.conditionNumbers(), 1e-5, "seed \(seed) normalised GPT")
        XCTAssertTrue(renormalized.renormalized)
        // …while the raw GPT numbers do differ (the renormalisation is not a no-op).
        let raw = try gpt.conditionNumbers()
        let change = zip(raw[.query][0].blocks, renormalized[.query][0].blocks).map { abs($0.cond - $1.cond) / $1.cond }.max()!
        XCTAssertGreaterThan(change, 1e-3, "seed \(seed): renormalising a GPT query changes its head condition numbers")
    }

    func testScalersAndModelKinds() throws {
        let config = ModelConfig(kind: .ngpt, vocabularySize: 24, width: 16, heads: 2, layers: 3, context: 8)
        let fresh = try ModelInspection(model: try Transformer(config: config, seed: 2), label: "nGPT")
        let scalers = try XCTUnwrap(fresh.scalers)
        XCTAssertEqual(scalers.layerCount, 3)
        XCTAssertEqual(scalers.values.map(\.name), ["alpha_a", "alpha_m", "sqk", "su", "sv"], "the names metrics.jsonl uses")
        // At initialisation every effective value is its s_init (docs/model.md §4): α 0.05, s_qk 1, s_u = s_ν = 1, s_z 1.
        for l in 0..<3 {
            XCTAssertEqual(scalers["alpha_a"]![l], 0.05, accuracy: 1e-7); XCTAssertEqual(scalers["alpha_m"]![l], 0.05, accuracy: 1e-7)
            XCTAssertEqual(scalers["sqk"]![l], 1, accuracy: 1e-6); XCTAssertEqual(scalers["su"]![l], 1); XCTAssertEqual(scalers["sv"]![l], 1)
        }
        XCTAssertEqual(scalers.sortedSz.count, 24)
        XCTAssertEqual(scalers.sz.minimum, 1, accuracy: 1e-6); XCTAssertEqual(scalers.sz.maximum, 1, accuracy: 1e-6)
        XCTAssertNil(fresh.renormalizedConditionNumbers, "nGPT is already normalised")

        // A changed scaler shows in its layer only: stored p, effective |p|·s_init/s_scale.
        let model = try Transformer(config: config, seed: 2)
        model.parameters.set("transformer.h.1.mlp_alpha", Tensor(shape: [16], repeating: -2 / Float(16).squareRoot()))
        let changed = try XCTUnwrap(try ModelInspection(model: model, label: "x").scalers)
        XCTAssertEqual(changed["alpha_m"]![1], 0.1, accuracy: 1e-6, "|−2/√d|·0.05·√d")
        XCTAssertEqual(changed["alpha_m"]![0], 0.05, accuracy: 1e-7)

        let gpt = try ModelInspection(model: try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 24, width: 16, heads: 2, layers: 3, context: 8), seed: 2), label: "GPT")
        XCTAssertNil(gpt.scalers)
        XCTAssertEqual(try XCTUnwrap(gpt.renormalizedConditionNumbers)[.query].count, 3)
    }

    func testEmbeddingStatisticsAgainstNumpy() throws {
        // transformer.wte.weight of the PyTorch-written nGPT fixture (16×8, unit rows).
        let file = try SafeTensorsFile(contentsOf: try Self.ngptFile)
        let e = try EmbeddingStatistics(name: "wte", matrix: try file.tensor("transformer.wte.weight"))
        // python3 -c 'import numpy as np; from safetensors.numpy import load_file;
        //   w = load_file("Tests/NGPTTests/InspectionFixtures/pytorch_ngpt_d8_h2_l1_v16.safetensors")["transformer.wte.weight"].astype(float);
        //   ev = np.sort(np.linalg.eigvalsh(np.cov(w, rowvar=False)))[::-1]; print(repr(ev / np.median(ev)));
        //   u = w / np.linalg.norm(w, axis=1, keepdims=True); c = (u @ u.T)[np.triu_indices(16, 1)];
        //   print(c.mean(), c.std(), c.min(), c.max(), np.median(c), c.size)'
        // array([1.98334866, 1.53247917, 1.22741597, 1.0525319 , 0.9474681 , 0.45527983, 0.33842293, 0.12740478])
        // 0.046137014583112874 0.34478465487231397 -0.8025380079751352 0.8422921298613828 0.060570813313144 120
        assertRelative(e.normalizedEigenvalues, [1.98334866, 1.53247917, 1.22741597, 1.0525319, 0.9474681, 0.45527983, 0.33842293, 0.12740478],
                       1e-7, "normalised covariance eigenvalues")
        XCTAssertEqual(e.cosine.pairs, 120)
        XCTAssertTrue(e.cosine.allPairs)
        XCTAssertEqual(e.cosine.histogram.total, 120)
        // Cosines come from a float32 GEMM: 1e-6 absolute.
        XCTAssertEqual(e.cosine.summary.mean, 0.046137014583112874, accuracy: 1e-6)
        XCTAssertEqual(e.cosine.summary.standardDeviation, 0.34478465487231397, accuracy: 1e-6)
        XCTAssertEqual(e.cosine.summary.minimum, -0.8025380079751352, accuracy: 1e-6)
        XCTAssertEqual(e.cosine.summary.maximum, 0.8422921298613828, accuracy: 1e-6)
        XCTAssertEqual(e.cosine.summary.median, 0.060570813313144, accuracy: 1e-6)
    }

    func testCosinePairsAreSampledBeyondTheLimitWithASeed() throws {
        let seed: UInt64 = 9
        var g = SeededGenerator(seed: 77)
        let m = gaussianTensor([40, 6], &g)
        let all = try EmbeddingStatistics(name: "m", matrix: m, options: InspectionOptions(allPairsLimit: 40))
        XCTAssertEqual(all.cosine.pairs, 40 * 39 / 2)
        XCTAssertNil(all.cosine.seed)
        let options = InspectionOptions(allPairsLimit: 39, sampledPairs: 5000, seed: seed, histogramBins: 50)
        let a = try EmbeddingStatistics(name: "m", matrix: m, options: options)
        let b = try EmbeddingStatistics(name: "m", matrix: m, options: options)
        XCTAssertFalse(a.cosine.allPairs)
        XCTAssertEqual(a.cosine.pairs, 5000)
        XCTAssertEqual(a.cosine.seed, seed)
        XCTAssertEqual(a.cosine.histogram.counts.count, 50)
        XCTAssertEqual(a.cosine, b.cosine, "seed \(seed): the sample is reproducible")
        var other = options
        other.seed = seed + 1
        XCTAssertNotEqual(try EmbeddingStatistics(name: "m", matrix: m, options: other).cosine.histogram, a.cosine.histogram)
        // 5000 samples of 780 pairs: the sampled mean is close to the all-pairs mean.
        XCTAssertEqual(a.cosine.summary.mean, all.cosine.summary.mean, accuracy: 0.02, "seed \(seed)")
        XCTAssertLessThanOrEqual(a.cosine.summary.maximum, 1 + 1e-12)

        // A zero row has no direction: its pairs are left out and counted.
        var withZero = m
        for j in 0..<6 { withZero[3, j] = 0 }
        let z = try EmbeddingStatistics(name: "m", matrix: withZero, options: InspectionOptions(allPairsLimit: 40))
        XCTAssertEqual(z.cosine.zeroRows, 1)
        XCTAssertEqual(z.cosine.pairs, 39 * 38 / 2)
        XCTAssertEqual(z.sortedNorms.first, 0)
    }

    func testReportJSONRoundTrip() throws {
        let config = ModelConfig(kind: .ngpt, vocabularySize: 16, width: 8, heads: 2, layers: 1, context: 8)
        let model = try Transformer(config: config, seed: 3)
        // A zero query head makes one condition number infinite.
        var q = model.parameters.tensor("transformer.h.0.query.weight")!
        for i in 0..<4 { for j in 0..<8 { q[i, j] = 0 } }
        model.parameters.set("transformer.h.0.query.weight", q)
        let report = InspectionReport(models: [try ModelInspection(model: model, label: "nGPT", source: "memory", step: 7)],
                                      options: InspectionOptions())
        XCTAssertEqual(report.models[0].conditionNumbers[.query][0].blocks[0].cond, .infinity)
        let data = try report.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"cond\" : \"inf\""))
        XCTAssertTrue(text.contains("\"infinity\" : \"inf\""))
        for key in ["\"condition_numbers\"", "\"att_c_proj\"", "\"w_u\"", "\"w_nu\"", "\"mlp_c_proj\"", "\"sigma_max\"",
                    "\"sorted_norms\"", "\"normalized_eigenvalues\"", "\"alpha_a\"", "\"s_nu\"", "\"sz_sorted\""] {
            XCTAssertTrue(text.contains(key), "inspect.json needs \(key)")
        }
        // nGPT's values per layer under the keys inspect.json has always had
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try XCTUnwrap(object["models"] as? [[String: Any]])
        let layers = try XCTUnwrap((models[0]["scalers"] as? [String: Any])?["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0.keys.sorted() }, [["alpha_a", "alpha_m", "layer", "s_nu", "s_qk", "s_u"]])
        // NaN ≠ NaN (the std of {1.8, ∞}), so compare the decoded report by its re-encoding.
        let decoded = try InspectionReport.decode(data)
        XCTAssertEqual(decoded.models[0].conditionNumbers[.query][0].blocks[0].cond, .infinity)
        XCTAssertTrue(decoded.models[0].conditionNumbers[.query][0].cond.standardDeviation.isNaN)
        XCTAssertEqual(decoded.models[0].embeddings, report.models[0].embeddings)
        XCTAssertTrue(try decoded.jsonData() == data, "decoding and encoding again gives the same JSON")
    }

    // MARK: Files without ngpt's metadata

    func testConfigurationInferredFromShapes() throws {
        var config = ModelConfig(kind: .ngpt, vocabularySize: 40, width: 16, heads: 4, layers: 3, context: 256)
        config.sqk.mode = .scalar
        config.suv.mode = .fixed
        let shapes = Dictionary(uniqueKeysWithValues: ParameterLayout(config: config).entries.map { ($0.name, $0.shape) })
        XCTAssertEqual(try ModelConfig.inferred(fromShapes: shapes, heads: 4), config)
        let gpt = ModelConfig(kind: .gpt, vocabularySize: 40, width: 16, heads: 2, layers: 2)
        let gptShapes = Dictionary(uniqueKeysWithValues: ParameterLayout(config: gpt).entries.map { ($0.name, $0.shape) })
        XCTAssertEqual(try ModelConfig.inferred(fromShapes: gptShapes, heads: 2), gpt)
        XCTAssertThrowsError(try ModelConfig.inferred(fromShapes: shapes, heads: nil)) { error in
            XCTAssertTrue("\(error)".contains("HINT: pass --heads H"), "\(error)")
            XCTAssertTrue("\(error)".contains("ngpt, d 16, 3 layers, vocabulary 40"), "\(error)")
        }
        XCTAssertThrowsError(try ModelConfig.inferred(fromShapes: ["lm_head.weight": [4, 4]], heads: 1)) { error in
            XCTAssertTrue("\(error)".contains("transformer.wte.weight"), "\(error)")
        }
    }

    func testPyTorchStateDictLoadsWithInferredConfiguration() throws {
        let url = try Self.ngptFile
        let loaded = try InspectedCheckpoint.load(url.path, heads: 2)
        XCTAssertTrue(loaded.configInferred)
        XCTAssertEqual(loaded.model.config.kind, .ngpt)
        XCTAssertEqual([loaded.model.config.width, loaded.model.config.heads, loaded.model.config.layers, loaded.model.config.vocabularySize], [8, 2, 1, 16])
        let cn = try loaded.model.conditionNumbers()
        // python3 -c 'import numpy as np; from safetensors.numpy import load_file;
        //   t = {k: v.astype(float) for k, v in load_file("Tests/NGPTTests/InspectionFixtures/pytorch_ngpt_d8_h2_l1_v16.safetensors").items()};
        //   q, o = t["transformer.h.0.query.weight"], t["transformer.h.0.att_c_proj.weight"];
        //   fc, mp = t["transformer.h.0.c_fc.weight"], t["transformer.h.0.mlp_c_proj.weight"];
        //   print([np.linalg.cond(q[0:4]), np.linalg.cond(q[4:8])], [np.linalg.cond(o[:, 0:4]), np.linalg.cond(o[:, 4:8])]);
        //   print(np.linalg.cond(fc[0:32]), np.linalg.cond(fc[32:64]), np.linalg.cond(mp))'
        // [3.2364513731113522, 4.488879897655987] [6.149324919017835, 2.3844022019260107]
        // 2.575590875254137 2.1928245118781704 2.8590067197702203
        assertRelative(cn[.query][0].blocks.map(\.cond), [3.2364513731113522, 4.488879897655987], 1e-12, "query heads")
        assertRelative(cn[.attentionOutput][0].blocks.map(\.cond), [6.149324919017835, 2.3844022019260107], 1e-12, "att_c_proj heads")
        assertRelative(cn[.mlpU][0].blocks.map(\.cond) + cn[.mlpNu][0].blocks.map(\.cond) + cn[.mlpOutput][0].blocks.map(\.cond),
                       [2.575590875254137, 2.1928245118781704, 2.8590067197702203], 1e-12, "W_u, W_ν, mlp_c_proj")

        XCTAssertThrowsError(try InspectedCheckpoint.load(url.path)) { error in
            XCTAssertTrue("\(error)".contains("--heads"), "\(error)")
        }

        // torch.compile saves every name under `_orig_mod.`; the prefix is removed.
        let dir = try makeTemporaryDirectory("inspect-prefix")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try SafeTensorsFile(contentsOf: url)
        var prefixed = [String: Tensor]()
        for name in file.names { prefixed["_orig_mod." + name] = try file.tensor(name) }
        let compiled = dir.appendingPathComponent("compiled.safetensors")
        try SafeTensorsFile.write(prefixed, to: compiled)
        let stripped = try InspectedCheckpoint.load(compiled.path, heads: 2)
        XCTAssertEqual(stripped.strippedPrefix, "_orig_mod.")
        XCTAssertEqual(try stripped.model.conditionNumbers(), cn)
    }

    func testCheckpointHeadsMustAgreeWithMetadata() throws {
        let dir = try makeTemporaryDirectory("inspect-heads")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Transformer(config: ModelConfig(kind: .gpt, vocabularySize: 16, width: 8, heads: 2, layers: 1, context: 8), seed: 1)
        let url = dir.appendingPathComponent("model.safetensors")
        try Checkpoint.saveModel(model, step: 3, to: url)
        let loaded = try InspectedCheckpoint.load(dir.path)
        XCTAssertFalse(loaded.configInferred)
        XCTAssertEqual(loaded.step, 3)
        XCTAssertNoThrow(try InspectedCheckpoint.load(url.path, heads: 2))
        XCTAssertThrowsError(try InspectedCheckpoint.load(url.path, heads: 4)) { error in
            XCTAssertTrue("\(error)".contains("contradicts the 2 heads"), "\(error)")
        }
        XCTAssertThrowsError(try InspectedCheckpoint.load(dir.appendingPathComponent("nope").path)) { error in
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
    }

    // MARK: Report

    /// The title, x label, y label and tick labels of every `<svg>` in `html`, parsed as XML.
    static func charts(in html: String) throws -> [(title: String, x: String, y: String, texts: Int)] {
        var out = [(title: String, x: String, y: String, texts: Int)]()
        var rest = html[...]
        while let start = rest.range(of: "<svg"), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            let svg = String(rest[start.lowerBound..<end.upperBound])
            rest = rest[end.upperBound...]
            let collector = SVGTextCollector()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = collector
            guard parser.parse() else { throw TestSetupError(description: "an SVG figure is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")") }
            out.append((collector.byClass["chart-title"] ?? "", collector.byClass["x-label"] ?? "", collector.byClass["y-label"] ?? "", collector.count))
        }
        return out
    }

    final class SVGTextCollector: NSObject, XMLParserDelegate {
        var byClass = [String: String]()
        var count = 0
        private var current: String?
        private var text = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if name == "text" { current = attributes["class"] ?? ""; text = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if current != nil { text += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard name == "text", let c = current else { return }
            count += 1
            if !c.isEmpty { byClass[c] = text }
            current = nil
        }
    }

    func testReportFiguresHaveLabelledAxes() throws {
        let shape = (v: 32, d: 16, h: 4, l: 2)
        var models = [ModelInspection]()
        for (kind, label) in [(ModelKind.gpt, "GPT"), (.ngpt, "nGPT")] {
            let config = ModelConfig(kind: kind, vocabularySize: shape.v, width: shape.d, heads: shape.h, layers: shape.l, context: 8)
            models.append(try ModelInspection(model: try Transformer(config: config, seed: 4), label: label))
        }
        let report = InspectionReport(models: models, options: InspectionOptions())
        let html = report.html()
        let charts = try Self.charts(in: html)
        // 7 condition-number kinds, 3 figures per embedding, 5 per-layer scalers and s_z.
        XCTAssertEqual(charts.count, 7 + 2 * 3 + 6)
        for c in charts {
            XCTAssertFalse(c.title.isEmpty, "every figure has a title")
            XCTAssertFalse(c.x.isEmpty, "\(c.title): x axis label")
            XCTAssertFalse(c.y.isEmpty, "\(c.title): y axis label")
            XCTAssertGreaterThanOrEqual(c.texts, 3 + 4 + 2, "\(c.title): title, axis labels, ticks and legend")
        }
        let condition = charts.filter { $0.y == "condition number σmax/σmin" }
        XCTAssertEqual(condition.count, 7)
        XCTAssertTrue(condition.allSatisfy { $0.x == "layer" })
        XCTAssertTrue(charts.contains { $0.x == "row rank (ascending norm)" && $0.y == "row 2-norm" })
        XCTAssertTrue(charts.contains { $0.x == "cosine similarity" && $0.y == "density" })
        XCTAssertTrue(charts.contains { $0.y == "eigenvalue / median eigenvalue" })
        XCTAssertTrue(charts.contains { $0.title.hasPrefix("α_A") && $0.x == "layer" })
        // GPT and nGPT overlaid, with the renormalised GPT dashed.
        XCTAssertTrue(html.contains(">GPT renormalised</text>"))
        XCTAssertTrue(html.contains("stroke=\"\(SVGChart.gptColor)\"") && html.contains("stroke=\"\(SVGChart.ngptColor)\""))

        let table = report.textTable()
        XCTAssertTrue(table.contains("GPT renorm."), table)
        XCTAssertEqual(table.split(separator: "\n").filter { $0.hasPrefix("query (per head)") }.count, 1, table)
    }

    // MARK: Command line

    func testCondCommandOnPyTorchFile() throws {
        let binary = try ngptBinary()
        let file = try Self.matricesFile.path
        // python3 -c 'import numpy as np, ml_dtypes; from safetensors.numpy import load_file;
        //   t = load_file("Tests/NGPTTests/InspectionFixtures/pytorch_matrices.safetensors");
        //   [print(k, np.linalg.svd(t[k].astype(float), compute_uv=False)[[0, -1]], np.linalg.cond(t[k].astype(float)),
        //          np.linalg.matrix_rank(t[k].astype(float))) for k in ["a", "half", "bf", "singular"]];
        //   h = t["half"].astype(float); print([np.linalg.cond(h[:, 0:3]), np.linalg.cond(h[:, 3:6])])'
        // a [9.414586875346235 2.9194508387648734] 3.2247800683395806 4
        // half [5.221689630231527 0.49823956530058927] 10.480278953923035 6
        // bf [3.753330353854145 0.6884217651760075] 5.452079733264299 4
        // singular [5.536163892143505 1.190646662245744e-16] 4.649711847930974e+16 2   (rank 2 of 3: ngpt says inf)
        // [1.5743744545887242, 4.668437911608744]
        let r = try runProcess(binary, ["cond", file, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let results = try InspectionJSON.decoder().decode([TensorConditioning].self, from: Data(r.stdout.utf8))
        XCTAssertEqual(results.map(\.name), ["a", "bf", "half", "singular"], "every 2-D float tensor, in file order")
        XCTAssertEqual(results.map(\.dtype), ["F32", "BF16", "F16", "F32"])
        XCTAssertTrue(results.allSatisfy { $0.head == nil })
        let byName = Dictionary(uniqueKeysWithValues: results.map { ($0.name, $0.summary) })
        assertRelative([byName["a"]!.sigmaMax, byName["a"]!.sigmaMin, byName["a"]!.cond],
                       [9.414586875346235, 2.9194508387648734, 3.2247800683395806], 1e-12, "a (F32)")
        assertRelative([byName["half"]!.sigmaMax, byName["half"]!.sigmaMin, byName["half"]!.cond],
                       [5.221689630231527, 0.49823956530058927, 10.480278953923035], 1e-12, "half (F16)")
        assertRelative([byName["bf"]!.sigmaMax, byName["bf"]!.sigmaMin, byName["bf"]!.cond],
                       [3.753330353854145, 0.6884217651760075, 5.452079733264299], 1e-12, "bf (BF16)")
        XCTAssertEqual(byName["singular"]!.cond, .infinity)
        XCTAssertTrue(r.stdout.contains("\"cond\" : \"inf\""), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"head\" : null"), r.stdout)
        XCTAssertTrue(r.stderr.contains("skipped 2 tensor(s) that are not 2-D floating point: bias, ids"), r.stderr)

        let heads = try runProcess(binary, ["cond", file, "--tensor", "half", "--heads", "2", "--axis", "cols", "--json"])
        XCTAssertEqual(heads.status, 0, heads.stderr)
        let perHead = try InspectionJSON.decoder().decode([TensorConditioning].self, from: Data(heads.stdout.utf8))
        XCTAssertEqual(perHead.map(\.head), [0, 1])
        XCTAssertEqual(perHead.map(\.summary.columns), [3, 3])
        assertRelative(perHead.map(\.summary.cond), [1.5743744545887242, 4.668437911608744], 1e-12, "half, 2 column heads")

        let table = try runProcess(binary, ["cond", file, "--tensor", "a", "--tensor", "singular"])
        XCTAssertEqual(table.status, 0, table.stderr)
        let lines = table.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, table.stdout)
        XCTAssertTrue(lines[0].contains("sigma_max") && lines[0].contains("cond"), table.stdout)
        XCTAssertTrue(lines[1].hasPrefix("a ") && lines[1].hasSuffix("3.22478"), table.stdout)
        XCTAssertTrue(lines[2].hasPrefix("singular") && lines[2].hasSuffix(" inf"), table.stdout)
    }

    func testCondCommandErrors() throws {
        let binary = try ngptBinary()
        let file = try Self.matricesFile.path
        for (arguments, expected) in [
            (["cond", file, "--tensor", "hafl"], "did you mean"),
            (["cond", file, "--tensor", "bias"], "need a 2-D floating-point tensor"),
            (["cond", file, "--tensor", "a", "--heads", "4"], "4 heads do not divide the 6 rows"),
            (["cond", "/nonexistent.safetensors"], "does not exist"),
        ] {
            let r = try runProcess(binary, arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments) must fail")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expected), "\(arguments): want \"\(expected)\" in \(r.stderr)")
            XCTAssertEqual(r.stdout, "")
        }
    }

    func testInspectCommandOnTrainedRunsAndAPyTorchFile() throws {
        let binary = try ngptBinary()
        let dir = try makeTemporaryDirectory("inspect-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try makeTextDataset(in: dir)
        let tiny = ["--dim", "16", "--heads", "2", "--layers", "2", "--context", "16", "--batch", "2", "--eval-batches", "1", "--steps", "3"]
        for kind in ["gpt", "ngpt"] {
            let r = try runProcess(binary, ["train", "--data", data.path, "--model", kind, "--out", dir.appendingPathComponent(kind).path] + tiny)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let out = dir.appendingPathComponent("report")
        let r = try runProcess(binary, ["inspect", dir.appendingPathComponent("gpt").path,
                                        dir.appendingPathComponent("ngpt/model.safetensors").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try InspectionReport.decode(Data(contentsOf: out.appendingPathComponent("inspect.json")))
        XCTAssertEqual(report.models.map(\.label), ["GPT", "nGPT"])
        XCTAssertEqual(report.models.map(\.step), [3, 3])
        XCTAssertEqual(report.models[0].conditionNumbers[.query].count, 2)
        XCTAssertEqual(report.models[0].conditionNumbers[.query][0].blocks.count, 2)
        XCTAssertNotNil(report.models[0].renormalizedConditionNumbers)
        XCTAssertNotNil(report.models[1].scalers)
        for e in report.models[1].embeddings { XCTAssertEqual(e.norms.minimum, 1, accuracy: 1e-5, "nGPT rows stay on the sphere") }
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(try Self.charts(in: html).count, 19)
        // The stdout table: one line per matrix kind with a number per column.
        for kind in MatrixKind.allCases {
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix(kind.rawValue) }
            XCTAssertEqual(line.map { $0.split(separator: " ").count }, kind.isPerHead ? 6 : 4, "\(kind): \(r.stdout)")
        }
        XCTAssertTrue(r.stdout.contains("GPT renorm."), r.stdout)

        // A PyTorch-written nGPT state dict: the shape is inferred, heads are given.
        let pt = dir.appendingPathComponent("pt")
        let p = try runProcess(binary, ["inspect", try Self.ngptFile.path, "--heads", "2", "--out", pt.path])
        XCTAssertEqual(p.status, 0, p.stderr)
        let ptReport = try InspectionReport.decode(Data(contentsOf: pt.appendingPathComponent("inspect.json")))
        XCTAssertTrue(ptReport.models[0].configInferred)
        XCTAssertEqual(ptReport.models[0].conditionNumbers[.query][0].cond.median, (3.2364513731113522 + 4.488879897655987) / 2, accuracy: 1e-11)
        let missing = try runProcess(binary, ["inspect", try Self.ngptFile.path, "--out", dir.appendingPathComponent("pt2").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("HINT: pass --heads H"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("pt2").path), "no output on failure")
    }
}
