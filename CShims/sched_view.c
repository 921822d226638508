#include "sched_view.h"

#include <sched.h>
#include <time.h>

#include "atomic.h"
#include "kmutex_int.h"
#include "test_hooks.h"

#if defined(__has_include) && !defined(KMX_RELACY)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define KMX_HAVE_RSEQ 1
#endif
#endif

#ifdef KMUTEX_TEST_HOOKS
volatile int kmutex_test_sched_view_off;
#endif

#if defined(KMX_RELACY)
/* verify/weak: each Relacy thread's area is a checked stand-in (runtime.cpp). */
static const struct rseq *own_area(void) { return kmx_rl_own_rseq_area(); }
static int area_cpu(const struct rseq *area) { return kmx_rl_rseq_cpu(area); }
#elif defined(KMX_HAVE_RSEQ)
/* The thread pointer, which glibc's __rseq_offset is relative to (sys/rseq.h). */
static const char *thread_pointer(void)
{
	const char *tp;

#if defined(__x86_64__)
	__asm__("mov %%fs:0, %0" : "=r"(tp)); /* the TCB's self pointer: the thread pointer */
#elif defined(__aarch64__)
	__asm__("mrs %0, tpidr_el0" : "=r"(tp));
#else
	tp = NULL;
#endif
	return tp;
}

/* The calling thread's rseq area, or NULL: glibc did not register one (or cannot say where). */
static const struct rseq *own_area(void)
{
	const char *tp = thread_pointer();

	/* __rseq_size is 0 when glibc did not register (the tunable, or the kernel said no). */
	if (!tp || __rseq_size < sizeof(uint32_t) * 2)
		return NULL;
	return (const struct rseq *)(tp + __rseq_offset);
}

/* cpu_id as the kernel last wrote it: RELAXED, a hint; negative (never registered, or
 * registration failed: RSEQ_CPU_ID_UNINITIALIZED, RSEQ_CPU_ID_REGISTRATION_FAILED) is -1. */
static int area_cpu(const struct rseq *area)
{
	int32_t cpu = (int32_t)kmx_load(&area->cpu_id, KMX_RELAXED);

	return cpu >= 0 ? cpu : -1;
}
#else
static const struct rseq *own_area(void) { return NULL; }
static int area_cpu(const struct rseq *area) { (void)area; return -1; }
#endif

void kmx_last_cpu_publish(struct kmx_last_cpu *lc)
{
	/*
	 * RELEASE: pairs with kmx_last_cpu_of()'s SEQ_CST (so acquiring) load.  The area was
	 * initialized in user space by this thread (glibc writes cpu_id before it registers the
	 * area; ThreadSanitizer sees the thread's TLS written at its start): a reader must see
	 * that, not what the memory held before.  A recycled descriptor's previous thread stored
	 * NULL here (retract) before this, in this word's modification order.
	 */
	kmx_store(&lc->area, own_area(), KMX_RELEASE);
}

void kmx_last_cpu_retract(struct kmx_last_cpu *lc)
{
	/* SEQ_CST store, then SEQ_CST load: pairs with kmx_last_cpu_of()'s increment and load
	 * (see sched_view.h).  Once readers is 0 with the area gone, nobody reads it any more. */
	kmx_store(&lc->area, NULL, KMX_SEQ_CST);
	for (unsigned tries = 0; kmx_load(&lc->readers, KMX_SEQ_CST) != 0; tries++) {
		/*
		 * A reader between its two steps: a few instructions, unless it was preempted.
		 * Then it may be on our CPU, and a real-time exiting thread's sched_yield() would
		 * not let it run: after a few yields, sleep, which frees the CPU for anyone.
		 */
#ifndef KMX_RELACY
		if (tries >= 16) {
			nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
			continue;
		}
#endif
		sched_yield();
	}
}

int kmx_last_cpu_of(struct kmx_last_cpu *lc)
{
	const struct rseq *area;
	int cpu = -1;

#ifdef KMUTEX_TEST_HOOKS
	if (kmutex_test_sched_view_off)
		return -1;
#endif
	/* SEQ_CST increment, then SEQ_CST load: pairs with kmx_last_cpu_retract(). */
	kmx_add_return(&lc->readers, 1, KMX_SEQ_CST);
	area = kmx_load(&lc->area, KMX_SEQ_CST);
	if (area)
		cpu = area_cpu(area);
	/* RELEASE: pairs with kmx_last_cpu_retract()'s SEQ_CST (so acquiring) load: our read of
	 * the area is done before a retracting thread can see 0. */
	kmx_add_return(&lc->readers, (uint32_t)-1, KMX_RELEASE);
	return cpu;
}

/*
 * The checked build (verify/weak) replaces the two below with stand-ins that know nothing
 * (runtime.cpp), so that the mutex scenarios never look at CPUs: only the last-cpu scenario
 * runs the publish, retract and read above.
 */
#ifndef KMX_RELACY
int kmx_this_cpu(const struct kmx_last_cpu *lc)
{
	/* RELAXED: our own field, written by this thread. */
	const struct rseq *area = kmx_load(&lc->area, KMX_RELAXED);

#ifdef KMUTEX_TEST_HOOKS
	if (kmutex_test_sched_view_off)
		return -1;
#endif
	return area ? area_cpu(area) : -1;
}

#define SCHED_VIEW_POLICY_TTL_NS 1000000ull /* 1 ms: ~0.03% of a thread's time at worst */

bool kmx_self_realtime(struct kmx_policy_cache *cache)
{
	uint64_t now;

#ifdef KMUTEX_TEST_HOOKS
	if (kmutex_test_sched_view_off)
		return false;
#endif
	now = kmx_monotonic_ns();
	if (!cache->checked_ns || now - cache->checked_ns >= SCHED_VIEW_POLICY_TTL_NS) {
		int policy = sched_getscheduler(0);

		policy = policy < 0 ? SCHED_OTHER : policy & ~SCHED_RESET_ON_FORK;
		cache->realtime = policy == SCHED_FIFO || policy == SCHED_RR ||
				  policy == SCHED_DEADLINE;
		cache->checked_ns = now ? now : 1;
	}
	return cache->realtime;
}
#endif /* KMX_RELACY */
