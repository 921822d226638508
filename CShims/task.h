/*
 * The per-thread descriptor: the user-space stand-in for the kernel's task_struct.  Its
 * address is the owner identity stored in a kmutex's owner word (64-byte aligned, so the three
 * low bits are free for flags).  It holds what other threads touch while this thread spins or
 * sleeps: its OSQ node and the futex word it sleeps on.
 *
 * Descriptors are type-stable: a thread's descriptor goes back to a pool when the thread exits
 * and is never freed.  They come from mmap'd chunks, not malloc (a malloc that takes a pthread
 * mutex would recurse into libkmutex-pthread), and each has a small id, so that a kmutex can
 * name its OSQ tail in 32 bits, as the kernel's OSQ names a CPU.  A waker that stores to a waiter's word, or an OSQ neighbour that follows
 * a stale pointer, therefore always touches a live descriptor; at worst it causes a spurious
 * wakeup, which every wait loop tolerates (the kernel holds a task reference for the same end).
 */
#ifndef KMX_TASK_H
#define KMX_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "hung_task.h"
#include "kmutex.h"
#include "sched_view.h"

struct kmutex_osq_node {
	struct kmutex_osq_node *next; /* successor in the queue; atomic */
	struct kmutex_osq_node *prev; /* predecessor, may be stale; atomic */
	uint32_t locked;              /* set to 1 by the predecessor: our turn to spin on the owner */
	uint32_t ahead;               /* spinners ahead of us when we queued (a hint); atomic */
	uint32_t code;                /* our task's id + 1: what a kmutex's osq_tail holds */
};

/* Values of kmutex_task.wake. */
enum { KMX_WAKE_SLEEP = 0, KMX_WAKE_UP = 1 };

/*
 * The read locks a thread holds on krwsems, for recursive reads (krwsem.c): a stack of up to
 * KRWSEM_READ_HELD_SLOTS entries, one per hold, and a count of holds beyond that.  Only the
 * thread itself reads or writes it.
 */
struct kmx_read_held {
	const struct krwsem *sems[KRWSEM_READ_HELD_SLOTS];
	uint32_t nr;         /* entries in sems */
	uint32_t untracked;  /* holds beyond the slots, on unknown krwsems */
};

struct kmutex_task {
	struct kmutex_osq_node osq;
	uint32_t wake;                 /* futex word: KMX_WAKE_SLEEP while about to sleep */
	struct kmutex_task *pool_next; /* free list of descriptors of exited threads */
	struct kmx_read_held read_held;
	struct kmx_hung_record hung;   /* what the thread is blocked on (hung_task.h) */
	struct kmx_policy_cache policy; /* is the thread real-time (sched_view.h) */
	struct kmx_last_cpu last_cpu;  /* where the thread last ran, for spinners (sched_view.h) */
} __attribute__((aligned(64)));

/* The OSQ node whose code (task id + 1) is `code`; NULL for 0. */
struct kmutex_osq_node *kmx_osq_node_of(uint32_t code);

/* Descriptors handed out so far (ids 0..n-1), and the one with id `id`: for the watchdog. */
uint32_t kmx_task_count(void);
struct kmutex_task *kmx_task_at(uint32_t id);
/* Is p the address of a descriptor?  (An owner word read from a lock that may be garbage.) */
bool kmx_is_task(const void *p);

/* The pending interruption of kmutex_interrupt_self(): 1 if there was one, consumed. */
int kmx_take_interruption(void);
/* Is one pending?  Does not consume it. */
int kmx_interruption_pending(void);

/*
 * May a spinner (self) stop polling owner because it cannot be running?  Yes when it last ran
 * on the CPU self is running on now: self is on that CPU, so owner is not, and every poll keeps
 * it off the CPU it waits for.  The kernel stops on !owner_on_cpu(); this is the part of that
 * user space can see.  false when either CPU is unknown, or owner is NULL (the lock is free).
 */
static inline bool kmx_owner_preempted_here(struct kmutex_task *self, struct kmutex_task *owner)
{
	int here;

	if (!owner || owner == self) /* self: a lock handed to us, PICKUP pending */
		return false;
#ifdef KMUTEX_DEBUG
	if (!kmx_is_task(owner)) /* a corrupted word: left to the checks that report it */
		return false;
#endif
	here = kmx_this_cpu(&self->last_cpu);
	return here >= 0 && kmx_last_cpu_of(&owner->last_cpu) == here;
}

#endif /* KMX_TASK_H */
