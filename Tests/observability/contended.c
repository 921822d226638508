/*
 * A contended run for the probe test: THREADS threads take one mutex ITERS times each, with
 * a little work inside; then the statistics' contentions, spin-acquired and slept on stdout:
 * "contentions N spin N slept N".  With a second argument "wait", it first waits for a line on
 * stdin (its libraries mapped, nothing contended yet), so a tracer can attach with -p first.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmutex.h"
#include "lock_stat.h"

#define THREADS 4

static DEFINE_KMUTEX(contended_lock);
static long iters = 20000;
static volatile long counter;
static pthread_barrier_t start;

static void *worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start); /* all at once, so that they contend */
	for (long i = 0; i < iters; i++) {
		kmutex_lock(&contended_lock);
		for (int k = 0; k < 50; k++)
			counter++;
		kmutex_unlock(&contended_lock);
		for (volatile int k = 0; k < 50; k++)
			;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[THREADS];
	struct kmx_stat_snapshot s = { 0 };

	if (argc > 1)
		iters = atol(argv[1]);
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char line[16];

		if (!fgets(line, sizeof(line), stdin))
			return 2;
	}
	kmutex_stat_enable(1);
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	kmx_stat_get("contended_lock", &s);
	printf("contentions %llu spin %llu slept %llu\n", (unsigned long long)s.contentions,
	       (unsigned long long)s.spin_acquired, (unsigned long long)s.slept);
	return counter == THREADS * iters * 50 ? 0 : 1;
}
