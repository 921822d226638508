/*
 * No spinning on a lock handed to a waiter that has not run yet (handoff_pending() in
 * kmutex.c, the part of the kernel's owner_on_cpu() that user space can see).  Such a lock
 * stays unused until the scheduler runs the woken waiter; a contender that spins on it burns
 * its whole budget (and, on a loaded machine, the CPU the waiter needs) for nothing.
 *
 * Threads: main, a waiter W, and a contender S.  The pause points report S's first step after
 * its failed trylock: a poll of the owner word (KMUTEX_TP_SPIN_ON_OWNER) or the sleep
 * (KMUTEX_TP_WAITER_SLEEP).
 *   running owner: main holds the lock (blocked in sem_wait, which looks running): S spins;
 *                  this also proves that the pause point is reached at all.
 *   handed over:   W sleeps on the list; a signal wakes it (a spurious wakeup for a plain
 *                  lock), it fails as the head and sets HANDOFF, and sleeps again; main
 *                  unlocks, handing the lock to W with PICKUP; W is held right after its
 *                  futex sleep (KMUTEX_TP_WAITER_WOKEN), as if the scheduler had not run it
 *                  yet.  S must go to sleep without one spin round.
 * Deterministic: each step waits for a state (a semaphore, W inside the futex syscall),
 * never for an amount of time.  With handoff_pending() taken out, "handed over" fails.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kmutex.h"
#include "owner.h"
#include "in_futex.h"
#include "test_hooks.h"

enum s_step { S_NONE, S_SPUN, S_SLEPT };
enum role { ROLE_OTHER, ROLE_W, ROLE_S };

static struct kmutex lock;
static __thread enum role role;   /* set by W and S themselves, for the hook */
static int s_step = S_NONE;       /* S's first step; atomic */
static long w_tid;                /* atomic */
static int w_wakes;               /* W's own */
static sem_t s_decided, w_asleep, w_handed, w_go;

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l != &lock)
		return;
	if (role == ROLE_S && (point == KMUTEX_TP_SPIN_ON_OWNER || point == KMUTEX_TP_WAITER_SLEEP)) {
		int none = S_NONE, step = point == KMUTEX_TP_SPIN_ON_OWNER ? S_SPUN : S_SLEPT;

		/* RELAXED: the semaphore orders it; the cmpxchg only keeps the first step. */
		if (__atomic_compare_exchange_n(&s_step, &none, step, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			sem_post(&s_decided);
	}
	if (role == ROLE_W && point == KMUTEX_TP_WAITER_SLEEP)
		sem_post(&w_asleep);
	if (role == ROLE_W && point == KMUTEX_TP_WAITER_WOKEN && ++w_wakes == 2) {
		sem_post(&w_handed);
		sem_wait(&w_go);
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

static void *w_main(void *arg)
{
	(void)arg;
	role = ROLE_W;
	__atomic_store_n(&w_tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	kmutex_lock(&lock);
	kmutex_unlock(&lock);
	return NULL;
}

static void *s_main(void *arg)
{
	(void)arg;
	role = ROLE_S;
	kmutex_lock(&lock);
	kmutex_unlock(&lock);
	return NULL;
}

static int check_step(const char *name, enum s_step want)
{
	int got = __atomic_load_n(&s_step, __ATOMIC_RELAXED);

	if (got != (int)want) {
		fprintf(stderr, "FAIL %s: S's first step was to %s, expected to %s\n", name,
			got == S_SPUN ? "spin" : "sleep", want == S_SPUN ? "spin" : "sleep");
		return 1;
	}
	printf("%s: S's first step was to %s\n", name, got == S_SPUN ? "spin" : "sleep");
	return 0;
}

static int running_owner(void)
{
	pthread_t s;

	__atomic_store_n(&s_step, S_NONE, __ATOMIC_RELAXED);
	kmutex_init(&lock);
	kmutex_lock(&lock);
	pthread_create(&s, NULL, s_main, NULL);
	sem_wait(&s_decided);
	kmutex_unlock(&lock);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return check_step("running owner", S_SPUN);
}

static int handed_over(void)
{
	pthread_t w, s;
	uintptr_t word;
	int failed = 0;

	__atomic_store_n(&s_step, S_NONE, __ATOMIC_RELAXED);
	kmutex_init(&lock);
	kmutex_lock(&lock);
	pthread_create(&w, NULL, w_main, NULL);
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
	pthread_create(&s, NULL, s_main, NULL);
	sem_wait(&s_decided);
	sem_post(&w_go);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return failed + check_step("handed over", S_SLEPT);
}

int main(void)
{
	struct sigaction sa;
	int failed = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: the futex sleep returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sem_init(&s_decided, 0, 0);
	sem_init(&w_asleep, 0, 0);
	sem_init(&w_handed, 0, 0);
	sem_init(&w_go, 0, 0);
	kmutex_test_hook = hook;
	failed += running_owner() != 0;
	failed += handed_over() != 0;
	printf("%d passed, %d failed\n", 2 - failed, failed);
	return failed != 0;
}
