/*
 * OSQ, the optimistic spin queue (the kernel's kernel/locking/osq_lock.c): an MCS queue that
 * lets only one spinner at a time poll a kmutex's owner word, the others spinning each on its
 * own node.  Nodes are per thread (per CPU in the kernel).  A queued spinner whose budget runs
 * out leaves the queue through the unqueue path.  The OSQ orders spinners only; the data the
 * kmutex protects is ordered by the owner word.
 */
#ifndef KMX_OSQ_H
#define KMX_OSQ_H

#include <stdbool.h>
#include <stdint.h>

#include "task.h"

/* Does the queue seem to hold max_spinners nodes or more already?  A hint. */
bool kmx_osq_full(struct kmutex_osq_node **tail, uint32_t max_spinners);
/*
 * Queue node at the tail and wait for our turn, spending *budget cpu_relax() rounds at most.
 * true: we are at the head (call kmx_osq_unlock later); false: the budget ran out and we left.
 */
bool kmx_osq_lock(struct kmutex_osq_node **tail, struct kmutex_osq_node *node, uint32_t *budget);
void kmx_osq_unlock(struct kmutex_osq_node **tail, struct kmutex_osq_node *node);

#endif /* KMX_OSQ_H */
