/*
 * A counting preload, to measure how often a program takes pthread rwlocks (and mutexes)
 * before choosing it as a test: LD_PRELOAD=callcount.so PROGRAM ... prints, at exit, the calls
 * made and their rate over the process's life.  Each call is forwarded to the next definition
 * (glibc, or libkmutex-pthread if it is preloaded after this one).  Counting is per thread
 * and summed at exit through a global atomic per call, so the shim adds one relaxed atomic
 * add per call: enough to rank programs, not to time them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

enum { RD, TRYRD, TIMEDRD, WR, TRYWR, TIMEDWR, UNLOCK, MLOCK, NCALLS };
static const char *names[NCALLS] = { "rdlock", "tryrdlock", "timed/clockrdlock", "wrlock",
				     "trywrlock", "timed/clockwrlock", "rwlock_unlock", "mutex_lock" };
static unsigned long counts[NCALLS];
static struct timespec started;

#define COUNT(i) __atomic_fetch_add(&counts[i], 1, __ATOMIC_RELAXED)
#define NEXT(type, name) ({ static type fn_; if (!fn_) fn_ = (type)dlsym(RTLD_NEXT, #name); fn_; })

typedef int (*rw_fn)(pthread_rwlock_t *);
typedef int (*rw_timed_fn)(pthread_rwlock_t *, const struct timespec *);
typedef int (*rw_clock_fn)(pthread_rwlock_t *, clockid_t, const struct timespec *);
typedef int (*m_fn)(pthread_mutex_t *);

int pthread_rwlock_rdlock(pthread_rwlock_t *rw) { COUNT(RD); return NEXT(rw_fn, pthread_rwlock_rdlock)(rw); }
int pthread_rwlock_tryrdlock(pthread_rwlock_t *rw) { COUNT(TRYRD); return NEXT(rw_fn, pthread_rwlock_tryrdlock)(rw); }
int pthread_rwlock_wrlock(pthread_rwlock_t *rw) { COUNT(WR); return NEXT(rw_fn, pthread_rwlock_wrlock)(rw); }
int pthread_rwlock_trywrlock(pthread_rwlock_t *rw) { COUNT(TRYWR); return NEXT(rw_fn, pthread_rwlock_trywrlock)(rw); }
int pthread_rwlock_unlock(pthread_rwlock_t *rw) { COUNT(UNLOCK); return NEXT(rw_fn, pthread_rwlock_unlock)(rw); }
int pthread_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *t)
{ COUNT(TIMEDRD); return NEXT(rw_timed_fn, pthread_rwlock_timedrdlock)(rw, t); }
int pthread_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *t)
{ COUNT(TIMEDWR); return NEXT(rw_timed_fn, pthread_rwlock_timedwrlock)(rw, t); }
int pthread_rwlock_clockrdlock(pthread_rwlock_t *rw, clockid_t c, const struct timespec *t)
{ COUNT(TIMEDRD); return NEXT(rw_clock_fn, pthread_rwlock_clockrdlock)(rw, c, t); }
int pthread_rwlock_clockwrlock(pthread_rwlock_t *rw, clockid_t c, const struct timespec *t)
{ COUNT(TIMEDWR); return NEXT(rw_clock_fn, pthread_rwlock_clockwrlock)(rw, c, t); }
int pthread_mutex_lock(pthread_mutex_t *m) { COUNT(MLOCK); return NEXT(m_fn, pthread_mutex_lock)(m); }

__attribute__((constructor)) static void start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started);
}

__attribute__((destructor)) static void report(void)
{
	struct timespec now;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - started.tv_sec) + (double)(now.tv_nsec - started.tv_nsec) / 1e9;
	fprintf(stderr, "callcount: %.2f s:", secs);
	for (int i = 0; i < NCALLS; i++)
		if (counts[i])
			fprintf(stderr, " %s %lu (%.0f/s)", names[i], counts[i], (double)counts[i] / secs);
	fprintf(stderr, "\n");
}
