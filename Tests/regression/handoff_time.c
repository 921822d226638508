/*
 * When kmutex hands the lock over (kmutex.c, "when to hand over"): only to a head waiter that
 * an earlier unlock woke and that has waited handoff_after_ns (KMUTEX_HANDOFF_AFTER_US), and
 * then the unlocker hands it over directly, even if the head has not run since its wakeup.
 *
 * Threads: main owns the lock; W waits (KMUTEX_NO_SPIN keeps it on the wait list).
 *   1. main unlocks: W is woken (its first wakeup) but parked right after its futex sleep
 *      (KMUTEX_TP_WAITER_WOKEN), as if the scheduler had not run it yet; main takes the lock
 *      back at once (a steal) and waits until W has been on the list longer than the
 *      handoff time (a sleep only makes the wait longer, so this is deterministic);
 *   2. main unlocks again (and steals again, up to eight times, 5 ms apart).
 * Case "owed" (run with a 1 ms handoff time): within four unlocks one must hand the lock to W
 * (owner word = W | PICKUP), although W never ran to set HANDOFF: one wakeup per handoff.
 * Case "young" (run with a 60 s handoff time): every one must release the lock instead (no
 * PICKUP): W has not waited long enough to be owed it.
 * Either way W then runs and gets the lock.  With head_owed_handoff() taken out, "owed" fails;
 * with the time check taken out, "young" fails.
 *
 * usage: handoff_time owed|young   (the make rule sets KMUTEX_HANDOFF_AFTER_US per case)
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmutex.h"
#include "owner.h"
#include "test_hooks.h"

static struct kmutex lock;
static __thread int is_w;
static uintptr_t w_self;          /* atomic */
static int w_wakes;               /* W's own */
static sem_t w_parked, w_go;

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l == &lock && is_w && point == KMUTEX_TP_WAITER_WOKEN && !w_wakes++) {
		sem_post(&w_parked);
		sem_wait(&w_go);
	}
}

static void *w_main(void *arg)
{
	(void)arg;
	is_w = 1;
	__atomic_store_n(&w_self, (uintptr_t)kmutex__self(), __ATOMIC_RELEASE);
	kmutex_lock(&lock);
	kmutex_unlock(&lock);
	return NULL;
}

static void fail(const char *what, uintptr_t word)
{
	fprintf(stderr, "handoff_time: FAIL: %s (owner word %#lx)\n", what, (unsigned long)word);
	exit(1);
}

int main(int argc, char **argv)
{
	pthread_t w;
	uintptr_t word = 0, self;
	int owed, handed = 0;

	if (argc != 2 || (strcmp(argv[1], "owed") && strcmp(argv[1], "young"))) {
		fprintf(stderr, "usage: %s owed|young\n", argv[0]);
		return 2;
	}
	owed = strcmp(argv[1], "owed") == 0;
	alarm(60);
	sem_init(&w_parked, 0, 0);
	sem_init(&w_go, 0, 0);
	kmutex_init_flags(&lock, KMUTEX_NO_SPIN);
	kmutex_test_hook = hook;

	kmutex_lock(&lock);
	pthread_create(&w, NULL, w_main, NULL);
	while (kmutex_test_nr_waiters(&lock) != 1)
		usleep(100);
	kmutex_unlock(&lock);           /* step 1: wakes W, which parks after its sleep */
	sem_wait(&w_parked);
	kmutex_lock(&lock);             /* the steal: W has not run */
	self = __atomic_load_n(&w_self, __ATOMIC_ACQUIRE);
	/*
	 * Step 2, repeated: the unlocker looks at the clock every fourth time it passes the head
	 * over (OWED_CHECK_EVERY in kmutex.c), so within four more unlocks an owed head is handed
	 * the lock; a young one never is.
	 */
	for (int round = 1; round <= 8 && !handed; round++) {
		usleep(5000);           /* W has now waited > 1 ms (and < 60 s) */
		kmutex_unlock(&lock);
		word = kmutex_test_owner_word(&lock);
		if (word == (self | KMX_FLAG_PICKUP | KMX_FLAG_WAITERS))
			handed = round;
		else if (kmx_owner_task(word))
			fail("the lock is owned by someone unexpected", word);
		else
			kmutex_lock(&lock); /* steal it again */
	}
	if (owed && (!handed || handed > 4))
		fail("the unlocks did not hand the lock to the head they had woken", word);
	if (!owed && handed)
		fail("an unlock handed the lock to a head that had not waited long", word);
	if (!handed)
		kmutex_unlock(&lock);
	sem_post(&w_go);
	pthread_join(w, NULL);
	if (kmutex_test_owner_word(&lock) != 0)
		fail("the lock was left owned or flagged", kmutex_test_owner_word(&lock));
	if (owed)
		printf("handoff_time owed: handed to the woken head, without it running, at unlock %d\n",
		       handed + 1);
	else
		printf("handoff_time young: released 9 times, never handed over\n");
	return 0;
}
