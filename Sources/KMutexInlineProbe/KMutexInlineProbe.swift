// A client of KernelMutex whose release build scripts/check-swift-inlining.py disassembles:
// incrementUnderLock and incrementBoxed must contain the header's cmpxchg fast paths, with no
// call on them.
import KernelMutex

/// The caller under inspection; kept out of line so that it exists as one function.
@inline(never)
func incrementUnderLock(_ mutex: KMutex, _ counter: UnsafeMutablePointer<Int>) {
    mutex.withLock { counter.pointee += 1 }
}

/// The same through KMutexBox: its value access must not cost a call either (for instance a
/// dynamic exclusivity check).
@inline(never)
func incrementBoxed(_ box: KMutexBox<Int>) {
    box.withLock { $0 += 1 }
}

@main
struct KMutexInlineProbe {
    static func main() {
        let mutex = KMutex()
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        counter.initialize(to: 0)
        for _ in 0..<3 {
            incrementUnderLock(mutex, counter)
        }
        precondition(counter.pointee == 3)
        counter.deallocate()
        let box = KMutexBox(0)
        for _ in 0..<3 {
            incrementBoxed(box)
        }
        precondition(box.withLock { $0 } == 3)
    }
}
