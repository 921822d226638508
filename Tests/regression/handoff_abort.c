/*
 * Deterministic regression test for the hole reported at the end of the seed thread
 * (Chris Wilson, 2016-12-27, against "locking/mutex: Add lock handoff to avoid starvation"):
 *
 *   the head waiter sets HANDOFF, is interrupted (or times out) and leaves while another
 *   thread waits; the next unlock hands the lock to the new head, which decided earlier that it
 *   was not first, skips the handoff and leaves with -EINTR too: a lock handed to nobody.
 *
 * Mainline closed it with PICKUP and the trylock that runs under wait_lock before the signal
 * check ("locking/mutex: Fix mutex handoff", v4.11; "Fix HANDOFF condition", 2021).  Pause points
 * (test_hooks.h, build/hooks) force the exact interleaving; built against build/v410 (the v4.10
 * acceptance rule) this test must fail, and make test checks that it does.
 *
 * Threads: main owns the lock; W1 and W2 wait in that order (KMUTEX_NO_SPIN keeps the schedule
 * to the wait loop).  Steps:
 *   1. W2 wakes at once (it interrupts itself before sleeping), finds it is not first, fails
 *      its trylock, and is parked at KMUTEX_TP_WAITER_RETRY, before it retakes wait_lock;
 *   2. W1 is woken by a signal (case "interrupt") or by its deadline (case "timeout"), sets
 *      HANDOFF as the head, and leaves with -EINTR / -ETIMEDOUT: HANDOFF stays for W2;
 *   3. main unlocks: HANDOFF is set, so the lock is handed to W2;
 *   4. W2 resumes, with its own interruption pending.
 * Required: W2 picks the lock up (0), or else the lock is free; no flag outlives the last waiter.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmutex.h"
#include "owner.h"
#include "test_hooks.h"

enum role { ROLE_MAIN, ROLE_W1, ROLE_W2 };
enum scenario { HEAD_INTERRUPTED, HEAD_TIMED_OUT };

static __thread enum role role;
static struct kmutex lock;
static enum scenario scenario;
static struct timespec w1_deadline;
static uintptr_t w2_self;   /* W2's descriptor: the owner word it would be handed */
static int w1_result, w2_result;
static uintptr_t w2_owner_word_after; /* owner word W2 saw right after it returned 0 */
static sem_t w1_sleeping, w1_go, w2_parked, w2_resume;
static int w1_slept, w2_interrupted, w2_was_parked; /* touched by one thread each */
static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
	} } while (0)

static void on_sigusr1(int sig)
{
	(void)sig;
	kmutex_interrupt_self();
}

static void w1_at_sleep(void)
{
	if (w1_slept++)
		return;
	sem_post(&w1_sleeping);
	if (scenario == HEAD_TIMED_OUT) {
		/* Hold W1 until W2 is parked and the deadline has passed: its sleep then times out
		 * at once, without any timing assumption. */
		sem_wait(&w1_go);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &w1_deadline, NULL))
			;
	}
}

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l != &lock)
		return;
	if (role == ROLE_W1 && point == KMUTEX_TP_WAITER_SLEEP)
		w1_at_sleep();
	if (role == ROLE_W2 && point == KMUTEX_TP_WAITER_SLEEP && !w2_interrupted++)
		kmutex_interrupt_self(); /* W2's futex sleep returns at once: step 1 */
	if (role == ROLE_W2 && point == KMUTEX_TP_WAITER_RETRY && !w2_was_parked++) {
		sem_post(&w2_parked);
		sem_wait(&w2_resume);
	}
}

static void *w1_main(void *arg)
{
	(void)arg;
	role = ROLE_W1;
	if (scenario == HEAD_INTERRUPTED)
		w1_result = kmutex_lock_interruptible(&lock);
	else
		w1_result = kmutex_lock_timeout(&lock, &w1_deadline);
	if (w1_result == 0)
		kmutex_unlock(&lock);
	return NULL;
}

static void *w2_main(void *arg)
{
	(void)arg;
	role = ROLE_W2;
	__atomic_store_n(&w2_self, (uintptr_t)kmutex__self(), __ATOMIC_RELAXED);
	w2_result = kmutex_lock_interruptible(&lock);
	if (w2_result == 0) {
		w2_owner_word_after = kmutex_test_owner_word(&lock);
		kmutex_unlock(&lock);
	}
	return NULL;
}

static void wait_for_waiters(int n)
{
	while (kmutex_test_nr_waiters(&lock) != n)
		sched_yield();
}

static void run(enum scenario s)
{
	const char *name = s == HEAD_INTERRUPTED ? "head interrupted" : "head timed out";
	pthread_t w1, w2;
	uintptr_t word;

	scenario = s;
	w1_slept = w2_interrupted = w2_was_parked = 0;
	kmutex_init_flags(&lock, KMUTEX_NO_SPIN);
	clock_gettime(CLOCK_MONOTONIC, &w1_deadline);
	w1_deadline.tv_nsec += 20 * 1000 * 1000;
	if (w1_deadline.tv_nsec >= 1000000000L) {
		w1_deadline.tv_sec++;
		w1_deadline.tv_nsec -= 1000000000L;
	}

	kmutex_lock(&lock);
	pthread_create(&w1, NULL, w1_main, NULL);
	sem_wait(&w1_sleeping);
	pthread_create(&w2, NULL, w2_main, NULL);
	sem_wait(&w2_parked);                         /* step 1 done */
	CHECK(kmutex_test_nr_waiters(&lock) == 2, "%s: W1 and W2 should both wait", name);

	if (s == HEAD_INTERRUPTED)                    /* step 2 */
		pthread_kill(w1, SIGUSR1);
	else
		sem_post(&w1_go);
	pthread_join(w1, NULL);
	CHECK(w1_result == (s == HEAD_INTERRUPTED ? -EINTR : -ETIMEDOUT),
	      "%s: W1 returned %d", name, w1_result);
	word = kmutex_test_owner_word(&lock);
	CHECK(word & KMX_FLAG_HANDOFF, "%s: the departed head should have left HANDOFF (word %#lx)",
	      name, (unsigned long)word);
	wait_for_waiters(1);

	kmutex_unlock(&lock);                         /* step 3 */
	word = kmutex_test_owner_word(&lock);
	CHECK((word & ~KMX_FLAGS) == w2_self, "%s: unlock should hand the lock to W2 (word %#lx)",
	      name, (unsigned long)word);

	sem_post(&w2_resume);                         /* step 4 */
	pthread_join(w2, NULL);

	word = kmutex_test_owner_word(&lock);
	CHECK(!(w2_result == -EINTR && (word & ~KMX_FLAGS) == w2_self),
	      "%s: lock handed to nobody: W2 returned -EINTR and still owns it (word %#lx)",
	      name, (unsigned long)word);
	CHECK(w2_result == 0, "%s: W2 should pick up the handed-off lock, returned %d", name, w2_result);
	CHECK(w2_result != 0 || w2_owner_word_after == w2_self,
	      "%s: W2 owns the lock with flags left after the last waiter (word %#lx)",
	      name, (unsigned long)w2_owner_word_after);
	CHECK(word == 0, "%s: after everyone left the word must be 0, is %#lx", name, (unsigned long)word);
	CHECK(kmutex_test_nr_waiters(&lock) == 0, "%s: wait list not empty", name);
	if (word == 0) {
		CHECK(kmutex_trylock(&lock) == 1, "%s: the lock should be free", name);
		kmutex_unlock(&lock);
		kmutex_destroy(&lock);
	}
	printf("%s: W1 %d, W2 %d, final word %#lx\n", name, w1_result, w2_result, (unsigned long)word);
}

/* A lone head that set HANDOFF and leaves on a signal clears every flag on its way out
 * ("locking/mutex: clear MUTEX_FLAGS if wait_list is empty due to signal", 2021). */
static void run_lone_waiter(void)
{
	pthread_t w1;
	uintptr_t word;

	scenario = HEAD_INTERRUPTED;
	w1_slept = 0;
	kmutex_init_flags(&lock, KMUTEX_NO_SPIN);
	kmutex_lock(&lock);
	pthread_create(&w1, NULL, w1_main, NULL);
	sem_wait(&w1_sleeping);
	pthread_kill(w1, SIGUSR1);
	pthread_join(w1, NULL);
	word = kmutex_test_owner_word(&lock);
	CHECK(w1_result == -EINTR, "lone waiter: W1 returned %d", w1_result);
	CHECK(word == (uintptr_t)kmutex__self(), "lone waiter: flags outlived the last waiter (word %#lx)",
	      (unsigned long)word);
	kmutex_unlock(&lock);
	CHECK(kmutex_test_owner_word(&lock) == 0, "lone waiter: unlock left %#lx",
	      (unsigned long)kmutex_test_owner_word(&lock));
	kmutex_destroy(&lock);
	printf("lone waiter: W1 %d, word while owned %#lx\n", w1_result, (unsigned long)word);
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1; /* no SA_RESTART: either way the handler interrupts */
	sigaction(SIGUSR1, &sa, NULL);
	sem_init(&w1_sleeping, 0, 0);
	sem_init(&w1_go, 0, 0);
	sem_init(&w2_parked, 0, 0);
	sem_init(&w2_resume, 0, 0);
	kmutex_test_hook = hook;

	int failed = 0, before;

	before = failures, run(HEAD_INTERRUPTED), failed += failures > before;
	before = failures, run(HEAD_TIMED_OUT), failed += failures > before;
	before = failures, run_lone_waiter(), failed += failures > before;

	printf("%d passed, %d failed\n", 3 - failed, failed);
	return failed ? 1 : 0;
}
