/*
 * The FIFO wait lists of kmutex and kcond: waiter nodes live on the waiters' stacks, linked in
 * arrival order into a circular doubly linked list whose head is one pointer (the tail is
 * head->prev), so that a struct kmutex needs one word for its list.  Every change happens under
 * the owning object's internal lock.  A kmutex's head is also read without wait_lock, as the
 * kernel's __mutex_waiter_is_first() reads the list head, so stores of the head are atomic.
 */
#ifndef KMX_WAIT_LIST_H
#define KMX_WAIT_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "kmutex.h"

/* Values of kmutex_waiter.state: where a node is (kcond.c moves nodes between lists). */
enum {
	KMX_WAITER_ON_MUTEX = 0, /* on a kmutex's wait list (all mutex waiters) */
	KMX_WAITER_ON_COND,      /* on a kcond's list, asleep until signalled */
	KMX_WAITER_WOKEN,        /* taken off a kcond's list by a signal: relock the mutex */
	KMX_WAITER_RECHECKING,   /* on a kcond's list, its thread awake and rechecking under the
				  * kcond's lock: a broadcast that moves it leaves it its ref */
};

struct kmutex_waiter {
	struct kmutex_waiter *next;
	struct kmutex_waiter *prev;
	struct kmutex_task *task;
	uint32_t state; /* KMX_WAITER_*; see kcond.c for who writes it and with what order */
	uint64_t since; /* CLOCK_MONOTONIC ns when the node became the head (or joined the list);
			 * written under wait_lock, read by its own thread without it: atomic */
};

/*
 * Racy by design (no wait_lock), as mainline's __mutex_waiter_is_first(): the racy load of
 * M:woken.  The answer can be stale by the time it is used, and every user re-checks what
 * matters under wait_lock or with a cmpxchg of the owner word.
 */
static inline bool kmx_waiter_is_first(struct kmutex_waiter *const *head,
				       const struct kmutex_waiter *waiter)
{
	return kmx_load(head, KMX_RELAXED) == waiter;
}

/* Under the list's lock.  Returns true if the list was empty. */
static inline bool kmx_wait_list_add_tail(struct kmutex_waiter **head, struct kmutex_waiter *waiter)
{
	struct kmutex_waiter *first = *head; /* the lock is held: no concurrent store */

	if (!first) {
		waiter->next = waiter->prev = waiter;
		kmx_store(head, waiter, KMX_RELAXED);
		return true;
	}
	waiter->next = first;
	waiter->prev = first->prev;
	first->prev->next = waiter;
	first->prev = waiter;
	return false;
}

/* Under the list's lock.  Returns true if the list is now empty. */
static inline bool kmx_wait_list_del(struct kmutex_waiter **head, struct kmutex_waiter *waiter)
{
	if (waiter->next == waiter) {
		kmx_store(head, NULL, KMX_RELAXED);
		return true;
	}
	waiter->prev->next = waiter->next;
	waiter->next->prev = waiter->prev;
	if (*head == waiter)
		kmx_store(head, waiter->next, KMX_RELAXED);
	return false;
}

/* Under the list's lock. */
static inline struct kmutex_waiter *kmx_wait_list_first(struct kmutex_waiter *const *head)
{
	return *head; /* the lock is held: no concurrent store */
}

/* Under the list's lock: the node after waiter, or NULL at the end. */
static inline struct kmutex_waiter *kmx_wait_list_next(struct kmutex_waiter *const *head,
						       const struct kmutex_waiter *waiter)
{
	return waiter->next == *head ? NULL : waiter->next;
}

#endif /* KMX_WAIT_LIST_H */
