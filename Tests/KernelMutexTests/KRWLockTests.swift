import CKMutex
import Foundation
import Testing

@testable import KernelMutex

/// Holds `lock` for writing on another thread until `release()`; `init` returns once it holds.
private final class ForeignWriter: Sendable {
    private let releaseRequested = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    init(_ lock: KRWLock) {
        let locked = DispatchSemaphore(value: 0)
        Thread { [releaseRequested, released] in
            lock.lockWrite()
            locked.signal()
            releaseRequested.wait()
            lock.unlockWrite()
            released.signal()
        }.start()
        locked.wait()
    }

    func release() {
        releaseRequested.signal()
        released.wait()
    }
}

@Suite("KRWLock API")
struct KRWLockTests {
    @Test func readersShareAndExcludeWriters() {
        let lock = KRWLock()
        lock.lockRead()
        let tried = runThreads(1) { _ in
            let read = lock.tryLockRead()
            if read {
                lock.unlockRead()
            }
            return (read: read, write: lock.tryLockWrite())
        }[0]
        #expect(tried.read, "a second reader must share the lock")
        #expect(tried.write == false, "a writer must not get a read-locked lock")
        lock.unlockRead()
        #expect(lock.tryLockWrite())
        lock.unlockWrite()
    }

    @Test func writerExcludesEveryone() {
        let lock = KRWLock()
        let writer = ForeignWriter(lock)
        #expect(lock.tryLockRead() == false)
        #expect(lock.tryLockWrite() == false)
        #expect(lock.lockRead(timeout: .milliseconds(1)) == false)
        #expect(lock.withWriteLock(timeout: .milliseconds(1)) { 1 } == nil)
        #expect(lock.withReadLockIfAvailable { 1 } == nil)
        writer.release()
        #expect(lock.lockRead(timeout: .seconds(60)))
        lock.unlockRead()
        #expect(lock.withWriteLock(timeout: .seconds(60)) { 7 } == 7)
    }

    @Test func withLocksReturnAndReleaseOnThrow() {
        struct Failure: Error {}
        let lock = KRWLock()
        #expect(lock.withReadLock { 6 * 7 } == 42)
        #expect(throws: Failure.self) { try lock.withWriteLock { throw Failure() } }
        #expect(throws: Failure.self) { try lock.withReadLock { throw Failure() } }
        #expect(lock.tryLockWrite(), "withWriteLock and withReadLock must release on a throw")
        lock.unlockWrite()
    }

    /// POSIX's promise, where krwsem departs from the kernel: a thread that holds a read lock
    /// gets it again even while a writer waits for it (else: the writer waits for us, we wait
    /// behind the writer).  Deterministic: we read again only once a newcomer's tryLockRead
    /// fails, which with our read lock held means the writer has queued.
    @Test func recursiveReadIsNotBlockedByAWaitingWriter() {
        let lock = KRWLock()
        lock.lockRead()
        let writerDone = DispatchSemaphore(value: 0)
        Thread {
            lock.withWriteLock {}
            writerDone.signal()
        }.start()
        runThreads(1) { _ in
            while lock.tryLockRead() {   // no waiter yet: a newcomer may still read
                lock.unlockRead()
                sched_yield()
            }
        }
        let tried = lock.tryLockRead()
        #expect(tried, "a reader's tryLockRead must not fail on its own lock")
        // The blocking path itself (lockRead(timeout:) would take the trylock first).  With the
        // rule it never waits; without it (KRWSEM_BUG_NO_RECURSION) it would wait for ever, so
        // a deadline turns that into a failure instead of a hang.
        var deadline = KMutex.monotonicDeadline(after: .seconds(10))
        let again = krwsem_down_read_timeout(lock.storage, &deadline)
        #expect(again == 0, "a recursive read waited behind the writer: \(again)")
        for _ in 0..<(1 + (tried ? 1 : 0) + (again == 0 ? 1 : 0)) {
            lock.unlockRead()
        }
        writerDone.wait()
    }

    @Test func downgradeKeepsWritersOutAndLetsReadersIn() {
        let lock = KRWLock()
        lock.lockWrite()
        lock.downgrade()
        let tried = runThreads(1) { _ in
            let read = lock.tryLockRead()
            if read {
                lock.unlockRead()
            }
            return (read: read, write: lock.tryLockWrite())
        }[0]
        #expect(tried.read)
        #expect(tried.write == false)
        lock.unlockRead()
        #expect(lock.tryLockWrite())
        lock.unlockWrite()
    }

    @Test func classNameIsGivenOrTheCallSite() {
        #expect(KRWLock(name: "swift rw table").name == "swift rw table")
        let line = #line + 1
        let here = KRWLock()
        #expect(here.name == "\(#fileID):\(line)")
    }

    /// Readers check an invariant that writers break inside their section and restore before
    /// leaving: a reader that ran inside a write section would see it broken.
    @Test func boxReadersNeverSeeAHalfWrite() {
        let box = KRWLockBox((a: 0, b: 0))
        let writers = 2, readers = 3, rounds = 2000
        let broken = runThreads(writers + readers) { index -> Int in
            var seen = 0
            for _ in 0..<rounds {
                if index < writers {
                    box.withWriteLock { value in
                        value.a += 1
                        sched_yield()
                        value.b += 1
                    }
                } else if box.withReadLock({ $0.a != $0.b }) {
                    seen += 1
                }
            }
            return seen
        }
        #expect(broken.reduce(0, +) == 0)
        #expect(box.withReadLock { $0.a } == writers * rounds)
        #expect(box.withReadLock { $0.b } == writers * rounds)
    }

    @Test func boxTryAndTimeoutForms() {
        let box = KRWLockBox([1, 2, 3])
        #expect(box.withReadLockIfAvailable { $0.count } == 3)
        #expect(box.withWriteLockIfAvailable { $0.append(4) } != nil)
        #expect(box.withReadLock(timeout: .seconds(60)) { $0.last } == 4)
        #expect(box.withWriteLock(timeout: .seconds(60)) { $0.removeFirst() } == 1)
        let writer = ForeignWriter(box.lock)
        #expect(box.withReadLockIfAvailable { $0.count } == nil)
        #expect(box.withWriteLockIfAvailable { $0.append(5) } == nil)
        #expect(box.withReadLock(timeout: .milliseconds(1)) { $0.count } == nil)
        #expect(box.withWriteLock(timeout: .milliseconds(1)) { $0.append(5) } == nil)
        writer.release()
        #expect(box.withReadLock { $0 } == [2, 3, 4])
    }
}
