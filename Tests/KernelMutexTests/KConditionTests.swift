import Foundation
import Testing

@testable import KernelMutex

/// Counts that the tests read and write only with `mutex` held.
private final class Shared: @unchecked Sendable {
    // @unchecked: every access happens inside the mutex the test passes around.
    var ready = false
    var waiting = 0
    var woken = 0
}

/// Waits, by polling under the mutex, until `count` threads have started waiting.
private func awaitWaiters(_ mutex: KMutex, _ shared: Shared, _ count: Int) {
    while mutex.withLock({ shared.waiting }) < count {
        Thread.sleep(forTimeInterval: 0.001)
    }
}

@Suite("KCondition")
struct KConditionTests {
    @Test func signalWakesAWaiterThatHoldsTheMutexAgain() {
        let mutex = KMutex()
        let condition = KCondition()
        let shared = Shared()
        let done = DispatchSemaphore(value: 0)
        Thread {
            mutex.lock()
            shared.waiting += 1
            while !shared.ready {
                condition.wait(on: mutex)
            }
            shared.woken += 1
            mutex.unlock()
            done.signal()
        }.start()
        awaitWaiters(mutex, shared, 1)
        mutex.withLock {
            shared.ready = true
            condition.signal()
        }
        done.wait()
        #expect(mutex.withLock { shared.woken } == 1)
    }

    @Test(arguments: [1, 4])
    func broadcastWakesEveryWaiter(waiters: Int) {
        let mutex = KMutex()
        let condition = KCondition()
        let shared = Shared()
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<waiters {
            Thread {
                mutex.withLock {
                    shared.waiting += 1
                    while !shared.ready {
                        condition.wait(on: mutex)
                    }
                    shared.woken += 1
                }
                done.signal()
            }.start()
        }
        awaitWaiters(mutex, shared, waiters)
        mutex.withLock { shared.ready = true }
        condition.broadcast()  // from outside the mutex: allowed
        for _ in 0..<waiters {
            done.wait()
        }
        #expect(mutex.withLock { shared.woken } == waiters)
    }

    @Test func timedWaitTimesOutWithTheMutexHeld() {
        let mutex = KMutex()
        let condition = KCondition()
        mutex.lock()
        let start = ContinuousClock.now
        #expect(condition.wait(on: mutex, timeout: .milliseconds(5)) == false)
        #expect(ContinuousClock.now - start >= .milliseconds(5))
        #expect(mutex.tryLock() == false, "the mutex must be held again")
        mutex.unlock()
    }
}

@Suite("KMutexBox conditions")
struct KMutexBoxConditionTests {
    @Test func withLockWhenWaitsForTheCondition() {
        let box = KMutexBox(0)
        let done = DispatchSemaphore(value: 0)
        let seen = Guarded(-1)
        Thread {
            seen.value = box.withLock(when: { $0 >= 3 }) { $0 }
            done.signal()
        }.start()
        for _ in 0..<3 {
            box.withLock { $0 += 1 }
        }
        done.wait()
        #expect(seen.value >= 3)
    }

    @Test func withLockWhenRunsAtOnceIfTheConditionHolds() {
        let box = KMutexBox("ready")
        #expect(box.withLock(when: { $0 == "ready" }) { $0.count } == 5)
    }

    @Test func withLockWhenTimesOut() {
        let box = KMutexBox(false)
        let result: Int? = box.withLock(when: { $0 }, timeout: .milliseconds(5)) { _ in 1 }
        #expect(result == nil)
        box.withLock { $0 = true }
        #expect(box.withLock(when: { $0 }, timeout: .milliseconds(5)) { _ in 2 } == 2)
    }

    /// Producers and consumers on a queue in a box: every item arrives exactly once.
    @Test func producersAndConsumersLoseNothing() {
        let producers = 3, consumers = 3, itemsEach = 2_000
        let queue = KMutexBox([Int]())
        let received = runThreads(producers + consumers) { index -> [Int] in
            if index < producers {
                for item in 0..<itemsEach {
                    queue.withLock { $0.append(index * itemsEach + item) }
                }
                return []
            }
            var mine: [Int] = []
            for _ in 0..<(producers * itemsEach / consumers) {
                mine.append(queue.withLock(when: { !$0.isEmpty }) { $0.removeFirst() })
            }
            return mine
        }
        let all = received.flatMap { $0 }.sorted()
        #expect(all == Array(0..<(producers * itemsEach)))
    }
}
