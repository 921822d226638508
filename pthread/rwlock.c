/*
 * pthread_rwlock_*: a krwsem in place in the pthread_rwlock_t, so that neither writers nor
 * readers starve (glibc's default kind starves writers while readers overlap), and recursive
 * read locks keep working as POSIX and glibc promise (krwsem lets a thread that already reads
 * in past waiting writers; see CShims/krwsem.c, item 6).
 *
 * The layout (CShims/include/krwsem.h, and glibc's struct __pthread_rwlock_arch_t, the same on
 * x86-64 and aarch64): 56 bytes.  glibc's static initializers write one field, __flags at
 * offset 48 (0 for PTHREAD_RWLOCK_INITIALIZER, 2 for ..._WRITER_NONRECURSIVE_INITIALIZER_NP),
 * which is krwsem.options, whose low 16 bits are ours: the kind goes there, and the core
 * ignores it.  All zeros is a valid unlocked krwsem, so a statically initialized rwlock, or
 * never-initialized zeroed memory, needs no first-use step.
 *
 *   offset 48  options    bits 0-15 the kind (0 PREFER_READER, 1 PREFER_WRITER, 2 PREFER_
 *                         WRITER_NONRECURSIVE); the core's bits stay 0
 *   offset 52  layer_tag  0: a krwsem.  RWLOCK_GLIBC_TAG: a process-shared rwlock, glibc's
 *
 * The kinds.  krwsem bounds both sides whatever the kind (HANDOFF, docs/rwsem.md), so the
 * kind changes nothing: it is kept for the record.  PREFER_WRITER_NP is what glibc makes of it
 * too (it ignores it).  PREFER_WRITER_NONRECURSIVE_NP is glibc's writer preference, bought by
 * the caller's promise never to take a read lock recursively; krwsem already gives writers
 * their bound, and keeps recursive reads working in every kind: a program that keeps the
 * promise sees no difference, one that breaks it does not deadlock.
 *
 * Forwarded to glibc.  A process-shared rwlock cannot be a krwsem (its owner word and wait
 * list point into this process): pthread_rwlock_init with PTHREAD_PROCESS_SHARED runs glibc's
 * own init, then writes RWLOCK_GLIBC_TAG at offset 52, in padding glibc never reads or writes
 * after its init; every later call sees the tag and calls glibc (forward.c).  glibc's layout
 * has its __shared flag at offset 28, where a krwsem keeps osq_tail (nonzero while a writer
 * spins), so the tag, not __shared, tells them apart.
 *
 * Return codes as glibc's: EDEADLK when the write holder asks again for read or write (the
 * core checks it on its slow paths only), EBUSY from the try calls (also for the write
 * holder), ETIMEDOUT, EINVAL for a bad clock or tv_nsec (checked first, even when the lock is
 * free, as glibc does), EAGAIN when the reader count would overflow; destroy returns 0 and
 * changes nothing, as glibc's (so a destroyed rwlock, used again, still works as on glibc);
 * EINVAL for garbage (neither a krwsem nor a tagged forwarded rwlock).  An unlock by a thread that holds neither mode,
 * which glibc leaves undefined, is reported by the core with its one-line message, then abort.
 *
 * KMUTEX_RWLOCK=glibc in the environment leaves every rwlock to glibc (each call goes straight
 * to glibc's own function): the way out for a program whose read sections wait for one another
 * (a reader holding the lock waits for another reader to get in), which only reader preference
 * lets through, and which deadlocks on krwsem once a writer queues (glibc's tst-rwlock16).
 * Read once, on the first rwlock call; the fast paths pay one relaxed load and a branch.
 *
 * Tools: the lock and unlock calls go through the core's layered entry points (krwsem__down_*,
 * krwsem__up_*), so whatever lockdep, lock_stat and probes the core does for krwsem covers the
 * drop-in too.  The
 * core keys and counts a krwsem by its name, which a program's rwlock lacks: with lockdep or
 * statistics on, the rwlock is named before its first lock as a mutex is (tools.c: "rwlock
 * 0x... #n first locked at main+0x2a [prog]" for lockdep, "first locked at ..." for
 * statistics alone).
 *
 * The fast paths (rdlock, tryrdlock, wrlock, trywrlock, unlock) are leaves, as the mutex's
 * are: a krwsem in use (one load of the tag and option bits), KMUTEX_RWLOCK not glibc (one
 * load), the tools off (unobserved(): two loads, one branch), a thread that has its
 * descriptor; then krwsem's own fast path, inline from krwsem_fast.h, with the core's
 * orderings.  Its failure goes to the core's slow path through a hidden entry point (no PLT),
 * with the state the try left; a call that does not pass the tests takes the layered entry
 * points above, where the tools follow it.  Before: 1.9x glibc's uncontended rdlock+unlock,
 * the extra call level each way (docs/rwsem-results.md).
 */
#include <stdlib.h>
#include <string.h>

#include "dropin.h"
#include "krwsem.h"
#include "krwsem_fast.h"

_Static_assert(sizeof(struct krwsem) <= sizeof(pthread_rwlock_t), "a krwsem must fit in pthread_rwlock_t");
_Static_assert(offsetof(struct krwsem, options) == offsetof(pthread_rwlock_t, __data.__flags),
	       "the kind must be where glibc's static initializers write __flags");
_Static_assert(offsetof(struct krwsem, layer_tag) + sizeof(uint32_t) <= sizeof(pthread_rwlock_t),
	       "the tag must lie inside the pthread_rwlock_t");
_Static_assert(offsetof(struct krwsem, layer_tag) >= offsetof(pthread_rwlock_t, __data.__flags) +
							sizeof(unsigned int),
	       "the tag must lie in padding glibc never touches after init");

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "is_krwsem() reads options as the low half");

/* "glib": a process-shared rwlock in glibc's layout, forwarded. */
#define RWLOCK_GLIBC_TAG 0x62696c67u

/* glibc's pthread_rwlockattr_t (8 bytes): the kind, then pshared, as its own calls keep them. */
struct rwlock_attr {
	int kind;
	int pshared;
};
_Static_assert(sizeof(struct rwlock_attr) <= sizeof(pthread_rwlockattr_t), "glibc's rwlock attr layout");

static inline struct krwsem *as_krwsem(pthread_rwlock_t *rwlock)
{
	return (struct krwsem *)(void *)rwlock;
}

static inline struct rwlock_attr *as_attr(pthread_rwlockattr_t *attr)
{
	return (struct rwlock_attr *)(void *)attr;
}

enum rwlock_class { RC_KRWSEM, RC_GLIBC, RC_INVALID };

/*
 * The tag and the core's option bits, in one load (options and layer_tag are adjacent, 8-byte
 * aligned): zero but for the kind means a krwsem in use, the only case the fast paths look at.
 * RELAXED: written by init and destroy only, which the user orders with every use.
 */
static inline uint64_t rwlock_word48(pthread_rwlock_t *rwlock)
{
	return kmx_load((uint64_t *)(void *)&as_krwsem(rwlock)->options, KMX_RELAXED);
}

static inline bool is_krwsem(uint64_t word48)
{
	/* Little-endian on both architectures we build for: options is the low half. */
	return kmx_likely((word48 & ~(uint64_t)KRWSEM__LAYER_MASK) == 0);
}

static enum rwlock_class classify_rwlock(pthread_rwlock_t *rwlock)
{
	uint64_t word48 = rwlock_word48(rwlock);

	if (is_krwsem(word48))
		return RC_KRWSEM;
	if ((uint32_t)(word48 >> 32) == RWLOCK_GLIBC_TAG)
		return RC_GLIBC;
	return RC_INVALID; /* garbage (destroy never sets the core's DESTROYED bit here) */
}

/*
 * KMUTEX_RWLOCK=glibc: every rwlock is glibc's.  0 not read yet, 1 krwsem, 2 glibc.  RELAXED:
 * every thread that reads the environment stores the same value; it orders nothing.
 */
static int rwlock_mode;

static __attribute__((noinline, cold)) bool rwlock_mode_read(void)
{
	const char *env = getenv("KMUTEX_RWLOCK");
	int mode = env && strcmp(env, "glibc") == 0 ? 2 : 1;

	kmx_store(&rwlock_mode, mode, KMX_RELAXED);
	return mode == 2;
}

static inline bool all_glibc(void)
{
	int mode = kmx_load(&rwlock_mode, KMX_RELAXED);

	if (kmx_likely(mode == 1))
		return false;
	return mode == 2 || rwlock_mode_read();
}

/* ---- attributes: glibc's layout, so a forwarded init reads them as its own -------------- */

int pthread_rwlockattr_init(pthread_rwlockattr_t *attr)
{
	memset(attr, 0, sizeof(*attr));
	as_attr(attr)->kind = PTHREAD_RWLOCK_DEFAULT_NP;
	as_attr(attr)->pshared = PTHREAD_PROCESS_PRIVATE;
	return 0;
}

int pthread_rwlockattr_destroy(pthread_rwlockattr_t *attr)
{
	(void)attr;
	return 0;
}

int pthread_rwlockattr_getpshared(const pthread_rwlockattr_t *attr, int *pshared)
{
	*pshared = ((const struct rwlock_attr *)(const void *)attr)->pshared;
	return 0;
}

int pthread_rwlockattr_setpshared(pthread_rwlockattr_t *attr, int pshared)
{
	if (pshared != PTHREAD_PROCESS_PRIVATE && pshared != PTHREAD_PROCESS_SHARED)
		return EINVAL;
	as_attr(attr)->pshared = pshared;
	return 0;
}

int pthread_rwlockattr_getkind_np(const pthread_rwlockattr_t *attr, int *kind)
{
	*kind = ((const struct rwlock_attr *)(const void *)attr)->kind;
	return 0;
}

int pthread_rwlockattr_setkind_np(pthread_rwlockattr_t *attr, int kind)
{
	if (kind != PTHREAD_RWLOCK_PREFER_READER_NP && kind != PTHREAD_RWLOCK_PREFER_WRITER_NP &&
	    kind != PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)
		return EINVAL;
	as_attr(attr)->kind = kind;
	return 0;
}

/* ---- init and destroy ------------------------------------------------------------------ */

int pthread_rwlock_init(pthread_rwlock_t *rwlock, const pthread_rwlockattr_t *attr)
{
	const struct rwlock_attr *a = attr ? (const struct rwlock_attr *)(const void *)attr : NULL;
	int ret;

	if (all_glibc())
		return glibc_rwlock_init(rwlock, attr);
	if (a && a->pshared != PTHREAD_PROCESS_PRIVATE) {
		ret = glibc_rwlock_init(rwlock, attr);
		if (ret == 0)
			as_krwsem(rwlock)->layer_tag = RWLOCK_GLIBC_TAG;
		return ret;
	}
	memset(rwlock, 0, sizeof(*rwlock));
	(krwsem_init_flags)(as_krwsem(rwlock), 0); /* the function: unnamed, as a mutex's */
	as_krwsem(rwlock)->options = a ? (uint32_t)a->kind & KRWSEM__LAYER_MASK : 0;
	return 0;
}

/*
 * As glibc's, which does nothing and returns 0, even for an rwlock still held (glibc's own
 * tst-rwlock6 and tst-rwlock7 destroy a write-locked rwlock and expect 0): the krwsem is left
 * as it is, so a program that goes on using a destroyed rwlock (as it can on glibc) still
 * works.  (krwsem_destroy() would abort on a held krwsem and make every later use misuse.)
 */
int pthread_rwlock_destroy(pthread_rwlock_t *rwlock)
{
	if (all_glibc() || classify_rwlock(rwlock) == RC_GLIBC)
		return glibc_rwlock_destroy(rwlock);
	return 0;
}

/* ---- lock ------------------------------------------------------------------------------- */

/* Named before its first lock with a tool on (see the header comment); ip: the caller's. */
static inline void rw_named(struct krwsem *sem, const void *ip)
{
	if (kmx_unlikely(!unobserved()))
		tools_rwlock_name(sem, ip);
}

enum rw_call { RW_LOCK, RW_TIMED, RW_CLOCK }; /* which glibc call a forwarded rwlock goes to */

/*
 * A timed call's arguments, checked before anything else, as glibc does: EINVAL for a clock
 * other than CLOCK_REALTIME and CLOCK_MONOTONIC, or tv_nsec out of range, even when the lock
 * is free.  Sets *mode for the core.
 */
static inline int timed_mode(enum rw_call call, clockid_t clockid, const struct timespec *abstime,
			     int *mode)
{
	if (call == RW_LOCK) {
		*mode = 0;
		return 0;
	}
	if (kmx_unlikely(!valid_clock(clockid) || !valid_timespec(abstime)))
		return EINVAL;
	*mode = KMUTEX__TIMED | (clockid == CLOCK_REALTIME ? KMUTEX__REALTIME : 0);
	return 0;
}

static __attribute__((noinline)) int rdlock_other(pthread_rwlock_t *rwlock, enum rw_call call,
						  clockid_t clockid, const struct timespec *abstime)
{
	if (!all_glibc() && classify_rwlock(rwlock) != RC_GLIBC)
		return EINVAL;
	return glibc_rwlock_rdlock(rwlock, call, clockid, abstime);
}

static __attribute__((noinline)) int wrlock_other(pthread_rwlock_t *rwlock, enum rw_call call,
						  clockid_t clockid, const struct timespec *abstime)
{
	if (!all_glibc() && classify_rwlock(rwlock) != RC_GLIBC)
		return EINVAL;
	return glibc_rwlock_wrlock(rwlock, call, clockid, abstime);
}

/*
 * May the inline fast path run?  A krwsem, not KMUTEX_RWLOCK=glibc, the tools off (else the
 * layered calls, which tell them), and the caller's descriptor made (a thread's first lock
 * makes it, in the layered call).  Returns the descriptor, or NULL for the layered call.
 */
static inline struct kmutex_task *fast_path_self(pthread_rwlock_t *rwlock)
{
	if (kmx_unlikely(!is_krwsem(rwlock_word48(rwlock)) || all_glibc() || !unobserved()))
		return NULL;
	return kmutex__current;
}

/* The inline fast paths' failures: the core's slow paths, as krwsem__down_* would take them. */
static __attribute__((noinline)) int rdlock_contended(pthread_rwlock_t *rwlock,
						      struct kmutex_task *self, uint64_t count,
						      const void *ip)
{
	return -krwsem__down_read_slow(as_krwsem(rwlock), self, count, ip);
}

static __attribute__((noinline)) int wrlock_contended(pthread_rwlock_t *rwlock,
						      struct kmutex_task *self, const void *ip)
{
	return -krwsem__down_write_slow(as_krwsem(rwlock), self, ip);
}

/* Not inlined into the public calls, so that their fast paths stay leaves without a frame. */
static __attribute__((noinline)) int rdlock(pthread_rwlock_t *rwlock, enum rw_call call,
					    clockid_t clockid, const struct timespec *abstime,
					    const void *ip)
{
	int mode, ret;

	if (kmx_unlikely(!is_krwsem(rwlock_word48(rwlock)) || all_glibc()))
		return rdlock_other(rwlock, call, clockid, abstime);
	ret = timed_mode(call, clockid, abstime, &mode);
	if (ret)
		return ret;
	rw_named(as_krwsem(rwlock), ip);
	return -krwsem__down_read(as_krwsem(rwlock), mode, abstime);
}

static __attribute__((noinline)) int wrlock(pthread_rwlock_t *rwlock, enum rw_call call,
					    clockid_t clockid, const struct timespec *abstime,
					    const void *ip)
{
	int mode, ret;

	if (kmx_unlikely(!is_krwsem(rwlock_word48(rwlock)) || all_glibc()))
		return wrlock_other(rwlock, call, clockid, abstime);
	ret = timed_mode(call, clockid, abstime, &mode);
	if (ret)
		return ret;
	rw_named(as_krwsem(rwlock), ip);
	return -krwsem__down_write(as_krwsem(rwlock), mode, abstime);
}

int pthread_rwlock_rdlock(pthread_rwlock_t *rwlock)
{
	struct kmutex_task *self = fast_path_self(rwlock);
	uint64_t count;

	if (kmx_likely(self != NULL)) {
		if (kmx_likely(krwsem__read_fast(as_krwsem(rwlock), self, &count)))
			return 0;
		return rdlock_contended(rwlock, self, count, CALLER);
	}
	return rdlock(rwlock, RW_LOCK, CLOCK_REALTIME, NULL, CALLER);
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *rwlock, const struct timespec *abstime)
{
	return rdlock(rwlock, RW_TIMED, CLOCK_REALTIME, abstime, CALLER);
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t *rwlock, clockid_t clockid, const struct timespec *abstime)
{
	return rdlock(rwlock, RW_CLOCK, clockid, abstime, CALLER);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *rwlock)
{
	struct kmutex_task *self = fast_path_self(rwlock);

	if (kmx_likely(self != NULL)) {
		if (kmx_likely(krwsem__write_fast(as_krwsem(rwlock), self)))
			return 0;
		return wrlock_contended(rwlock, self, CALLER);
	}
	return wrlock(rwlock, RW_LOCK, CLOCK_REALTIME, NULL, CALLER);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *rwlock, const struct timespec *abstime)
{
	return wrlock(rwlock, RW_TIMED, CLOCK_REALTIME, abstime, CALLER);
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t *rwlock, clockid_t clockid, const struct timespec *abstime)
{
	return wrlock(rwlock, RW_CLOCK, clockid, abstime, CALLER);
}

/* The try calls: EBUSY, also for the write holder (as glibc), EAGAIN on overflow (read). */
int pthread_rwlock_tryrdlock(pthread_rwlock_t *rwlock)
{
	struct kmutex_task *self = fast_path_self(rwlock);

	if (kmx_likely(self != NULL) && kmx_likely(krwsem__read_try_fast(as_krwsem(rwlock), self)))
		return 0;
	if (kmx_unlikely(all_glibc()))
		return glibc_rwlock_tryrdlock(rwlock);
	switch (classify_rwlock(rwlock)) {
	case RC_KRWSEM:
		rw_named(as_krwsem(rwlock), CALLER);
		return -krwsem__down_read_try(as_krwsem(rwlock));
	case RC_GLIBC:
		return glibc_rwlock_tryrdlock(rwlock);
	default:
		return EINVAL;
	}
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *rwlock)
{
	struct kmutex_task *self = fast_path_self(rwlock);

	if (kmx_likely(self != NULL) && kmx_likely(krwsem__write_fast(as_krwsem(rwlock), self)))
		return 0;
	if (kmx_unlikely(all_glibc()))
		return glibc_rwlock_trywrlock(rwlock);
	switch (classify_rwlock(rwlock)) {
	case RC_KRWSEM:
		rw_named(as_krwsem(rwlock), CALLER);
		return -krwsem__down_write_try(as_krwsem(rwlock));
	case RC_GLIBC:
		return glibc_rwlock_trywrlock(rwlock);
	default:
		return EINVAL;
	}
}

/* ---- unlock ----------------------------------------------------------------------------- */

/*
 * Which lock the caller releases: the write lock if it holds it, else a read lock (glibc
 * decides the same way, by its __cur_writer).  RELAXED: only this thread can have made the
 * owner word name it as the writer (krwsem.c, holds_write()); a thread without a descriptor
 * holds no write lock.
 */
static inline bool write_held_by_self(struct krwsem *sem)
{
	struct kmutex_task *self = kmutex__current;

	return self && kmx_load(&sem->owner, KMX_RELAXED) == (uintptr_t)self;
}

int pthread_rwlock_unlock(pthread_rwlock_t *rwlock)
{
	struct krwsem *sem = as_krwsem(rwlock);
	struct kmutex_task *self = fast_path_self(rwlock);

	if (kmx_likely(self != NULL)) {
		/* The write holder (write_held_by_self(), and the writer bit, as krwsem.c's
		 * holds_write()); the count a guess for the cmpxchg, exact for that test.  A
		 * reader's owner word has READER_OWNED set, so never equals self. */
		if (kmx_unlikely(write_held_by_self(sem))) {
			uint64_t count = kmx_load(&sem->count, KMX_RELAXED);

			if (kmx_likely(count & RWSEM_WRITER_LOCKED))
				krwsem__up_write_owned(sem, count);
			else
				krwsem__up_write(sem); /* cannot be right: the core says why */
			return 0;
		}
		krwsem__up_read_as(sem, self); /* misuse too: its slow path reports it */
		return 0;
	}
	if (kmx_unlikely(!is_krwsem(rwlock_word48(rwlock)) || all_glibc())) {
		if (!all_glibc() && classify_rwlock(rwlock) != RC_GLIBC)
			return EINVAL;
		return glibc_rwlock_unlock(rwlock);
	}
	/* The layered unlocks: the lock tools follow them as they follow krwsem__down_*. */
	if (write_held_by_self(sem))
		krwsem__up_write(sem);
	else
		krwsem__up_read(sem);
	return 0;
}
