/*
 * krwsem's fast paths, shared by krwsem.c and libkmutex-pthread's rwlocks (pthread/rwlock.c):
 * the count word's bits, the per-thread record of held read locks, the owner word's upkeep,
 * and one try of each acquisition and release.  krwsem.c's header comment explains the
 * protocol; every ordering here is the one krwsem.c's own calls use (they call these).
 *
 * Why a header: the drop-in's pthread_rwlock_rdlock/unlock calling krwsem__down_read/up_read
 * cost an extra call level each way, through the PLT (the core's entry points are exported
 * and could be interposed): 1.9x glibc's uncontended rdlock+unlock, against 1.0-1.15x for
 * krwsem's own calls (docs/rwsem-results.md).  With these inline, the drop-in's calls are
 * leaves on their fast paths, as its mutex calls are with kmutex.h's.  Whatever a try here
 * does not handle goes to krwsem.c's slow paths through the hidden krwsem__*_slow entry points
 * below (no PLT), in the state the try left (a read lock's bias added, an owner word cleared).
 *
 * Internal: not installed, not part of the API (krwsem.h is).
 */
#ifndef KRWSEM_FAST_H
#define KRWSEM_FAST_H

#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "krwsem.h"
#include "task.h"

/* ---- the words ------------------------------------------------------------------------- */

#define RWSEM_WRITER_LOCKED    (1ull << 0)
#define RWSEM_FLAG_WAITERS     (1ull << 1)
#define RWSEM_FLAG_HANDOFF     (1ull << 2)
#define RWSEM_FLAG_WOKEN       (1ull << 3) /* krwsem's own: see "the woken head" below */
#define RWSEM_READER_SHIFT     8
#define RWSEM_READER_BIAS      (1ull << RWSEM_READER_SHIFT)
#define RWSEM_READ_FAIL        (1ull << 63) /* the guard: 2^55 readers would carry into it */
#define RWSEM_READER_MASK      (~(RWSEM_READER_BIAS - 1)) /* the guard included */
#define RWSEM_LOCK_MASK        (RWSEM_WRITER_LOCKED | RWSEM_READER_MASK)
#define RWSEM_READ_FAILED_MASK \
	(RWSEM_WRITER_LOCKED | RWSEM_FLAG_WAITERS | RWSEM_FLAG_HANDOFF | RWSEM_READ_FAIL)

#define RWSEM_READER_OWNED     0x1ul /* in owner: a reader's task (descriptors are 64-aligned) */

_Static_assert(_Alignof(struct kmutex_task) > RWSEM_READER_OWNED, "owner flag bit must be free");

/* ---- the per-thread record of held read locks (recursive reads, krwsem.c item 6) ------- */

static inline void note_read_held(struct kmutex_task *self, const struct krwsem *sem)
{
	struct kmx_read_held *held = &self->read_held;

	if (kmx_likely(held->nr < KRWSEM_READ_HELD_SLOTS))
		held->sems[held->nr++] = sem;
	else
		held->untracked++;
}

static inline void forget_read_held(struct kmutex_task *self, const struct krwsem *sem)
{
	struct kmx_read_held *held = &self->read_held;

	if (kmx_likely(held->nr && held->sems[held->nr - 1] == sem)) {
		held->nr--;
		return;
	}
	for (uint32_t i = held->nr; i-- > 0;) {
		if (held->sems[i] == sem) {
			held->sems[i] = held->sems[--held->nr];
			return;
		}
	}
	if (held->untracked)
		held->untracked--;
	/* else: a read lock taken by another thread; its entry stays there (header, item 6). */
}

/* ---- the owner word (a hint, but for the writer's own identity) ------------------------- */

/*
 * A reader got the lock: mark the owner word READER_OWNED, naming this reader, unless it is
 * marked already, and note the hold.  The kernel names the last reader every time; that is a
 * store into the count's cache line for every read lock, which with readers on several CPUs
 * moves the line once more per lock (read-only throughput halved at 2-4 threads, measured), and
 * the name is only a hint.  So the owner word names the first reader since the last writer.
 * RELAXED: a hint for readers (reader_owned()); a writer's stores and ours are ordered by the
 * count's ACQUIRE/RELEASE, since each is made while holding the lock.
 */
static inline void reader_acquired(struct krwsem *sem, struct kmutex_task *self)
{
	if (!(kmx_load(&sem->owner, KMX_RELAXED) & RWSEM_READER_OWNED))
		kmx_store(&sem->owner, (uintptr_t)self | RWSEM_READER_OWNED, KMX_RELAXED);
	note_read_held(self, sem);
}

/* RELAXED: only the writer itself stores its own identity, so its own reads of it are exact. */
static inline void writer_acquired(struct krwsem *sem, struct kmutex_task *self)
{
	kmx_store(&sem->owner, (uintptr_t)self, KMX_RELAXED);
}

/*
 * With waiters, must this unlock wake them (under wait_lock)?  Not while the head is a woken
 * writer on its way (WOKEN): it will try the lock itself before it sleeps again.  Such an
 * unlock touches the krwsem last with its cmpxchg, and the woken head passes wait_lock before
 * its lock call returns, so POSIX's free-after-unlock rule still holds.
 */
static inline bool must_wake(uint64_t count)
{
	return (count & (RWSEM_FLAG_WAITERS | RWSEM_FLAG_WOKEN)) == RWSEM_FLAG_WAITERS;
}

/* ---- the slow paths, for a try that failed (krwsem.c; hidden: no PLT) ------------------- */

#pragma GCC visibility push(hidden)
/* The read fast path's add failed: `count` is the value after it, our bias is in the count.
 * An untimed, uninterruptible wait; ip: the program's call site (hung-task "at:"). */
int krwsem__down_read_slow(struct krwsem *sem, struct kmutex_task *self, uint64_t count,
			   const void *ip);
/* The write fast path's cmpxchg failed: an untimed, uninterruptible wait. */
int krwsem__down_write_slow(struct krwsem *sem, struct kmutex_task *self, const void *ip);
/* krwsem__release_read_plain() returned false on `count` (held: a held read lock's bias). */
void krwsem__release_read_slow(struct krwsem *sem, uint64_t count, bool held);
/* krwsem__release_write_plain() returned false on `count`; the owner word is cleared. */
void krwsem__release_write_slow(struct krwsem *sem, uint64_t count);
#pragma GCC visibility pop

/* ---- one try of each (the fast paths) ---------------------------------------------------- */

/*
 * Readers' fast path (krwsem.c item 1): one fetch_add of READER_BIAS.  True: the lock is held.
 * False: *count is the value after the add, whose bias stays in the count for
 * krwsem__down_read_slow() (read_slow()) to keep or take back.
 */
static inline bool krwsem__read_fast(struct krwsem *sem, struct kmutex_task *self, uint64_t *count)
{
	/* ACQUIRE pairs with the RELEASE of the last writer's unlock (or downgrade). */
	*count = kmx_add_return(&sem->count, RWSEM_READER_BIAS, KMX_ACQUIRE);
	if (kmx_likely(!(*count & RWSEM_READ_FAILED_MASK))) {
		reader_acquired(sem, self);
		return true;
	}
	return false;
}

/*
 * A read trylock's easy case: no writer, no waiters, no HANDOFF, no overflow, and the cmpxchg
 * wins.  Anything else (a recursive read past waiters, EBUSY, EAGAIN, a destroyed krwsem, a
 * lost race) is krwsem__down_read_try()'s to decide.
 */
static inline bool krwsem__read_try_fast(struct krwsem *sem, struct kmutex_task *self)
{
	uint64_t count = kmx_load(&sem->count, KMX_RELAXED); /* a guess: the cmpxchg checks it */

	if (count & (RWSEM_WRITER_LOCKED | RWSEM_FLAG_WAITERS | RWSEM_FLAG_HANDOFF))
		return false;
	if ((count + RWSEM_READER_BIAS) & RWSEM_READ_FAIL)
		return false;
	/* ACQUIRE pairs with the RELEASE of the last writer's unlock. */
	if (!kmx_try_cmpxchg(&sem->count, &count, count + RWSEM_READER_BIAS, KMX_ACQUIRE))
		return false;
	reader_acquired(sem, self);
	return true;
}

/* Writers' fast path (krwsem.c item 2): one cmpxchg 0 -> WRITER_LOCKED. */
static inline bool krwsem__write_fast(struct krwsem *sem, struct kmutex_task *self)
{
	uint64_t unlocked = 0;

	/* ACQUIRE pairs with the RELEASE of the last holder's unlock. */
	if (kmx_likely(kmx_try_cmpxchg(&sem->count, &unlocked, RWSEM_WRITER_LOCKED, KMX_ACQUIRE))) {
		writer_acquired(sem, self);
		return true;
	}
	return false;
}

/*
 * Remove one reader bias with a cmpxchg, if `*count` shows neither misuse (no reader; a
 * writer beside a held read lock) nor that we are the last holder with waiters to wake: true
 * if done.  A cmpxchg rather than the kernel's fetch_add, so that the last holder with waiters
 * is known before it lets go.  False: *count is the value seen (reloaded by a failed cmpxchg),
 * for krwsem__release_read_slow().
 */
static inline bool krwsem__release_read_plain(struct krwsem *sem, uint64_t *count, bool held)
{
	/* A held read lock excludes writers: the writer bit means misuse (or destroy). */
	if (kmx_unlikely(!(*count & RWSEM_READER_MASK) || (held && (*count & RWSEM_WRITER_LOCKED))))
		return false;
	if (must_wake(*count) && (*count & RWSEM_LOCK_MASK) == RWSEM_READER_BIAS)
		return false;
	/* RELEASE: the read section before the next writer's ACQUIRE. */
	return kmx_try_cmpxchg(&sem->count, count, *count - RWSEM_READER_BIAS, KMX_RELEASE);
}

/* up_read of a read lock the caller holds (misuse is found by the slow path). */
static inline void krwsem__up_read_as(struct krwsem *sem, struct kmutex_task *self)
{
	uint64_t count;

	forget_read_held(self, sem);
	count = kmx_load(&sem->count, KMX_RELAXED); /* a guess: the cmpxchg checks it */
	if (kmx_unlikely(!krwsem__release_read_plain(sem, &count, true)))
		krwsem__release_read_slow(sem, count, true);
}

/*
 * Remove the writer bit with a cmpxchg, unless this unlock must wake the waiters: true if
 * done; false with *count the value seen, for krwsem__release_write_slow().
 */
static inline bool krwsem__release_write_plain(struct krwsem *sem, uint64_t *count)
{
	if (must_wake(*count))
		return false;
	/* RELEASE: the write section before the next holder's ACQUIRE. */
	return kmx_try_cmpxchg(&sem->count, count, *count - RWSEM_WRITER_LOCKED, KMX_RELEASE);
}

/*
 * up_write by the write holder (the caller has checked it holds the lock: holds_write());
 * count: a guess at the count word (a RELAXED load), which the cmpxchg checks.
 */
static inline void krwsem__up_write_owned(struct krwsem *sem, uint64_t count)
{
	/* RELAXED: ordered before the next writer's store by the count's RELEASE. */
	kmx_store(&sem->owner, 0, KMX_RELAXED);
	if (kmx_unlikely(!krwsem__release_write_plain(sem, &count)))
		krwsem__release_write_slow(sem, count);
}

#endif /* KRWSEM_FAST_H */
