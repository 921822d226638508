/*
 * The watchdog scan's cost (docs/hung-task.md): N live threads with descriptors, a quarter of
 * them blocked on a kmutex (records to read), none overdue (run with a large
 * KMUTEX_HUNG_TIMEOUT, so the watchdog's own scans do not interfere); the scan is called
 * directly, ROUNDS times, and its mean and best time printed per scan and per descriptor.
 * With "watchdog" as the second argument (and a small KMUTEX_HUNG_TIMEOUT, e.g. 0.02): no
 * thread blocked, and the watchdog's own scans measured over 2 s, every record cold in cache
 * as in real use.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hung_task.h"
#include "kmutex.h"

#define ROUNDS 200

static DEFINE_KMUTEX(held);
static struct kmutex idle_lock;
static int never[2];
static atomic_int ready;

static void *idle_thread(void *arg)
{
	char c;

	if (arg) {
		atomic_fetch_add(&ready, 1);
		kmutex_lock(&held); /* blocks: a live record */
	} else {
		kmutex_lock(&idle_lock); /* a descriptor, no record */
		kmutex_unlock(&idle_lock);
		atomic_fetch_add(&ready, 1);
	}
	while (read(never[0], &c, 1) != 0)
		;
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	int watchdog = argc > 2 && !strcmp(argv[2], "watchdog");
	pthread_attr_t attr;
	uint64_t best = UINT64_MAX, total = 0;

	if (!getenv("KMUTEX_HUNG_TIMEOUT") || pipe(never) != 0) {
		fprintf(stderr, "run with KMUTEX_HUNG_TIMEOUT=100000\n");
		return 1;
	}
	kmutex_init(&idle_lock);
	kmutex_lock(&held);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, idle_thread, (void *)(intptr_t)(!watchdog && i % 4 == 0)) != 0) {
			fprintf(stderr, "pthread_create failed at %d\n", i);
			return 1;
		}
	}
	while (atomic_load(&ready) < n)
		usleep(1000);
	usleep(100000); /* let the blocked ones reach their sleep */
	if (watchdog) {
		struct kmx_hung_stats a, b;

		kmx_hung_get_stats(&a);
		sleep(2);
		kmx_hung_get_stats(&b);
		printf("%6d descriptors, idle: %4lu watchdog scans, mean %8.1f us, max %8.1f us, %5.1f ns/descriptor (mean)\n",
		       n + 1, (unsigned long)(b.scans - a.scans),
		       (double)(b.scan_ns - a.scan_ns) / (double)(b.scans - a.scans) / 1e3,
		       (double)b.scan_ns_max / 1e3,
		       (double)(b.scan_ns - a.scan_ns) / (double)(b.descriptors - a.descriptors));
		fflush(stdout);
		_exit(0);
	}
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = now_ns(), dt;

		if (kmx_hung_scan_now() != 0)
			return 1;
		dt = now_ns() - t0;
		total += dt;
		best = dt < best ? dt : best;
	}
	printf("%6d descriptors (%d blocked): scan mean %8.1f us, best %8.1f us, %5.1f ns/descriptor (best)\n",
	       n + 1, (n + 3) / 4, (double)total / ROUNDS / 1e3, (double)best / 1e3, (double)best / (n + 1));
	fflush(stdout);
	_exit(0);
}
