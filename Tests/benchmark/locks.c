/*
 * The C lock adapters: kmutex (default, NO_HANDOFF, NO_SPIN), glibc pthread_mutex NORMAL and
 * ADAPTIVE_NP, a test-and-test-and-set spinlock, Concurrency Kit's MCS lock, and the bare
 * cmpxchg acquire/release pair that is the uncontended floor.
 */
#include <ck_spinlock.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h" /* kmx_cpu_relax(): the same pause the kmutex spin uses */
#include "bench.h"
#include "kmutex.h"

/* PAIRS_LOOP(name, type, lock-statement, unlock-statement): the inlined uncontended loop. */
#define PAIRS_LOOP(fn, type, LOCK, UNLOCK)                                   \
	static void fn(void *obj, uint64_t n)                                 \
	{                                                                     \
		type *l = obj;                                                \
		for (uint64_t i = 0; i < n; i++) {                            \
			LOCK;                                                 \
			/* keeps the pair from being merged across iterations */ \
			__asm__ volatile("" ::: "memory");                    \
			UNLOCK;                                               \
		}                                                             \
	}

/* ---- the floor: one cmpxchg to take a word, one to give it back ---- */

static void bare_init(void *obj) { *(uintptr_t *)obj = 0; }
static void bare_destroy(void *obj) { (void)obj; }

static inline void bare_acquire(uintptr_t *word)
{
	uintptr_t expect = 0;

	/* ACQUIRE pairs with bare_release's RELEASE; the loop never spins uncontended. */
	while (!__atomic_compare_exchange_n(word, &expect, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		expect = 0;
}

static inline void bare_release(uintptr_t *word)
{
	uintptr_t expect = 1;

	/* RELEASE pairs with bare_acquire; a cmpxchg, as kmutex's unlock fast path is one. */
	__atomic_compare_exchange_n(word, &expect, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

static void bare_lock(void *obj) { bare_acquire(obj); }
static void bare_unlock(void *obj) { bare_release(obj); }
PAIRS_LOOP(bare_pairs, uintptr_t, bare_acquire(l), bare_release(l))

static const struct bench_lock lock_bare = {
	.name = "bare-cmpxchg", .about = "floor: cmpxchg acquire + cmpxchg release, no lock",
	.size = sizeof(uintptr_t), .init = bare_init, .lock = bare_lock, .unlock = bare_unlock,
	.destroy = bare_destroy, .pairs = bare_pairs, .uncontended_only = true,
};

/* ---- kmutex and its two ablations ---- */

static void kmx_init_default(void *obj) { kmutex_init(obj); }
static void kmx_init_nohandoff(void *obj) { kmutex_init_flags(obj, KMUTEX_NO_HANDOFF); }
static void kmx_init_nospin(void *obj) { kmutex_init_flags(obj, KMUTEX_NO_SPIN); }
static void kmx_lock(void *obj) { kmutex_lock(obj); }
static void kmx_unlock(void *obj) { kmutex_unlock(obj); }
static void kmx_destroy(void *obj) { kmutex_destroy(obj); }
PAIRS_LOOP(kmx_pairs, struct kmutex, kmutex_lock(l), kmutex_unlock(l))

#define KMUTEX_LOCK(var, nm, initfn, text)                                            \
	static const struct bench_lock var = {                                       \
		.name = nm, .about = text, .size = sizeof(struct kmutex), .init = initfn, \
		.lock = kmx_lock, .unlock = kmx_unlock, .destroy = kmx_destroy,      \
		.pairs = kmx_pairs, .counts_futex = true,                            \
	}
KMUTEX_LOCK(lock_kmutex, "kmutex", kmx_init_default, "kmutex: spin (OSQ) + sleep + handoff");
KMUTEX_LOCK(lock_kmutex_nohandoff, "kmutex-nohandoff", kmx_init_nohandoff,
	    "kmutex with KMUTEX_NO_HANDOFF (pre-v4.10 stealing)");
KMUTEX_LOCK(lock_kmutex_nospin, "kmutex-nospin", kmx_init_nospin,
	    "kmutex with KMUTEX_NO_SPIN (sleep at once)");

/* ---- glibc ---- */

static void pthread_init_kind(void *obj, int kind)
{
	pthread_mutexattr_t attr;
	int err;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, kind);
	err = pthread_mutex_init(obj, &attr);
	pthread_mutexattr_destroy(&attr);
	if (err)
		bench_die("pthread_mutex_init: %s", strerror(err));
}

static void pt_init_normal(void *obj) { pthread_init_kind(obj, PTHREAD_MUTEX_NORMAL); }
static void pt_init_adaptive(void *obj) { pthread_init_kind(obj, PTHREAD_MUTEX_ADAPTIVE_NP); }
static void pt_lock(void *obj) { pthread_mutex_lock(obj); }
static void pt_unlock(void *obj) { pthread_mutex_unlock(obj); }
static void pt_destroy(void *obj) { pthread_mutex_destroy(obj); }
PAIRS_LOOP(pt_pairs, pthread_mutex_t, pthread_mutex_lock(l), pthread_mutex_unlock(l))

static const struct bench_lock lock_pt_normal = {
	.name = "pthread-normal", .about = "glibc pthread_mutex, PTHREAD_MUTEX_NORMAL",
	.size = sizeof(pthread_mutex_t), .init = pt_init_normal, .lock = pt_lock,
	.unlock = pt_unlock, .destroy = pt_destroy, .pairs = pt_pairs,
};
static const struct bench_lock lock_pt_adaptive = {
	.name = "pthread-adaptive", .about = "glibc pthread_mutex, PTHREAD_MUTEX_ADAPTIVE_NP",
	.size = sizeof(pthread_mutex_t), .init = pt_init_adaptive, .lock = pt_lock,
	.unlock = pt_unlock, .destroy = pt_destroy, .pairs = pt_pairs,
};

/* ---- test-and-test-and-set spinlock ---- */

static void ttas_init(void *obj) { *(uint32_t *)obj = 0; }
static void ttas_destroy(void *obj) { (void)obj; }

static inline void ttas_acquire(uint32_t *word)
{
	for (;;) {
		/* ACQUIRE pairs with ttas_release; the exchange is tried only when the word
		 * looked free, so waiters spin on a shared cache line, not on a bus lock. */
		if (!__atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE))
			return;
		/* RELAXED: only a hint that the exchange may now succeed. */
		while (__atomic_load_n(word, __ATOMIC_RELAXED))
			kmx_cpu_relax();
	}
}

static inline void ttas_release(uint32_t *word)
{
	/* RELEASE publishes the critical section to the next ttas_acquire. */
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

static void ttas_lock(void *obj) { ttas_acquire(obj); }
static void ttas_unlock(void *obj) { ttas_release(obj); }
PAIRS_LOOP(ttas_pairs, uint32_t, ttas_acquire(l), ttas_release(l))

static const struct bench_lock lock_ttas = {
	.name = "ttas", .about = "test-and-test-and-set spinlock with pause (this file)",
	.size = sizeof(uint32_t), .init = ttas_init, .lock = ttas_lock, .unlock = ttas_unlock,
	.destroy = ttas_destroy, .pairs = ttas_pairs,
};

/* ---- Concurrency Kit MCS: a FIFO queue lock; each thread holds one lock at a time here,
 * so one queue node per thread is enough ---- */

static __thread struct ck_spinlock_mcs mcs_node;

static void mcs_init(void *obj) { ck_spinlock_mcs_init(obj); }
static void mcs_destroy(void *obj) { (void)obj; }
static void mcs_lock(void *obj) { ck_spinlock_mcs_lock(obj, &mcs_node); }
static void mcs_unlock(void *obj) { ck_spinlock_mcs_unlock(obj, &mcs_node); }
PAIRS_LOOP(mcs_pairs, ck_spinlock_mcs_t, ck_spinlock_mcs_lock(l, &mcs_node),
	   ck_spinlock_mcs_unlock(l, &mcs_node))

static const struct bench_lock lock_ck_mcs = {
	.name = "ck-mcs", .about = "Concurrency Kit ck_spinlock_mcs (libck-dev)",
	.size = sizeof(ck_spinlock_mcs_t), .init = mcs_init, .lock = mcs_lock,
	.unlock = mcs_unlock, .destroy = mcs_destroy, .pairs = mcs_pairs,
};

/* ---- Swift: a placeholder entry; peer.c runs it in the Swift executable ---- */

static const struct bench_lock lock_swift = {
	.name = "swift-mutex", .about = "Swift Synchronization.Mutex (swift-mutex-peer, swiftc -O)",
	.external = true,
};

const struct bench_lock *const bench_locks[] = {
	&lock_bare, &lock_kmutex, &lock_kmutex_nohandoff, &lock_kmutex_nospin, &lock_pt_normal,
	&lock_pt_adaptive, &lock_ttas, &lock_ck_mcs, &bench_lock_absl, &lock_swift,
};
const size_t bench_nlocks = sizeof(bench_locks) / sizeof(bench_locks[0]);

const struct bench_lock *bench_find_lock(const char *name)
{
	for (size_t i = 0; i < bench_nlocks; i++)
		if (!strcmp(bench_locks[i]->name, name))
			return bench_locks[i];
	return NULL;
}

void *bench_lock_new(const struct bench_lock *l)
{
	size_t size = (l->size + BENCH_CACHELINE - 1) / BENCH_CACHELINE * BENCH_CACHELINE;
	void *obj = aligned_alloc(BENCH_CACHELINE, size);

	if (!obj)
		bench_die("out of memory for lock %s", l->name);
	memset(obj, 0, size);
	l->init(obj);
	return obj;
}

void bench_lock_free(const struct bench_lock *l, void *obj)
{
	l->destroy(obj);
	free(obj);
}
