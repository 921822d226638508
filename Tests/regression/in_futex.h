/*
 * For tests that signal a sleeping waiter: a signal ends a futex sleep only once the thread is
 * inside the syscall (one that lands just before it is handled and forgotten, and the thread
 * then sleeps on).  /proc shows the system call a blocked thread is in, and its arguments:
 * the waiter must be in futex on its own wake word (kmutex_test_wake_word()), which it
 * records at KMUTEX_TP_WAITER_SLEEP.
 *
 * Under qemu-user (make test-arm64) /proc shows the host's view: the host's syscall number,
 * which the make rule passes as KMX_TEST_HOST_SYS_FUTEX, and the host address, which is the
 * guest's (qemu maps a 64-bit guest at guest_base 0 on x86-64).  The word matters there: the
 * emulator's own locks sleep in futex too, and a waiter held up on one of them must not pass
 * for asleep in its wait.
 */
#ifndef KMX_TEST_IN_FUTEX_H
#define KMX_TEST_IN_FUTEX_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* Thread tid of this process is blocked in the futex syscall on word. */
static inline int thread_in_futex(long tid, const uint32_t *word)
{
	const char *host_nr = getenv("KMX_TEST_HOST_SYS_FUTEX");
	char path[64], line[96] = "", want[48];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", tid);
	snprintf(want, sizeof(want), "%d 0x%lx ", host_nr ? atoi(host_nr) : (int)SYS_futex,
		 (unsigned long)(uintptr_t)word);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strncmp(line, want, strlen(want)) == 0;
}

#endif
