/*
 * Pause points for deterministic tests of races, compiled only into test builds
 * (-DKMUTEX_TEST_HOOKS).  A test installs kmutex_test_hook; each point calls it with the
 * mutex, in the thread that reached the point, and the hook may block that thread to force
 * an interleaving.  In other builds the points compile to nothing.
 */
#ifndef KMX_TEST_HOOKS_H
#define KMX_TEST_HOOKS_H

#include "kmutex.h"

enum kmutex_test_point {
	/* A waiter dropped wait_lock and is about to sleep on its futex word. */
	KMUTEX_TP_WAITER_SLEEP,
	/* A waiter returned from its futex sleep and has not looked at the lock yet. */
	KMUTEX_TP_WAITER_WOKEN,
	/* A waiter woke, recomputed `first`, and its trylock-or-handoff and spin failed; it is
	 * about to retake wait_lock. */
	KMUTEX_TP_WAITER_RETRY,
	/* An unlock with waiters has released (or handed over) the owner word and still holds
	 * wait_lock: its last access to the mutex is still to come. */
	KMUTEX_TP_UNLOCK_RELEASED,
	/* A thread that is not a waiter is about to join the OSQ. */
	KMUTEX_TP_OSQ_JOIN,
	/* A spinner is about to poll the owner word once more: the same owner, no PICKUP. */
	KMUTEX_TP_SPIN_ON_OWNER,
	/* A contender whose spin failed is about to yield its CPU and try again. */
	KMUTEX_TP_YIELD,
};

#ifdef KMUTEX_TEST_HOOKS
extern void (*volatile kmutex_test_hook)(enum kmutex_test_point point, struct kmutex *lock);
/* The raw owner word and the length of the wait list, for assertions. */
uintptr_t kmutex_test_owner_word(struct kmutex *lock);
int kmutex_test_nr_waiters(struct kmutex *lock);
#define KMX_TEST_POINT(point, lock) \
	do { if (kmutex_test_hook) kmutex_test_hook((point), (lock)); } while (0)
#else
#define KMX_TEST_POINT(point, lock) do { } while (0)
#endif

#endif /* KMX_TEST_HOOKS_H */
