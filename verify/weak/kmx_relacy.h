/*
 * The KMX_RELACY build: kmutex's real core (kmutex.c, osq.c, wait_lock.c, kcond.c, krwsem.c)
 * compiled as C++ and run under Relacy, the C++11 relaxed-memory checker (relacy-dev), so that
 * every memory order the core states is checked under the C11 model, not under x86-TSO.
 *
 * This header is force-included (g++ -include) before anything else in every translation unit
 * of the checked build.  It maps, without touching the core's logic:
 *
 *  - every __atomic builtin (the whole of CShims/atomic.h expands to them, and kmutex.h's
 *    inline fast paths use them directly) onto a Relacy atomic.  The core's fields stay plain
 *    integers (memset, struct initializers and Swift's view of kmutex.h are unchanged): each
 *    address the core touches atomically gets a shadow rl::atomic<uint64_t> (a "cell") for the
 *    iteration, and the real memory is written through, so the core's plain reads of words it
 *    owns (under a lock, or its own) see the latest value.  A word's value when its cell is
 *    made is its initialization, visible to every thread (see cell()); a plain write to it
 *    later (memset, a waiter node re-initialized on the stack) is noticed at the next atomic
 *    access (the word differs from what the cell last wrote through) and becomes a relaxed
 *    store of that value.
 *  - each call site carries its function, file and line, and its memory order passes through
 *    kmx_rl::order_at(): that is how a variant or a mutation weakens one ordering site
 *    (KMX_WEAKEN, see runtime.cpp and verify/README.md, "Weak memory").
 *  - futex.h (its include guard is taken here) onto Relacy's futex wait set: a wait reads the
 *    word's latest value and parks in the same step, may wake spuriously (reported as EINTR: a
 *    signal handler ran, which is how interruptible waits are explored) and, when it has a
 *    deadline, may time out (the clock then jumps to the deadline).  A wakeup orders the waker
 *    before the woken thread; there is no global fence (see kmx_futex_wait_clock()).
 *  - the clock (clock_gettime), sched_yield, cpu_relax and sched_getaffinity onto deterministic
 *    stand-ins: a ghost clock that advances a fixed step per read, a Relacy yield, and a
 *    scenario's CPU count; the per-thread descriptor (kmutex.h's kmutex__current) onto one
 *    descriptor per Relacy thread (task.c is replaced by runtime.cpp).
 *
 * What it does not model: plain (non-atomic) accesses of the core are not race-checked (only
 * the scenarios' own data is, as rl::var); Relacy's modification order follows execution
 * order, so a reordering of two stores to different words is never shown (the must-fail OSQ
 * variant therefore sinks the node's initialization past its publication itself: see
 * runtime.cpp, "store sinking").
 */
#ifndef KMX_RELACY_H
#define KMX_RELACY_H

#ifndef __cplusplus
#error "the KMX_RELACY build compiles the core as C++"
#endif

#define KMX_RELACY 1
#define KMUTEX_NO_PROBES 1 /* USDT probes are inline asm */

/* Every system header the core includes, before Relacy's macros (new, malloc, errno, EINVAL). */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <type_traits>

enum {
	kmx_sys_einval = EINVAL, kmx_sys_etimedout = ETIMEDOUT, kmx_sys_ebusy = EBUSY,
	kmx_sys_eintr = EINTR, kmx_sys_eagain = EAGAIN,
};

#include <relacy/relacy.hpp>

/* Relacy replaces these for its own tests; the core keeps the C library's meaning. */
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef errno
#define errno (*__errno_location())
#undef EINVAL
#define EINVAL kmx_sys_einval
#undef ETIMEDOUT
#define ETIMEDOUT kmx_sys_etimedout
#undef EBUSY
#define EBUSY kmx_sys_ebusy
#undef EINTR
#define EINTR kmx_sys_eintr
#undef EAGAIN
#define EAGAIN kmx_sys_eagain

#define _Static_assert static_assert
#define _Alignof alignof

struct kmutex_task;

namespace kmx_rl {

enum op { OP_LOAD, OP_STORE, OP_XCHG, OP_CMPXCHG, OP_ADD, OP_OR, OP_AND, OP_FENCE, OP_COUNT };

/*
 * Events counted over a whole search, to show that a scenario reaches what it is for (printed
 * with its result): pickups of a handoff, OSQ unqueues that relink (step C), waiters moved by a
 * broadcast, and the scenarios' own timeouts and interruptions.
 */
struct events {
	unsigned long long pickups, unqueue_relinks, moved, timeouts, interrupted;
};
extern events seen;

/* Reads KMX_WEAKEN, KMX_SINK, KMX_SITES: once, before the first simulation. */
void configure(void);
/* The memory order to use at this call site: the source's, or a variant's weaker one. */
int order_at(const char *func, const char *file, int line, int op, int mo, uint64_t found);

/*
 * The cell shadowing addr for this iteration (created, or re-synchronized after a plain
 * write).  Cells are Relacy atomics with a strong initialization (zero, visible to every
 * thread, as memory initialized before the threads start); a cell holds the word's value
 * XOR its value when the cell was made (base), so that a word's first value is known to
 * every thread, whatever it is.
 */
typedef rl::generic_atomic<uint64_t, true> cell_atomic;
struct cell_ref {
	cell_atomic &a;
	uint64_t base;
};
cell_ref cell(const void *addr, unsigned size, rl::debug_info_param info);
/* An atomic store or RMW of the cell left this value: write it through to the real memory. */
void write_through(void *addr, unsigned size, uint64_t bits);
/* Store sinking (a variant's store-store reordering): flush this thread's delayed store. */
void flush_sunk(rl::debug_info_param info);
void flush_sunk_for(const void *addr, rl::debug_info_param info);
bool sink_store(const char *func, void *addr, unsigned size, uint64_t bits, int mo,
		rl::debug_info_param info);

rl::memory_order rl_order(int mo);
void fence(int mo, const char *func, const char *file, int line);
void relax(void);
int clock_gettime_(clockid_t clk, struct timespec *ts);
int getaffinity(cpu_set_t *set);
struct kmutex_task **current(void);

template <class T> static inline uint64_t bits(T v)
{
	uint64_t b = 0;
	memcpy(&b, &v, sizeof(v));
	return b;
}

template <class T> static inline T from_bits(uint64_t b)
{
	T v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

template <class T>
static inline typename std::remove_cv<T>::type load(T *p, int mo, const char *func,
						    const char *file, int line)
{
	typedef typename std::remove_cv<T>::type U;
	rl::debug_info info(func, file, line);
	cell_ref c = cell((const void *)p, sizeof(U), info);

	mo = order_at(func, file, line, OP_LOAD, mo, 0);
	if (mo == __ATOMIC_RELEASE || mo == __ATOMIC_ACQ_REL)
		mo = __ATOMIC_ACQUIRE; /* as C11 does for a load */
	return from_bits<U>(c.a.load(rl_order(mo), info) ^ c.base);
}

template <class T, class V>
static inline void store(T *p, V v, int mo, const char *func, const char *file, int line)
{
	rl::debug_info info(func, file, line);
	uint64_t b = bits((T)v);
	cell_ref c = cell((const void *)p, sizeof(T), info);

	mo = order_at(func, file, line, OP_STORE, mo, 0);
	if (mo == __ATOMIC_ACQUIRE || mo == __ATOMIC_ACQ_REL)
		mo = __ATOMIC_RELEASE;
	if (sink_store(func, (void *)p, sizeof(T), b, mo, info))
		return;
	c.a.store(b ^ c.base, rl_order(mo), info);
	write_through((void *)p, sizeof(T), b);
}

template <class T, class V>
static inline T rmw(int op, T *p, V v, int mo, const char *func, const char *file, int line)
{
	rl::debug_info info(func, file, line);
	cell_ref c = cell((const void *)p, sizeof(T), info);
	uint64_t b = bits((T)v);
	rl::memory_order o;

	mo = order_at(func, file, line, op, mo, 0);
	o = rl_order(mo);
	if (mo != __ATOMIC_RELAXED && mo != __ATOMIC_ACQUIRE)
		flush_sunk(info); /* a release: the thread's earlier stores are visible first */
	if (op == OP_XCHG) {
		uint64_t old = c.a.exchange(b ^ c.base, o, info) ^ c.base;

		write_through((void *)p, sizeof(T), b);
		return from_bits<T>(old);
	}
	if constexpr (std::is_integral<T>::value) {
		/*
		 * add, or, and: a compare-and-swap loop (the cell holds the value relative to the
		 * word's initial one, see cell()); the successful one is the RMW, with the site's
		 * order, as one fetch_op is.
		 */
		uint64_t seen = c.a.load(rl::mo_relaxed, info);
		T oldv, newv;

		for (;;) {
			oldv = from_bits<T>(seen ^ c.base);
			newv = op == OP_ADD ? (T)(oldv + (T)v) : op == OP_OR ? (T)(oldv | (T)v)
									   : (T)(oldv & (T)v);
			if (c.a.compare_exchange_strong(seen, bits(newv) ^ c.base, o, info,
							rl::mo_relaxed, info))
				break;
		}
		write_through((void *)p, sizeof(T), bits(newv));
		return oldv;
	}
	RL_VERIFY(!"arithmetic on a pointer word");
	return T();
}

template <class T, class V>
static inline bool cmpxchg(T *p, T *expected, V v, int smo, int fmo, const char *func,
			   const char *file, int line)
{
	rl::debug_info info(func, file, line);
	cell_ref c = cell((const void *)p, sizeof(T), info);
	uint64_t e = bits(*expected), b = bits((T)v), ce = e ^ c.base;
	bool ok;

	smo = order_at(func, file, line, OP_CMPXCHG, smo, e);
	/* Relacy wants a failure order no stronger than the success order, as C11 did. */
	if (smo == __ATOMIC_RELAXED || smo == __ATOMIC_RELEASE)
		fmo = __ATOMIC_RELAXED;
	if (smo != __ATOMIC_RELAXED && smo != __ATOMIC_ACQUIRE)
		flush_sunk(info);
	ok = c.a.compare_exchange_strong(ce, b ^ c.base, rl_order(smo), info, rl_order(fmo), info);
	if (ok)
		write_through((void *)p, sizeof(T), b);
	else
		*expected = from_bits<T>(ce ^ c.base);
	return ok;
}

} /* namespace kmx_rl */

/*
 * The builtins, after the templates above (which call the real ones nowhere).  __func__ is the
 * function that made the call: with the operation and the source order it names the site.
 */
#define __atomic_load_n(p, mo) kmx_rl::load((p), (mo), __func__, __FILE__, __LINE__)
#define __atomic_store_n(p, v, mo) kmx_rl::store((p), (v), (mo), __func__, __FILE__, __LINE__)
#define __atomic_exchange_n(p, v, mo) \
	kmx_rl::rmw(kmx_rl::OP_XCHG, (p), (v), (mo), __func__, __FILE__, __LINE__)
#define __atomic_fetch_or(p, v, mo) \
	kmx_rl::rmw(kmx_rl::OP_OR, (p), (v), (mo), __func__, __FILE__, __LINE__)
#define __atomic_fetch_and(p, v, mo) \
	kmx_rl::rmw(kmx_rl::OP_AND, (p), (v), (mo), __func__, __FILE__, __LINE__)
#define __atomic_add_fetch(p, v, mo) \
	((__typeof__(*(p)))(kmx_rl::rmw(kmx_rl::OP_ADD, (p), (v), (mo), __func__, __FILE__, __LINE__) + (v)))
#define __atomic_compare_exchange_n(p, e, v, weak, smo, fmo) \
	kmx_rl::cmpxchg((p), (e), (v), (smo), (fmo), __func__, __FILE__, __LINE__)
#define __atomic_thread_fence(mo) kmx_rl::fence((mo), __func__, __FILE__, __LINE__)
#define __atomic_signal_fence(mo) ((void)0) /* one thread and its handler: nothing to model */

/* cpu_relax() and sched_yield(): a point where the spinning thread lets the others run. */
#define __builtin_ia32_pause() kmx_rl::relax()
#undef sched_yield
#define sched_yield() (kmx_rl::relax(), 0)
#define clock_gettime(clk, ts) kmx_rl::clock_gettime_((clk), (ts))
#define sched_getaffinity(pid, size, set) kmx_rl::getaffinity(set)

/* kmutex.h: the descriptor of the Relacy thread running. */
struct kmutex_task **kmx_rl_current(void);

/* futex.h, on Relacy's futex wait set (see the header comment). */
#define KMX_FUTEX_H
int kmx_futex_wait_clock(uint32_t *word, uint32_t expected, const struct timespec *deadline,
			 int realtime);
static inline int kmx_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *deadline)
{
	return kmx_futex_wait_clock(word, expected, deadline, 0);
}
int kmx_futex_wake(uint32_t *word, int n);

/* C identifiers that are C++ keywords, in the core's C files only (mk/verify-weak.mk). */
#ifdef KMX_RL_CORE_C
#define new kmx_new_
#endif

/* sched_view.c's rseq areas in the checked build (runtime.cpp): the calling thread's, and the
 * CPU one names, read only while the area is alive (a use after its free is reported). */
struct rseq;
const struct rseq *kmx_rl_own_rseq_area(void);
int kmx_rl_rseq_cpu(const struct rseq *area);

#endif /* KMX_RELACY_H */
