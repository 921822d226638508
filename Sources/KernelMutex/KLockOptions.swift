/// Options that turn off one of a lock's mechanisms, to measure what it buys: the type of
/// ``KMutex/Options`` and ``KRWLock/Options``, each of which has its own lock's options.
///
/// `Lock`, the lock type they are for, only keeps the kinds apart, so that a mutex's options
/// cannot be given to a reader-writer lock.
public struct KLockOptions<Lock>: OptionSet, Sendable {
    /// The options' bits, as the lock's C init function (`kmutex_init_flags`,
    /// `krwsem_init_flags`) takes them.
    public let rawValue: UInt32

    /// Creates a set of options from the C init function's bits.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }
}
