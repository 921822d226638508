/*
 * Raw futex syscalls: the only way kmutex sleeps and wakes.  Private futexes (the words live in
 * one process), as glibc's and the kernel's own process-private users do.
 */
#ifndef KMX_FUTEX_H
#define KMX_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Futex calls this thread has made, waits and wakes: read by kmutex-bench to show a lock that
 * wins by sleeping less, or loses by waking more.  Thread-local, so counting moves no cache
 * line; weak, so the one header defines them for every object that includes it.  Always on:
 * an increment next to a syscall of a microsecond is below anything a benchmark can see.
 */
__attribute__((weak)) __thread uint64_t kmx_futex_waits, kmx_futex_wakes;

/*
 * Sleep while *word == expected.  deadline: NULL, or absolute, on CLOCK_REALTIME if realtime
 * else CLOCK_MONOTONIC (FUTEX_WAIT_BITSET takes an absolute time, FUTEX_WAIT a relative one).
 * Returns 0 when woken (or spuriously), -EAGAIN if *word != expected on entry,
 * -EINTR if a signal handler ran, -ETIMEDOUT once the deadline passed.
 */
static inline int kmx_futex_wait_clock(uint32_t *word, uint32_t expected,
				       const struct timespec *deadline, int realtime)
{
	int saved_errno = errno, err;
	long rc;

	kmx_futex_waits++;
	if (deadline)
		rc = syscall(SYS_futex, word,
			     FUTEX_WAIT_BITSET_PRIVATE | (realtime ? FUTEX_CLOCK_REALTIME : 0),
			     expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
	else
		rc = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
	err = rc == 0 ? 0 : -errno;
	errno = saved_errno; /* kmutex calls never change the caller's errno */
	return err;
}

/* The same with a CLOCK_MONOTONIC deadline (or none). */
static inline int kmx_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *deadline)
{
	return kmx_futex_wait_clock(word, expected, deadline, 0);
}

/* Wake up to n sleepers on word; returns how many were woken, or -errno. */
static inline int kmx_futex_wake(uint32_t *word, int n)
{
	int saved_errno = errno, err;
	long rc;

	kmx_futex_wakes++;
	rc = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
	err = rc >= 0 ? (int)rc : -errno;
	errno = saved_errno;
	return err;
}

#endif /* KMX_FUTEX_H */
