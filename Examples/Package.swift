// swift-tools-version: 6.1
// Architectures the library does not ship, written against its public API only, each in one file
// of its own: the way to try a variant without editing the library; and `ngpt-examples`, the
// library's command line with them registered. Run from this directory:
//
//     swift test
//
// `make test` at the root runs these tests too.
import PackageDescription

let package = Package(
    name: "NGPTExamples",
    products: [
        .library(name: "NGPTExamples", targets: ["NGPTExamples"]),
        // The library's command line with these architectures registered.
        .executable(name: "ngpt-examples", targets: ["ngpt-examples"]),
    ],
    dependencies: [
        // Named so the product resolves whatever the checkout's directory is called.
        .package(name: "swift-ngpt", path: ".."),
    ],
    targets: [
        .target(
            name: "NGPTExamples",
            dependencies: [.product(name: "NGPT", package: "swift-ngpt")]
        ),
        .executableTarget(
            name: "ngpt-examples",
            dependencies: ["NGPTExamples", .product(name: "NGPTCommand", package: "swift-ngpt")]
        ),
        .testTarget(
            name: "NGPTExamplesTests",
            dependencies: ["NGPTExamples", .product(name: "NGPT", package: "swift-ngpt")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
