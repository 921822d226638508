// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "kmutex",
    products: [
        .library(name: "KernelMutex", targets: ["KernelMutex"]),
    ],
    targets: [
        // The C core.  KMUTEX_DEBUG reaches the .c files only, in debug builds: the library's
        // checks are on there, while the header as Swift sees it keeps the inline fast path.
        .target(
            name: "CKMutex",
            path: "CShims",
            publicHeadersPath: "include",
            cSettings: [
                .define("_GNU_SOURCE"),
                .define("KMUTEX_DEBUG", .when(configuration: .debug)),
                // Only the library: Swift callers keep the inline fast path, so the library
                // does not see every acquisition and must not count acquisitions or hold times.
                .define("KMUTEX_DEBUG_LIB_ONLY", .when(configuration: .debug)),
            ]
        ),
        .target(
            name: "KernelMutex",
            dependencies: ["CKMutex"]
        ),
        // Misuses the mutex on purpose; the tests run it as a child process and expect the
        // C library's one-line report and SIGABRT.
        .executableTarget(
            name: "KMutexMisuse",
            dependencies: ["KernelMutex"]
        ),
        // A small client whose release build the inlining check disassembles.
        .executableTarget(
            name: "KMutexInlineProbe",
            dependencies: ["KernelMutex"]
        ),
        .testTarget(
            name: "KernelMutexTests",
            dependencies: ["KernelMutex", "KMutexMisuse"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
