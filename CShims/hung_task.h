/*
 * The hung-task watchdog (hung_task.c): the kernel's khungtaskd with blocker tracking, for
 * kmutex, kcond and (through the same record) krwsem.  Off unless KMUTEX_HUNG_TIMEOUT is set.
 *
 * What the lock code does: right before a thread goes to sleep on its slow path it records in
 * its own descriptor what it is blocked on and since when (kmx_hung_begin), and clears the
 * record when the wait ends, however it ends (kmx_hung_end).  That is all: the watchdog
 * thread reads these records, follows owners, and reports.  With the variable unset both
 * calls are one relaxed load and a branch on a path that is about to sleep; the fast paths
 * are not touched at all.
 *
 * The record is a seqlock written only by its own thread: `seq` is odd while the thread
 * writes it, and grows by two for every wait, so (descriptor, seq) names one wait for good:
 * the watchdog reports each hung wait once by remembering the seq it reported.
 *
 * A new blocking primitive plugs in with a kind of its own and, for a kind with owners, a
 * function the watchdog calls to find them (kmx_krwsem_holders below, for krwsem).
 */
#ifndef KMX_HUNG_TASK_H
#define KMX_HUNG_TASK_H

#include <stdbool.h>
#include <stdint.h>

/* What a thread is blocked on (kmx_hung_record.kind). */
enum {
	KMX_BLOCKED_NONE = 0,
	KMX_BLOCKED_MUTEX,       /* object: struct kmutex */
	KMX_BLOCKED_CONDVAR,     /* object: struct kcond; with: its mutex; node: the waiter node */
	KMX_BLOCKED_RWSEM_READ,  /* object: struct krwsem, waiting to read */
	KMX_BLOCKED_RWSEM_WRITE, /* object: struct krwsem, waiting to write */
};

/* kmx_hung_record.mode: the lock call's KMUTEX__* mode bits, and: */
#define KMX_HUNG_WITH_KMUTEX 0x10000u /* CONDVAR: `with` is a struct kmutex (else foreign) */

struct kmutex_task;

/*
 * In each thread's descriptor (task.h), on a cache line of its own: the lock paths' hot
 * fields (OSQ node, wake word) stay on the first line, which the watchdog never reads.
 */
struct kmx_hung_record {
	uint32_t seq;          /* odd while being written; +2 per wait.  Written by the thread */
	uint32_t kind;         /* KMX_BLOCKED_*; the fields below are valid when not NONE */
	const void *object;    /* the lock or condvar waited on */
	const void *with;      /* CONDVAR: the mutex the wait released */
	const void *node;      /* CONDVAR: the waiter node (its state shows a broadcast's move) */
	const void *ip;        /* the lock call's return address: where the thread waits */
	uint64_t since;        /* CLOCK_MONOTONIC ns when the wait began */
	uint32_t mode;         /* KMUTEX__INTERRUPTIBLE | KMUTEX__TIMED | KMX_HUNG_WITH_KMUTEX */
	int32_t tid;           /* the thread's id, set when the descriptor is taken (0: unknown) */
	/* Written by the watchdog only. */
	uint32_t overdue;      /* seq found past the timeout at the previous scan */
	uint32_t reported;     /* seq of the last wait reported */
} __attribute__((aligned(64)));

/* 0: the environment not read yet; 1 off; 2 on.  RELAXED: written once, same value by all. */
extern int kmx_hung__mode;
int kmx_hung__read_mode(void);

static inline bool kmx_hung_enabled(void)
{
	/* RELAXED: see kmx_hung__mode. */
	int mode = __atomic_load_n(&kmx_hung__mode, __ATOMIC_RELAXED);

	if (__builtin_expect(mode == 0, 0))
		mode = kmx_hung__read_mode();
	return mode == 2;
}

void kmx_hung__begin(struct kmutex_task *self, uint32_t kind, const void *object, const void *with,
		     const void *node, const void *ip, uint32_t mode);
void kmx_hung__end(struct kmutex_task *self);
void kmx_hung__task_taken(struct kmutex_task *task);
void kmx_hung__task_released(struct kmutex_task *task);

/* The calling thread (self) is about to sleep on object: record it.  Slow paths only. */
static inline void kmx_hung_begin(struct kmutex_task *self, uint32_t kind, const void *object,
				  const void *with, const void *node, const void *ip, uint32_t mode)
{
	if (__builtin_expect(kmx_hung_enabled(), 0))
		kmx_hung__begin(self, kind, object, with, node, ip, mode);
}

/* The wait recorded by kmx_hung_begin is over (acquired, signalled, timed out, interrupted). */
static inline void kmx_hung_end(struct kmutex_task *self)
{
	if (__builtin_expect(kmx_hung_enabled(), 0))
		kmx_hung__end(self);
}

/* task.c: a descriptor was given to the calling thread / taken back at its exit. */
static inline void kmx_hung_task_taken(struct kmutex_task *task)
{
	if (__builtin_expect(kmx_hung_enabled(), 0))
		kmx_hung__task_taken(task);
}

static inline void kmx_hung_task_released(struct kmutex_task *task)
{
	if (__builtin_expect(kmx_hung_enabled(), 0))
		kmx_hung__task_released(task);
}

/*
 * krwsem.c: who holds a krwsem, decoded from a copy of its words (the watchdog copies them with
 * a read that cannot fault, the lock may be gone): its writer's descriptor, or NULL and the
 * number of readers in *readers.  The readers themselves the watchdog finds in the threads'
 * read-lock records (task.h).  Weak: a program that never uses a krwsem does not link it, and
 * then no thread can wait on one.
 */
struct krwsem;
struct kmutex_task *kmx_krwsem_holders(const struct krwsem *copy, uint64_t *readers)
	__attribute__((weak));

/* For tests and the cost measurement (not API). */
struct kmx_hung_stats {
	uint64_t scans;         /* scans completed by the watchdog */
	uint64_t scan_ns;       /* their total time */
	uint64_t scan_ns_max;
	uint64_t descriptors;   /* descriptors visited, all scans */
	uint64_t reports;       /* reports written */
	uint64_t stacks;        /* stacks taken by signal */
	int last_signal;        /* the signal the last stack was asked with */
};
void kmx_hung_get_stats(struct kmx_hung_stats *out);
/* One scan now, from the calling thread (the cost benchmark); returns its reports. */
unsigned kmx_hung_scan_now(void);

#endif /* KMX_HUNG_TASK_H */
