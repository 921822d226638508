/*
 * TSan and fences (issue 23 item 5): ThreadSanitizer does not model atomic_thread_fence, so
 * correct fenced code is reported as a race.  kmutex's one fence-based ordering (the v4.10
 * handoff acceptance) is written kmx_smp_mb__after_read() (atomic.h), an acquire load of the
 * word under TSan.  This program is the seed's shape: T0 writes the data and hands the word to
 * T1 with a RELEASE store; T1 accepts the handoff from a failed cmpxchg (a relaxed read) and
 * reads the data.  Built three ways (BARRIER=):
 *   helper (0): kmx_smp_mb__after_read(&word): TSan must stay silent;
 *   none   (1): no barrier, the seed's bug: TSan must report the race;
 *   fence  (2): kmx_smp_mb(), correct but invisible to TSan: reported (why the helper exists).
 * The order of the two threads does not matter: T1 waits until it sees the handoff, and TSan
 * judges happens-before from the declared orders, not from timing.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "atomic.h"

#ifndef BARRIER
#define BARRIER 0
#endif

static uintptr_t word = 1; /* "owned by T0" */
static int data;

static void *owner(void *arg)
{
	(void)arg;
	data = 42;
	kmx_store(&word, 2, KMX_RELEASE); /* handed to T1 */
	return NULL;
}

static void *acceptor(void *arg)
{
	uintptr_t expected;

	(void)arg;
	do {
		expected = 0;
		/* fails while the word is 1, and when it is 2: then we accept the handoff */
		(void)kmx_try_cmpxchg(&word, &expected, 3, KMX_ACQUIRE);
	} while (expected != 2);
#if BARRIER == 0
	kmx_smp_mb__after_read(&word);
#elif BARRIER == 2
	kmx_smp_mb();
#endif
	return (void *)(intptr_t)data;
}

int main(void)
{
	pthread_t t0, t1;
	void *seen;

	pthread_create(&t1, NULL, acceptor, NULL);
	pthread_create(&t0, NULL, owner, NULL);
	pthread_join(t0, NULL);
	pthread_join(t1, &seen);
	printf("tsan-fence (BARRIER=%d): read %d\n", BARRIER, (int)(intptr_t)seen);
	return (intptr_t)seen == 42 ? 0 : 1;
}
