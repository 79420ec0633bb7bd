// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Opt-in: `NGPT_TARGET_CPU=native swift build -c release` (or haswell, znver4, …) compiles the
// numerics for that CPU, so the kernels' vector loops use AVX2 or AVX-512 registers instead of
// SSE pairs (decoding with bfloat16 weights about twice as fast), and compiles in attention's own
// products for heads of at most 32 floats, which need fused multiply-add (every x86-64 CPU since
// Haswell, 2013; Sources/NGPTNumerics/Kernels/CausalProducts.swift): training steps at the demo's
// shape 5–8 % faster; see docs/performance.md. `make release` sets it to `native`. The default
// build runs on any x86-64 or arm64, and a package that depends on this one by URL never sees it.
let targetCPU = ProcessInfo.processInfo.environment["NGPT_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 }
let kernelSettings: [SwiftSetting] = targetCPU.map {
    [.unsafeFlags(["-target-cpu", $0]), .define("NGPT_FUSED_MULTIPLY_ADD")]
} ?? []

// The library is layered; each target uses only those below it, so the compiler keeps the layers:
//   _COpenBLAS    OpenBLAS (cblas) + LAPACKE behind one shim header; no API, imported by one file
//   NGPTNumerics  tensors, GEMM, threads, kernels (forward and backward), LAPACK, safetensors
//   NGPTModels    architectures (GPT, nGPT), the transformer, decoding, training, data
//   NGPTStudy     comparison, parameter inspection, reports
//   NGPT          the product: re-exports the three, so `import NGPT` gives the whole library
//   NGPTCommand   the `ngpt` command line (swift-argument-parser), a library so that a package can
//                 build the same tool with architectures of its own; `ngpt` is its main()
let package = Package(
    name: "swift-ngpt",
    products: [
        .library(name: "NGPT", targets: ["NGPT"]),
        // The command line as a library: a package builds its own `ngpt` with its architectures
        // registered (`NGPTCommand.main(registering: [...])`).
        .library(name: "NGPTCommand", targets: ["NGPTCommand"]),
        .executable(name: "ngpt", targets: ["ngpt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `make docs` only: the DocC catalogue (Sources/NGPTModels/NGPTModels.docc)
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "_COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(name: "NGPTNumerics", dependencies: ["_COpenBLAS"], swiftSettings: kernelSettings),
        .target(name: "NGPTModels", dependencies: ["NGPTNumerics"], swiftSettings: kernelSettings),
        .target(name: "NGPTStudy", dependencies: ["NGPTNumerics", "NGPTModels"]),
        .target(name: "NGPT", dependencies: ["NGPTNumerics", "NGPTModels", "NGPTStudy"]),
        .target(
            name: "NGPTCommand",
            dependencies: [
                "NGPT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "ngpt", dependencies: ["NGPTCommand"]),
        .testTarget(
            name: "NGPTTests",
            dependencies: ["NGPT"],
            resources: [
                .copy("Fixtures"),
                // Files written by the `safetensors` library (scripts/make-inspection-fixtures.py).
                .copy("InspectionFixtures"),
                // tokenizer.json files and the ids `tokenizers` encodes texts to (scripts/make-tokenizer-fixtures.py).
                .copy("TokenizerFixtures"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
