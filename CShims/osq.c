/*
 * The OSQ protocol (kernel/locking/osq_lock.c, "locking/mutex: Use MCS-style queue for
 * optimistic spinning" and its unqueue path), written for per-thread nodes.
 *
 * The tail holds the last queued node's code (its task's id + 1, as the kernel stores cpu + 1);
 * 0 means empty.
 * Enqueue swaps ourselves into the tail, links the predecessor to us, and spins on our own
 * node->locked, which the predecessor sets when it is done.  A spinner whose budget runs out
 * unqueues in three steps: A) unlink the predecessor's next pointer, B) wait for a successor
 * to show itself (or move the tail back), C) link predecessor and successor together.
 */
#include "osq.h"

#include "atomic.h"

/*
 * Step B, also used by unlock: return node's successor once it has linked itself, having
 * detached it; or, if node is the tail, move the tail back to prev and return NULL.
 */
static struct kmutex_osq_node *osq_wait_next(uint32_t *tail,
					     struct kmutex_osq_node *node,
					     struct kmutex_osq_node *prev)
{
	for (;;) {
		uint32_t expected = node->code;
		struct kmutex_osq_node *next;

		/*
		 * RELEASE: a later arrival that swaps in behind prev (acquiring the tail) writes
		 * prev->next only after our step A cleared it.
		 */
		if (kmx_load(tail, KMX_RELAXED) == expected &&
		    kmx_try_cmpxchg(tail, &expected, prev ? prev->code : 0, KMX_RELEASE))
			return NULL;

		/*
		 * A successor swapped itself into the tail after us and will link itself into
		 * node->next.  ACQUIRE pairs with its RELEASE store there: its next->prev is set
		 * before we (in step C) overwrite it.
		 */
		if (kmx_load(&node->next, KMX_RELAXED)) {
			next = kmx_xchg(&node->next, NULL, KMX_ACQUIRE);
			if (next)
				return next;
		}
		kmx_cpu_relax();
	}
}

/* Steps A to C for a node whose budget ran out.  true if the turn came to us after all. */
static bool osq_unqueue(uint32_t *tail, struct kmutex_osq_node *node,
			struct kmutex_osq_node *prev)
{
	struct kmutex_osq_node *next;

	/* Step A: undo prev->next = node, unless prev is passing the turn to us right now. */
	for (;;) {
		struct kmutex_osq_node *expected = node;

		/*
		 * RELAXED: the RELEASE of our later tail cmpxchg (osq_wait_next) or of step C's
		 * store publishes this clear to whoever writes prev->next next.
		 */
		if (kmx_load(&prev->next, KMX_RELAXED) == node &&
		    kmx_try_cmpxchg(&prev->next, &expected, NULL, KMX_RELAXED))
			break;
		/* prev took node out of its next (unlock or its own unqueue): see which.
		 * RELAXED: locked carries no data. */
		if (kmx_load(&node->locked, KMX_RELAXED))
			return true;
		kmx_cpu_relax();
		/* prev may have unqueued itself and made its own predecessor ours (its step C).
		 * RELAXED: a stale prev only makes the cmpxchg above fail and retry. */
		prev = kmx_load(&node->prev, KMX_RELAXED);
	}

	/* Step B: a successor, or we were the tail and the tail is prev again. */
	next = osq_wait_next(tail, node, prev);
	if (!next)
		return false;

	/*
	 * Step C: prev <-> next.  next->prev first; the RELEASE store of prev->next publishes it
	 * to whoever takes next out of prev->next (osq_wait_next's ACQUIRE exchange).
	 */
	kmx_store(&next->prev, prev, KMX_RELAXED);
	kmx_store(&prev->next, next, KMX_RELEASE);
	return false;
}

/*
 * Would a node queued now have max_spinners or more nodes ahead of it?  The kernel's queue is
 * bounded by its per-CPU nodes: a task spins only on its own CPU, so at most one spinner per
 * CPU.  Per-thread nodes have no such bound, and a spinner without a CPU of its own only
 * takes time from the owner or the head.  Each node counts the nodes ahead of it when it
 * queued (`ahead`); the count is only an over-estimate later, as nodes ahead leave, so the
 * queue may look full early; it then drains, and the next arrival finds it empty.
 */
bool kmx_osq_full(uint32_t *tail, uint32_t max_spinners)
{
	/*
	 * ACQUIRE pairs with the ACQ_REL exchange that queued the tail node: it orders that
	 * thread's initialization of its descriptor before our read of it.  (Descriptors are
	 * type-stable, task.h, so a stale tail is still readable.)
	 */
	struct kmutex_osq_node *last = kmx_osq_node_of(kmx_load(tail, KMX_ACQUIRE));

	if (!last)
		return false;
	/* One spinner at most (two CPUs): no need to fetch the tail's line.  RELAXED: a hint. */
	return max_spinners <= 1 || kmx_load(&last->ahead, KMX_RELAXED) + 1 >= max_spinners;
}

bool kmx_osq_lock(uint32_t *tail, struct kmutex_osq_node *node, uint32_t *budget)
{
	struct kmutex_osq_node *prev;

	kmx_store(&node->locked, 0, KMX_RELAXED);
	kmx_store(&node->next, NULL, KMX_RELAXED);

	/*
	 * ACQ_REL: RELEASE publishes the two stores above to the next arrival, which gets node as
	 * its prev and writes node->next; ACQUIRE makes prev's own initialization visible before
	 * we write prev->next.
	 */
	prev = kmx_osq_node_of(kmx_xchg(tail, node->code, KMX_ACQ_REL));
	/* RELAXED: a hint for kmx_osq_full(); the exchange's ACQUIRE orders prev's descriptor. */
	kmx_store(&node->ahead, prev ? kmx_load(&prev->ahead, KMX_RELAXED) + 1 : 0, KMX_RELAXED);
	if (!prev)
		return true;

	kmx_store(&node->prev, prev, KMX_RELAXED);
	/* RELEASE: node->prev is written before prev (or its unqueue) can find node. */
	kmx_store(&prev->next, node, KMX_RELEASE);

	/*
	 * RELAXED: locked carries no data; the mutex's protected data is ordered by the owner word.
	 * The kernel stops waiting on need_resched() or a preempted vCPU; we stop when the budget
	 * (see spin_budget() in kmutex.c) is spent.
	 */
	while (!kmx_load(&node->locked, KMX_RELAXED)) {
		if (*budget == 0)
			return osq_unqueue(tail, node, prev);
		(*budget)--;
		kmx_cpu_relax();
	}
	return true;
}

void kmx_osq_unlock(uint32_t *tail, struct kmutex_osq_node *node)
{
	uint32_t expected = node->code;
	struct kmutex_osq_node *next;

	/*
	 * Nobody behind us: the queue is empty again.  RELAXED: the next arrival finds no
	 * predecessor and writes nothing of ours, and the OSQ carries no data.
	 */
	if (kmx_try_cmpxchg(tail, &expected, 0, KMX_RELAXED))
		return;

	/*
	 * ACQUIRE pairs with the successor's RELEASE store of node->next (kmx_osq_lock): it
	 * orders our next->locked = 1 below after the successor's own locked = 0, which would
	 * otherwise overwrite it and lose the turn (the successor would spin until its budget
	 * ends and then loop in osq_unqueue step A, where prev->next no longer names it).
	 */
	next = kmx_xchg(&node->next, NULL, KMX_ACQUIRE);
	if (!next)
		next = osq_wait_next(tail, node, NULL);
	if (next)
		kmx_store(&next->locked, 1, KMX_RELAXED); /* its turn; no data rides on it */
}
