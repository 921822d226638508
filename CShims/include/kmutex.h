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
 *     async-signal-safe call).  A zero-filled struct kmutex is a valid unlocked mutex; one
 *     filled with garbage is caught when first contended (the debug build: on first use).
 * Checks that cost nothing (those on the slow paths) are always on.  Compiling the caller with
 * -DKMUTEX_DEBUG and linking the debug library (`make debug`) routes every call through the
 * checked entry points: destroyed and corrupted mutexes are caught on every call too, and with
 * KMUTEX_LOCKDEP=1 in the environment lock orders are validated (CShims/lockdep.h, docs/lockdep.md).
 *
 * This header compiles as C11 and as C++, and Swift imports it: fields are plain integers
 * accessed with __atomic builtins, because Swift cannot see _Atomic struct fields.
 */
#ifndef KMUTEX_H
#define KMUTEX_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
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
 *
 * All zeros is a valid unlocked mutex (KMUTEX_INITIALIZER), so that a kmutex can live inside a
 * zero-initialized object, a pthread_mutex_t among them (PTHREAD_MUTEX_INITIALIZER is all
 * zeros, and libkmutex-pthread keeps a kmutex in place there): 40 bytes, the size of glibc's
 * pthread_mutex_t on x86_64 (48 on aarch64), with `options` at the offset of glibc's __kind
 * (16 on both), where its static initializers write the mutex type.
 */
struct kmutex {
	uintptr_t owner;                    /* owning task | WAITERS, HANDOFF, PICKUP, AWAKE; atomic */
	struct kmutex_waiter *wait_list;    /* FIFO head (circular), written under wait_lock */
	uint16_t options;                   /* KMUTEX__OPT_*, and a layered API's type tag */
	uint16_t spin_estimate;             /* spin average and misses (hints); relaxed atomics */
	uint32_t wait_lock;                 /* futex word of the internal lock guarding the list */
	uint32_t osq_tail;                  /* last spinner queued, as its task's id + 1; atomic */
	uint32_t depth;                     /* for a layered API (pthread recursion); core ignores */
	const char *name;                   /* lock class name, or NULL: see kmutex_set_name */
};

/*
 * options: the low byte is a type tag the core ignores (libkmutex-pthread keeps the pthread
 * mutex type there, where glibc's static initializers write it); the high byte is the core's.
 */
#define KMUTEX__TYPE_MASK      0x00ffu
#define KMUTEX__OPT_NO_HANDOFF 0x0100u
#define KMUTEX__OPT_NO_SPIN    0x0200u
#define KMUTEX__OPT_DESTROYED  0x8000u /* kmutex_destroy ran; any later use is misuse */
#define KMUTEX__OPT_KNOWN      (KMUTEX__TYPE_MASK | KMUTEX__OPT_NO_HANDOFF | KMUTEX__OPT_NO_SPIN)

#ifdef __cplusplus
#define KMUTEX_INITIALIZER { 0, 0, 0, 0, 0, 0, 0, 0 }
#define DEFINE_KMUTEX(lockname) struct kmutex lockname = { 0, 0, 0, 0, 0, 0, 0, #lockname }
#else
#define KMUTEX_INITIALIZER { 0 }
/* The lock class is named after the variable, as the kernel's DEFINE_MUTEX names its map. */
#define DEFINE_KMUTEX(lockname) struct kmutex lockname = { .name = #lockname }
#endif

/*
 * Lock classes.  A class is every mutex with the same name pointer (struct kmutex.name), and
 * the statistics (and lockdep) count per class:
 *  - DEFINE_KMUTEX(x): the class "x", one per variable;
 *  - kmutex_init(m) and kmutex_init_flags(m, f), called from C or C++: the class of the call
 *    site, named "file.c:123", as the kernel's mutex_init() keys its class by a static
 *    lock_class_key in the macro.  Every mutex initialized at one call site is in one class
 *    (an init call in a header's inline function gets one class per file that expands it);
 *  - kmutex_set_name(m, "..."): the class of that string, shared by every mutex given an
 *    equal string;
 *  - no name (KMUTEX_INITIALIZER, a zero-filled mutex, and the functions kmutex_init and
 *    kmutex_init_flags called by address or from Swift): the one class "(unnamed)".
 * The macros below stand for the functions of the same name; `(kmutex_init)(m)` and
 * `&kmutex_init` still reach the functions, which leave the mutex unnamed.
 */
void kmutex_init(struct kmutex *lock);
void kmutex_init_flags(struct kmutex *lock, unsigned flags);
/* kmutex_init_flags, then the class `name` (kept as is: a string that outlives the mutex). */
void kmutex__init_named(struct kmutex *lock, unsigned flags, const char *name);
#define KMUTEX__STR2(x) #x
#define KMUTEX__STR(x) KMUTEX__STR2(x)
#define KMUTEX__CALL_SITE __FILE__ ":" KMUTEX__STR(__LINE__)
#define kmutex_init(lock) kmutex__init_named((lock), 0, KMUTEX__CALL_SITE)
#define kmutex_init_flags(lock, flags) kmutex__init_named((lock), (flags), KMUTEX__CALL_SITE)
/* Aborts if the mutex is locked or has waiters; afterwards it must be initialized again. */
void kmutex_destroy(struct kmutex *lock);
/*
 * Names the mutex's lock class (for reports).  The string is copied once per distinct name;
 * all mutexes given the same name share one class.
 */
void kmutex_set_name(struct kmutex *lock, const char *name);

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

/*
 * Contention statistics per lock class, in the layout of the kernel's /proc/lock_stat (see
 * docs/observability.md).  Off unless enabled: KMUTEX_STAT=1 in the environment
 * collects them and prints the table on stderr at exit; KMUTEX_STAT=PATH writes it to PATH and
 * a CSV to PATH.csv.  Release builds count contended calls only (the fast path stays one
 * cmpxchg); acquisitions and hold times come with the debug build.
 */
int kmutex_stat_enable(int on);        /* on (1), off (0), or -1 to ask; returns the old state */
void kmutex_stat_dump(FILE *out);      /* the table, most contended class first */
void kmutex_stat_dump_csv(FILE *out);  /* the same rows as CSV, with a header line */
void kmutex_stat_reset(void);          /* every class's counters back to zero */

/* ---- implementation of the inline entry points; not API ---------------------------------- */

#define KMUTEX__INTERRUPTIBLE 0x1
#define KMUTEX__TIMED         0x2
#define KMUTEX__REALTIME      0x4 /* with TIMED: the deadline is on CLOCK_REALTIME */
#define KMUTEX__RELOCK        0x8 /* the caller may own it: wait for another thread's unlock */

#ifdef KMX_RELACY /* verify/weak: one descriptor per Relacy thread, which all share one OS thread */
#define kmutex__current (*kmx_rl_current())
#else
extern __thread struct kmutex_task *kmutex__current __attribute__((tls_model("initial-exec")));
#endif
struct kmutex_task *kmutex__task_create(void);
int kmutex__lock_slow(struct kmutex *lock, int mode, const struct timespec *deadline);
void kmutex__lock_nested_slow(struct kmutex *lock, unsigned subclass);
int kmutex__trylock_slow(struct kmutex *lock);
void kmutex__unlock_slow(struct kmutex *lock);
/* For the pthread drop-in: release the lock for whoever owns it (kmutex.c explains). */
void kmutex__unlock_slow_any(struct kmutex *lock);

/* The calling thread's descriptor, created on its first use of a kmutex. */
static inline struct kmutex_task *kmutex__self(void)
{
	struct kmutex_task *self = kmutex__current;

	if (__builtin_expect(self == 0, 0))
		self = kmutex__task_create();
	return self;
}

/*
 * Fast paths: one cmpxchg each, as mainline's __mutex_trylock_fast/__mutex_unlock_fast (the
 * unlock's after a load).  Any flag bit in the owner word makes the lock take the slow
 * path; the unlock also releases inline when the word says WAITERS|AWAKE.
 */
/* M:fast_lock (verify/kmutex.pml lock()) */
/* self: the caller's descriptor (a layered API may pass kmutex__current when it is known). */
static inline int kmutex__acquire_fast_as(struct kmutex *lock, struct kmutex_task *self)
{
	uintptr_t unowned = 0;

	/* ACQUIRE on success pairs with the RELEASE of the previous owner's unlock; on failure
	 * nothing is read that needs ordering (the slow path reads the word again). */
	return __atomic_compare_exchange_n(&lock->owner, &unowned, (uintptr_t)self, 0,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline int kmutex__acquire_fast(struct kmutex *lock)
{
	return kmutex__acquire_fast_as(lock, kmutex__self());
}

#define KMUTEX__OWNER_AWAKE_HEAD 0x9u /* KMX_FLAG_WAITERS | KMX_FLAG_AWAKE (CShims/owner.h) */

/*
 * M:fast_unlock, and M:release's AWAKE case inline (verify/kmutex.pml unlock()).  With
 * waiters whose head is awake and has not asked for a handoff (the word is self|WAITERS|
 * AWAKE), the unlock releases keeping the flags: kmutex.c's release_if_no_waiters() does the
 * same after a failed fast path.  Doing it here, from one load and one cmpxchg with the value
 * expected, saves the failed cmpxchg and the call: with more threads than CPUs the word
 * carries WAITERS nearly always, and this measured +5-14% there (docs/results.md, issue 12).  Any other
 * word (misuse, HANDOFF, a head to wake) goes to the slow path, as does a word that changed
 * between the load and the cmpxchg.  The model's fast_unlock and release steps cover both
 * cases: the omitted failed cmpxchg was a step that changed nothing.
 */
static inline int kmutex__release_fast_as(struct kmutex *lock, struct kmutex_task *task)
{
	uintptr_t self = (uintptr_t)task;
	/* RELAXED: only a guess at the expected value; the cmpxchg checks it. */
	uintptr_t owner = __atomic_load_n(&lock->owner, __ATOMIC_RELAXED);
	uintptr_t flags = owner ^ self; /* the flags, if we own it */

	if (flags != 0 && flags != KMUTEX__OWNER_AWAKE_HEAD)
		return 0;
	/* RELEASE publishes the critical section to the next owner's ACQUIRE cmpxchg. */
	return __atomic_compare_exchange_n(&lock->owner, &owner, flags, 0,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

static inline int kmutex__release_fast(struct kmutex *lock)
{
	return kmutex__release_fast_as(lock, kmutex__self());
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

/*
 * kmutex_lock, for a lock of the same class as one the thread already holds, when the program
 * orders the two (a parent before its child, say): subclass 0..7 makes the acquisition a class
 * of its own for lockdep (the kernel's mutex_lock_nested()), so that holding one of each is not
 * "recursive locking".  The release build compiles it to kmutex_lock.
 */
static inline void kmutex_lock_nested(struct kmutex *lock, unsigned subclass)
{
#ifdef KMUTEX_DEBUG
	kmutex__lock_nested_slow(lock, subclass);
#else
	(void)subclass;
	kmutex_lock(lock);
#endif
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
	/* RELAXED: a snapshot orders nothing. 0xf masks the flag bits. */
	return (__atomic_load_n(&lock->owner, __ATOMIC_RELAXED) & ~(uintptr_t)0xf) != 0;
}

#undef KMUTEX__FAST

/* ---- kcond: a condition variable for kmutex ------------------------------------------------ */

/*
 * Waits for a condition with a kmutex held, as pthread_cond_* do with a pthread mutex (see
 * CShims/kcond.c for the design).  Wakeups may be spurious, so wait in a loop on the predicate;
 * none is lost.  Every wait releases the mutex while it sleeps and returns with it held again,
 * whatever it returns.  kcond_broadcast wakes one waiter and moves the others onto the
 * mutex's wait list, where unlocks wake them one at a time ("wait morphing").
 * All waiters of a kcond at one time must use the same mutex.  All zeros is a valid kcond.
 */
struct kcond {
	uint32_t lock;                    /* internal lock word guarding the rest (a wait_lock) */
	uint32_t refs;                    /* waiters that may still touch the kcond; atomic */
	struct kmutex_waiter *waiters;    /* FIFO (circular), under lock */
	void *mutex;                      /* the current waiters' mutex, or NULL; under lock */
	uint32_t mutex_kind;              /* KCOND__KMUTEX or KCOND__FOREIGN; under lock */
	uint32_t attr;                    /* for a layered API (the pthread clock); core ignores */
};

#define KCOND_INITIALIZER { 0, 0, 0, 0, 0, 0 }
#define DEFINE_KCOND(name) struct kcond name = KCOND_INITIALIZER

void kcond_init(struct kcond *c);
/* Waits for woken waiters to stop touching the kcond; misuse if a thread still waits on it. */
void kcond_destroy(struct kcond *c);
void kcond_wait(struct kcond *c, struct kmutex *m);
/* deadline: absolute CLOCK_MONOTONIC.  0, or -ETIMEDOUT (-EINVAL: tv_nsec out of range). */
int kcond_wait_timeout(struct kcond *c, struct kmutex *m, const struct timespec *deadline);
/* 0, or -EINTR: interrupted as kmutex_lock_interruptible is (see kmutex_interrupt_self). */
int kcond_wait_interruptible(struct kcond *c, struct kmutex *m);
void kcond_signal(struct kcond *c);
void kcond_broadcast(struct kcond *c);

/* Internal, for layered APIs (libkmutex-pthread): a wait on any mutex, with these modes. */
#define KCOND__KMUTEX      1u
#define KCOND__FOREIGN     2u
#define KCOND__CANCELLABLE 0x100 /* a pthread cancellation point: relocks before cleanups run */

/* The mutex a kcond wait releases and retakes: a kmutex (wait morphing), or any other lock. */
struct kcond_mutex {
	struct kmutex *kmutex;            /* or NULL, and: */
	void *foreign;
	void (*foreign_lock)(void *foreign);
	int (*foreign_unlock)(void *foreign); /* 0, or an error: the wait returns it at once */
};

/* mode: KMUTEX__INTERRUPTIBLE, KMUTEX__TIMED (+ KMUTEX__REALTIME), KCOND__CANCELLABLE. */
int kcond__wait(struct kcond *c, const struct kcond_mutex *m, int mode,
		const struct timespec *deadline);

#ifdef __cplusplus
}
#endif

/* The reader-writer semaphore, built on the same machinery. */
#include "krwsem.h"

#endif /* KMUTEX_H */
