/*
 * When a contender must not spin (kmutex.c, optimistic_spin()):
 *  - on a lock handed to a waiter that has not run yet (handoff_pending(), the part of the
 *    kernel's owner_on_cpu() that user space can see): the lock stays unused until the
 *    scheduler runs that waiter, and spinning on it burns the budget (and, on a loaded
 *    machine, the CPU the waiter needs) for nothing;
 *  - in an OSQ that already has a spinner for every CPU but the owner's (kmx_osq_full()),
 *    the bound the kernel's per-CPU nodes give its queue.  The test runs on one CPU, where
 *    that is one spinner.
 *
 * Threads: main, a waiter W, a first spinner S1, and the contender S.  The pause points report
 * whether S joined the OSQ (KMUTEX_TP_OSQ_JOIN) and which came first, a poll of the owner
 * word (KMUTEX_TP_SPIN_ON_OWNER) or the sleep (KMUTEX_TP_WAITER_SLEEP).
 *   running owner: main holds the lock (blocked in sem_wait, which looks running): S joins
 *                  the OSQ and spins; this also proves that the pause points are reached.
 *   handed over:   W sleeps on the list; a signal wakes it (a spurious wakeup for a plain
 *                  lock), it fails as the head and sets HANDOFF, and sleeps again; main
 *                  unlocks, handing the lock to W with PICKUP; W is held right after its
 *                  futex sleep (KMUTEX_TP_WAITER_WOKEN), as if the scheduler had not run it
 *                  yet.  S must go to sleep without joining the OSQ or spinning.
 *   full OSQ:      S1 is held at the head of the OSQ, spinning on main; S must go to sleep
 *                  without joining the OSQ.
 * Deterministic: each step waits for a state (a semaphore, W inside the futex syscall),
 * never for an amount of time.  With handoff_pending() or kmx_osq_full() taken out, its case
 * fails.
 */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kmutex.h"
#include "owner.h"
#include "in_futex.h"
#include "test_hooks.h"

enum s_step { S_NONE, S_SPUN, S_SLEPT };
enum role { ROLE_OTHER, ROLE_W, ROLE_S1, ROLE_S };

static struct kmutex lock;
static __thread enum role role;   /* set by each thread itself, for the hook */
static int s_step = S_NONE;       /* S's first step, spin or sleep; atomic */
static int s_joined;              /* S joined the OSQ before that step; atomic */
static long w_tid;                /* atomic */
static int w_wakes;               /* W's own */
static int s1_spins;              /* S1's own */
static sem_t s_decided, w_asleep, w_handed, w_go, s1_spinning, s1_go;

static void s_hook(enum kmutex_test_point point)
{
	int none = S_NONE, step;

	if (point == KMUTEX_TP_OSQ_JOIN && __atomic_load_n(&s_step, __ATOMIC_RELAXED) == S_NONE)
		__atomic_store_n(&s_joined, 1, __ATOMIC_RELAXED);
	if (point != KMUTEX_TP_SPIN_ON_OWNER && point != KMUTEX_TP_WAITER_SLEEP)
		return;
	step = point == KMUTEX_TP_SPIN_ON_OWNER ? S_SPUN : S_SLEPT;
	/* RELAXED: the semaphore orders it; the cmpxchg only keeps the first step. */
	if (__atomic_compare_exchange_n(&s_step, &none, step, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		sem_post(&s_decided);
}

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l != &lock)
		return;
	if (role == ROLE_S)
		s_hook(point);
	if (role == ROLE_W && point == KMUTEX_TP_WAITER_SLEEP)
		sem_post(&w_asleep);
	if (role == ROLE_W && point == KMUTEX_TP_WAITER_WOKEN && ++w_wakes == 2) {
		sem_post(&w_handed);
		sem_wait(&w_go);
	}
	/* S1 stays at the head of the OSQ, polling the owner word, until told to go on. */
	if (role == ROLE_S1 && point == KMUTEX_TP_SPIN_ON_OWNER && !s1_spins++) {
		sem_post(&s1_spinning);
		sem_wait(&s1_go);
	}
}

static void on_usr1(int sig) { (void)sig; }

/* W is blocked in the futex syscall (after the sleep point nothing else can block it). */
static int w_in_futex(void)
{
	return thread_in_futex(__atomic_load_n(&w_tid, __ATOMIC_ACQUIRE));
}

static void wait_until_w_sleeps(void)
{
	sem_wait(&w_asleep);
	while (!w_in_futex())
		sched_yield();
}

static void *locker_main(void *arg)
{
	role = *(enum role *)arg;
	if (role == ROLE_W)
		__atomic_store_n(&w_tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	kmutex_lock(&lock);
	kmutex_unlock(&lock);
	return NULL;
}

static pthread_t start_locker(enum role r)
{
	static enum role roles[] = { ROLE_OTHER, ROLE_W, ROLE_S1, ROLE_S };
	pthread_t t;

	pthread_create(&t, NULL, locker_main, &roles[r]);
	return t;
}

static void reset_case(void)
{
	__atomic_store_n(&s_step, S_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&s_joined, 0, __ATOMIC_RELAXED);
	kmutex_init(&lock);
}

static const char *step_name(int step, int joined)
{
	if (step == S_SPUN)
		return joined ? "join the OSQ and spin" : "spin";
	return joined ? "join the OSQ, then sleep" : "sleep";
}

static int check_step(const char *name, enum s_step want, int want_joined)
{
	int got = __atomic_load_n(&s_step, __ATOMIC_RELAXED);
	int joined = __atomic_load_n(&s_joined, __ATOMIC_RELAXED);

	if (got != (int)want || joined != want_joined) {
		fprintf(stderr, "FAIL %s: S chose to %s, expected to %s\n", name,
			step_name(got, joined), step_name(want, want_joined));
		return 1;
	}
	printf("%s: S chose to %s\n", name, step_name(got, joined));
	return 0;
}

static int running_owner(void)
{
	pthread_t s;

	reset_case();
	kmutex_lock(&lock);
	s = start_locker(ROLE_S);
	sem_wait(&s_decided);
	kmutex_unlock(&lock);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return check_step("running owner", S_SPUN, 1);
}

static int handed_over(void)
{
	pthread_t w, s;
	uintptr_t word;
	int failed = 0;

	reset_case();
	kmutex_lock(&lock);
	w = start_locker(ROLE_W);
	wait_until_w_sleeps();
	pthread_kill(w, SIGUSR1);   /* W wakes, sets HANDOFF as the head, fails, sleeps again */
	wait_until_w_sleeps();
	if (!(kmutex_test_owner_word(&lock) & KMX_FLAG_HANDOFF)) {
		fprintf(stderr, "FAIL handed over: W did not set HANDOFF (word %#lx)\n",
			(unsigned long)kmutex_test_owner_word(&lock));
		failed++;
	}
	kmutex_unlock(&lock);       /* handed to W, who is held before its pickup */
	sem_wait(&w_handed);
	word = kmutex_test_owner_word(&lock);
	if (!(word & KMX_FLAG_PICKUP)) {
		fprintf(stderr, "FAIL handed over: no PICKUP after the unlock (word %#lx)\n",
			(unsigned long)word);
		failed++;
	}
	s = start_locker(ROLE_S);
	sem_wait(&s_decided);
	sem_post(&w_go);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return failed + check_step("handed over", S_SLEPT, 0);
}

static int full_osq(void)
{
	pthread_t s1, s;

	reset_case();
	kmutex_lock(&lock);
	s1 = start_locker(ROLE_S1);
	sem_wait(&s1_spinning);     /* S1 is the OSQ's head, and its only node */
	s = start_locker(ROLE_S);
	sem_wait(&s_decided);
	sem_post(&s1_go);
	kmutex_unlock(&lock);
	pthread_join(s1, NULL);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return check_step("full OSQ", S_SLEPT, 0);
}

/* One CPU: the OSQ's bound is then one spinner, whatever machine the test runs on. */
static void run_on_one_cpu(void)
{
	cpu_set_t cpus, one;

	CPU_ZERO(&one);
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &cpus)) {
				CPU_SET(c, &one);
				break;
			}
	if (CPU_COUNT(&one) != 1 || sched_setaffinity(0, sizeof(one), &one) != 0) {
		perror("spin_policy: cannot run on one CPU");
		exit(2);
	}
}

int main(void)
{
	struct sigaction sa;
	int failed = 0;

	run_on_one_cpu();           /* before the first spin, which reads the CPU count */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: the futex sleep returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sem_init(&s_decided, 0, 0);
	sem_init(&w_asleep, 0, 0);
	sem_init(&w_handed, 0, 0);
	sem_init(&w_go, 0, 0);
	sem_init(&s1_spinning, 0, 0);
	sem_init(&s1_go, 0, 0);
	kmutex_test_hook = hook;
	failed += running_owner() != 0;
	failed += handed_over() != 0;
	failed += full_osq() != 0;
	printf("%d passed, %d failed\n", 3 - failed, failed);
	return failed != 0;
}
