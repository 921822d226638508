/*
 * Unit tests of kcond (CShims/include/kmutex.h): every call and return code, with one waiter
 * and with several.  Waits are always for a state (a predicate, a thread asleep), never for an
 * amount of time; the deadlines below are only upper bounds a broken kcond would hit.
 */
#include "kmutex.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "check.h"

#define NWAITERS 4

static struct kmutex lock;
static struct kcond cond;
static int ready;        /* under lock */
static int woken;        /* under lock */
static int waiting;      /* under lock: waiters about to wait or waiting */

/* Wait until n waiters have announced themselves and released the mutex in kcond_wait. */
static void await_waiters(int n)
{
	for (;;) {
		int seen;

		kmutex_lock(&lock);
		seen = waiting;
		kmutex_unlock(&lock);
		if (seen >= n)
			return;
		sleep_us(200);
	}
}

static void reset(void)
{
	kmutex_init(&lock);
	kcond_init(&cond);
	ready = woken = waiting = 0;
}

static void *plain_waiter(void *arg)
{
	(void)arg;
	kmutex_lock(&lock);
	waiting++;
	while (!ready)
		kcond_wait(&cond, &lock);
	if (!kmutex_is_locked(&lock))
		abort(); /* kcond_wait returned without the mutex */
	woken++;
	kmutex_unlock(&lock);
	return NULL;
}

static void test_signal_wakes_a_waiter(void)
{
	pthread_t t;

	reset();
	pthread_create(&t, NULL, plain_waiter, NULL);
	await_waiters(1);
	kmutex_lock(&lock);
	ready = 1;
	kcond_signal(&cond);
	kmutex_unlock(&lock);
	pthread_join(t, NULL);
	CHECK(woken == 1);
	kcond_destroy(&cond);
	kmutex_destroy(&lock);
}

/* Signal with nobody waiting is a no-op, and a later waiter does not see it (no memory). */
static void test_signal_without_waiters_is_forgotten(void)
{
	struct timespec deadline;

	reset();
	kcond_signal(&cond);
	kcond_broadcast(&cond);
	kmutex_lock(&lock);
	deadline = ts_add_ns(mono_now(), 20 * 1000000LL);
	CHECK(kcond_wait_timeout(&cond, &lock, &deadline) == -ETIMEDOUT);
	CHECK(kmutex_is_locked(&lock));
	kmutex_unlock(&lock);
	kcond_destroy(&cond);
}

static void test_broadcast_wakes_all(void)
{
	pthread_t t[NWAITERS];

	reset();
	for (int i = 0; i < NWAITERS; i++)
		pthread_create(&t[i], NULL, plain_waiter, NULL);
	await_waiters(NWAITERS);
	kmutex_lock(&lock);
	ready = 1;
	kcond_broadcast(&cond);
	kmutex_unlock(&lock);
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(t[i], NULL);
	CHECK(woken == NWAITERS);
	kcond_destroy(&cond);
}

/* Broadcast and signal from a thread that does not hold the mutex (POSIX allows it). */
static void test_wake_without_the_mutex(void)
{
	pthread_t t[NWAITERS];

	reset();
	for (int i = 0; i < NWAITERS; i++)
		pthread_create(&t[i], NULL, plain_waiter, NULL);
	await_waiters(NWAITERS);
	kmutex_lock(&lock);
	ready = 1;
	kmutex_unlock(&lock);
	kcond_signal(&cond);
	kcond_broadcast(&cond);
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(t[i], NULL);
	CHECK(woken == NWAITERS);
	kcond_destroy(&cond);
}

/* One signal per waiter, each from under the mutex: each wakes exactly one. */
static void test_signals_wake_one_each(void)
{
	pthread_t t[NWAITERS];

	reset();
	for (int i = 0; i < NWAITERS; i++)
		pthread_create(&t[i], NULL, plain_waiter, NULL);
	await_waiters(NWAITERS);
	kmutex_lock(&lock);
	ready = 1;
	for (int i = 0; i < NWAITERS; i++)
		kcond_signal(&cond);
	kmutex_unlock(&lock);
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(t[i], NULL);
	CHECK(woken == NWAITERS);
	kcond_destroy(&cond);
}

static void test_timeout(void)
{
	struct timespec start, deadline;

	reset();
	kmutex_lock(&lock);
	start = mono_now();
	deadline = ts_add_ns(start, 5 * 1000000LL);
	CHECK(kcond_wait_timeout(&cond, &lock, &deadline) == -ETIMEDOUT);
	CHECK(ts_after_eq(mono_now(), deadline)); /* not early */
	CHECK(kmutex_is_locked(&lock));
	/* A deadline already past times out at once, with the mutex held again. */
	CHECK(kcond_wait_timeout(&cond, &lock, &start) == -ETIMEDOUT);
	CHECK(kmutex_is_locked(&lock));
	kmutex_unlock(&lock);
	kcond_destroy(&cond);
}

static void test_timeout_einval(void)
{
	struct timespec bad = { .tv_sec = 0, .tv_nsec = 1000000000L };

	reset();
	kmutex_lock(&lock);
	CHECK(kcond_wait_timeout(&cond, &lock, &bad) == -EINVAL);
	bad.tv_nsec = -1;
	CHECK(kcond_wait_timeout(&cond, &lock, &bad) == -EINVAL);
	CHECK(kmutex_is_locked(&lock));
	kmutex_unlock(&lock);
}

static void *timed_waiter(void *arg)
{
	struct timespec deadline = ts_add_ns(mono_now(), 60 * 1000000000LL);
	int *ret = arg;

	kmutex_lock(&lock);
	waiting++;
	while (!ready && *ret == 0)
		*ret = kcond_wait_timeout(&cond, &lock, &deadline);
	woken++;
	kmutex_unlock(&lock);
	return NULL;
}

static void test_timed_wait_signalled(void)
{
	pthread_t t;
	int ret = 0;

	reset();
	pthread_create(&t, NULL, timed_waiter, &ret);
	await_waiters(1);
	kmutex_lock(&lock);
	ready = 1;
	kcond_signal(&cond);
	kmutex_unlock(&lock);
	pthread_join(t, NULL);
	CHECK(ret == 0 && woken == 1);
	kcond_destroy(&cond);
}

/* ---- interruption ------------------------------------------------------------------------ */

static int interrupt_self;  /* the handler calls kmutex_interrupt_self() */

static void on_sigusr1(int sig)
{
	(void)sig;
	if (interrupt_self)
		kmutex_interrupt_self();
}

static void *interruptible_waiter(void *arg)
{
	int *ret = arg;

	kmutex_lock(&lock);
	waiting++;
	while (!ready && *ret == 0)
		*ret = kcond_wait_interruptible(&cond, &lock);
	if (!kmutex_is_locked(&lock))
		abort();
	kmutex_unlock(&lock);
	return NULL;
}

static void interrupt_waiter(int self_flag, int *ret)
{
	pthread_t t;
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	reset();
	interrupt_self = self_flag;
	sigaction(SIGUSR1, &sa, NULL);
	*ret = 0;
	pthread_create(&t, NULL, interruptible_waiter, ret);
	await_waiters(1);
	/* Keep signalling until the wait ends: one that lands before the sleep may be lost
	 * for a handler that does not call kmutex_interrupt_self (as documented). */
	for (int i = 0; i < 20000; i++) {
		int done;

		pthread_kill(t, SIGUSR1);
		sleep_us(500);
		kmutex_lock(&lock);
		done = *ret != 0;
		kmutex_unlock(&lock);
		if (done)
			break;
	}
	pthread_join(t, NULL);
	kcond_destroy(&cond);
}

static void test_interruptible_handler(void)
{
	int ret;

	interrupt_waiter(0, &ret);
	CHECK(ret == -EINTR);
}

static void test_interruptible_interrupt_self(void)
{
	int ret;

	interrupt_waiter(1, &ret);
	CHECK(ret == -EINTR);
}

static void test_interruptible_signalled(void)
{
	pthread_t t;
	int ret = 0;

	reset();
	pthread_create(&t, NULL, interruptible_waiter, &ret);
	await_waiters(1);
	kmutex_lock(&lock);
	ready = 1;
	kcond_broadcast(&cond);
	kmutex_unlock(&lock);
	pthread_join(t, NULL);
	CHECK(ret == 0);
	kcond_destroy(&cond);
}

/* A pending interruption ends the next interruptible wait at once, and is consumed. */
static void test_pending_interruption(void)
{
	struct timespec deadline;

	reset();
	kmutex_lock(&lock);
	kmutex_interrupt_self();
	CHECK(kcond_wait_interruptible(&cond, &lock) == -EINTR);
	CHECK(kmutex_is_locked(&lock));
	deadline = ts_add_ns(mono_now(), 2 * 1000000LL);
	CHECK(kcond_wait_timeout(&cond, &lock, &deadline) == -ETIMEDOUT); /* ignores it anyway */
	kmutex_unlock(&lock);
}

/* ---- lifetime -------------------------------------------------------------------------- */

/*
 * POSIX: a condition variable may be destroyed once no thread is blocked on it, e.g. right
 * after a broadcast, even with the mutex still held and the woken waiters not yet returned.
 * Destroy then must neither wait for those waiters (they need the mutex: deadlock) nor let
 * them touch the kcond afterwards (the poison below would break their wait).
 */
static void test_destroy_right_after_broadcast(void)
{
	pthread_t t[NWAITERS];

	reset();
	for (int i = 0; i < NWAITERS; i++)
		pthread_create(&t[i], NULL, plain_waiter, NULL);
	await_waiters(NWAITERS);
	kmutex_lock(&lock);
	ready = 1;
	kcond_broadcast(&cond);
	kcond_destroy(&cond);
	memset(&cond, 0xee, sizeof(cond));
	kmutex_unlock(&lock);
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(t[i], NULL);
	CHECK(woken == NWAITERS);
}

/* The zero-filled kcond is valid, as DEFINE_KCOND and KCOND_INITIALIZER make it. */
static DEFINE_KCOND(static_cond);

static void test_static_initializer(void)
{
	struct timespec deadline;

	reset();
	kmutex_lock(&lock);
	deadline = ts_add_ns(mono_now(), 1000000LL);
	CHECK(kcond_wait_timeout(&static_cond, &lock, &deadline) == -ETIMEDOUT);
	kmutex_unlock(&lock);
	kcond_destroy(&static_cond);
}

/* Many rounds of broadcast and signal with waiters coming and going, all accounted for. */
static void *round_waiter(void *arg)
{
	int rounds = (int)(intptr_t)arg;

	for (int r = 1; r <= rounds; r++) {
		kmutex_lock(&lock);
		waiting++;
		while (ready < r)
			kcond_wait(&cond, &lock);
		woken++;
		kmutex_unlock(&lock);
	}
	return NULL;
}

static void test_rounds(void)
{
	enum { ROUNDS = 300 };
	pthread_t t[NWAITERS];

	reset();
	for (int i = 0; i < NWAITERS; i++)
		pthread_create(&t[i], NULL, round_waiter, (void *)(intptr_t)ROUNDS);
	for (int r = 1; r <= ROUNDS; r++) {
		await_waiters(r * NWAITERS);
		kmutex_lock(&lock);
		ready = r;
		if (r % 3 == 0) {
			for (int i = 0; i < NWAITERS; i++)
				kcond_signal(&cond);
		} else {
			kcond_broadcast(&cond);
		}
		kmutex_unlock(&lock);
	}
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(t[i], NULL);
	CHECK(woken == ROUNDS * NWAITERS);
	kcond_destroy(&cond);
}

int main(void)
{
	check_start(300);
	RUN(test_signal_wakes_a_waiter);
	RUN(test_signal_without_waiters_is_forgotten);
	RUN(test_broadcast_wakes_all);
	RUN(test_wake_without_the_mutex);
	RUN(test_signals_wake_one_each);
	RUN(test_timeout);
	RUN(test_timeout_einval);
	RUN(test_timed_wait_signalled);
	RUN(test_interruptible_handler);
	RUN(test_interruptible_interrupt_self);
	RUN(test_interruptible_signalled);
	RUN(test_pending_interruption);
	RUN(test_destroy_right_after_broadcast);
	RUN(test_static_initializer);
	RUN(test_rounds);
	return check_finish();
}
