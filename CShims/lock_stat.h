/*
 * Contention statistics per lock class (a kmutex's name pointer, see lock_class.h), in the
 * spirit of the kernel's CONFIG_LOCK_STAT, and the contention probes (probes.h).
 *
 * The slow path calls the small event functions below at the points the kernel's lock
 * tracepoints mark: contention_begin when a lock call finds the mutex held (flags SPIN|MUTEX
 * when it may spin, MUTEX when it goes to sleep), contention_end when the call returns, and
 * handoff when an unlock hands the lock to the head waiter.  Each is a probe (a nop) plus,
 * at the begin and handoff points, one predictable branch on kmx_stat_on; with statistics off
 * nothing else runs and nothing shared is written.
 *
 * Acquisitions and hold times need every acquisition and release, which release builds never
 * see (the inline fast path): the debug build reports them (every call reaches the library,
 * KMX_EVERY_CALL_SEEN), and a layered API that sees every call (libkmutex-pthread) calls
 * kmx_stat_acquired() and kmx_stat_released() itself.
 */
#ifndef KMX_LOCK_STAT_H
#define KMX_LOCK_STAT_H

#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "kmutex.h"
#include "probes.h"

/* The contention_begin flags, with the values of the kernel's LCB_F_* (trace/events/lock.h). */
#define KMX_LCB_F_SPIN  0x01u
#define KMX_LCB_F_READ  0x02u /* krwsem: a reader waits */
#define KMX_LCB_F_WRITE 0x04u /* krwsem: a writer waits */
#define KMX_LCB_F_MUTEX 0x20u

/*
 * The debug build sees every call, unless only the library was built with KMUTEX_DEBUG and
 * its callers keep the inline fast path (SwiftPM's debug configuration: KMUTEX_DEBUG_LIB_ONLY).
 */
#if defined(KMUTEX_DEBUG) && !defined(KMUTEX_DEBUG_LIB_ONLY)
#define KMX_EVERY_CALL_SEEN 1
#else
#define KMX_EVERY_CALL_SEEN 0
#endif

/* Non-zero while statistics are collected.  Read-mostly, alone on its cache line. */
extern struct kmx_stat_switch {
	int on;
	char pad[60]; /* the line to itself, so that nothing written shares it */
} kmx_stat_switch __attribute__((aligned(64)));

struct kmx_class_stat;

/* One contended lock call, on the caller's stack: what contention_end needs. */
struct kmx_contention {
	struct kmx_class_stat *cls; /* NULL: statistics were off at contention_begin */
	uint64_t start_ns;
	bool slept;                 /* queued on the wait list */
};

void kmx_stat_contended(struct kmutex *lock, struct kmx_contention *c);
void kmx_stat_contention_end(struct kmx_contention *c, int ret);
void kmx_stat_handoff(struct kmutex *lock);

/*
 * Reader-writer locks (krwsem) count each side in a row of its own, "name-R" and "name-W", as
 * the kernel's lock_stat does for an rwsem class.  These take the class name (NULL: the
 * "(unnamed)" class) and the kind; the mutex calls above are their KMX_STAT_MUTEX case.
 */
enum kmx_stat_kind { KMX_STAT_MUTEX = 0, KMX_STAT_READ = 1, KMX_STAT_WRITE = 2 };
void kmx_stat_contended_class(const char *name, unsigned kind, struct kmx_contention *c);
void kmx_stat_handoff_class(const char *name, unsigned kind);
void kmx_stat_acquired_class(const void *lock, const char *name, unsigned kind);
void kmx_stat_released_class(const void *lock);

/*
 * For layered APIs that see every acquisition and release (libkmutex-pthread), and for the
 * debug build: count an acquisition (after it succeeded) and the hold time (at the start of
 * the release).  They fire the acquired/released probes too.  A release without a recorded
 * acquisition (statistics turned on in between, more than 16 mutexes held) has no hold time.
 */
void kmx_stat_acquired(struct kmutex *lock);
void kmx_stat_released(struct kmutex *lock);

static inline bool kmx_stat_enabled(void)
{
	/* RELAXED: a switch; a call that misses a change counts (or not) one event. */
	return kmx_unlikely(kmx_load(&kmx_stat_switch.on, KMX_RELAXED));
}

/* contention_begin(lock, SPIN|MUTEX or MUTEX): the first trylock of a lock call failed. */
static inline void kmx_contention_begin(struct kmutex *lock, unsigned flags, struct kmx_contention *c)
{
	KMX_PROBE2(contention_begin, lock, flags);
	c->cls = NULL;
	c->slept = false;
	if (kmx_stat_enabled())
		kmx_stat_contended(lock, c);
}

/* contention_begin(lock, MUTEX) again, as the kernel's: the call now sleeps on the wait list. */
static inline void kmx_contention_sleep(struct kmutex *lock, struct kmx_contention *c)
{
	KMX_PROBE2(contention_begin, lock, KMX_LCB_F_MUTEX);
	c->slept = true;
}

/*
 * contention_end(lock, ret): 0 acquired, -EINTR, -ETIMEDOUT (or -EINVAL).  Returns ret.
 * Out of line, shared by kmutex and krwsem: contention_end has one probe site in the library
 * (perf probe, 6.1, attaches only the first site of a name).
 */
int kmx_contention_end_event(const void *lock, struct kmx_contention *c, int ret);

static inline int kmx_contention_end(struct kmutex *lock, struct kmx_contention *c, int ret)
{
	return kmx_contention_end_event(lock, c, ret);
}

/* handoff(lock, next): an unlock handed the lock to the head waiter `next`. */
static inline void kmx_handoff_event(struct kmutex *lock, const void *next)
{
	KMX_PROBE2(handoff, lock, next);
	if (kmx_stat_enabled())
		kmx_stat_handoff(lock);
}

/* In the debug build, every acquisition and release (nothing in other builds). */
static inline void kmx_acquired_event(struct kmutex *lock)
{
	if (KMX_EVERY_CALL_SEEN)
		kmx_stat_acquired(lock);
}

static inline void kmx_released_event(struct kmutex *lock)
{
	if (KMX_EVERY_CALL_SEEN)
		kmx_stat_released(lock);
}

/*
 * For tests: one row's counters, found by the name the report prints ("(unnamed)" for unnamed
 * mutexes, "x-R" and "x-W" for the two sides of reader-writer lock class x).
 */
struct kmx_stat_snapshot {
	const char *name;             /* the class's name */
	unsigned kind;                /* enum kmx_stat_kind */
	uint64_t con_bounces, contentions, wait_nr, wait_min_ns, wait_max_ns, wait_total_ns;
	uint64_t acq_bounces, acquisitions, hold_nr, hold_min_ns, hold_max_ns, hold_total_ns;
	uint64_t spin_acquired, slept, handoffs, timeouts, interrupts;
};

bool kmx_stat_get(const char *name, struct kmx_stat_snapshot *out);

#endif /* KMX_LOCK_STAT_H */
