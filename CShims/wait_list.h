/*
 * The FIFO wait list of a kmutex: waiter nodes live on the waiters' stacks, linked in arrival
 * order.  Every change happens under wait_lock.  wait_head is also read without wait_lock, as
 * the kernel's __mutex_waiter_is_first() reads the list head, so its stores are atomic.
 */
#ifndef KMX_WAIT_LIST_H
#define KMX_WAIT_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "atomic.h"
#include "kmutex.h"

struct kmutex_waiter {
	struct kmutex_waiter *next;
	struct kmutex_waiter *prev;
	struct kmutex_task *task;
};

/*
 * Racy by design (no wait_lock), as mainline's __mutex_waiter_is_first(): the racy load of
 * M:woken.  The answer can be stale by the time it is used, and every user re-checks what
 * matters under wait_lock or with a cmpxchg of the owner word.
 */
static inline bool kmx_waiter_is_first(const struct kmutex *lock, const struct kmutex_waiter *waiter)
{
	return kmx_load(&lock->wait_head, KMX_RELAXED) == waiter;
}

/* Under wait_lock.  Returns true if the list was empty. */
static inline bool kmx_wait_list_add_tail(struct kmutex *lock, struct kmutex_waiter *waiter)
{
	struct kmutex_waiter *tail = lock->wait_tail;

	waiter->next = NULL;
	waiter->prev = tail;
	lock->wait_tail = waiter;
	if (tail) {
		tail->next = waiter;
		return false;
	}
	kmx_store(&lock->wait_head, waiter, KMX_RELAXED);
	return true;
}

/* Under wait_lock.  Returns true if the list is now empty. */
static inline bool kmx_wait_list_del(struct kmutex *lock, struct kmutex_waiter *waiter)
{
	if (waiter->prev)
		waiter->prev->next = waiter->next;
	else
		kmx_store(&lock->wait_head, waiter->next, KMX_RELAXED);
	if (waiter->next)
		waiter->next->prev = waiter->prev;
	else
		lock->wait_tail = waiter->prev;
	return lock->wait_tail == NULL;
}

/* Under wait_lock. */
static inline struct kmutex_waiter *kmx_wait_list_first(const struct kmutex *lock)
{
	return lock->wait_head; /* wait_lock held: no concurrent store */
}

#endif /* KMX_WAIT_LIST_H */
