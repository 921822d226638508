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
