/*
 * What observability costs per contended lock call, measured on the events alone (so that
 * the figure is not lost in the noise of a contended benchmark): the slow path's
 * contention_begin + contention_end pair, as kmutex.c fires it, N times in a loop, by
 * 1 thread or by 2 threads on one class (the class's counters then move between CPUs, as they
 * do under real contention).  With statistics off the pair is two nops and one branch; on,
 * the class lookup, two clock reads and the counters; under `bpftrace` attached to the
 * probes, two uprobe traps.  Prints "events threads T stats on|off: X ns per contended call".
 * usage: stat_bench [on|off] [threads] [iterations]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmutex.h"
#include "lock_stat.h"

static long iterations = 2000000;
static struct kmutex locks[2];
static pthread_barrier_t start;

static void *events(void *arg)
{
	struct kmutex *m = arg;

	pthread_barrier_wait(&start);
	for (long i = 0; i < iterations; i++) {
		struct kmx_contention c;

		kmx_contention_begin(m, KMX_LCB_F_MUTEX | KMX_LCB_F_SPIN, &c);
		kmx_contention_end(m, &c, 0);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int on = argc > 1 && strcmp(argv[1], "on") == 0;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t t[2];
	double t0;

	if (argc > 3)
		iterations = atol(argv[3]);
	if (threads < 1 || threads > 2)
		threads = 1;
	kmutex_stat_enable(on);
	for (int i = 0; i < 2; i++) {
		kmutex_init(&locks[i]);
		kmutex_set_name(&locks[i], "stat_bench"); /* one class for both */
	}
	pthread_barrier_init(&start, NULL, threads + 1);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, events, &locks[i]);
	pthread_barrier_wait(&start);
	t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("events threads %d stats %s: %.1f ns per contended call\n", threads, on ? "on" : "off",
	       (now_s() - t0) * 1e9 / iterations);
	return 0;
}
