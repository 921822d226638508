/*
 * Unit tests of every call libkmutex-pthread interposes, and their return codes, for each
 * mutex type.  Built against glibc alone and run under LD_PRELOAD, and built with
 * -lkmutex-pthread (PT_LINKED); run without either it must fail, in t_interposed, with
 * "fell through to glibc": the first test proves the rest run on kmutex.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <threads.h>

#include "check.h"
#include "kmutex.h"
#include "pt.h"

/* Every interposed symbol, as this program's versioned references resolved it. */
static void t_interposed(void)
{
	static const struct pt_fn fns[] = {
		PT_FN(pthread_mutex_init), PT_FN(pthread_mutex_destroy), PT_FN(pthread_mutex_lock),
		PT_FN(pthread_mutex_trylock), PT_FN(pthread_mutex_timedlock),
		PT_FN(pthread_mutex_clocklock), PT_FN(pthread_mutex_unlock), PT_FN(pthread_cond_init),
		PT_FN(pthread_cond_destroy), PT_FN(pthread_cond_wait), PT_FN(pthread_cond_timedwait),
		PT_FN(pthread_cond_clockwait), PT_FN(pthread_cond_signal), PT_FN(pthread_cond_broadcast),
		PT_FN(mtx_init), PT_FN(mtx_lock), PT_FN(mtx_timedlock), PT_FN(mtx_trylock),
		PT_FN(mtx_unlock), PT_FN(mtx_destroy), PT_FN(cnd_init), PT_FN(cnd_wait),
		PT_FN(cnd_timedwait), PT_FN(cnd_signal), PT_FN(cnd_broadcast), PT_FN(cnd_destroy),
	};
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec past = { 0, 0 };

	CHECK(pt_all_served_by_kmutex(fns, sizeof(fns) / sizeof(fns[0])));
	CHECK(pthread_mutex_lock(&m) == 0);
	CHECK(pt_locked_bytes_are_kmutex("pthread_mutex_lock", &m));
	/* A timed-out wait leaves glibc's __wseq at 2; a kcond's words are back to zero. */
	CHECK(pthread_cond_timedwait(&c, &m, &past) == ETIMEDOUT);
	CHECK(((uint64_t *)(void *)&c)[0] == 0);
	CHECK(pthread_mutex_unlock(&m) == 0);
}

/* ---- helpers run in another thread ---- */

static int other_trylock(void *m) { return pthread_mutex_trylock(m); }
static int other_unlock(void *m) { return pthread_mutex_unlock(m); }
static int other_lock_unlock(void *m)
{
	int ret = pthread_mutex_lock(m);

	return ret ? ret : pthread_mutex_unlock(m);
}
static int other_timedlock(void *m)
{
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 30);

	return pthread_mutex_timedlock(m, &dl);
}
static int other_clocklock(void *m)
{
	struct timespec dl = pt_deadline(CLOCK_MONOTONIC, 30);

	return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl);
}
static int other_timedlock_bad_ns(void *m)
{
	struct timespec dl = { time(NULL) + 5, 1000000000L };

	return pthread_mutex_timedlock(m, &dl);
}

static void init_type(pthread_mutex_t *m, int type)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, type);
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

/* What every kmutex type does the same way: contention codes, destroy. */
static int common_checks(pthread_mutex_t *m)
{
	struct timespec bad = { 0, -1 };

	if (pthread_mutex_lock(m) != 0) return __LINE__;
	if (!pt_locked_bytes_are_kmutex("lock", m)) return __LINE__;
	if (pt_in_thread(other_trylock, m) != EBUSY) return __LINE__;
	if (pt_in_thread(other_timedlock, m) != ETIMEDOUT) return __LINE__;
	if (pt_in_thread(other_clocklock, m) != ETIMEDOUT) return __LINE__;
	if (pt_in_thread(other_timedlock_bad_ns, m) != EINVAL) return __LINE__;
	if (pthread_mutex_destroy(m) != EBUSY) return __LINE__;
	if (pthread_mutex_unlock(m) != 0) return __LINE__;
	if (pt_in_thread(other_lock_unlock, m) != 0) return __LINE__;
	/* A bad timespec is reported only when the call would block, as in glibc. */
	if (pthread_mutex_timedlock(m, &bad) != 0) return __LINE__;
	if (pthread_mutex_unlock(m) != 0) return __LINE__;
	if (pthread_mutex_clocklock(m, CLOCK_PROCESS_CPUTIME_ID, &bad) != EINVAL) return __LINE__;
	if (pthread_mutex_trylock(m) != 0) return __LINE__;
	if (pthread_mutex_unlock(m) != 0) return __LINE__;
	if (pthread_mutex_destroy(m) != 0) return __LINE__;
	/* Destroyed: EINVAL, as glibc; destroying again succeeds, as in glibc. */
	if (pthread_mutex_lock(m) != EINVAL) return __LINE__;
	if (pthread_mutex_trylock(m) != EINVAL) return __LINE__;
	if (pthread_mutex_unlock(m) != EINVAL) return __LINE__;
	if (pthread_mutex_timedlock(m, &bad) != EINVAL) return __LINE__;
	if (pthread_mutex_destroy(m) != 0) return __LINE__;
	return 0;
}

static void t_normal(void)
{
	pthread_mutex_t m, s = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_init(&m, NULL);
	CHECK(pthread_mutex_lock(&m) == 0);
	CHECK(pthread_mutex_trylock(&m) == EBUSY); /* by the owner too: not recursive */
	CHECK(pthread_mutex_unlock(&m) == 0);
	CHECK_STEPS(common_checks(&m));
	init_type(&m, PTHREAD_MUTEX_NORMAL);
	CHECK_STEPS(common_checks(&m));
	CHECK_STEPS(common_checks(&s));
}

static void t_adaptive(void)
{
	pthread_mutex_t m, s = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

	init_type(&m, PTHREAD_MUTEX_ADAPTIVE_NP);
	CHECK(((struct kmutex *)(void *)&m)->options == PTHREAD_MUTEX_ADAPTIVE_NP);
	CHECK_STEPS(common_checks(&m));
	CHECK_STEPS(common_checks(&s));
}

static int errorcheck_checks(pthread_mutex_t *m)
{
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 1000);

	if (pthread_mutex_unlock(m) != EPERM) return __LINE__;
	if (pthread_mutex_lock(m) != 0) return __LINE__;
	if (pthread_mutex_lock(m) != EDEADLK) return __LINE__;
	if (pthread_mutex_timedlock(m, &dl) != EDEADLK) return __LINE__;
	if (pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl) != EDEADLK) return __LINE__;
	if (pthread_mutex_trylock(m) != EBUSY) return __LINE__;
	if (pt_in_thread(other_unlock, m) != EPERM) return __LINE__;
	if (pthread_mutex_unlock(m) != 0) return __LINE__;
	if (pthread_mutex_unlock(m) != EPERM) return __LINE__;
	return common_checks(m);
}

static void t_errorcheck(void)
{
	pthread_mutex_t m, s = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;

	init_type(&m, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_STEPS(errorcheck_checks(&m));
	CHECK_STEPS(errorcheck_checks(&s));
}

static int recursive_checks(pthread_mutex_t *m)
{
	struct kmutex *k = (struct kmutex *)(void *)m;
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 1000);

	if (pthread_mutex_unlock(m) != EPERM) return __LINE__;
	if (pthread_mutex_lock(m) != 0) return __LINE__;
	if (pthread_mutex_lock(m) != 0) return __LINE__;
	if (pthread_mutex_trylock(m) != 0) return __LINE__;
	if (pthread_mutex_timedlock(m, &dl) != 0) return __LINE__;
	if (pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl) != 0) return __LINE__;
	if (k->depth != 4) return __LINE__;
	if (pt_in_thread(other_trylock, m) != EBUSY) return __LINE__;
	if (pt_in_thread(other_unlock, m) != EPERM) return __LINE__;
	for (int i = 0; i < 4; i++)
		if (pthread_mutex_unlock(m) != 0) return __LINE__;
	if (pt_in_thread(other_trylock, m) != EBUSY) return __LINE__; /* one level left */
	if (pthread_mutex_unlock(m) != 0) return __LINE__;
	if (pthread_mutex_unlock(m) != EPERM) return __LINE__;
	/* Overflow of the count: EAGAIN, and the mutex is still held at its depth. */
	if (pthread_mutex_lock(m) != 0) return __LINE__;
	k->depth = UINT32_MAX - 1;
	if (pthread_mutex_lock(m) != 0) return __LINE__;
	if (pthread_mutex_lock(m) != EAGAIN) return __LINE__;
	if (pthread_mutex_trylock(m) != EAGAIN) return __LINE__;
	k->depth = 0;
	if (pthread_mutex_unlock(m) != 0) return __LINE__;
	return common_checks(m);
}

static void t_recursive(void)
{
	pthread_mutex_t m, s = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

	init_type(&m, PTHREAD_MUTEX_RECURSIVE);
	CHECK_STEPS(recursive_checks(&m));
	CHECK_STEPS(recursive_checks(&s));
}

/* Garbage type bytes: EINVAL, as glibc gives for an unknown kind. */
static void t_garbage(void)
{
	pthread_mutex_t m;

	memset(&m, 0, sizeof(m));
	((struct kmutex *)(void *)&m)->options = 7;
	CHECK(pthread_mutex_lock(&m) == EINVAL);
	CHECK(pthread_mutex_trylock(&m) == EINVAL);
	CHECK(pthread_mutex_unlock(&m) == EINVAL);
	memset(&m, 0x5a, sizeof(m)); /* glibc kind bits: glibc decides, and says EINVAL */
	CHECK(pthread_mutex_lock(&m) == EINVAL);
}

/* Process-shared, robust, PI, PP: glibc's mutexes in glibc's layout. */
static int forwarded_checks(pthread_mutexattr_t *attr)
{
	int robust = 0;

	pthread_mutex_t m;
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 1000);

	pthread_mutexattr_getrobust(attr, &robust);
	if (pthread_mutex_init(&m, attr) != 0) return __LINE__;
	if (pthread_mutex_lock(&m) != 0) return __LINE__;
	if (!pt_locked_bytes_are_glibc(&m)) return __LINE__;
	if (pt_in_thread(other_trylock, &m) != EBUSY) return __LINE__;
	if (pt_in_thread(other_timedlock, &m) != ETIMEDOUT) return __LINE__;
	if (pt_in_thread(other_clocklock, &m) != ETIMEDOUT) return __LINE__;
	/* glibc does not check a robust mutex's users on destroy: EBUSY for the others. */
	if (!robust && pthread_mutex_destroy(&m) != EBUSY) return __LINE__;
	if (pthread_mutex_unlock(&m) != 0) return __LINE__;
	if (pthread_mutex_timedlock(&m, &dl) != 0) return __LINE__;
	if (pthread_mutex_unlock(&m) != 0) return __LINE__;
	if (pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &dl) != 0) return __LINE__;
	if (pthread_mutex_unlock(&m) != 0) return __LINE__;
	if (pthread_mutex_destroy(&m) != 0) return __LINE__;
	if (pthread_mutex_lock(&m) != EINVAL) return __LINE__;
	return 0;
}

static void t_forwarded(void)
{
	pthread_mutexattr_t attr;
	pthread_mutex_t m;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	CHECK_STEPS(forwarded_checks(&attr));
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_STEPS(forwarded_checks(&attr));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	CHECK_STEPS(forwarded_checks(&attr));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
	CHECK_STEPS(forwarded_checks(&attr));
	/* PP: glibc's own init and lock, which refuses a SCHED_OTHER thread (EINVAL on glibc too). */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_PROTECT);
	CHECK(pthread_mutex_init(&m, &attr) == 0);
	CHECK((((unsigned char *)&m)[16] & 0x40) != 0);
	CHECK(pthread_mutex_lock(&m) == EINVAL);
	CHECK(pthread_mutex_destroy(&m) == 0);
}

/* ---- condition variables ---- */

struct cv {
	pthread_mutex_t m;
	pthread_cond_t c;
	int ready, woken;
};

static void *cv_waiter(void *p)
{
	struct cv *cv = p;

	pthread_mutex_lock(&cv->m);
	while (!cv->ready)
		pthread_cond_wait(&cv->c, &cv->m);
	cv->woken++;
	pthread_mutex_unlock(&cv->m);
	return NULL;
}

/* N waiters; a broadcast (or N signals) wakes them all, none lost. */
static int wake_all(struct cv *cv, int broadcast)
{
	pthread_t t[4];

	cv->ready = cv->woken = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, cv_waiter, cv);
	usleep(20000); /* let them block (not needed for correctness: they check ready) */
	pthread_mutex_lock(&cv->m);
	cv->ready = 1;
	if (broadcast) {
		if (pthread_cond_broadcast(&cv->c) != 0) return __LINE__;
	} else {
		for (int i = 0; i < 4; i++)
			if (pthread_cond_signal(&cv->c) != 0) return __LINE__;
	}
	pthread_mutex_unlock(&cv->m);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return cv->woken == 4 ? 0 : __LINE__;
}

static void t_cond_wake(void)
{
	struct cv cv = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

	CHECK_STEPS(wake_all(&cv, 1));
	CHECK_STEPS(wake_all(&cv, 0));
	CHECK(pthread_cond_destroy(&cv.c) == 0);
	CHECK(pthread_cond_init(&cv.c, NULL) == 0);
	CHECK_STEPS(wake_all(&cv, 1));
	init_type(&cv.m, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_STEPS(wake_all(&cv, 1));
	init_type(&cv.m, PTHREAD_MUTEX_RECURSIVE);
	CHECK_STEPS(wake_all(&cv, 0));
	CHECK(pthread_cond_destroy(&cv.c) == 0);
}

/* The default clock is CLOCK_REALTIME; setclock(CLOCK_MONOTONIC) and clockwait are honoured. */
static void t_cond_clocks(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER, mc;
	pthread_condattr_t attr;
	struct timespec start, dl, bad = { 0, 1000000000L };

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	CHECK(pthread_cond_init(&mc, &attr) == 0);
	CHECK(pthread_mutex_lock(&m) == 0);
	/* A realtime deadline read as monotonic would be decades away: the alarm would fire. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	dl = pt_deadline(CLOCK_REALTIME, 30);
	CHECK(pthread_cond_timedwait(&c, &m, &dl) == ETIMEDOUT);
	CHECK(pt_elapsed_ms(CLOCK_MONOTONIC, &start) >= 25);
	/* A monotonic deadline read as realtime would be long past: no wait at all. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	dl = pt_deadline(CLOCK_MONOTONIC, 30);
	CHECK(pthread_cond_timedwait(&mc, &m, &dl) == ETIMEDOUT);
	CHECK(pt_elapsed_ms(CLOCK_MONOTONIC, &start) >= 25);
	clock_gettime(CLOCK_MONOTONIC, &start);
	dl = pt_deadline(CLOCK_MONOTONIC, 30);
	CHECK(pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &dl) == ETIMEDOUT);
	CHECK(pt_elapsed_ms(CLOCK_MONOTONIC, &start) >= 25);
	dl = pt_deadline(CLOCK_REALTIME, 30);
	CHECK(pthread_cond_clockwait(&mc, &m, CLOCK_REALTIME, &dl) == ETIMEDOUT);
	CHECK(pthread_cond_timedwait(&c, &m, &bad) == EINVAL);
	CHECK(pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &bad) == EINVAL);
	CHECK(pthread_cond_clockwait(&c, &m, CLOCK_PROCESS_CPUTIME_ID, &dl) == EINVAL);
	CHECK(pthread_mutex_trylock(&m) == EBUSY); /* still held after every return */
	CHECK(pthread_mutex_unlock(&m) == 0);
	CHECK(pthread_cond_destroy(&mc) == 0);
}

static int cond_recursive_locker(void *p)
{
	struct cv *cv = p;
	int ret = pthread_mutex_lock(&cv->m); /* possible only if the waiter released every level */

	cv->ready = 1;
	pthread_cond_signal(&cv->c);
	return ret ? ret : pthread_mutex_unlock(&cv->m);
}

static void *run_recursive_locker(void *p)
{
	return (void *)(intptr_t)cond_recursive_locker(p);
}

/* A RECURSIVE mutex held three levels deep: released fully by the wait, retaken at depth 3. */
static void t_cond_recursive(void)
{
	struct cv cv = { PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP, PTHREAD_COND_INITIALIZER, 0, 0 };
	pthread_t t;
	void *ret;

	for (int i = 0; i < 3; i++)
		CHECK(pthread_mutex_lock(&cv.m) == 0);
	pthread_create(&t, NULL, run_recursive_locker, &cv);
	while (!cv.ready)
		CHECK(pthread_cond_wait(&cv.c, &cv.m) == 0);
	pthread_join(t, &ret);
	CHECK(ret == NULL);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_mutex_unlock(&cv.m) == 0);
	CHECK(pthread_mutex_unlock(&cv.m) == EPERM);
}

static void t_cond_errors(void)
{
	pthread_mutex_t m;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 10);

	init_type(&m, PTHREAD_MUTEX_ERRORCHECK);
	CHECK(pthread_cond_wait(&c, &m) == EPERM); /* not held */
	CHECK(pthread_cond_timedwait(&c, &m, &dl) == EPERM);
	init_type(&m, PTHREAD_MUTEX_RECURSIVE);
	CHECK(pthread_cond_wait(&c, &m) == EPERM);
	pthread_mutex_destroy(&m);
	CHECK(pthread_cond_wait(&c, &m) == EINVAL); /* destroyed */
}

/* A kcond with a forwarded (glibc) mutex: foreign mode.  And a process-shared condvar. */
static void t_cond_glibc_mutex(void)
{
	struct cv cv;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	struct timespec dl;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&cv.m, &ma);
	pthread_cond_init(&cv.c, NULL);
	CHECK_STEPS(wake_all(&cv, 1));
	CHECK_STEPS(wake_all(&cv, 0));
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	CHECK(pthread_cond_init(&cv.c, &ca) == 0);
	CHECK(((uint32_t *)(void *)&cv.c)[9] & 1); /* glibc's __wrefs says pshared */
	CHECK_STEPS(wake_all(&cv, 1));
	CHECK_STEPS(wake_all(&cv, 0));
	pthread_mutex_lock(&cv.m);
	dl = pt_deadline(CLOCK_REALTIME, 10);
	CHECK(pthread_cond_timedwait(&cv.c, &cv.m, &dl) == ETIMEDOUT);
	dl = pt_deadline(CLOCK_MONOTONIC, 10);
	CHECK(pthread_cond_clockwait(&cv.c, &cv.m, CLOCK_MONOTONIC, &dl) == ETIMEDOUT);
	pthread_mutex_unlock(&cv.m);
	CHECK(pthread_cond_destroy(&cv.c) == 0);
	pthread_mutex_destroy(&cv.m);
}

/* ---- cancellation: the cleanup handlers run with the mutex held again ---- */

struct cancel_case {
	pthread_mutex_t m;
	pthread_cond_t c;
	int waiting, timed;
	int unlock_rets[3];
};

static void cancel_cleanup(void *p)
{
	struct cancel_case *cc = p;

	/* RECURSIVE mutex locked twice: two unlocks succeed only if we hold it at depth 2. */
	for (int i = 0; i < 3; i++)
		cc->unlock_rets[i] = pthread_mutex_unlock(&cc->m);
}

static void *cancel_waiter(void *p)
{
	struct cancel_case *cc = p;
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 60000);

	pthread_mutex_lock(&cc->m);
	pthread_mutex_lock(&cc->m);
	pthread_cleanup_push(cancel_cleanup, cc);
	cc->waiting = 1;
	for (;;) {
		if (cc->timed)
			pthread_cond_timedwait(&cc->c, &cc->m, &dl);
		else
			pthread_cond_wait(&cc->c, &cc->m);
	}
	pthread_cleanup_pop(0);
	return NULL;
}

static int cancel_one(int timed)
{
	struct cancel_case cc = { PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP, PTHREAD_COND_INITIALIZER, 0, timed, { -1, -1, -1 } };
	pthread_t t;
	void *ret;

	pthread_create(&t, NULL, cancel_waiter, &cc);
	for (;;) { /* wait until it sleeps in the wait: it released the mutex */
		pthread_mutex_lock(&cc.m);
		int waiting = cc.waiting;
		pthread_mutex_unlock(&cc.m);
		if (waiting)
			break;
		usleep(1000);
	}
	pthread_cancel(t);
	pthread_join(t, &ret);
	if (ret != PTHREAD_CANCELED) return __LINE__;
	if (cc.unlock_rets[0] != 0 || cc.unlock_rets[1] != 0 || cc.unlock_rets[2] != EPERM) return __LINE__;
	if (pthread_mutex_trylock(&cc.m) != 0) return __LINE__; /* and it is free afterwards */
	pthread_mutex_unlock(&cc.m);
	return 0;
}

static void t_cond_cancel(void)
{
	CHECK_STEPS(cancel_one(0));
	CHECK_STEPS(cancel_one(1));
}

/* ---- C11 threads ---- */

static int c11_trylock(void *m) { return mtx_trylock(m); }
static int c11_timedlock(void *m)
{
	struct timespec dl = pt_deadline(CLOCK_REALTIME, 30);

	return mtx_timedlock(m, &dl);
}

static void t_c11(void)
{
	mtx_t m;
	cnd_t c;
	struct timespec dl;

	CHECK(mtx_init(&m, 42) == thrd_error);
	CHECK(mtx_init(&m, mtx_plain) == thrd_success);
	CHECK(mtx_lock(&m) == thrd_success);
	CHECK(pt_locked_bytes_are_kmutex("mtx_lock", &m));
	CHECK(mtx_trylock(&m) == thrd_busy);
	CHECK(pt_in_thread(c11_trylock, &m) == thrd_busy);
	CHECK(pt_in_thread(c11_timedlock, &m) == thrd_timedout);
	CHECK(cnd_init(&c) == thrd_success);
	dl = pt_deadline(CLOCK_REALTIME, 10);
	CHECK(cnd_timedwait(&c, &m, &dl) == thrd_timedout);
	CHECK(((uint64_t *)(void *)&c)[0] == 0); /* a kcond, not glibc's condvar */
	CHECK(cnd_signal(&c) == thrd_success);
	CHECK(cnd_broadcast(&c) == thrd_success);
	CHECK(mtx_unlock(&m) == thrd_success);
	cnd_destroy(&c);
	mtx_destroy(&m);
	CHECK(mtx_lock(&m) == thrd_error); /* destroyed */
	CHECK(mtx_init(&m, mtx_timed | mtx_recursive) == thrd_success);
	CHECK(mtx_lock(&m) == thrd_success);
	CHECK(mtx_lock(&m) == thrd_success);
	CHECK(mtx_trylock(&m) == thrd_success);
	for (int i = 0; i < 3; i++)
		CHECK(mtx_unlock(&m) == thrd_success);
	CHECK(mtx_unlock(&m) == thrd_error);
	mtx_destroy(&m);
}

static void *c11_waiter(void *p)
{
	struct { mtx_t m; cnd_t c; int ready; } *s = p;

	mtx_lock(&s->m);
	while (!s->ready)
		cnd_wait(&s->c, &s->m);
	mtx_unlock(&s->m);
	return NULL;
}

static void t_c11_wait(void)
{
	struct { mtx_t m; cnd_t c; int ready; } s;
	pthread_t t;

	mtx_init(&s.m, mtx_plain);
	cnd_init(&s.c);
	s.ready = 0;
	pthread_create(&t, NULL, c11_waiter, &s);
	usleep(10000);
	mtx_lock(&s.m);
	s.ready = 1;
	cnd_signal(&s.c);
	mtx_unlock(&s.m);
	pthread_join(t, NULL);
	cnd_destroy(&s.c);
	mtx_destroy(&s.m);
}

/* ---- misuse of a NORMAL mutex with KMUTEX_STRICT=1: kmutex's one-line message, abort ---- */

static void *lock_and_return(void *m)
{
	pthread_mutex_lock(m);
	return NULL;
}

static int misuse_child(int which)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_t t;

	/* KMUTEX_STRICT=1 (without it, glibc's behaviour: Tests/pthread/semantics.c) is read
	 * once per process, at its first misuse: main runs this case before any other that
	 * could make one (no exec: the arm64 run under qemu-user cannot). */
	setenv("KMUTEX_STRICT", "1", 1);
	if (which == 0) {
		pthread_mutex_lock(&m);
		pthread_mutex_lock(&m); /* recursive lock of a NORMAL mutex */
	} else {
		pthread_create(&t, NULL, lock_and_return, &m);
		pthread_join(t, NULL);
		pthread_mutex_unlock(&m); /* by a thread that does not own it */
	}
	return 0;
}

/* The child's stderr (qemu-user's own last line dropped), and whether it died of SIGABRT. */
static int run_misuse(int which, char *out, size_t len)
{
	int aborted = pt_child_aborts(misuse_child, which, out, len);

	check_drop_emulator_line(out);
	return aborted;
}

/* With KMUTEX_LOCKDEP=1, lockdep reports the recursive lock before the core's misuse line. */
static bool lockdep_on(void)
{
	const char *env = getenv("KMUTEX_LOCKDEP");

	return env && env[0] && strcmp(env, "0") != 0;
}

static void t_normal_misuse(void)
{
	static char out[16384];
	const char *misuse;

	CHECK(run_misuse(0, out, sizeof(out)));
	misuse = strstr(out, "kmutex: recursive lock by the owner");
	CHECK(misuse && !strchr(misuse, '\n')[1]); /* the last line */
	if (lockdep_on())
		CHECK(strstr(out, "WARNING: possible recursive locking detected") &&
		      strstr(out, "WARNING: possible recursive locking detected") < misuse);
	else
		CHECK(misuse == out);
	CHECK(run_misuse(1, out, sizeof(out)));
	CHECK(strstr(out, "kmutex: unlock of a mutex owned by another thread"));
}

int main(void)
{
	check_start(50);
	RUN(t_interposed);
	if (check_failed) /* not on kmutex: the rest would test glibc */
		return check_finish();
	RUN(t_normal_misuse); /* first: its children read KMUTEX_STRICT afresh (see there) */
	RUN(t_normal);
	RUN(t_adaptive);
	RUN(t_errorcheck);
	RUN(t_recursive);
	RUN(t_garbage);
	RUN(t_forwarded);
	RUN(t_cond_wake);
	RUN(t_cond_clocks);
	RUN(t_cond_recursive);
	RUN(t_cond_errors);
	RUN(t_cond_glibc_mutex);
	RUN(t_cond_cancel);
	RUN(t_c11);
	RUN(t_c11_wait);
	return check_finish();
}
