/*
 * When kmutex hands the lock over unasked (kmutex.c, "when to hand over"): only to a head
 * waiter that is asleep and has been the head for handoff_after_ns (KMUTEX_HANDOFF_AFTER_US),
 * and then the unlock that wakes it hands it the lock with that same wakeup.  A head that is
 * awake (woken by an earlier unlock, not yet run) is never handed the lock unasked: it asks
 * itself when it runs.
 *
 * Threads: main owns the lock; W waits (KMUTEX_NO_SPIN keeps it on the wait list).
 * Case "owed" (1 ms): W is asleep; main waits 5 ms, then unlocks: the word must be
 *   W | PICKUP (one wakeup per handoff: W never ran to set HANDOFF).
 * Case "young" (60 s): the same unlock must release instead, flagging the head AWAKE.
 * Case "awake" (200 ms): main unlocks at once (W is young: released, AWAKE), W is woken and
 *   parked right after its futex sleep (KMUTEX_TP_WAITER_WOKEN), as if the scheduler had
 *   not run it; main steals the lock, waits 250 ms and unlocks: although W is now owed by
 *   time, it is awake, so the unlock must release (AWAKE), not hand over.  If main's first
 *   unlock came more than 200 ms after W queued (it then hands over, as "owed"), the case is
 *   run again: the outcome is checked, not assumed.
 * Either way W then runs and gets the lock.  With head_owed_handoff() taken out, "owed"
 * fails; with the time check taken out, "young" fails.  Two things keep an awake head from
 * being handed the lock: the AWAKE release, which skips wait_lock, and the asleep condition
 * on owed (for a head awake without AWAKE); with both taken out, "awake" fails.
 *
 * usage: handoff_time owed|young|awake   (the make rule sets KMUTEX_HANDOFF_AFTER_US per case)
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
static int park_w;                /* atomic: park W at its next wakeup */
static uintptr_t word_at_release; /* main's only: the owner word as its last unlock left it */
static sem_t w_parked, w_go;

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	/*
	 * Under wait_lock, before the futex wake: W cannot have run yet, so this is what the
	 * unlock did.  Read after kmutex_unlock() returns, the word may already be W's own
	 * (it woke, picked up or took the lock, and unlocked: 0), which made "owed" and
	 * "young" fail on a quiet machine where W runs at once on the other CPU.
	 */
	if (l == &lock && !is_w && point == KMUTEX_TP_UNLOCK_RELEASED)
		word_at_release = kmutex_test_owner_word(l);
	if (l == &lock && is_w && point == KMUTEX_TP_WAITER_WOKEN &&
	    __atomic_exchange_n(&park_w, 0, __ATOMIC_ACQ_REL)) {
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

/* main holds the lock; start W and wait until it is queued. */
static pthread_t start_waiter(int park)
{
	pthread_t w;

	__atomic_store_n(&park_w, park, __ATOMIC_RELEASE);
	pthread_create(&w, NULL, w_main, NULL);
	while (kmutex_test_nr_waiters(&lock) != 1)
		usleep(100);
	return w;
}

/*
 * The owner word as the unlock left it.  An unlock that releases without wait_lock (AWAKE
 * set) passes no test point: then W, parked or asleep, has not touched the word since.
 */
static uintptr_t unlock_and_look(void)
{
	word_at_release = UINTPTR_MAX;
	kmutex_unlock(&lock);
	return word_at_release != UINTPTR_MAX ? word_at_release : kmutex_test_owner_word(&lock);
}

int main(int argc, char **argv)
{
	const uintptr_t released = KMX_FLAG_WAITERS | KMX_FLAG_AWAKE;
	uintptr_t word, w_handed;
	pthread_t w;
	int tries = 0;

	if (argc != 2 || (strcmp(argv[1], "owed") && strcmp(argv[1], "young") &&
			  strcmp(argv[1], "awake"))) {
		fprintf(stderr, "usage: %s owed|young|awake\n", argv[0]);
		return 2;
	}
	alarm(60);
	sem_init(&w_parked, 0, 0);
	sem_init(&w_go, 0, 0);
	kmutex_init_flags(&lock, KMUTEX_NO_SPIN);
	kmutex_test_hook = hook;

	if (strcmp(argv[1], "awake")) {
		int owed = strcmp(argv[1], "owed") == 0;

		kmutex_lock(&lock);
		w = start_waiter(0);
		w_handed = __atomic_load_n(&w_self, __ATOMIC_ACQUIRE) | KMX_FLAG_PICKUP | KMX_FLAG_WAITERS;
		usleep(5000);   /* W has been the head > 1 ms (and < 60 s), asleep */
		word = unlock_and_look();
		if (owed && word != w_handed)
			fail("the unlock did not hand the lock to the sleeping head it woke", word);
		if (!owed && word != released)
			fail("the unlock did not release the lock to a young head", word);
		pthread_join(w, NULL);
		printf("handoff_time %s: %s\n", argv[1],
		       owed ? "handed to the sleeping head with its wakeup"
			    : "released, head flagged AWAKE");
	} else {
		for (;;) {
			tries++;
			kmutex_lock(&lock);
			w = start_waiter(1);
			w_handed = __atomic_load_n(&w_self, __ATOMIC_ACQUIRE) | KMX_FLAG_PICKUP |
				   KMX_FLAG_WAITERS;
			word = unlock_and_look(); /* wakes W, which parks after its sleep */
			if (word == released)
				break;
			if (word != w_handed || tries == 5)
				fail("the first unlock neither released nor handed over", word);
			/* More than 200 ms passed: W was owed already.  Let it finish, run again. */
			if (!__atomic_exchange_n(&park_w, 0, __ATOMIC_ACQ_REL)) {
				sem_wait(&w_parked); /* W's hook took the flag first */
				sem_post(&w_go);
			}
			pthread_join(w, NULL);
		}
		sem_wait(&w_parked);
		kmutex_lock(&lock);          /* the steal: W has not run */
		usleep(250000);              /* W has been the head > 200 ms, and is awake */
		word = unlock_and_look();
		if (word != released)
			fail("an unlock handed the lock to a head that was awake (woken, not yet run)",
			     word);
		sem_post(&w_go);
		pthread_join(w, NULL);
		printf("handoff_time awake: released to the awake head although it was owed by time "
		       "(%d tries)\n", tries);
	}
	if (kmutex_test_owner_word(&lock) != 0)
		fail("the lock was left owned or flagged", kmutex_test_owner_word(&lock));
	return 0;
}
