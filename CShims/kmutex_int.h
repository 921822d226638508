/*
 * What the kcond unit (kcond.c) needs of the mutex's slow path in kmutex.c: the wait list and
 * its lock, for wait morphing, and the wait loop's helpers for deadlines and interruptions;
 * and what krwsem.c shares with it (clock, handoff time, OSQ size).
 */
#ifndef KMX_KMUTEX_INT_H
#define KMX_KMUTEX_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "atomic.h"
#include "kmutex.h"
#include "wait_list.h"

/* Far enough away to be never; an interruptible sleep uses it so that a handler ends it. */
extern const struct timespec kmx_far_future;

/* Has the absolute deadline passed, on the clock that mode names (KMUTEX__REALTIME)? */
bool kmx_deadline_passed(const struct timespec *deadline, int mode);
/* Should an interruptible wait give up?  Consumes kmutex_interrupt_self()'s pending flag. */
bool kmx_interrupted(int mode, bool signalled);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kmx_monotonic_ns(void);
/*
 * A time given in microseconds by the environment variable var (the handoff times), else
 * default_ns; read once into *cache, which starts as KMX_ENV_UNSET.  RELAXED: every thread
 * computes the same value.
 */
#define KMX_ENV_UNSET UINT64_MAX

static inline uint64_t kmx_env_time_ns(uint64_t *cache, const char *var, uint64_t default_ns)
{
	uint64_t ns = kmx_load(cache, KMX_RELAXED);

	if (kmx_unlikely(ns == KMX_ENV_UNSET)) {
		const char *env = getenv(var);

		ns = env && *env ? strtoull(env, NULL, 10) * 1000ull : default_ns;
		kmx_store(cache, ns, KMX_RELAXED);
	}
	return ns;
}

/* How many threads may queue on an OSQ: one per CPU but the owner's (krwsem.c uses it too). */
uint32_t kmx_max_osq_spinners(void);

void kmx_lock_wait_list(struct kmutex *lock);
void kmx_unlock_wait_list(struct kmutex *lock);
/* Under the mutex's wait_lock: queue a kcond waiter's node as a mutex waiter; the old state. */
uint32_t kmx_enqueue_moved_waiter(struct kmutex *lock, struct kmutex_waiter *waiter);
/*
 * Under the wait_lock, after queueing moved waiters: set WAITERS, and if the mutex is free (so
 * no unlock is coming to wake its head), wake the head.  Returns the task to futex-wake after
 * dropping the locks, or NULL.
 */
struct kmutex_task *kmx_wake_moved_head(struct kmutex *lock);
/* The moved waiter's thread, after its sleep: acquire the mutex as a woken waiter. */
void kmx_lock_moved_waiter(struct kmutex *lock, struct kmutex_waiter *waiter);
bool kmx_owned_by_self(const struct kmutex *lock);

#endif /* KMX_KMUTEX_INT_H */
