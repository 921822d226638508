import CKMutex

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A condition variable for ``KMutex``: threads wait, with the mutex held, until another
/// thread signals that what they wait for may have happened.
///
/// Shaped like NIOConcurrencyHelpers' `ConditionLock` and POSIX condition variables:
///
/// ```swift
/// let mutex = KMutex()
/// let nonEmpty = KCondition()
/// var queue: [Int] = []          // guarded by mutex
///
/// mutex.lock()
/// while queue.isEmpty {
///     nonEmpty.wait(on: mutex)   // releases the mutex while it sleeps
/// }
/// let item = queue.removeFirst()
/// mutex.unlock()
/// ```
///
/// A wait can return although nobody signalled (a spurious wakeup), so always wait in a loop
/// on the condition; no signal is ever lost. Every wait returns with the mutex held again.
/// ``broadcast()`` does not wake every waiter at once to fight for the mutex: it moves them
/// onto the mutex's wait list, and each unlock wakes the next ("wait morphing").
///
/// All threads waiting on one `KCondition` at a time must use the same mutex. For a value and
/// its condition together, ``KMutexBox/withLock(when:_:)`` is simpler.
// @unchecked: the only stored property is a pointer to the C condition variable, never
// reassigned; every access to the pointee goes through the C library's own locking.
public final class KCondition: @unchecked Sendable {
    /// The C condition variable, allocated once so that its address stays fixed.
    @usableFromInline
    internal let storage: UnsafeMutablePointer<kcond>

    /// Creates a condition variable with no waiters.
    public init() {
        storage = UnsafeMutablePointer<kcond>.allocate(capacity: 1)
        storage.initialize(to: kcond())
        kcond_init(storage)
    }

    deinit {
        // No thread can still be waiting: a waiter holds a reference.
        kcond_destroy(storage)
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    /// Releases `mutex`, sleeps until signalled (or spuriously), and acquires `mutex` again.
    ///
    /// - Parameter mutex: a mutex the calling thread holds; misuse otherwise (the process
    ///   ends with a one-line message).
    public func wait(on mutex: KMutex) {
        kcond_wait(storage, mutex.storage)
    }

    /// Like ``wait(on:)``, but gives up once `timeout` has passed.
    ///
    /// - Parameters:
    ///   - mutex: a mutex the calling thread holds; it is held again on return either way.
    ///   - timeout: how long to wait at most, on the monotonic clock.
    /// - Returns: `false` if the time ran out, `true` if woken (or spuriously) before.
    public func wait(on mutex: KMutex, timeout: Duration) -> Bool {
        var deadline = KMutex.monotonicDeadline(after: timeout)
        return wait(on: mutex, deadline: &deadline)
    }

    /// The timed wait, to an absolute CLOCK_MONOTONIC deadline: `false` if it passed.
    @usableFromInline
    internal func wait(on mutex: KMutex, deadline: inout timespec) -> Bool {
        switch kcond_wait_timeout(storage, mutex.storage, &deadline) {
        case 0:
            return true
        case -ETIMEDOUT:
            return false
        case let result:
            preconditionFailure("kcond_wait_timeout returned \(result)")
        }
    }

    /// Wakes one waiting thread, if any. The caller need not hold the mutex.
    public func signal() {
        kcond_signal(storage)
    }

    /// Wakes every waiting thread; they reacquire the mutex one at a time.
    public func broadcast() {
        kcond_broadcast(storage)
    }
}
