/*
 * The owner word: the owning thread's descriptor, or 0 when free, with three flags in the low
 * bits (descriptors are 64-byte aligned).  As in mainline since v4.11:
 */
#ifndef KMX_OWNER_H
#define KMX_OWNER_H

#include <stdint.h>

#include "task.h"

#define KMX_FLAG_WAITERS 0x01ul /* wait list non-empty: unlock must take the slow path */
#define KMX_FLAG_HANDOFF 0x02ul /* the head waiter asked: unlock hands over, never releases */
#define KMX_FLAG_PICKUP  0x04ul /* handed over: the named owner has not picked it up yet */
#define KMX_FLAGS        0x07ul

static inline struct kmutex_task *kmx_owner_task(uintptr_t owner)
{
	return (struct kmutex_task *)(owner & ~KMX_FLAGS);
}

static inline uintptr_t kmx_owner_flags(uintptr_t owner)
{
	return owner & KMX_FLAGS;
}

#endif /* KMX_OWNER_H */
