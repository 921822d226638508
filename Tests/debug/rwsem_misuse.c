/*
 * krwsem misuse is stopped with one line on stderr, then abort():
 *     kmutex: <check> (rwsem 0x..., thread <tid>)
 * Each case runs in a child (fork + waitpid); the parent asserts that the child died of
 * SIGABRT and that its stderr is exactly that line, with the check string of CShims/krwsem.c,
 * the krwsem's address and the thread that misused it.  (krwsem's checks are always on: every
 * call goes through the library.)  Built twice: the debug build (-DKMUTEX_DEBUG, the debug
 * library) also checks the wait list and the flags whenever wait_lock changes hands.
 */
#include "kmutex.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "check.h"

static struct krwsem victim;
static int tid_fd = -1;

/* In the child, just before the misuse: tell the parent which thread misuses. */
static void report_tid(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (write(tid_fd, &tid, sizeof(tid)) != (ssize_t)sizeof(tid))
		_exit(3);
}

static void child_fail(const char *why)
{
	(void)!write(STDOUT_FILENO, why, strlen(why));
	_exit(4);
}

/* A thread that takes the victim (for write if arg is non-NULL) and keeps it forever. */
static int other_holds; /* atomic */

static void *hold_forever(void *write)
{
	if (write)
		krwsem_down_write(&victim);
	else
		krwsem_down_read(&victim);
	__atomic_store_n(&other_holds, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

static void other_thread_holds(int write)
{
	pthread_t t;

	pthread_create(&t, NULL, hold_forever, write ? (void *)1 : NULL);
	while (!__atomic_load_n(&other_holds, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

/* ---- the cases (each runs in a child and should not return) ----------------------------- */

static void case_up_write_by_non_holder(void)
{
	krwsem_init(&victim);
	other_thread_holds(1);
	report_tid();
	krwsem_up_write(&victim);
}

static void case_up_write_unlocked(void)
{
	krwsem_init(&victim);
	report_tid();
	krwsem_up_write(&victim);
}

static void case_up_write_read_held(void)
{
	krwsem_init(&victim);
	krwsem_down_read(&victim);
	report_tid();
	krwsem_up_write(&victim);
}

static void case_up_read_unlocked(void)
{
	krwsem_init(&victim);
	krwsem_down_read(&victim);
	krwsem_up_read(&victim);
	report_tid();
	krwsem_up_read(&victim);
}

static void case_up_read_write_held_by_other(void)
{
	krwsem_init(&victim);
	other_thread_holds(1);
	report_tid();
	krwsem_up_read(&victim);
}

static void case_up_read_write_held_by_self(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_up_read(&victim);
}

static void case_recursive_write(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_down_write(&victim);
}

static void case_read_by_write_holder(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_down_read(&victim); /* would wait for itself: -EDEADLK for a layer, misuse here */
}

static void case_recursive_write_timeout(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	(void)krwsem_down_write_timeout(&victim, &deadline);
}

static void case_downgrade_unlocked(void)
{
	krwsem_init(&victim);
	report_tid();
	krwsem_downgrade_write(&victim);
}

static void case_downgrade_by_non_holder(void)
{
	krwsem_init(&victim);
	other_thread_holds(1);
	report_tid();
	krwsem_downgrade_write(&victim);
}

static void case_destroy_read_held(void)
{
	krwsem_init(&victim);
	other_thread_holds(0);
	report_tid();
	krwsem_destroy(&victim);
}

static void case_destroy_write_held(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_destroy(&victim);
}

/*
 * Destroy with a waiter queued and the lock free: a writer waits while we hold the write lock;
 * it is parked in a signal handler that never returns, so our unlock only marks its wakeup and
 * leaves the lock free with WAITERS set.
 */
static int in_handler; /* atomic */

static void park_handler(int sig)
{
	(void)sig;
	__atomic_store_n(&in_handler, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

static pid_t waiter_tid; /* atomic */

static void *write_waiter(void *arg)
{
	(void)arg;
	__atomic_store_n(&waiter_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	krwsem_down_write(&victim);
	return NULL;
}

/* The thread is asleep (state S in /proc/.../stat). */
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
	state = strrchr(stat, ')');
	return state && state[1] == ' ' && state[2] == 'S';
}

static void case_destroy_with_waiters(void)
{
	struct sigaction sa = { .sa_handler = park_handler };
	pthread_t t;
	pid_t tid;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	krwsem_init_flags(&victim, KRWSEM_NO_SPIN);
	krwsem_down_write(&victim);
	pthread_create(&t, NULL, write_waiter, NULL);
	while (!(tid = __atomic_load_n(&waiter_tid, __ATOMIC_ACQUIRE)))
		sleep_us(100);
	/* Asleep while we hold the lock: on the wait list, in its futex sleep. */
	for (long waited = 0; !(thread_sleeps(tid) && (victim.count & 2)); waited++) {
		if (waited > 100000)
			child_fail("waiter never slept\n");
		sleep_us(100);
	}
	pthread_kill(t, SIGUSR1);
	while (!__atomic_load_n(&in_handler, __ATOMIC_ACQUIRE))
		sleep_us(100);
	krwsem_up_write(&victim);
	if (krwsem_is_locked(&victim))
		child_fail("the parked waiter took the lock\n");
	report_tid();
	krwsem_destroy(&victim);
}

static void case_destroyed_down_read(void)
{
	krwsem_init(&victim);
	krwsem_destroy(&victim);
	report_tid();
	krwsem_down_read(&victim);
}

static void case_destroyed_down_write(void)
{
	krwsem_init(&victim);
	krwsem_destroy(&victim);
	report_tid();
	(void)krwsem_down_write_trylock(&victim);
}

static void case_destroyed_twice(void)
{
	krwsem_init(&victim);
	krwsem_destroy(&victim);
	report_tid();
	krwsem_destroy(&victim);
}

static void case_corrupted(void)
{
	memset(&victim, 0xa5, sizeof(victim));
	report_tid();
	krwsem_down_read(&victim);
}

static void case_unknown_flag(void)
{
	report_tid();
	krwsem_init_flags(&victim, 0x80);
}

static void case_null_deadline_read(void)
{
	krwsem_init(&victim);
	report_tid();
	(void)krwsem_down_read_timeout(&victim, NULL);
}

static void case_null_deadline_write(void)
{
	krwsem_init(&victim);
	report_tid();
	(void)krwsem_down_write_timeout(&victim, NULL);
}

#ifdef KMUTEX_DEBUG
/* Flag words the protocol never produces: HANDOFF with nobody waiting, WAITERS on an empty list. */
static void case_handoff_without_head(void)
{
	krwsem_init(&victim);
	__atomic_store_n(&victim.count, 0x4, __ATOMIC_RELAXED);
	report_tid();
	krwsem_down_write(&victim);
}

static void case_waiters_without_list(void)
{
	krwsem_init(&victim);
	__atomic_store_n(&victim.count, 0x2 | 0x100, __ATOMIC_RELAXED); /* a reader, WAITERS */
	report_tid();
	krwsem_up_read(&victim);
}
#endif

/* ---- the parent ------------------------------------------------------------------------- */

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

static void expect_abort(void (*misuse)(void), const char *check)
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

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(err_pipe[1], STDERR_FILENO);
		close(err_pipe[0]);
		close(err_pipe[1]);
		close(tid_pipe[0]);
		tid_fd = tid_pipe[1];
		alarm(30);
		misuse();
		_exit(0);
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
	snprintf(expected, sizeof(expected), "kmutex: %s (rwsem %p, thread %ld)\n", check,
		 (void *)&victim, (long)tid);
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
		fprintf(stderr, "  child status 0x%x; stderr: %s\n", status, err);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	CHECK(tid > 0);
	if (strcmp(err, expected) != 0)
		fprintf(stderr, "  expected: %s  got:      %s\n", expected, err);
	CHECK(strcmp(err, expected) == 0);
}

#define MISUSE_CASE(name, check)                  \
	static void test_##name(void)             \
	{                                         \
		expect_abort(case_##name, check); \
	}

MISUSE_CASE(up_write_by_non_holder, "up_write by a thread that does not hold the write lock")
MISUSE_CASE(up_write_unlocked, "up_write of a krwsem that is not write-locked")
MISUSE_CASE(up_write_read_held, "up_write of a krwsem that is not write-locked")
MISUSE_CASE(up_read_unlocked, "up_read of a krwsem that is not read-locked")
MISUSE_CASE(up_read_write_held_by_other, "up_read of a krwsem that is not read-locked")
MISUSE_CASE(up_read_write_held_by_self, "up_read of a krwsem write-locked by the caller")
MISUSE_CASE(recursive_write, "recursive write lock by the holder")
MISUSE_CASE(recursive_write_timeout, "recursive write lock by the holder")
MISUSE_CASE(read_by_write_holder, "read lock by the write holder")
MISUSE_CASE(downgrade_unlocked, "downgrade_write of a krwsem that is not write-locked")
MISUSE_CASE(downgrade_by_non_holder,
	    "downgrade_write by a thread that does not hold the write lock")
MISUSE_CASE(destroy_read_held, "destroy of a locked krwsem")
MISUSE_CASE(destroy_write_held, "destroy of a locked krwsem")
MISUSE_CASE(destroy_with_waiters, "destroy of a krwsem with waiters")
MISUSE_CASE(destroyed_down_read, "use of a destroyed krwsem")
MISUSE_CASE(destroyed_down_write, "use of a destroyed krwsem")
MISUSE_CASE(destroyed_twice, "use of a destroyed krwsem")
MISUSE_CASE(corrupted, "use of an uninitialized or corrupted krwsem")
MISUSE_CASE(unknown_flag, "krwsem_init_flags: unknown flag")
MISUSE_CASE(null_deadline_read, "krwsem_down_read_timeout: NULL deadline")
MISUSE_CASE(null_deadline_write, "krwsem_down_write_timeout: NULL deadline")
#ifdef KMUTEX_DEBUG
MISUSE_CASE(handoff_without_head, "corrupted krwsem: HANDOFF set, not by the head waiter")
MISUSE_CASE(waiters_without_list, "corrupted krwsem: WAITERS disagrees with the wait list")
#endif

/* Correct use exits normally with nothing on stderr. */
static void test_correct_use_does_not_abort(void)
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
		krwsem_init(&victim);
		krwsem_down_read(&victim);
		krwsem_down_read(&victim);
		krwsem_up_read(&victim);
		krwsem_up_read(&victim);
		krwsem_down_write(&victim);
		krwsem_downgrade_write(&victim);
		krwsem_up_read(&victim);
		krwsem_destroy(&victim);
		krwsem_init(&victim);
		krwsem_destroy(&victim);
		_exit(0);
	}
	close(err_pipe[1]);
	read_all(err_pipe[0], err, sizeof(err));
	close(err_pipe[0]);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(err[0] == 0);
}

int main(void)
{
	check_start(300);
#ifdef KMUTEX_DEBUG
	printf("krwsem misuse checks, debug build\n");
#else
	printf("krwsem misuse checks, release build\n");
#endif
	RUN(test_correct_use_does_not_abort);
	RUN(test_up_write_by_non_holder);
	RUN(test_up_write_unlocked);
	RUN(test_up_write_read_held);
	RUN(test_up_read_unlocked);
	RUN(test_up_read_write_held_by_other);
	RUN(test_up_read_write_held_by_self);
	RUN(test_read_by_write_holder);
	RUN(test_recursive_write);
	RUN(test_recursive_write_timeout);
	RUN(test_downgrade_unlocked);
	RUN(test_downgrade_by_non_holder);
	RUN(test_destroy_read_held);
	RUN(test_destroy_write_held);
	RUN(test_destroy_with_waiters);
	RUN(test_destroyed_down_read);
	RUN(test_destroyed_down_write);
	RUN(test_destroyed_twice);
	RUN(test_corrupted);
	RUN(test_unknown_flag);
	RUN(test_null_deadline_read);
	RUN(test_null_deadline_write);
#ifdef KMUTEX_DEBUG
	RUN(test_handoff_without_head);
	RUN(test_waiters_without_list);
#endif
	return check_finish();
}
