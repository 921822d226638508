/*
 * No spinning against an owner that cannot run (kmutex.c, optimistic_spin(); sched_view.h):
 *   owner last ran here: the owner O last ran on the CPU the contender S runs on, so it is not
 *                  running (S is): S must not join the OSQ nor poll the owner word.  It may
 *                  yield (that runs a preempted O at once, under SCHED_OTHER), then sleeps.
 *   owner elsewhere: O last ran on another CPU, where it may be running: S spins as before
 *                  (and, O never letting go, yields and sleeps).  Needs two CPUs.
 *   real-time caller: S is SCHED_FIFO: it neither spins nor yields, it sleeps at once (its
 *                  polling would keep lower-priority threads, O perhaps, off its CPU).
 * O and S are pinned (created with an affinity), so the CPU the kernel's rseq area names for O
 * is the one it was pinned to, and S's is its own: each case is decided by placement, never by
 * timing.  O holds the lock, blocked in sem_wait, until S sleeps (the sleep pause point).
 *
 * Run with SCHED_VIEW_OFF=1, the library is told it sees nothing of the scheduler
 * (kmutex_test_sched_view_off): the rules are out, and "owner last ran here" and "real-time
 * caller" must fail (make test-regression checks that they do).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmutex.h"

#if defined(__has_include) && __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define RSEQ_REGISTERED (__rseq_size != 0)
#else
#define RSEQ_REGISTERED 0 /* a glibc before 2.35: the library cannot see CPUs either */
#endif
#include "spin_steps.h"
#include "test_hooks.h"

static struct kmutex lock;
static __thread int is_s;         /* set by S itself, for the hook */
static char s_steps[MAX_STEPS + 1]; /* S's own until it posts s_slept */
static sem_t s_slept, o_holds, o_release;

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l == &lock && is_s && record_spin_step(s_steps, point) == 'z')
		sem_post(&s_slept);
}

static void *owner_main(void *arg)
{
	(void)arg;
	kmutex_lock(&lock);
	sem_post(&o_holds);
	sem_wait(&o_release);
	kmutex_unlock(&lock);
	return NULL;
}

static void *contender_main(void *arg)
{
	(void)arg;
	is_s = 1;
	kmutex_lock(&lock);
	kmutex_unlock(&lock);
	return NULL;
}

/* A thread pinned to cpu, SCHED_FIFO if fifo; 0 or the error. */
static int start_pinned(pthread_t *t, void *(*fn)(void *), int cpu, int fifo)
{
	pthread_attr_t attr;
	cpu_set_t one;
	int err;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
	if (fifo) {
		struct sched_param param = { .sched_priority = sched_get_priority_min(SCHED_FIFO) };

		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &param);
	}
	err = pthread_create(t, &attr, fn, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

/* 0 passed, 1 failed, -1 skipped. */
static int run_case(const char *name, int owner_cpu, int s_cpu, int s_fifo, const char *want)
{
	pthread_t o, s;
	int err;

	memset(s_steps, 0, sizeof(s_steps));
	kmutex_init(&lock);
	if (start_pinned(&o, owner_main, owner_cpu, 0) != 0) {
		fprintf(stderr, "spin_owner_cpu: cannot start the owner on CPU %d\n", owner_cpu);
		exit(2);
	}
	sem_wait(&o_holds);
	err = start_pinned(&s, contender_main, s_cpu, s_fifo);
	if (err) {
		printf("SKIP %s: cannot start a SCHED_FIFO thread (%s): the real-time rule is NOT "
		       "tested here (needs CAP_SYS_NICE or RLIMIT_RTPRIO)\n", name, strerror(err));
		sem_post(&o_release);
		pthread_join(o, NULL);
		kmutex_destroy(&lock);
		return -1;
	}
	sem_wait(&s_slept);
	sem_post(&o_release);
	pthread_join(o, NULL);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	if (strcmp(s_steps, want) != 0) {
		fprintf(stderr, "FAIL %s: S's steps were \"%s\", expected \"%s\" "
			"(j: join the OSQ, s: spin, y: yield, z: sleep)\n", name, s_steps, want);
		return 1;
	}
	printf("%s: S's steps \"%s\" (O on CPU %d, S on CPU %d%s)\n", name, s_steps, owner_cpu,
	       s_cpu, s_fifo ? ", SCHED_FIFO" : "");
	return 0;
}

static void tally(int result, int *passed, int *failed)
{
	if (result == 0)
		(*passed)++;
	else if (result > 0)
		(*failed)++;
}

int main(void)
{
	int cpus[2], n = 0, passed = 0, failed = 0;
	const char *off = getenv("SCHED_VIEW_OFF");
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		perror("spin_owner_cpu: sched_getaffinity");
		return 2;
	}
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	if (off && *off == '1')
		kmutex_test_sched_view_off = 1;
	sem_init(&s_slept, 0, 0);
	sem_init(&o_holds, 0, 0);
	sem_init(&o_release, 0, 0);
	kmutex_test_hook = hook;

	if (!RSEQ_REGISTERED) {
		/* glibc registered no rseq area (glibc.pthread.rseq=0, or the kernel refused) */
		printf("SKIP owner last ran here, owner elsewhere: no rseq area registered: the "
		       "owner-CPU rule is NOT tested here\n");
	} else {
		tally(run_case("owner last ran here", cpus[0], cpus[0], 0, "yz"), &passed, &failed);
		if (n < 2)
			printf("SKIP owner elsewhere: one CPU\n");
		else
			tally(run_case("owner elsewhere", cpus[1], cpus[0], 0, "jsyz"), &passed, &failed);
	}
	tally(run_case("real-time caller", cpus[n - 1], cpus[0], 1, "z"), &passed, &failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
