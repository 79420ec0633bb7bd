// swift-tools-version: 6.1
import PackageDescription

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
            dependencies: ["COpenBLAS"]
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
    swiftLanguageModes: [.v5]
)
