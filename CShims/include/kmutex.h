/*
 * kmutex: the Linux kernel's mutex (kernel/locking/mutex.c, v4.11 and later) for user space.
 *
 * A sleeping lock with a one-cmpxchg fast path, optimistic spinning behind an MCS/OSQ queue,
 * and a FIFO wait list whose head can ask for the lock to be handed to it, so that no waiter
 * starves behind threads that keep stealing the lock.  See CShims/kmutex.c for the protocol.
 *
 * Rules of use (misuse is reported on stderr as one line, then abort()):
 *   - a mutex is unlocked only by the thread that locked it, and is not locked recursively;
 *   - a mutex stays at one address from kmutex_init (or its static initializer) to
 *     kmutex_destroy, and is destroyed only when unlocked and without waiters;
 *   - a thread does not exit while it holds a mutex;
 *   - a mutex is not locked from a signal handler (kmutex_interrupt_self() is the one
 *     async-signal-safe call), and a zero-filled struct kmutex is not initialized: the
 *     release build notices only when the mutex is first contended.
 * Checks that cost nothing (those on the slow paths) are always on.  Compiling the caller with
 * -DKMUTEX_DEBUG and linking the debug library (`make debug`) routes every call through the
 * checked entry points: uninitialized, destroyed and corrupted mutexes are caught too.
 *
 * This header compiles as C11 and as C++, and Swift imports it: fields are plain integers
 * accessed with __atomic builtins, because Swift cannot see _Atomic struct fields.
 */
#ifndef KMUTEX_H
#define KMUTEX_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options for kmutex_init_flags(); they exist so benchmarks can show what each mechanism buys. */
#define KMUTEX_NO_HANDOFF 0x1u /* never hand the lock to a waiter: the behaviour before v4.10 */
#define KMUTEX_NO_SPIN    0x2u /* never spin optimistically: lock, or sleep on the wait list */

struct kmutex_task;     /* a thread's descriptor; its address is the owner identity */
struct kmutex_waiter;   /* a sleeping waiter's node on the wait list */
struct kmutex_osq_node; /* a spinner's node in the optimistic spin queue */

/*
 * Embeddable; it must keep a fixed address while in use.  All fields are private.
 */
struct kmutex {
	uintptr_t owner;                    /* owning task | WAITERS, HANDOFF, PICKUP; atomic */
	uint32_t wait_lock;                 /* futex word of the internal lock guarding the list */
	uint32_t spin_estimate;             /* adaptive spin budget (a hint); relaxed atomics */
	struct kmutex_waiter *wait_head;    /* FIFO wait list, written under wait_lock */
	struct kmutex_waiter *wait_tail;
	struct kmutex_osq_node *osq_tail;   /* last spinner queued, or NULL; atomic */
	uint32_t options;                   /* KMUTEX_NO_HANDOFF | KMUTEX_NO_SPIN */
	uint32_t magic;                     /* KMUTEX__MAGIC while initialized */
};

#define KMUTEX__MAGIC 0x6b6d7478u /* "kmtx" */

#define KMUTEX_INITIALIZER { 0, 0, 0, 0, 0, 0, 0, KMUTEX__MAGIC }
#define DEFINE_KMUTEX(name) struct kmutex name = KMUTEX_INITIALIZER

void kmutex_init(struct kmutex *lock);
void kmutex_init_flags(struct kmutex *lock, unsigned flags);
/* Aborts if the mutex is locked or has waiters; afterwards it must be initialized again. */
void kmutex_destroy(struct kmutex *lock);

/*
 * Interruption mirrors the kernel's signal_pending(), which stays set until a waiter sees it.
 *  - A signal handler that runs while a thread sleeps in kmutex_lock_interruptible() ends the
 *    wait with -EINTR, whatever the handler did, SA_RESTART or not (the futex sleep has a
 *    timeout, and the kernel does not restart such a sleep after a handler ran).
 *  - A handler that calls kmutex_interrupt_self() leaves an interruption pending for its
 *    thread, so a signal that lands while the waiter spins, or between its checks, is not lost:
 *    the next interruptible wait of that thread that has to wait returns -EINTR.
 * The pending interruption is consumed by the interruptible wait it ends.  A free lock (or one
 * already handed to the waiter) is still taken, and then the interruption stays pending.
 * kmutex_lock() and kmutex_lock_timeout() never look at interruptions.
 * kmutex_interrupt_self() is async-signal-safe.
 */
void kmutex_interrupt_self(void);

/* ---- implementation of the inline entry points; not API ---------------------------------- */

#define KMUTEX__INTERRUPTIBLE 0x1
#define KMUTEX__TIMED         0x2

extern __thread struct kmutex_task *kmutex__current __attribute__((tls_model("initial-exec")));
struct kmutex_task *kmutex__task_create(void);
int kmutex__lock_slow(struct kmutex *lock, int mode, const struct timespec *deadline);
int kmutex__trylock_slow(struct kmutex *lock);
void kmutex__unlock_slow(struct kmutex *lock);

/* The calling thread's descriptor, created on its first use of a kmutex. */
static inline struct kmutex_task *kmutex__self(void)
{
	struct kmutex_task *self = kmutex__current;

	if (__builtin_expect(self == 0, 0))
		self = kmutex__task_create();
	return self;
}

/*
 * Fast paths: one cmpxchg each, as mainline's __mutex_trylock_fast/__mutex_unlock_fast.
 * Any flag bit in the owner word makes them fail and take the slow path.
 */
/* M:fast_lock (verify/kmutex.pml lock()) */
static inline int kmutex__acquire_fast(struct kmutex *lock)
{
	uintptr_t unowned = 0;

	/* ACQUIRE on success pairs with the RELEASE of the previous owner's unlock; on failure
	 * nothing is read that needs ordering (the slow path reads the word again). */
	return __atomic_compare_exchange_n(&lock->owner, &unowned, (uintptr_t)kmutex__self(), 0,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* M:fast_unlock (verify/kmutex.pml unlock()) */
static inline int kmutex__release_fast(struct kmutex *lock)
{
	uintptr_t self = (uintptr_t)kmutex__self();

	/* RELEASE publishes the critical section to the next owner's ACQUIRE cmpxchg. */
	return __atomic_compare_exchange_n(&lock->owner, &self, 0, 0,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

#ifdef KMUTEX_DEBUG
#define KMUTEX__FAST(x) 0 /* debug: every call goes through the checked slow entry points */
#else
#define KMUTEX__FAST(x) (x)
#endif

/* ---- the locking API ----------------------------------------------------------------------- */

static inline void kmutex_lock(struct kmutex *lock)
{
	if (!KMUTEX__FAST(kmutex__acquire_fast(lock)))
		(void)kmutex__lock_slow(lock, 0, 0);
}

/* 0, or -EINTR: interrupted while waiting (see kmutex_interrupt_self above). */
static inline int kmutex_lock_interruptible(struct kmutex *lock)
{
	if (KMUTEX__FAST(kmutex__acquire_fast(lock)))
		return 0;
	return kmutex__lock_slow(lock, KMUTEX__INTERRUPTIBLE, 0);
}

/*
 * deadline is absolute, on CLOCK_MONOTONIC.  0, or -ETIMEDOUT: the deadline passed first.
 * A deadline already past still takes a free lock.  -EINVAL if tv_nsec is out of range
 * (checked when the call has to wait; a NULL deadline is misuse).
 */
static inline int kmutex_lock_timeout(struct kmutex *lock, const struct timespec *deadline)
{
	if (KMUTEX__FAST(kmutex__acquire_fast(lock)))
		return 0;
	return kmutex__lock_slow(lock, KMUTEX__TIMED, deadline);
}

/* 1 acquired, 0 not; 0 for the owner too (the mutex is not recursive). Never sleeps. */
static inline int kmutex_trylock(struct kmutex *lock)
{
	if (KMUTEX__FAST(kmutex__acquire_fast(lock)))
		return 1;
	return kmutex__trylock_slow(lock);
}

static inline void kmutex_unlock(struct kmutex *lock)
{
	if (!KMUTEX__FAST(kmutex__release_fast(lock)))
		kmutex__unlock_slow(lock);
}

/* 1 if some thread owns the mutex.  A snapshot: it may change as soon as it is read. */
static inline int kmutex_is_locked(const struct kmutex *lock)
{
	/* RELAXED: a snapshot orders nothing. 0x7 masks the flag bits. */
	return (__atomic_load_n(&lock->owner, __ATOMIC_RELAXED) & ~(uintptr_t)0x7) != 0;
}

#undef KMUTEX__FAST

#ifdef __cplusplus
}
#endif

#endif /* KMUTEX_H */
