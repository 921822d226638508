/*
 * kmutex: the kernel mutex protocol (kernel/locking/mutex.c as of v4.11 and later), in user
 * space, on futexes.
 *
 * A kmutex is one owner word (the owning thread's descriptor plus four flags, see owner.h),
 * a FIFO list of sleeping waiters guarded by a small internal wait_lock, and an optimistic
 * spin queue (OSQ).  A thread trying to take it goes through up to three stages:
 *
 *  1. Fast path: one cmpxchg 0 -> self (inline in kmutex.h).  Unlock is cmpxchg self -> 0,
 *     or self|WAITERS|AWAKE -> WAITERS|AWAKE (an awake head: nobody to wake).  Any other flag
 *     in the word sends both to the slow paths below.
 *
 *  2. Optimistic spinning.  If the lock is held, the thread queues on the OSQ; the OSQ's head
 *     alone polls the owner word, for as long as it names the same owner, and takes the lock
 *     the moment it is released.  The kernel spins while the owner is running on a CPU
 *     (owner_on_cpu()); user space sees only part of that (an owner that last ran on the
 *     spinner's own CPU is not running: the rseq cpu_id, sched_view.h), so the spin is bounded
 *     by a budget that adapts to how long spinning has recently taken to succeed on this
 *     mutex (spin_budget()).
 *     A spin that fails where spinning usually works is most likely a preempted owner or
 *     spinner, and a sleep would leave this CPU idle until the scheduler's next balance, so
 *     the thread first yields its CPU and tries again, for about one wakeup latency
 *     (yield_and_spin()); a real-time thread does not, since its sched_yield() cannot give
 *     the CPU to a lower-priority owner.
 *
 *  3. Sleeping.  The thread queues a waiter node at the tail of the wait list, sets WAITERS,
 *     and sleeps on its own futex word.  Unlock releases the lock (under wait_lock, see
 *     kmutex__unlock_slow) and wakes the head waiter, who must compete for the lock again
 *     (until it has, further unlocks just release: "the awake head", below): a
 *     spinner or a fresh arrival may take it first ("lock stealing").  Stealing is what makes
 *     the mutex fast, since the lock never sits idle waiting for a sleeper to get a CPU, and
 *     it is also what can starve a waiter.
 *
 * Handoff is the answer to starvation ("locking/mutex: Add lock handoff to avoid starvation",
 * v4.10, and its fixes in v4.11 and 2021).  When the head waiter wakes and fails to get the
 * lock, it sets HANDOFF in the same cmpxchg that finds the lock owned.  The owner's unlock then
 * does not release: it stores the head's descriptor with PICKUP, and the head accepts it with
 * its next trylock, which it does under wait_lock before it looks at signals or deadlines, so
 * a handed-off lock is always picked up.  A lock can thus be stolen from a waiter at most once
 * per wakeup: the price is one wakeup latency per handoff, during which nobody holds the lock;
 * the head waiter spins (without the OSQ) to catch the lock without sleeping when it can.
 *
 * KMUTEX_NO_HANDOFF and KMUTEX_NO_SPIN turn the two mechanisms off per mutex, so a benchmark
 * can show what each buys.  The build flag KMUTEX_V410_HANDOFF restores the v4.10 acceptance
 * rule (owner == self accepted in the wait loop, `first` decided once, no PICKUP), which has
 * the bug reported at the end of the seed thread; the regression tests show it.
 *
 * Units: owner.h (the word), osq.c (spin queue), wait_lock.c (the internal lock), wait_list.h
 * (the FIFO), task.c (per-thread descriptors), futex.h (sleep and wake).  verify/kmutex.pml
 * is a Promela model of this protocol (`make verify`); each step below names its model step
 * (M:...), and the model names these functions.
 */
#include "kmutex.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "debug.h"
#include "futex.h"
#include "hung_task.h"
#include "kmutex_int.h"
#include "lock_class.h"
#include "lockdep.h"
#include "lock_stat.h"
#include "osq.h"
#include "owner.h"
#include "task.h"
#include "test_hooks.h"
#include "wait_list.h"
#include "wait_lock.h"

_Static_assert(KMUTEX__OWNER_AWAKE_HEAD == (KMX_FLAG_WAITERS | KMX_FLAG_AWAKE),
	       "kmutex.h's inline release must keep exactly WAITERS|AWAKE");

/* ---- misuse checks --------------------------------------------------------------------- */

/*
 * All zeros is a valid mutex, so there is no magic number to check: instead, the fields must
 * hold values the protocol can produce.  options has a bit for a destroyed mutex and few known
 * bits; garbage (malloc'd memory never initialized, a stray write) almost surely sets another,
 * or puts a value in wait_lock other than its three states.
 */
static void check_valid(const struct kmutex *lock)
{
	/* RELAXED: options is written at init and destroy, which the user orders with every use. */
	uint16_t options = kmx_load(&lock->options, KMX_RELAXED);

	if (kmx_unlikely(options & ~KMUTEX__OPT_KNOWN))
		kmx_misuse(options == (KMUTEX__OPT_DESTROYED | (options & KMUTEX__TYPE_MASK))
				   ? "use of a destroyed mutex"
				   : "use of an uninitialized or corrupted mutex",
			   lock);
	/* RELAXED: a snapshot; any of the three states is possible at any time. */
	if (kmx_unlikely(kmx_load(&lock->wait_lock, KMX_RELAXED) > KMX_WL_CONTENDED))
		kmx_misuse("use of an uninitialized or corrupted mutex", lock);
}

#ifdef KMUTEX_DEBUG
/* Debug builds: the wait list is well formed and PICKUP names the head waiter. */
static void check_wait_list(const struct kmutex *lock)
{
	const struct kmutex_waiter *head = lock->wait_list, *waiter = head;
	uintptr_t owner = kmx_load(&lock->owner, KMX_RELAXED); /* under wait_lock: a snapshot */

	if (head) {
		do {
			if (waiter->next->prev != waiter)
				kmx_misuse("corrupted mutex: wait list links broken", lock);
			waiter = waiter->next;
		} while (waiter != head);
	}
	if ((owner & KMX_FLAG_PICKUP) && (!head || head->task != kmx_owner_task(owner)))
		kmx_misuse("corrupted mutex: handed to a thread that is not the head waiter", lock);
}
#else
static inline void check_wait_list(const struct kmutex *lock) { (void)lock; }
#endif

static void lock_wait_list(struct kmutex *lock)
{
	kmx_wait_lock(&lock->wait_lock);
	check_wait_list(lock);
}

static void unlock_wait_list(struct kmutex *lock)
{
	check_wait_list(lock);
	kmx_wait_unlock(&lock->wait_lock);
}

/* ---- initialization -------------------------------------------------------------------- */

void (kmutex_init_flags)(struct kmutex *lock, unsigned flags)
{
	if (flags & ~(KMUTEX_NO_HANDOFF | KMUTEX_NO_SPIN))
		kmx_misuse("kmutex_init_flags: unknown flag", lock);
	kmx_lockdep_mutex_forget(lock); /* a new lock at this address: a new unnamed class */
	memset(lock, 0, sizeof(*lock));
	lock->options = (uint16_t)(((flags & KMUTEX_NO_HANDOFF) ? KMUTEX__OPT_NO_HANDOFF : 0) |
				   ((flags & KMUTEX_NO_SPIN) ? KMUTEX__OPT_NO_SPIN : 0));
}

void kmutex_set_name(struct kmutex *lock, const char *name)
{
	check_valid(lock);
	lock->name = name ? kmx_class_intern(name) : NULL;
}

void (kmutex_init)(struct kmutex *lock)
{
	(kmutex_init_flags)(lock, 0);
}

/*
 * The call-site class: the string literal the macro passes has static storage, and one
 * address per call site, so it is the class key as it is, without interning.
 */
void kmutex__init_named(struct kmutex *lock, unsigned flags, const char *name)
{
	(kmutex_init_flags)(lock, flags);
	lock->name = name;
}

void kmutex_destroy(struct kmutex *lock)
{
	uintptr_t owner;

	check_valid(lock);
	/* RELAXED snapshots: destroy is legal only when nothing races with it; these only catch
	 * the misuse of a mutex still in use. */
	owner = kmx_load(&lock->owner, KMX_RELAXED);
	if (kmx_owner_task(owner))
		kmx_misuse("destroy of a locked mutex", lock);
	if (owner || kmx_load(&lock->wait_list, KMX_RELAXED) ||
	    kmx_load(&lock->osq_tail, KMX_RELAXED) || kmx_load(&lock->wait_lock, KMX_RELAXED))
		kmx_misuse("destroy of a mutex with waiters", lock);
	kmx_lockdep_mutex_forget(lock);
	kmx_store(&lock->options, lock->options | KMUTEX__OPT_DESTROYED, KMX_RELAXED);
}

/* ---- when to hand over ----------------------------------------------------------------- */

/*
 * Mainline sets HANDOFF as soon as the woken head fails once.  Zijlstra's own patch message
 * (the seed thread) leaves room for more: "we can add a counter and only request handoff after
 * multiple failed wakeups".  Every handoff leaves the lock unused for one wakeup latency (tens
 * of microseconds here, a scheduler tick on a loaded machine), so kmutex asks only once the
 * head has been the head for handoff_after_ns (Go's sync.Mutex enters its starvation mode
 * after 1 ms; rwsem hands off after 4 ms).  The time counts from when the node became the
 * head, not from when it joined the list: counted from joining, every waiter behind a slow
 * head is owed the lock the moment it gets to the front, and the lock goes from handoff to
 * handoff, each a wakeup latency of idle lock.
 *
 * The unlocker decides as well as the head, in one case: a head that is asleep and has been
 * first that long is handed the lock by the unlock that wakes it, so that a handoff costs the
 * waiter one wakeup, not two (one to fail and ask, one to pick up).  A head that is awake is
 * never handed the lock unasked: it may be runnable but waiting for a CPU, and with more
 * threads than CPUs that wait is milliseconds, all of them with the lock unused.  It asks
 * itself when it runs, and then it is spinning when the lock comes (the AWAKE flag, below,
 * marks that case; issue 12's measurements are in docs/perf-analysis.md, section 4).
 *
 * KMUTEX_HANDOFF_AFTER_US in the environment sets the time (0: exactly mainline's rule); it
 * is read once.
 */
#define HANDOFF_AFTER_DEFAULT_NS 1000000ull

static uint64_t handoff_after_cached = KMX_ENV_UNSET;

static uint64_t handoff_after_ns(void)
{
	return kmx_env_time_ns(&handoff_after_cached, "KMUTEX_HANDOFF_AFTER_US",
			       HANDOFF_AFTER_DEFAULT_NS);
}

uint64_t kmx_monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* Has the waiter been at the head of the list long enough to be owed the lock? */
static __attribute__((unused)) bool waited_long_enough(const struct kmutex_waiter *waiter)
{
	uint64_t after = handoff_after_ns();

	/*
	 * RELAXED: the head reads this without wait_lock; the store it may miss (made when the
	 * node became the head) only replaces an older time, the enqueue's.
	 */
	return after == 0 || kmx_monotonic_ns() - kmx_load(&waiter->since, KMX_RELAXED) >= after;
}

/*
 * The awake head (AWAKE, owner.h).  An unlock with waiters takes wait_lock to wake the head;
 * once it has, and until the head has run and failed again, there is nobody to wake: every
 * further unlock only needs to release the lock.  At 16 threads on 2 CPUs a woken head waits
 * milliseconds for a CPU, and the unlocks in between were 80-90% of all unlocks, each paying
 * wait_lock's two RMWs and a look at the head's line.  So the unlock that wakes the head
 * releases with AWAKE set, and an unlock that finds AWAKE (and no HANDOFF) releases in one
 * cmpxchg, keeping the flags, without wait_lock (inline, in kmutex.h's kmutex__release_fast;
 * release_if_no_waiters() here when that missed).  Why nothing is lost:
 *  - AWAKE is set only under wait_lock, by the unlock that has just marked the head's wakeup,
 *    so the head will try the lock again before it sleeps;
 *  - the head, before it sleeps or gives up, tries the lock under wait_lock with
 *    TRY_BEFORE_SLEEP: if the lock is owned, the same cmpxchg clears AWAKE, so that owner's
 *    unlock comes after it (coherence on the owner word) and takes wait_lock to wake it; if
 *    the lock is free, it takes it;
 *  - a head that leaves the list clears AWAKE under wait_lock (the next head is asleep), and
 *    the last waiter to leave clears every flag;
 *  - POSIX's free-after-unlock rule (kmutex__unlock_slow()) still holds: AWAKE means a waiter
 *    is on the list, and its lock call returns only after it has taken wait_lock from the
 *    unlock that may still be using the mutex.
 * Go's sync.Mutex does the same with its mutexWoken bit, for spinners as well as the woken.
 */

/* ---- trylock: the one cmpxchg loop every acquisition goes through ---------------------- */

/* What a trylock does when it finds the lock owned (see trylock_common()). */
enum trylock_mode {
	TRY_PLAIN,        /* fail */
	TRY_HANDOFF,      /* fail, setting HANDOFF: the head waiter asks for the lock */
	TRY_BEFORE_SLEEP, /* fail, clearing AWAKE: a waiter about to sleep, or to leave */
};

#ifndef KMUTEX_V410_HANDOFF
/*
 * M:trylock.  Try to take the lock; return NULL on success, else the task that owns it.
 * (mainline's __mutex_trylock_common, "Introduce __mutex_trylock_or_handoff()", 2021)
 *  - free: take it, keeping WAITERS and AWAKE (HANDOFF and PICKUP are never set on a free
 *    lock);
 *  - PICKUP naming us: pick up the lock handed to us, clearing PICKUP;
 *  - owned, TRY_HANDOFF: set HANDOFF in the same cmpxchg that found the lock owned, so
 *    that HANDOFF never lands on a free lock where a thief would clear it;
 *  - owned, TRY_BEFORE_SLEEP: clear AWAKE in the same cmpxchg that found the lock owned, so
 *    that the owner's unlock, which comes after it, wakes the head (see "the awake head");
 *  - owned otherwise (PICKUP for someone else included): fail.
 */
static struct kmutex_task *trylock_common(struct kmutex *lock, struct kmutex_task *self,
					  enum trylock_mode mode)
{
	/* RELAXED: only a guess for the cmpxchg below, which checks it. */
	uintptr_t owner = kmx_load(&lock->owner, KMX_RELAXED);

	for (;;) { /* loops only when a flag changed under us */
		uintptr_t flags = kmx_owner_flags(owner);
		struct kmutex_task *task = kmx_owner_task(owner);
		/* Who holds it after our cmpxchg, as far as the caller is concerned: NULL if we
		 * take it, else its owner, whose flags we change (ourselves for a KMUTEX__RELOCK). */
		struct kmutex_task *holder = task;

		if (task) {
			if (flags & KMX_FLAG_PICKUP) {
				if (task != self)
					return task;
				flags &= ~KMX_FLAG_PICKUP;
				holder = NULL;
			} else if (mode == TRY_HANDOFF) {
				if (flags & KMX_FLAG_HANDOFF)
					return task;
				flags |= KMX_FLAG_HANDOFF;
			} else if (mode == TRY_BEFORE_SLEEP) {
				if (!(flags & KMX_FLAG_AWAKE))
					return task;
				flags &= ~KMX_FLAG_AWAKE;
			} else {
				return task;
			}
		} else {
			if (kmx_unlikely(flags & (KMX_FLAG_HANDOFF | KMX_FLAG_PICKUP)))
				kmx_misuse("corrupted mutex: handoff flags on a free lock", lock);
			task = self;
		}
		/*
		 * ACQUIRE when we take the lock, free or handed over: pairs with the RELEASE of the
		 * unlock (release_if_no_waiters() or release_or_hand_over()).  The pickup is a
		 * successful cmpxchg, so it has acquire semantics by itself: the v4.10 code needed an
		 * smp_mb() because it accepted a handoff from a plain read (seed thread, Peter
		 * Zijlstra / Will Deacon).
		 * When we only set HANDOFF or clear AWAKE, ACQUIRE is more than needed, and free
		 * on x86.
		 */
		if (kmx_try_cmpxchg(&lock->owner, &owner, (uintptr_t)task | flags, KMX_ACQUIRE))
			return holder;
	}
}

/*
 * The `first` parameters of the three waiter_* steps are used only by the KMUTEX_V410_HANDOFF
 * variant below; in mainline, PICKUP decides acceptance, not the waiter's idea of its place.
 */

/*
 * M:trylock (loop top).  The waiter's trylock under wait_lock before it sleeps or gives up:
 * also picks up a handoff, and if it fails, it clears AWAKE.
 */
static struct kmutex_task *waiter_trylock(struct kmutex *lock, struct kmutex_task *self,
					  bool first)
{
	(void)first;
	return trylock_common(lock, self, TRY_BEFORE_SLEEP);
}

/* M:woken.  "Fix HANDOFF condition" (2021): `first` is recomputed on every wakeup. */
static bool waiter_is_first_after_wake(struct kmutex *lock, struct kmutex_waiter *waiter,
				       bool first)
{
	(void)first;
	return kmx_waiter_is_first(&lock->wait_list, waiter);
}

/*
 * M:trylock_or_handoff.  After a wakeup the head asks for a handoff if it fails, once it has
 * waited long enough (waited_long_enough()).
 */
static struct kmutex_task *waiter_trylock_or_handoff(struct kmutex *lock, struct kmutex_task *self,
						     struct kmutex_waiter *waiter, bool first)
{
	bool handoff = first && !(lock->options & KMUTEX__OPT_NO_HANDOFF) &&
		       waited_long_enough(waiter);

	return trylock_common(lock, self, handoff ? TRY_HANDOFF : TRY_PLAIN);
}

/*
 * M:owed_handoff.  Under wait_lock, in an unlock that is about to wake the head from its
 * sleep (the caller asks only then): is the head owed the lock without asking?  Yes once it
 * has waited long enough; never with a handoff time of 0 (mainline's rule: only the head's
 * own HANDOFF).  A head that is awake is never owed: it asks itself when it runs, and a lock
 * handed to a thread that is runnable but waiting for a CPU would sit unused until it gets
 * one (at 16 threads on 2 CPUs, milliseconds: measured, docs/perf-analysis.md section 4).
 */
static bool head_owed_handoff(const struct kmutex *lock, const struct kmutex_waiter *head)
{
	if (lock->options & KMUTEX__OPT_NO_HANDOFF)
		return false;
	if (!handoff_after_ns())
		return false; /* mainline: only the head's own HANDOFF */
	return waited_long_enough(head);
}

/* The owner word that hands the lock to next, with PICKUP (NULL: a plain release). */
static uintptr_t handed_owner_word(uintptr_t owner, struct kmutex_task *next)
{
	uintptr_t word = (owner & KMX_FLAG_WAITERS) | (uintptr_t)next;

	return next ? word | KMX_FLAG_PICKUP : word;
}

/* A release under wait_lock has just marked the head's wakeup: the head is AWAKE. */
static uintptr_t released_flags(void)
{
	return KMX_FLAG_AWAKE;
}

#else /* KMUTEX_V410_HANDOFF: the seed patch's rules, kept to show the bug they allow */

static struct kmutex_task *trylock_v410(struct kmutex *lock, struct kmutex_task *self, bool handoff)
{
	uintptr_t owner = kmx_load(&lock->owner, KMX_RELAXED); /* checked by the cmpxchg */

	for (;;) {
		uintptr_t flags = kmx_owner_flags(owner);
		struct kmutex_task *task = kmx_owner_task(owner);

		if (task) {
			if (handoff && task == self) {
				/* ACQUIRE for a handoff accepted from a plain load */
				kmx_smp_mb__after_read(&lock->owner);
				return NULL;
			}
			return task;
		}
		if (handoff)
			flags &= ~KMX_FLAG_HANDOFF;
		if (kmx_try_cmpxchg(&lock->owner, &owner, (uintptr_t)self | flags, KMX_ACQUIRE))
			return NULL;
	}
}

static struct kmutex_task *trylock_common(struct kmutex *lock, struct kmutex_task *self,
					  enum trylock_mode mode)
{
	(void)mode; /* v4.10 sets HANDOFF elsewhere, and nothing sets AWAKE */
	return trylock_v410(lock, self, false);
}

static struct kmutex_task *waiter_trylock(struct kmutex *lock, struct kmutex_task *self,
					  bool first)
{
	return trylock_v410(lock, self, first);
}

/* v4.10: `first` is decided once, by a racy look at the list, and HANDOFF set then. */
static bool waiter_is_first_after_wake(struct kmutex *lock, struct kmutex_waiter *waiter,
				       bool first)
{
	if (!first && kmx_waiter_is_first(&lock->wait_list, waiter)) {
		first = true;
		if (!(lock->options & KMUTEX__OPT_NO_HANDOFF)) /* RELAXED, as v4.10's __mutex_set_flag */
			kmx_fetch_or(&lock->owner, KMX_FLAG_HANDOFF, KMX_RELAXED);
	}
	return first;
}

static struct kmutex_task *waiter_trylock_or_handoff(struct kmutex *lock, struct kmutex_task *self,
						     struct kmutex_waiter *waiter, bool first)
{
	(void)waiter;
	return trylock_v410(lock, self, first);
}

static bool head_owed_handoff(const struct kmutex *lock, const struct kmutex_waiter *head)
{
	(void)lock;
	(void)head;
	return false; /* v4.10: only the head's own HANDOFF */
}

static uintptr_t handed_owner_word(uintptr_t owner, struct kmutex_task *next)
{
	return (owner & KMX_FLAG_WAITERS) | (uintptr_t)next; /* no PICKUP in v4.10 */
}

static uintptr_t released_flags(void)
{
	return 0; /* v4.10: every unlock with waiters takes wait_lock */
}
#endif /* KMUTEX_V410_HANDOFF */

int kmutex__trylock_slow(struct kmutex *lock)
{
	check_valid(lock);
	if (trylock_common(lock, kmutex__self(), TRY_PLAIN))
		return 0;
	kmx_lockdep_mutex_acquire(lock, 0, KMX_LD_TRYLOCK, __builtin_return_address(0));
	kmx_acquired_event(lock);
	return 1;
}

/* ---- optimistic spinning --------------------------------------------------------------- */

/*
 * The spin budget, in cpu_relax() rounds, stands in for the kernel's owner_on_cpu(): we cannot
 * see whether the owner is running, so we spin about as long as spinning has recently needed
 * to succeed on this mutex (an average kept like glibc's adaptive mutex keeps its own), twice
 * that for slack, and never more than SPIN_MAX: on a machine with more threads than CPUs the
 * owner may be preempted, and then every round spent spinning is lost.  A spin that fails
 * shrinks the average, so a mutex held across sleeps soon stops being spun on.
 *
 * The 16-bit spin_estimate word holds that average in its low 10 bits (it stays below
 * SPIN_MAX) and, in its high 6, a score of recent failures that yield_and_spin() reads: each
 * failed spin adds SPIN_MISS_STEP, each success takes one off.  Both are hints, updated by one
 * relaxed load and store: a lost update changes one decision.
 * A round's time is the CPU's: on aarch64 kmx_cpu_relax() is an isb, chosen to come near a
 * pause (atomic.h); these sizes are not measured there.
 */
#ifndef KMX_RELACY
#define SPIN_MIN 64u   /* ~3 us: a pause costs ~45 ns on the 2-core EPYC VM we measure on */
#define SPIN_MAX 1024u /* ~46 us: several sleep/wake round trips; spinning longer never pays */
#else
#define SPIN_MIN 2u    /* verify/weak: a model checker needs a few polls, not a thousand */
#define SPIN_MAX 4u
#endif

#define SPIN_AVG_MASK   0x03ffu
#define SPIN_MISS_SHIFT 10
#define SPIN_MISS_MAX   63u
#define SPIN_MISS_STEP  8u

static uint32_t spin_average(uint16_t word) { return word & SPIN_AVG_MASK; }
static uint32_t spin_misses(uint16_t word) { return (uint32_t)word >> SPIN_MISS_SHIFT; }

static uint32_t spin_budget(const struct kmutex *lock)
{
	/* RELAXED: spin_estimate is a hint; a lost update only changes one budget. */
	uint32_t budget = 2u * spin_average(kmx_load(&lock->spin_estimate, KMX_RELAXED)) + SPIN_MIN;

	return budget < SPIN_MAX ? budget : SPIN_MAX;
}

static void spin_feedback(struct kmutex *lock, bool acquired, uint32_t rounds)
{
	uint16_t word = kmx_load(&lock->spin_estimate, KMX_RELAXED);
	uint32_t average = spin_average(word), misses = spin_misses(word);

	/* rounds <= SPIN_MAX, so the average stays below SPIN_MAX and fits in its 10 bits. */
	if (acquired) {
		average = average + rounds / 8 - average / 8;
		misses -= misses > 0;
	} else {
		average -= average / 4;
		misses = misses + SPIN_MISS_STEP < SPIN_MISS_MAX ? misses + SPIN_MISS_STEP : SPIN_MISS_MAX;
	}
	kmx_store(&lock->spin_estimate, (uint16_t)(misses << SPIN_MISS_SHIFT | average), KMX_RELAXED);
}

/*
 * The part of the kernel's owner_on_cpu() that user space can see: a lock handed to a waiter
 * that has not picked it up yet (PICKUP).  That waiter was woken by the handoff, or is about
 * to be, and needs the scheduler to run it before the lock is used again: a wakeup latency,
 * the wait spinning exists to avoid.  Mainline's spinners stop there too, since a task that is
 * being woken is not on a CPU.  The other part, an owner that last ran on our own CPU, is
 * kmx_owner_preempted_here() (task.h).
 */
static bool handoff_pending(uintptr_t word)
{
	return word & KMX_FLAG_PICKUP;
}

/*
 * How often a spinner asks whether the owner can be running (kmx_owner_preempted_here()): the
 * kernel asks on every poll; ours costs two atomics on the owner's descriptor and a read of its
 * rseq area, so every SPIN_CPU_RECHECK polls (~1.5 us).  Not on a new owner's first poll: it
 * has just taken the lock, so it was running (a lock handed over is handoff_pending()), and
 * the first owner was asked about before the spin began (optimistic_spin()).
 */
#define SPIN_CPU_RECHECK 32u

/* How a spin on one owner ended. */
enum spin_end {
	SPIN_OWNER_CHANGED, /* the owner word names someone else, or nobody: try again */
	SPIN_GAVE_UP,       /* budget spent, or a handoff waits for its pickup */
	SPIN_OWNER_OFF_CPU, /* the owner last ran on our CPU: it cannot run while we poll */
};

/*
 * M:spin_on_owner.  Poll while the owner word still names `owner`.  Mainline stops when the
 * owner is not on a CPU or the spinner should reschedule; we stop when the budget is spent,
 * when the lock waits for a woken waiter to pick it up, and when the owner last ran on the CPU
 * we are spinning on, so is not running (SPIN_OWNER_OFF_CPU: the case that costs most, since
 * our poll is what keeps it off; a real-time spinner keeps a lower-priority owner off for good).
 * Mainline also stops a waiter that is no longer first: that guards ww_mutex, whose list is
 * ordered by stamp; ours is strict FIFO, so the head stays the head until it leaves.
 */
static enum spin_end spin_on_owner(struct kmutex *lock, struct kmutex_task *self,
				   struct kmutex_task *owner, uint32_t *budget)
{
	for (uint32_t polls = 0;; polls++) {
		/* RELAXED polling: the trylock that follows a change does the ACQUIRE. */
		uintptr_t word = kmx_load(&lock->owner, KMX_RELAXED);

		if (kmx_owner_task(word) != owner)
			return SPIN_OWNER_CHANGED;
		if (*budget == 0 || handoff_pending(word))
			return SPIN_GAVE_UP;
		if (polls && polls % SPIN_CPU_RECHECK == 0 && kmx_owner_preempted_here(self, owner))
			return SPIN_OWNER_OFF_CPU;
		KMX_TEST_POINT(KMUTEX_TP_SPIN_ON_OWNER, lock);
		(*budget)--;
		kmx_cpu_relax();
	}
}

/*
 * How many threads may queue on an OSQ: one per CPU but the owner's, the bound the kernel's
 * per-CPU nodes give it (kmx_osq_full()).  The CPUs are those the first thread to spin may
 * run on (its affinity mask).
 */
uint32_t kmx_max_osq_spinners(void)
{
	static uint32_t cached; /* 0 until computed; RELAXED: every thread computes the same */
	uint32_t max = kmx_load(&cached, KMX_RELAXED);

	if (kmx_unlikely(!max)) {
		cpu_set_t cpus;
		int ncpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus)
									   : (int)sysconf(_SC_NPROCESSORS_ONLN);

		max = ncpus > 2 ? (uint32_t)ncpus - 1 : 1;
		kmx_store(&cached, max, KMX_RELAXED);
	}
	return max;
}

/*
 * M:optimistic_spin.  mainline's mutex_optimistic_spin(): a non-waiter (waiter == NULL) spins
 * only at the head of the OSQ; the woken head waiter spins without it ("Enable optimistic
 * spinning of woken waiter", 2016), so at most two threads poll the owner word.  Each time the
 * owner changes, try to take the lock.  true: we own it.
 *  - Mainline's waiter uses the trylock-or-handoff here.  Ours asked just before, in
 *    waiter_trylock_or_handoff(), if it had been the head long enough (HANDOFF then stays
 *    until the lock is handed to it); one that becomes owed while it spins asks at its next
 *    wakeup, or an unlock that finds it asleep hands the lock over unasked.
 *  - Mainline first checks that the owner is running (mutex_can_spin_on_owner()) before it
 *    joins the OSQ.  We see a lock handed to a waiter not yet running (handoff_pending()) and
 *    an owner that last ran on our own CPU (kmx_owner_preempted_here()); an owner that is
 *    preempted or asleep on another CPU looks running, so the budget is what shrinks after
 *    failed spins (spin_feedback()), and hopeless spinning soon becomes short.  (The model,
 *    M:spin_on_owner, lets a spinner give up at any point, which covers every early stop.)
 *  - Mainline's OSQ holds at most one spinner per CPU; ours would grow with the threads, and
 *    a queued spinner without a CPU of its own only delays the owner and the OSQ head, so a
 *    non-waiter that finds it full sleeps at once (kmx_osq_full()).
 *  - A real-time caller (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE: kmx_self_realtime()) does not
 *    spin.  Mainline lets it, because it stops the moment the owner is off its CPU; we would
 *    poll a preempted owner for the whole budget, and a real-time poller keeps every thread
 *    of lower priority off its CPU meanwhile, the owner perhaps among them (its sched_yield()
 *    does not let them run either).  It sleeps at once, as on glibc.  (stress-ng's mutex
 *    stressor has that shape: its holder drops to the lowest SCHED_FIFO priority and yields
 *    inside the critical section; there the owner-CPU stop measured as well without this.)
 */
static bool optimistic_spin(struct kmutex *lock, struct kmutex_task *self,
			    struct kmutex_waiter *waiter)
{
	enum spin_end end = SPIN_OWNER_CHANGED;
	uint32_t budget, initial;
	bool acquired = false;

	if ((lock->options & KMUTEX__OPT_NO_SPIN) || kmx_self_realtime(&self->policy))
		return false;
	/*
	 * A non-waiter does not spin on a lock handed over and not yet picked up, nor join an
	 * OSQ that already has a spinner for every CPU but the owner's.  (A lock is handed only
	 * to the head waiter, so a PICKUP the head sees is its own: its trylock below takes it.)
	 * RELAXED: a hint, the trylocks read the word again.
	 */
	if (!waiter && (handoff_pending(kmx_load(&lock->owner, KMX_RELAXED)) ||
			kmx_osq_full(&lock->osq_tail, kmx_max_osq_spinners())))
		return false;
	/* Mainline's mutex_can_spin_on_owner(): not behind an owner that cannot be running. */
	if (kmx_owner_preempted_here(self, kmx_owner_task(kmx_load(&lock->owner, KMX_RELAXED))))
		return false;
	budget = initial = spin_budget(lock);
	if (!waiter) {
		KMX_TEST_POINT(KMUTEX_TP_OSQ_JOIN, lock);
		if (!kmx_osq_lock(&lock->osq_tail, &self->osq, &budget)) {
			spin_feedback(lock, false, initial);
			return false;
		}
	}
	for (;;) {
		struct kmutex_task *owner = trylock_common(lock, self, TRY_PLAIN);

		if (!owner) {
			acquired = true;
			break;
		}
		end = spin_on_owner(lock, self, owner, &budget);
		if (end != SPIN_OWNER_CHANGED)
			break;
	}
	if (!waiter)
		kmx_osq_unlock(&lock->osq_tail, &self->osq);
	/* An owner found off its CPU says nothing about how long the mutex is held: no feedback
	 * (a failure would shrink the budget and close the yield window for a preemption). */
	if (end != SPIN_OWNER_OFF_CPU)
		spin_feedback(lock, acquired, initial - budget);
	return acquired;
}

/*
 * M:yield_and_spin.  A contender whose spin failed (budget spent, OSQ full, or a lock waiting
 * for its pickup) gives its CPU to whatever else is runnable there and tries again, for up to
 * YIELD_WINDOW_NS, before it queues to sleep.  Again a stand-in for what the kernel sees and we
 * do not: with more threads than CPUs, a spin fails mostly because the owner, or the spinner
 * ahead in the OSQ, has been preempted, and sleeping then leaves this CPU idle: the scheduler
 * keeps the preempted thread, and the waiter an unlock wakes, queued on the busy CPU, and
 * moves them to the idle one only at its next balance, up to a tick later (4 ms here).
 * perf sched of 32 threads with a 100 ns critical section on 2 CPUs: 12.7% of the CPU time
 * idle, 95% of it in gaps over 1 ms (docs/perf-analysis.md, section 7).  sched_yield() runs a
 * preempted owner that shares our CPU at once, and returns at once when nothing else is
 * runnable here, when our CPU is better spent polling than idle.
 *
 * Only where spinning works (spinning_works(): recent spins on this mutex mostly succeeded, so
 * its critical sections are short and a failure is most likely a preemption).  Where it does
 * not, as with a 10 us critical section on 2 CPUs, yielders only take CPU time from the owner:
 * without the gate that cell lost a quarter of its throughput and doubled its CPU time per
 * acquisition.  The gate is read once, on entry: a thread in its window goes on even as its
 * own failed spins (a preemption lasts until the next tick) close it for the threads behind.
 * The window is about one futex wakeup latency (39 us median here), the least a sleep costs;
 * 200 us measured no better; a timed lock's deadline ends it sooner.  Each pass starts with a
 * trylock, so a lock released while we yielded is taken even when optimistic_spin() would not
 * look at it (OSQ full, PICKUP pending).
 * Never for a real-time caller, for the reasons it does not spin (optimistic_spin()); its
 * sched_yield() would give the CPU only to threads of its own priority besides.
 */
#define YIELD_WINDOW_NS 50000ull
#define YIELD_MISS_LIMIT (2u * SPIN_MISS_STEP) /* two failed spins not yet repaid by successes */

static bool spinning_works(const struct kmutex *lock)
{
	/* RELAXED: a hint (spin_feedback()). */
	return spin_misses(kmx_load(&lock->spin_estimate, KMX_RELAXED)) < YIELD_MISS_LIMIT;
}

static bool yield_and_spin(struct kmutex *lock, struct kmutex_task *self, int mode,
			   const struct timespec *deadline)
{
	uint64_t window_end;

	if ((lock->options & KMUTEX__OPT_NO_SPIN) || !spinning_works(lock) ||
	    kmx_self_realtime(&self->policy))
		return false;
	window_end = kmx_monotonic_ns() + YIELD_WINDOW_NS;
	do {
		KMX_TEST_POINT(KMUTEX_TP_YIELD, lock);
		sched_yield();
		if (!trylock_common(lock, self, TRY_PLAIN) || optimistic_spin(lock, self, NULL))
			return true;
	} while (kmx_monotonic_ns() < window_end &&
		 !((mode & KMUTEX__TIMED) && kmx_deadline_passed(deadline, mode)));
	return false;
}

/* ---- the sleeping slow path ------------------------------------------------------------ */

bool kmx_deadline_passed(const struct timespec *deadline, int mode)
{
	struct timespec now;

	clock_gettime((mode & KMUTEX__REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/*
 * An interruptible sleep without a deadline still sleeps with one, this far away: a futex sleep
 * with a timeout ends in EINTR whenever a signal handler runs, while one without a timeout is
 * restarted by the kernel if the handler was installed with SA_RESTART (glibc's signal() does).
 */
const struct timespec kmx_far_future = { .tv_sec = 0x7fffffff, .tv_nsec = 0 };

/*
 * M:sleep.  Sleep until a waker or kmutex_interrupt_self() stores KMX_WAKE_UP, a signal
 * handler runs, or the deadline passes.  Every return is treated as possibly spurious.
 * Returns true if a signal handler ran: the kernel's signal_pending() for this wait only
 * (the handler has run; if this wait wins the lock, nothing is left pending).
 */
static bool sleep_on_wake_word(struct kmutex_task *self, int mode, const struct timespec *deadline)
{
	if (!(mode & KMUTEX__TIMED)) {
		deadline = (mode & KMUTEX__INTERRUPTIBLE) ? &kmx_far_future : NULL;
		mode &= ~KMUTEX__REALTIME;
	}
	return kmx_futex_wait_clock(&self->wake, KMX_WAKE_SLEEP, deadline,
				    mode & KMUTEX__REALTIME) == -EINTR;
}

/* Should an interruptible wait give up?  Consumes kmutex_interrupt_self()'s pending flag. */
bool kmx_interrupted(int mode, bool signalled)
{
	if (!(mode & KMUTEX__INTERRUPTIBLE))
		return false;
	return kmx_take_interruption() || signalled;
}

/* M:enqueue.  Under wait_lock: queue at the tail; the first waiter sets WAITERS. */
static void enqueue_waiter(struct kmutex *lock, struct kmutex_waiter *waiter)
{
	/*
	 * RELAXED is enough: WAITERS is set before the loop's trylock, and the two RMWs on the
	 * owner word are ordered by coherence.  An unlock whose cmpxchg comes after ours sees
	 * WAITERS and takes wait_lock (so it sees the list); one that came before left the lock
	 * free for our trylock.
	 */
	kmx_store(&waiter->since, kmx_monotonic_ns(), KMX_RELAXED); /* restamped when it is the head */
	if (kmx_wait_list_add_tail(&lock->wait_list, waiter))
		kmx_fetch_or(&lock->owner, KMX_FLAG_WAITERS, KMX_RELAXED);
}

/*
 * M:dequeue.  Under wait_lock, whether we leave with the lock or with an error: if the list
 * is now empty clear *all* flags, so none outlives the last waiter ("clear MUTEX_FLAGS if
 * wait_list is empty due to signal", 2021).  Otherwise a HANDOFF left by us stays for the
 * next head, who is handed the lock with PICKUP.
 */
static void dequeue_waiter(struct kmutex *lock, struct kmutex_waiter *waiter)
{
	bool was_head = kmx_waiter_is_first(&lock->wait_list, waiter);

	/*
	 * RELAXED: an RMW cannot lose another RMW's bits, and the word carries no data here.
	 * Nothing can set a flag once the list is empty: WAITERS and AWAKE are set under
	 * wait_lock, which we hold, and HANDOFF only by the head, which is on the list.
	 */
	if (kmx_wait_list_del(&lock->wait_list, waiter)) {
		kmx_fetch_and(&lock->owner, ~KMX_FLAGS, KMX_RELAXED);
	} else if (was_head) {
		/*
		 * A new head, asleep: the next unlock must wake it (AWAKE named us).  We leave
		 * owning the lock, or having failed a TRY_BEFORE_SLEEP trylock that already
		 * cleared AWAKE; either way no unlock can release alone between that and here.
		 */
		kmx_store(&kmx_wait_list_first(&lock->wait_list)->since, kmx_monotonic_ns(), KMX_RELAXED);
		if (kmx_load(&lock->owner, KMX_RELAXED) & KMX_FLAG_AWAKE)
			kmx_fetch_and(&lock->owner, ~KMX_FLAG_AWAKE, KMX_RELAXED);
	}
}

/*
 * M:wait_loop.  Returns with wait_lock held, our node on the list; called with it held, or,
 * when `woken`, without it, as a waiter that has just returned from its sleep (a kcond waiter
 * whose node a broadcast moved onto this list, see kmx_lock_moved_waiter()).
 * 0: we own the lock; -EINTR / -ETIMEDOUT: we gave up.
 */
static int wait_for_lock(struct kmutex *lock, struct kmutex_task *self, struct kmutex_waiter *waiter,
			 int mode, const struct timespec *deadline, bool woken)
{
	bool first = false, signalled = false;

	for (;; woken = false) {
		if (woken)
			goto woken_up;
		/*
		 * The kernel's set_current_state(): from here a waker's KMX_WAKE_UP (stored under
		 * wait_lock, so ordered with this store) or kmutex_interrupt_self() keeps the
		 * futex sleep below from starting.  The signal fence keeps the compiler from
		 * moving this store below the interruption check (a handler runs in between).
		 */
		kmx_store(&self->wake, KMX_WAKE_SLEEP, KMX_RELAXED);
		kmx_signal_fence();

		/*
		 * Under wait_lock we are serialized against an unlock handing the lock to us:
		 * the trylock that picks up the handoff comes before the signal and deadline
		 * checks, so a waiter never leaves a lock handed to it (the seed thread's bug).
		 */
		if (!waiter_trylock(lock, self, first))
			return 0;
		if (kmx_interrupted(mode, signalled))
			return -EINTR;
		if ((mode & KMUTEX__TIMED) && kmx_deadline_passed(deadline, mode))
			return -ETIMEDOUT;

		unlock_wait_list(lock);
		KMX_TEST_POINT(KMUTEX_TP_WAITER_SLEEP, lock);
		signalled = sleep_on_wake_word(self, mode, deadline);
woken_up:
		KMX_TEST_POINT(KMUTEX_TP_WAITER_WOKEN, lock);

		first = waiter_is_first_after_wake(lock, waiter, first);
		if (!waiter_trylock_or_handoff(lock, self, waiter, first) ||
		    (first && optimistic_spin(lock, self, waiter))) {
			lock_wait_list(lock);
			return 0;
		}
		KMX_TEST_POINT(KMUTEX_TP_WAITER_RETRY, lock);
		lock_wait_list(lock);
	}
}

/* ---- observability: the contention events (lock_stat.h) -------------------------------- */

/*
 * contention_begin's flags when a lock call first finds the mutex held: SPIN|MUTEX if it may
 * spin, as the kernel's tracepoint before mutex_optimistic_spin(); MUTEX alone otherwise.
 * Unlike the kernel, which fires it before its first trylock, we fire it only once that
 * trylock failed, so that the debug build (every call on this path) reports contention only.
 */
static unsigned contention_flags(const struct kmutex *lock)
{
	return (lock->options & KMUTEX__OPT_NO_SPIN) ? KMX_LCB_F_MUTEX
						     : KMX_LCB_F_MUTEX | KMX_LCB_F_SPIN;
}

/*
 * A lock call returns: contention_end if it was contended, the acquisition if it got it.
 * noinline: one contention_end probe site, not one per return (perf probe, 6.1, attaches
 * only the first site of a probe name).  The call costs nothing next to a contended wait.
 */
static __attribute__((noinline)) int lock_call_done(struct kmutex *lock, struct kmx_contention *contention, int ret)
{
	if (contention)
		kmx_contention_end(lock, contention, ret);
	if (ret == 0)
		kmx_acquired_event(lock);
	return ret;
}

/* M:lock_slowpath.  mainline's __mutex_lock_common(), without ww_mutex.  ip: the lock call's
 * return address, for the hung-task watchdog. */
static int lock_slow(struct kmutex *lock, int mode, const struct timespec *deadline, const void *ip)
{
	struct kmutex_task *self = kmutex__self();
	struct kmutex_waiter waiter = { .task = self };
	struct kmx_contention contention;
	struct kmutex_task *owner;
	int ret;

	/* check_valid(lock) ran in lock_slow_tracked(). */
	if ((mode & KMUTEX__TIMED) && !deadline)
		kmx_misuse("kmutex_lock_timeout: NULL deadline", lock);

	owner = trylock_common(lock, self, TRY_PLAIN);
	if (!owner)
		return lock_call_done(lock, NULL, 0);
	/*
	 * The owner again: misuse, but for KMUTEX__RELOCK, the pthread drop-in's relock of a
	 * NORMAL mutex, which waits as glibc's does, for another thread to unlock it
	 * (kmutex__unlock_slow_any()): a waiter like any other, that does not spin on itself.
	 */
	if (owner == self && !(mode & KMUTEX__RELOCK))
		kmx_misuse("recursive lock by the owner", lock);
	kmx_contention_begin(lock, contention_flags(lock), &contention);
	/*
	 * Checked only now that the call has to wait, as POSIX allows for timedlock, and before
	 * spinning, so that every spinner ends in a trylock (spinning, or under wait_lock).
	 */
	if ((mode & KMUTEX__TIMED) &&
	    (deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L))
		return lock_call_done(lock, &contention, -EINVAL);
	if (owner != self &&
	    (optimistic_spin(lock, self, NULL) || yield_and_spin(lock, self, mode, deadline)))
		return lock_call_done(lock, &contention, 0);

	lock_wait_list(lock);
	/* After waiting for wait_lock, try again (the owner may have left meanwhile). */
	if (!trylock_common(lock, self, TRY_PLAIN)) {
		unlock_wait_list(lock);
		return lock_call_done(lock, &contention, 0);
	}
	kmx_contention_sleep(lock, &contention);
	enqueue_waiter(lock, &waiter);
	kmx_hung_begin(self, KMX_BLOCKED_MUTEX, lock, NULL, NULL, ip, (uint32_t)mode);
	ret = wait_for_lock(lock, self, &waiter, mode, deadline, false);
	kmx_hung_end(self);
	dequeue_waiter(lock, &waiter);
	unlock_wait_list(lock);
	return lock_call_done(lock, &contention, ret);
}

/*
 * Lockdep (debug build) sees a blocking acquisition before it can block, as the kernel's
 * mutex_acquire() in __mutex_lock_common() does, so a deadlock about to happen is reported;
 * a wait that fails (timeout, interruption) is undone like the kernel's mutex_release().
 */
static int lock_slow_tracked(struct kmutex *lock, int mode, const struct timespec *deadline,
			     unsigned subclass, const void *ip)
{
	int ret;

	check_valid(lock);
	kmx_lockdep_mutex_acquire(lock, subclass, mode ? KMX_LD_WAIT : 0, ip);
	ret = lock_slow(lock, mode, deadline, ip);
	if (ret)
		kmx_lockdep_mutex_release(lock);
	return ret;
}

int kmutex__lock_slow(struct kmutex *lock, int mode, const struct timespec *deadline)
{
	return lock_slow_tracked(lock, mode, deadline, 0, __builtin_return_address(0));
}

void kmutex__lock_nested_slow(struct kmutex *lock, unsigned subclass)
{
	if (subclass >= KMX_LOCKDEP_MAX_SUBCLASS)
		kmx_misuse("kmutex_lock_nested: subclass out of range (0..7)", lock);
	(void)lock_slow_tracked(lock, 0, NULL, subclass, __builtin_return_address(0));
}

/* ---- wait morphing: what kcond.c needs of the wait list --------------------------------- */

/*
 * M:kcond_morph.  Under lock's wait_lock (the caller holds its kcond's lock too): a kcond
 * waiter's node joins the wait list as if its thread had queued itself (M:enqueue), asleep
 * with its wake word armed; an unlock wakes it as the head like any other waiter.
 * RELEASE on state pairs with the waiter's ACQUIRE cmpxchg after its sleep: the list links
 * are written before it can see ON_MUTEX and start using them.  Returns the state it replaced
 * (kcond.c: RECHECKING means the waiter keeps its own reference to the kcond).
 */
uint32_t kmx_enqueue_moved_waiter(struct kmutex *lock, struct kmutex_waiter *waiter)
{
	enqueue_waiter(lock, waiter);
	return kmx_xchg(&waiter->state, KMX_WAITER_ON_MUTEX, KMX_RELEASE);
}

/*
 * M:kcond_morph (end).  Setting WAITERS tells, in one RMW, whether an unlock is coming: if the
 * owner word named an owner, its unlock comes after our RMW (coherence), fails the fast path
 * and wakes the head.  If the mutex was free, nobody may be awake to take it, so the head is
 * woken here as an unlock would wake it (spuriously at worst: a head already on its way).
 */
struct kmutex_task *kmx_wake_moved_head(struct kmutex *lock)
{
	/* RELAXED: as enqueue_waiter()'s; the RMW orders itself against the owner's cmpxchg. */
	uintptr_t old = kmx_fetch_or(&lock->owner, KMX_FLAG_WAITERS, KMX_RELAXED);
	struct kmutex_task *next;

	if (kmx_owner_task(old))
		return NULL;
	next = kmx_wait_list_first(&lock->wait_list)->task;
	/* RELAXED: wait_lock orders it with the waiter's arming, as in kmutex__unlock_slow(). */
	return kmx_xchg(&next->wake, KMX_WAKE_UP, KMX_RELAXED) == KMX_WAKE_SLEEP ? next : NULL;
}

/*
 * M:kcond_moved.  A kcond waiter found its node on lock's wait list after a sleep: it goes on
 * as a mutex waiter that has just woken, and returns owning the lock.
 */
void kmx_lock_moved_waiter(struct kmutex *lock, struct kmutex_waiter *waiter)
{
	const void *ip = __builtin_return_address(0);

	kmx_lockdep_mutex_acquire(lock, 0, 0, ip); /* the kcond relock */
	kmx_hung_begin(waiter->task, KMX_BLOCKED_MUTEX, lock, NULL, NULL, ip, 0);
	(void)wait_for_lock(lock, waiter->task, waiter, 0, NULL, true); /* plain: cannot fail */
	kmx_hung_end(waiter->task);
	dequeue_waiter(lock, waiter);
	unlock_wait_list(lock);
	kmx_acquired_event(lock);
}

void kmx_lock_wait_list(struct kmutex *lock)
{
	check_valid(lock);
	lock_wait_list(lock);
}

void kmx_unlock_wait_list(struct kmutex *lock)
{
	unlock_wait_list(lock);
}

/* Is the lock owned by the caller?  (For kcond's misuse check; exact for the caller.) */
bool kmx_owned_by_self(const struct kmutex *lock)
{
	/* RELAXED: only the owner itself can make this true or false. */
	return kmx_owner_task(kmx_load(&lock->owner, KMX_RELAXED)) == kmutex__self();
}

/* ---- unlock ---------------------------------------------------------------------------- */

/* Nobody holds the lock: free, or handed to the head waiter, which has not picked it up. */
static bool not_held(uintptr_t owner)
{
	return !kmx_owner_task(owner) || (owner & KMX_FLAG_PICKUP);
}

/*
 * The misuse checks of an unlock, on the owner word as read.  self is NULL for an unlock on
 * behalf of whoever owns the lock (kmutex__unlock_slow_any()), which has nothing to check.
 */
static void check_unlock(const struct kmutex *lock, uintptr_t owner, const struct kmutex_task *self)
{
	const struct kmutex_task *task = kmx_owner_task(owner);

	if (!self)
		return;
	if (task != self)
		kmx_misuse(task ? "unlock of a mutex owned by another thread"
				: "unlock of an unlocked mutex", lock);
	if (owner & KMX_FLAG_PICKUP)
		kmx_misuse("corrupted mutex: unlock of a lock not yet picked up", lock);
}

/*
 * M:release.  Release without wait_lock when nobody needs waking: with no flag set, as the
 * fast path would, or with waiters whose head is AWAKE and has not asked for a handoff,
 * keeping the flags, as the inline fast path also does (kmutex__release_fast in kmutex.h).
 * We get here when that failed: misuse, a debug build, the word changed under the fast path,
 * or waiters to wake.  false: the caller takes wait_lock.  self NULL: on behalf of the owner.
 */
static bool release_if_no_waiters(struct kmutex *lock, const struct kmutex_task *self)
{
	/* RELAXED: we own the word's task part; the cmpxchg checks the flags. */
	uintptr_t owner = kmx_load(&lock->owner, KMX_RELAXED);

	for (;;) {
		check_unlock(lock, owner, self);
		if (!self && not_held(owner))
			return true; /* on behalf of nobody: nothing to release */
		if (owner & KMX_FLAG_HANDOFF)
			return false;
		if ((owner & KMX_FLAG_WAITERS) && !(owner & KMX_FLAG_AWAKE))
			return false;
		/*
		 * RELEASE: our critical section is visible to the next owner's ACQUIRE.  This
		 * cmpxchg fails if the head cleared AWAKE (or set HANDOFF) since our load, and the
		 * loop then sends us to wait_lock: the head's RMW and ours are ordered by coherence.
		 */
		if (kmx_try_cmpxchg(&lock->owner, &owner, kmx_owner_flags(owner), KMX_RELEASE))
			return true;
	}
}

/*
 * M:release_or_hand_over.  Under wait_lock, with next at the head of the list.  If the head
 * asked for a handoff, or is owed one (head_owed_handoff()), give it the lock with PICKUP
 * (mainline's __mutex_handoff()), dropping HANDOFF; otherwise release the lock, keeping the
 * flags, and let next compete for it.  The cmpxchg loops when the head sets HANDOFF under
 * us, so that request is never missed.
 * RELEASE pairs with the ACQUIRE of the new owner's cmpxchg (a pickup or a plain trylock).
 * Returns true if it handed the lock over.
 */
static bool release_or_hand_over(struct kmutex *lock, const struct kmutex_task *self,
				 struct kmutex_task *next, bool owed)
{
	uintptr_t owner = kmx_load(&lock->owner, KMX_RELAXED), word; /* checked by the cmpxchg */
	bool hand_over;

	do {
		check_unlock(lock, owner, self);
		if (!self && not_held(owner))
			return false; /* on behalf of nobody: released meanwhile; the wakeup is spurious */
		hand_over = owed || (owner & KMX_FLAG_HANDOFF);
		word = hand_over ? handed_owner_word(owner, next)
				 : kmx_owner_flags(owner) | released_flags();
	} while (!kmx_try_cmpxchg(&lock->owner, &owner, word, KMX_RELEASE));
	return hand_over;
}

/*
 * The kernel's wake_q_add(), under wait_lock while the head is certainly on the list: mark
 * its wakeup; true if the futex wake is needed.  The waiter arms KMX_WAKE_SLEEP under
 * wait_lock too, so the two are ordered and no wakeup is lost (RELAXED: wait_lock orders it).
 * If the word already said KMX_WAKE_UP, the waiter has not armed a sleep since an earlier
 * wakeup (or an interruption), whose own futex wake, or the sleep's value check, already
 * covers it: like wake_q_add() on a task already queued, we skip the syscall, which a woken
 * head that is still spinning or running would otherwise cost every unlock.
 */
static bool mark_wakeup(struct kmutex_waiter *head)
{
	/*
	 * Test before the exchange: a head that is awake (spinning, or on its way back to the
	 * list) keeps UP, and only its own thread stores SLEEP, under wait_lock, which we hold;
	 * so a load that sees UP is exact, and we spare the head's line an RMW.
	 */
	if (kmx_load(&head->task->wake, KMX_RELAXED) == KMX_WAKE_UP)
		return false;
	return kmx_xchg(&head->task->wake, KMX_WAKE_UP, KMX_RELAXED) == KMX_WAKE_SLEEP;
}

/*
 * M:unlock_slowpath.  mainline's __mutex_unlock_slowpath(), with one change of order: mainline
 * releases the owner word first and then takes wait_lock, so its unlock may still touch the
 * mutex after another thread has acquired it, and the kernel forbids freeing a mutex on that
 * basis (Documentation/locking/mutex-design.rst).  User code relies on the POSIX rule instead:
 * a thread that acquires and releases a mutex may destroy and free it at once.  So with waiters
 * we release under wait_lock: the list is non-empty, WAITERS stays set, and whoever takes the
 * lock next needs wait_lock to unlock it or to leave the list, which we drop last; after that
 * we only issue the futex wake, which is harmless on any address.
 */
static void unlock_slow(struct kmutex *lock, struct kmutex_task *self)
{
	struct kmutex_task *next;
	struct kmutex_waiter *head;
	bool wake, owed;

	check_valid(lock);
	kmx_lockdep_mutex_release(lock);
	kmx_released_event(lock);
	for (;;) {
		if (release_if_no_waiters(lock, self))
			return;
		lock_wait_list(lock);
		head = kmx_wait_list_first(&lock->wait_list);
		if (head)
			break;
		/* The last waiter left (timeout or signal) and cleared the flags: release again. */
		unlock_wait_list(lock);
	}

	next = head->task;
	wake = mark_wakeup(head);
	owed = wake && head_owed_handoff(lock, head);
	/* Under wait_lock: the mutex cannot be freed yet, and the event reads its name. */
	if (release_or_hand_over(lock, self, next, owed))
		kmx_handoff_event(lock, next);
	KMX_TEST_POINT(KMUTEX_TP_UNLOCK_RELEASED, lock);
	unlock_wait_list(lock);

	/*
	 * The kernel's wake_up_q(): the syscall after dropping wait_lock, so the woken thread
	 * does not block on it at once.  The waiter may have left meanwhile; its descriptor is
	 * type-stable (task.h), so this is at worst a spurious wakeup.  (unlock_wait_list()
	 * may also have issued a futex wake on the wait_lock word after releasing it, by which
	 * time the mutex may be freed: a syscall on a stale address, harmless as in glibc.)
	 */
	if (wake)
		kmx_futex_wake(&next->wake, 1);
}

void kmutex__unlock_slow(struct kmutex *lock)
{
	unlock_slow(lock, kmutex__self());
}

/*
 * An unlock by a thread that may not own the lock, for the pthread drop-in's DEFAULT/NORMAL
 * mutexes, which glibc lets any thread unlock (programs use them as binary semaphores).  It
 * releases the lock for whoever owns it, as that owner's unlock would: every step above is
 * the owner's, with the owner taken from the word at each cmpxchg instead of checked against
 * the caller.  That is sound because nothing in the protocol depends on which thread runs the
 * release: the owner word names a task, and releasing means replacing that task with 0 (or
 * with the head waiter and PICKUP, a handoff) by a cmpxchg that keeps the flags, under
 * wait_lock when there are waiters to wake, exactly as the owner would.  A thread spinning on
 * the owner sees the word change as for any unlock; the head waiter is woken, or handed the
 * lock, as by any unlock.  Two cases differ, both where no thread holds the lock: the word
 * names no task, or names a head waiter with PICKUP (handed over, not yet picked up: its lock
 * call has not returned, so in the program's terms nobody holds it).  Then there is nothing
 * to release and the call does nothing, as glibc's unlock of an unlocked DEFAULT mutex leaves
 * it unlocked.  If the owner's own unlock races with this one, the cmpxchg orders them: the
 * second finds the lock free (or a new owner's, which it releases: glibc's double unlock
 * does the same).
 */
void kmutex__unlock_slow_any(struct kmutex *lock)
{
	unlock_slow(lock, NULL);
}

/* ---- test accessors -------------------------------------------------------------------- */

#ifdef KMUTEX_TEST_HOOKS
void (*volatile kmutex_test_hook)(enum kmutex_test_point point, struct kmutex *lock);

uintptr_t kmutex_test_owner_word(struct kmutex *lock)
{
	return kmx_load(&lock->owner, KMX_RELAXED);
}

int kmutex_test_nr_waiters(struct kmutex *lock)
{
	int n = 0;

	kmx_wait_lock(&lock->wait_lock);
	for (struct kmutex_waiter *w = lock->wait_list; w; w = kmx_wait_list_next(&lock->wait_list, w))
		n++;
	kmx_wait_unlock(&lock->wait_lock);
	return n;
}

const uint32_t *kmutex_test_wake_word(void)
{
	return &kmutex__self()->wake;
}
#endif
