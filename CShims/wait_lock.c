#include "wait_lock.h"

#include "futex.h"

/* About a microsecond of polling: wait_lock sections are a few dozen instructions. */
#ifndef KMX_RELACY
#define WAIT_LOCK_SPINS 100
#else
#define WAIT_LOCK_SPINS 1 /* verify/weak: one poll, then the futex path */
#endif

void kmx_wait_lock_contended(uint32_t *word)
{
	for (int i = 0; i < WAIT_LOCK_SPINS; i++) {
		uint32_t free_word = KMX_WL_FREE;

		kmx_cpu_relax();
		/* Test before the cmpxchg so spinning does not bounce the line. */
		if (kmx_load(word, KMX_RELAXED) == KMX_WL_FREE &&
		    kmx_try_cmpxchg(word, &free_word, KMX_WL_HELD, KMX_ACQUIRE))
			return;
	}
	/*
	 * Mark the word contended before sleeping, so the holder's release wakes us.  Once we
	 * have swapped in CONTENDED we cannot tell whether others sleep too, so we keep it
	 * CONTENDED even when the swap finds the lock free: at worst one needless wake.
	 * ACQUIRE: the swap that finds FREE is our acquisition.
	 */
	while (kmx_xchg(word, KMX_WL_CONTENDED, KMX_ACQUIRE) != KMX_WL_FREE)
		kmx_futex_wait(word, KMX_WL_CONTENDED, 0);
}

void kmx_wait_lock_wake(uint32_t *word)
{
	kmx_futex_wake(word, 1);
}
