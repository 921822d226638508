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
 * last CPU is the one the spinner is running on now is not running there, since the spinner
 * is; cpu_id is where it last returned to user space, so an owner migrated inside a system
 * call may run elsewhere unseen, which costs one spin.  Polling it only keeps it off the CPU
 * it waits for (task.h, kmx_owner_preempted_here()).
 *
 * Reading another thread's rseq area means reading its thread-local memory, which glibc frees
 * (or hands to a user-supplied stack's owner) after the thread exits.  So a descriptor
 * publishes its thread's area here, and the thread retracts it on exit and waits for readers
 * that might still be using it: a reader announces itself (readers) before it looks at the
 * area, and the exiting thread clears the area before it looks at readers.  Both sides do
 * their two steps SEQ_CST, so at least one of them sees the other (Dekker): either the reader
 * finds NULL, or the exiting thread finds the reader and waits for it to finish.  verify/weak
 * checks this under the C11 model (scenario last-cpu), and fails with either SEQ_CST weakened.
 * What it cannot cover: a thread whose first lock call comes in glibc's last round of thread
 * exit destructors, or that leaves by a raw exit system call, publishes and never retracts;
 * a spinner then reads its freed area only if it read a stale owner word naming that thread
 * and was preempted between that and the read, while glibc unmapped the thread's stack.
 *
 * Unknown (-1) wherever the kernel or glibc has no rseq area (glibc.pthread.rseq=0, a glibc
 * before 2.35, an architecture without a thread-pointer read below): callers then fall back
 * to their spin budgets, as before rseq.
 *
 * Real-time: a SCHED_FIFO, SCHED_RR or SCHED_DEADLINE caller.  Asking costs a system call
 * (~250 ns here), so a thread keeps its answer for SCHED_VIEW_POLICY_TTL_NS (a clock read
 * each time it asks: once per spin, so once or twice per contended lock call, and once per
 * yield pass); a change of policy is seen that much later, which changes a few spin decisions.
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
