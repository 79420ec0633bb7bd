// swift-tools-version: 6.1
// Benchmarks for swift-ngpt (GEMM; training step, forward and sampling of both models), kept out of the root package so that building or testing the
// library never fetches or compiles the benchmark harness. Run from this directory:
//
//     swift package benchmark --target GEMMBenchmarks
//     swift package benchmark --target ModelBenchmarks
//
// See README.md here for how to read the GFLOP/s figures.
import PackageDescription

let package = Package(
    name: "NGPTBenchmarks",
    dependencies: [
        .package(name: "swift-ngpt", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: ["GEMMBenchmarks", "ModelBenchmarks"].map { name in
        .executableTarget(
            name: name,
            dependencies: [
                .product(name: "NGPT", package: "swift-ngpt"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/\(name)",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "package-benchmark"),
            ]
        )
    }
)
