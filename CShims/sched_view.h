/*
 * What a lock can see of the scheduler, for its spinning policy (kmutex.c, krwsem.c): where
 * another thread last ran, and whether the caller is a real-time thread.
 *
 * Where a thread last ran: the cpu_id the kernel keeps in the thread's rseq area (glibc 2.35+
 * registers one per thread and exports where it is, __rseq_offset from the thread pointer).
 * The kernel rewrites it whenever the thread returns to user space on a different CPU or after
 * a preemption, so for a thread that is not running it names the CPU it was last on.
 *
 * This is the part of the kernel's owner_on_cpu() that user space can read: an owner whose
 * last CPU is the one the spinner is running on now cannot be running, since the spinner is.
 * Spinning on it then only keeps it off the CPU it waits for (kmutex.c, owner_not_running()).
 *
 * Reading another thread's rseq area means reading its thread-local memory, which glibc frees
 * (or hands to a user-supplied stack's owner) after the thread exits.  So a descriptor
 * publishes its thread's area here, and the thread retracts it on exit and waits for readers
 * that might still be using it: a reader announces itself (readers) before it looks at the
 * area, and the exiting thread clears the area before it looks at readers.  Both sides do
 * their two steps SEQ_CST, so at least one of them sees the other (Dekker): either the reader
 * finds NULL, or the exiting thread finds the reader and waits for it to finish.
 *
 * Unknown (-1) wherever the kernel or glibc has no rseq area (glibc.pthread.rseq=0, a glibc
 * before 2.35, an architecture without a thread-pointer read below): callers then fall back
 * to their spin budgets, as before rseq.
 *
 * Real-time: a SCHED_FIFO, SCHED_RR or SCHED_DEADLINE caller.  Asking costs a system call
 * (~250 ns here), so a thread keeps its answer for SCHED_VIEW_POLICY_TTL_NS (a clock read
 * each time); a change of policy is seen that much later, which changes a few spin decisions.
 */
#ifndef KMX_SCHED_VIEW_H
#define KMX_SCHED_VIEW_H

#include <stdbool.h>
#include <stdint.h>

struct rseq;

/* In each thread's descriptor (task.h), on a cache line of its own: other threads' reads
 * write `readers`, which must not bounce the lines the lock paths use. */
struct kmx_last_cpu {
	const struct rseq *area; /* the thread's rseq area, NULL when unknown or retracted; atomic */
	uint32_t readers;        /* other threads inside kmx_last_cpu_of() now; atomic */
} __attribute__((aligned(64)));

/* A thread's answer about its own policy: read and written only by that thread. */
struct kmx_policy_cache {
	uint64_t checked_ns; /* kmx_monotonic_ns() when asked; 0: never */
	bool realtime;
};

/* By the descriptor's own thread: on taking the descriptor, and when it exits. */
void kmx_last_cpu_publish(struct kmx_last_cpu *lc);
void kmx_last_cpu_retract(struct kmx_last_cpu *lc);

/* The CPU the thread of lc last ran on, or -1: any thread may ask. */
int kmx_last_cpu_of(struct kmx_last_cpu *lc);

/* The CPU the calling thread runs on, or -1; lc must be the caller's own. */
int kmx_this_cpu(const struct kmx_last_cpu *lc);

/* Is the calling thread real-time?  cache is the caller's own. */
bool kmx_self_realtime(struct kmx_policy_cache *cache);

#endif /* KMX_SCHED_VIEW_H */
