/*
 * The uncontended pthread_mutex_lock + pthread_mutex_unlock, timed: a plain program run under
 * the preload (or on glibc), for the cost of a fast-path change such as lockdep's one branch.
 * Prints the best of 5 rounds of N pairs, in ns per pair (the best: the least disturbed by
 * the other tenants of a shared machine).  usage: lockloop [N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	long n = argc > 1 ? atol(argv[1]) : 20000000;
	double best = 1e300;

	for (int round = 0; round < 5; round++) {
		double t0 = now_ns();

		for (long i = 0; i < n; i++) {
			pthread_mutex_lock(&m);
			__asm__ volatile("" ::: "memory"); /* keep the pairs apart */
			pthread_mutex_unlock(&m);
		}
		double dt = (now_ns() - t0) / n;

		if (dt < best)
			best = dt;
	}
	printf("%.3f\n", best);
	return 0;
}
