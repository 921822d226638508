/*
 * OSQ, the optimistic spin queue (the kernel's kernel/locking/osq_lock.c): an MCS queue that
 * lets only one spinner at a time poll a kmutex's owner word, the others spinning each on its
 * own node.  Nodes are per thread (per CPU in the kernel); the tail names the last node by its
 * code, the task's id + 1 (the kernel's tail holds cpu + 1), 0 when the queue is empty.  A queued spinner whose budget runs
 * out leaves the queue through the unqueue path.  The OSQ orders spinners only; the data the
 * kmutex protects is ordered by the owner word.
 */
#ifndef KMX_OSQ_H
#define KMX_OSQ_H

#include <stdbool.h>
#include <stdint.h>

#include "task.h"

/* Does the queue seem to hold max_spinners nodes or more already?  A hint. */
bool kmx_osq_full(uint32_t *tail, uint32_t max_spinners);
/*
 * Queue node at the tail and wait for our turn, spending *budget cpu_relax() rounds at most.
 * true: we are at the head (call kmx_osq_unlock later); false: the budget ran out and we left.
 */
bool kmx_osq_lock(uint32_t *tail, struct kmutex_osq_node *node, uint32_t *budget);
void kmx_osq_unlock(uint32_t *tail, struct kmutex_osq_node *node);

#endif /* KMX_OSQ_H */
