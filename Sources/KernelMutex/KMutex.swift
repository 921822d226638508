import CKMutex

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mutual-exclusion lock built on the Linux kernel's mutex protocol.
///
/// `KMutex` takes a free lock with one compare-and-swap that is inlined into your code. When the
/// lock is held it spins briefly while the owner is likely to release it soon, then sleeps on a
/// futex in a FIFO wait list. A waiter that keeps losing the lock to newcomers asks for it to be
/// handed over directly, so no thread starves.
///
/// The API follows `Synchronization.Mutex`:
///
/// ```swift
/// let mutex = KMutex()
/// var hits = 0
/// mutex.withLock { hits += 1 }
/// ```
///
/// ## Rules of use
///
/// The mutex is not recursive, and only the thread that locked it may unlock it. Breaking either
/// rule ends the process with a one-line message on standard error naming the mistake, for
/// example `kmutex: recursive lock by the owner (mutex 0x…, thread 1234)`.
///
/// As for every lock of this module (``KRWLock`` refers here): a thread must not exit while it
/// holds the lock, and the lock must not be held across an `await`: the task may resume on
/// another thread, which would then release a lock it does not hold.
// @unchecked: the only stored property is a pointer to the C mutex, which is never reassigned;
// every access to the pointee goes through the C library's atomic protocol, which is what makes
// sharing this object between threads safe.
public final class KMutex: @unchecked Sendable {
    /// The C mutex: allocated once so that its address stays fixed for its whole life, as the
    /// C library requires (the owner word and the wait list are addressed by pointer).
    @usableFromInline
    internal let storage: UnsafeMutablePointer<kmutex>

    /// Options that turn off one of the mutex's mechanisms, to measure what it buys:
    /// `noHandoff` and `noSpin`.
    public typealias Options = KLockOptions<KMutex>

    /// Creates an unlocked mutex.
    ///
    /// The mutex belongs to a lock class, the unit the contention statistics and the probes
    /// report on: `name` if given (every mutex given an equal name shares one class), else the
    /// call site, `"Module/File.swift:line"`, as C's `kmutex_init` names it.
    ///
    /// - Parameters:
    ///   - options: mechanisms to turn off; the default keeps spinning and handoff on.
    ///   - name: the lock class name; `nil` names the class after the caller's location.
    public init(
        options: Options = [], name: String? = nil,
        fileID: StaticString = #fileID, line: UInt = #line
    ) {
        storage = UnsafeMutablePointer<kmutex>.allocate(capacity: 1)
        storage.initialize(to: kmutex())
        kmutex_init_flags(storage, options.rawValue)
        // kmutex_set_name copies the string once per distinct name (the C side interns it).
        kmutex_set_name(storage, name ?? "\(fileID):\(line)")
    }

    /// The lock class name this mutex reports under.
    public var name: String {
        storage.pointee.name.map { String(cString: $0) } ?? "(unnamed)"
    }

    deinit {
        // Aborts with a message if the mutex is still locked: a thread still inside a critical
        // section cannot be holding a reference, so that is a lock never unlocked.
        kmutex_destroy(storage)
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    /// Acquires the lock, waiting as long as it takes.
    ///
    /// Pair every call with ``unlock()`` on the same thread; prefer ``withLock(_:)``, which
    /// cannot forget to unlock.
    @inlinable
    public func lock() {
        KMutex.lock(storage)
    }

    /// Acquires the lock, as ``lock()``, for a lock of the same class as one the thread already
    /// holds, in an order the program keeps (a parent before its child): `subclass` (0...7)
    /// makes the acquisition a class of its own for lockdep, as the kernel's
    /// `mutex_lock_nested`. Release builds take the lock exactly as ``lock()`` does.
    @inlinable
    public func lock(nested subclass: UInt32) {
        precondition(subclass < 8, "KMutex.lock(nested:): subclass out of range (0...7)")
#if DEBUG
        kmutex__lock_nested_slow(storage, subclass)
#else
        kmutex_lock(storage)
#endif
    }

    /// Releases the lock, waking a waiting thread if there is one.
    ///
    /// Only the thread that acquired the lock may release it.
    @inlinable
    public func unlock() {
        KMutex.unlock(storage)
    }

    /// Acquires the lock if it is free, without waiting.
    ///
    /// - Returns: `true` if the calling thread now holds the lock. `false` if another thread
    ///   holds it, and also if the calling thread does (the mutex is not recursive).
    @inlinable
    public func tryLock() -> Bool {
        KMutex.tryLock(storage)
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// A free lock is taken even when `timeout` is zero or negative.
    ///
    /// - Parameter timeout: how long to wait, measured on the monotonic clock.
    /// - Returns: `true` if the calling thread now holds the lock; `false` if the time ran out.
    @inlinable
    public func lock(timeout: Duration) -> Bool {
        var deadline: timespec
#if DEBUG
        // The checked entry point sees the wait, for lockdep a blocking (timed) acquisition.
        deadline = KMutex.monotonicDeadline(after: timeout)
        return KMutex.timedLockSucceeded(
            kmutex__lock_slow(storage, KMUTEX__TIMED, &deadline))
#else
        // The deadline costs a clock read: skip it when the lock is free.
        if kmutex_trylock(storage) != 0 {
            return true
        }
        deadline = KMutex.monotonicDeadline(after: timeout)
        return KMutex.timedLockSucceeded(kmutex_lock_timeout(storage, &deadline))
#endif
    }

    /// Runs `body` while holding the lock, and releases the lock when `body` returns or throws.
    ///
    /// - Parameter body: the critical section.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, after the lock has been released.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: () throws(E) -> Result
    ) throws(E) -> Result {
        KMutex.lock(storage)
        defer { KMutex.unlock(storage) }
        return try body()
    }

    /// Runs `body` while holding the lock taken with ``lock(nested:)``, and releases it when
    /// `body` returns or throws.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(
        nested subclass: UInt32, _ body: () throws(E) -> Result
    ) throws(E) -> Result {
        lock(nested: subclass)
        defer { KMutex.unlock(storage) }
        return try body()
    }

    /// Runs `body` while holding the lock if the lock is free; otherwise returns `nil` at once.
    ///
    /// - Parameter body: the critical section.
    /// - Returns: what `body` returns, or `nil` if the lock was held (also by the caller).
    /// - Throws: what `body` throws, after the lock has been released.
    @inlinable
    public func withLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: () throws(E) -> Result
    ) throws(E) -> Result? {
        guard KMutex.tryLock(storage) else {
            return nil
        }
        defer { KMutex.unlock(storage) }
        return try body()
    }

    // The entry points.  Release builds inline the header's fast paths (one cmpxchg; see
    // scripts/check-swift-inlining.py).  Debug builds call the slow entry points, as C code
    // compiled with -DKMUTEX_DEBUG does: Package.swift defines KMUTEX_DEBUG for the C files
    // only, so the header Swift imports keeps its inline fast path, which would hide every
    // uncontended lock from the debug library's checks and from lockdep (KMUTEX_LOCKDEP=1).

    @inlinable @inline(__always)
    internal static func lock(_ storage: UnsafeMutablePointer<kmutex>) {
#if DEBUG
        _ = kmutex__lock_slow(storage, 0, nil)
#else
        kmutex_lock(storage)
#endif
    }

    @inlinable @inline(__always)
    internal static func unlock(_ storage: UnsafeMutablePointer<kmutex>) {
#if DEBUG
        kmutex__unlock_slow(storage)
#else
        kmutex_unlock(storage)
#endif
    }

    @inlinable @inline(__always)
    internal static func tryLock(_ storage: UnsafeMutablePointer<kmutex>) -> Bool {
#if DEBUG
        return kmutex__trylock_slow(storage) != 0
#else
        return kmutex_trylock(storage) != 0
#endif
    }

    /// The absolute CLOCK_MONOTONIC time `timeout` from now, as `kmutex_lock_timeout` takes it.
    /// Saturates instead of overflowing for durations beyond the clock's range.
    @usableFromInline
    internal static func monotonicDeadline(after timeout: Duration) -> timespec {
        let nanosPerSecond = 1_000_000_000
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // From attoseconds, since Duration.components traps for durations beyond Int64 seconds.
        let attosPerSecond: Int128 = 1_000_000_000_000_000_000
        let seconds = Int(clamping: timeout.attoseconds / attosPerSecond)
        // Truncating toward zero never waits longer than asked.
        var nanos = now.tv_nsec + Int((timeout.attoseconds % attosPerSecond) / 1_000_000_000)
        var carry = 0
        if nanos >= nanosPerSecond {
            nanos -= nanosPerSecond
            carry = 1
        } else if nanos < 0 {
            nanos += nanosPerSecond
            carry = -1
        }
        let wholeSeconds = saturatingSum(saturatingSum(now.tv_sec, seconds), carry)
        return timespec(tv_sec: wholeSeconds, tv_nsec: nanos)
    }

    @usableFromInline
    internal static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard overflow else {
            return sum
        }
        return b < 0 ? Int.min : Int.max
    }

    /// Maps `kmutex_lock_timeout`'s result to acquired (true) or timed out (false).
    @usableFromInline
    internal static func timedLockSucceeded(_ result: Int32) -> Bool {
        switch result {
        case 0:
            return true
        case -ETIMEDOUT:
            return false
        default:
            // Only a malformed deadline gives anything else, and monotonicDeadline never
            // makes one.
            preconditionFailure("kmutex_lock_timeout returned \(result)")
        }
    }
}

extension KLockOptions where Lock == KMutex {
    /// Never hand the lock to a waiting thread: the behaviour before Linux v4.10, under which a
    /// waiter can starve while other threads keep taking the lock.
    public static var noHandoff: Self { Self(rawValue: UInt32(KMUTEX_NO_HANDOFF)) }

    /// Never spin: a thread that finds the lock held goes straight to sleep.
    public static var noSpin: Self { Self(rawValue: UInt32(KMUTEX_NO_SPIN)) }
}
