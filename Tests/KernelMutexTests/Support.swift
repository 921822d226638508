import Foundation
import KernelMutex

/// State that the tests mutate only while holding the mutex under test; the tests' assertions
/// are what check that the mutex really made those accesses exclusive.
final class Guarded<Value>: @unchecked Sendable {
    // @unchecked: deliberately unsynchronized, so that a mutex that failed to exclude would
    // show up as lost updates, a broken invariant, or a TSan report.
    var value: Value

    init(_ value: Value) {
        self.value = value
    }
}

/// Runs `body(index)` on `count` new threads (real threads, not a pool capped at the core
/// count), returns when all have finished, and returns what each returned, by index.
///
/// Each thread writes only its own slot, and the slots are read after the join, so no lock is
/// needed.  None should be: Synchronization.Mutex's fast path is an atomic in the uninstrumented
/// standard library, invisible to ThreadSanitizer, which then reports the data it protects as
/// racing.  The DispatchSemaphore join is seen (TSan intercepts dispatch semaphores).
@discardableResult
func runThreads<Result: Sendable>(
    _ count: Int, _ body: @escaping @Sendable (Int) -> Result
) -> [Result] {
    let results = ThreadResults<Result>(count: count)
    let finished = DispatchSemaphore(value: 0)
    for index in 0..<count {
        Thread {
            results.slots[index] = body(index)
            finished.signal()
        }.start()
    }
    for _ in 0..<count {
        finished.wait()
    }
    return results.slots.map { $0! }
}

/// One slot per thread for runThreads.
private final class ThreadResults<Result>: @unchecked Sendable {
    // @unchecked: thread `index` writes only slots[index], before signalling the join; the
    // caller reads the slots only after the join.
    let slots: UnsafeMutableBufferPointer<Result?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }
}

/// Holds `mutex` on another thread until `release()` is called; `init` returns once the
/// other thread holds it.
final class ForeignHolder: Sendable {
    private let releaseRequested = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    init(_ mutex: KMutex) {
        let locked = DispatchSemaphore(value: 0)
        Thread { [releaseRequested, released] in
            mutex.lock()
            locked.signal()
            releaseRequested.wait()
            mutex.unlock()
            released.signal()
        }.start()
        locked.wait()
    }

    /// Asks the holder to unlock, without waiting for it to do so.
    func requestRelease() {
        releaseRequested.signal()
    }

    /// Asks the holder to unlock and waits until it has.
    func release() {
        requestRelease()
        released.wait()
    }
}

/// The result of running the KMutexMisuse helper.
struct ChildOutcome {
    var terminationReason: Process.TerminationReason
    var status: Int32
    var standardError: String
}

/// Runs the KMutexMisuse helper executable (built next to the test binary) with `argument`.
func runMisuseHelper(_ argument: String, lockdep: String? = nil) throws -> ChildOutcome {
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    // On Linux the test binary is <build dir>/<package>PackageTests.xctest; elsewhere it is a
    // bundle inside the build directory.
    if directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" {
        directory = directory.deletingLastPathComponent()
    }
    let process = Process()
    process.executableURL = directory.appendingPathComponent("KMutexMisuse")
    process.arguments = [argument]
    // Without the Swift runtime's crash backtracer, stderr holds only what the library wrote;
    // the backtracer also clones in its signal handler, which ThreadSanitizer cannot survive.
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    // KMUTEX_LOCKDEP only when asked: the misuse cases expect the one-line report alone.
    environment["KMUTEX_LOCKDEP"] = lockdep
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ChildOutcome(
        terminationReason: process.terminationReason,
        status: process.terminationStatus,
        standardError: String(decoding: data, as: UTF8.self))
}

/// An error for release-on-throw tests.
struct Boom: Error, Equatable {
    var code: Int
}
