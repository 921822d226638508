/*
 * pthread_mutex_*: a kmutex in place in the pthread_mutex_t (see dropin.h for the layout).
 * NORMAL and ADAPTIVE take the core's inline fast paths; RECURSIVE counts its levels in
 * kmutex.depth; ERRORCHECK checks the owner; the kinds a kmutex cannot be (process-shared,
 * robust, PI, PP) are initialized by glibc and forwarded to it on every call (forward.c).
 *
 * Misuse of NORMAL/DEFAULT and ADAPTIVE mutexes, glibc's way or the kernel's (KMUTEX_STRICT).
 * POSIX leaves a relock by the owner and an unlock by another thread undefined for these
 * types; glibc's mutex deadlocks on the first and releases on the second, and programs rely
 * on both (a thread parked for good by relocking a mutex it holds, a timed relock used as a
 * sleep that ends in ETIMEDOUT, a mutex used as a binary semaphore).  So by default the
 * drop-in does what glibc does: a relock waits for an unlock by another thread (a timed one
 * until its deadline, then ETIMEDOUT; lockdep, if on, reports it first), and an unlock
 * releases the mutex for whoever holds it (kmutex__unlock_slow_any()).  KMUTEX_STRICT=1 asks for kmutex's own rule instead,
 * the kernel's: a one-line message naming the misuse, then abort().  docs/pthread-dropin.md.
 */
#include <stdlib.h>
#include <string.h>


#include "dropin.h"

/*
 * The layout, per architecture: a kmutex is 40 bytes on LP64; glibc's pthread_mutex_t is 40 on
 * x86-64 and 48 on aarch64 (its last 8 bytes stay zero, from the initializer or our memset),
 * with __kind at offset 16 on both, where PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP and the
 * other static initializers write the type and nothing else.
 */
_Static_assert(sizeof(struct kmutex) <= sizeof(pthread_mutex_t), "a kmutex must fit in pthread_mutex_t");
_Static_assert(offsetof(struct kmutex, options) == offsetof(pthread_mutex_t, __data.__kind),
	       "the type byte must be where glibc's static initializers write __kind");

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

/* KMUTEX_STRICT: 0 not read yet, 1 glibc's behaviour (unset, empty or "0"), 2 abort. */
static int strict_mode;

/* Does misuse of a NORMAL or ADAPTIVE mutex abort?  Read on the first misuse only. */
static bool strict(void)
{
	/* RELAXED: written once, with the same value by every thread that reads the
	 * environment (getenv works before constructors run); it orders nothing. */
	int mode = kmx_load(&strict_mode, KMX_RELAXED);

	if (kmx_unlikely(mode == 0)) {
		const char *env = getenv("KMUTEX_STRICT");

		mode = env && env[0] && strcmp(env, "0") != 0 ? 2 : 1;
		kmx_store(&strict_mode, mode, KMX_RELAXED);
	}
	return mode == 2;
}

/* RECURSIVE, by its owner: one more level, in depth (only the owner touches it). */
static int recurse(struct kmutex *lock)
{
	if ((lock->depth & DEPTH_LEVELS) == DEPTH_LEVELS)
		return EAGAIN;
	lock->depth++;
	return 0;
}

/*
 * Every lock whose inline fast path did not apply or failed.  mode is 0 or KMUTEX__TIMED
 * (+REALTIME); clocklock says which glibc call a forwarded timed lock goes to.
 */
static __attribute__((noinline)) int lock_slow(pthread_mutex_t *mutex, int mode, clockid_t clockid,
		     const struct timespec *abstime, bool clocklock, const void *ip)
{
	struct kmutex *lock = as_kmutex(mutex);
	int ret, relock = 0;

	switch (classify(mutex_options(lock))) {
	case MC_GLIBC:
		return mode ? glibc_mutex_timedlock(mutex, clockid, abstime, clocklock) : glibc_mutex_lock(mutex);
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
		/*
		 * Relocked by its owner: glibc's lock waits for an unlock, which only another
		 * thread can make (an unlock by a non-owner releases it), and a timed one ends
		 * in ETIMEDOUT; KMUTEX__RELOCK has the core wait so.  lockdep, if on, reports
		 * the AA deadlock first.  With KMUTEX_STRICT the core reports it and aborts.
		 */
		if (kmx_owned_by_self(lock) && !strict())
			relock = KMUTEX__RELOCK;
		break;
	}
	fork_repair_lock(lock);
	st_name(lock, ip); /* before the slow path, which counts contentions by name */
	/* Before blocking, as the kernel's mutex_acquire(): a deadlock about to happen is
	 * reported; a lock that fails (timeout, EINVAL) is not held. */
	ld_acquire(lock, mode ? KMX_LD_WAIT : 0, ip);
	ret = -kmutex__lock_slow(lock, mode | relock, abstime);
	if (ret)
		ld_release(lock);
	else
		st_acquired(lock, ip);
	return ret;
}

/*
 * The fast paths (issue 21 item 4): leaves, so that pthread_mutex_lock and unlock need no
 * stack frame and call nothing; whatever they do not handle is a tail call to the slow path.
 * A NORMAL or ADAPTIVE mutex, the tools off (one branch), a thread that has its descriptor
 * (kmutex__current: a thread's first lock makes it, in the slow path), one cmpxchg.
 */
static inline bool fast_path_applies(struct kmutex *lock, struct kmutex_task *self)
{
	return kmx_likely(plain_options(mutex_options(lock))) && unobserved() && kmx_likely(self != NULL);
}

/* Only with lockdep and statistics off: else every acquisition goes through lock_slow(). */
static inline bool lock_fast(struct kmutex *lock)
{
	struct kmutex_task *self = kmutex__current;

	return fast_path_applies(lock, self) && kmx_likely(kmutex__acquire_fast_as(lock, self));
}

/* NULL self: no descriptor, so not the owner; the slow path sorts it out. */
static inline bool unlock_fast(struct kmutex *lock)
{
	struct kmutex_task *self = kmutex__current;

	return fast_path_applies(lock, self) && kmx_likely(kmutex__release_fast_as(lock, self));
}

/* ip: the caller's return address (the public entry point's), for lockdep. */
/* Inlined into pthread_mutex_lock and pt_mutex_lock alike: no jump between them. */
static inline __attribute__((always_inline)) int mutex_lock(pthread_mutex_t *mutex, const void *ip)
{
	if (lock_fast(as_kmutex(mutex)))
		return 0;
	return lock_slow(mutex, 0, CLOCK_REALTIME, NULL, false, ip);
}

int pt_mutex_lock(pthread_mutex_t *mutex, const void *ip)
{
	return mutex_lock(mutex, ip);
}

int pt_mutex_timedlock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime,
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

int pt_mutex_trylock(pthread_mutex_t *mutex, const void *ip)
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

/* Every unlock whose inline fast path did not apply or failed. */
static __attribute__((noinline)) int unlock_slow(pthread_mutex_t *mutex)
{
	struct kmutex *lock = as_kmutex(mutex);

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
		if (lock->depth & DEPTH_LEVELS) {
			lock->depth--;
			return 0;
		}
		break;
	case MC_PLAIN:
		/* Maybe by a thread that does not own it: glibc releases the mutex, and so
		 * does unlock_slow_any(); with KMUTEX_STRICT the core reports it. */
		st_released(lock);
		ld_release(lock);
		if (fork_repair_unlock(lock))
			return 0;
		/* strict() only at a misuse: it reads the setting once per process. */
		if (!kmx_owned_by_self(lock) && strict())
			kmutex__unlock_slow(lock);
		else
			kmutex__unlock_slow_any(lock);
		return 0;
	}
	st_released(lock);
	ld_release(lock);
	if (fork_repair_unlock(lock))
		return 0;
	kmutex__unlock_slow(lock);
	return 0;
}

static inline __attribute__((always_inline)) int mutex_unlock(pthread_mutex_t *mutex)
{
	if (unlock_fast(as_kmutex(mutex)))
		return 0;
	return unlock_slow(mutex);
}

int pt_mutex_unlock(pthread_mutex_t *mutex)
{
	return mutex_unlock(mutex);
}

int pt_mutex_destroy(pthread_mutex_t *mutex)
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
	 * mutex still locked or still being waited for, which POSIX says to report as EBUSY,
	 * and, as glibc does, one a condvar wait has released and will relock (cond.c). */
	if (kmx_load(&lock->owner, KMX_RELAXED) || kmx_load(&lock->wait_list, KMX_RELAXED) ||
	    kmx_load(&lock->osq_tail, KMX_RELAXED) || kmx_load(&lock->wait_lock, KMX_RELAXED) ||
	    kmx_load(&lock->depth, KMX_RELAXED) >= DEPTH_COND_USER)
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
	return pt_mutex_destroy(mutex);
}

int pthread_mutex_lock(pthread_mutex_t *mutex)
{
	return mutex_lock(mutex, CALLER);
}

int pthread_mutex_trylock(pthread_mutex_t *mutex)
{
	return pt_mutex_trylock(mutex, CALLER);
}

int pthread_mutex_timedlock(pthread_mutex_t *mutex, const struct timespec *abstime)
{
	return pt_mutex_timedlock(mutex, CLOCK_REALTIME, abstime, false, CALLER);
}

int pthread_mutex_clocklock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime)
{
	return pt_mutex_timedlock(mutex, clockid, abstime, true, CALLER);
}

int pthread_mutex_unlock(pthread_mutex_t *mutex)
{
	return mutex_unlock(mutex);
}
