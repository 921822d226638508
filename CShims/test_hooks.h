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

/* The same for krwsem (krwsem.c), with their own hook. */
enum krwsem_test_point {
	/* A waiter, reader or writer, dropped wait_lock and is about to sleep on its futex word
	 * (a reader: it has just seen that it is not granted yet). */
	KRWSEM_TP_WAITER_SLEEP,
	/* A writer waiter returned from its futex sleep and has not retaken wait_lock yet. */
	KRWSEM_TP_WRITER_WOKEN,
	/* A waker, under wait_lock, has just granted the lock to a queued reader and marked its
	 * wakeup (the futex wake comes after wait_lock is dropped). */
	KRWSEM_TP_READER_GRANTED,
};

#ifdef KMUTEX_TEST_HOOKS
extern void (*volatile krwsem_test_hook)(enum krwsem_test_point point, struct krwsem *sem);
/* The count word, the length of the wait list; and the count set, on a krwsem nobody uses. */
uint64_t krwsem_test_count(struct krwsem *sem);
int krwsem_test_nr_waiters(struct krwsem *sem);
void krwsem_test_set_count(struct krwsem *sem, uint64_t count);
#define KRWSEM_TEST_POINT(point, sem) \
	do { if (krwsem_test_hook) krwsem_test_hook((point), (sem)); } while (0)
#else
#define KRWSEM_TEST_POINT(point, sem) do { } while (0)
#endif

#ifdef KMUTEX_TEST_HOOKS
extern void (*volatile kmutex_test_hook)(enum kmutex_test_point point, struct kmutex *lock);
/* The raw owner word and the length of the wait list, for assertions. */
uintptr_t kmutex_test_owner_word(struct kmutex *lock);
int kmutex_test_nr_waiters(struct kmutex *lock);
/* The futex word the calling thread sleeps on as a waiter (Tests/regression/in_futex.h). */
const uint32_t *kmutex_test_wake_word(void);
/* Set: the spinning policy sees nothing of the scheduler (sched_view.h): every CPU unknown,
 * no caller real-time, as on a system without rseq; the rules that use them are out. */
extern volatile int kmutex_test_sched_view_off;
#define KMX_TEST_POINT(point, lock) \
	do { if (kmutex_test_hook) kmutex_test_hook((point), (lock)); } while (0)
#else
#define KMX_TEST_POINT(point, lock) do { } while (0)
#endif

#endif /* KMX_TEST_HOOKS_H */
