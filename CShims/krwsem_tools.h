/*
 * The lock tools on krwsem (issue 22, item 6): lockdep with read/write semantics (lockdep.h,
 * "reader-writer locks"), lock_stat per mode ("name-R" and "name-W" rows: waits, spins,
 * sleeps, handoffs, timeouts, interrupts, and hold times where every call is seen), and the
 * USDT probes (probes.h, docs/observability.md).  krwsem.c calls these at its protocol's
 * points; they are kept here so that the lock policy reads without them.
 *
 * What runs where, so that the fast paths stay as they are:
 *  - contention events (contention_begin/end probes, the wait statistics) and HANDOFF events
 *    are on the slow paths, in every build: a probe is a nop, the statistics one predictable
 *    branch on a read-mostly flag while off;
 *  - lockdep, acquisition counts and hold times need every lock and unlock call.  The calls
 *    for layered APIs (krwsem__down_*, krwsem__up_*: libkmutex-pthread's rwlocks) follow them
 *    in every build, at the cost of one test of the tools' switches per call (as the drop-in's
 *    mutexes pay, dropin.h lockdep_off()); the public calls follow them in the debug library
 *    (-DKMUTEX_DEBUG, `make debug`), as kmutex routes its calls there, and pay nothing else.
 *
 * Probes (provider kmutex): contention_begin(sem, flags) with the kernel's LCB_F_READ (0x2) or
 * LCB_F_WRITE (0x4), | LCB_F_SPIN (0x1) for a writer that may spin, as the kernel's rwsem fires
 * its lock:contention_begin (so scripts/kmutex-contention sees rwsem waits too); a writer
 * fires it again with WRITE alone when it goes to sleep (a reader's one contention_begin is
 * already where it queues); contention_end(sem, ret); handoff(sem, task)
 * when a waiting head sets HANDOFF; and, where every call is seen and the tools are on,
 * glibc's names: rdlock_acquire_read(sem), wrlock_acquire_write(sem), rwlock_unlock(sem).
 */
#ifndef KRWSEM_TOOLS_H
#define KRWSEM_TOOLS_H

#include "krwsem.h"
#include "lock_stat.h"
#include "lockdep.h"
#include "probes.h"

/* scripts/kmutex-contention.bt reads a lock's class name at offset 32, kmutex's or krwsem's. */
_Static_assert(__builtin_offsetof(struct krwsem, name) == 32 &&
		       __builtin_offsetof(struct kmutex, name) == 32,
	       "the contention script reads the class name at offset 32");

#ifdef KMUTEX_DEBUG
#define KRWSEM_PUBLIC_CALLS_SEEN 1 /* the debug library follows every public call */
#else
#define KRWSEM_PUBLIC_CALLS_SEEN 0
#endif

/*
 * Is lockdep or lock_stat on?  Two relaxed loads of read-mostly words: lockdep's mode (1 is
 * "off"; 0, not read yet, takes the tools path, whose kmx_lockdep_enabled() reads it) and the
 * statistics switch.  A call that races with kmutex_stat_enable() counts or not.
 */
static inline bool krwsem_tools_on(void)
{
	/* RELAXED: see kmx_lockdep_enabled() and kmx_stat_enabled(). */
	return kmx_unlikely(kmx_load(&kmx_lockdep__mode, KMX_RELAXED) != 1) || kmx_stat_enabled();
}

/* ---- contention (slow paths, every build) --------------------------------------------- */

/* flags: KMX_LCB_F_READ or KMX_LCB_F_WRITE, | KMX_LCB_F_SPIN.  The first time a call waits. */
static inline void krwsem_contention_begin(const struct krwsem *sem, unsigned flags,
					   struct kmx_contention *c)
{
	KMX_PROBE2(contention_begin, sem, flags);
	c->cls = NULL;
	c->slept = false;
	if (kmx_stat_enabled())
		kmx_stat_contended_class(sem->name, (flags & KMX_LCB_F_READ) ? KMX_STAT_READ
									 : KMX_STAT_WRITE, c);
}

/*
 * The call queues on the wait list.  A writer, which may have spun, fires contention_begin
 * again with WRITE alone (as kmutex with MUTEX); a reader's only contention_begin is already
 * at this point (readers do not spin), as the kernel's rwsem_down_read_slowpath() fires it.
 */
static inline void krwsem_contention_sleep(const struct krwsem *sem, unsigned flags,
					   struct kmx_contention *c)
{
	if (flags & KMX_LCB_F_WRITE)
		KMX_PROBE2(contention_begin, sem, KMX_LCB_F_WRITE);
	c->slept = true;
}

/* contention_end(sem, ret): 0, -EINTR, -ETIMEDOUT, -EINVAL.  Returns ret.  (kmutex's site.) */
static inline int krwsem_contention_end(const struct krwsem *sem, struct kmx_contention *c, int ret)
{
	return kmx_contention_end_event(sem, c, ret);
}

/* The head `task` (a reader if read) set HANDOFF: barging stops until it has the lock. */
static inline void krwsem_handoff_event(const struct krwsem *sem, const void *task, bool read)
{
	KMX_PROBE2(handoff, sem, task);
	if (kmx_stat_enabled())
		kmx_stat_handoff_class(sem->name, read ? KMX_STAT_READ : KMX_STAT_WRITE);
}

/* ---- every call (layered calls; public calls in the debug build), tools on --------------- */

/* Before a lock call that may block: lockdep sees it first, so a deadlock about to happen is
 * reported.  read: a read lock; mode: the call's (interruptible or timed waits may fail). */
static inline void krwsem_lockdep_before(const struct krwsem *sem, bool read, int mode,
					 const void *ip)
{
	/* RELAXED: name is written by init/set_name, which the user orders with every use. */
	const char *name = kmx_load(&sem->name, KMX_RELAXED);

	if (kmx_lockdep_enabled())
		kmx_lockdep_acquire(sem, name, name, 0,
				    (read ? KMX_LD_READ : 0) | (mode ? KMX_LD_WAIT : 0), ip);
}

/* After a lock call: ret 0 took the lock (trylock: lockdep learns of it only now). */
static inline int krwsem_lock_done(struct krwsem *sem, bool read, bool trylock, int ret, const void *ip)
{
	const char *name = kmx_load(&sem->name, KMX_RELAXED); /* RELAXED: as above */

	if (ret) {
		if (!trylock && kmx_lockdep_enabled())
			kmx_lockdep_release(sem); /* the entry pushed before: not held */
		return ret;
	}
	if (trylock && kmx_lockdep_enabled())
		kmx_lockdep_acquire(sem, name, name, 0, KMX_LD_TRYLOCK | (read ? KMX_LD_READ : 0), ip);
	if (read)
		KMX_PROBE1(rdlock_acquire_read, sem);
	else
		KMX_PROBE1(wrlock_acquire_write, sem);
	kmx_stat_acquired_class(sem, name, read ? KMX_STAT_READ : KMX_STAT_WRITE);
	return 0;
}

/* At the start of an unlock (before the lock may be taken by another thread, or freed). */
static inline void krwsem_unlock_event(const struct krwsem *sem)
{
	KMX_PROBE1(rwlock_unlock, sem);
	kmx_stat_released_class(sem);
	if (kmx_lockdep_enabled())
		kmx_lockdep_release(sem);
}

static inline void krwsem_downgrade_event(struct krwsem *sem)
{
	kmx_stat_released_class(sem);
	kmx_stat_acquired_class(sem, kmx_load(&sem->name, KMX_RELAXED), KMX_STAT_READ);
	if (kmx_lockdep_enabled())
		kmx_lockdep_downgrade(sem);
}

/* init and destroy: an unnamed krwsem's lockdep class (keyed by its address) is retired. */
static inline void krwsem_forget_event(const struct krwsem *sem)
{
	if (kmx_lockdep_enabled())
		kmx_lockdep_forget(sem);
}

#endif /* KRWSEM_TOOLS_H */
