/*
 * kcond: a condition variable for kmutex, with wait morphing.
 *
 * A kcond is a FIFO list of sleeping waiters guarded by a small internal lock (a wait_lock,
 * as a kmutex's list is).  Its nodes are the mutex's own waiter nodes (struct kmutex_waiter,
 * on the waiters' stacks), and a waiter sleeps on the same futex word in its descriptor as it
 * does when it waits for a mutex; the node's `state` says where the node is:
 *
 *   ON_COND   on the kcond's list, asleep until signalled;
 *   WOKEN     taken off the list by a signal: the waiter relocks the mutex itself;
 *   ON_MUTEX  moved by a broadcast onto the mutex's wait list: the waiter is a mutex waiter.
 *
 * Wait (M:kcond_wait): under the kcond's lock, append the node and arm the wake word; drop
 * the lock; unlock the mutex; sleep.  The node is on the list before the mutex is released,
 * so a signaller that takes the mutex after us, or that merely runs after our unlock, finds it:
 * no wakeup is lost.  After each sleep the waiter reads its state; ON_COND means a spurious
 * wakeup, a timeout or an interruption, which it resolves under the kcond's lock, where the
 * state cannot change under it (M:kcond_recheck), after claiming the node with a cmpxchg
 * ON_COND -> RECHECKING (M:kcond_claim, see Lifetime): still RECHECKING, it either leaves the list
 * (timeout, interruption) or re-arms its wake word and sleeps again.  A waiter that was
 * signalled while its deadline passed returns 0: it consumed the signal, so it must not
 * report a timeout, or the signal would be lost for everyone.
 *
 * Signal (M:kcond_signal): under the lock, pop the head, mark it WOKEN and its wake word UP;
 * the futex wake is issued after dropping the lock, as the mutex's unlock does.  The woken
 * waiter relocks the mutex like any locker: it spins while the signaller, if it holds the
 * mutex, finishes its critical section, or it queues.  (Moving the waiter onto the mutex's
 * wait list instead, as broadcast does, was measured and dropped: in `kmutex-bench condvar`,
 * producers and consumers signalling once per item, the moved waiters queued behind every
 * running thread, and throughput at 16 and 32 threads fell to 0.66-0.81x glibc's; waking
 * them gave 1.29-1.45x.)
 *
 * Broadcast (M:kcond_broadcast) does not wake every waiter only to have them all fight for
 * the mutex and all but one go back to sleep on it (the stampede).  It moves every node onto
 * the mutex's wait list, still asleep, under the mutex's wait_lock (M:kcond_morph, "wait
 * morphing": parking_lot's Condvar requeues onto its mutex the same way, and glibc once did
 * with FUTEX_CMP_REQUEUE).  Unlocks then wake them one at a time, as mutex waiters, handoff
 * included.  They are never stranded: setting WAITERS tells whether the mutex is owned,
 * atomically; if it is, the owner's unlock fails its fast path and wakes the head; if not,
 * the broadcaster wakes the head itself (kmx_wake_moved_head()).  So with N waiters a
 * broadcast wakes one when the mutex is free, none until the owner unlocks when it is held.
 * All nodes are moved before any wakeup: a woken waiter that could relock and unlock the
 * mutex before the others are on its list would leave them asleep on a free mutex (the
 * model found this in a design that woke the first and then moved the rest).  Lock order:
 * the kcond's lock, then the mutex's wait_lock; kmutex.c never takes a kcond's lock.  With a
 * foreign mutex, broadcast wakes every node as a signal does.
 *
 * Lifetime: POSIX lets a thread destroy a condition variable as soon as no thread is blocked
 * on it, e.g. right after a broadcast, while the woken waiters have not returned yet.  A waiter
 * therefore counts itself in `refs` while it may still touch the kcond (its lock, to recheck
 * or leave the list), and kcond_destroy waits for the count to drop to zero (glibc's __wrefs
 * plays the same part).  A moved waiter never touches the kcond again, so the mover drops its
 * count for it, except for a waiter that has claimed its node for a recheck (RECHECKING: it
 * is awake and about to take or holding the kcond's lock), which drops its own; the claim and
 * the move are RMWs of the node's state, so exactly one of them sees the other: a destroy right after a broadcast, with the mutex still held, does not wait
 * for the moved waiters, which cannot run before that mutex is unlocked.
 *
 * A kcond can also wait with a mutex that is not a kmutex (struct kcond_mutex's foreign
 * lock/unlock: libkmutex-pthread's forwarded glibc mutexes); then signal and broadcast wake.
 */
#include "kmutex.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "atomic.h"
#include "debug.h"
#include "futex.h"
#include "hung_task.h"
#include "kmutex_int.h"
#include "task.h"
#include "wait_list.h"
#include "wait_lock.h"

#define REFS_DESTROYING 0x80000000u /* kcond_destroy waits for refs to drop to this */

static void kcond_misuse(const char *check, const struct kcond *c)
{
	kmx_misuse_of(check, "condvar", c);
}

void kcond_init(struct kcond *c)
{
	memset(c, 0, sizeof(*c));
}

void kcond_destroy(struct kcond *c)
{
	uint32_t refs;

	kmx_wait_lock(&c->lock);
	if (c->waiters)
		kcond_misuse("destroy of a condition variable with waiters", c);
	kmx_wait_unlock(&c->lock);
	/*
	 * Wait for woken waiters that may still touch the kcond.  ACQUIRE pairs with the RELEASE
	 * decrement of the last one: its accesses to the kcond are over before we return.
	 */
	refs = kmx_fetch_or(&c->refs, REFS_DESTROYING, KMX_ACQUIRE) | REFS_DESTROYING;
	while (refs != REFS_DESTROYING) {
		kmx_futex_wait(&c->refs, refs, NULL);
		refs = kmx_load(&c->refs, KMX_ACQUIRE);
	}
	kmx_store(&c->refs, 0, KMX_RELAXED); /* RELAXED: nobody else may use it now; a new init
						 * is ordered by the user */
}

/* The waiter is done with the kcond: let a kcond_destroy that waits for it go on. */
static void put_ref(struct kcond *c)
{
	/* RELEASE: our accesses to the kcond come before a destroyer's ACQUIRE sees the count. */
	if (kmx_add_return(&c->refs, -1u, KMX_RELEASE) == REFS_DESTROYING)
		kmx_futex_wake(&c->refs, 1);
}

/* ---- the mutex a wait releases and retakes -------------------------------------------- */

/* 0, or a foreign mutex's unlock error (it stays locked). */
static int mutex_unlock(const struct kcond_mutex *m)
{
	if (!m->kmutex)
		return m->foreign_unlock(m->foreign);
	kmutex_unlock(m->kmutex);
	return 0;
}

static void mutex_relock(const struct kcond_mutex *m, struct kmutex_waiter *waiter)
{
	/* ACQUIRE pairs with kmx_enqueue_moved_waiter()'s RELEASE (or the lock's, WOKEN). */
	if (kmx_load(&waiter->state, KMX_ACQUIRE) == KMX_WAITER_ON_MUTEX)
		kmx_lock_moved_waiter(m->kmutex, waiter);
	else if (m->kmutex)
		kmutex_lock(m->kmutex);
	else
		m->foreign_lock(m->foreign);
}

/* ---- signal and broadcast -------------------------------------------------------------- */

/*
 * Under c->lock: take the head off the list and mark it WOKEN.  Returns its task if the futex
 * wake is needed (its wake word was armed), else NULL.  The node may be gone as soon as the
 * caller drops the lock (the waiter returns); its descriptor is type-stable (task.h), so the
 * wake issued after that is at worst spurious.
 */
static struct kmutex_task *wake_first(struct kcond *c)
{
	struct kmutex_waiter *waiter = kmx_wait_list_first(&c->waiters);
	struct kmutex_task *task = waiter->task;

	if (kmx_wait_list_del(&c->waiters, waiter))
		c->mutex = NULL;
	/* RELEASE pairs with the waiter's ACQUIRE of its state after its sleep. */
	kmx_store(&waiter->state, KMX_WAITER_WOKEN, KMX_RELEASE);
	/* RELAXED: the waiter arms SLEEP under c->lock, which orders the two. */
	return kmx_xchg(&task->wake, KMX_WAKE_UP, KMX_RELAXED) == KMX_WAKE_SLEEP ? task : NULL;
}

/*
 * M:kcond_morph.  Under c->lock: move every waiter onto the kmutex's wait list, still asleep
 * with their wake words armed: the unlocks that make each the head of the mutex's list wake
 * them (kmx_wake_moved_head() wakes one now if the mutex is free).
 * Returns the task to futex-wake once the locks are dropped, or NULL.
 */
static struct kmutex_task *move_to_mutex(struct kcond *c, struct kmutex *lock)
{
	struct kmutex_task *task;

	kmx_lock_wait_list(lock);
	do {
		struct kmutex_waiter *waiter = kmx_wait_list_first(&c->waiters);

		if (kmx_wait_list_del(&c->waiters, waiter))
			c->mutex = NULL;
		/*
		 * Drop the waiter's reference on its behalf: a moved waiter never touches the
		 * kcond again, unless it is rechecking (it claimed RECHECKING before it took
		 * c->lock, which we hold), and then it drops its own.  The exchange and the
		 * waiter's cmpxchg are RMWs of one word: exactly one of us sees the other.
		 */
		if (kmx_enqueue_moved_waiter(lock, waiter) != KMX_WAITER_RECHECKING)
			put_ref(c);
	} while (c->waiters);
	task = kmx_wake_moved_head(lock);
	kmx_unlock_wait_list(lock);
	return task;
}

/*
 * M:kcond_signal and M:kcond_broadcast.  A signal wakes its waiter (WOKEN), which relocks the
 * mutex itself; a broadcast with a kmutex moves every waiter onto the mutex's wait list, since
 * waking them all would have them all fight for it (the stampede).  With a foreign mutex there
 * is no list to move to: a broadcast wakes them all as WOKEN, and each relocks.
 */
static void wake_waiters(struct kcond *c, bool all)
{
	struct kmutex_task *task = NULL;

	/*
	 * RELAXED: a waiter appends itself before it unlocks the mutex; a signaller that took the
	 * mutex since, or was otherwise ordered after that unlock, sees the node.  One that races
	 * with the wait had no waiter to wake when it started, which POSIX allows.
	 */
	if (!kmx_load(&c->waiters, KMX_RELAXED))
		return;
	kmx_wait_lock(&c->lock);
	if (c->waiters && c->mutex_kind == KCOND__KMUTEX && all) {
		task = move_to_mutex(c, c->mutex);
	} else if (c->waiters) {
		/*
		 * The wakes of all but the last are issued under c->lock, since a woken node may
		 * vanish once we go on; the woken do not need c->lock (their state is WOKEN).
		 */
		task = wake_first(c);
		while (all && c->waiters) {
			if (task)
				kmx_futex_wake(&task->wake, 1);
			task = wake_first(c);
		}
	}
	kmx_wait_unlock(&c->lock);
	if (task)
		kmx_futex_wake(&task->wake, 1);
}

void kcond_signal(struct kcond *c)
{
	wake_waiters(c, false);
}

void kcond_broadcast(struct kcond *c)
{
	wake_waiters(c, true);
}

/* ---- waiting --------------------------------------------------------------------------- */

/* M:kcond_wait (enqueue).  Append the node under c->lock and arm the wake word. */
static void enqueue_on_cond(struct kcond *c, struct kmutex_waiter *waiter, const struct kcond_mutex *m)
{
	void *mutex = m->kmutex ? (void *)m->kmutex : m->foreign;

	kmx_wait_lock(&c->lock);
	if (c->mutex && c->mutex != mutex)
		kcond_misuse("kcond_wait: two mutexes used with one condition variable at once", c);
	c->mutex = mutex;
	c->mutex_kind = m->kmutex ? KCOND__KMUTEX : KCOND__FOREIGN;
	/* RELAXED: c->lock orders it with a signaller's exchange (see wake_first()). */
	kmx_store(&waiter->task->wake, KMX_WAKE_SLEEP, KMX_RELAXED);
	kmx_wait_list_add_tail(&c->waiters, waiter);
	kmx_wait_unlock(&c->lock);
}

/*
 * The futex sleep of a kcond wait: true if a signal handler ran.  The wake word was armed
 * (under c->lock) before we got here: kmutex_interrupt_self() from a handler that ran since
 * then stores UP and the sleep does not start; one that ran before the arming left only its
 * pending flag, which we look at now (the signal fence keeps the load after the arming).
 */
static bool sleep_once(struct kmutex_task *self, int mode, const struct timespec *deadline)
{
	int realtime = mode & KMUTEX__REALTIME;

	kmx_signal_fence();
	if ((mode & KMUTEX__INTERRUPTIBLE) && kmx_interruption_pending())
		return false; /* the recheck consumes it and leaves with -EINTR */

	if (!(mode & KMUTEX__TIMED)) {
		deadline = (mode & KMUTEX__INTERRUPTIBLE) ? &kmx_far_future : NULL;
		realtime = 0;
	}
	return kmx_futex_wait_clock(&self->wake, KMX_WAKE_SLEEP, deadline, realtime) == -EINTR;
}

/*
 * M:kcond_recheck.  After a sleep that found the node still ON_COND (as far as a racy load
 * can tell): under c->lock, where the state is exact.  Returns 1 to sleep again, 0 if the
 * waiter was signalled or moved, or -ETIMEDOUT / -EINTR after leaving the list.
 */
/*
 * M:kcond_claim.  After a sleep: claim the node for a recheck (ON_COND -> RECHECKING), or
 * find it signalled or moved.  A racy look at the state was not enough: a broadcast could
 * move the node and drop its reference between that look and our taking c->lock, and a
 * kcond_destroy() then return while we still touch c->lock (the kcond model found it:
 * verify/kcond.pml, BUG_MOVER_ALWAYS_DROPS_REF).  true: claimed, the reference is ours.
 * ACQUIRE pairs with wake_first()'s / kmx_enqueue_moved_waiter()'s RELEASE on failure.
 */
static bool claim_for_recheck(struct kmutex_waiter *waiter, uint32_t *found)
{
	*found = KMX_WAITER_ON_COND;
	return kmx_try_cmpxchg(&waiter->state, found, KMX_WAITER_RECHECKING, KMX_ACQUIRE);
}

static int recheck_under_lock(struct kcond *c, struct kmutex_waiter *waiter, int mode,
			      const struct timespec *deadline, bool signalled)
{
	int ret = 1;

	kmx_wait_lock(&c->lock);
	if (waiter->state != KMX_WAITER_RECHECKING) {
		ret = 0; /* signalled or moved meanwhile: a wakeup, whatever the clock says */
	} else if (kmx_interrupted(mode, signalled)) {
		ret = -EINTR;
	} else if ((mode & KMUTEX__TIMED) && kmx_deadline_passed(deadline, mode)) {
		ret = -ETIMEDOUT;
	} else {
		/* Spurious: re-arm under the lock, so a signal from now on finds SLEEP. */
		kmx_store(&waiter->task->wake, KMX_WAKE_SLEEP, KMX_RELAXED);
		/* RELAXED: c->lock orders it for signallers and movers, who hold it too. */
		kmx_store(&waiter->state, KMX_WAITER_ON_COND, KMX_RELAXED);
	}
	if (ret < 0 && kmx_wait_list_del(&c->waiters, waiter))
		c->mutex = NULL;
	kmx_wait_unlock(&c->lock);
	return ret;
}

/* What a cancelled waiter's cleanup needs. */
struct cancel_ctx {
	struct kcond *c;
	const struct kcond_mutex *m;
	struct kmutex_waiter *waiter;
};

/*
 * A waiter that gives up before its wakeup (cancelled, or unable to release a foreign
 * mutex): leave the list, or pass on a signal we consumed (POSIX: a cancelled waiter must not
 * take a signal meant for another).
 */
static void leave_cond(struct cancel_ctx *ctx)
{
	uint32_t found;
	bool resignal;

	/* Moved before we claimed it: the mover dropped our reference, keep off the kcond. */
	if (!claim_for_recheck(ctx->waiter, &found) && found == KMX_WAITER_ON_MUTEX)
		return;
	kmx_wait_lock(&ctx->c->lock);
	if (ctx->waiter->state == KMX_WAITER_RECHECKING &&
	    kmx_wait_list_del(&ctx->c->waiters, ctx->waiter))
		ctx->c->mutex = NULL;
	resignal = ctx->waiter->state == KMX_WAITER_WOKEN;
	kmx_wait_unlock(&ctx->c->lock);
	if (resignal)
		kcond_signal(ctx->c);
	put_ref(ctx->c); /* ours: claimed, or WOKEN (a signal leaves the reference) */
}

/* Cancellation while asleep: leave, and relock the mutex, so the cleanup handlers run with it
 * held, as they expect (a moved waiter relocks as one, mutex_relock() tells). */
static void cancel_cleanup(void *arg)
{
	struct cancel_ctx *ctx = arg;

	kmx_hung_end(ctx->waiter->task);
	leave_cond(ctx);
	mutex_relock(ctx->m, ctx->waiter);
}

/* The sleep, as a cancellation point: asynchronous cancellation for the syscall alone. */
static bool sleep_cancellable(struct cancel_ctx *ctx, int mode, const struct timespec *deadline)
{
	bool signalled;
	int oldtype;

	pthread_cleanup_push(cancel_cleanup, ctx);
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &oldtype);
	signalled = sleep_once(ctx->waiter->task, mode, deadline);
	pthread_setcanceltype(oldtype, NULL);
	pthread_cleanup_pop(0);
	return signalled;
}

/* M:kcond_wait.  The core of every wait; see the header comment.  ip: where the program
 * waits (the public call's return address), for the hung-task watchdog. */
static int wait_common(struct kcond *c, const struct kcond_mutex *m, int mode,
		       const struct timespec *deadline, const void *ip)
{
	struct kmutex_task *self = kmutex__self();
	struct kmutex_waiter waiter = { .task = self, .state = KMX_WAITER_ON_COND };
	struct cancel_ctx ctx = { c, m, &waiter };
	bool own_ref = true;
	int ret;

	if ((mode & KMUTEX__TIMED) && !deadline)
		kcond_misuse("kcond_wait_timeout: NULL deadline", c);
	if (m->kmutex && !kmx_owned_by_self(m->kmutex))
		kmx_misuse("kcond_wait: the mutex is not held by the caller", m->kmutex);
	if ((mode & KMUTEX__TIMED) && (deadline->tv_nsec < 0 || deadline->tv_nsec >= 1000000000L))
		return -EINVAL;

	/* RELAXED: destroy may only run once we are off the list, which c->lock orders. */
	kmx_add_return(&c->refs, 1, KMX_RELAXED);
	enqueue_on_cond(c, &waiter, m);
	kmx_hung_begin(self, KMX_BLOCKED_CONDVAR, c, m->kmutex ? (void *)m->kmutex : m->foreign,
		       &waiter, ip,
		       (uint32_t)mode | (m->kmutex ? KMX_HUNG_WITH_KMUTEX : 0));
	ret = mutex_unlock(m);
	if (kmx_unlikely(ret)) {
		/* A foreign mutex its unlock refused (glibc's EPERM: a robust or error-checking
		 * mutex the caller does not hold): no wait, as glibc's condvar returns the error
		 * at once; the mutex is as it was, so no relock.  Never moved (foreign). */
		kmx_hung_end(self);
		leave_cond(&ctx);
		return -ret;
	}
	for (;;) {
		bool signalled = (mode & KCOND__CANCELLABLE) ? sleep_cancellable(&ctx, mode, deadline)
							      : sleep_once(self, mode, deadline);
		uint32_t found;

		if (!claim_for_recheck(&waiter, &found)) {
			ret = 0;
			own_ref = found != KMX_WAITER_ON_MUTEX; /* moved: the mover dropped it */
			break;
		}
		ret = recheck_under_lock(c, &waiter, mode, deadline, signalled);
		if (ret <= 0)
			break;
	}
	kmx_hung_end(self);
	if (own_ref)
		put_ref(c);
	mutex_relock(m, &waiter);
	return ret;
}

int kcond__wait(struct kcond *c, const struct kcond_mutex *m, int mode,
		const struct timespec *deadline)
{
	return wait_common(c, m, mode, deadline, __builtin_return_address(0));
}

void kcond_wait(struct kcond *c, struct kmutex *m)
{
	const struct kcond_mutex km = { .kmutex = m };

	(void)wait_common(c, &km, 0, NULL, __builtin_return_address(0));
}

int kcond_wait_timeout(struct kcond *c, struct kmutex *m, const struct timespec *deadline)
{
	const struct kcond_mutex km = { .kmutex = m };

	return wait_common(c, &km, KMUTEX__TIMED, deadline, __builtin_return_address(0));
}

int kcond_wait_interruptible(struct kcond *c, struct kmutex *m)
{
	const struct kcond_mutex km = { .kmutex = m };

	return wait_common(c, &km, KMUTEX__INTERRUPTIBLE, NULL, __builtin_return_address(0));
}
