// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Opt-in: `NGPT_TARGET_CPU=native swift build -c release` (or haswell, znver4, …) compiles the
// library for that CPU, so the kernels' vector loops use 256-bit AVX2 registers instead of SSE
// pairs (decoding with bfloat16 weights about twice as fast, training steps 0–5 %; see
// docs/performance.md). `make release` sets it to `native`. The default build runs on any x86-64
// or arm64, and a package that depends on this one by URL never sees the flag.
let targetCPU = ProcessInfo.processInfo.environment["NGPT_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 }
let librarySettings: [SwiftSetting] = targetCPU.map { [.unsafeFlags(["-target-cpu", $0])] } ?? []

let package = Package(
    name: "swift-ngpt",
    products: [
        .library(name: "NGPT", targets: ["NGPT"]),
        .executable(name: "ngpt", targets: ["ngpt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS (cblas) and LAPACKE behind one shim header. Not public API: only
        // `Sources/NGPT/Backend/BLAS.swift` imports it.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(
            name: "NGPT",
            dependencies: ["COpenBLAS"],
            swiftSettings: librarySettings
        ),
        .executableTarget(
            name: "ngpt",
            dependencies: [
                "NGPT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "NGPTTests",
            dependencies: ["NGPT"],
            resources: [
                .copy("Fixtures"),
                // Files written by the `safetensors` library (scripts/make-inspection-fixtures.py).
                .copy("InspectionFixtures"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
