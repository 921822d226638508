/*
 * krwsem: the Linux kernel's reader-writer semaphore (kernel/locking/rwsem.c) for user space,
 * with recursive read locks that never deadlock.  See CShims/krwsem.c for the protocol and the
 * bound, docs/rwsem.md for where it departs from the kernel.
 *
 * Readers take it with one atomic add, writers with one cmpxchg; writers spin behind the OSQ;
 * waiters sleep in one FIFO and queued readers are woken as a batch; a waiter at the head that
 * has waited KRWSEM_HANDOFF_AFTER_US (default 1 ms; the kernel's RWSEM_WAIT_TIMEOUT is 4 ms)
 * sets HANDOFF, which stops barging until it has the lock.  A thread that already holds a read
 * lock on a krwsem gets another one at once, even while writers wait (POSIX's and glibc's
 * promise; the kernel's down_read is not recursive).
 *
 * Rules of use (misuse is reported on stderr as one line, then abort(), as for kmutex):
 *   - up_write only by the thread that holds the write lock; up_read only with a read lock
 *     held (a read lock may be released by another thread, as glibc allows);
 *   - a krwsem stays at one address from krwsem_init (or its static initializer) to
 *     krwsem_destroy, which is called only when it is unlocked and has no waiters; any use
 *     after krwsem_destroy (until the next krwsem_init) is misuse;
 *   - not taken again by the write holder, for read or write (misuse; the layered calls
 *     below return -EDEADLK instead, checked on the slow path only);
 *   - not used from a signal handler.
 * Interruptions are kmutex's (kmutex_interrupt_self(), see kmutex.h).
 *
 * Included by kmutex.h; compiles as C11 and as C++, and Swift imports it.
 */
#ifndef KRWSEM_H
#define KRWSEM_H

#include "kmutex.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Embeddable; it must keep a fixed address while in use.  All fields are private, but the
 * layout is fixed for libkmutex-pthread, which keeps a krwsem in place inside glibc's 56-byte
 * pthread_rwlock_t: at most 56 bytes, aligned to at most 8, and `options` at offset 48, where
 * glibc's static initializers write the rwlock kind (0, or 2 for
 * PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP).  The low 16 bits of `options` and the
 * layer words are a layered API's: the core never reads them.  All zeros is a valid unlocked
 * krwsem.
 *
 *   offset  field       what
 *    0      count       WRITER_LOCKED (bit 0), WAITERS (1), HANDOFF (2), WOKEN (3), readers << 8
 *    8      owner       the writer's task, or a reader's | READER_OWNED (a hint); atomic
 *   16      wait_list   FIFO of sleeping waiters (circular), under wait_lock
 *   24      wait_lock   futex word of the internal lock guarding the list and the flag bits
 *   28      osq_tail    last writer spinning, as its task's id + 1; atomic
 *   32      name        lock class name, or NULL
 *   40      layer[0..1] for a layered API (core ignores)
 *   48      options     bits 0-15: a layered API's (type tag); bits 16-31: KRWSEM__OPT_*
 *   52      layer_tag   for a layered API (core ignores)
 */
struct krwsem {
	uint64_t count;
	uintptr_t owner;
	struct kmutex_waiter *wait_list;
	uint32_t wait_lock;
	uint32_t osq_tail;
	const char *name;
	uint32_t layer[2];
	uint32_t options;
	uint32_t layer_tag;
};

#define KRWSEM__LAYER_MASK     0x0000ffffu
#define KRWSEM__OPT_NO_SPIN    0x00010000u
#define KRWSEM__OPT_DESTROYED  0x80000000u /* krwsem_destroy ran; any later use is misuse */
#define KRWSEM__OPT_KNOWN      (KRWSEM__LAYER_MASK | KRWSEM__OPT_NO_SPIN)

/* Options for krwsem_init_flags(). */
#define KRWSEM_NO_SPIN 0x2u /* writers never spin optimistically (as KMUTEX_NO_SPIN) */

#if defined(__x86_64__) || defined(__aarch64__)
#ifdef __cplusplus
#define KRWSEM__ASSERT(cond, msg) static_assert(cond, msg)
#else
#define KRWSEM__ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
KRWSEM__ASSERT(sizeof(struct krwsem) <= 56, "struct krwsem must fit in a pthread_rwlock_t");
KRWSEM__ASSERT(__alignof__(struct krwsem) <= 8, "struct krwsem must align like a pthread_rwlock_t");
KRWSEM__ASSERT(__builtin_offsetof(struct krwsem, options) == 48,
	       "krwsem.options must be where glibc's initializers write the rwlock kind");
KRWSEM__ASSERT(sizeof(((struct krwsem *)0)->options) == 4, "krwsem.options is 32 bits");
#undef KRWSEM__ASSERT
#endif

#ifdef __cplusplus
#define KRWSEM_INITIALIZER { 0, 0, 0, 0, 0, 0, { 0, 0 }, 0, 0 }
#define DEFINE_KRWSEM(semname) struct krwsem semname = { 0, 0, 0, 0, 0, #semname, { 0, 0 }, 0, 0 }
#else
#define KRWSEM_INITIALIZER { 0 }
/* The lock class is named after the variable, as DEFINE_KMUTEX does. */
#define DEFINE_KRWSEM(semname) struct krwsem semname = { .name = #semname }
#endif

/* Classes are named as kmutex's are (kmutex.h): krwsem_init(s) by its call site. */
void krwsem_init(struct krwsem *sem);
void krwsem_init_flags(struct krwsem *sem, unsigned flags);
void krwsem__init_named(struct krwsem *sem, unsigned flags, const char *name);
#define krwsem_init(sem) krwsem__init_named((sem), 0, KMUTEX__CALL_SITE)
#define krwsem_init_flags(sem, flags) krwsem__init_named((sem), (flags), KMUTEX__CALL_SITE)
/* Aborts if the krwsem is locked or has waiters; afterwards it must be initialized again. */
void krwsem_destroy(struct krwsem *sem);
void krwsem_set_name(struct krwsem *sem, const char *name);

/* ---- read side ---------------------------------------------------------------------------- */

void krwsem_down_read(struct krwsem *sem);
/* 1 acquired, 0 not (a writer holds it, or waiters queue and the caller holds no read lock). */
int krwsem_down_read_trylock(struct krwsem *sem);
/* 0, or -EINTR: interrupted while waiting (as kmutex_lock_interruptible). */
int krwsem_down_read_interruptible(struct krwsem *sem);
/*
 * deadline: absolute, CLOCK_MONOTONIC.  0, or -ETIMEDOUT; -EINVAL if tv_nsec is out of range
 * (checked only when the call has to wait; a NULL deadline is misuse).
 */
int krwsem_down_read_timeout(struct krwsem *sem, const struct timespec *deadline);
void krwsem_up_read(struct krwsem *sem);

/* ---- write side --------------------------------------------------------------------------- */

void krwsem_down_write(struct krwsem *sem);
int krwsem_down_write_trylock(struct krwsem *sem);              /* 1 acquired, 0 not */
int krwsem_down_write_interruptible(struct krwsem *sem);        /* 0 or -EINTR */
int krwsem_down_write_timeout(struct krwsem *sem, const struct timespec *deadline);
void krwsem_up_write(struct krwsem *sem);
/* The write holder becomes a reader, letting queued readers in with it; never sleeps. */
void krwsem_downgrade_write(struct krwsem *sem);

/* ---- queries ------------------------------------------------------------------------------ */

/* 1 if held for read or write.  A snapshot: it may change as soon as it is read. */
int krwsem_is_locked(const struct krwsem *sem);
/* 1 if the calling thread holds it for write (exact for the caller). */
int krwsem_write_held_by_self(const struct krwsem *sem);
/*
 * 1 if the calling thread holds it for read, as far as its record of held read locks knows:
 * exact for up to KRWSEM_READ_HELD_SLOTS read locks held at once; beyond that it answers 1
 * for any krwsem (see krwsem.c, "recursive reads").
 */
int krwsem_read_held_by_self(const struct krwsem *sem);
#define KRWSEM_READ_HELD_SLOTS 8

/* ---- for layered APIs (libkmutex-pthread); not for general use ----------------------------- */

/*
 * The lock calls with every outcome reported.  mode: 0, KMUTEX__INTERRUPTIBLE or KMUTEX__TIMED
 * (| KMUTEX__REALTIME: the deadline is on CLOCK_REALTIME).  Returns 0, -EINTR, -ETIMEDOUT,
 * -EINVAL (tv_nsec out of range), -EDEADLK (the caller holds the write lock), and for readers
 * -EAGAIN: the reader count is at its maximum (2^55 - 1 read locks at once).  The try forms
 * return 0, -EBUSY or (read) -EAGAIN.
 */
int krwsem__down_read(struct krwsem *sem, int mode, const struct timespec *deadline);
int krwsem__down_read_try(struct krwsem *sem);
int krwsem__down_write(struct krwsem *sem, int mode, const struct timespec *deadline);
int krwsem__down_write_try(struct krwsem *sem);
/*
 * A layered API takes and releases through these krwsem__ calls: the lock tools (lockdep,
 * lock_stat's acquisitions and hold times, the acquire/unlock probes) follow them whenever
 * KMUTEX_LOCKDEP or KMUTEX_STAT is on, at the cost of one test of those switches per call; the
 * public calls are followed only in the debug build (CShims/krwsem_tools.h).
 */
void krwsem__up_read(struct krwsem *sem);
void krwsem__up_write(struct krwsem *sem);

#ifdef __cplusplus
}
#endif

#endif /* KRWSEM_H */
