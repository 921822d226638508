/*
 * wait_lock: the small internal lock that guards a kmutex's wait list (the kernel's raw
 * spinlock wait_lock).  In user space its holder can be preempted, so a contender spins only
 * briefly and then sleeps on the lock word: it never spins forever behind a preempted holder.
 */
#ifndef KMX_WAIT_LOCK_H
#define KMX_WAIT_LOCK_H

#include <stdint.h>

#include "atomic.h"

/* Word states: FREE, HELD (no sleeper), HELD_CONTENDED (a contender may sleep on the word). */
enum { KMX_WL_FREE = 0, KMX_WL_HELD = 1, KMX_WL_CONTENDED = 2 };

void kmx_wait_lock_contended(uint32_t *word);
void kmx_wait_lock_wake(uint32_t *word);

static inline void kmx_wait_lock(uint32_t *word)
{
	uint32_t free_word = KMX_WL_FREE;

	/* ACQUIRE pairs with the RELEASE in kmx_wait_unlock: the list is read after it. */
	if (!kmx_try_cmpxchg(word, &free_word, KMX_WL_HELD, KMX_ACQUIRE))
		kmx_wait_lock_contended(word);
}

static inline void kmx_wait_unlock(uint32_t *word)
{
	/* RELEASE publishes the list updates to the next holder's ACQUIRE. */
	if (kmx_xchg(word, KMX_WL_FREE, KMX_RELEASE) == KMX_WL_CONTENDED)
		kmx_wait_lock_wake(word);
}

#endif /* KMX_WAIT_LOCK_H */
