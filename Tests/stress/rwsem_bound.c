/*
 * A short measurement of krwsem's waits, used to choose the HANDOFF time (docs/rwsem.md).  Not
 * a test: it prints figures and asserts nothing.  Two shapes, each for -d seconds:
 *   writer: R readers hold the lock for `hold` us each (sleeping inside), back to back, so that
 *           their holds overlap and the lock is never free of readers; one writer asks every
 *           1 ms and records how long each down_write waited.  (glibc's default rwlock never
 *           lets it in.)
 *   reader: W writers hold it for `hold` us each, back to back; one reader asks every 1 ms.
 * Prints the waits (median, p99, max) and the holders' acquisitions per second.  The HANDOFF
 * time comes from KRWSEM_HANDOFF_AFTER_US; run it once per value, interleaved (make
 * krwsem-bound).
 *
 * Usage: rwsem_bound writer|reader [-t holders] [-h hold_us] [-d seconds]
 */
#include "kmutex.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct krwsem sem;
static int stop; /* atomic */
static long hold_us = 200;
static long holder_ops; /* atomic */
static int shape_writer;

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(long long ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	while (nanosleep(&ts, &ts))
		;
}

static void *holder_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (shape_writer)
			krwsem_down_read(&sem);
		else
			krwsem_down_write(&sem);
		sleep_ns(hold_us * 1000);
		if (shape_writer)
			krwsem_up_read(&sem);
		else
			krwsem_up_write(&sem);
		__atomic_fetch_add(&holder_ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int holders = 4, seconds = 2, opt, n = 0;
	pthread_t threads[64];
	long long *waits, end;
	const char *h = getenv("KRWSEM_HANDOFF_AFTER_US");

	if (argc < 2 || (strcmp(argv[1], "writer") && strcmp(argv[1], "reader"))) {
		fprintf(stderr, "usage: %s writer|reader [-t holders] [-h hold_us] [-d seconds]\n", argv[0]);
		return 64;
	}
	shape_writer = !strcmp(argv[1], "writer");
	optind = 2;
	while ((opt = getopt(argc, argv, "t:h:d:")) != -1) {
		switch (opt) {
		case 't': holders = atoi(optarg); break;
		case 'h': hold_us = atol(optarg); break;
		case 'd': seconds = atoi(optarg); break;
		default: return 64;
		}
	}
	if (holders < 1 || holders > 64 || seconds < 1)
		return 64;
	waits = calloc((size_t)seconds * 2000 + 16, sizeof(*waits));
	for (int i = 0; i < holders; i++)
		pthread_create(&threads[i], NULL, holder_main, NULL);
	sleep_ns(20 * 1000000LL);
	end = mono_ns() + seconds * 1000000000LL;
	while (mono_ns() < end) {
		long long start = mono_ns();

		if (shape_writer)
			krwsem_down_write(&sem);
		else
			krwsem_down_read(&sem);
		waits[n++] = mono_ns() - start;
		if (shape_writer)
			krwsem_up_write(&sem);
		else
			krwsem_up_read(&sem);
		sleep_ns(1000000);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < holders; i++)
		pthread_join(threads[i], NULL);
	qsort(waits, (size_t)n, sizeof(*waits), cmp_ll);
	printf("%s wait, %d %s holding %ld us, H=%s us: n %d  median %.3f ms  p99 %.3f ms  max "
	       "%.3f ms  holders %.0f ops/s\n", shape_writer ? "writer" : "reader", holders,
	       shape_writer ? "readers" : "writers", hold_us, h ? h : "default(1000)", n,
	       waits[n / 2] / 1e6, waits[n * 99 / 100] / 1e6, waits[n - 1] / 1e6,
	       (double)holder_ops / seconds);
	free(waits);
	return 0;
}
