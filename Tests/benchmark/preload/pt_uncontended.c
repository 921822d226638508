/*
 * Uncontended pthread_mutex_lock + pthread_mutex_unlock through whatever pthread this process
 * got: glibc's, or libkmutex-pthread's when preloaded.  An ordinary program's calls (through
 * the PLT, on a PTHREAD_MUTEX_INITIALIZER mutex), so the figure is what a real program pays.
 * One trial per process: programs.sh alternates glibc and preload runs.
 *
 * usage: pt_uncontended [PAIRS]   prints: pt_uncontended pairs=N ns_per_pair=X preload=0|1
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "preloaded.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pairs(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pthread_mutex_lock(&m);
		__asm__ volatile("" ::: "memory"); /* keeps the pairs apart */
		pthread_mutex_unlock(&m);
	}
}

static void *no_op(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000, t0, dt;
	pthread_t t;

	/* glibc drops the lock prefix until a process has had a second thread: a mutex is only
	 * of use with threads, so measure where glibc's flag is set for good (as kmutex-bench). */
	if (n == 0 || pthread_create(&t, NULL, no_op, NULL) || pthread_join(t, NULL))
		return 2;
	pairs(n / 10); /* warm the line, the PLT and the branches */
	t0 = now_ns();
	pairs(n);
	dt = now_ns() - t0;
	printf("pt_uncontended pairs=%llu ns_per_pair=%.3f preload=%d\n", (unsigned long long)n,
	       (double)dt / (double)n, kmutex_preloaded());
	return 0;
}
