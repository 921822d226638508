/*
 * Shared by the libkmutex-pthread tests: is a call served by the drop-in, or did it fall
 * through to glibc?  Two independent witnesses, both deterministic:
 *  - dladdr() on the address the program's own (versioned) reference resolved to, e.g.
 *    pthread_cond_wait@GLIBC_2.3.2: it must lie in libkmutex-pthread;
 *  - the bytes of a locked mutex: kmutex's owner word (offset 0) holds a descriptor pointer
 *    and nothing is at offset 8 while uncontended; glibc's holds __lock = 1 at 0 and the
 *    owner's tid at 8.
 */
#ifndef PT_H
#define PT_H

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline const char *pt_object_of(const void *fn)
{
	Dl_info info;

	if (!dladdr(fn, &info) || !info.dli_fname)
		return "?";
	return info.dli_fname;
}

/* 1 if fn is the drop-in's; else prints which object serves it. */
static inline int pt_served_by_kmutex(const char *name, const void *fn)
{
	const char *object = pt_object_of(fn);

	if (strstr(object, "libkmutex-pthread"))
		return 1;
	fprintf(stderr, "%s fell through to glibc: it resolves to %s\n", name, object);
	return 0;
}

/* A symbol as this program's reference resolved it: PT_FN(pthread_mutex_lock). */
struct pt_fn {
	const char *name;
	const void *fn;
};
#define PT_FN(name) { #name, (const void *)&name }

/* 1 if every one of the n symbols is the drop-in's; else prints each that is not. */
static inline int pt_all_served_by_kmutex(const struct pt_fn *fns, size_t n)
{
	int all = 1;

	for (size_t i = 0; i < n; i++)
		all &= pt_served_by_kmutex(fns[i].name, fns[i].fn);
	return all;
}

/* The bytes of a mutex locked by the caller: 1 kmutex layout, 0 glibc's (with a message). */
static inline int pt_locked_bytes_are_kmutex(const char *what, const void *mutex)
{
	uintptr_t word0;
	int owner8;

	memcpy(&word0, mutex, sizeof(word0));
	memcpy(&owner8, (const char *)mutex + 8, sizeof(owner8));
	if (word0 > 0xffff && owner8 != (int)syscall(SYS_gettid))
		return 1;
	fprintf(stderr, "%s fell through to glibc: locked bytes say __lock=%lu, owner tid %d\n", what,
		(unsigned long)word0, owner8);
	return 0;
}

static inline int pt_locked_bytes_are_glibc(const void *mutex)
{
	int lock0, owner8;

	memcpy(&lock0, mutex, sizeof(lock0));
	memcpy(&owner8, (const char *)mutex + 8, sizeof(owner8));
	return lock0 != 0 && owner8 == (int)syscall(SYS_gettid);
}

/* An absolute deadline ms from now on clock. */
static inline struct timespec pt_deadline(clockid_t clock, long ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static inline long pt_elapsed_ms(clockid_t clock, const struct timespec *start)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Run fn(arg) in a new thread and return its int result. */
struct pt_call {
	int (*fn)(void *);
	void *arg;
	int ret;
};

static inline void *pt_call_thread(void *p)
{
	struct pt_call *call = p;

	call->ret = call->fn(call->arg);
	return NULL;
}

static inline int pt_in_thread(int (*fn)(void *), void *arg)
{
	struct pt_call call = { fn, arg, -1 };
	pthread_t t;

	if (pthread_create(&t, NULL, pt_call_thread, &call) != 0)
		return -1;
	pthread_join(t, NULL);
	return call.ret;
}

/*
 * CHECK (check.h) that a helper returning 0 or the line of its first failed step returned 0;
 * a failure names that line.
 */
#define CHECK_STEPS(call)                                                                   \
	do {                                                                                \
		int line_ = (call);                                                         \
		if (line_)                                                                  \
			fprintf(stderr, "%s:%d: step failed\n", __FILE__, line_);           \
		CHECK(line_ == 0);                                                          \
	} while (0)

/*
 * Run misuse(which) in a forked child; its stderr into out (NUL-terminated: all of it, since a
 * lockdep report may come before the misuse line).  1 if the child died of SIGABRT.
 */
static inline int pt_child_aborts(int (*misuse)(int), int which, char *out, size_t len)
{
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) != 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		_exit(misuse(which));
	}
	close(fds[1]);
	for (size_t got = 0;; got += (size_t)n) {
		n = read(fds[0], out + got, len - 1 - got);
		if (n <= 0) {
			out[got] = 0;
			break;
		}
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

#endif /* PT_H */
