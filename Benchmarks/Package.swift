// swift-tools-version:6.1
// Benchmarks for KernelMutex, in their own package so that the root package's `swift test`
// does not build package-benchmark and its dependencies.  Run with `make swift-bench`, or
// `swift package benchmark` from this directory.
import PackageDescription

let package = Package(
    name: "KMutexBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so that the identity does not depend on the checkout directory's name.
        .package(name: "kmutex", path: ".."),
        .package(
            url: "https://github.com/ordo-one/package-benchmark",
            from: "1.38.1",
            traits: ["MallocInterposer"]
        ),
    ],
    targets: [
        // The C baseline: kmutex_lock/kmutex_unlock called from C, for the fast-path comparison.
        .target(
            name: "CBenchFastPath",
            dependencies: [.product(name: "KernelMutex", package: "kmutex")]
        ),
        .executableTarget(
            name: "KMutexBenchmarks",
            dependencies: [
                "CBenchFastPath",
                .product(name: "KernelMutex", package: "kmutex"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/KMutexBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "package-benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
