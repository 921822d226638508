/*
 * pthread_cond_*: a kcond in place in the pthread_cond_t (see dropin.h for the layout).  A
 * wait releases and retakes its mutex as the mutex's kind needs: a kmutex-backed one through
 * kcond directly (a RECURSIVE one at its depth), a forwarded one (robust, PI, PP) through
 * glibc's own lock and unlock (kcond's foreign mode), passing on the relock's error as glibc
 * does.  Either way the wait counts itself as a user of the mutex, so that destroying it
 * meanwhile returns EBUSY, as glibc's does.  A process-shared condvar is glibc's.
 */
#include <string.h>

#include "dropin.h"

/* pthread_cond_t is 48 bytes on x86-64 and aarch64 alike, __wrefs at 36 on both. */
_Static_assert(offsetof(pthread_cond_t, __data.__wrefs) == COND_WREFS_OFFSET,
	       "cond_is_glibc() reads glibc's __wrefs at COND_WREFS_OFFSET");
_Static_assert(sizeof(struct kcond) <= COND_WREFS_OFFSET - 4 && sizeof(pthread_cond_t) >= COND_WREFS_OFFSET + 4,
	       "a kcond must leave glibc's __wrefs untouched");

/*
 * A forwarded mutex's relock, as glibc's condvar does it, and its result: glibc's
 * pthread_cond_wait returns the relock's error (EOWNERDEAD when a robust mutex's owner died,
 * ENOTRECOVERABLE, ...) in place of its own result, and a waiter that is not told the mutex
 * is inconsistent unlocks it without pthread_mutex_consistent, which makes it unusable for
 * good.  kcond calls the relock in the waiting thread (also from a cancelled wait's cleanup),
 * with no way to return a result, so it is left here for the wait to pick up.
 */
static __thread int foreign_relock_error __attribute__((tls_model("initial-exec")));

static void foreign_lock(void *mutex)
{
	foreign_relock_error = glibc_mutex_lock(mutex);
}

/* glibc's unlock, whose error (EPERM: not the owner) the wait returns at once, as glibc's. */
static int foreign_unlock(void *mutex)
{
	return glibc_mutex_unlock(mutex);
}

/* After the relock (or a cancelled wait's): the wait stops counting itself in __nusers. */
static void foreign_use_end(void *mutex)
{
	if (foreign_relock_error == 0 || foreign_relock_error == EOWNERDEAD) /* it holds the mutex */
		glibc_mutex_cond_user(mutex, false);
}

/* A forwarded mutex: kcond's foreign mode, counted in glibc's __nusers (forward.c). */
static int wait_foreign(struct kcond *c, pthread_mutex_t *mutex, int mode, const struct timespec *abstime)
{
	const struct kcond_mutex km = { .foreign = mutex, .foreign_lock = foreign_lock,
					.foreign_unlock = foreign_unlock };
	int ret;

	foreign_relock_error = 0; /* a wait that ends at its unlock does not relock */
	glibc_mutex_cond_user(mutex, true);
	pthread_cleanup_push(foreign_use_end, mutex);
	ret = -kcond__wait(c, &km, mode, abstime);
	pthread_cleanup_pop(1);
	/* glibc's condvar returns the relock's error in place of its own result. */
	return foreign_relock_error ? foreign_relock_error : ret;
}

int pt_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr)
{
	int pshared = PTHREAD_PROCESS_PRIVATE;
	clockid_t clockid = CLOCK_REALTIME;

	if (attr) {
		(void)pthread_condattr_getpshared(attr, &pshared);
		(void)pthread_condattr_getclock(attr, &clockid);
	}
	if (pshared != PTHREAD_PROCESS_PRIVATE)
		return glibc_cond_init(cond, attr);
	memset(cond, 0, sizeof(*cond)); /* bytes 32..47 too: cond_is_glibc() reads offset 36 */
	kcond_init(as_kcond(cond));
	as_kcond(cond)->attr = clockid == CLOCK_MONOTONIC ? KCOND_MONOTONIC : 0;
	return 0;
}

int pt_cond_destroy(pthread_cond_t *cond)
{
	struct kcond *c = as_kcond(cond);

	if (cond_is_glibc(cond))
		return glibc_cond_destroy(cond);
	fork_repair_cond(c);
	/* RELAXED snapshot: a thread blocked on the condvar is on the list; POSIX allows EBUSY. */
	if (kmx_load(&c->waiters, KMX_RELAXED))
		return EBUSY;
	kcond_destroy(c);
	return 0;
}

int pt_cond_signal(pthread_cond_t *cond, bool all)
{
	if (cond_is_glibc(cond))
		return glibc_cond_signal(cond, all);
	fork_repair_cond(as_kcond(cond));
	if (all)
		kcond_broadcast(as_kcond(cond));
	else
		kcond_signal(as_kcond(cond));
	return 0;
}

/*
 * What a wait with a kmutex-backed mutex keeps in kmutex.depth (dropin.h) while it has the
 * mutex released: it counts itself as a user of the mutex, so that pthread_mutex_destroy
 * returns EBUSY until it has relocked, as glibc's does (a count of 255 waits saturates: a
 * wait beyond it is not counted, and a destroy may then miss it); and a RECURSIVE mutex is
 * released fully, its extra levels kept here and given back after the relock.  Both are
 * undone after the relock, also when the wait is cancelled (kcond relocks before cleanups
 * run).  Only a thread holding the mutex changes depth; RELAXED stores, because a destroy
 * reads it without holding the mutex (a snapshot, as its other checks).
 */
struct cond_use {
	struct kmutex *lock;
	uint32_t levels; /* a RECURSIVE mutex's extra levels, released with it */
	bool counted;
};

static void cond_use_begin(struct cond_use *use, struct kmutex *lock)
{
	uint32_t depth = lock->depth;

	use->lock = lock;
	use->levels = depth & DEPTH_LEVELS;
	use->counted = depth < ~DEPTH_LEVELS; /* fewer than 255 counted */
	kmx_store(&lock->depth, (depth & ~DEPTH_LEVELS) + (use->counted ? DEPTH_COND_USER : 0),
		  KMX_RELAXED);
}

/* After the relock: no other holder leaves levels behind, so depth's levels are 0 here. */
static void cond_use_end(void *arg)
{
	struct cond_use *use = arg;
	uint32_t depth = use->lock->depth | use->levels;

	kmx_store(&use->lock->depth, use->counted ? depth - DEPTH_COND_USER : depth, KMX_RELAXED);
}

static int wait_kmutex(struct kcond *c, struct kmutex *lock, int mode, const struct timespec *abstime)
{
	const struct kcond_mutex km = { .kmutex = lock };
	struct cond_use use;
	int ret;

	cond_use_begin(&use, lock);
	pthread_cleanup_push(cond_use_end, &use);
	ret = kcond__wait(c, &km, mode, abstime);
	pthread_cleanup_pop(1);
	return ret;
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
static int wait_tracked(struct kcond *c, struct kmutex *lock, int mode, const struct timespec *abstime,
			const void *ip)
{
	struct ld_relock relock = { lock, ip };
	int ret;

	st_released(lock); /* the wait releases the mutex; the hold ends here */
	if (kmx_likely(!kmx_lockdep_enabled())) {
		ret = wait_kmutex(c, lock, mode, abstime);
		st_acquired(lock, ip);
		return ret;
	}
	kmx_lockdep_release(lock);
	pthread_cleanup_push(ld_relocked, &relock);
	ret = wait_kmutex(c, lock, mode, abstime);
	pthread_cleanup_pop(1);
	st_acquired(lock, ip);
	return ret;
}

int pt_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int how, clockid_t clockid,
		 const struct timespec *abstime, const void *ip)
{
	struct kcond *c = as_kcond(cond);
	struct kmutex *lock = as_kmutex(mutex);
	enum mutex_class class = classify(mutex_options(lock));
	int mode = KCOND__CANCELLABLE;

	if (cond_is_glibc(cond)) {
		/* A process-shared condvar: glibc's, which must be used with a glibc mutex. */
		if (class != MC_GLIBC)
			return EINVAL; /* glibc's condvar would unlock a kmutex as if it were its own */
		return glibc_cond_wait(cond, mutex, how, clockid, abstime);
	}
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
	if (class == MC_GLIBC)
		return wait_foreign(c, mutex, mode, abstime);
	return -wait_tracked(c, lock, mode, abstime, ip);
}

int pthread_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr)
{
	return pt_cond_init(cond, attr);
}

int pthread_cond_destroy(pthread_cond_t *cond)
{
	return pt_cond_destroy(cond);
}

int pthread_cond_signal(pthread_cond_t *cond)
{
	return pt_cond_signal(cond, false);
}

int pthread_cond_broadcast(pthread_cond_t *cond)
{
	return pt_cond_signal(cond, true);
}

int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
	return pt_cond_wait(cond, mutex, 0, CLOCK_REALTIME, NULL, CALLER);
}

int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex, const struct timespec *abstime)
{
	return pt_cond_wait(cond, mutex, 1, CLOCK_REALTIME, abstime, CALLER);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clockid,
			   const struct timespec *abstime)
{
	return pt_cond_wait(cond, mutex, 2, clockid, abstime, CALLER);
}
