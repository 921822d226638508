/*
 * libkmutex-pthread: pthread mutexes, condition variables and C11 mtx/cnd on kmutex, for
 * unmodified programs (LD_PRELOAD=libkmutex-pthread.so, or linked before libc).
 *
 * In place.  The kmutex lives inside the caller's pthread_mutex_t and the kcond inside its
 * pthread_cond_t: no side table, no allocation, no lookup.  All zeros is a valid unlocked
 * kmutex and a valid kcond, so PTHREAD_MUTEX_INITIALIZER and PTHREAD_COND_INITIALIZER need
 * no first-use step.  The mutex type sits in the low byte of kmutex.options, at the offset of
 * glibc's __kind, where glibc's static initializers write it (1 RECURSIVE, 2 ERRORCHECK,
 * 3 ADAPTIVE); so a statically initialized mutex is recognised on every use by the same load
 * that picks the fast path, and a RECURSIVE mutex keeps its count in kmutex.depth.
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
 * lazily, with dlvsym.  The one constructor registers the fork handlers.
 *
 * fork().  The child has one thread, but the mutexes it inherits may name threads that did
 * not come along: waiters on a wait list, spinners in the OSQ, a waiter a lock was handed to,
 * a wait_lock held mid-operation, kcond waiters.  glibc's mutex has no such state besides the
 * owner, so a child can unlock a mutex its forking thread held and use it again.  To match
 * that, while the child still has only its first thread, a slow path that finds state left
 * by the vanished threads clears it (fork_repair_*): an unlock by the owner releases
 * outright, a lock of a mutex nobody owns (or handed to a vanished waiter) starts from a
 * clean word.  A mutex owned by a vanished thread stays locked, as in glibc.  The first time
 * another thread reaches a slow path the child stops being alone and this ends.
 *
 * Lockdep (KMUTEX_LOCKDEP=1 or =abort; CShims/lockdep.h).  Every mutex that runs on kmutex
 * (not the forwarded ones) is validated: lock, timedlock and the relock of a condvar wait are
 * blocking acquisitions, trylock is pushed without an edge, a RECURSIVE mutex counts only its
 * outermost level, and a condvar wait takes its mutex off the thread's held stack while it
 * sleeps.  With lockdep off, the fast paths pay one relaxed load and one predictable branch
 * (lockdep_off()); with it on, every call takes the slow path.  Classes: see ld_class().
 */
#include "kmutex.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include "atomic.h"
#include "debug.h"
#include "kmutex_int.h"
#include "lock_class.h"
#include "lock_stat.h"
#include "lockdep.h"
#include "owner.h"

/*
 * lockdep.c is linked into this library: bind the mode word locally, so the fast paths read
 * it directly instead of through the GOT (it is not interposable here; nothing outside the
 * library reads it).
 */
extern int kmx_lockdep__mode __attribute__((visibility("hidden")));

_Static_assert(sizeof(struct kmutex) <= sizeof(pthread_mutex_t), "a kmutex must fit in pthread_mutex_t");
_Static_assert(offsetof(struct kmutex, options) == offsetof(pthread_mutex_t, __data.__kind),
	       "the type byte must be where glibc's static initializers write __kind");
_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t in glibc");
_Static_assert(sizeof(struct kcond) <= 32 && sizeof(pthread_cond_t) >= 40,
	       "a kcond must leave glibc's __wrefs (offset 36) untouched");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t in glibc");

/*
 * glibc's exported aliases: reachable without dlsym, so forwarding works before constructors.
 * glibc 2.34 made them compat symbols (__pthread_mutex_lock@GLIBC_2.2.5, no default version),
 * which a link cannot bind by name: .symver asks for that version explicitly.
 */
#define GLIBC_ALIAS(ret, local, name, params)                                   \
	extern ret local params;                                                \
	__asm__(".symver " #local "," #name "@GLIBC_2.2.5")
GLIBC_ALIAS(int, glibc_mutex_init, __pthread_mutex_init, (pthread_mutex_t *, const pthread_mutexattr_t *));
GLIBC_ALIAS(int, glibc_mutex_destroy, __pthread_mutex_destroy, (pthread_mutex_t *));
GLIBC_ALIAS(int, glibc_mutex_lock, __pthread_mutex_lock, (pthread_mutex_t *));
GLIBC_ALIAS(int, glibc_mutex_trylock, __pthread_mutex_trylock, (pthread_mutex_t *));
GLIBC_ALIAS(int, glibc_mutex_unlock, __pthread_mutex_unlock, (pthread_mutex_t *));

/* ---- what a pthread_mutex_t holds ---------------------------------------------------- */

#define GLIBC_KIND_BITS 0x00f0u /* glibc's robust 0x10, PI 0x20, PP 0x40, pshared 0x80 */
#define COND_GLIBC_PSHARED 0x1u /* bit 0 of glibc's __wrefs: a process-shared condvar */
#define COND_WREFS_OFFSET  36
#define KCOND_MONOTONIC    0x1u /* kcond.attr: timedwait deadlines are on CLOCK_MONOTONIC */

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

static enum mutex_class classify(uint16_t options)
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

static bool valid_clock(clockid_t clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_MONOTONIC;
}

static bool valid_timespec(const struct timespec *ts)
{
	return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

/* ---- glibc's functions without an exported alias: looked up on first use --------------- */

/*
 * dlvsym, not dlsym: glibc keeps several versions of the condvar calls (2.2.5's old layout),
 * and we want the one a program built today binds.  RTLD_NEXT finds libc's whether we were
 * preloaded or linked.  A racing first use looks up the same value twice: harmless.
 */
static void *glibc_symbol(void **slot, const char *name, const char *version)
{
	/* RELAXED: the pointer names code in libc; nothing else is published with it. */
	void *fn = kmx_load(slot, KMX_RELAXED);

	if (kmx_unlikely(!fn)) {
		fn = dlvsym(RTLD_NEXT, name, version);
		if (!fn)
			kmx_fatal("libkmutex-pthread: cannot find glibc's function for a forwarded mutex or condvar");
		kmx_store(slot, fn, KMX_RELAXED);
	}
	return fn;
}

#define GLIBC_FN(type, name, version) \
	({ static void *slot_; (type)glibc_symbol(&slot_, #name, version); })

typedef int (*timedlock_fn)(pthread_mutex_t *, const struct timespec *);
typedef int (*clocklock_fn)(pthread_mutex_t *, clockid_t, const struct timespec *);
typedef int (*cond_init_fn)(pthread_cond_t *, const pthread_condattr_t *);
typedef int (*cond_fn)(pthread_cond_t *);
typedef int (*cond_wait_fn)(pthread_cond_t *, pthread_mutex_t *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
typedef int (*cond_clockwait_fn)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);

/* ---- fork: state left by threads that did not come along -------------------------------- */

static uint32_t fork_alone;              /* the child of a fork has one thread so far; atomic */
static struct kmutex_task *fork_thread;  /* that thread's descriptor; written before fork_alone */

/* Prepare: make sure the forking thread has a descriptor, so the child knows who it is. */
static void fork_prepare(void)
{
	(void)kmutex__self();
}

static void fork_child(void)
{
	fork_thread = kmutex__current;
	/* RELAXED: the child has one thread; whoever joins later reads it after being created. */
	kmx_store(&fork_alone, 1, KMX_RELAXED);
}

/*
 * Registered after the core's own fork handlers (kmutex__self() creates a descriptor first,
 * which registers them): prepare handlers run in reverse order, so ours runs before the core
 * takes its descriptor pool lock, and may still create a descriptor.
 */
__attribute__((constructor)) static void register_fork_handlers(void)
{
	(void)kmutex__self();
	if (pthread_atfork(fork_prepare, NULL, fork_child) != 0)
		kmx_fatal("libkmutex-pthread: cannot register the fork handlers");
}

/* True while the child of a fork has only the thread that forked; ends when another shows. */
static bool child_alone(void)
{
	/* RELAXED: see fork_child(). */
	if (kmx_likely(!kmx_load(&fork_alone, KMX_RELAXED)))
		return false;
	if (kmutex__self() == fork_thread)
		return true;
	kmx_store(&fork_alone, 0, KMX_RELAXED);
	return false;
}

/* Alone in the child: no other thread can be touching the mutex, so plain stores do. */
static void reset_mutex_state(struct kmutex *lock)
{
	kmx_store(&lock->wait_list, NULL, KMX_RELAXED);
	kmx_store(&lock->wait_lock, 0, KMX_RELAXED);
	kmx_store(&lock->osq_tail, 0, KMX_RELAXED);
	/* RELEASE: pairs with the ACQUIRE of a later lock; with one thread, only for form. */
	kmx_store(&lock->owner, 0, KMX_RELEASE);
}

/* Before a lock's slow path: a mutex nobody owns, or handed to a vanished waiter, is free. */
static void fork_repair_lock(struct kmutex *lock)
{
	uintptr_t owner;

	if (kmx_likely(!child_alone()))
		return;
	owner = kmx_load(&lock->owner, KMX_RELAXED); /* alone: nothing changes it under us */
	if (kmx_owner_task(owner) && !(owner & KMX_FLAG_PICKUP))
		return; /* owned by us (the core reports recursion) or by a vanished thread */
	reset_mutex_state(lock);
}

/* Before an unlock's slow path: true if the owner released a mutex that had stale waiters. */
static bool fork_repair_unlock(struct kmutex *lock)
{
	uintptr_t owner;

	if (kmx_likely(!child_alone()))
		return false;
	owner = kmx_load(&lock->owner, KMX_RELAXED);
	if (kmx_owner_task(owner) != kmutex__self() || (owner & KMX_FLAG_PICKUP))
		return false; /* not ours: the core's misuse check reports it */
	reset_mutex_state(lock);
	return true;
}

/* A kcond's waiters in the child are all vanished threads: forget them. */
static void fork_repair_cond(struct kcond *c)
{
	if (kmx_likely(!child_alone()))
		return;
	c->waiters = NULL;
	c->mutex = NULL;
	c->mutex_kind = 0;
	c->refs = 0;
	c->lock = 0;
}

/* ---- lockdep ---------------------------------------------------------------------------- */

/*
 * The fast paths' only test for lockdep: one relaxed load and one compare.  Only "off" (1,
 * see lockdep.h) stays on the fast path; "not read yet" (0, before lockdep.c's constructor)
 * and "on" take the slow path, whose kmx_lockdep_enabled() reads the mode if need be.
 */
static inline bool lockdep_off(void)
{
	/* RELAXED: as kmx_lockdep_enabled(): written once, with the same value by every
	 * thread that reads the environment; it orders nothing. */
	return kmx_likely(kmx_load(&kmx_lockdep__mode, KMX_RELAXED) == 1);
}

/* "function+0xoff [object]" for the code address ip, into buf (no allocation). */
static void ld_symbolize(char *buf, size_t size, const void *ip)
{
	Dl_info info;
	const char *obj;

	if (!dladdr(ip, &info) || !info.dli_fname) {
		snprintf(buf, size, "%p", ip);
		return;
	}
	obj = strrchr(info.dli_fname, '/');
	obj = obj ? obj + 1 : info.dli_fname;
	if (info.dli_sname)
		snprintf(buf, size, "%s+0x%lx [%s]", info.dli_sname,
			 (unsigned long)((const char *)ip - (const char *)info.dli_saddr), obj);
	else
		snprintf(buf, size, "%s+0x%lx", obj,
			 (unsigned long)((const char *)ip - (const char *)info.dli_fbase));
}

/*
 * The lock class of a pthread mutex: the mutex itself, one incarnation of it.  The key is an
 * interned "mutex 0x... #n first locked at main+0x2a [prog]", made on the first lock with
 * lockdep on (n counts incarnations) and kept in kmutex.name, which every initializer zeroes
 * (PTHREAD_MUTEX_INITIALIZER, pthread_mutex_init, mtx_init, a C++ constructor).  So:
 *  - no two mutexes share a class.  The kernel shares one per mutex_init() call site and
 *    asks for kmutex_lock_nested() where two of a class nest; an unmodified program cannot
 *    annotate, and a per-site class would turn every parent/child or hand-over-hand nesting,
 *    and every mutex behind a lock or init wrapper, into "recursive locking".  The price: an
 *    inversion is found between the same two mutexes, not between any two of a kind.
 *  - memory reused for a new mutex (freed without pthread_mutex_destroy, as libstdc++'s
 *    std::mutex is, or destroyed and initialized again) is a new class, so the old mutex's
 *    edges cannot make a false cycle with the new one's, even when one wrapper locks both.
 *  - each incarnation that is locked costs lockdep a class (a node) for good: a program
 *    that locks more than lockdep.c's MAX_NODES (8192) mutexes in its life makes lockdep say
 *    "too many lock classes" and turn itself off (it never reports falsely for it).
 * The string is made with dladdr and snprintf into a stack buffer and interned in mmap'd
 * memory under a wait_lock (lock_class.c): no malloc, no pthread mutex, inside the lock.
 */
static uint32_t ld_incarnations; /* mutexes named so far; atomic */

static const char *ld_class(struct kmutex *lock, const void *ip)
{
	/* ACQUIRE pairs with the RELEASE cmpxchg below: the interned string is readable. */
	const char *name = kmx_load(&lock->name, KMX_ACQUIRE), *mine;
	char site[160], buf[224];

	if (kmx_likely(name != NULL))
		return name;
	ld_symbolize(site, sizeof(site), ip);
	/* RELAXED: only a distinct number is needed; it orders nothing. */
	snprintf(buf, sizeof(buf), "mutex %p #%u first locked at %s", (void *)lock,
		 kmx_add_return(&ld_incarnations, 1, KMX_RELAXED), site);
	mine = kmx_class_intern(buf);
	/* RELEASE publishes the string.  Two first lockers agree on the winner's class; the
	 * loser's failed compare is a relaxed load, so it reloads with ACQUIRE (as above). */
	if (kmx_try_cmpxchg(&lock->name, &name, mine, KMX_RELEASE))
		return mine;
	return kmx_load(&lock->name, KMX_ACQUIRE);
}

/* The calling thread is about to take lock (flags: KMX_LD_*), or has, for a trylock. */
static void ld_acquire(struct kmutex *lock, unsigned flags, const void *ip)
{
	const char *class;

	if (kmx_likely(!kmx_lockdep_enabled()))
		return;
	class = ld_class(lock, ip);
	kmx_lockdep_acquire(lock, class, class, 0, flags, ip);
}

static void ld_release(struct kmutex *lock)
{
	if (kmx_unlikely(kmx_lockdep_enabled()))
		kmx_lockdep_release(lock);
}

/* ERRORCHECK, locked again by its owner: EDEADLK, but lockdep reports the AA first. */
static void ld_check_relock(struct kmutex *lock, int mode, const void *ip)
{
	if (kmx_likely(!kmx_lockdep_enabled()))
		return;
	ld_acquire(lock, mode ? KMX_LD_WAIT : 0, ip);
	kmx_lockdep_release(lock); /* the entry just pushed: the lock stays held once */
}

/* ---- lock_stat (KMUTEX_STAT): every acquisition is seen here -------------------------------- */

/*
 * With statistics on, a mutex is named after the code that first locks it ("first locked at
 * main+0x2a [prog]"), interned, so all mutexes first locked at one place share a row of the
 * report, as the kernel's classes share a mutex_init() site.  With lockdep on too, lockdep's
 * per-mutex class (ld_class()) names it instead: one name field serves both.
 */
static void st_name(struct kmutex *lock, const void *ip)
{
	const char *none = NULL;
	char site[160], buf[200];

	if (kmx_likely(!kmx_stat_enabled()) || kmx_load(&lock->name, KMX_RELAXED))
		return;
	if (kmx_lockdep_enabled()) {
		(void)ld_class(lock, ip);
		return;
	}
	ld_symbolize(site, sizeof(site), ip);
	snprintf(buf, sizeof(buf), "first locked at %s", site);
	/* RELEASE publishes the interned string, as in ld_class(); a loser keeps the winner's. */
	(void)kmx_try_cmpxchg(&lock->name, &none, kmx_class_intern(buf), KMX_RELEASE);
}

/* After an acquisition: counted, named if it is the mutex's first with statistics on. */
static void st_acquired(struct kmutex *lock, const void *ip)
{
	if (kmx_likely(!kmx_stat_enabled()))
		return;
	st_name(lock, ip);
	kmx_stat_acquired(lock);
}

/* At the start of a release: the hold time. */
static void st_released(struct kmutex *lock)
{
	if (kmx_unlikely(kmx_stat_enabled()))
		kmx_stat_released(lock);
}

/* Neither lockdep nor statistics: the inline fast paths need not tell anyone. */
static inline bool unobserved(void)
{
	return lockdep_off() && !kmx_stat_enabled();
}

/* ---- mutexes ----------------------------------------------------------------------------- */

static bool wants_glibc(const pthread_mutexattr_t *attr)
{
	int pshared = PTHREAD_PROCESS_PRIVATE, robust = PTHREAD_MUTEX_STALLED, protocol = PTHREAD_PRIO_NONE;

	if (!attr)
		return false;
	(void)pthread_mutexattr_getpshared(attr, &pshared);
	(void)pthread_mutexattr_getrobust(attr, &robust);
	(void)pthread_mutexattr_getprotocol(attr, &protocol);
	return pshared != PTHREAD_PROCESS_PRIVATE || robust != PTHREAD_MUTEX_STALLED ||
	       protocol != PTHREAD_PRIO_NONE;
}

static int mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
{
	int type = PTHREAD_MUTEX_NORMAL;

	if (wants_glibc(attr))
		return glibc_mutex_init(mutex, attr);
	if (attr && pthread_mutexattr_gettype(attr, &type) != 0)
		return EINVAL;
	if (type < PTHREAD_MUTEX_NORMAL || type > PTHREAD_MUTEX_ADAPTIVE_NP)
		return EINVAL;
	memset(mutex, 0, sizeof(*mutex));
	(kmutex_init)(as_kmutex(mutex)); /* the function: unnamed, so lockdep keys the mutex itself */
	as_kmutex(mutex)->options = (uint16_t)type;
	return 0;
}

/* RECURSIVE, by its owner: one more level, in depth (only the owner touches it). */
static int recurse(struct kmutex *lock)
{
	if (lock->depth == UINT32_MAX)
		return EAGAIN;
	lock->depth++;
	return 0;
}

static int glibc_timed(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime,
		       bool clocklock)
{
	if (clocklock)
		return GLIBC_FN(clocklock_fn, pthread_mutex_clocklock, "GLIBC_2.30")(mutex, clockid, abstime);
	return GLIBC_FN(timedlock_fn, pthread_mutex_timedlock, "GLIBC_2.2.5")(mutex, abstime);
}

/*
 * Every lock whose inline fast path did not apply or failed.  mode is 0 or KMUTEX__TIMED
 * (+REALTIME); clocklock says which glibc call a forwarded timed lock goes to.
 */
static int lock_slow(pthread_mutex_t *mutex, int mode, clockid_t clockid,
		     const struct timespec *abstime, bool clocklock, const void *ip)
{
	struct kmutex *lock = as_kmutex(mutex);
	int ret;

	switch (classify(mutex_options(lock))) {
	case MC_GLIBC:
		return mode ? glibc_timed(mutex, clockid, abstime, clocklock) : glibc_mutex_lock(mutex);
	case MC_DESTROYED:
	case MC_INVALID:
		return EINVAL;
	case MC_ERRORCHECK:
		if (kmx_owned_by_self(lock)) {
			ld_check_relock(lock, mode, ip);
			return EDEADLK;
		}
		break;
	case MC_RECURSIVE:
		if (kmx_owned_by_self(lock))
			return recurse(lock); /* not an acquisition for lockdep */
		break;
	case MC_PLAIN:
		break; /* recursion is misuse: the core reports it (lockdep first, if on) */
	}
	fork_repair_lock(lock);
	st_name(lock, ip); /* before the slow path, which counts contentions by name */
	/* Before blocking, as the kernel's mutex_acquire(): a deadlock about to happen is
	 * reported; a lock that fails (timeout, EINVAL) is not held. */
	ld_acquire(lock, mode ? KMX_LD_WAIT : 0, ip);
	ret = -kmutex__lock_slow(lock, mode, abstime);
	if (ret)
		ld_release(lock);
	else
		st_acquired(lock, ip);
	return ret;
}

/* Only with lockdep and statistics off: else every acquisition goes through lock_slow(). */
static inline bool lock_fast(struct kmutex *lock)
{
	return kmx_likely(plain_options(mutex_options(lock))) && unobserved() &&
	       kmx_likely(kmutex__acquire_fast(lock));
}

/* ip: the caller's return address (the public entry point's), for lockdep. */
static int mutex_lock(pthread_mutex_t *mutex, const void *ip)
{
	if (lock_fast(as_kmutex(mutex)))
		return 0;
	return lock_slow(mutex, 0, CLOCK_REALTIME, NULL, false, ip);
}

static int mutex_timedlock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime,
			   bool clocklock, const void *ip)
{
	struct kmutex *lock = as_kmutex(mutex);
	int mode = KMUTEX__TIMED | (clockid == CLOCK_REALTIME ? KMUTEX__REALTIME : 0);

	if (!valid_clock(clockid))
		return EINVAL;
	if (lock_fast(lock))
		return 0;
	return lock_slow(mutex, mode, clockid, abstime, clocklock, ip);
}

static int mutex_trylock(pthread_mutex_t *mutex, const void *ip)
{
	struct kmutex *lock = as_kmutex(mutex);

	if (kmx_likely(plain_options(mutex_options(lock))) && kmx_likely(kmutex__acquire_fast(lock))) {
		if (kmx_unlikely(!unobserved())) {
			ld_acquire(lock, KMX_LD_TRYLOCK, ip); /* taken: pushed, no edge */
			st_acquired(lock, ip);
		}
		return 0;
	}
	switch (classify(mutex_options(lock))) {
	case MC_GLIBC:
		return glibc_mutex_trylock(mutex);
	case MC_DESTROYED:
	case MC_INVALID:
		return EINVAL;
	case MC_RECURSIVE:
		if (kmx_owned_by_self(lock))
			return recurse(lock);
		break;
	case MC_ERRORCHECK: /* by the owner: EBUSY, as glibc */
	case MC_PLAIN:
		break;
	}
	fork_repair_lock(lock);
	if (!kmutex__trylock_slow(lock))
		return EBUSY;
	ld_acquire(lock, KMX_LD_TRYLOCK, ip);
	st_acquired(lock, ip);
	return 0;
}

static int mutex_unlock(pthread_mutex_t *mutex)
{
	struct kmutex *lock = as_kmutex(mutex);

	if (kmx_likely(plain_options(mutex_options(lock))) && unobserved() &&
	    kmx_likely(kmutex__release_fast(lock)))
		return 0;
	switch (classify(mutex_options(lock))) {
	case MC_GLIBC:
		return glibc_mutex_unlock(mutex);
	case MC_DESTROYED:
	case MC_INVALID:
		return EINVAL;
	case MC_ERRORCHECK:
		if (!kmx_owned_by_self(lock))
			return EPERM;
		break;
	case MC_RECURSIVE:
		if (!kmx_owned_by_self(lock))
			return EPERM;
		if (lock->depth) {
			lock->depth--;
			return 0;
		}
		break;
	case MC_PLAIN:
		break; /* by a non-owner: misuse, which the core reports (lockdep ignores it) */
	}
	st_released(lock);
	ld_release(lock);
	if (fork_repair_unlock(lock))
		return 0;
	kmutex__unlock_slow(lock);
	return 0;
}

static int mutex_destroy(pthread_mutex_t *mutex)
{
	struct kmutex *lock = as_kmutex(mutex);

	switch (classify(mutex_options(lock))) {
	case MC_GLIBC:
		return glibc_mutex_destroy(mutex);
	case MC_DESTROYED:
	case MC_INVALID:
		return 0; /* as glibc: destroying a destroyed or garbage mutex "succeeds" */
	default:
		break;
	}
	fork_repair_lock(lock);
	/* RELAXED snapshots: a destroy racing with a use is the caller's bug; this catches a
	 * mutex still locked or still being waited for, which POSIX says to report as EBUSY. */
	if (kmx_load(&lock->owner, KMX_RELAXED) || kmx_load(&lock->wait_list, KMX_RELAXED) ||
	    kmx_load(&lock->osq_tail, KMX_RELAXED) || kmx_load(&lock->wait_lock, KMX_RELAXED))
		return EBUSY;
	kmutex_destroy(lock);
	return 0;
}

int pthread_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
{
	return mutex_init(mutex, attr);
}

int pthread_mutex_destroy(pthread_mutex_t *mutex)
{
	return mutex_destroy(mutex);
}

#define CALLER __builtin_return_address(0) /* where the program called us, for lockdep */

int pthread_mutex_lock(pthread_mutex_t *mutex)
{
	return mutex_lock(mutex, CALLER);
}

int pthread_mutex_trylock(pthread_mutex_t *mutex)
{
	return mutex_trylock(mutex, CALLER);
}

int pthread_mutex_timedlock(pthread_mutex_t *mutex, const struct timespec *abstime)
{
	return mutex_timedlock(mutex, CLOCK_REALTIME, abstime, false, CALLER);
}

int pthread_mutex_clocklock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime)
{
	return mutex_timedlock(mutex, clockid, abstime, true, CALLER);
}

int pthread_mutex_unlock(pthread_mutex_t *mutex)
{
	return mutex_unlock(mutex);
}

/* ---- condition variables --------------------------------------------------------------- */

static void foreign_lock(void *mutex)
{
	(void)glibc_mutex_lock(mutex); /* EOWNERDEAD of a robust mutex is not passed on */
}

static void foreign_unlock(void *mutex)
{
	(void)glibc_mutex_unlock(mutex);
}

static int cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr)
{
	int pshared = PTHREAD_PROCESS_PRIVATE;
	clockid_t clockid = CLOCK_REALTIME;

	if (attr) {
		(void)pthread_condattr_getpshared(attr, &pshared);
		(void)pthread_condattr_getclock(attr, &clockid);
	}
	if (pshared != PTHREAD_PROCESS_PRIVATE)
		return GLIBC_FN(cond_init_fn, pthread_cond_init, "GLIBC_2.3.2")(cond, attr);
	memset(cond, 0, sizeof(*cond)); /* bytes 32..47 too: cond_is_glibc() reads offset 36 */
	kcond_init(as_kcond(cond));
	as_kcond(cond)->attr = clockid == CLOCK_MONOTONIC ? KCOND_MONOTONIC : 0;
	return 0;
}

static int cond_destroy(pthread_cond_t *cond)
{
	struct kcond *c = as_kcond(cond);

	if (cond_is_glibc(cond))
		return GLIBC_FN(cond_fn, pthread_cond_destroy, "GLIBC_2.3.2")(cond);
	fork_repair_cond(c);
	/* RELAXED snapshot: a thread blocked on the condvar is on the list; POSIX allows EBUSY. */
	if (kmx_load(&c->waiters, KMX_RELAXED))
		return EBUSY;
	kcond_destroy(c);
	return 0;
}

static int cond_signal(pthread_cond_t *cond, bool all)
{
	if (cond_is_glibc(cond))
		return all ? GLIBC_FN(cond_fn, pthread_cond_broadcast, "GLIBC_2.3.2")(cond)
			   : GLIBC_FN(cond_fn, pthread_cond_signal, "GLIBC_2.3.2")(cond);
	fork_repair_cond(as_kcond(cond));
	if (all)
		kcond_broadcast(as_kcond(cond));
	else
		kcond_signal(as_kcond(cond));
	return 0;
}

/* A process-shared condvar: glibc's, which must be used with a glibc mutex. */
static int glibc_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int how, clockid_t clockid,
			   const struct timespec *abstime)
{
	if (classify(mutex_options(as_kmutex(mutex))) != MC_GLIBC)
		return EINVAL; /* glibc's condvar would unlock a kmutex as if it were its own */
	switch (how) {
	case 0:
		return GLIBC_FN(cond_wait_fn, pthread_cond_wait, "GLIBC_2.3.2")(cond, mutex);
	case 1:
		return GLIBC_FN(cond_timedwait_fn, pthread_cond_timedwait, "GLIBC_2.3.2")(cond, mutex, abstime);
	default:
		return GLIBC_FN(cond_clockwait_fn, pthread_cond_clockwait, "GLIBC_2.30")(cond, mutex, clockid,
											   abstime);
	}
}

/* A cancelled RECURSIVE waiter: kcond's cleanup relocked the mutex; give back its levels. */
struct depth_restore {
	struct kmutex *lock;
	uint32_t depth;
};

static void restore_depth(void *arg)
{
	struct depth_restore *saved = arg;

	saved->lock->depth = saved->depth;
}

/* A RECURSIVE mutex is released fully for the wait (depth saved) and retaken at its depth. */
static int wait_recursive(struct kcond *c, struct kmutex *lock, int mode, const struct timespec *abstime)
{
	const struct kcond_mutex km = { .kmutex = lock };
	struct depth_restore saved = { lock, lock->depth };
	int ret;

	lock->depth = 0;
	pthread_cleanup_push(restore_depth, &saved);
	ret = kcond__wait(c, &km, mode, abstime);
	pthread_cleanup_pop(1);
	return ret;
}

/* A kmutex-backed mutex for a condvar wait: RECURSIVE at its depth, or any other. */
static int wait_kmutex(struct kcond *c, struct kmutex *lock, bool recursive, int mode,
		       const struct timespec *abstime)
{
	if (recursive)
		return wait_recursive(c, lock, mode, abstime);
	return kcond__wait(c, &(const struct kcond_mutex){ .kmutex = lock }, mode, abstime);
}

struct ld_relock {
	struct kmutex *lock;
	const void *ip;
};

/* The wait retook the mutex (returning, or cancelled: kcond relocks before cleanups run). */
static void ld_relocked(void *arg)
{
	struct ld_relock *r = arg;

	ld_acquire(r->lock, 0, r->ip);
}

/*
 * With lockdep on, the held stack follows the mutex: off it while the thread sleeps (so the
 * locks it takes meanwhile, none, or a signal handler's, are not "nested" in it), and back
 * with the relock, a blocking acquisition checked against the locks still held below it.
 */
static int wait_tracked(struct kcond *c, struct kmutex *lock, bool recursive, int mode,
			const struct timespec *abstime, const void *ip)
{
	struct ld_relock relock = { lock, ip };
	int ret;

	st_released(lock); /* the wait releases the mutex; the hold ends here */
	if (kmx_likely(!kmx_lockdep_enabled())) {
		ret = wait_kmutex(c, lock, recursive, mode, abstime);
		st_acquired(lock, ip);
		return ret;
	}
	kmx_lockdep_release(lock);
	pthread_cleanup_push(ld_relocked, &relock);
	ret = wait_kmutex(c, lock, recursive, mode, abstime);
	pthread_cleanup_pop(1);
	st_acquired(lock, ip);
	return ret;
}

/* how: 0 wait, 1 timedwait (the condvar's clock), 2 clockwait (clockid). */
static int cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int how, clockid_t clockid,
		     const struct timespec *abstime, const void *ip)
{
	struct kcond *c = as_kcond(cond);
	struct kmutex *lock = as_kmutex(mutex);
	enum mutex_class class = classify(mutex_options(lock));
	int mode = KCOND__CANCELLABLE;

	if (cond_is_glibc(cond))
		return glibc_cond_wait(cond, mutex, how, clockid, abstime);
	if (how == 1)
		clockid = (c->attr & KCOND_MONOTONIC) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
	if (how) {
		if (!valid_clock(clockid) || !valid_timespec(abstime))
			return EINVAL;
		mode |= KMUTEX__TIMED | (clockid == CLOCK_REALTIME ? KMUTEX__REALTIME : 0);
	}
	if (class == MC_DESTROYED || class == MC_INVALID)
		return EINVAL;
	if ((class == MC_ERRORCHECK || class == MC_RECURSIVE) && !kmx_owned_by_self(lock))
		return EPERM;
	fork_repair_cond(c);
	if (class == MC_GLIBC) {
		const struct kcond_mutex km = { .foreign = mutex, .foreign_lock = foreign_lock,
						.foreign_unlock = foreign_unlock };

		return -kcond__wait(c, &km, mode, abstime);
	}
	return -wait_tracked(c, lock, class == MC_RECURSIVE, mode, abstime, ip);
}

int pthread_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr)
{
	return cond_init(cond, attr);
}

int pthread_cond_destroy(pthread_cond_t *cond)
{
	return cond_destroy(cond);
}

int pthread_cond_signal(pthread_cond_t *cond)
{
	return cond_signal(cond, false);
}

int pthread_cond_broadcast(pthread_cond_t *cond)
{
	return cond_signal(cond, true);
}

int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
	return cond_wait(cond, mutex, 0, CLOCK_REALTIME, NULL, CALLER);
}

int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex, const struct timespec *abstime)
{
	return cond_wait(cond, mutex, 1, CLOCK_REALTIME, abstime, CALLER);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clockid,
			   const struct timespec *abstime)
{
	return cond_wait(cond, mutex, 2, clockid, abstime, CALLER);
}

/* ---- C11 threads: glibc's mtx_* and cnd_* call its internal aliases, so they are ours too -- */

static int thrd_code(int err)
{
	switch (err) {
	case 0:
		return thrd_success;
	case EBUSY:
		return thrd_busy;
	case ETIMEDOUT:
		return thrd_timedout;
	case ENOMEM:
		return thrd_nomem;
	default:
		return thrd_error;
	}
}

static pthread_mutex_t *mtx_mutex(mtx_t *mtx)
{
	return (pthread_mutex_t *)(void *)mtx;
}

static pthread_cond_t *cnd_cond(cnd_t *cnd)
{
	return (pthread_cond_t *)(void *)cnd;
}

int mtx_init(mtx_t *mtx, int type)
{
	pthread_mutex_t *mutex = mtx_mutex(mtx);
	int base = type & ~mtx_recursive;

	/* C11 types: mtx_plain or mtx_timed, optionally | mtx_recursive; anything else errs. */
	if (base != mtx_plain && base != mtx_timed)
		return thrd_error;
	memset(mutex, 0, sizeof(*mutex));
	as_kmutex(mutex)->options = (type & mtx_recursive) ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_NORMAL;
	return thrd_success;
}

int mtx_lock(mtx_t *mtx)
{
	return thrd_code(mutex_lock(mtx_mutex(mtx), CALLER));
}

int mtx_trylock(mtx_t *mtx)
{
	return thrd_code(mutex_trylock(mtx_mutex(mtx), CALLER));
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict time_point)
{
	return thrd_code(mutex_timedlock(mtx_mutex(mtx), CLOCK_REALTIME, time_point, false, CALLER));
}

int mtx_unlock(mtx_t *mtx)
{
	return thrd_code(mutex_unlock(mtx_mutex(mtx)));
}

void mtx_destroy(mtx_t *mtx)
{
	(void)mutex_destroy(mtx_mutex(mtx));
}

int cnd_init(cnd_t *cnd)
{
	return thrd_code(cond_init(cnd_cond(cnd), NULL));
}

int cnd_signal(cnd_t *cnd)
{
	return thrd_code(cond_signal(cnd_cond(cnd), false));
}

int cnd_broadcast(cnd_t *cnd)
{
	return thrd_code(cond_signal(cnd_cond(cnd), true));
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx)
{
	return thrd_code(cond_wait(cnd_cond(cnd), mtx_mutex(mtx), 0, CLOCK_REALTIME, NULL, CALLER));
}

int cnd_timedwait(cnd_t *restrict cnd, mtx_t *restrict mtx, const struct timespec *restrict time_point)
{
	/* C11's time point is TIME_UTC: CLOCK_REALTIME, whatever the condvar's clock. */
	return thrd_code(cond_wait(cnd_cond(cnd), mtx_mutex(mtx), 2, CLOCK_REALTIME, time_point, CALLER));
}

void cnd_destroy(cnd_t *cnd)
{
	(void)cond_destroy(cnd_cond(cnd));
}
