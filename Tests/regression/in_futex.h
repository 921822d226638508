/*
 * For tests that signal a sleeping waiter: a signal ends a futex sleep only once the thread is
 * inside the syscall (one that lands just before it is handled and forgotten, and the thread
 * then sleeps on).  /proc shows the system call a blocked thread is in.
 *
 * /proc shows the kernel's number for it, which under qemu-user (make test-arm64) is the
 * host's, not the guest's SYS_futex: the make rule passes it as KMX_TEST_HOST_SYS_FUTEX.  The
 * emulator's own locks also sleep in futex, but a thread blocked on one is woken by a holder
 * that runs, and a woken thread shows as "running", so the check does not pass early.
 */
#ifndef KMX_TEST_IN_FUTEX_H
#define KMX_TEST_IN_FUTEX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* Thread tid of this process is blocked in the futex syscall. */
static inline int thread_in_futex(long tid)
{
	const char *host_nr = getenv("KMX_TEST_HOST_SYS_FUTEX");
	char path[64], line[64] = "", want[16];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", tid);
	snprintf(want, sizeof(want), "%d ", host_nr ? atoi(host_nr) : (int)SYS_futex);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strncmp(line, want, strlen(want)) == 0;
}

#endif
