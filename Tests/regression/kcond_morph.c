/*
 * Wait morphing (CShims/kcond.c): a broadcast while the mutex is held wakes nobody; it moves
 * every waiter onto the mutex's wait list, asleep, and the unlocks then wake them one at a
 * time.  Without morphing, a broadcast wakes all N waiters at once, and they stampede: each
 * runs, finds the mutex held and goes back to sleep on it.
 *
 * Deterministic: the checks are made by the broadcaster itself, right after kcond_broadcast
 * returns and before it unlocks, when no waiter can have run its code to queue itself:
 *  - the mutex's wait list holds exactly the N waiters (kmutex_test_nr_waiters);
 *  - no waiter has passed KMUTEX_TP_WAITER_SLEEP or _WOKEN: none queued itself on the mutex
 *    (a woken waiter that found the mutex held would have), nor returned;
 * and at the end every waiter returned, holding the mutex, once each.  A kcond that wakes the
 * waiters instead fails the first check (fewer waiters on the list at that instant) or, for
 * those woken threads quick enough to have queued already, the second.
 *
 * Also: a signal wakes its waiter rather than moving it (kcond.c says why).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kmutex.h"
#include "test_hooks.h"

#define NWAITERS 4

static struct kmutex lock;
static struct kcond cond;
static int waiting, ready, returned; /* under lock */
static int mutex_points;             /* atomic: WAITER_SLEEP and WAITER_WOKEN passes */

/* A waiter that queued itself on the mutex passes WAITER_SLEEP; a moved one does not. */
static void hook(enum kmutex_test_point point, struct kmutex *m)
{
	if (m == &lock && (point == KMUTEX_TP_WAITER_SLEEP || point == KMUTEX_TP_WAITER_WOKEN))
		__atomic_add_fetch(&mutex_points, 1, __ATOMIC_RELAXED);
}

static void fail(const char *what)
{
	fprintf(stderr, "kcond_morph: FAIL: %s\n", what);
	exit(1);
}

static void *waiter_main(void *arg)
{
	(void)arg;
	kmutex_lock(&lock);
	waiting++;
	while (ready == 0)
		kcond_wait(&cond, &lock);
	if (!kmutex_is_locked(&lock))
		fail("kcond_wait returned without the mutex");
	returned++;
	kmutex_unlock(&lock);
	return NULL;
}

/* All n waiters are asleep in kcond_wait: announced, and off the mutex (its list empty). */
static void await_sleepers(int n)
{
	for (;;) {
		int seen;

		kmutex_lock(&lock);
		seen = waiting;
		kmutex_unlock(&lock);
		if (seen == n)
			return;
		usleep(200);
	}
}

static void start_waiters(pthread_t *t, int n)
{
	kmutex_init_flags(&lock, KMUTEX_NO_SPIN);
	kcond_init(&cond);
	waiting = ready = returned = 0;
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, waiter_main, NULL);
	await_sleepers(n);
}

static void broadcast_moves_all(void)
{
	pthread_t t[NWAITERS];
	int on_list, points;

	start_waiters(t, NWAITERS);
	kmutex_lock(&lock);
	ready = 1;
	__atomic_store_n(&mutex_points, 0, __ATOMIC_RELAXED);
	kcond_broadcast(&cond);
	on_list = kmutex_test_nr_waiters(&lock);
	points = __atomic_load_n(&mutex_points, __ATOMIC_RELAXED);
	if (on_list != NWAITERS) {
		fprintf(stderr, "kcond_morph: %d waiters on the mutex's list after the broadcast\n",
			on_list);
		fail("broadcast did not move every waiter onto the mutex");
	}
	if (points != 0 || returned != 0)
		fail("a waiter ran before the mutex was unlocked (a stampede)");
	kmutex_unlock(&lock);
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(t[i], NULL);
	if (returned != NWAITERS)
		fail("not every waiter returned once");
	if (kmutex_is_locked(&lock) || kmutex_test_owner_word(&lock) != 0)
		fail("the mutex was left with an owner or flags");
	printf("kcond_morph: broadcast moved %d waiters onto the held mutex; all returned\n", on_list);
}

/*
 * A signal wakes its waiter instead (moving it was measured to be slower, see kcond.c): the
 * woken waiter, finding the mutex held (and not spinning: NO_SPIN), queues itself on the
 * mutex and passes KMUTEX_TP_WAITER_SLEEP; a moved waiter never would, and the wait below
 * would end in the alarm.
 */
static void signal_wakes_one(void)
{
	pthread_t t[2];

	start_waiters(t, 2);
	kmutex_lock(&lock);
	ready = 1;
	__atomic_store_n(&mutex_points, 0, __ATOMIC_RELAXED);
	kcond_signal(&cond);
	while (__atomic_load_n(&mutex_points, __ATOMIC_RELAXED) == 0)
		usleep(100);
	kcond_signal(&cond);
	kmutex_unlock(&lock);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (returned != 2)
		fail("not every waiter returned once");
	printf("kcond_morph: a signal woke its waiter, which queued itself on the mutex; both returned\n");
}

static void on_alarm(int sig)
{
	static const char msg[] = "kcond_morph: FAIL: timed out (a waiter never woke)\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(120);
	kmutex_test_hook = hook;
	broadcast_moves_all();
	signal_wakes_one();
	printf("kcond_morph: PASS\n");
	return 0;
}
