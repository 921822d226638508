// Misuses a KMutex the way the command-line argument names, so that the tests can check, from
// the outside, that the process ends with the C library's one-line report and SIGABRT.
import Foundation
import KernelMutex

@main
struct KMutexMisuse {
    static func main() {
        let cases: [String: (KMutex) -> Void] = [
            "unlock-by-non-owner": unlockFromAnotherThread,
            "recursive-lock": lockTwice,
            "unlock-unlocked": { $0.unlock() },
            "destroy-locked": { $0.lock() },
            // Not misuse: lock orders for lockdep (run with KMUTEX_LOCKDEP=1), exit 0.
            "lockdep-abba": { _ in lockInBothOrders() },
            "lockdep-nested": { _ in lockNested() },
        ]
        let arguments = CommandLine.arguments
        guard arguments.count == 2, let misuse = cases[arguments[1]] else {
            FileHandle.standardError.write(
                "usage: KMutexMisuse \(cases.keys.sorted().joined(separator: "|"))\n"
                    .data(using: .utf8)!)
            exit(2)
        }
        // The mutex is released after `misuse` returns: its deinit destroys it, which is the
        // misuse in the destroy-locked case.
        misuse(KMutex())
        // Reached only if the library failed to stop the misuse.
        exit(0)
    }

    static func lockTwice(_ mutex: KMutex) {
        mutex.lock()
        mutex.lock()
    }

    /// A then B, later B then A: never deadlocks here, but lockdep reports the ABBA, once.
    static func lockInBothOrders() {
        // Named: mutexes made on one line share the line's lock class (as in the kernel, one
        // class per initialization site), and nesting two of a class is reported as AA.
        let a = KMutex(name: "a"), b = KMutex(name: "b")
        for _ in 0..<2 {
            a.withLock { b.withLock {} }
            b.withLock { a.withLock {} }
        }
    }

    /// One order, with the inner lock annotated and as a plain, timed and try lock: clean.
    static func lockNested() {
        let parent = KMutex(name: "parent"), child = KMutex(name: "child")
        for _ in 0..<3 {
            parent.withLock {
                child.withLock(nested: 1) {}
                if child.lock(timeout: .seconds(1)) { child.unlock() }
                if child.tryLock() { child.unlock() }
            }
        }
    }

    static func unlockFromAnotherThread(_ mutex: KMutex) {
        mutex.lock()
        let unlocked = DispatchSemaphore(value: 0)
        Thread {
            mutex.unlock()
            unlocked.signal()
        }.start()
        unlocked.wait()
    }
}
