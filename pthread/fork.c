/*
 * fork().  The child has one thread, but the mutexes it inherits may name threads that did
 * not come along: waiters on a wait list, spinners in the OSQ, a waiter a lock was handed to,
 * a wait_lock held mid-operation, kcond waiters.  glibc's mutex has no such state besides the
 * owner, so a child can unlock a mutex its forking thread held and use it again.  To match
 * that, while the child still has only its first thread, a slow path that finds state left
 * by the vanished threads clears it (fork_repair_*): an unlock by the owner releases
 * outright, a lock of a mutex nobody owns (or handed to a vanished waiter) starts from a
 * clean word.  A mutex owned by a vanished thread stays locked, as in glibc.  The first time
 * another thread reaches a slow path the child stops being alone and this ends.
 */
#include "debug.h"
#include "dropin.h"

uint32_t fork_alone;                     /* the child of a fork has one thread so far; atomic */
static struct kmutex_task *fork_thread;  /* that thread's descriptor; written before fork_alone */

/* Prepare: make sure the forking thread has a descriptor, so the child knows who it is. */
static void fork_prepare(void)
{
	(void)kmutex__self();
}

static void fork_child(void)
{
	fork_thread = kmutex__current;
	/* RELAXED: the child has one thread; whoever joins later reads it after being created. */
	kmx_store(&fork_alone, 1, KMX_RELAXED);
}

/*
 * Registered after the core's own fork handlers (kmutex__self() creates a descriptor first,
 * which registers them): prepare handlers run in reverse order, so ours runs before the core
 * takes its descriptor pool lock, and may still create a descriptor.
 */
__attribute__((constructor)) static void register_fork_handlers(void)
{
	(void)kmutex__self();
	if (pthread_atfork(fork_prepare, NULL, fork_child) != 0)
		kmx_fatal("libkmutex-pthread: cannot register the fork handlers");
}

/* True while the child of a fork has only the thread that forked; ends when another shows. */
static bool child_alone(void)
{
	/* RELAXED: see fork_child(). */
	if (kmx_likely(!kmx_load(&fork_alone, KMX_RELAXED)))
		return false;
	if (kmutex__self() == fork_thread)
		return true;
	kmx_store(&fork_alone, 0, KMX_RELAXED);
	return false;
}

/* Alone in the child: no other thread can be touching the mutex, so plain stores do. */
static void reset_mutex_state(struct kmutex *lock)
{
	kmx_store(&lock->wait_list, NULL, KMX_RELAXED);
	kmx_store(&lock->wait_lock, 0, KMX_RELAXED);
	kmx_store(&lock->osq_tail, 0, KMX_RELAXED);
	/* RELEASE: pairs with the ACQUIRE of a later lock; with one thread, only for form. */
	kmx_store(&lock->owner, 0, KMX_RELEASE);
}

/* fork_repair_lock(), past its inline test (dropin.h). */
void fork_repair_lock_alone(struct kmutex *lock)
{
	uintptr_t owner;

	if (!child_alone())
		return;
	owner = kmx_load(&lock->owner, KMX_RELAXED); /* alone: nothing changes it under us */
	if (kmx_owner_task(owner) && !(owner & KMX_FLAG_PICKUP))
		return; /* owned by us (the core reports recursion) or by a vanished thread */
	reset_mutex_state(lock);
}

/* fork_repair_unlock(), past its inline test (dropin.h). */
bool fork_repair_unlock_alone(struct kmutex *lock)
{
	uintptr_t owner;

	if (!child_alone())
		return false;
	owner = kmx_load(&lock->owner, KMX_RELAXED);
	if (kmx_owner_task(owner) != kmutex__self() || (owner & KMX_FLAG_PICKUP))
		return false; /* not ours: the core's misuse check reports it */
	reset_mutex_state(lock);
	return true;
}

/* fork_repair_cond(), past its inline test (dropin.h). */
void fork_repair_cond_alone(struct kcond *c)
{
	if (!child_alone())
		return;
	c->waiters = NULL;
	c->mutex = NULL;
	c->mutex_kind = 0;
	c->refs = 0;
	c->lock = 0;
}
