/*
 * What the drop-in's layer costs on the uncontended read path, in one process, so that the
 * machine's load lands on all three alike: rdlock+unlock pairs through
 *   - glibc's own pthread_rwlock_rdlock/unlock (dlvsym RTLD_NEXT, GLIBC_2.34),
 *   - the program's calls as they bind under the preload (libkmutex-pthread's),
 *   - krwsem's layered calls, krwsem__down_read and krwsem_up_read, looked up in the preload.
 * Interleaved rounds of 100000 pairs; the best round of each (the one least disturbed).
 * usage: LD_PRELOAD=libkmutex-pthread.so rw_fastpath [ROUNDS]   (make bench-pthread-rw-fastpath)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PAIRS 100000

typedef int (*rw_fn)(pthread_rwlock_t *);

static pthread_rwlock_t on_glibc = PTHREAD_RWLOCK_INITIALIZER, on_dropin = PTHREAD_RWLOCK_INITIALIZER;
static pthread_rwlock_t on_krwsem = PTHREAD_RWLOCK_INITIALIZER; /* a krwsem in place: 56 bytes */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *no_op(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 300;
	rw_fn glibc_rd = (rw_fn)dlvsym(RTLD_NEXT, "pthread_rwlock_rdlock", "GLIBC_2.34");
	rw_fn glibc_un = (rw_fn)dlvsym(RTLD_NEXT, "pthread_rwlock_unlock", "GLIBC_2.34");
	int (*k_rd)(void *, int, const struct timespec *) =
		(int (*)(void *, int, const struct timespec *))dlsym(RTLD_DEFAULT, "krwsem__down_read");
	void (*k_un)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "krwsem_up_read");
	double best[3] = { 1e30, 1e30, 1e30 };
	pthread_t t;

	if (!glibc_rd || !glibc_un || !k_rd || !k_un) {
		fprintf(stderr, "rw_fastpath: run it under LD_PRELOAD=libkmutex-pthread.so\n");
		return 2;
	}
	/* As pt_uncontended: measure where glibc's multi-threaded flag is set for good. */
	if (pthread_create(&t, NULL, no_op, NULL) || pthread_join(t, NULL))
		return 2;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns(), t1, t2, t3;

		for (int i = 0; i < PAIRS; i++) {
			glibc_rd(&on_glibc);
			__asm__ volatile("" ::: "memory");
			glibc_un(&on_glibc);
		}
		t1 = now_ns();
		for (int i = 0; i < PAIRS; i++) {
			pthread_rwlock_rdlock(&on_dropin);
			__asm__ volatile("" ::: "memory");
			pthread_rwlock_unlock(&on_dropin);
		}
		t2 = now_ns();
		for (int i = 0; i < PAIRS; i++) {
			k_rd(&on_krwsem, 0, NULL);
			__asm__ volatile("" ::: "memory");
			k_un(&on_krwsem);
		}
		t3 = now_ns();
		double d[3] = { (t1 - t0) / PAIRS, (t2 - t1) / PAIRS, (t3 - t2) / PAIRS };
		for (int k = 0; k < 3; k++)
			if (d[k] < best[k])
				best[k] = d[k];
	}
	printf("rw_fastpath: best of %d rounds, ns per uncontended rdlock+unlock: glibc %.2f, "
	       "drop-in %.2f (%.2fx), krwsem's layered calls %.2f (%.2fx)\n",
	       rounds, best[0], best[1], best[1] / best[0], best[2], best[2] / best[0]);
	return 0;
}
