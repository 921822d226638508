// KMutex against the locks a Swift program would otherwise use: Synchronization.Mutex (a
// priority-inheritance futex lock on Linux) and a pthread_mutex wrapper, plus the C fast path
// called from C.  Every benchmark reports the time of one lock/unlock pair around a counter
// increment (the scaling factor divides each measurement by the pairs it made).
import Benchmark
import CBenchFastPath
import Foundation
import KernelMutex
import Synchronization

/// A lock as the contended benchmarks drive it: `increment` adds one to a counter under the lock.
protocol CountingLock: Sendable {
    func increment()
    func total() -> Int
}

/// Holds a counter that only the lock's critical sections touch.  Behind a pointer, as
/// KMutexBox and Synchronization.Mutex keep their values: a class `var` would add a dynamic
/// exclusivity check (a runtime call) to every critical section and blur the comparison.
final class Counter: @unchecked Sendable {
    // @unchecked: the pointee is read and written only under the lock of the CountingLock
    // that owns this Counter.
    let value: UnsafeMutablePointer<Int>

    init() {
        value = .allocate(capacity: 1)
        value.initialize(to: 0)
    }

    deinit {
        value.deallocate()
    }
}

final class KMutexCounter: CountingLock {
    let mutex = KMutex()
    let counter = Counter()

    @inline(__always)
    func increment() {
        mutex.withLock { counter.value.pointee += 1 }
    }

    func total() -> Int {
        mutex.withLock { counter.value.pointee }
    }
}

final class KMutexBoxCounter: CountingLock {
    let box = KMutexBox(0)

    @inline(__always)
    func increment() {
        box.withLock { $0 += 1 }
    }

    func total() -> Int {
        box.withLock { $0 }
    }
}

final class SynchronizationMutexCounter: CountingLock {
    let mutex = Mutex(0)

    @inline(__always)
    func increment() {
        mutex.withLock { $0 += 1 }
    }

    func total() -> Int {
        mutex.withLock { $0 }
    }
}

/// The pthread_mutex wrapper a Swift program on Linux writes by hand (default, non-recursive
/// attributes), the way swift-nio's NIOLock does.
final class PthreadMutexCounter: CountingLock {
    // nonisolated(unsafe): the pthread mutex lives at a fixed heap address and is touched only
    // through pthread calls, which synchronize among themselves; `counter` only under it.
    nonisolated(unsafe) let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let counter = Counter()

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inline(__always)
    func increment() {
        pthread_mutex_lock(mutex)
        counter.value.pointee += 1
        pthread_mutex_unlock(mutex)
    }

    func total() -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return counter.value.pointee
    }
}

/// Makes `pairs` increments spread over `threads` threads (each its own Thread, not a pool
/// capped at the core count) and returns when all are done.
func hammer(_ lock: some CountingLock, threads: Int, pairs: Int) {
    let done = DispatchSemaphore(value: 0)
    for index in 0..<threads {
        let share = pairs / threads + (index < pairs % threads ? 1 : 0)
        let thread = Thread {
            for _ in 0..<share {
                lock.increment()
            }
            done.signal()
        }
        thread.start()
    }
    for _ in 0..<threads {
        done.wait()
    }
}

/// Registers the uncontended and the 2-, 4- and 8-thread benchmarks of one kind of lock.
/// Generic rather than over `any CountingLock`, so that each lock's increment is specialized
/// and inlined into the loop as it would be in a program using that lock.
func registerBenchmarks<Lock: CountingLock>(_ name: String, _ make: @escaping @Sendable () -> Lock) {
    Benchmark("uncontended: \(name)", configuration: .init(scalingFactor: .mega)) { benchmark in
        let lock = make()
        for _ in benchmark.scaledIterations {
            lock.increment()
        }
        precondition(lock.total() == benchmark.scaledIterations.count)
    }
    for threads in [2, 4, 8] {
        Benchmark(
            "contended \(threads) threads: \(name)",
            configuration: .init(scalingFactor: .mega, maxIterations: 15)
        ) { benchmark in
            let lock = make()
            hammer(lock, threads: threads, pairs: benchmark.scaledIterations.count)
            precondition(lock.total() == benchmark.scaledIterations.count)
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 50
    )

    Benchmark(
        "uncontended: C kmutex_lock/kmutex_unlock",
        configuration: .init(scalingFactor: .mega)
    ) { benchmark in
        blackHole(bench_c_lock_unlock(UInt64(benchmark.scaledIterations.count)))
    }
    registerBenchmarks("KMutex.withLock") { KMutexCounter() }
    registerBenchmarks("KMutexBox.withLock") { KMutexBoxCounter() }
    registerBenchmarks("Synchronization.Mutex.withLock") { SynchronizationMutexCounter() }
    registerBenchmarks("pthread_mutex wrapper") { PthreadMutexCounter() }
}
