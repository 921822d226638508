/*
 * Starvation through the pthread API, counted, not timed: a hog (on CPU 1) relocks a mutex at
 * once after each ~20 us critical section, while a victim (on CPU 0, shared with a busy
 * thread, so that a woken victim waits for the scheduler as on a loaded machine) sleeps a
 * little and then blocks on the same mutex.  For each of the victim's acquisitions we count
 * the hog's acquisitions during its wait.  kmutex's handoff bounds that: once the woken
 * victim fails to get the lock it asks for a handoff and the hog's next unlock gives it the
 * lock, so the count is the hog sections that fit in two scheduling delays of the victim
 * (~200 here).  glibc lets the hog re-take the lock every time the victim runs too late,
 * which is nearly always (worst waits of 2,800-5,900 sections measured here).  A wait counts
 * as starved at LIMIT = 20,000 sections (~0.4 s of hog time, 100x kmutex's figure: no
 * scheduler delay of the victim comes near it); then the hog backs off, so the test ends.
 * The glibc run is printed for comparison by make, not checked: how long glibc starves the
 * victim is a matter of chance, and this test must not flake either way.
 */
#include <sched.h>
#include <stdlib.h>

#include "check.h"
#include "pt.h"

#define TRIALS 20
#define LIMIT  20000u
#define HOLD_NS 20000L

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static unsigned hog_count;     /* hog acquisitions; written under m, read by the victim; atomic */
static unsigned victim_start;  /* hog_count when the victim began waiting, or ~0u; atomic */
static int stop;               /* atomic */

static void busy(long ns)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do
		clock_gettime(CLOCK_MONOTONIC, &now);
	while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < ns);
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Shares the victim's CPU: a woken victim waits for the scheduler, as on a loaded machine. */
static void *load(void *arg)
{
	(void)arg;
	pin_to(0);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		busy(100000);
	return NULL;
}

static void *hog(void *arg)
{
	(void)arg;
	pin_to(1);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned start;

		pthread_mutex_lock(&m);
		busy(HOLD_NS);
		/* RELAXED: a counter; the victim's read of it is ordered by the mutex it takes. */
		__atomic_store_n(&hog_count, hog_count + 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&m);
		start = __atomic_load_n(&victim_start, __ATOMIC_RELAXED);
		if (start != ~0u && hog_count - start >= LIMIT)
			usleep(1000); /* the victim starved: let it in, so the test can end */
	}
	return NULL;
}

static void t_victim_not_starved(void)
{
	unsigned worst = 0, starved = 0;
	pthread_t t, l;

	__atomic_store_n(&victim_start, ~0u, __ATOMIC_RELAXED);
	pin_to(0);
	pthread_create(&t, NULL, hog, NULL);
	pthread_create(&l, NULL, load, NULL);
	usleep(10000);
	for (int i = 0; i < TRIALS; i++) {
		unsigned start, during;

		usleep(300);
		start = __atomic_load_n(&hog_count, __ATOMIC_RELAXED);
		__atomic_store_n(&victim_start, start, __ATOMIC_RELAXED);
		pthread_mutex_lock(&m);
		during = hog_count - start;
		__atomic_store_n(&victim_start, ~0u, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&m);
		if (during > worst)
			worst = during;
		if (during >= LIMIT)
			starved++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	pthread_join(l, NULL);
	printf("lockskew: worst wait %u hog acquisitions (limit %u), %u of %d waits starved\n", worst,
	       LIMIT, starved, TRIALS);
	CHECK(starved == 0);
}

int main(void)
{
	check_start(50);
	RUN(t_victim_not_starved);
	return check_finish();
}
