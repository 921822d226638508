/*
 * krwsem: the reader-writer semaphore of kernel/locking/rwsem.c (mainline, v5.11 and later,
 * with the fixes of 2019-2023), in user space, on the kmutex machinery: the OSQ, wait_lock,
 * the per-thread descriptors and their futex words (task.h), and kmutex's interruptions.
 * Written from the design (docs/rwsem.md, rwsem-notes.md); no kernel code.
 *
 * The count word says who holds the lock: bit 0 WRITER_LOCKED, bit 1 WAITERS (the wait list
 * is not empty), bit 2 HANDOFF, bit 3 WOKEN (krwsem's own, see 5), and from bit 8 up the
 * number of readers (READER_BIAS = 1 << 8), bit 63 the overflow guard.  The owner word names the writer, or, as a hint, a reader with
 * READER_OWNED (the first since the last writer).  The modes:
 *
 *  1. Readers' fast path: one fetch_add of READER_BIAS.  If no bit of WRITER_LOCKED, WAITERS,
 *     HANDOFF or the guard was set, the reader holds the lock.  Otherwise its bias is in the
 *     count anyway, and the slow path decides: keep it (a recursive read, or a "steal": no
 *     writer, no HANDOFF, and the lock is not held by other readers while someone waits, the
 *     anti-starvation rule of 2f06f702925b), or take it back out and queue.
 *     Unlock is a cmpxchg that removes the bias; the last holder with waiters does it under
 *     wait_lock and wakes them (under it, so that the krwsem may be freed as soon as another
 *     thread has taken and released it, as POSIX allows and kmutex's unlock ensures).
 *
 *  2. Writers' fast path: one cmpxchg 0 -> WRITER_LOCKED; unlock a cmpxchg back, or, with
 *     waiters, a fetch_add under wait_lock that wakes them.
 *
 *  3. Writers spin.  A writer that finds the lock held queues on the OSQ; its head polls the
 *     count and takes the lock (keeping WAITERS) the moment no one holds it and no HANDOFF is
 *     set.  The kernel spins while the owner runs (owner_on_cpu()), and on a reader-owned lock
 *     for 10-25 us; user space sees neither, so the spin has a fixed budget (SPIN_BUDGET,
 *     ~25 us), and stops early only for a writer that last ran on the spinner's own CPU
 *     (sched_view.h).  Readers do not spin (the kernel removed reader spinning in v5.11), and
 *     neither do real-time writers (for kmutex's reasons: kmutex.c, optimistic_spin()).
 *
 *  4. Sleeping.  Waiters of both kinds queue, FIFO, on one list under wait_lock, each sleeping
 *     on its own thread's futex word.  A writer is only woken: it takes the lock itself, under
 *     wait_lock (try_write_lock()), and another writer may steal it first.  Readers are
 *     granted: when the head is a reader, the waker counts a bias for every queued reader, up
 *     to MAX_READERS_WAKEUP, from anywhere in the list (writers are skipped), in one add, and
 *     only then marks each one granted, so that no woken reader can unlock before its bias is
 *     counted (two passes, a9e9bcb45b15).  A reader sees its grant with an ACQUIRE load, and
 *     every other way out of the read slow path is an ACQUIRE too (e1b98fa31664, 99143f82a255).
 *
 *  5. HANDOFF.  A waiter at the head of the list that has waited handoff_after_ns() since it
 *     queued (KRWSEM_HANDOFF_AFTER_US: 1 ms by default, the mutex's; the kernel waits 4 ms,
 *     its RWSEM_WAIT_TIMEOUT, or a jiffy if longer; measured in docs/rwsem.md) and finds
 *     the lock held sets HANDOFF: a writer head in try_write_lock(), a reader head when a wake
 *     finds a writer holding the lock (mark_wake()).  While HANDOFF is set nobody barges: no
 *     reader fast path, no reader steal, no writer spin or steal, and the other queued writers
 *     yield to the head.  Only the head sets it, so HANDOFF always belongs to the head, and it
 *     is cleared on every way the head leaves: it takes the lock, it is granted, or it gives
 *     up (timeout, interruption: d257cc8cb8d5, 6eebd5fb2083).  A head that gives up also wakes
 *     the next waiter, which may be able to run now (1ee326196c66, 54c1ee4d614d: readers
 *     stranded behind a writer that left).  As the kernel says of its own, this is not a
 *     handoff like the mutex's: the lock is not passed, barging stops until the head gets it.
 *
 *     The woken head (krwsem's own, as kmutex's AWAKE and Go's mutexWoken): an unlock that
 *     wakes a writer at the head sets WOKEN; until that writer has run its next try, there
 *     is nobody to wake, so further unlocks release with one cmpxchg and skip wait_lock.  The
 *     head clears WOKEN in the cmpxchg of its try (taking the lock, or finding it held, when
 *     the holder's unlock comes after it and wakes it).  The kernel's rwsem takes wait_lock
 *     for every unlock with waiters; with more writers than CPUs most unlocks find a head that
 *     is woken but not yet running.
 *
 *  6. Recursive reads (where krwsem departs from the kernel, whose down_read is not
 *     recursive).  A thread that holds a read lock and asks again must get it even while a
 *     writer waits, or it deadlocks: the writer waits for it, it waits behind the writer.  Each
 *     thread's descriptor keeps a record of the read locks it holds (struct kmx_read_held: a
 *     stack of KRWSEM_READ_HELD_SLOTS entries, and a count of the holds beyond them).  The
 *     record is read only on the slow path: a reader whose fast path failed keeps its bias and
 *     returns if the record says it holds the lock; its outer hold already keeps every writer
 *     out, so this never breaks mutual exclusion and never adds to the bound (the nested read
 *     is part of a read section in progress).  The cost on the fast path is the upkeep: one
 *     store and an increment to lock, a compare and a decrement to unlock, in memory only this
 *     thread touches.  Beyond the slots, holds are only counted, and while any are, the thread
 *     counts as a reader of every krwsem: a read of a lock it does not hold may then barge
 *     past HANDOFF and waiters, which costs fairness, never correctness (never past a writer
 *     that holds the lock: a writer in the count shows the record is stale).  A read lock
 *     released by another thread (glibc allows it) leaves the taker's entry behind, with the
 *     same effect.
 *
 * The bound (H = handoff_after_ns()).  HANDOFF is set by the head itself, the first time it
 * runs after H and finds the lock held (a writer head tries whenever an unlock wakes it; a
 * reader head is looked at whenever an unlock or a departing waiter runs mark_wake()).  From
 * then on nobody but the holders of that moment (and their nested reads) can take the lock:
 *  - a writer at the head waits at most H, plus the critical sections in progress at H, plus
 *    those that barge in while the unlock that ends them wakes it, plus two wakeups;
 *  - a reader at the head waits at most H, plus the write section in progress, plus one that
 *    steals the lock as it is released, plus a wakeup.
 * A waiter deeper in the list waits for the waiters ahead of it, each with this bound (readers
 * go together: all queued readers are granted with the first one at the head, or when a reader
 * steals the lock).  Before H waiters can be passed by barging readers and writers: that is
 * what makes the lock fast.  Measured maxima are in docs/rwsem.md.
 *
 * What the kernel has that krwsem lacks: RT/DL tasks setting HANDOFF at once, NONSPINNABLE
 * and the reader-owned spin time-out (a fixed budget stands in).  The lock tools (lockdep with
 * read/write semantics, lock_stat per mode, the probes) are called at the points
 * krwsem_tools.h describes.  Units: krwsem.h (the API and layout), task.h (descriptors, wake
 * words, the read-lock record), osq.c, wait_lock.c, wait_list.h, futex.h.
 */
#include "krwsem.h"

#include <stdbool.h>
#include <string.h>

#include "atomic.h"
#include "debug.h"
#include "futex.h"
#include "hung_task.h"
#include "kmutex_int.h"
#include "krwsem_fast.h"
#include "krwsem_tools.h"
#include "lock_class.h"
#include "osq.h"
#include "task.h"
#include "test_hooks.h"
#include "wait_list.h"
#include "wait_lock.h"

/* ---- the words (the bits: krwsem_fast.h) ------------------------------------------------ */

/*
 * What krwsem_destroy() leaves in the count: every fast path fails on it (the writer bit, the
 * guard), and every slow path starts with check_valid(), which reports the use.  So the fast
 * paths need no check of their own.
 */
#define RWSEM_DESTROYED_COUNT  (RWSEM_WRITER_LOCKED | RWSEM_READ_FAIL)

/*
 * What stops a thief (a reader's steal, a writer's unqueued trylock or spin): HANDOFF.  The
 * build flag KRWSEM_BUG_HANDOFF_IGNORED lets thieves ignore it, for the regression test that
 * shows it is what bounds the head's wait.
 */
#ifndef KRWSEM_BUG_HANDOFF_IGNORED
#define RWSEM_NO_THIEVES       RWSEM_FLAG_HANDOFF
#else
#define RWSEM_NO_THIEVES       0ull
#endif


static uint64_t nr_readers(uint64_t count)
{
	return count >> RWSEM_READER_SHIFT;
}

/* The most readers woken in one batch, as the kernel's MAX_READERS_WAKEUP. */
#define MAX_READERS_WAKEUP 256u

/*
 * Spin budgets in cpu_relax() rounds (~45 ns each on the 2-core EPYC VM we measure on): an
 * unqueued writer on the OSQ, and a head that has set HANDOFF waiting for the holders to go.
 */
#define SPIN_BUDGET 512u
/* Every this many rounds a spinner asks whether the writer holding the lock can be running. */
#define SPIN_CPU_RECHECK 32u

/* ---- misuse checks --------------------------------------------------------------------- */

/* As kmutex's check_valid(): all zeros is valid, so fields must hold reachable values. */
static void check_valid(const struct krwsem *sem)
{
	/* RELAXED: options is written at init and destroy, which the user orders with every use. */
	uint32_t options = kmx_load(&sem->options, KMX_RELAXED);

	if (kmx_unlikely(options & ~KRWSEM__OPT_KNOWN))
		kmx_misuse_of((options & ~KRWSEM__OPT_KNOWN) == KRWSEM__OPT_DESTROYED
				      ? "use of a destroyed krwsem"
				      : "use of an uninitialized or corrupted krwsem",
			      "rwsem", sem);
	/* RELAXED: a snapshot; any of the three states is possible at any time. */
	if (kmx_unlikely(kmx_load(&sem->wait_lock, KMX_RELAXED) > KMX_WL_CONTENDED))
		kmx_misuse_of("use of an uninitialized or corrupted krwsem", "rwsem", sem);
}

static __attribute__((noreturn)) void misuse(const char *check, const struct krwsem *sem)
{
	kmx_misuse_of(check, "rwsem", sem);
}

static void check_deadline(const struct krwsem *sem, int mode, const struct timespec *deadline,
			   const char *call)
{
	if (kmx_unlikely((mode & KMUTEX__TIMED) && !deadline)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%s: NULL deadline", call);
		misuse(msg, sem);
	}
}

static bool bad_timespec(int mode, const struct timespec *deadline)
{
	return (mode & KMUTEX__TIMED) && (deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L);
}

/* ---- initialization -------------------------------------------------------------------- */

void (krwsem_init_flags)(struct krwsem *sem, unsigned flags)
{
	if (flags & ~KRWSEM_NO_SPIN)
		misuse("krwsem_init_flags: unknown flag", sem);
	krwsem_forget_event(sem); /* a new krwsem at this address: a new unnamed class */
	memset(sem, 0, sizeof(*sem));
	sem->options = (flags & KRWSEM_NO_SPIN) ? KRWSEM__OPT_NO_SPIN : 0;
}

void (krwsem_init)(struct krwsem *sem)
{
	(krwsem_init_flags)(sem, 0);
}

void krwsem__init_named(struct krwsem *sem, unsigned flags, const char *name)
{
	(krwsem_init_flags)(sem, flags);
	sem->name = name;
}

void krwsem_set_name(struct krwsem *sem, const char *name)
{
	check_valid(sem);
	sem->name = name ? kmx_class_intern(name) : NULL;
}

void krwsem_destroy(struct krwsem *sem)
{
	uint64_t count;

	check_valid(sem);
	/* RELAXED snapshots: destroy is legal only when nothing races with it; these only catch
	 * the misuse of a krwsem still in use. */
	count = kmx_load(&sem->count, KMX_RELAXED);
	if (count & RWSEM_LOCK_MASK)
		misuse("destroy of a locked krwsem", sem);
	if (count || kmx_load(&sem->wait_list, KMX_RELAXED) || kmx_load(&sem->osq_tail, KMX_RELAXED) ||
	    kmx_load(&sem->wait_lock, KMX_RELAXED))
		misuse("destroy of a krwsem with waiters", sem);
	krwsem_forget_event(sem);
	kmx_store(&sem->options, sem->options | KRWSEM__OPT_DESTROYED, KMX_RELAXED);
	kmx_store(&sem->count, RWSEM_DESTROYED_COUNT, KMX_RELAXED);
}

/* ---- the per-thread record of held read locks (recursive reads, header item 6) --------- */

/* Its upkeep, note_read_held() and forget_read_held(), is in krwsem_fast.h. */
static bool read_held(const struct kmutex_task *self, const struct krwsem *sem)
{
	const struct kmx_read_held *held = &self->read_held;

	if (held->untracked)
		return true;
	for (uint32_t i = 0; i < held->nr; i++)
		if (held->sems[i] == sem)
			return true;
	return false;
}

/*
 * May this thread's read be let in past waiters?  Only if it already reads this krwsem.  The
 * build flag KRWSEM_BUG_NO_RECURSION gives the kernel's rule (never), so that the regression
 * test can show the deadlock it guards against.
 */
/*
 * What a woken head's failed try clears (try_write_lock()): WOKEN, so that the holder's unlock
 * wakes it.  The build flag KRWSEM_BUG_WOKEN_KEPT keeps it, for the regression test of the
 * lost wakeup that follows (the head asleep, every unlock skipping wait_lock).
 */
#ifndef KRWSEM_BUG_WOKEN_KEPT
#define RWSEM_WOKEN_CLEARED_ON_FAIL RWSEM_FLAG_WOKEN
#else
#define RWSEM_WOKEN_CLEARED_ON_FAIL 0ull
#endif

/*
 * What in the count shows that the record of held read locks is stale (read_slow()): a
 * writer.  The build flag KRWSEM_BUG_STALE_RECORD trusts the record anyway, for the
 * regression test that shows a reader let in beside the writer.
 */
#ifndef KRWSEM_BUG_STALE_RECORD
#define RWSEM_RECORD_REFUTED   RWSEM_WRITER_LOCKED
#else
#define RWSEM_RECORD_REFUTED   0ull
#endif

#ifndef KRWSEM_BUG_NO_RECURSION
#define recursive_read(self, sem) read_held((self), (sem))
#else
#define recursive_read(self, sem) ((void)(self), (void)(sem), false)
#endif

/* ---- the owner word (a hint, but for the writer's own identity) ----------------------------- */

/* reader_acquired() and writer_acquired(): krwsem_fast.h. */
static bool reader_owned(const struct krwsem *sem)
{
	return kmx_load(&sem->owner, KMX_RELAXED) & RWSEM_READER_OWNED; /* RELAXED: a hint */
}

/* ---- waiters, and the wakeups collected under wait_lock -------------------------------- */

enum waiter_type { WAITER_READ, WAITER_WRITE };

struct krwsem_waiter {
	struct kmutex_waiter node;    /* on sem->wait_list; node.since: when it queued */
	enum waiter_type type;
	bool handoff_set;             /* it set HANDOFF (only a head does); under wait_lock */
	uint32_t granted;             /* reader: the lock is ours, bias counted; atomic */
	struct krwsem_waiter *batch;  /* next reader in a wake batch; the waker's, under wait_lock */
};

static struct krwsem_waiter *to_waiter(struct kmutex_waiter *node)
{
	return (struct krwsem_waiter *)node; /* node is the first member */
}

static struct krwsem_waiter *first_waiter(struct krwsem *sem)
{
	struct kmutex_waiter *node = kmx_wait_list_first(&sem->wait_list);

	return node ? to_waiter(node) : NULL;
}

/*
 * The kernel's wake_q: the futex wakes a wait_lock section decides on, issued after it drops
 * wait_lock, so the woken do not block on it at once.  At most one batch of readers, or one
 * writer, per section.
 */
struct wake_q {
	unsigned n;
	struct kmutex_task *tasks[MAX_READERS_WAKEUP];
};

/*
 * Under wait_lock, while the waiter is on the list: mark its thread's wakeup.  The waiter arms
 * its word (KMX_WAKE_SLEEP) under wait_lock too, so the two are ordered and RELAXED is enough;
 * the futex wake is needed only if it had armed.  A word that already says KMX_WAKE_UP (a head
 * woken before and not yet back) is left alone, as kmutex's mark_wakeup() does: only its own
 * thread stores SLEEP, under wait_lock, which we hold, so the load is exact and the waiter's
 * line is spared an RMW on every unlock while it is on its way.
 */
static void wake_q_add(struct wake_q *q, struct kmutex_task *task)
{
	if (kmx_load(&task->wake, KMX_RELAXED) == KMX_WAKE_UP)
		return;
	if (kmx_xchg(&task->wake, KMX_WAKE_UP, KMX_RELAXED) == KMX_WAKE_SLEEP)
		q->tasks[q->n++] = task;
}

/* After wait_lock is dropped.  Descriptors are type-stable: a late wake is only spurious. */
static void wake_up_q(struct wake_q *q)
{
	for (unsigned i = 0; i < q->n; i++)
		kmx_futex_wake(&q->tasks[i]->wake, 1);
	q->n = 0;
}

#ifdef KMUTEX_DEBUG
/*
 * Debug builds, whenever wait_lock is taken or dropped: the list is well formed, WAITERS says
 * whether it has nodes, HANDOFF belongs to the head, and no waiter is left asleep on a free
 * lock.  The last holds because with WAITERS set every change that frees the lock is made
 * under wait_lock, by a path that then wakes the head (release_and_wake(), cond_wake(),
 * cancel_wait()): a free lock with waiters has a writer at the head whose wake is marked (a
 * reader at the head would have been granted and taken off the list).
 */
static void check_wait_list(const struct krwsem *sem)
{
	const struct kmutex_waiter *first = sem->wait_list, *node = first;
	uint64_t count = kmx_load(&sem->count, KMX_RELAXED); /* under wait_lock: flags are stable */
	const struct krwsem_waiter *head = (const struct krwsem_waiter *)first;

	if (first) {
		do {
			if (node->next->prev != node)
				misuse("corrupted krwsem: wait list links broken", sem);
			node = node->next;
		} while (node != first);
	}
	if (!first != !(count & RWSEM_FLAG_WAITERS))
		misuse("corrupted krwsem: WAITERS disagrees with the wait list", sem);
	if ((count & RWSEM_FLAG_HANDOFF) && !(head && head->handoff_set))
		misuse("corrupted krwsem: HANDOFF set, not by the head waiter", sem);
	/* RELAXED: wakes are marked under wait_lock, which we hold. */
	if ((count & RWSEM_FLAG_WOKEN) &&
	    !(head && head->type == WAITER_WRITE &&
	      kmx_load(&head->node.task->wake, KMX_RELAXED) == KMX_WAKE_UP))
		misuse("corrupted krwsem: WOKEN set, but the head is not a woken writer", sem);
	/* RELAXED: wakes are marked under wait_lock, which we hold. */
	if (head && !(count & RWSEM_LOCK_MASK) &&
	    (head->type != WAITER_WRITE || kmx_load(&head->node.task->wake, KMX_RELAXED) != KMX_WAKE_UP))
		misuse("corrupted krwsem: a waiter left asleep on a free lock", sem);
}
#else
static inline void check_wait_list(const struct krwsem *sem) { (void)sem; }
#endif

static void lock_wait_list(struct krwsem *sem)
{
	kmx_wait_lock(&sem->wait_lock);
	check_wait_list(sem);
}

static void unlock_wait_list(struct krwsem *sem)
{
	check_wait_list(sem);
	kmx_wait_unlock(&sem->wait_lock);
}

/* Under wait_lock: queue at the tail, armed to sleep.  WAITERS is the caller's to set. */
static void enqueue_waiter(struct krwsem *sem, struct krwsem_waiter *waiter)
{
	struct kmutex_task *self = waiter->node.task;

	/* The kernel's set_current_state(), under wait_lock: see wake_q_add(). */
	kmx_store(&self->wake, KMX_WAKE_SLEEP, KMX_RELAXED);
	kmx_signal_fence(); /* a handler's kmutex_interrupt_self() lands after, and is seen */
	/* RELAXED: read by this thread, and by others under wait_lock. */
	kmx_store(&waiter->node.since, kmx_monotonic_ns(), KMX_RELAXED);
	kmx_wait_list_add_tail(&sem->wait_list, &waiter->node);
}

/* ---- when the head may set HANDOFF ------------------------------------------------------ */

/*
 * H, the time a head waits before it stops barging: KRWSEM_HANDOFF_AFTER_US in the
 * environment (0: at once, as the kernel's RT writers), read once.  1 ms by default, as the
 * mutex (KMUTEX_HANDOFF_AFTER_US): against the kernel's 4 ms, a writer behind continuous
 * overlapping readers waited 1.5 ms at p99 instead of 4.5 ms, and mixed throughput did not
 * drop (docs/rwsem.md, make krwsem-bound).
 */
#define HANDOFF_AFTER_DEFAULT_NS 1000000ull

static uint64_t handoff_after_cached = KMX_ENV_UNSET;

static uint64_t handoff_after_ns(void)
{
	return kmx_env_time_ns(&handoff_after_cached, "KRWSEM_HANDOFF_AFTER_US",
			       HANDOFF_AFTER_DEFAULT_NS);
}

static bool waited_long_enough(const struct krwsem_waiter *waiter)
{
	uint64_t after = handoff_after_ns();

	/* RELAXED: written under wait_lock, which the callers hold (or it is their own node). */
	return after == 0 || kmx_monotonic_ns() - kmx_load(&waiter->node.since, KMX_RELAXED) >= after;
}

/* ---- waking: the reader batch, and the writer head -------------------------------------- */

enum wake_type {
	WAKE_ANY,        /* the lock may be free: wake a writer head, or grant the readers */
	WAKE_READERS,    /* readers hold the lock: grant queued readers, never wake a writer */
	WAKE_READ_OWNED, /* the caller holds a read lock: grant queued readers, no probe bias */
};

/*
 * Under wait_lock, with the list not empty: the kernel's rwsem_mark_wake().  A writer at the
 * head is only woken (WAKE_ANY): it takes the lock itself.  A reader at the head: probe with
 * one bias (a writer that holds the lock or steals it from here on is seen, and backs us out),
 * then take up to MAX_READERS_WAKEUP readers off the list, writers skipped, count their biases
 * in one add, and only then grant each (a9e9bcb45b15).  Granting a reader clears HANDOFF,
 * which only the head (this reader, or one granted with it) can have set.
 */
static void mark_wake(struct krwsem *sem, enum wake_type type, struct wake_q *q)
{
	struct krwsem_waiter *head = first_waiter(sem), *batch = NULL, **tail = &batch;
	uint64_t probe = 0, adjustment, count;
	unsigned woken = 0;

	if (head->type == WAITER_WRITE) {
		if (type == WAKE_ANY)
			wake_q_add(q, head->node.task);
		return;
	}
	if (type != WAKE_READ_OWNED) {
		/*
		 * ACQUIRE pairs with the RELEASE of the last writer's unlock (a later RMW in the
		 * count's modification order): the grants' RELEASE stores below pass that on to
		 * the readers we wake, who read the writer's data.
		 */
		probe = RWSEM_READER_BIAS;
		count = kmx_add_return(&sem->count, probe, KMX_ACQUIRE) - probe;
		if (count & RWSEM_WRITER_LOCKED) {
			/*
			 * A writer holds the lock.  A reader head that has waited H asks for it: the
			 * writer's unlock wakes us, and nobody barges in between.  (HANDOFF, if set,
			 * is already the head's.)  RELAXED: this RMW only undoes ours.
			 */
			if (!(count & RWSEM_FLAG_HANDOFF) && waited_long_enough(head)) {
				probe -= RWSEM_FLAG_HANDOFF;
				head->handoff_set = true;
				krwsem_handoff_event(sem, head->node.task, true);
			}
			kmx_add_return(&sem->count, -probe, KMX_RELAXED);
			return;
		}
	}

	/* First pass: take the readers off the list. */
	for (struct kmutex_waiter *node = &head->node, *next; node && woken < MAX_READERS_WAKEUP;
	     node = next) {
		struct krwsem_waiter *waiter = to_waiter(node);

		next = kmx_wait_list_next(&sem->wait_list, node);
		if (waiter->type != WAITER_READ)
			continue;
		kmx_wait_list_del(&sem->wait_list, node);
		waiter->batch = NULL;
		*tail = waiter;
		tail = &waiter->batch;
		woken++;
	}

	/* RELAXED: under wait_lock the flag bits cannot change (every writer of them holds it). */
	count = kmx_load(&sem->count, KMX_RELAXED);
	adjustment = woken * RWSEM_READER_BIAS - probe;
	if (!kmx_wait_list_first(&sem->wait_list))
		adjustment -= RWSEM_FLAG_WAITERS;
	if (count & RWSEM_FLAG_HANDOFF)
		adjustment -= RWSEM_FLAG_HANDOFF;

#ifndef KRWSEM_BUG_BIAS_LATE
	/*
	 * RELAXED: the grants' RELEASE stores come after this in program order, so a granted
	 * reader's unlock (an RMW after its ACQUIRE of the grant) comes after it on the count.
	 */
	if (adjustment)
		kmx_add_return(&sem->count, adjustment, KMX_RELAXED);
#endif
	/* Second pass: grant.  After the store the waiter may return, and its node is gone. */
	while (batch) {
		struct krwsem_waiter *waiter = batch;

		batch = waiter->batch;
		wake_q_add(q, waiter->node.task);
		/* RELEASE pairs with the reader's ACQUIRE load of granted (read_wait()). */
		kmx_store(&waiter->granted, 1, KMX_RELEASE);
		KRWSEM_TEST_POINT(KRWSEM_TP_READER_GRANTED, sem);
	}
#ifdef KRWSEM_BUG_BIAS_LATE
	/* The 2019 order that a9e9bcb45b15 fixed: the biases counted after the grants. */
	if (adjustment)
		kmx_add_return(&sem->count, adjustment, KMX_RELAXED);
#endif
}

/*
 * Under wait_lock, with the list not empty, from a slow path that just changed the count
 * (the kernel's rwsem_cond_wake_waiter(), 54c1ee4d614d): if no writer holds the lock, the
 * waiters may be able to run, and the unlock that would wake them may already have passed.
 */
static void cond_wake(struct krwsem *sem, uint64_t count, struct wake_q *q)
{
	if (count & RWSEM_WRITER_LOCKED)
		return;
	mark_wake(sem, (count & RWSEM_READER_MASK) ? WAKE_READERS : WAKE_ANY, q);
}

/*
 * The caller has just become a reader with WAITERS set (the first reader in since a writer, or
 * the writer downgrading): let the queued readers share the lock with it.
 */
static void let_readers_in(struct krwsem *sem)
{
	struct wake_q q;

	q.n = 0;
	lock_wait_list(sem);
	if (kmx_wait_list_first(&sem->wait_list))
		mark_wake(sem, WAKE_READ_OWNED, &q);
	unlock_wait_list(sem);
	wake_up_q(&q);
}

/*
 * Under wait_lock: a waiter gives up (timeout, interruption).  It clears the HANDOFF it set
 * (d257cc8cb8d5; the bit is the head's, so it must not outlive the head: 6eebd5fb2083 lock-up),
 * and if it was the head, wakes the next waiter, who may be able to run now (1ee326196c66,
 * 54c1ee4d614d: readers stranded behind a writer that left while readers held the lock).
 * RELAXED RMWs: the flags carry no data, and wait_lock orders every change to them.
 */
static void cancel_wait(struct krwsem *sem, struct krwsem_waiter *waiter, struct wake_q *q)
{
	bool was_head = first_waiter(sem) == waiter;

#ifndef KRWSEM_BUG_HANDOFF_LEFT
	if (waiter->handoff_set)
		kmx_fetch_and(&sem->count, ~RWSEM_FLAG_HANDOFF, KMX_RELAXED);
#endif
	if (kmx_wait_list_del(&sem->wait_list, &waiter->node)) {
		kmx_fetch_and(&sem->count,
			      ~(RWSEM_FLAG_WAITERS | RWSEM_FLAG_HANDOFF | RWSEM_FLAG_WOKEN),
			      KMX_RELAXED);
		return;
	}
#ifndef KRWSEM_BUG_NO_WAKE_NEXT
	if (was_head)
		mark_wake(sem, WAKE_ANY, q);
#else
	(void)was_head;
	(void)q;
#endif
}

/* ---- sleeping --------------------------------------------------------------------------- */

/*
 * Sleep until a waker stores KMX_WAKE_UP, a signal handler runs, or the deadline passes
 * (kmutex's sleep_on_wake_word()).  true if a handler ran: the kernel's signal_pending() for
 * this wait.  Every return may be spurious.
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

/* Should a waiter give up?  -EINTR / -ETIMEDOUT, or 0.  Consumes nothing. */
static int wait_gives_up(int mode, const struct timespec *deadline, bool signalled)
{
	if ((mode & KMUTEX__INTERRUPTIBLE) && (signalled || kmx_interruption_pending()))
		return -EINTR;
	if ((mode & KMUTEX__TIMED) && kmx_deadline_passed(deadline, mode))
		return -ETIMEDOUT;
	return 0;
}

/* A wait that ends in -EINTR consumes the pending interruption that ended it. */
static int gave_up(int ret)
{
	if (ret == -EINTR)
		(void)kmx_take_interruption();
	return ret;
}

/* ---- unlock paths ----------------------------------------------------------------------- */

/*
 * The last holder with waiters: remove our part under wait_lock, then wake.  Under wait_lock,
 * so that the krwsem may be freed as soon as another thread acquires and releases it (POSIX's
 * rule, see kmutex__unlock_slow()): every thread that could do so must pass wait_lock first.
 * RELEASE: our critical section, to the next holder's ACQUIRE.
 */
static void release_and_wake(struct krwsem *sem, uint64_t part)
{
	struct wake_q q;
	uint64_t count;

	q.n = 0;
	lock_wait_list(sem);
	count = kmx_add_return(&sem->count, -part, KMX_RELEASE);
	/* Under wait_lock, WAITERS means the list is not empty. */
	if (!(count & RWSEM_LOCK_MASK) && (count & RWSEM_FLAG_WAITERS)) {
		bool writer_head = first_waiter(sem)->type == WAITER_WRITE;

		mark_wake(sem, WAKE_ANY, &q);
		/* A writer head is only woken, and stays the head: it is the woken head now.
		 * RELAXED: under wait_lock, as every change of the flags. */
		if (writer_head)
			kmx_fetch_or(&sem->count, RWSEM_FLAG_WOKEN, KMX_RELAXED);
	}
	unlock_wait_list(sem);
	wake_up_q(&q);
}


/* An up_read that cannot be right: say what is wrong (destroyed, write-locked, unlocked). */
static __attribute__((noreturn, noinline, cold)) void up_read_misuse(const struct krwsem *sem)
{
	check_valid(sem);
	/* RELAXED: only this thread can have made the owner word name it as the writer. */
	if (kmx_load(&sem->owner, KMX_RELAXED) == (uintptr_t)kmutex__current)
		misuse("up_read of a krwsem write-locked by the caller", sem);
	misuse("up_read of a krwsem that is not read-locked", sem);
}

/*
 * Remove one reader bias: a held read lock's (held), or one a read slow path added and gives
 * back.  krwsem__release_read_plain() (krwsem_fast.h) does the plain case; here, what it
 * leaves: misuse, the last holder with waiters (who lets go under wait_lock and wakes them),
 * a lost race.
 */
void krwsem__release_read_slow(struct krwsem *sem, uint64_t count, bool held)
{
	for (;;) {
		if (kmx_unlikely(!(count & RWSEM_READER_MASK) ||
				 (held && (count & RWSEM_WRITER_LOCKED))))
			up_read_misuse(sem);
		if (must_wake(count) && (count & RWSEM_LOCK_MASK) == RWSEM_READER_BIAS) {
			release_and_wake(sem, RWSEM_READER_BIAS);
			return;
		}
		if (krwsem__release_read_plain(sem, &count, held))
			return;
	}
}

static void release_read(struct krwsem *sem, bool held)
{
	uint64_t count = kmx_load(&sem->count, KMX_RELAXED); /* a guess: the cmpxchg checks it */

	if (!krwsem__release_read_plain(sem, &count, held))
		krwsem__release_read_slow(sem, count, held);
}

static inline void up_read_common(struct krwsem *sem)
{
	krwsem__up_read_as(sem, kmutex__self());
}

/* up_write or downgrade_write (call) by a thread that does not hold the write lock. */
static __attribute__((noreturn, noinline, cold)) void write_unlock_misuse(const struct krwsem *sem,
									 const char *call)
{
	char msg[96];

	check_valid(sem);
	if (!(kmx_load(&sem->count, KMX_RELAXED) & RWSEM_WRITER_LOCKED))
		snprintf(msg, sizeof(msg), "%s of a krwsem that is not write-locked", call);
	else
		snprintf(msg, sizeof(msg), "%s by a thread that does not hold the write lock", call);
	misuse(msg, sem);
}

/*
 * Does the caller hold the write lock?  RELAXED loads: only the writer stores its own identity
 * (writer_acquired()), and it does so after setting the writer bit, so for the caller both
 * answers are exact.
 */
static bool holds_write(const struct krwsem *sem, uint64_t count, const struct kmutex_task *self)
{
	return (count & RWSEM_WRITER_LOCKED) && kmx_load(&sem->owner, KMX_RELAXED) == (uintptr_t)self;
}

/* The writer bit's removal after krwsem__release_write_plain() (krwsem_fast.h) declined or
 * lost a race: wake the waiters, under wait_lock, if this unlock must. */
void krwsem__release_write_slow(struct krwsem *sem, uint64_t count)
{
	do {
		if (must_wake(count)) {
			release_and_wake(sem, RWSEM_WRITER_LOCKED);
			return;
		}
	} while (!krwsem__release_write_plain(sem, &count));
}

static inline void up_write_common(struct krwsem *sem)
{
	struct kmutex_task *self = kmutex__self();
	uint64_t count = kmx_load(&sem->count, KMX_RELAXED); /* RELAXED: see holds_write() */

	if (kmx_unlikely(!holds_write(sem, count, self)))
		write_unlock_misuse(sem, "up_write");
	krwsem__up_write_owned(sem, count);
}

void krwsem_downgrade_write(struct krwsem *sem)
{
	struct kmutex_task *self = kmutex__self();
	uint64_t count;

	if (kmx_unlikely(!holds_write(sem, kmx_load(&sem->count, KMX_RELAXED), self)))
		write_unlock_misuse(sem, "downgrade_write");
	if (KRWSEM_PUBLIC_CALLS_SEEN && krwsem_tools_on())
		krwsem_downgrade_event(sem);
	reader_acquired(sem, self);
	/* RELEASE: the write section, to the readers that join us without a writer's unlock. */
	count = kmx_add_return(&sem->count, RWSEM_READER_BIAS - RWSEM_WRITER_LOCKED, KMX_RELEASE);
	if (count & RWSEM_FLAG_WAITERS)
		let_readers_in(sem);
}

/* ---- the read slow path ------------------------------------------------------------------ */

/*
 * Wait, off wait_lock, for a waker to grant us the lock.  0: granted; -EINTR / -ETIMEDOUT: we
 * left the list (unless the grant came first: then the lock is kept, and 0).
 */
static int read_wait(struct krwsem *sem, struct kmutex_task *self, struct krwsem_waiter *waiter,
		     int mode, const struct timespec *deadline)
{
	bool signalled = false;
	struct wake_q q;
	int ret;

	for (;;) {
		/* ACQUIRE pairs with the waker's RELEASE store (99143f82a255). */
		if (kmx_load(&waiter->granted, KMX_ACQUIRE))
			return 0;
		ret = wait_gives_up(mode, deadline, signalled);
		if (ret)
			break;
		KRWSEM_TEST_POINT(KRWSEM_TP_WAITER_SLEEP, sem);
		signalled = sleep_on_wake_word(self, mode, deadline);
		/*
		 * Woken, not granted (an interruption of a wait that ignores it, or a late wake
		 * from an earlier wait): arm again, under wait_lock, where grants are made.
		 */
		if (kmx_load(&self->wake, KMX_RELAXED) == KMX_WAKE_UP &&
		    !kmx_load(&waiter->granted, KMX_ACQUIRE)) {
			lock_wait_list(sem);
			/* RELAXED: wait_lock orders it with the grants. */
			if (!kmx_load(&waiter->granted, KMX_RELAXED))
				kmx_store(&self->wake, KMX_WAKE_SLEEP, KMX_RELAXED);
			unlock_wait_list(sem);
		}
	}

	q.n = 0;
	lock_wait_list(sem);
	/*
	 * Granted meanwhile: the lock is ours, keep it (the kernel's check under wait_lock).
	 * RELAXED: the grant was made under wait_lock, whose ACQUIRE we now have.
	 */
	if (kmx_load(&waiter->granted, KMX_RELAXED)) {
		unlock_wait_list(sem);
		return 0;
	}
	cancel_wait(sem, waiter, &q);
	unlock_wait_list(sem);
	wake_up_q(&q);
	return gave_up(ret);
}

/*
 * The fast path's add found a bit of RWSEM_READ_FAILED_MASK; `count` is the value after it,
 * and our bias is in the count.  The kernel's rwsem_down_read_slowpath().
 */
static __attribute__((noinline)) int read_slow(struct krwsem *sem, struct kmutex_task *self,
					       int mode, const struct timespec *deadline,
					       uint64_t count, const void *ip)
{
	struct krwsem_waiter waiter = { .node = { .task = self }, .type = WAITER_READ };
	uint64_t adjustment = -RWSEM_READER_BIAS;
	struct kmx_contention contention;
	struct wake_q q;
	int ret;

	check_valid(sem);
	if (kmx_unlikely(count & RWSEM_READ_FAIL)) {
		release_read(sem, false);
		return -EAGAIN;
	}
	/*
	 * The write holder asking for a read lock would wait for itself: -EDEADLK (the public
	 * calls report it as misuse).  Only here, so the fast path pays nothing for it.
	 * RELAXED: only this thread can have made the owner word name it as the writer.
	 */
	if (kmx_unlikely((count & RWSEM_WRITER_LOCKED) &&
			 kmx_load(&sem->owner, KMX_RELAXED) == (uintptr_t)self)) {
		release_read(sem, false);
		return -EDEADLK;
	}
	/*
	 * A recursive read: our own hold keeps writers out, so the bias we added is a lock.  But
	 * the record can be stale (a hold released by another thread, or holds beyond the slots,
	 * which count for every krwsem: header item 6), and a writer in the count proves it is:
	 * a real hold excludes him.  Then this is no recursive read, and the bias must not be
	 * kept (it would put a reader beside the writer).  Without a writer at our add, our bias
	 * keeps writers out from then on, so the stale case costs fairness only.
	 */
	if (!(count & RWSEM_RECORD_REFUTED) && recursive_read(self, sem))
		goto acquired;
	/*
	 * Steal, unless a writer holds the lock, HANDOFF is set, or other readers hold it while
	 * someone waits: a stream of readers must not keep a queued writer out (2f06f702925b).
	 * Our fast path's ACQUIRE already synchronized with the last writer's unlock.
	 */
	if (!(count & (RWSEM_WRITER_LOCKED | RWSEM_NO_THIEVES)) &&
	    !(nr_readers(count) > 1 && reader_owned(sem))) {
		if (nr_readers(count) == 1 && (count & RWSEM_FLAG_WAITERS))
			let_readers_in(sem); /* the first reader in */
		goto acquired;
	}
	if (bad_timespec(mode, deadline)) {
		release_read(sem, false);
		return -EINVAL;
	}

	krwsem_contention_begin(sem, KMX_LCB_F_READ, &contention);
	q.n = 0;
	lock_wait_list(sem);
	if (!kmx_wait_list_first(&sem->wait_list)) {
		/*
		 * Nobody waits: unless a writer holds the lock, our bias is a read lock.
		 * ACQUIRE (e1b98fa31664): pairs with the RELEASE of the writer's unlock that we
		 * now see gone; our fast path's add may have read the count before it.
		 */
		if (!(kmx_load(&sem->count, KMX_ACQUIRE) & RWSEM_WRITER_LOCKED)) {
			unlock_wait_list(sem);
			(void)krwsem_contention_end(sem, &contention, 0);
			goto acquired;
		}
		adjustment += RWSEM_FLAG_WAITERS;
	}
	enqueue_waiter(sem, &waiter);
	/*
	 * Take our bias back out (and set WAITERS if we are the first).  RELAXED: we held no
	 * data; if this frees the lock, cond_wake() grants under wait_lock with its own ACQUIRE.
	 */
	count = kmx_add_return(&sem->count, adjustment, KMX_RELAXED);
	cond_wake(sem, count, &q);
	unlock_wait_list(sem);
	wake_up_q(&q);

	krwsem_contention_sleep(sem, KMX_LCB_F_READ, &contention);
	kmx_hung_begin(self, KMX_BLOCKED_RWSEM_READ, sem, NULL, NULL, ip, (uint32_t)mode);
	ret = read_wait(sem, self, &waiter, mode, deadline);
	kmx_hung_end(self);
	ret = krwsem_contention_end(sem, &contention, ret);
	if (ret)
		return ret;
acquired:
	reader_acquired(sem, self);
	return 0;
}

/* The read lock calls' own work (the calls, and the lock tools' part: at the end). */
static inline int down_read_common(struct krwsem *sem, int mode, const struct timespec *deadline)
{
	struct kmutex_task *self = kmutex__self();
	uint64_t count;

	check_deadline(sem, mode, deadline, "krwsem_down_read_timeout");
	if (kmx_likely(krwsem__read_fast(sem, self, &count)))
		return 0;
	/* ip: the call's return address (this is inlined in the exported call), for the
	 * hung-task watchdog's "at:". */
	return read_slow(sem, self, mode, deadline, count, __builtin_return_address(0));
}

static inline int down_read_try_common(struct krwsem *sem)
{
	struct kmutex_task *self = kmutex__self();
	uint64_t count;
	int held = -1; /* recursive_read(), looked up once if needed */

	count = kmx_load(&sem->count, KMX_RELAXED); /* a guess: the cmpxchg checks it */
	for (;;) {
		if (count & RWSEM_WRITER_LOCKED) {
			check_valid(sem); /* a destroyed krwsem looks write-locked */
			return -EBUSY;
		}
		if ((count + RWSEM_READER_BIAS) & RWSEM_READ_FAIL)
			return -EAGAIN;
		if (count & (RWSEM_FLAG_WAITERS | RWSEM_FLAG_HANDOFF)) {
			if (held < 0)
				held = recursive_read(self, sem);
			if (!held)
				return -EBUSY;
		}
		/* ACQUIRE pairs with the RELEASE of the last writer's unlock. */
		if (kmx_try_cmpxchg(&sem->count, &count, count + RWSEM_READER_BIAS, KMX_ACQUIRE))
			break;
	}
	reader_acquired(sem, self);
	return 0;
}

/* For pthread/rwlock.c's inline fast path (krwsem_fast.h): the tools are off. */
int krwsem__down_read_slow(struct krwsem *sem, struct kmutex_task *self, uint64_t count,
			   const void *ip)
{
	return read_slow(sem, self, 0, NULL, count, ip);
}

/* ---- the write slow path ----------------------------------------------------------------- */

/*
 * Take the lock if no one holds it and no HANDOFF is set, keeping WAITERS: the kernel's
 * rwsem_try_write_lock_unqueued(), for trylock, spinners, and a first try.
 */
static bool write_trylock_unqueued(struct krwsem *sem, struct kmutex_task *self)
{
	/* RELAXED: a guess; the cmpxchg checks it. */
	uint64_t count = kmx_load(&sem->count, KMX_RELAXED);

	while (!(count & (RWSEM_LOCK_MASK | RWSEM_NO_THIEVES))) {
		/* ACQUIRE pairs with the RELEASE of the last holder's unlock. */
		if (kmx_try_cmpxchg(&sem->count, &count, count | RWSEM_WRITER_LOCKED, KMX_ACQUIRE)) {
			writer_acquired(sem, self);
			return true;
		}
	}
	return false;
}

/*
 * Under wait_lock, for a queued writer: the kernel's rwsem_try_write_lock().
 *  - HANDOFF set and we are not the head: it is the head's (only the head sets it), yield;
 *  - the lock is held: the head that has waited H sets HANDOFF, in the same cmpxchg that
 *    finds the lock held, and fails; the head also clears WOKEN in that cmpxchg, so that the
 *    holder's unlock, which comes after it on the count, wakes it (it is about to sleep);
 *  - the lock is free: take it, clearing HANDOFF, and WAITERS if we are the only waiter; the
 *    head also clears WOKEN (the next head is asleep); leave the list.
 */
static bool try_write_lock(struct krwsem *sem, struct krwsem_waiter *waiter,
			   struct kmutex_task *self)
{
	bool head = first_waiter(sem) == waiter, take;
	uint64_t count = kmx_load(&sem->count, KMX_RELAXED), new; /* checked by the cmpxchg */

	do {
		if ((count & RWSEM_FLAG_HANDOFF) && !head)
			return false;
		take = !(count & RWSEM_LOCK_MASK);
		new = count;
		if (head)
			new &= ~(take ? RWSEM_FLAG_WOKEN : RWSEM_WOKEN_CLEARED_ON_FAIL);
		if (take) {
			new = (new | RWSEM_WRITER_LOCKED) & ~RWSEM_FLAG_HANDOFF;
			if (waiter->node.next == &waiter->node)
				new &= ~RWSEM_FLAG_WAITERS;
		} else if (head && !(count & RWSEM_FLAG_HANDOFF) && waited_long_enough(waiter)) {
			new |= RWSEM_FLAG_HANDOFF;
		}
		if (new == count)
			return false;
		/* ACQUIRE when we take the lock: pairs with the RELEASE of the last holder's
		 * unlock.  (When we only change flags it is more than needed.) */
	} while (!kmx_try_cmpxchg(&sem->count, &count, new, KMX_ACQUIRE));

	if (!take) {
		if (new & RWSEM_FLAG_HANDOFF)
			waiter->handoff_set = true; /* ours: only the head sets it */
		if (new & ~count & RWSEM_FLAG_HANDOFF) /* count: the value replaced */
			krwsem_handoff_event(sem, self, false);
		return false;
	}
	kmx_wait_list_del(&sem->wait_list, &waiter->node);
	writer_acquired(sem, self);
	return true;
}

/*
 * A writer holds sem and cannot be running: it last ran on our CPU (kmx_owner_preempted_here()).
 * Readers are not named (the owner word keeps only the last reader in), so a reader-owned lock
 * never stops a spin here.  RELAXED: a hint; the owner word may already name a newer writer.
 */
static bool writer_preempted_here(struct krwsem *sem, struct kmutex_task *self, uint64_t count)
{
	uintptr_t owner = kmx_load(&sem->owner, KMX_RELAXED);

	return (count & RWSEM_WRITER_LOCKED) && !(owner & RWSEM_READER_OWNED) &&
	       kmx_owner_preempted_here(self, (struct kmutex_task *)owner);
}

/*
 * A head that set HANDOFF polls for the holders to leave instead of sleeping (nobody else may
 * take the lock now).  true: the lock looks free, try again.  RELAXED polling: the try under
 * wait_lock does the ACQUIRE.
 */
static bool spin_for_handoff(struct krwsem *sem, struct kmutex_task *self)
{
	if ((sem->options & KRWSEM__OPT_NO_SPIN) || kmx_self_realtime(&self->policy))
		return false;
	for (uint32_t budget = SPIN_BUDGET; budget; budget--) {
		uint64_t count = kmx_load(&sem->count, KMX_RELAXED);

		if (!(count & RWSEM_LOCK_MASK))
			return true;
		if (budget % SPIN_CPU_RECHECK == 0 && writer_preempted_here(sem, self, count))
			return false;
		kmx_cpu_relax();
	}
	return false;
}

/*
 * Writers' optimistic spinning (the kernel's rwsem_optimistic_spin(), writers only): at the
 * head of the OSQ, poll and steal while the budget lasts, no HANDOFF is set, and the writer
 * holding the lock, if one does, can be running.
 */
static bool optimistic_spin(struct krwsem *sem, struct kmutex_task *self)
{
	uint32_t budget = SPIN_BUDGET;
	bool acquired = false;

	if ((sem->options & KRWSEM__OPT_NO_SPIN) || kmx_self_realtime(&self->policy) ||
	    kmx_osq_full(&sem->osq_tail, kmx_max_osq_spinners()) ||
	    writer_preempted_here(sem, self, kmx_load(&sem->count, KMX_RELAXED)))
		return false;
	if (!kmx_osq_lock(&sem->osq_tail, &self->osq, &budget))
		return false;
	for (uint32_t polls = 1;; polls++) { /* the writer was asked about just above */
		uint64_t count;

		if (write_trylock_unqueued(sem, self)) {
			acquired = true;
			break;
		}
		/* RELAXED polling: the trylock does the ACQUIRE. */
		count = kmx_load(&sem->count, KMX_RELAXED);
		if (budget == 0 || (count & RWSEM_FLAG_HANDOFF) ||
		    (polls % SPIN_CPU_RECHECK == 0 && writer_preempted_here(sem, self, count)))
			break;
		budget--;
		kmx_cpu_relax();
	}
	kmx_osq_unlock(&sem->osq_tail, &self->osq);
	return acquired;
}

/*
 * The queued writer's loop: called with wait_lock held and our node on the list, returns with
 * wait_lock dropped.  The try comes before the signal and deadline checks, so a writer that
 * can have the lock takes it.
 */
static int write_wait(struct krwsem *sem, struct kmutex_task *self, struct krwsem_waiter *waiter,
		      int mode, const struct timespec *deadline)
{
	bool signalled = false;
	struct wake_q q;
	int ret;

	q.n = 0;
	for (;;) {
		/* Armed under wait_lock, before the try: see wake_q_add(). */
		kmx_store(&self->wake, KMX_WAKE_SLEEP, KMX_RELAXED);
		kmx_signal_fence();
		if (try_write_lock(sem, waiter, self)) {
			ret = 0;
			break;
		}
		ret = wait_gives_up(mode, deadline, signalled);
		if (ret) {
			cancel_wait(sem, waiter, &q);
			break;
		}
		unlock_wait_list(sem);
		if (!(waiter->handoff_set && spin_for_handoff(sem, self))) {
			KRWSEM_TEST_POINT(KRWSEM_TP_WAITER_SLEEP, sem);
			signalled = sleep_on_wake_word(self, mode, deadline);
			KRWSEM_TEST_POINT(KRWSEM_TP_WRITER_WOKEN, sem);
		}
		lock_wait_list(sem);
	}
	unlock_wait_list(sem);
	wake_up_q(&q);
	return gave_up(ret);
}

static __attribute__((noinline)) int write_slow(struct krwsem *sem, struct kmutex_task *self,
						int mode, const struct timespec *deadline,
						const void *ip)
{
	struct krwsem_waiter waiter = { .node = { .task = self }, .type = WAITER_WRITE };
	struct kmx_contention contention;
	struct wake_q q;
	int ret;

	check_valid(sem);
	/* RELAXED: only this thread can have made the owner word name it. */
	if (kmx_unlikely(kmx_load(&sem->owner, KMX_RELAXED) == (uintptr_t)self))
		return -EDEADLK; /* the public calls report it as misuse (checked()) */
	if (write_trylock_unqueued(sem, self))
		return 0;
	krwsem_contention_begin(sem, (sem->options & KRWSEM__OPT_NO_SPIN)
					     ? KMX_LCB_F_WRITE : KMX_LCB_F_WRITE | KMX_LCB_F_SPIN,
				&contention);
	if (bad_timespec(mode, deadline))
		return krwsem_contention_end(sem, &contention, -EINVAL);
	if (optimistic_spin(sem, self))
		return krwsem_contention_end(sem, &contention, 0);

	krwsem_contention_sleep(sem, KMX_LCB_F_WRITE, &contention);
	q.n = 0;
	lock_wait_list(sem);
	enqueue_waiter(sem, &waiter);
	if (first_waiter(sem) == &waiter) {
		/* RELAXED: the RMWs on the count order themselves; the try below reads it again. */
		kmx_fetch_or(&sem->count, RWSEM_FLAG_WAITERS, KMX_RELAXED);
	} else {
		/* Readers queued while the lock may be free or reader-owned: let them in. */
		cond_wake(sem, kmx_load(&sem->count, KMX_RELAXED), &q);
		if (q.n) {
			unlock_wait_list(sem);
			wake_up_q(&q);
			lock_wait_list(sem);
		}
	}
	kmx_hung_begin(self, KMX_BLOCKED_RWSEM_WRITE, sem, NULL, NULL, ip, (uint32_t)mode);
	ret = write_wait(sem, self, &waiter, mode, deadline);
	kmx_hung_end(self);
	return krwsem_contention_end(sem, &contention, ret);
}

static inline int down_write_common(struct krwsem *sem, int mode, const struct timespec *deadline)
{
	struct kmutex_task *self = kmutex__self();

	check_deadline(sem, mode, deadline, "krwsem_down_write_timeout");
	if (kmx_likely(krwsem__write_fast(sem, self)))
		return 0;
	return write_slow(sem, self, mode, deadline, __builtin_return_address(0)); /* as read's */
}

static inline int down_write_try_common(struct krwsem *sem)
{
	if (write_trylock_unqueued(sem, kmutex__self()))
		return 0;
	check_valid(sem); /* a destroyed krwsem looks write-locked */
	return -EBUSY;
}

/* For pthread/rwlock.c's inline fast path (krwsem_fast.h): the tools are off. */
int krwsem__down_write_slow(struct krwsem *sem, struct kmutex_task *self, const void *ip)
{
	return write_slow(sem, self, 0, NULL, ip);
}

/* ---- the lock and unlock calls --------------------------------------------------------- */

/*
 * Each call exists for both sides, public and layered (krwsem__*), and the four differ only in
 * the side's own work (down_read_common(), down_write_common(), ...), in what the lock tools
 * are told, and in what the public calls make of -EDEADLK and -EAGAIN.  So one function or
 * macro of each kind below serves the four; its `read` argument, READER or WRITER, is a
 * constant in each exported call, which expands its own side's fast path and nothing of the
 * other's.  always_inline: a function of both sides with four callers may otherwise stay a
 * call (up() did), and the fast path must be in the exported call: in the shared library a
 * call from one exported function to another goes through the PLT (the callee could be
 * interposed), which cost a third of an uncontended read lock+unlock (measured).
 *
 * seen: the lock tools follow the call (krwsem_tools.h): the layered calls whenever the tools
 * are on (LAYERED_CALLS_SEEN), the public ones in the debug build (KRWSEM_PUBLIC_CALLS_SEEN).
 * ip: the program's call site, for lockdep's reports (CALLER, taken in the exported function).
 */
#define READER true
#define WRITER false
#define LAYERED_CALLS_SEEN true
#define CALLER __builtin_return_address(0)

static inline __attribute__((always_inline)) int down_common(struct krwsem *sem, bool read,
							    int mode, const struct timespec *deadline)
{
	return read ? down_read_common(sem, mode, deadline) : down_write_common(sem, mode, deadline);
}

static inline __attribute__((always_inline)) int down_try_common(struct krwsem *sem, bool read)
{
	return read ? down_read_try_common(sem) : down_write_try_common(sem);
}

/* (read last: the exported call's own arguments stay in their registers for the tail call) */
static __attribute__((noinline)) int down_tracked(struct krwsem *sem, int mode,
						  const struct timespec *deadline, const void *ip,
						  bool read)
{
	krwsem_lockdep_before(sem, read, mode, ip);
	return krwsem_lock_done(sem, read, false, down_common(sem, read, mode, deadline), ip);
}

static __attribute__((noinline)) int down_try_tracked(struct krwsem *sem, const void *ip,
						      bool read)
{
	return krwsem_lock_done(sem, read, true, down_try_common(sem, read), ip);
}

#define DOWN(sem, read, mode, deadline, seen)                                                   \
	(kmx_unlikely((seen) && krwsem_tools_on()) ? down_tracked(sem, mode, deadline, CALLER, read) \
						   : down_common(sem, read, mode, deadline))
#define DOWN_TRY(sem, read, seen)                                                          \
	(kmx_unlikely((seen) && krwsem_tools_on()) ? down_try_tracked(sem, CALLER, read)   \
						   : down_try_common(sem, read))

/* The public lock calls: the write holder asking again (-EDEADLK for a layer) is misuse. */
static inline int checked(struct krwsem *sem, bool read, int ret)
{
	if (kmx_unlikely(ret == -EDEADLK))
		misuse(read ? "read lock by the write holder" : "recursive write lock by the holder",
		       sem);
	return ret;
}

#define PUBLIC_DOWN(sem, read, mode, deadline) \
	checked(sem, read, DOWN(sem, read, mode, deadline, KRWSEM_PUBLIC_CALLS_SEEN))

static inline __attribute__((always_inline)) void up(struct krwsem *sem, bool read, bool seen)
{
	if (seen && krwsem_tools_on())
		krwsem_unlock_event(sem);
	if (read)
		up_read_common(sem);
	else
		up_write_common(sem);
}

int krwsem__down_read(struct krwsem *sem, int mode, const struct timespec *deadline)
{
	return DOWN(sem, READER, mode, deadline, LAYERED_CALLS_SEEN);
}

int krwsem__down_write(struct krwsem *sem, int mode, const struct timespec *deadline)
{
	return DOWN(sem, WRITER, mode, deadline, LAYERED_CALLS_SEEN);
}

int krwsem__down_read_try(struct krwsem *sem)
{
	return DOWN_TRY(sem, READER, LAYERED_CALLS_SEEN);
}

int krwsem__down_write_try(struct krwsem *sem)
{
	return DOWN_TRY(sem, WRITER, LAYERED_CALLS_SEEN);
}

void krwsem__up_read(struct krwsem *sem)
{
	up(sem, READER, LAYERED_CALLS_SEEN);
}

void krwsem__up_write(struct krwsem *sem)
{
	up(sem, WRITER, LAYERED_CALLS_SEEN);
}

void krwsem_down_read(struct krwsem *sem)
{
	if (kmx_unlikely(PUBLIC_DOWN(sem, READER, 0, NULL) == -EAGAIN))
		misuse("krwsem_down_read: reader count overflow", sem);
}

void krwsem_down_write(struct krwsem *sem)
{
	(void)PUBLIC_DOWN(sem, WRITER, 0, NULL);
}

int krwsem_down_read_trylock(struct krwsem *sem)
{
	return DOWN_TRY(sem, READER, KRWSEM_PUBLIC_CALLS_SEEN) == 0;
}

int krwsem_down_write_trylock(struct krwsem *sem)
{
	return DOWN_TRY(sem, WRITER, KRWSEM_PUBLIC_CALLS_SEEN) == 0;
}

int krwsem_down_read_interruptible(struct krwsem *sem)
{
	return PUBLIC_DOWN(sem, READER, KMUTEX__INTERRUPTIBLE, NULL);
}

int krwsem_down_write_interruptible(struct krwsem *sem)
{
	return PUBLIC_DOWN(sem, WRITER, KMUTEX__INTERRUPTIBLE, NULL);
}

int krwsem_down_read_timeout(struct krwsem *sem, const struct timespec *deadline)
{
	return PUBLIC_DOWN(sem, READER, KMUTEX__TIMED, deadline);
}

int krwsem_down_write_timeout(struct krwsem *sem, const struct timespec *deadline)
{
	return PUBLIC_DOWN(sem, WRITER, KMUTEX__TIMED, deadline);
}

void krwsem_up_read(struct krwsem *sem)
{
	up(sem, READER, KRWSEM_PUBLIC_CALLS_SEEN);
}

void krwsem_up_write(struct krwsem *sem)
{
	up(sem, WRITER, KRWSEM_PUBLIC_CALLS_SEEN);
}

/* ---- queries ----------------------------------------------------------------------------- */

/* For the hung-task watchdog (hung_task.h): the writer, or the number of readers, of a copy. */
struct kmutex_task *kmx_krwsem_holders(const struct krwsem *copy, uint64_t *readers)
{
	*readers = 0;
	if (copy->count & RWSEM_WRITER_LOCKED)
		return copy->owner & RWSEM_READER_OWNED ? NULL : (struct kmutex_task *)copy->owner;
	*readers = nr_readers(copy->count & ~RWSEM_READ_FAIL);
	return NULL;
}

int krwsem_is_locked(const struct krwsem *sem)
{
	/* RELAXED: a snapshot orders nothing.  Transient biases of failing readers count too. */
	return (kmx_load(&sem->count, KMX_RELAXED) & RWSEM_LOCK_MASK) != 0;
}

int krwsem_write_held_by_self(const struct krwsem *sem)
{
	struct kmutex_task *self = kmutex__current;

	/* RELAXED: only this thread can make the owner word name it as the writer. */
	return self && kmx_load(&sem->owner, KMX_RELAXED) == (uintptr_t)self;
}

int krwsem_read_held_by_self(const struct krwsem *sem)
{
	struct kmutex_task *self = kmutex__current;

	return self && read_held(self, sem);
}

/* ---- test accessors ---------------------------------------------------------------------- */

#ifdef KMUTEX_TEST_HOOKS
void (*volatile krwsem_test_hook)(enum krwsem_test_point point, struct krwsem *sem);

uint64_t krwsem_test_count(struct krwsem *sem)
{
	return kmx_load(&sem->count, KMX_RELAXED);
}

void krwsem_test_set_count(struct krwsem *sem, uint64_t count)
{
	kmx_store(&sem->count, count, KMX_RELAXED);
}

int krwsem_test_nr_waiters(struct krwsem *sem)
{
	int n = 0;

	lock_wait_list(sem);
	for (struct kmutex_waiter *w = sem->wait_list; w; w = kmx_wait_list_next(&sem->wait_list, w))
		n++;
	unlock_wait_list(sem);
	return n;
}
#endif
