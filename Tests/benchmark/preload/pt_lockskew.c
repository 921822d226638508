/*
 * kmutex-bench's lockskew through the pthread API: a hog holds a PTHREAD_MUTEX_INITIALIZER
 * mutex ~100 us and relocks at once, a victim sleeps ~100 us between attempts; the figure is
 * the victim's worst wait.  glibc lets the hog re-take the lock whenever the woken victim is
 * not yet on a CPU; kmutex's handoff gives it to the victim after one lost race.  LOAD busy
 * threads (default: one per CPU) share the CPUs with them, as on a loaded machine.
 *
 * usage: pt_lockskew [MS] [LOAD]
 * prints: pt_lockskew ms=.. load=.. hog_rounds=.. victim_rounds=.. victim_max_wait_us=..
 *         victim_mean_wait_us=.. oversleep_max_us=.. preload=0|1
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "preloaded.h"

#define HOLD_NS  100000u
#define SLEEP_NS 100000u
#define MAX_LOAD 64

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int stop; /* atomic */
static uint64_t hog_rounds, victim_rounds, victim_max, victim_sum, oversleep_max;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int stopped(void)
{
	/* RELAXED: a flag polled in loops; join orders the results. */
	return __atomic_load_n(&stop, __ATOMIC_RELAXED);
}

/* Busy for ns by the clock: the same wall-clock hold on any CPU, no calibration needed. */
static void busy(uint64_t ns)
{
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < ns)
		;
}

static void *hog(void *arg)
{
	while (!stopped()) {
		pthread_mutex_lock(&m);
		busy(HOLD_NS);
		pthread_mutex_unlock(&m);
		hog_rounds++;
	}
	return arg;
}

static void *victim(void *arg)
{
	struct timespec nap = { 0, SLEEP_NS };

	while (!stopped()) {
		uint64_t t0 = now_ns(), wait;

		nanosleep(&nap, NULL);
		wait = now_ns() - t0 - SLEEP_NS;
		if (wait > oversleep_max)
			oversleep_max = wait;
		t0 = now_ns();
		pthread_mutex_lock(&m);
		wait = now_ns() - t0;
		pthread_mutex_unlock(&m);
		victim_rounds++;
		victim_sum += wait;
		if (wait > victim_max)
			victim_max = wait;
	}
	return arg;
}

static void *load(void *arg)
{
	while (!stopped())
		busy(10000);
	return arg;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	long nload = argc > 2 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t t[2 + MAX_LOAD];
	struct timespec run;

	if (ms <= 0 || nload < 0 || nload > MAX_LOAD)
		return 2;
	for (long i = 0; i < 2 + nload; i++)
		if (pthread_create(&t[i], NULL, i == 0 ? hog : i == 1 ? victim : load, NULL))
			return 2;
	run.tv_sec = ms / 1000;
	run.tv_nsec = ms % 1000 * 1000000;
	nanosleep(&run, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (long i = 0; i < 2 + nload; i++)
		pthread_join(t[i], NULL);
	printf("pt_lockskew ms=%ld load=%ld hog_rounds=%llu victim_rounds=%llu victim_max_wait_us=%.1f "
	       "victim_mean_wait_us=%.1f oversleep_max_us=%.1f preload=%d\n",
	       ms, nload, (unsigned long long)hog_rounds, (unsigned long long)victim_rounds,
	       (double)victim_max / 1e3,
	       victim_rounds ? (double)victim_sum / (double)victim_rounds / 1e3 : 0.0,
	       (double)oversleep_max / 1e3, kmutex_preloaded());
	return 0;
}
