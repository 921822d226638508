/*
 * Writer starvation through the pthread API, as issue 22 tried it: four readers with
 * overlapping 200 us holds (staggered, so that at every moment some reader holds the lock) and
 * one writer asking for the lock every millisecond, for one second.  Prints how many times the
 * writer got in and its worst wait.  On glibc's default kind (PREFER_READER_NP) the writer
 * typically waits the whole run; on krwsem a waiting writer stops new readers (HANDOFF after
 * 1 ms at the latest).
 *
 * With --expect-progress (under the preload) it fails unless the writer got in at least once
 * while the readers ran: progress, not a time limit.  If it has not by the end of the second,
 * the readers go on (up to 40 s, a hang bound, not a measure) until it does, so a loaded
 * machine that keeps the writer off the CPU for the whole second cannot make it fail.  The
 * figures are measured, never asserted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../benchmark/preload/preloaded.h" /* make bench builds it as pt_rwskew */

#define READERS 4
#define HOLD_US 200
#define RUN_MS  1000

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int stop;     /* the writer has had its run: readers, stop */
static atomic_long end_us;  /* readers stop by themselves then, whatever the writer does */
static long reads;

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void hold(long us)
{
	long end = now_us() + us;

	while (now_us() < end)
		;
}

static void *reader(void *p)
{
	long n = 0;

	usleep((useconds_t)((long)p * HOLD_US / READERS)); /* staggered: the holds overlap */
	while (!atomic_load_explicit(&stop, memory_order_relaxed) &&
	       now_us() < atomic_load_explicit(&end_us, memory_order_relaxed)) {
		pthread_rwlock_rdlock(&rw);
		hold(HOLD_US);
		pthread_rwlock_unlock(&rw);
		n++;
	}
	__atomic_fetch_add(&reads, n, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	int expect_progress = argc > 1 && strcmp(argv[1], "--expect-progress") == 0;
	long start, end, readers_end, writes = 0, worst = 0, asked;
	pthread_t t[READERS];

	start = now_us() + 10000; /* after the readers have started */
	end = start + RUN_MS * 1000L;
	readers_end = expect_progress ? start + 40 * 1000000L : end;
	atomic_store(&end_us, readers_end);
	for (long i = 0; i < READERS; i++)
		pthread_create(&t[i], NULL, reader, (void *)i);
	usleep(10000);
	while ((asked = now_us()) < readers_end && (asked < end || (expect_progress && writes == 0))) {
		long got;

		pthread_rwlock_wrlock(&rw);
		got = now_us();
		pthread_rwlock_unlock(&rw);
		if (got < readers_end)
			writes++; /* while the readers still run */
		if (got - asked > worst)
			worst = got - asked;
		usleep(1000);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	printf("rwskew: writer got in %ld times in %ld ms beside %d readers (%ld read sections), worst wait %.1f ms\n",
	       writes, (now_us() - start) / 1000, READERS, reads, worst / 1000.0);
	printf("rwskew writes=%ld worst_wait_us=%ld reads=%ld preload=%d\n", writes, worst, reads, kmutex_preloaded());
	if (expect_progress && writes == 0) {
		fprintf(stderr, "rwskew: FAIL the writer never got in while the readers ran: starved\n");
		return 1;
	}
	return 0;
}
