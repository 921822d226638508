/*
 * glibc's semantics for glibc's types (issue 21, items 1 and 2): what programs rely on that
 * POSIX leaves undefined or that only glibc's layout decides, checked the same way on glibc
 * alone and under the drop-in (mk/pthread.mk runs both; every case must pass on both).
 *  - A NORMAL/DEFAULT or ADAPTIVE mutex relocked by its owner waits (tst-mutex5, -5a, -6):
 *    a timed relock returns ETIMEDOUT, not before its deadline; an untimed one waits until
 *    another thread unlocks the mutex.
 *  - Such a mutex unlocked by a thread that does not own it is released (tst-cond14, -15):
 *    here as a pair of binary semaphores passing a turn back and forth.
 *  - A condvar wait whose relock of a robust mutex finds its owner dead returns EOWNERDEAD
 *    (tst-robust7, tst-robustpi7), also from a timed wait.
 *  - Under the drop-in only: KMUTEX_STRICT=1 turns both misuses into kmutex's one-line abort.
 * No timing threshold: a wait's end is checked against its own deadline, and "the relock is
 * blocked" is read from /proc (the thread sleeps), never from elapsed time.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "pt.h"

#define CHECK_MAIN(expr)                                                      \
	do {                                                                  \
		if (!(expr)) {                                                \
			fprintf(stderr, "FAIL: %s\n", #expr);                 \
			return 1;                                             \
		}                                                             \
	} while (0)

static bool under_dropin(void)
{
	return strstr(pt_object_of((const void *)pthread_mutex_lock), "libkmutex-pthread") != NULL;
}

static bool reached(clockid_t clockid, const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(clockid, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static struct timespec in_ms(clockid_t clockid, long ms)
{
	struct timespec ts;

	clock_gettime(clockid, &ts);
	return ts_add_ns(ts, ms * 1000000LL);
}

/* Is thread tid asleep (state S in /proc)?  Polled until it is, with no time limit here. */
static bool asleep(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the state follows the command name */
	return p && p[1] == ' ' && p[2] == 'S';
}

static void wait_until_asleep(pid_t tid)
{
	while (!asleep(tid))
		usleep(1000);
}

/* ---- item 1: a relock by the owner waits ----------------------------------------------- */

static void timed_relock(pthread_mutex_t *m)
{
	struct timespec deadline = in_ms(CLOCK_REALTIME, 20), bad = deadline, past = { 0, 0 };
	struct timespec mono = in_ms(CLOCK_MONOTONIC, 20);

	CHECK(pthread_mutex_lock(m) == 0);
	CHECK(pthread_mutex_timedlock(m, &deadline) == ETIMEDOUT);
	CHECK(reached(CLOCK_REALTIME, &deadline));
	CHECK(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &mono) == ETIMEDOUT);
	CHECK(reached(CLOCK_MONOTONIC, &mono));
	CHECK(pthread_mutex_timedlock(m, &past) == ETIMEDOUT);
	bad.tv_nsec = 1000000000L;
	CHECK(pthread_mutex_timedlock(m, &bad) == EINVAL);
	CHECK(pthread_mutex_trylock(m) == EBUSY);
	CHECK(pthread_mutex_unlock(m) == 0);
	/* Still a working mutex, unlocked once. */
	CHECK(pthread_mutex_trylock(m) == 0);
	CHECK(pthread_mutex_unlock(m) == 0);
}

static void t_timed_relock_default(void)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	timed_relock(&m);
}

static void t_timed_relock_normal_adaptive(void)
{
	int types[] = { PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_ADAPTIVE_NP };

	for (unsigned i = 0; i < 2; i++) {
		pthread_mutexattr_t attr;
		pthread_mutex_t m;

		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, types[i]);
		CHECK(pthread_mutex_init(&m, &attr) == 0);
		timed_relock(&m);
		if (check_case_failed)
			return;
		CHECK(pthread_mutex_destroy(&m) == 0);
	}
}

static void t_c11_timed_relock(void)
{
	mtx_t m;
	struct timespec deadline = in_ms(CLOCK_REALTIME, 20);

	CHECK(mtx_init(&m, mtx_timed) == thrd_success);
	CHECK(mtx_lock(&m) == thrd_success);
	CHECK(mtx_timedlock(&m, &deadline) == thrd_timedout);
	CHECK(reached(CLOCK_REALTIME, &deadline));
	CHECK(mtx_unlock(&m) == thrd_success);
	mtx_destroy(&m);
}

/* A thread that relocks a mutex it holds, parked until another thread unlocks it. */
static pthread_mutex_t park = PTHREAD_MUTEX_INITIALIZER;
static atomic_int park_tid, park_relocked;

static void *parker(void *arg)
{
	(void)arg;
	if (pthread_mutex_lock(&park) != 0)
		return (void *)1;
	atomic_store(&park_tid, (int)syscall(SYS_gettid));
	if (pthread_mutex_lock(&park) != 0) /* waits for main's unlock */
		return (void *)2;
	atomic_store(&park_relocked, 1);
	return pthread_mutex_unlock(&park) == 0 ? NULL : (void *)3;
}

static void t_untimed_relock_waits_for_other_unlock(void)
{
	pthread_t t;
	void *ret;

	CHECK(pthread_create(&t, NULL, parker, NULL) == 0);
	while (!atomic_load(&park_tid))
		usleep(1000);
	wait_until_asleep(atomic_load(&park_tid));
	CHECK(!atomic_load(&park_relocked)); /* asleep in the relock, not past it */
	CHECK(pthread_mutex_unlock(&park) == 0); /* by a thread that does not own it */
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == NULL);
	CHECK(atomic_load(&park_relocked));
	CHECK(pthread_mutex_trylock(&park) == 0);
	CHECK(pthread_mutex_unlock(&park) == 0);
}

/* ---- item 1: an unlock by another thread releases ---------------------------------------- */

/*
 * Two DEFAULT mutexes as binary semaphores, as tst-cond14/15 use one: "ping" is taken by the
 * player whose turn it is and given back by the other.  Each lock is a relock by its last
 * locker that waits for the other thread's unlock; every unlock is by a non-owner.
 */
#define ROUNDS 5000
static pthread_mutex_t ping = PTHREAD_MUTEX_INITIALIZER, pong = PTHREAD_MUTEX_INITIALIZER;
static int turn; /* written only by the player the semaphores let run */

static void *ping_player(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (pthread_mutex_lock(&ping) != 0 || turn != 1)
			return (void *)1;
		turn = 2;
		if (pthread_mutex_unlock(&pong) != 0)
			return (void *)2;
	}
	return NULL;
}

static void t_semaphore_ping_pong(void)
{
	pthread_t t;
	void *ret;

	CHECK(pthread_mutex_lock(&ping) == 0); /* both "at zero" */
	CHECK(pthread_mutex_lock(&pong) == 0);
	CHECK(pthread_create(&t, NULL, ping_player, NULL) == 0);
	for (int i = 0; i < ROUNDS; i++) {
		turn = 1;
		CHECK(pthread_mutex_unlock(&ping) == 0); /* the player locked it last */
		CHECK(pthread_mutex_lock(&pong) == 0);   /* waits for the player's unlock */
		CHECK(turn == 2);
	}
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == NULL);
	CHECK(pthread_mutex_unlock(&pong) == 0);
	CHECK(pthread_mutex_unlock(&ping) == 0); /* the player's last lock */
	CHECK(pthread_mutex_trylock(&ping) == 0 && pthread_mutex_trylock(&pong) == 0);
	CHECK(pthread_mutex_unlock(&ping) == 0 && pthread_mutex_unlock(&pong) == 0);
}

/* One thread holds, a second waits, a third unlocks: the waiter gets the mutex. */
static pthread_mutex_t handed = PTHREAD_MUTEX_INITIALIZER;
static atomic_int waiter_tid, waiter_locked;

static void *handed_waiter(void *arg)
{
	(void)arg;
	atomic_store(&waiter_tid, (int)syscall(SYS_gettid));
	if (pthread_mutex_lock(&handed) != 0)
		return (void *)1;
	atomic_store(&waiter_locked, 1);
	return NULL; /* leaves it locked, for main to unlock in turn */
}

static void *unlock_handed(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pthread_mutex_unlock(&handed);
}

static void t_unlock_by_other_thread_wakes_waiter(void)
{
	pthread_t waiter, unlocker;
	void *ret;

	CHECK(pthread_mutex_lock(&handed) == 0);
	CHECK(pthread_create(&waiter, NULL, handed_waiter, NULL) == 0);
	while (!atomic_load(&waiter_tid))
		usleep(1000);
	wait_until_asleep(atomic_load(&waiter_tid));
	CHECK(!atomic_load(&waiter_locked));
	CHECK(pthread_create(&unlocker, NULL, unlock_handed, NULL) == 0); /* owns nothing */
	CHECK(pthread_join(unlocker, &ret) == 0);
	CHECK(ret == NULL);
	CHECK(pthread_join(waiter, &ret) == 0);
	CHECK(ret == NULL && atomic_load(&waiter_locked));
	CHECK(pthread_mutex_unlock(&handed) == 0); /* the waiter's hold, released by main */
	CHECK(pthread_mutex_unlock(&handed) == 0); /* unlocked already: nothing happens */
	CHECK(pthread_mutex_trylock(&handed) == 0);
	CHECK(pthread_mutex_unlock(&handed) == 0);
}

/* ---- item 2: a condvar wait returns its robust mutex's EOWNERDEAD ------------------------ */

static pthread_mutex_t robust;
static pthread_cond_t robust_cond = PTHREAD_COND_INITIALIZER;

/* Takes the mutex once the waiter's wait released it, wakes the waiter, dies holding it. */
static void *dies_holding(void *arg)
{
	(void)arg;
	if (pthread_mutex_lock(&robust) != 0)
		return (void *)1;
	pthread_cond_signal(&robust_cond);
	return NULL; /* the thread ends owning the mutex: its owner died */
}

static void robust_owner_dies(int protocol, bool timed)
{
	pthread_mutexattr_t attr;
	pthread_t t;
	int ret, err;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_setprotocol(&attr, protocol);
	err = pthread_mutex_init(&robust, &attr);
	if (err == ENOTSUP)
		return; /* no PI futexes here: nothing to check */
	CHECK(err == 0);
	CHECK(pthread_mutex_lock(&robust) == 0);
	CHECK(pthread_create(&t, NULL, dies_holding, NULL) == 0);
	/* The other thread gets the mutex only once the wait below has released it. */
	if (timed) {
		struct timespec far = in_ms(CLOCK_REALTIME, 3600 * 1000);

		ret = pthread_cond_timedwait(&robust_cond, &robust, &far);
	} else {
		ret = pthread_cond_wait(&robust_cond, &robust);
	}
	CHECK(pthread_join(t, NULL) == 0);
	if (ret != EOWNERDEAD)
		fprintf(stderr, "pthread_cond_%swait returned %d (%s), want EOWNERDEAD\n",
			timed ? "timed" : "", ret, strerror(ret));
	CHECK(ret == EOWNERDEAD);
	CHECK(pthread_mutex_consistent(&robust) == 0);
	CHECK(pthread_mutex_unlock(&robust) == 0);
	CHECK(pthread_mutex_lock(&robust) == 0); /* usable: made consistent, not unrecoverable */
	CHECK(pthread_mutex_unlock(&robust) == 0);
	CHECK(pthread_mutex_destroy(&robust) == 0);
}

static void t_cond_wait_returns_eownerdead(void)
{
	robust_owner_dies(PTHREAD_PRIO_NONE, false);
}

static void t_cond_timedwait_returns_eownerdead(void)
{
	robust_owner_dies(PTHREAD_PRIO_NONE, true);
}

static void t_cond_wait_returns_eownerdead_pi(void)
{
	robust_owner_dies(PTHREAD_PRIO_INHERIT, false);
}

/* A wait with a forwarded mutex glibc refuses to unlock (not held): EPERM at once, no wait. */
static void t_cond_wait_unheld_forwarded_eperm(void)
{
	pthread_mutexattr_t robust_attr, shared_attr;
	pthread_mutex_t m[2];
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;

	pthread_mutexattr_init(&robust_attr);
	pthread_mutexattr_setrobust(&robust_attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_init(&shared_attr);
	pthread_mutexattr_setpshared(&shared_attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_settype(&shared_attr, PTHREAD_MUTEX_ERRORCHECK);
	CHECK(pthread_mutex_init(&m[0], &robust_attr) == 0);
	CHECK(pthread_mutex_init(&m[1], &shared_attr) == 0);
	for (int i = 0; i < 2; i++) {
		/* A deadline, so that a wait that does not return at once ends (ETIMEDOUT). */
		struct timespec soon = in_ms(CLOCK_REALTIME, 100);
		int ret = pthread_cond_timedwait(&c, &m[i], &soon);

		if (ret != EPERM)
			fprintf(stderr, "wait with unheld mutex %d returned %d, want EPERM\n", i, ret);
		CHECK(ret == EPERM);
		CHECK(pthread_mutex_trylock(&m[i]) == 0); /* left as it was: unlocked */
		CHECK(pthread_mutex_unlock(&m[i]) == 0);
		CHECK(pthread_mutex_destroy(&m[i]) == 0);
	}
	CHECK(pthread_cond_destroy(&c) == 0); /* no waiter left on it */
}

/* ---- destroying a mutex a condvar wait has released: EBUSY, as glibc's (tst-mutex8) ------- */

static pthread_mutex_t used;
static pthread_cond_t used_cond = PTHREAD_COND_INITIALIZER;
static bool used_done;
static int used_levels; /* extra levels a RECURSIVE waiter holds */
static bool used_waiting; /* under the mutex */

static void unlock_used(void *arg) /* a cancelled waiter: every level it holds */
{
	(void)arg;
	for (int i = 0; i <= used_levels; i++)
		pthread_mutex_unlock(&used);
}

static void *uses_in_wait(void *arg)
{
	(void)arg;
	if (pthread_mutex_lock(&used) != 0)
		return (void *)1;
	for (int i = 0; i < used_levels; i++)
		if (pthread_mutex_lock(&used) != 0)
			return (void *)2;
	used_waiting = true;
	pthread_cleanup_push(unlock_used, NULL);
	while (!used_done)
		if (pthread_cond_wait(&used_cond, &used) != 0)
			return (void *)3;
	pthread_cleanup_pop(0);
	for (int i = 0; i <= used_levels; i++)
		if (pthread_mutex_unlock(&used) != 0)
			return (void *)4;
	return NULL;
}

/*
 * kind: a mutex type, or -1 for a process-shared one (forwarded to glibc; not a robust one,
 * which glibc's destroy never reports busy); cancel: end the wait by cancelling the thread.
 */
static void destroy_while_used(int kind, bool cancel)
{
	pthread_mutexattr_t attr;
	pthread_t t;
	void *ret;

	pthread_mutexattr_init(&attr);
	if (kind >= 0)
		pthread_mutexattr_settype(&attr, kind);
	else
		pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	/* A RECURSIVE mutex held at several levels: the drop-in's wait releases it fully (and
	 * keeps the levels aside), glibc's releases one level only, and so waits holding it. */
	used_levels = kind == PTHREAD_MUTEX_RECURSIVE && under_dropin() ? 2 : 0;
	used_done = false;
	used_waiting = false;
	CHECK(pthread_mutex_init(&used, &attr) == 0);
	CHECK(pthread_create(&t, NULL, uses_in_wait, NULL) == 0);
	/* used_waiting is set under the mutex, which the thread then holds until its wait
	 * releases it: seen under the mutex, the thread is in the wait. */
	for (bool waiting = false; !waiting; usleep(1000)) {
		CHECK(pthread_mutex_lock(&used) == 0);
		waiting = used_waiting;
		CHECK(pthread_mutex_unlock(&used) == 0);
	}
	CHECK(pthread_mutex_destroy(&used) == EBUSY);
	if (cancel) {
		CHECK(pthread_cancel(t) == 0);
	} else {
		CHECK(pthread_mutex_lock(&used) == 0);
		used_done = true;
		CHECK(pthread_cond_signal(&used_cond) == 0);
		CHECK(pthread_mutex_unlock(&used) == 0);
	}
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == (cancel ? PTHREAD_CANCELED : NULL));
	CHECK(pthread_mutex_destroy(&used) == 0); /* no wait uses it any more */
}

static void t_destroy_while_cond_wait_ebusy(void)
{
	int kinds[] = { PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK, -1 };

	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		destroy_while_used(kinds[i], false);
		if (check_case_failed)
			return;
		destroy_while_used(kinds[i], true);
		if (check_case_failed)
			return;
	}
}

/* ---- the hung-task watchdog names a parked relock for what it is ----------------------- */

static int hung_child(void)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&m);
	pthread_mutex_lock(&m); /* waits for good: no other thread */
	return 1;
}

/* Under the drop-in: KMUTEX_HUNG_TIMEOUT=1 reports the relock as a deadlock of one thread. */
static void t_relock_reported_by_hung_task(void)
{
	static char out[16384];
	size_t got = 0;
	int fds[2];
	pid_t pid;
	bool named = false, report = false;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		setenv("KMUTEX_HUNG_TIMEOUT", "1", 1);
		execl("/proc/self/exe", "semantics", "--hung-child", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* Read until the verdict line of the first report (no time limit but the test's). */
	while (!report && got < sizeof(out) - 1) {
		ssize_t n = read(fds[0], out + got, sizeof(out) - 1 - got);
		char *line;

		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = 0;
		line = strstr(out, "is blocked on a mutex");
		if (line && strchr(line, '\n')) {
			report = true;
			named = strstr(out, "is blocked on a mutex it holds itself: a deadlock") != NULL;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	if (!named)
		fprintf(stderr, "hung-task report:\n%s\n", out);
	CHECK(report && named);
}

/* ---- KMUTEX_STRICT=1: kmutex's own rule, under the drop-in ------------------------------- */

static void *lock_and_leave(void *m)
{
	pthread_mutex_lock(m);
	return NULL;
}

static int strict_child(int which)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_t t;

	if (which == 0) {
		struct timespec deadline = in_ms(CLOCK_REALTIME, 20);

		pthread_mutex_lock(&m);
		pthread_mutex_timedlock(&m, &deadline); /* aborts */
		return 0;
	}
	pthread_create(&t, NULL, lock_and_leave, &m);
	pthread_join(t, NULL);
	pthread_mutex_unlock(&m); /* aborts: the other thread owns it */
	return 0;
}

/* The child's stderr into out, and whether it died of SIGABRT. */
static bool strict_aborts(int which, char *out, size_t len)
{
	int fds[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) != 0)
		return false;
	pid = fork();
	if (pid == 0) { /* a new process image: the setting is read once per process */
		char arg[2] = { (char)('0' + which), 0 };

		dup2(fds[1], STDERR_FILENO);
		setenv("KMUTEX_STRICT", "1", 1);
		execl("/proc/self/exe", "semantics", "--strict-child", arg, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void t_strict_aborts(void)
{
	static char out[4096];

	CHECK(strict_aborts(0, out, sizeof(out)));
	CHECK(strstr(out, "kmutex: recursive lock by the owner"));
	CHECK(strict_aborts(1, out, sizeof(out)));
	CHECK(strstr(out, "kmutex: unlock of a mutex owned by another thread"));
}

/* One case by name (argv[1]), or all: single cases show each one failing on an old build. */
#define CASE(name) { #name, name }
static const struct { const char *name; void (*fn)(void); } cases[] = {
	CASE(t_timed_relock_default),
	CASE(t_timed_relock_normal_adaptive),
	CASE(t_c11_timed_relock),
	CASE(t_untimed_relock_waits_for_other_unlock),
	CASE(t_unlock_by_other_thread_wakes_waiter),
	CASE(t_semaphore_ping_pong),
	CASE(t_cond_wait_returns_eownerdead),
	CASE(t_cond_timedwait_returns_eownerdead),
	CASE(t_cond_wait_returns_eownerdead_pi),
	CASE(t_cond_wait_unheld_forwarded_eperm),
	CASE(t_destroy_while_cond_wait_ebusy),
	CASE(t_relock_reported_by_hung_task), /* under the drop-in only, as the next */
	CASE(t_strict_aborts), /* under the drop-in only */
};

int main(int argc, char **argv)
{
	bool dropin = under_dropin();

	if (argc == 3 && strcmp(argv[1], "--strict-child") == 0)
		return strict_child(atoi(argv[2]));
	if (argc == 2 && strcmp(argv[1], "--hung-child") == 0)
		return hung_child();
	check_start(60);
	printf("semantics: %s\n", dropin ? "under libkmutex-pthread" : "on glibc alone");
	if (dropin) { /* the cases below must reach the drop-in, not glibc */
		CHECK_MAIN(pt_served_by_kmutex("pthread_mutex_timedlock", (const void *)pthread_mutex_timedlock));
		CHECK_MAIN(pt_served_by_kmutex("pthread_cond_wait", (const void *)pthread_cond_wait));
		CHECK_MAIN(pt_served_by_kmutex("mtx_timedlock", (const void *)mtx_timedlock));
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		if ((cases[i].fn == t_strict_aborts || cases[i].fn == t_relock_reported_by_hung_task) &&
		    !dropin)
			continue;
		check_case_failed = 0;
		cases[i].fn();
		if (check_case_failed) {
			check_failed++;
			fprintf(stderr, "FAIL %s\n", cases[i].name);
		} else {
			check_passed++;
			printf("ok   %s\n", cases[i].name);
		}
		fflush(stdout);
	}
	return check_finish();
}
