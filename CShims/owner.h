/*
 * The owner word: the owning thread's descriptor, or 0 when free, with four flags in the low
 * bits (descriptors are 64-byte aligned).  The first three as in mainline since v4.11; AWAKE
 * is kmutex's own (Go's sync.Mutex has the same idea in mutexWoken), see kmutex.c.
 */
#ifndef KMX_OWNER_H
#define KMX_OWNER_H

#include <stdint.h>

#include "task.h"

#define KMX_FLAG_WAITERS 0x01ul /* wait list non-empty: unlock wakes the head unless AWAKE */
#define KMX_FLAG_HANDOFF 0x02ul /* the head waiter asked: unlock hands over, never releases */
#define KMX_FLAG_PICKUP  0x04ul /* handed over: the named owner has not picked it up yet */
#define KMX_FLAG_AWAKE   0x08ul /* the head waiter is awake and will try again: release alone */
#define KMX_FLAGS        0x0ful

static inline struct kmutex_task *kmx_owner_task(uintptr_t owner)
{
	return (struct kmutex_task *)(owner & ~KMX_FLAGS);
}

static inline uintptr_t kmx_owner_flags(uintptr_t owner)
{
	return owner & KMX_FLAGS;
}

#endif /* KMX_OWNER_H */
