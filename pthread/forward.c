/*
 * Every call into glibc: the objects glibc keeps (process-shared, robust, priority-inheritance
 * and priority-protect mutexes, process-shared condvars and rwlocks) are passed to glibc's own functions,
 * and glibc's result is returned as it is.
 *
 * glibc's mutex and rwlock calls are reached through the aliases glibc exports, without dlsym, so
 * forwarding works before constructors run (a lock taken by dlsym, malloc or another
 * library's constructor).  The rest have no alias and are looked up on first use.
 */
#include <dlfcn.h>

#include "debug.h"
#include "dropin.h"

/*
 * The symbol versions to bind, per architecture (objdump -T libc.so.6 shows them).  A port's
 * first glibc gave every symbol it had one base version, and nothing of a port is older:
 *  - GLIBC_BASE: x86-64's is 2.2.5; aarch64 arrived in glibc 2.17, so 2.17 is its oldest.
 *  - GLIBC_COND: the pthread_cond_* of today's layout.  x86-64 keeps the layout before 2.3.2
 *    under GLIBC_2.2.5 and today's under GLIBC_2.3.2; aarch64 has only today's, at 2.17.
 * GLIBC_2.30 (pthread_mutex_clocklock, pthread_cond_clockwait) is the same on both, being
 * newer than either base.  An alias at a version the C library lacks fails the link of the
 * library (aarch64's ld: "no symbol version section for versioned symbol
 * `__pthread_mutex_destroy@GLIBC_2.2.5'"); a dlvsym one fails the first forwarded call
 * (kmx_fatal), which the api test makes on both architectures (make test-arm64).
 */
#if defined(__x86_64__)
#define GLIBC_BASE "GLIBC_2.2.5"
#define GLIBC_COND "GLIBC_2.3.2"
#elif defined(__aarch64__)
#define GLIBC_BASE "GLIBC_2.17"
#define GLIBC_COND "GLIBC_2.17"
#else
#error "libkmutex-pthread: add this architecture's glibc symbol versions to pthread/forward.c"
#endif

/*
 * glibc's exported aliases: reachable without dlsym, so forwarding works before constructors.
 * glibc 2.34 made them compat symbols (__pthread_mutex_lock@GLIBC_2.2.5 on x86-64, no default
 * version), which a link cannot bind by name: .symver asks for the base version explicitly.
 */
#define GLIBC_ALIAS(ret, local, name, params)                                   \
	extern ret local params;                                                \
	__asm__(".symver " #local "," #name "@" GLIBC_BASE)
GLIBC_ALIAS(int, alias_mutex_init, __pthread_mutex_init, (pthread_mutex_t *, const pthread_mutexattr_t *));
GLIBC_ALIAS(int, alias_mutex_destroy, __pthread_mutex_destroy, (pthread_mutex_t *));
GLIBC_ALIAS(int, alias_mutex_lock, __pthread_mutex_lock, (pthread_mutex_t *));
GLIBC_ALIAS(int, alias_mutex_trylock, __pthread_mutex_trylock, (pthread_mutex_t *));
GLIBC_ALIAS(int, alias_mutex_unlock, __pthread_mutex_unlock, (pthread_mutex_t *));
GLIBC_ALIAS(int, alias_rwlock_init, __pthread_rwlock_init, (pthread_rwlock_t *, const pthread_rwlockattr_t *));
GLIBC_ALIAS(int, alias_rwlock_destroy, __pthread_rwlock_destroy, (pthread_rwlock_t *));
GLIBC_ALIAS(int, alias_rwlock_rdlock, __pthread_rwlock_rdlock, (pthread_rwlock_t *));
GLIBC_ALIAS(int, alias_rwlock_tryrdlock, __pthread_rwlock_tryrdlock, (pthread_rwlock_t *));
GLIBC_ALIAS(int, alias_rwlock_wrlock, __pthread_rwlock_wrlock, (pthread_rwlock_t *));
GLIBC_ALIAS(int, alias_rwlock_trywrlock, __pthread_rwlock_trywrlock, (pthread_rwlock_t *));
GLIBC_ALIAS(int, alias_rwlock_unlock, __pthread_rwlock_unlock, (pthread_rwlock_t *));

int glibc_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
{
	return alias_mutex_init(mutex, attr);
}

int glibc_mutex_destroy(pthread_mutex_t *mutex)
{
	return alias_mutex_destroy(mutex);
}

int glibc_mutex_lock(pthread_mutex_t *mutex)
{
	return alias_mutex_lock(mutex);
}

int glibc_mutex_trylock(pthread_mutex_t *mutex)
{
	return alias_mutex_trylock(mutex);
}

int glibc_mutex_unlock(pthread_mutex_t *mutex)
{
	return alias_mutex_unlock(mutex);
}

/* Process-shared rwlocks (rwlock.c); the timed calls are below, looked up on first use. */
int glibc_rwlock_init(pthread_rwlock_t *rwlock, const pthread_rwlockattr_t *attr)
{
	return alias_rwlock_init(rwlock, attr);
}

int glibc_rwlock_destroy(pthread_rwlock_t *rwlock)
{
	return alias_rwlock_destroy(rwlock);
}

int glibc_rwlock_tryrdlock(pthread_rwlock_t *rwlock)
{
	return alias_rwlock_tryrdlock(rwlock);
}

int glibc_rwlock_trywrlock(pthread_rwlock_t *rwlock)
{
	return alias_rwlock_trywrlock(rwlock);
}

int glibc_rwlock_unlock(pthread_rwlock_t *rwlock)
{
	return alias_rwlock_unlock(rwlock);
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

int glibc_mutex_timedlock(pthread_mutex_t *mutex, clockid_t clockid, const struct timespec *abstime,
			  bool clocklock)
{
	if (clocklock)
		return GLIBC_FN(clocklock_fn, pthread_mutex_clocklock, "GLIBC_2.30")(mutex, clockid, abstime);
	return GLIBC_FN(timedlock_fn, pthread_mutex_timedlock, GLIBC_BASE)(mutex, abstime);
}

int glibc_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr)
{
	return GLIBC_FN(cond_init_fn, pthread_cond_init, GLIBC_COND)(cond, attr);
}

int glibc_cond_destroy(pthread_cond_t *cond)
{
	return GLIBC_FN(cond_fn, pthread_cond_destroy, GLIBC_COND)(cond);
}

int glibc_cond_signal(pthread_cond_t *cond, bool all)
{
	return all ? GLIBC_FN(cond_fn, pthread_cond_broadcast, GLIBC_COND)(cond)
		   : GLIBC_FN(cond_fn, pthread_cond_signal, GLIBC_COND)(cond);
}

/* A process-shared condvar (glibc's), with a glibc mutex: see cond.c. */
int glibc_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int how, clockid_t clockid,
		    const struct timespec *abstime)
{
	switch (how) {
	case 0:
		return GLIBC_FN(cond_wait_fn, pthread_cond_wait, GLIBC_COND)(cond, mutex);
	case 1:
		return GLIBC_FN(cond_timedwait_fn, pthread_cond_timedwait, GLIBC_COND)(cond, mutex, abstime);
	default:
		return GLIBC_FN(cond_clockwait_fn, pthread_cond_clockwait, "GLIBC_2.30")(cond, mutex, clockid,
											   abstime);
	}
}

typedef int (*rwlock_timed_fn)(pthread_rwlock_t *, const struct timespec *);
typedef int (*rwlock_clock_fn)(pthread_rwlock_t *, clockid_t, const struct timespec *);

/* call: 0 lock, 1 timed (CLOCK_REALTIME), 2 clock (clockid); see rwlock.c's enum rw_call. */
int glibc_rwlock_rdlock(pthread_rwlock_t *rwlock, int call, clockid_t clockid,
			const struct timespec *abstime)
{
	switch (call) {
	case 0:
		return alias_rwlock_rdlock(rwlock);
	case 1:
		return GLIBC_FN(rwlock_timed_fn, pthread_rwlock_timedrdlock, GLIBC_BASE)(rwlock, abstime);
	default:
		return GLIBC_FN(rwlock_clock_fn, pthread_rwlock_clockrdlock, "GLIBC_2.30")(rwlock, clockid,
											  abstime);
	}
}

int glibc_rwlock_wrlock(pthread_rwlock_t *rwlock, int call, clockid_t clockid,
			const struct timespec *abstime)
{
	switch (call) {
	case 0:
		return alias_rwlock_wrlock(rwlock);
	case 1:
		return GLIBC_FN(rwlock_timed_fn, pthread_rwlock_timedwrlock, GLIBC_BASE)(rwlock, abstime);
	default:
		return GLIBC_FN(rwlock_clock_fn, pthread_rwlock_clockwrlock, "GLIBC_2.30")(rwlock, clockid,
											  abstime);
	}
}

/*
 * glibc's pthread_mutex_destroy returns EBUSY while a condvar wait has released the mutex and
 * will relock it (tst-mutex8, tst-mutexpi8): glibc's condvar unlocks without counting the user
 * off __nusers, which its destroy checks.  Our kcond releases a forwarded mutex through glibc's
 * ordinary unlock, which counts one user off, so the wait counts itself back on beforehand
 * and off again after the relock counted it on: __nusers then reads as under glibc's condvar.
 * Plain updates, as glibc's own: only a thread holding the mutex changes the field.
 */
void glibc_mutex_cond_user(pthread_mutex_t *mutex, bool enter)
{
	if (enter)
		mutex->__data.__nusers++;
	else
		mutex->__data.__nusers--;
}
