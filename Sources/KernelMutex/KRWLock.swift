import CKMutex

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A reader-writer lock built on the Linux kernel's `rw_semaphore` protocol (krwsem).
///
/// Any number of threads may hold the lock for reading at once; a thread holding it for writing
/// excludes everyone. Neither side starves: a waiter at the head of the queue that has waited
/// about a millisecond stops newcomers from barging in until it gets the lock, so a writer
/// behind a stream of readers, or a reader behind a stream of writers, waits a bounded time
/// (`docs/rwsem.md`).
///
/// ```swift
/// let lock = KRWLock()
/// var table: [String: Int] = [:]
/// let hits = lock.withReadLock { table["hits"] ?? 0 }
/// lock.withWriteLock { table["hits"] = hits + 1 }
/// ```
///
/// ## Rules of use
///
/// Read locks are recursive: a thread that holds a read lock may take it again, even while a
/// writer waits (POSIX's promise for `pthread_rwlock_rdlock`; the kernel's rwsem deadlocks
/// there). Write locks are not: the write holder asking again, for reading or writing, ends the
/// process with a one-line message naming the mistake (its ``tryLockRead()`` and
/// ``tryLockWrite()`` return `false`), as does releasing a lock the thread does not hold. The
/// rest are ``KMutex``'s rules of use: no thread exits holding the lock, none holds it across
/// an `await`.
// @unchecked: the only stored property is a pointer to the C krwsem, never reassigned; every
// access to the pointee goes through the C library's atomic protocol.
public final class KRWLock: @unchecked Sendable {
    /// The C krwsem, allocated once so that its address stays fixed for its whole life (waiters
    /// are linked to it by pointer).
    @usableFromInline
    internal let storage: UnsafeMutablePointer<krwsem>

    /// Options that turn off one of the lock's mechanisms, to measure what it buys:
    /// `noSpin`.
    public typealias Options = KLockOptions<KRWLock>

    /// Creates an unlocked reader-writer lock.
    ///
    /// - Parameters:
    ///   - options: mechanisms to turn off; the default keeps writer spinning on.
    ///   - name: the lock class name; `nil` names the class after the caller's location,
    ///     `"Module/File.swift:line"`, as C's `krwsem_init` names it.
    public init(
        options: Options = [], name: String? = nil,
        fileID: StaticString = #fileID, line: UInt = #line
    ) {
        storage = UnsafeMutablePointer<krwsem>.allocate(capacity: 1)
        storage.initialize(to: krwsem())
        krwsem_init_flags(storage, options.rawValue)
        // krwsem_set_name copies the string once per distinct name (the C side interns it).
        krwsem_set_name(storage, name ?? "\(fileID):\(line)")
    }

    /// The lock class name this lock reports under.
    public var name: String {
        storage.pointee.name.map { String(cString: $0) } ?? "(unnamed)"
    }

    deinit {
        // Aborts with a message if the lock is still held or waited on: nobody can be inside a
        // critical section without holding a reference, so that is a lock never released.
        krwsem_destroy(storage)
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    // The entry points.  Unlike kmutex, krwsem has no inline fast path in its header (every
    // call is one call into the C library, whose fast path is inlined there), so release and
    // debug builds call the same functions and there is nothing for Swift to inline but the
    // call itself (scripts/check-swift-inlining.py checks KMutex only).

    /// Acquires the lock for reading, waiting as long as it takes.
    ///
    /// Pair every call with ``unlockRead()`` on the same thread; prefer ``withReadLock(_:)``.
    @inlinable
    public func lockRead() {
        krwsem_down_read(storage)
    }

    /// Releases a read lock.
    @inlinable
    public func unlockRead() {
        krwsem_up_read(storage)
    }

    /// Acquires the lock for writing, waiting as long as it takes.
    ///
    /// Pair every call with ``unlockWrite()`` on the same thread; prefer ``withWriteLock(_:)``.
    @inlinable
    public func lockWrite() {
        krwsem_down_write(storage)
    }

    /// Releases the write lock. Only the thread that acquired it may release it.
    @inlinable
    public func unlockWrite() {
        krwsem_up_write(storage)
    }

    /// Turns the caller's write lock into a read lock without letting a writer in between;
    /// readers queued behind it are let in with it. Release it with ``unlockRead()``.
    @inlinable
    public func downgrade() {
        krwsem_downgrade_write(storage)
    }

    /// Acquires a read lock if that needs no waiting.
    ///
    /// - Returns: `true` if the calling thread now holds a read lock. `false` if a writer holds
    ///   the lock, or if threads are queued for it and the caller holds no read lock of it
    ///   (a reader does not barge past waiting writers).
    @inlinable
    public func tryLockRead() -> Bool {
        krwsem_down_read_trylock(storage) != 0
    }

    /// Acquires the write lock if it is free, without waiting.
    ///
    /// - Returns: `true` if the calling thread now holds the write lock.
    @inlinable
    public func tryLockWrite() -> Bool {
        krwsem_down_write_trylock(storage) != 0
    }

    /// Acquires a read lock, waiting at most `timeout` (on the monotonic clock).
    ///
    /// - Returns: `true` if the calling thread now holds a read lock; `false` if the time ran out.
    @inlinable
    public func lockRead(timeout: Duration) -> Bool {
        // The deadline costs a clock read: skip it when the lock can be had at once.
        if krwsem_down_read_trylock(storage) != 0 {
            return true
        }
        var deadline = KMutex.monotonicDeadline(after: timeout)
        return KRWLock.timedLockSucceeded(krwsem_down_read_timeout(storage, &deadline))
    }

    /// Acquires the write lock, waiting at most `timeout` (on the monotonic clock).
    ///
    /// - Returns: `true` if the calling thread now holds the write lock; `false` if the time
    ///   ran out.
    @inlinable
    public func lockWrite(timeout: Duration) -> Bool {
        if krwsem_down_write_trylock(storage) != 0 {
            return true
        }
        var deadline = KMutex.monotonicDeadline(after: timeout)
        return KRWLock.timedLockSucceeded(krwsem_down_write_timeout(storage, &deadline))
    }

    /// Runs `body` while holding a read lock, and releases it when `body` returns or throws.
    @inlinable
    public func withReadLock<Result: ~Copyable, E: Error>(
        _ body: () throws(E) -> Result
    ) throws(E) -> Result {
        krwsem_down_read(storage)
        defer { krwsem_up_read(storage) }
        return try body()
    }

    /// Runs `body` while holding the write lock, and releases it when `body` returns or throws.
    @inlinable
    public func withWriteLock<Result: ~Copyable, E: Error>(
        _ body: () throws(E) -> Result
    ) throws(E) -> Result {
        krwsem_down_write(storage)
        defer { krwsem_up_write(storage) }
        return try body()
    }

    /// Runs `body` under a read lock if one can be had without waiting (see ``tryLockRead()``);
    /// otherwise returns `nil` at once.
    @inlinable
    public func withReadLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: () throws(E) -> Result
    ) throws(E) -> Result? {
        guard tryLockRead() else {
            return nil
        }
        defer { krwsem_up_read(storage) }
        return try body()
    }

    /// Runs `body` under the write lock if it is free; otherwise returns `nil` at once.
    @inlinable
    public func withWriteLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: () throws(E) -> Result
    ) throws(E) -> Result? {
        guard tryLockWrite() else {
            return nil
        }
        defer { krwsem_up_write(storage) }
        return try body()
    }

    /// Runs `body` under a read lock if one can be had within `timeout`; otherwise returns
    /// `nil` (`body` did not run).
    @inlinable
    public func withReadLock<Result, E: Error>(
        timeout: Duration, _ body: () throws(E) -> Result
    ) throws(E) -> Result? {
        guard lockRead(timeout: timeout) else {
            return nil
        }
        defer { krwsem_up_read(storage) }
        return try body()
    }

    /// Runs `body` under the write lock if it can be had within `timeout`; otherwise returns
    /// `nil` (`body` did not run).
    @inlinable
    public func withWriteLock<Result, E: Error>(
        timeout: Duration, _ body: () throws(E) -> Result
    ) throws(E) -> Result? {
        guard lockWrite(timeout: timeout) else {
            return nil
        }
        defer { krwsem_up_write(storage) }
        return try body()
    }

    /// Maps a timed krwsem call's result to acquired (true) or timed out (false).
    @usableFromInline
    internal static func timedLockSucceeded(_ result: Int32) -> Bool {
        switch result {
        case 0:
            return true
        case -ETIMEDOUT:
            return false
        case -EAGAIN:
            preconditionFailure("KRWLock: reader count overflow")
        default:
            // Only a malformed deadline gives anything else, and monotonicDeadline never
            // makes one.
            preconditionFailure("krwsem timed lock returned \(result)")
        }
    }
}

extension KLockOptions where Lock == KRWLock {
    /// Writers never spin: a writer that finds the lock held goes straight to sleep.
    public static var noSpin: Self { Self(rawValue: UInt32(KRWSEM_NO_SPIN)) }
}

/// A value that can be read under a shared lock and changed under an exclusive one: a
/// ``KRWLock`` and the value it guards, shaped like ``KMutexBox``.
///
/// ```swift
/// let config = KRWLockBox(["mode": "fast"])
/// let mode = config.withReadLock { $0["mode"] }      // many readers at once
/// config.withWriteLock { $0["mode"] = "safe" }       // one writer, nobody else
/// ```
///
/// `KRWLockBox` is a class: it can be stored in a `var`, captured by escaping closures and
/// shared by reference.
public final class KRWLockBox<Value> {
    /// The lock that guards ``value``.
    @usableFromInline
    internal let lock: KRWLock

    /// The value: read only under a read or write lock of `lock`, written only under its write
    /// lock.  Behind a pointer, as KMutexBox's, so that no dynamic exclusivity check (which
    /// would flag concurrent readers) stands on the path.
    @usableFromInline
    internal let value: UnsafeMutablePointer<Value>

    /// Creates a box holding `value`, guarded by a new lock.
    public init(_ value: Value, options: KRWLock.Options = []) {
        self.lock = KRWLock(options: options)
        self.value = UnsafeMutablePointer<Value>.allocate(capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with shared, read-only access to the value; other readers may run at once.
    @inlinable
    public func withReadLock<Result: ~Copyable, E: Error>(
        _ body: (borrowing Value) throws(E) -> Result
    ) throws(E) -> Result {
        try lock.withReadLock { () throws(E) -> Result in try body(value.pointee) }
    }

    /// Runs `body` with exclusive access to the value; changes it makes in place are kept, also
    /// when it throws.
    @inlinable
    public func withWriteLock<Result: ~Copyable, E: Error>(
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result {
        try lock.withWriteLock { () throws(E) -> Result in try body(&value.pointee) }
    }

    /// ``withReadLock(_:)`` if a read lock can be had without waiting; otherwise `nil`.
    @inlinable
    public func withReadLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: (borrowing Value) throws(E) -> Result
    ) throws(E) -> Result? {
        try lock.withReadLockIfAvailable { () throws(E) -> Result in try body(value.pointee) }
    }

    /// ``withWriteLock(_:)`` if the lock is free; otherwise `nil`.
    @inlinable
    public func withWriteLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result? {
        try lock.withWriteLockIfAvailable { () throws(E) -> Result in try body(&value.pointee) }
    }

    /// ``withReadLock(_:)`` if a read lock can be had within `timeout`; otherwise `nil`.
    @inlinable
    public func withReadLock<Result, E: Error>(
        timeout: Duration, _ body: (borrowing Value) throws(E) -> Result
    ) throws(E) -> Result? {
        try lock.withReadLock(timeout: timeout) { () throws(E) -> Result in try body(value.pointee) }
    }

    /// ``withWriteLock(_:)`` if the write lock can be had within `timeout`; otherwise `nil`.
    @inlinable
    public func withWriteLock<Result, E: Error>(
        timeout: Duration, _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result? {
        try lock.withWriteLock(timeout: timeout) { () throws(E) -> Result in try body(&value.pointee) }
    }
}

// @unchecked: the value sits behind a pointer the compiler cannot prove safe to share.  It is
// read only under the lock's read or write side and written only under its write side, and
// krwsem's acquire/release ordering publishes each write section to the next holder;
// Value: Sendable lets the value be touched from whichever thread holds the lock (several
// readers at once only read it).
extension KRWLockBox: @unchecked Sendable where Value: Sendable {}
