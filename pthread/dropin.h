/*
 * libkmutex-pthread: pthread mutexes, condition variables and C11 mtx/cnd on kmutex, and
 * pthread rwlocks on krwsem (rwlock.c), for unmodified programs (LD_PRELOAD=libkmutex-pthread.so,
 * or linked before libc).
 *
 * One job per file; this header is what they share:
 *   mutex.c    pthread_mutex_*: the kmutex in place, the types, the forwarded kinds
 *   cond.c     pthread_cond_*: the kcond in place, waits with each kind of mutex
 *   c11.c      mtx_* and cnd_*: the same objects, C11's return codes
 *   forward.c  every call into glibc (versioned aliases, and dlvsym for the rest)
 *   fork.c     the fork handlers, and the repair of state left by threads that did not come along
 *   tools.c    lockdep classes and lock_stat names: the state every object shares
 *   rwlock.c   pthread_rwlock_* and pthread_rwlockattr_*: a krwsem in place (its own layout
 *              and design in its header comment)
 *
 * In place.  The kmutex lives inside the caller's pthread_mutex_t and the kcond inside its
 * pthread_cond_t: no side table, no allocation, no lookup.  All zeros is a valid unlocked
 * kmutex and a valid kcond, so PTHREAD_MUTEX_INITIALIZER and PTHREAD_COND_INITIALIZER need
 * no first-use step.  The mutex type sits in the low byte of kmutex.options, at the offset of
 * glibc's __kind, where glibc's static initializers write it (1 RECURSIVE, 2 ERRORCHECK,
 * 3 ADAPTIVE); so a statically initialized mutex is recognised on every use by the same load
 * that picks the fast path.  kmutex.depth, which the core leaves to us, holds two counts,
 * both changed only by a thread holding the mutex: a RECURSIVE mutex's extra levels (low 24
 * bits), and the condvar waits that have released the mutex and will relock it (top 8 bits),
 * so that destroying a mutex a condvar wait still uses returns EBUSY, as glibc's does (see
 * cond.c: cond_users_enter()).
 *
 * Forwarded to glibc.  kmutex's owner word is a pointer into this process, so a process-shared
 * mutex cannot be a kmutex; nor can a robust, priority-inheritance or priority-protect one,
 * whose semantics live in glibc's layout and the kernel's futex protocols.  Such a mutex is
 * initialized by glibc's own pthread_mutex_init, in glibc's layout; glibc writes its kind bits
 * 0x10 robust, 0x20 PI, 0x40 PP, 0x80 pshared into the same byte, and every later call sees
 * them and calls glibc.  glibc's destroy writes -1 there, so a destroyed glibc mutex goes to
 * glibc too, which returns EINVAL, as it does for any kind byte with those bits (garbage).
 * A process-shared condvar likewise stays glibc's: glibc marks it in bit 0 of its __wrefs
 * word (offset 36; checked on glibc 2.36), and a kcond never writes bytes 32..47 of its
 * pthread_cond_t, which stay zero from the initializer or our init.
 *
 * Safe start-up.  Nothing here needs initializing: the core allocates descriptors with mmap
 * and never calls malloc or a pthread mutex, and glibc's mutex functions for forwarded mutexes
 * are called through the aliases it exports (__pthread_mutex_lock ...), so a lock taken by
 * dlsym, malloc or another library's constructor before ours runs works.  Only calls with no
 * such alias (timedlock/clocklock and the condvar calls of forwarded objects) look glibc up,
 * lazily, with dlvsym.  The one constructor registers the fork handlers (fork.c).
 *
 * Lockdep (KMUTEX_LOCKDEP=1 or =abort; CShims/lockdep.h).  Every mutex that runs on kmutex
 * (not the forwarded ones) is validated: lock, timedlock and the relock of a condvar wait are
 * blocking acquisitions, trylock is pushed without an edge, a RECURSIVE mutex counts only its
 * outermost level, and a condvar wait takes its mutex off the thread's held stack while it
 * sleeps.  With lockdep and statistics off, the fast paths pay two relaxed loads and one
 * predictable branch (unobserved()); with either on, every call takes the slow path.
 * Classes: see tools.c.
 *
 * Everything declared here is internal to the library (hidden): only the pthread_*, mtx_*
 * and cnd_* definitions are exported.
 */
#ifndef KMUTEX_PTHREAD_DROPIN_H
#define KMUTEX_PTHREAD_DROPIN_H

#include "kmutex.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "atomic.h"
#include "kmutex_int.h"
#include "lock_stat.h"
#include "lockdep.h"
#include "owner.h"

#pragma GCC visibility push(hidden)

/*
 * lockdep.c is linked into this library: bind the mode word locally, so the fast paths read
 * it directly instead of through the GOT (it is not interposable here; nothing outside the
 * library reads it).
 */
extern int kmx_lockdep__mode;

#define CALLER __builtin_return_address(0) /* where the program called us, for lockdep */

/* ---- what a pthread_mutex_t and a pthread_cond_t hold ------------------------------------ */

#define GLIBC_KIND_BITS 0x00f0u /* glibc's robust 0x10, PI 0x20, PP 0x40, pshared 0x80 */
#define COND_GLIBC_PSHARED 0x1u /* bit 0 of glibc's __wrefs: a process-shared condvar */
#define COND_WREFS_OFFSET  36
#define KCOND_MONOTONIC    0x1u /* kcond.attr: timedwait deadlines are on CLOCK_MONOTONIC */

#define DEPTH_LEVELS     0x00ffffffu /* kmutex.depth: a RECURSIVE mutex's extra levels */
#define DEPTH_COND_USER  0x01000000u /* kmutex.depth: one condvar wait using the mutex */

enum mutex_class { MC_PLAIN, MC_RECURSIVE, MC_ERRORCHECK, MC_GLIBC, MC_DESTROYED, MC_INVALID };

static inline struct kmutex *as_kmutex(pthread_mutex_t *mutex)
{
	return (struct kmutex *)(void *)mutex;
}

static inline struct kcond *as_kcond(pthread_cond_t *cond)
{
	return (struct kcond *)(void *)cond;
}

static inline uint16_t mutex_options(const struct kmutex *lock)
{
	/* RELAXED: options changes at init and destroy only, which the user orders with uses. */
	return kmx_load(&lock->options, KMX_RELAXED);
}

/* NORMAL and ADAPTIVE, nothing else set: the inline kmutex fast paths apply as they are. */
static inline bool plain_options(uint16_t options)
{
	return options == PTHREAD_MUTEX_NORMAL || options == PTHREAD_MUTEX_ADAPTIVE_NP;
}

static inline enum mutex_class classify(uint16_t options)
{
	if (options & GLIBC_KIND_BITS)
		return MC_GLIBC;
	if (options & KMUTEX__OPT_DESTROYED)
		return MC_DESTROYED;
	if (options & ~KMUTEX__OPT_KNOWN)
		return MC_INVALID;
	switch (options & KMUTEX__TYPE_MASK) {
	case PTHREAD_MUTEX_NORMAL:
	case PTHREAD_MUTEX_ADAPTIVE_NP:
		return MC_PLAIN;
	case PTHREAD_MUTEX_RECURSIVE:
		return MC_RECURSIVE;
	case PTHREAD_MUTEX_ERRORCHECK:
		return MC_ERRORCHECK;
	default:
		return MC_INVALID;
	}
}

static inline bool cond_is_glibc(pthread_cond_t *cond)
{
	/* RELAXED: the pshared bit is written by init only; glibc changes the count bits. */
	return kmx_load((uint32_t *)(void *)((char *)cond + COND_WREFS_OFFSET), KMX_RELAXED) &
	       COND_GLIBC_PSHARED;
}

static inline bool valid_clock(clockid_t clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_MONOTONIC;
}

static inline bool valid_timespec(const struct timespec *ts)
{
	return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

/* ---- the objects, for each other and for C11 (mutex.c, cond.c) --------------------------- */

/* ip: the program's call site (the public entry point's return address), for the tools. */
int pt_mutex_lock(pthread_mutex_t *mutex, const void *ip);
int pt_mutex_trylock(pthread_mutex_t *mutex, const void *ip);
/* clocklock: which glibc call a forwarded mutex goes to (clocklock, or timedlock) */
int pt_mutex_timedlock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime,
		       bool clocklock, const void *ip);
int pt_mutex_unlock(pthread_mutex_t *mutex);
int pt_mutex_destroy(pthread_mutex_t *mutex);

int pt_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr);
int pt_cond_destroy(pthread_cond_t *cond);
int pt_cond_signal(pthread_cond_t *cond, bool all);
/* how: 0 wait, 1 timedwait (the condvar's clock), 2 clockwait (clockid). */
int pt_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int how, clockid_t clockid,
		 const struct timespec *abstime, const void *ip);

/* ---- glibc's own functions, for forwarded objects (forward.c) ---------------------------- */

int glibc_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr);
int glibc_mutex_destroy(pthread_mutex_t *mutex);
int glibc_mutex_lock(pthread_mutex_t *mutex);
int glibc_mutex_trylock(pthread_mutex_t *mutex);
int glibc_mutex_unlock(pthread_mutex_t *mutex);
int glibc_mutex_timedlock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime,
			  bool clocklock);
/* call: 0 lock, 1 timed (CLOCK_REALTIME), 2 clock (clockid), as rwlock.c's enum rw_call. */
int glibc_rwlock_init(pthread_rwlock_t *rwlock, const pthread_rwlockattr_t *attr);
int glibc_rwlock_destroy(pthread_rwlock_t *rwlock);
int glibc_rwlock_rdlock(pthread_rwlock_t *rwlock, int call, clockid_t clockid,
			const struct timespec *abstime);
int glibc_rwlock_wrlock(pthread_rwlock_t *rwlock, int call, clockid_t clockid,
			const struct timespec *abstime);
int glibc_rwlock_tryrdlock(pthread_rwlock_t *rwlock);
int glibc_rwlock_trywrlock(pthread_rwlock_t *rwlock);
int glibc_rwlock_unlock(pthread_rwlock_t *rwlock);
int glibc_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr);
int glibc_cond_destroy(pthread_cond_t *cond);
int glibc_cond_signal(pthread_cond_t *cond, bool all);
int glibc_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int how, clockid_t clockid,
		    const struct timespec *abstime);

/* A condvar wait uses a forwarded mutex: count it in glibc's __nusers, as glibc's does (enter),
 * and stop (leave, after a relock that took the mutex). */
void glibc_mutex_cond_user(pthread_mutex_t *mutex, bool enter);

/* ---- fork: state left by threads that did not come along (fork.c) ------------------------ */

extern uint32_t fork_alone; /* the child of a fork has one thread so far; atomic */

void fork_repair_lock_alone(struct kmutex *lock);
bool fork_repair_unlock_alone(struct kmutex *lock);
void fork_repair_cond_alone(struct kcond *c);

/* RELAXED: see fork.c's fork_child(); outside a fresh child this is the only cost. */
static inline bool fork_maybe_alone(void)
{
	return kmx_unlikely(kmx_load(&fork_alone, KMX_RELAXED));
}

/* Before a lock's slow path: a mutex nobody owns, or handed to a vanished waiter, is free. */
static inline void fork_repair_lock(struct kmutex *lock)
{
	if (fork_maybe_alone())
		fork_repair_lock_alone(lock);
}

/* Before an unlock's slow path: true if the owner released a mutex that had stale waiters. */
static inline bool fork_repair_unlock(struct kmutex *lock)
{
	return fork_maybe_alone() && fork_repair_unlock_alone(lock);
}

/* A kcond's waiters in the child are all vanished threads: forget them. */
static inline void fork_repair_cond(struct kcond *c)
{
	if (fork_maybe_alone())
		fork_repair_cond_alone(c);
}

/* ---- lockdep and lock_stat (tools.c): inline tests, out-of-line work ---------------------- */

/* lock_stat.c is linked in too: its switch is read directly, not through the GOT. */
extern struct kmx_stat_switch kmx_stat_switch;

/*
 * Neither lockdep nor statistics: the inline fast paths need not tell anyone.  The fast
 * paths' only test for the tools: two relaxed loads and one branch.  lockdep stays on the
 * fast path only when "off" (1, see lockdep.h): "not read yet" (0, before lockdep.c's
 * constructor) and "on" take the slow path, whose kmx_lockdep_enabled() reads the mode if
 * need be; statistics are off at 0.
 */
static inline bool unobserved(void)
{
	/* RELAXED: as kmx_lockdep_enabled() and kmx_stat_enabled(): switches that order
	 * nothing (the mode is written once, with the same value by every thread). */
	int lockdep = kmx_load(&kmx_lockdep__mode, KMX_RELAXED);
	int stat = kmx_load(&kmx_stat_switch.on, KMX_RELAXED);

	return kmx_likely(((lockdep ^ 1) | stat) == 0);
}

void tools_lockdep_acquire(struct kmutex *lock, unsigned flags, const void *ip);
void tools_stat_name(struct kmutex *lock, const void *ip);
void tools_stat_acquired(struct kmutex *lock, const void *ip);
void tools_rwlock_name(struct krwsem *sem, const void *ip);

/* The calling thread is about to take lock (flags: KMX_LD_*), or has, for a trylock. */
static inline void ld_acquire(struct kmutex *lock, unsigned flags, const void *ip)
{
	if (kmx_unlikely(kmx_lockdep_enabled()))
		tools_lockdep_acquire(lock, flags, ip);
}

static inline void ld_release(struct kmutex *lock)
{
	if (kmx_unlikely(kmx_lockdep_enabled()))
		kmx_lockdep_release(lock);
}

/* ERRORCHECK, locked again by its owner: EDEADLK, but lockdep reports the AA first. */
static inline void ld_check_relock(struct kmutex *lock, int mode, const void *ip)
{
	if (kmx_likely(!kmx_lockdep_enabled()))
		return;
	tools_lockdep_acquire(lock, mode ? KMX_LD_WAIT : 0, ip);
	kmx_lockdep_release(lock); /* the entry just pushed: the lock stays held once */
}

/* Before a slow path, which counts contentions by name: the mutex named, with statistics on. */
static inline void st_name(struct kmutex *lock, const void *ip)
{
	if (kmx_unlikely(kmx_stat_enabled()) && !kmx_load(&lock->name, KMX_RELAXED))
		tools_stat_name(lock, ip);
}

/* After an acquisition: counted, named if it is the mutex's first with statistics on. */
static inline void st_acquired(struct kmutex *lock, const void *ip)
{
	if (kmx_unlikely(kmx_stat_enabled()))
		tools_stat_acquired(lock, ip);
}

/* At the start of a release: the hold time. */
static inline void st_released(struct kmutex *lock)
{
	if (kmx_unlikely(kmx_stat_enabled()))
		kmx_stat_released(lock);
}

#pragma GCC visibility pop

#endif /* KMUTEX_PTHREAD_DROPIN_H */
