/*
 * lockdep cost and coverage, one program built four ways (mk/lockdep.mk, bench-lockdep):
 *  - against the debug library (kmutex, every call through the checked entry points), run
 *    with KMUTEX_LOCKDEP unset (the unchecked baseline) and with KMUTEX_LOCKDEP=1;
 *  - with -DUSE_PTHREAD (pthread_mutex_t), natively, under Helgrind, and built with gcc's
 *    -fsanitize=thread: the peers only see pthread mutexes.
 *
 *   bench steady [iterations]   ns per lock+unlock pair, three nested locks A, B, C taken and
 *                               released in order again and again (steady state: every chain
 *                               is cached after the first round); median of 5 runs
 *   bench single [iterations]   the same with one lock
 *   bench <scenario>            run one scenario once (the driver reads the tool's output)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef USE_PTHREAD
typedef pthread_mutex_t lock_t;
#define LOCK_DEFINE(x) lock_t x = PTHREAD_MUTEX_INITIALIZER
#define lock(m)         pthread_mutex_lock(m)
#define lock_nested(m, s) pthread_mutex_lock(m)
#define unlock(m)       pthread_mutex_unlock(m)
#define trylock(m)      (pthread_mutex_trylock(m) == 0)
#define lock_timed(m, t) pthread_mutex_timedlock(m, t) /* CLOCK_REALTIME deadline */
#define CLOCK_FOR_TIMED CLOCK_REALTIME
static void set_class(lock_t *m, const char *name) { (void)m, (void)name; }
#else
#include "kmutex.h"
typedef struct kmutex lock_t;
#define LOCK_DEFINE(x) DEFINE_KMUTEX(x)
#define lock(m)         kmutex_lock(m)
#define lock_nested(m, s) kmutex_lock_nested(m, s)
#define unlock(m)       kmutex_unlock(m)
#define trylock(m)      kmutex_trylock(m)
#define lock_timed(m, t) kmutex_lock_timeout(m, t)
#define CLOCK_FOR_TIMED CLOCK_MONOTONIC
static void set_class(lock_t *m, const char *name) { kmutex_set_name(m, name); }
#endif

LOCK_DEFINE(lock_a);
LOCK_DEFINE(lock_b);
LOCK_DEFINE(lock_c);
LOCK_DEFINE(lock_d);
LOCK_DEFINE(x1); /* x1 and x2: two instances of one class "X" */
LOCK_DEFINE(x2);
#define A (&lock_a)
#define B (&lock_b)
#define C (&lock_c)
#define D (&lock_d)

__attribute__((noinline)) void lock_unlock_2(lock_t *p, lock_t *q)
{
	lock(p);
	lock(q);
	unlock(q);
	unlock(p);
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ns per lock+unlock pair, median of 5 runs of `iters` rounds of `depth` nested locks. */
static double measure(long iters, int depth)
{
	lock_t *locks[3] = { A, B, C };
	double runs[5];

	for (int r = 0; r < 5; r++) {
		double t0 = now_ns();

		for (long i = 0; i < iters; i++) {
			for (int k = 0; k < depth; k++)
				lock(locks[k]);
			for (int k = depth; k-- > 0;)
				unlock(locks[k]);
		}
		runs[r] = (now_ns() - t0) / ((double)iters * depth);
	}
	qsort(runs, 5, sizeof(runs[0]), cmp_double);
	return runs[2];
}

static void *run_ab(void *arg) { (void)arg; lock_unlock_2(A, B); return NULL; }
static void *run_ba(void *arg) { (void)arg; lock_unlock_2(B, A); return NULL; }
static void *run_bc(void *arg) { (void)arg; lock_unlock_2(B, C); return NULL; }
static void *run_ca(void *arg) { (void)arg; lock_unlock_2(C, A); return NULL; }

/* Each step in a thread of its own, one after the other: no run ever deadlocks. */
static void in_thread(void *(*fn)(void *))
{
	pthread_t t;

	pthread_create(&t, NULL, fn, NULL);
	pthread_join(t, NULL);
}

static int scenario(const char *name)
{
	struct timespec t;

	if (!strcmp(name, "AA")) {                 /* two instances of one class */
		lock_unlock_2(&x1, &x2);
	} else if (!strcmp(name, "ABBA")) {        /* one thread, both orders */
		lock_unlock_2(A, B);
		lock_unlock_2(B, A);
	} else if (!strcmp(name, "ABBA-threads")) {
		in_thread(run_ab);
		in_thread(run_ba);
	} else if (!strcmp(name, "ABBCCA")) {
		in_thread(run_ab);
		in_thread(run_bc);
		in_thread(run_ca);
	} else if (!strcmp(name, "ABCDBDDA")) {
		lock_unlock_2(A, B); lock_unlock_2(C, D); lock_unlock_2(B, D); lock_unlock_2(D, A);
	} else if (!strcmp(name, "ABCDBCDA")) {
		lock_unlock_2(A, B); lock_unlock_2(C, D); lock_unlock_2(B, C); lock_unlock_2(D, A);
	} else if (!strcmp(name, "nested-ok")) {   /* same class, annotated: not a problem */
		lock(&x1); lock_nested(&x2, 1); unlock(&x2); unlock(&x1);
	} else if (!strcmp(name, "trylock-ABBA")) { /* a trylock cannot deadlock */
		lock(A);
		if (trylock(B))
			unlock(B);
		unlock(A);
		lock_unlock_2(B, A);
	} else if (!strcmp(name, "timed-ABBA")) {  /* a timed lock can wait: a real ABBA */
		lock_unlock_2(A, B);
		clock_gettime(CLOCK_FOR_TIMED, &t);
		t.tv_sec += 1;
		lock(B);
		if (lock_timed(A, &t) == 0)
			unlock(A);
		unlock(B);
	} else if (!strcmp(name, "clean")) {
		lock_unlock_2(A, B);
		lock_unlock_2(A, B);
	} else {
		fprintf(stderr, "unknown scenario %s\n", name);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "steady";
	long iters = argc > 2 ? atol(argv[2]) : 1000000;

	set_class(&x1, "X");
	set_class(&x2, "X");
	if (!strcmp(mode, "steady") || !strcmp(mode, "single")) {
		int depth = !strcmp(mode, "steady") ? 3 : 1;

		(void)measure(iters / 10 + 1, depth); /* warm up: every chain seen once */
		printf("%.1f\n", measure(iters, depth));
		return 0;
	}
	return scenario(mode);
}
