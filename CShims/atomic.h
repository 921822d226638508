/*
 * The atomic and barrier layer of kmutex: kernel-shaped names over the __atomic builtins,
 * each taking its memory order explicitly so that every call site states (and comments)
 * the weakest order that is correct.  Tests/urcu checks these against liburcu's uatomic_*
 * and cmm_smp_* (the whole layer, including the operations the lock itself does not use).
 * verify/weak checks every call under the C11 model: its kmx_relacy.h maps the __atomic
 * builtins these expand to onto Relacy's atomics, each call site named by its function.
 */
#ifndef KMX_ATOMIC_H
#define KMX_ATOMIC_H

#define KMX_RELAXED __ATOMIC_RELAXED
#define KMX_ACQUIRE __ATOMIC_ACQUIRE
#define KMX_RELEASE __ATOMIC_RELEASE
#define KMX_ACQ_REL __ATOMIC_ACQ_REL
#define KMX_SEQ_CST __ATOMIC_SEQ_CST

#define kmx_load(p, mo)          __atomic_load_n((p), (mo))
#define kmx_store(p, v, mo)      __atomic_store_n((p), (v), (mo))
#define kmx_xchg(p, v, mo)       __atomic_exchange_n((p), (v), (mo))
#define kmx_add_return(p, v, mo) __atomic_add_fetch((p), (v), (mo))
#define kmx_fetch_or(p, v, mo)   __atomic_fetch_or((p), (v), (mo))
#define kmx_fetch_and(p, v, mo)  __atomic_fetch_and((p), (v), (mo))

/*
 * Like the kernel's try_cmpxchg: on failure *expected is updated with the value found.
 * mo applies on success; a failed compare-and-swap is only a relaxed load, so a caller that
 * acts on the value found must order it itself (the v4.10 handoff acceptance needed an
 * smp_mb() for that; mainline's pickup is a successful cmpxchg instead).
 */
#define kmx_try_cmpxchg(p, expected, v, mo) \
	__atomic_compare_exchange_n((p), (expected), (v), 0, (mo), __ATOMIC_RELAXED)

/* Like the kernel's cmpxchg: returns the value found, which equals old on success. */
#define kmx_cmpxchg(p, old, v, mo) __extension__({ \
	__typeof__(*(p)) kmx_found_ = (old); \
	kmx_try_cmpxchg((p), &kmx_found_, (v), (mo)); \
	kmx_found_; })

#define kmx_smp_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define kmx_smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define kmx_smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

/*
 * The barrier after acting on a value just read from *p by a relaxed load or a failed cmpxchg
 * (the v4.10 handoff acceptance): it must make that read an ACQUIRE.  ThreadSanitizer does not
 * model atomic_thread_fence (llvm issue 52942; gcc warns) and would report the correct fenced
 * code as a race, so under TSan the same ACQUIRE is an acquire load of *p, which TSan models:
 * it reads the value seen or a later one in *p's modification order, so it synchronizes with
 * the same release (a later value is an RMW continuing that release's sequence, or a newer
 * release).  A missing ACQUIRE elsewhere still shows: no suppression, no annotation.  The
 * fence itself is checked under the C11 model by verify/weak (Relacy), which models fences.
 */
#if defined(__SANITIZE_THREAD__)
#define KMX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KMX_TSAN 1
#endif
#endif
#ifdef KMX_TSAN
#define kmx_smp_mb__after_read(p) ((void)kmx_load((p), KMX_ACQUIRE))
#else
#define kmx_smp_mb__after_read(p) kmx_smp_mb()
#endif
/* Orders a thread against its own signal handler only: no instruction, no CPU fence. */
#define kmx_signal_fence() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/*
 * The kernel's cpu_relax(): tell the core we are spinning, and wait a moment.  kmutex's spin
 * budgets count these rounds (kmutex.c, SPIN_MIN), sized for x86's pause, some 45 ns here.
 * On aarch64 the kernel uses yield, but its spinning is bounded by owner_on_cpu(), not by a
 * count; yield is a hint for SMT cores and a NOP on nearly every arm64 core (0.4 ns on
 * Graviton2's Neoverse-N1), which would shrink every budget by a factor of tens.  isb stalls
 * until the pipeline drains, some tens of nanoseconds: Rust's spin_loop() has used it since
 * 2021 (rust-lang/rust#84725, with those figures), as Arm advises.  It orders no memory
 * access.  Not measured here on arm64 hardware (docs/arm64.md).
 */
static inline void kmx_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("isb" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#define kmx_likely(x)   __builtin_expect(!!(x), 1)
#define kmx_unlikely(x) __builtin_expect(!!(x), 0)

#endif /* KMX_ATOMIC_H */
