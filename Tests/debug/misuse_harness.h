/*
 * The misuse tests' harness (Tests/debug/misuse.c for kmutex and kcond, rwsem_misuse.c for
 * krwsem).  Misuse is stopped with one line on stderr, then abort():
 *     kmutex: <check> (<what> 0x..., thread <tid>)
 * Each case runs in a child (fork + waitpid); the parent asserts that the child died of
 * SIGABRT and that its stderr is exactly that line, with the check string, the object's
 * address (the child has it at the same address as the parent) and the thread that misused
 * it, which the child reports through a pipe just before the misuse (report_tid).
 */
#ifndef KMX_MISUSE_HARNESS_H
#define KMX_MISUSE_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "check.h"

/* ---- in the child ------------------------------------------------------------------------ */

/* The child writes the misusing thread's id here before it misuses. */
static int tid_fd = -1;

/* Just before the misuse: tell the parent which thread misuses. */
static void report_tid(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (write(tid_fd, &tid, sizeof(tid)) != (ssize_t)sizeof(tid))
		_exit(3);
}

/* Anything that goes wrong before the misuse ends the child with a distinct status. */
static void child_fail(const char *why)
{
	(void)!write(STDOUT_FILENO, why, strlen(why));
	_exit(4);
}

/* The thread is asleep (state S in /proc): in a futex sleep, for the cases below. */
static int thread_sleeps(pid_t tid)
{
	char path[64], stat[512];
	int fd, n;
	char *state;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = (int)read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	stat[n] = 0;
	state = strrchr(stat, ')'); /* the command name may hold spaces */
	return state && state[1] == ' ' && state[2] == 'S';
}

/*
 * Destroy with a waiter on the list and the lock free: park_waiter() starts a thread that
 * calls wait(), which must sleep on the lock the caller holds, and once it sleeps there
 * (queued(), if given, confirms it is on the wait list) parks it in a signal handler that
 * never returns.  The caller's unlock then leaves the lock free with the waiter still queued,
 * unable to take it.
 */
static int in_handler; /* atomic */
static pid_t waiter_tid; /* atomic */

static void park_handler(int sig)
{
	(void)sig;
	__atomic_store_n(&in_handler, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

static void *waiter_noting_tid(void *wait)
{
	__atomic_store_n(&waiter_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	((void (*)(void))wait)();
	return NULL;
}

static void park_waiter(void (*wait)(void), int (*queued)(void))
{
	pthread_t t;
	pid_t tid;

	install_handler(SIGUSR1, park_handler, 0);
	pthread_create(&t, NULL, waiter_noting_tid, (void *)wait);
	while (!(tid = __atomic_load_n(&waiter_tid, __ATOMIC_ACQUIRE)))
		sleep_us(100);
	/* Asleep with the lock held by us can only mean: on the wait list, in its futex sleep
	 * (the internal wait_lock is uncontended here, so the waiter never sleeps on it). */
	for (long waited = 0; !(thread_sleeps(tid) && (!queued || queued())); waited++) {
		if (waited > 100000)
			child_fail("waiter never slept\n");
		sleep_us(100);
	}
	pthread_kill(t, SIGUSR1);
	while (!__atomic_load_n(&in_handler, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

/* ---- in the parent: run a case in a child and check how it died ---------------------------- */

/* Read all of fd into buf (NUL-terminated); the child's stderr is one short line. */
static void read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = 0;
}

/* misuse() in a child must abort with "kmutex: <check> (<what> <object>, thread <tid>)". */
static void expect_abort_of(void (*misuse)(void), const char *check, const char *what,
			   const void *object)
{
	int err_pipe[2], tid_pipe[2], status;
	char err[1024], expected[512];
	pid_t child, tid = 0;

	fflush(stdout);
	if (pipe(err_pipe) || pipe(tid_pipe))
		abort();
	child = fork();
	if (child == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core); /* abort() is expected: no core files */
		dup2(err_pipe[1], STDERR_FILENO);
		close(err_pipe[0]);
		close(err_pipe[1]);
		close(tid_pipe[0]);
		tid_fd = tid_pipe[1];
		alarm(30); /* a child that hangs instead of aborting dies of SIGALRM */
		misuse();
		_exit(0); /* not stopped: the parent reports it */
	}
	close(err_pipe[1]);
	close(tid_pipe[1]);
	read_all(err_pipe[0], err, sizeof(err));
	check_drop_emulator_line(err);
	if (read(tid_pipe[0], &tid, sizeof(tid)) != (ssize_t)sizeof(tid))
		tid = 0;
	close(err_pipe[0]);
	close(tid_pipe[0]);
	waitpid(child, &status, 0);
	snprintf(expected, sizeof(expected), "kmutex: %s (%s %p, thread %ld)\n", check, what,
		 object, (long)tid);
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
		fprintf(stderr, "  child status 0x%x (exit %d, signal %d); stderr: %s\n", status,
			WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			WIFSIGNALED(status) ? WTERMSIG(status) : 0, err);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	CHECK(tid > 0);
	if (strcmp(err, expected) != 0)
		fprintf(stderr, "  expected: %s  got:      %s\n", expected, err);
	CHECK(strcmp(err, expected) == 0);
}

/* test_NAME: case_NAME must abort with check about the object what (e.g. "mutex", &victim). */
#define MISUSE_CASE_OF(name, check, what, object)                \
	static void test_##name(void)                            \
	{                                                        \
		expect_abort_of(case_##name, check, what, object); \
	}

/* Correct use in a child exits normally with nothing on stderr: the checks do not misfire. */
static void expect_no_abort(void (*correct_use)(void))
{
	int err_pipe[2], status;
	char err[256];
	pid_t child;

	fflush(stdout);
	if (pipe(err_pipe))
		abort();
	child = fork();
	if (child == 0) {
		dup2(err_pipe[1], STDERR_FILENO);
		close(err_pipe[0]);
		close(err_pipe[1]);
		correct_use();
		_exit(0);
	}
	close(err_pipe[1]);
	read_all(err_pipe[0], err, sizeof(err));
	close(err_pipe[0]);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(err[0] == 0);
}

#endif /* KMX_MISUSE_HARNESS_H */
