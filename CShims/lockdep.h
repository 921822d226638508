/*
 * lockdep: lock-order validation for kmutex (the debug build) and for layered locks (the
 * pthread drop-in), after the kernel's lockdep (kernel/locking/lockdep.c, and
 * Documentation/locking/lockdep-design.rst for the design this follows; no code is taken).
 *
 * Turned on by the environment, read once, at the first lock operation:
 *   KMUTEX_LOCKDEP=1      validate, report each new problem once on stderr, go on
 *   KMUTEX_LOCKDEP=abort  the same, then abort() after the first report
 *   unset, 0, or empty    off: every call below returns after one relaxed load
 *
 * Model.  A lock belongs to a class: a key pointer (for a kmutex, its name pointer, which
 * DEFINE_KMUTEX, kmutex_set_name's interning and kmutex_init's call site make one per class),
 * or, when there is no name, the lock's own address (each unnamed lock is its own class, as the
 * kernel treats a static lock).  A graph node is a (class, subclass) pair, subclass 0..7.
 * Each thread keeps a stack of the locks it holds (at most KMX_LOCKDEP_MAX_DEPTH).  A blocking
 * acquisition of B while A is on top of the stack adds the edge A->B (and from the trylocks
 * above the last blocking entry, as the kernel's check_prevs_add() walks back over them); a new
 * edge that closes a cycle is reported as a "possible circular locking dependency", a node
 * already held as a "possible recursive locking".  Trylocks are pushed but add no edge and are
 * not checked (they cannot block).  Each held sequence validated once is cached by a hash of it
 * (the kernel's chain key), so the steady state pays two hash lookups and no graph search.
 *
 * Reader-writer locks (krwsem, and pthread rwlocks through the drop-in), after the kernel's
 * recursive-read support (v5.10, Boqun Feng; lockdep-design.rst, "Dependency types and strong
 * dependency paths").  The kernel tells recursive readers (not blocked by a waiting writer)
 * from non-recursive ones (blocked by one), and finds deadlocks as "strong" cycles, which
 * skip any step into a recursive reader followed by a step out of a reader.  A krwsem read is
 * non-recursive in that sense (a reader queues behind a waiting writer, the fairness that
 * bounds the writer's wait), with one exception: a thread that already holds the same krwsem
 * for read is let in at once, whatever waits (krwsem.c, "recursive reads").  That acquisition
 * cannot block at all, so it adds no dependency and is not checked, like a trylock; every
 * other one can block, as a writer or a non-recursive reader, so every edge lockdep adds ends
 * in an "N" (non-recursive) acquisition, every cycle is strong, and the plain cycle search is
 * the kernel's check for these lock kinds.  What this gives:
 *  - a read of a lock the thread holds for read: no report (a recursive read is not AA);
 *  - any other acquisition of a held class (read then write, write then read, write then
 *    write, and read then read of two locks of one class, as the kernel reports for rwsem's
 *    down_read): "possible recursive locking";
 *  - an inversion between two locks in any modes (A read then B write, B write then A read;
 *    read-read ABBA too, which deadlocks once writers queue on both): "circular dependency".
 * Reports print a read acquisition as rlock(X), as the kernel does.  A read lock released by
 * another thread than the one that took it (glibc allows it) is not followed: the taker's
 * stack keeps the entry (the kernel's rwsem has up_read_non_owner() for the same case).
 *
 * Memory is static (no malloc on this path: the pthread drop-in runs inside
 * pthread_mutex_lock); the graph is guarded by an internal wait_lock, never a pthread mutex.
 * When a table fills, lockdep says so once and turns itself off.
 */
#ifndef KMX_LOCKDEP_H
#define KMX_LOCKDEP_H

#include <stdbool.h>
#include <stdint.h>

#include "kmutex.h"

#define KMX_LOCKDEP_MAX_DEPTH     48 /* the kernel's MAX_LOCK_DEPTH */
#define KMX_LOCKDEP_MAX_SUBCLASS  8  /* the kernel's MAX_LOCKDEP_SUBCLASSES */

/* flags of kmx_lockdep_acquire() */
#define KMX_LD_TRYLOCK 0x1u /* acquired without blocking: push, no edge, no check */
#define KMX_LD_WAIT    0x2u /* interruptible or timed: may block, so checked like a lock */
#define KMX_LD_READ    0x4u /* a read (shared) lock of a reader-writer lock (krwsem) */

/* ---- exported interface (also for the pthread drop-in) --------------------------------- */

/* Is lockdep on (KMUTEX_LOCKDEP set)?  One relaxed load after the first call. */
extern int kmx_lockdep__mode; /* 0 not read yet, 1 off, 2 on, 3 on and abort; not API */
int kmx_lockdep__read_mode(void);
static inline bool kmx_lockdep_enabled(void)
{
	/* RELAXED: the mode is written once (by whichever thread reads the environment first,
	 * with the same value each time), and orders nothing else. */
	int mode = __atomic_load_n(&kmx_lockdep__mode, __ATOMIC_RELAXED);

	if (__builtin_expect(mode == 0, 0))
		mode = kmx_lockdep__read_mode();
	return mode >= 2;
}

/*
 * Record that the calling thread takes `lock` (any address that identifies the lock while it
 * is held).  class_key: the class (a pointer equal for all locks of the class), or NULL for
 * "this lock is its own class".  name: for reports (NULL: the lock is shown by its address).
 * ip: the caller's return address, for "at:" in reports (__builtin_return_address(0) of the
 * public entry point).  Call it BEFORE blocking on the lock, so a deadlock that is about to
 * happen is still reported; for a trylock, call it after the trylock succeeded with
 * KMX_LD_TRYLOCK.  If the blocking acquisition then fails (timeout, interruption, error),
 * call kmx_lockdep_release(): the lock is not held.
 */
void kmx_lockdep_acquire(const void *lock, const void *class_key, const char *name,
			 unsigned subclass, unsigned flags, const void *ip);
/* The calling thread no longer holds lock.  A lock it does not hold is ignored here. */
void kmx_lockdep_release(const void *lock);
/* The calling thread's write lock on lock became a read lock (krwsem_downgrade_write()). */
void kmx_lockdep_downgrade(const void *lock);
/*
 * The memory at lock no longer holds that lock (destroyed, or about to be initialized
 * again): its address-keyed class is retired, so a new lock at that address starts afresh.
 */
void kmx_lockdep_forget(const void *lock);

/* Counters for tests and the benchmark. */
struct kmx_lockdep_stats {
	uint64_t reports;     /* problems reported */
	uint32_t nodes;       /* (class, subclass) nodes */
	uint32_t edges;       /* dependencies */
	uint32_t chains;      /* cached chains */
	uint64_t searches;    /* graph searches (cache misses with edges to add) */
};
void kmx_lockdep_get_stats(struct kmx_lockdep_stats *out);

/* ---- the calls kmutex.c makes from its slow entry points (debug build only) ------------ */

#ifdef KMUTEX_DEBUG
static inline void kmx_lockdep_mutex_acquire(const struct kmutex *lock, unsigned subclass,
					     unsigned flags, const void *ip)
{
	/* RELAXED: name is written by init/set_name, which the user orders with every use. */
	const char *name = __atomic_load_n(&lock->name, __ATOMIC_RELAXED);

	if (kmx_lockdep_enabled())
		kmx_lockdep_acquire(lock, name, name, subclass, flags, ip);
}

static inline void kmx_lockdep_mutex_release(const struct kmutex *lock)
{
	if (kmx_lockdep_enabled())
		kmx_lockdep_release(lock);
}

static inline void kmx_lockdep_mutex_forget(const struct kmutex *lock)
{
	if (kmx_lockdep_enabled())
		kmx_lockdep_forget(lock);
}
#else
static inline void kmx_lockdep_mutex_acquire(const struct kmutex *lock, unsigned subclass,
					     unsigned flags, const void *ip)
{
	(void)lock, (void)subclass, (void)flags, (void)ip;
}
static inline void kmx_lockdep_mutex_release(const struct kmutex *lock) { (void)lock; }
static inline void kmx_lockdep_mutex_forget(const struct kmutex *lock) { (void)lock; }
#endif

#endif /* KMX_LOCKDEP_H */
