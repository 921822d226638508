import Foundation
import Synchronization
import Testing

@testable import KernelMutex

@Suite("KMutex API")
struct KMutexAPITests {
    @Test func lockExcludesOtherThreadsUntilUnlock() {
        let mutex = KMutex()
        mutex.lock()
        let triedWhileLocked = Guarded(true)
        runThreads(1) { _ in triedWhileLocked.value = mutex.tryLock() }
        #expect(triedWhileLocked.value == false)
        mutex.unlock()
        let triedAfterUnlock = Guarded(false)
        runThreads(1) { _ in
            triedAfterUnlock.value = mutex.tryLock()
            if triedAfterUnlock.value {
                mutex.unlock()
            }
        }
        #expect(triedAfterUnlock.value)
    }

    @Test func classNameIsGivenOrTheCallSite() {
        let named = KMutex(name: "swift table")
        #expect(named.name == "swift table")
        let other = KMutex(name: "swift table")
        #expect(named.storage.pointee.name == other.storage.pointee.name, "equal names share a class")
        let line = #line + 1
        let here = KMutex()
        #expect(here.name == "\(#fileID):\(line)")
    }

    @Test func statisticsCountAContentionThatTimesOut() {
        let wasEnabled = KMutexStatistics.isEnabled
        KMutexStatistics.isEnabled = true
        defer { KMutexStatistics.isEnabled = wasEnabled }
        let mutex = KMutex(options: .noSpin, name: "swift stat timeout")
        mutex.lock()
        let acquired = Guarded(true)
        runThreads(1) { _ in acquired.value = mutex.lock(timeout: .milliseconds(1)) }
        mutex.unlock()
        #expect(acquired.value == false)
        let row = KMutexStatistics.report().split(separator: "\n")
            .first { $0.contains("swift stat timeout:") }
        #expect(row != nil)
        let csv = KMutexStatistics.report(csv: true)
        #expect(csv.hasPrefix("class,con-bounces,contentions,"))
        #expect(csv.contains("\"swift stat timeout\",0,1,"))
    }

    @Test func tryLockIsNotRecursive() {
        let mutex = KMutex()
        #expect(mutex.tryLock())
        #expect(mutex.tryLock() == false, "the owner's tryLock must fail, not recurse")
        mutex.unlock()
        #expect(mutex.tryLock())
        mutex.unlock()
    }

    @Test func tryLockFailsWhileAnotherThreadHolds() {
        let mutex = KMutex()
        let holder = ForeignHolder(mutex)
        #expect(mutex.tryLock() == false)
        holder.release()
        #expect(mutex.tryLock())
        mutex.unlock()
    }

    @Test func withLockReturnsTheBodysResult() {
        let mutex = KMutex()
        let answer = mutex.withLock { 6 * 7 }
        #expect(answer == 42)
        #expect(mutex.tryLock(), "withLock must release the lock")
        mutex.unlock()
    }

    @Test func withLockReleasesWhenTheBodyThrows() {
        let mutex = KMutex()
        #expect(throws: Boom(code: 1)) {
            try mutex.withLock { () throws(Boom) -> Int in throw Boom(code: 1) }
        }
        let freeAfterThrow = Guarded(false)
        runThreads(1) { _ in
            freeAfterThrow.value = mutex.tryLock()
            if freeAfterThrow.value {
                mutex.unlock()
            }
        }
        #expect(freeAfterThrow.value)
    }

    @Test func withLockIfAvailableRunsWhenFree() {
        let mutex = KMutex()
        #expect(mutex.withLockIfAvailable { "ran" } == "ran")
        #expect(mutex.tryLock(), "withLockIfAvailable must release the lock")
        mutex.unlock()
    }

    @Test func withLockIfAvailableSkipsWhenHeld() {
        let mutex = KMutex()
        let holder = ForeignHolder(mutex)
        let ran = Guarded(false)
        let result: Int? = mutex.withLockIfAvailable {
            ran.value = true
            return 1
        }
        #expect(result == nil)
        #expect(ran.value == false)
        holder.release()
    }

    @Test func withLockIfAvailableInsideWithLockIsNilNotADeadlock() {
        let mutex = KMutex()
        let inner = mutex.withLock { mutex.withLockIfAvailable { 1 } }
        #expect(inner == nil)
    }

    @Test func withLockIfAvailableReleasesWhenTheBodyThrows() {
        let mutex = KMutex()
        #expect(throws: Boom(code: 2)) {
            try mutex.withLockIfAvailable { () throws(Boom) -> Int in throw Boom(code: 2) }
        }
        #expect(mutex.tryLock())
        mutex.unlock()
    }

    @Test(arguments: [
        KMutex.Options(), .noHandoff, .noSpin, [.noHandoff, .noSpin],
    ])
    func everyOptionSetLocks(options: KMutex.Options) {
        let mutex = KMutex(options: options)
        let count = Guarded(0)
        runThreads(4) { _ in
            for _ in 0..<2_000 {
                mutex.withLock { count.value += 1 }
            }
        }
        #expect(count.value == 8_000)
    }
}

@Suite("KMutex timeouts")
struct KMutexTimeoutTests {
    @Test(arguments: [Duration.zero, .milliseconds(-5), .seconds(1)])
    func freeLockIsTakenWhateverTheTimeout(timeout: Duration) {
        let mutex = KMutex()
        #expect(mutex.lock(timeout: timeout))
        mutex.unlock()
    }

    @Test func heldLockTimesOutNoSoonerThanAsked() {
        let mutex = KMutex()
        let holder = ForeignHolder(mutex)
        let clock = ContinuousClock()
        let start = clock.now
        let acquired = mutex.lock(timeout: .milliseconds(30))
        let waited = clock.now - start
        #expect(acquired == false)
        #expect(waited >= .milliseconds(30), "returned after \(waited)")
        holder.release()
    }

    @Test func heldLockWithPastDeadlineFails() {
        let mutex = KMutex()
        let holder = ForeignHolder(mutex)
        #expect(mutex.lock(timeout: .zero) == false)
        #expect(mutex.lock(timeout: .seconds(-1)) == false)
        holder.release()
    }

    @Test(arguments: [Duration.seconds(600), .seconds(Int64.max)])
    func timedWaitEndsWhenTheHolderReleases(timeout: Duration) {
        let mutex = KMutex()
        let holder = ForeignHolder(mutex)
        holder.requestRelease()
        #expect(mutex.lock(timeout: timeout))
        mutex.unlock()
    }

    @Test func deadlineIsNormalized() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let deadline = KMutex.monotonicDeadline(after: .milliseconds(1_999))
        #expect((0..<1_000_000_000).contains(deadline.tv_nsec))
        let nanosAhead = (deadline.tv_sec - now.tv_sec) * 1_000_000_000 + (deadline.tv_nsec - now.tv_nsec)
        #expect(nanosAhead >= 1_999_000_000)

        let past = KMutex.monotonicDeadline(after: .milliseconds(-1_500))
        #expect((0..<1_000_000_000).contains(past.tv_nsec))
        #expect(past.tv_sec < now.tv_sec)
    }

    @Test func deadlineSaturatesInsteadOfOverflowing() {
        let farFuture = KMutex.monotonicDeadline(after: .seconds(Int64.max) + .seconds(Int64.max))
        #expect(farFuture.tv_sec == Int.max)
        #expect((0..<1_000_000_000).contains(farFuture.tv_nsec))
        let farPast = KMutex.monotonicDeadline(after: .seconds(Int64.min) + .seconds(Int64.min))
        #expect(farPast.tv_sec < 0)
        #expect((0..<1_000_000_000).contains(farPast.tv_nsec))
    }
}

@Suite("KMutex under contention")
struct KMutexStressTests {
    /// locktorture's shape: a plain `held` flag that a second owner would find set.
    @Test func concurrentPerformNeverOverlapsCriticalSections() {
        let mutex = KMutex()
        let state = Guarded((held: false, overlaps: 0, count: 0))
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<5_000 {
                mutex.withLock {
                    if state.value.held {
                        state.value.overlaps += 1
                    }
                    state.value.held = true
                    state.value.count += 1
                    state.value.held = false
                }
            }
        }
        #expect(state.value.overlaps == 0)
        #expect(state.value.count == 40_000)
    }

    /// Every way in, from more threads than cores, so that waiters sleep and get handoffs.
    @Test func threadsMixingEveryEntryPointCountExactly() {
        let mutex = KMutex()
        let count = Guarded(0)
        let acquisitions = runThreads(8) { index in
            var mine = 0
            for round in 0..<3_000 {
                switch (index + round) % 4 {
                case 0:
                    mutex.lock()
                    count.value += 1
                    mutex.unlock()
                    mine += 1
                case 1:
                    if mutex.tryLock() {
                        count.value += 1
                        mutex.unlock()
                        mine += 1
                    }
                case 2:
                    if mutex.lock(timeout: .microseconds(50)) {
                        count.value += 1
                        mutex.unlock()
                        mine += 1
                    }
                default:
                    if mutex.withLockIfAvailable({ count.value += 1 }) != nil {
                        mine += 1
                    }
                }
            }
            return mine
        }
        let total = acquisitions.reduce(0, +)
        #expect(count.value == total)
        #expect(total >= 8 * 750, "every thread's plain lock() rounds must all succeed")
    }

    /// Go's TestMutexFairness ("lockskew"): one thread holds the lock for ~100 us and relocks at
    /// once; another sleeps ~100 us between attempts and must still get the lock 10 times.  The
    /// bound counts the hog's rounds, not time: with handoff ("locking/mutex: Add lock handoff to
    /// avoid starvation") each of the victim's acquisitions costs the hog a few rounds, while a
    /// barging lock can let the hog win every round.
    @Test func lockskewWaiterIsNotStarved() {
        let mutex = KMutex()
        let victimDone = Atomic(false)
        let hogRounds = Guarded(0)
        let hogRoundLimit = 20_000
        runThreads(2) { index in
            if index == 0 {
                var rounds = 0
                // RELAXED: the flag only ends the loop; no data is published through it.
                while !victimDone.load(ordering: .relaxed) && rounds < hogRoundLimit {
                    mutex.withLock { _ = usleep(100) }
                    rounds += 1
                }
                hogRounds.value = rounds
            } else {
                for _ in 0..<10 {
                    usleep(100)
                    mutex.withLock {}
                }
                victimDone.store(true, ordering: .relaxed)
            }
        }
        let victimFinished = victimDone.load(ordering: .relaxed)
        #expect(victimFinished)
        #expect(hogRounds.value < hogRoundLimit, "the waiter needed \(hogRounds.value) hog rounds")
    }
}

@Suite("KMutexBox")
struct KMutexBoxTests {
    @Test func withLockMutatesInPlaceAndReturns() {
        let box = KMutexBox([1, 2])
        let count = box.withLock { values -> Int in
            values.append(3)
            return values.count
        }
        #expect(count == 3)
        #expect(box.withLock { $0 } == [1, 2, 3])
    }

    @Test func withLockKeepsChangesMadeBeforeAThrowAndReleases() {
        let box = KMutexBox(0)
        #expect(throws: Boom(code: 3)) {
            try box.withLock { (value: inout Int) throws(Boom) in
                value = 5
                throw Boom(code: 3)
            }
        }
        #expect(box.withLockIfAvailable { $0 } == 5)
    }

    @Test func withLockIfAvailableSkipsWhileAnotherThreadHoldsIt() {
        let box = KMutexBox("free", options: .noSpin)
        let entered = DispatchSemaphore(value: 0)
        let leave = DispatchSemaphore(value: 0)
        Thread {
            box.withLock { value in
                value = "held"
                entered.signal()
                leave.wait()
            }
        }.start()
        entered.wait()
        #expect(box.withLockIfAvailable { $0 } == nil)
        leave.signal()
        #expect(box.withLock { $0 } == "held")
    }

    /// Two fields that every critical section keeps equal: a torn or lost update breaks that.
    @Test func invariantHoldsUnderContention() {
        struct Pair: Sendable {
            var first = 0
            var second = 0
            var broken = 0
        }
        let box = KMutexBox(Pair())
        runThreads(6) { _ in
            for _ in 0..<4_000 {
                box.withLock { pair in
                    if pair.first != pair.second {
                        pair.broken += 1
                    }
                    pair.first += 1
                    pair.second += 1
                }
            }
        }
        let pair = box.withLock { $0 }
        #expect(pair.broken == 0)
        #expect(pair.first == 24_000)
        #expect(pair.second == 24_000)
    }

    @Test func boxOfSendableValueIsSendable() {
        func requireSendable<T: Sendable>(_: T.Type) -> Bool { true }
        #expect(requireSendable(KMutexBox<Int>.self))
        #expect(requireSendable(KMutex.self))
    }
}

/// Misuse reaches Swift as the C library's one-line report, then SIGABRT.  Each case runs in
/// a child process (the KMutexMisuse helper), since it ends the process.
@Suite("KMutex misuse")
struct KMutexMisuseTests {
    @Test(arguments: [
        ("unlock-by-non-owner", "unlock of a mutex owned by another thread"),
        ("recursive-lock", "recursive lock by the owner"),
        ("unlock-unlocked", "unlock of an unlocked mutex"),
        ("destroy-locked", "destroy of a locked mutex"),
    ])
    func misuseAbortsWithOneLineMessage(misuse: String, message: String) throws {
        let outcome = try runMisuseHelper(misuse)
        #expect(outcome.terminationReason == .uncaughtSignal)
        #expect(outcome.status == SIGABRT)
        let lines = outcome.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(outcome.standardError)")
        let report = try #require(lines.first)
        #expect(report.wholeMatch(of: /kmutex: (.+) \(mutex 0x[0-9a-f]+, thread [0-9]+\)/)?.1 == Substring(message))
    }
}

/// Lockdep in Swift debug builds (KMUTEX_LOCKDEP=1): every KMutex call goes through the debug
/// library's checked entry points, so lock orders are validated even when uncontended.
@Suite("KMutex lockdep")
struct KMutexLockdepTests {
    static let circular = "WARNING: possible circular locking dependency detected"

    @Test func abbaIsReportedOnce() throws {
        let outcome = try runMisuseHelper("lockdep-abba", lockdep: "1")
        #expect(outcome.terminationReason == .exit)
        #expect(outcome.status == 0)
#if DEBUG
        let reports = outcome.standardError.components(separatedBy: Self.circular).count - 1
        #expect(reports == 1, "stderr: \(outcome.standardError)")
#else
        // Release builds inline the fast path and do not validate lock orders.
        #expect(!outcome.standardError.contains(Self.circular))
#endif
    }

    @Test func nestedAnnotationAndOneOrderAreClean() throws {
        let outcome = try runMisuseHelper("lockdep-nested", lockdep: "1")
        #expect(outcome.terminationReason == .exit)
        #expect(outcome.status == 0)
        #expect(!outcome.standardError.contains("WARNING: possible"),
                "stderr: \(outcome.standardError)")
    }
}
