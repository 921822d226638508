/*
 * Uncontended pthread_rwlock_rdlock + unlock (or wrlock + unlock) through whatever pthread
 * this process got: glibc's, or libkmutex-pthread's (krwsem) when preloaded.  An ordinary
 * program's calls (through the PLT, on a PTHREAD_RWLOCK_INITIALIZER rwlock), as
 * pt_uncontended does for mutexes.  One trial per process: programs.sh alternates.
 *
 * usage: pt_rw_uncontended read|write [PAIRS]
 * prints: pt_rw_uncontended mode=read pairs=N ns_per_pair=X preload=0|1
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preloaded.h"

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pairs(int (*lock)(pthread_rwlock_t *), uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		lock(&rw);
		__asm__ volatile("" ::: "memory"); /* keeps the pairs apart */
		pthread_rwlock_unlock(&rw);
	}
}

static void *no_op(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	int write = argc > 1 && strcmp(argv[1], "write") == 0;
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 5000000, t0, dt;
	int (*lock)(pthread_rwlock_t *) = write ? pthread_rwlock_wrlock : pthread_rwlock_rdlock;
	pthread_t t;

	/* As pt_uncontended: measure where glibc's multi-threaded flag is set for good. */
	if (n == 0 || pthread_create(&t, NULL, no_op, NULL) || pthread_join(t, NULL))
		return 2;
	pairs(lock, n / 10); /* warm the line, the PLT and the branches */
	t0 = now_ns();
	pairs(lock, n);
	dt = now_ns() - t0;
	printf("pt_rw_uncontended mode=%s pairs=%llu ns_per_pair=%.3f preload=%d\n", write ? "write" : "read",
	       (unsigned long long)n, (double)dt / (double)n, kmutex_preloaded());
	return 0;
}
