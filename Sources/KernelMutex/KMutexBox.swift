import CKMutex

/// A value that can be read and changed only while holding its own ``KMutex``.
///
/// Shaped like swift-nio's `NIOLockedValueBox` and `Synchronization.Mutex<Value>`:
///
/// ```swift
/// let counts = KMutexBox([String: Int]())
/// counts.withLock { $0["hits", default: 0] += 1 }
/// ```
///
/// `KMutexBox` is a class, so unlike `Synchronization.Mutex` it can be stored in a `var`,
/// captured by escaping closures and shared by reference.
///
/// A thread can also wait until the value satisfies a condition, as with absl's
/// `Mutex::Await` or NIOConcurrencyHelpers' `ConditionLock`:
///
/// ```swift
/// let queue = KMutexBox([Int]())
/// let item = queue.withLock(when: { !$0.isEmpty }) { $0.removeFirst() }   // consumer
/// queue.withLock { $0.append(42) }                                       // producer
/// ```
///
/// Every `withLock` that ends while a thread waits in `withLock(when:)` wakes the waiters
/// to re-evaluate their conditions, so no explicit signal is needed.
public final class KMutexBox<Value> {
    /// The lock that guards ``value``.
    @usableFromInline
    internal let mutex: KMutex

    /// The value, read and written only inside `mutex`'s critical sections.  Behind a pointer
    /// rather than in a `var` property: the mutex already makes access exclusive, and a class
    /// property's dynamic exclusivity check would put a runtime call on the fast path.
    @usableFromInline
    internal let value: UnsafeMutablePointer<Value>

    /// Threads waiting in `withLock(when:)`, read and written only inside `mutex`'s critical
    /// sections (behind a pointer for the same reason as `value`).
    @usableFromInline
    internal let conditionWaiters: UnsafeMutablePointer<Int>

    /// Where `withLock(when:)` waits for the value to change.
    @usableFromInline
    internal let changed = KCondition()

    /// Creates a box holding `value`, guarded by a new mutex.
    ///
    /// - Parameters:
    ///   - value: the initial value.
    ///   - options: mechanisms of the mutex to turn off; see ``KMutex/Options``.
    public init(_ value: Value, options: KMutex.Options = []) {
        self.mutex = KMutex(options: options)
        self.value = UnsafeMutablePointer<Value>.allocate(capacity: 1)
        self.value.initialize(to: value)
        self.conditionWaiters = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        self.conditionWaiters.initialize(to: 0)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        conditionWaiters.deallocate()
    }

    /// Inside the critical section, after `body`: let conditional waiters re-evaluate.  One
    /// load and a branch when nobody waits; with waiters, the broadcast moves them onto the
    /// mutex, and they re-check their conditions one at a time as it is unlocked.
    @inlinable
    internal func notifyConditionWaiters() {
        if conditionWaiters.pointee != 0 {
            changed.broadcast()
        }
    }

    /// Runs `body` with exclusive access to the value, releasing the lock when `body` returns
    /// or throws.
    ///
    /// - Parameter body: the critical section; it may change the value in place.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, after the lock has been released (changes that `body`
    ///   made before throwing are kept).
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result {
        try mutex.withLock { () throws(E) -> Result in
            defer { notifyConditionWaiters() }
            return try body(&value.pointee)
        }
    }

    /// Waits until `condition` holds for the value, then runs `body` with exclusive access to
    /// it, in the same critical section (the condition still holds when `body` starts).
    ///
    /// `condition` is evaluated with the lock held: at once, and again each time another
    /// critical section of this box ends.
    ///
    /// - Parameters:
    ///   - condition: what to wait for; it must not change the value or take other locks.
    ///   - body: the critical section; it may change the value in place.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, after the lock has been released.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(
        when condition: (borrowing Value) -> Bool,
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        while !condition(value.pointee) {
            conditionWaiters.pointee += 1
            changed.wait(on: mutex)
            conditionWaiters.pointee -= 1
        }
        defer { notifyConditionWaiters() }
        return try body(&value.pointee)
    }

    /// Like ``withLock(when:_:)``, but gives up once `timeout` has passed.
    ///
    /// - Returns: what `body` returns, or `nil` if the condition did not hold in time
    ///   (`body` did not run).
    @inlinable
    public func withLock<Result, E: Error>(
        when condition: (borrowing Value) -> Bool,
        timeout: Duration,
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result? {
        var deadline = KMutex.monotonicDeadline(after: timeout)
        mutex.lock()
        defer { mutex.unlock() }
        while !condition(value.pointee) {
            conditionWaiters.pointee += 1
            let woken = changed.wait(on: mutex, deadline: &deadline)
            conditionWaiters.pointee -= 1
            if !woken && !condition(value.pointee) {
                return nil
            }
        }
        defer { notifyConditionWaiters() }
        return try body(&value.pointee)
    }

    /// Runs `body` with exclusive access to the value if the lock is free; otherwise returns
    /// `nil` at once.
    ///
    /// - Parameter body: the critical section; it may change the value in place.
    /// - Returns: what `body` returns, or `nil` if the lock was held (also by the caller).
    /// - Throws: what `body` throws, after the lock has been released.
    @inlinable
    public func withLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result? {
        try mutex.withLockIfAvailable { () throws(E) -> Result in
            defer { notifyConditionWaiters() }
            return try body(&value.pointee)
        }
    }
}

// @unchecked: the value sits behind a pointer, which the compiler cannot prove safe to share.
// Every access to it happens inside `mutex`'s critical section (the pointer is not public, and
// only the withLock methods dereference it), and the mutex's acquire/release
// ordering publishes each critical section's writes to the next; Value: Sendable lets the
// value itself (and anything it references) be touched from whichever thread holds the lock.
extension KMutexBox: @unchecked Sendable where Value: Sendable {}
