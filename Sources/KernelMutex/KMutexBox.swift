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
public final class KMutexBox<Value> {
    /// The lock that guards ``value``.
    @usableFromInline
    internal let mutex: KMutex

    /// The value, read and written only inside `mutex`'s critical sections.  Behind a pointer
    /// rather than in a `var` property: the mutex already makes access exclusive, and a class
    /// property's dynamic exclusivity check would put a runtime call on the fast path.
    @usableFromInline
    internal let value: UnsafeMutablePointer<Value>

    /// Creates a box holding `value`, guarded by a new mutex.
    ///
    /// - Parameters:
    ///   - value: the initial value.
    ///   - options: mechanisms of the mutex to turn off; see ``KMutex/Options``.
    public init(_ value: Value, options: KMutex.Options = []) {
        self.mutex = KMutex(options: options)
        self.value = UnsafeMutablePointer<Value>.allocate(capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
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
            try body(&value.pointee)
        }
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
            try body(&value.pointee)
        }
    }
}

// @unchecked: the value sits behind a pointer, which the compiler cannot prove safe to share.
// Every access to it happens inside `mutex`'s critical section (the pointer is not public, and
// only withLock and withLockIfAvailable dereference it), and the mutex's acquire/release
// ordering publishes each critical section's writes to the next; Value: Sendable lets the
// value itself (and anything it references) be touched from whichever thread holds the lock.
extension KMutexBox: @unchecked Sendable where Value: Sendable {}
