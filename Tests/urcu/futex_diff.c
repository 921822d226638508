/*
 * Differential test: kmutex's futex wrapper (CShims/futex.h) against liburcu's futex_noasync
 * and futex_async (urcu/futex.h) on the same situations:
 *   - a value mismatch fails at once with EAGAIN (== EWOULDBLOCK);
 *   - waking nobody counts 0; with N sleepers, wake 1 wakes exactly one, wake all the rest;
 *   - timeouts: ours takes an absolute CLOCK_MONOTONIC deadline (FUTEX_WAIT_BITSET), liburcu's
 *     a relative one (FUTEX_WAIT); both time out, never early, and reject a bad timespec;
 *   - a signal handler ends a wait with EINTR; with SA_RESTART the kernel restarts an untimed
 *     wait but not a timed one, for both;
 *   - ours is a private futex, liburcu's a shared one: neither wakes the other's sleepers.
 * kmx_futex_wait/wake return -errno and leave errno alone; liburcu's return -1 and set errno.
 * Each result is normalized to 0 / count / -errno before comparing.
 *
 * No timing thresholds: sleepers are known to be asleep when /proc/self/task/<tid>/stat
 * shows state S (and wchan, when the kernel shows it, names a futex function).
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include <urcu/futex.h>

#include "atomic.h"
#include "check.h"
#include "futex.h"

#define NR_SLEEPERS 3
#define ERRNO_SENTINEL 4242 /* no real errno: shows whether a call wrote errno */
#define HANG_GUARD_NS (30ll * 1000000000) /* a wait that should end but does not: fail */

enum flavor { KMX, URCU_NOASYNC, URCU_ASYNC, NR_FLAVORS };
static const char *const flavor_names[] = { "kmx_futex", "futex_noasync", "futex_async" };

/* ---- the three layers behind one normalized interface ------------------------------------ */

static long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000l + (b->tv_nsec - a->tv_nsec);
}

static struct timespec monotonic_after(long ns)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += ns % 1000000000l;
	t.tv_sec += ns / 1000000000l + t.tv_nsec / 1000000000l;
	t.tv_nsec %= 1000000000l;
	return t;
}

/* liburcu's return convention, -1 and errno, turned into ours. */
static int urcu_result(int rc, const char *what)
{
	if (rc >= 0)
		return rc;
	CHECK(rc == -1 && errno != ERRNO_SENTINEL, "%s returned %d with errno %d", what, rc, errno);
	return -errno;
}

/*
 * Wait through flavor f.  timeout_ns < 0: no timeout.  Otherwise kmx gets an absolute deadline
 * timeout_ns from now and liburcu the relative timeout_ns, which mean the same wait.
 */
static int flavor_wait(enum flavor f, uint32_t *word, uint32_t expected, long timeout_ns)
{
	struct timespec deadline = monotonic_after(timeout_ns < 0 ? 0 : timeout_ns);
	struct timespec relative = { timeout_ns / 1000000000l, timeout_ns % 1000000000l };
	int rc;

	errno = ERRNO_SENTINEL;
	switch (f) {
	case KMX:
		rc = kmx_futex_wait(word, expected, timeout_ns < 0 ? NULL : &deadline);
		CHECK(errno == ERRNO_SENTINEL, "kmx_futex_wait changed errno to %d (rc %d)", errno, rc);
		return rc;
	case URCU_NOASYNC:
		return urcu_result(futex_noasync((int32_t *)word, FUTEX_WAIT, (int32_t)expected,
						 timeout_ns < 0 ? NULL : &relative, NULL, 0),
				   "futex_noasync");
	default:
		return urcu_result(futex_async((int32_t *)word, FUTEX_WAIT, (int32_t)expected,
					       timeout_ns < 0 ? NULL : &relative, NULL, 0),
				   "futex_async");
	}
}

/* A wait with a timespec passed as is, to compare how each layer reads the same value. */
static int flavor_wait_raw(enum flavor f, uint32_t *word, uint32_t expected,
			   const struct timespec *ts)
{
	int rc;

	errno = ERRNO_SENTINEL;
	if (f == KMX) {
		rc = kmx_futex_wait(word, expected, ts);
		CHECK(errno == ERRNO_SENTINEL, "kmx_futex_wait changed errno to %d (rc %d)", errno, rc);
		return rc;
	}
	return urcu_result(f == URCU_NOASYNC
			   ? futex_noasync((int32_t *)word, FUTEX_WAIT, (int32_t)expected, ts, NULL, 0)
			   : futex_async((int32_t *)word, FUTEX_WAIT, (int32_t)expected, ts, NULL, 0),
			   flavor_names[f]);
}

static int flavor_wake(enum flavor f, uint32_t *word, int n)
{
	int rc;

	errno = ERRNO_SENTINEL;
	switch (f) {
	case KMX:
		rc = kmx_futex_wake(word, n);
		CHECK(errno == ERRNO_SENTINEL, "kmx_futex_wake changed errno to %d (rc %d)", errno, rc);
		return rc;
	case URCU_NOASYNC:
		return urcu_result(futex_noasync((int32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0),
				   "futex_noasync wake");
	default:
		return urcu_result(futex_async((int32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0),
				   "futex_async wake");
	}
}

/* ---- sleeper threads and how we know they sleep ------------------------------------------ */

struct sleeper {
	enum flavor flavor;
	uint32_t *word;
	long timeout_ns;
	pid_t tid;
	int armed;  /* tid is valid and the wait is about to start */
	int done;   /* rc is valid */
	int rc;
	pthread_t thread;
};

static void *sleeper_main(void *p)
{
	struct sleeper *s = p;

	s->tid = (pid_t)syscall(SYS_gettid);
	/* RELEASE: publishes tid to the poller's ACQUIRE load of armed. */
	kmx_store(&s->armed, 1, KMX_RELEASE);
	s->rc = flavor_wait(s->flavor, s->word, 0, s->timeout_ns);
	/* RELEASE: publishes rc to the ACQUIRE load of done. */
	kmx_store(&s->done, 1, KMX_RELEASE);
	return NULL;
}

static void sleeper_start(struct sleeper *s, enum flavor f, uint32_t *word, long timeout_ns)
{
	*s = (struct sleeper){ .flavor = f, .word = word, .timeout_ns = timeout_ns };
	CHECK(pthread_create(&s->thread, NULL, sleeper_main, s) == 0, "pthread_create");
}

static int sleeper_done(struct sleeper *s)
{
	return kmx_load(&s->done, KMX_ACQUIRE); /* pairs with the RELEASE store in sleeper_main */
}

static void sleeper_join(struct sleeper *s)
{
	pthread_join(s->thread, NULL);
}

static int read_proc(pid_t tid, const char *file, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/*
 * Blocked in the futex: state S, and wchan names a futex function when the kernel shows
 * wchan at all ("0" when it hides it).  Between arming and the syscall a sleeper makes no
 * other blocking call, so S after armed means the futex.
 */
static int in_futex_sleep(pid_t tid)
{
	char stat[512], wchan[128];
	const char *paren;

	if (read_proc(tid, "stat", stat, sizeof(stat)) || !(paren = strrchr(stat, ')')))
		return 0;
	if (paren[1] != ' ' || paren[2] != 'S')
		return 0;
	if (read_proc(tid, "wchan", wchan, sizeof(wchan)) || strcmp(wchan, "0") == 0)
		return 1;
	return strstr(wchan, "futex") != NULL;
}

static void nap(void)
{
	struct timespec ms = { 0, 1000000 };

	nanosleep(&ms, NULL);
}

/* Poll until s sleeps in the futex (1) or has returned from its wait (0). */
static int sleeper_wait_asleep(struct sleeper *s)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec now;

		if (sleeper_done(s))
			return 0;
		/* ACQUIRE pairs with the RELEASE store of armed: tid is valid. */
		if (kmx_load(&s->armed, KMX_ACQUIRE) && in_futex_sleep(s->tid))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		CHECK(ns_between(&start, &now) < HANG_GUARD_NS, "%s sleeper never fell asleep",
		      flavor_names[s->flavor]);
		nap();
	}
}

/* Poll until s has returned from its wait. */
static void sleeper_wait_done(struct sleeper *s, const char *why)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!sleeper_done(s)) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		CHECK(ns_between(&start, &now) < HANG_GUARD_NS, "%s sleeper still waiting: %s",
		      flavor_names[s->flavor], why);
		nap();
	}
}

/* ---- the comparisons ----------------------------------------------------------------------- */

static void test_mismatch(enum flavor f)
{
	uint32_t word = 5;

	CHECK(EAGAIN == EWOULDBLOCK, "EAGAIN %d != EWOULDBLOCK %d", EAGAIN, EWOULDBLOCK);
	CHECK(flavor_wait(f, &word, 4, -1) == -EAGAIN, "%s: mismatch did not give EAGAIN",
	      flavor_names[f]);
	CHECK(flavor_wait(f, &word, 4, 1000000) == -EAGAIN, "%s: timed mismatch did not give "
	      "EAGAIN", flavor_names[f]);
	CHECK(flavor_wake(f, &word, 1) == 0, "%s: wake with nobody asleep woke someone",
	      flavor_names[f]);
	CHECK(flavor_wake(f, &word, INT_MAX) == 0, "%s: wake-all with nobody asleep woke someone",
	      flavor_names[f]);
}

/* N sleepers: wake 1 wakes exactly one (the others stay asleep); wake all wakes N-1. */
static void test_wake_counts(enum flavor f)
{
	uint32_t word = 0;
	struct sleeper s[NR_SLEEPERS];
	int woken = -1, rc;

	for (int i = 0; i < NR_SLEEPERS; i++)
		sleeper_start(&s[i], f, &word, -1);
	for (int i = 0; i < NR_SLEEPERS; i++)
		CHECK(sleeper_wait_asleep(&s[i]), "%s: sleeper %d returned (rc %d) before any wake",
		      flavor_names[f], i, s[i].rc);

	CHECK((rc = flavor_wake(f, &word, 1)) == 1, "%s: wake 1 of %d sleepers returned %d",
	      flavor_names[f], NR_SLEEPERS, rc);
	while (woken < 0) {
		for (int i = 0; i < NR_SLEEPERS && woken < 0; i++)
			if (sleeper_done(&s[i]))
				woken = i;
		if (woken < 0)
			nap();
	}
	CHECK(s[woken].rc == 0, "%s: woken sleeper got %d", flavor_names[f], s[woken].rc);
	for (int i = 0; i < NR_SLEEPERS; i++)
		CHECK(i == woken || sleeper_wait_asleep(&s[i]), "%s: wake 1 also ended sleeper %d",
		      flavor_names[f], i);

	CHECK((rc = flavor_wake(f, &word, INT_MAX)) == NR_SLEEPERS - 1, "%s: wake all returned "
	      "%d, expected %d", flavor_names[f], rc, NR_SLEEPERS - 1);
	for (int i = 0; i < NR_SLEEPERS; i++) {
		sleeper_join(&s[i]);
		CHECK(s[i].rc == 0, "%s: sleeper %d got %d", flavor_names[f], i, s[i].rc);
	}
}

/*
 * Timeouts.  The same 10 ms wait (absolute deadline for kmx, relative for liburcu) times
 * out and not before its time; a timed sleeper woken in time returns 0; a timespec with
 * tv_nsec out of range is EINVAL; and a bare {0, 10 ms} means "10 ms from now" to liburcu
 * but "10 ms after boot", long past, to kmx: both time out.
 */
static void test_timeouts(enum flavor f)
{
	const struct timespec bad = { 0, 1000000000l }, small = { 0, 10000000l };
	uint32_t word = 0;
	struct timespec before, after;
	struct sleeper s;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &before);
	rc = flavor_wait(f, &word, 0, 10000000l);
	clock_gettime(CLOCK_MONOTONIC, &after);
	CHECK(rc == -ETIMEDOUT, "%s: 10 ms wait returned %d", flavor_names[f], rc);
	CHECK(ns_between(&before, &after) >= 10000000l, "%s: timed out after %ld ns, before its "
	      "10 ms", flavor_names[f], ns_between(&before, &after));

	CHECK((rc = flavor_wait_raw(f, &word, 0, &bad)) == -EINVAL, "%s: tv_nsec = 1e9 gave %d",
	      flavor_names[f], rc);
	CHECK((rc = flavor_wait_raw(f, &word, 0, &small)) == -ETIMEDOUT, "%s: {0, 10 ms} gave %d",
	      flavor_names[f], rc);

	sleeper_start(&s, f, &word, 60 * 1000000000l);
	CHECK(sleeper_wait_asleep(&s), "%s: timed sleeper returned %d early", flavor_names[f], s.rc);
	CHECK((rc = flavor_wake(f, &word, 1)) == 1, "%s: waking a timed sleeper returned %d",
	      flavor_names[f], rc);
	sleeper_join(&s);
	CHECK(s.rc == 0, "%s: woken timed sleeper got %d", flavor_names[f], s.rc);
}

static int handler_runs;

static void count_signal(int sig)
{
	(void)sig;
	/* RELAXED: a count read by the main thread only after polling for it. */
	kmx_add_return(&handler_runs, 1, KMX_RELAXED);
}

static void install_handler(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_signal;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
}

/* Signal a sleeper and wait for its handler to have run. */
static void interrupt_sleeper(struct sleeper *s)
{
	int before = kmx_load(&handler_runs, KMX_RELAXED);

	CHECK(pthread_kill(s->thread, SIGUSR1) == 0, "pthread_kill");
	while (kmx_load(&handler_runs, KMX_RELAXED) == before)
		nap();
}

/*
 * EINTR.  Without SA_RESTART a handler ends any wait with EINTR.  With SA_RESTART the kernel
 * restarts an untimed FUTEX_WAIT (it returns -ERESTARTSYS), so the sleeper goes back to
 * sleep and only a wake ends it, while a timed wait (-ERESTART_RESTARTBLOCK) still ends in
 * EINTR.  Both layers must behave alike in all three cases.
 */
static void test_eintr(enum flavor f)
{
	uint32_t word = 0;
	struct sleeper s;
	int rc;

	install_handler(0);
	sleeper_start(&s, f, &word, -1);
	CHECK(sleeper_wait_asleep(&s), "%s: sleeper returned %d early", flavor_names[f], s.rc);
	interrupt_sleeper(&s);
	sleeper_wait_done(&s, "a signal without SA_RESTART did not end an untimed wait");
	sleeper_join(&s);
	CHECK(s.rc == -EINTR, "%s: signal (no SA_RESTART) gave %d, not -EINTR", flavor_names[f],
	      s.rc);

	install_handler(SA_RESTART);
	sleeper_start(&s, f, &word, -1);
	CHECK(sleeper_wait_asleep(&s), "%s: sleeper returned %d early", flavor_names[f], s.rc);
	interrupt_sleeper(&s);
	CHECK(sleeper_wait_asleep(&s), "%s: SA_RESTART signal ended an untimed wait with %d",
	      flavor_names[f], s.rc);
	CHECK((rc = flavor_wake(f, &word, 1)) == 1, "%s: wake after restart returned %d",
	      flavor_names[f], rc);
	sleeper_join(&s);
	CHECK(s.rc == 0, "%s: restarted sleeper got %d after its wake", flavor_names[f], s.rc);

	sleeper_start(&s, f, &word, 60 * 1000000000l);
	CHECK(sleeper_wait_asleep(&s), "%s: sleeper returned %d early", flavor_names[f], s.rc);
	interrupt_sleeper(&s);
	sleeper_wait_done(&s, "SA_RESTART signal did not end a timed wait");
	sleeper_join(&s);
	CHECK(s.rc == -EINTR, "%s: SA_RESTART signal on a timed wait gave %d, not -EINTR",
	      flavor_names[f], s.rc);
	signal(SIGUSR1, SIG_DFL);
}

/*
 * kmx waits on private futexes, liburcu on shared ones: the kernel keys them apart, so a
 * wake through one layer never reaches a sleeper of the other.  A kmutex word must be woken
 * through kmx_futex_wake only.
 */
static void test_cross_layer(enum flavor sleeper_flavor, enum flavor waker_flavor)
{
	uint32_t word = 0;
	struct sleeper s;
	int rc;

	sleeper_start(&s, sleeper_flavor, &word, -1);
	CHECK(sleeper_wait_asleep(&s), "%s: sleeper returned %d early",
	      flavor_names[sleeper_flavor], s.rc);
	CHECK((rc = flavor_wake(waker_flavor, &word, INT_MAX)) == 0, "%s woke %d %s sleeper(s)",
	      flavor_names[waker_flavor], rc, flavor_names[sleeper_flavor]);
	CHECK((rc = flavor_wake(sleeper_flavor, &word, INT_MAX)) == 1, "%s wake returned %d",
	      flavor_names[sleeper_flavor], rc);
	sleeper_join(&s);
	CHECK(s.rc == 0, "%s sleeper got %d", flavor_names[sleeper_flavor], s.rc);
}

int main(void)
{
	for (enum flavor f = KMX; f < NR_FLAVORS; f++) {
		test_mismatch(f);
		test_wake_counts(f);
		test_timeouts(f);
		test_eintr(f);
		printf("futex_diff %-13s: EAGAIN on mismatch, wake counts 1 and %d, timeouts, "
		       "EINVAL, EINTR (restart rules) as expected\n", flavor_names[f],
		       NR_SLEEPERS - 1);
	}
	test_cross_layer(KMX, URCU_ASYNC);
	test_cross_layer(URCU_NOASYNC, KMX);
	printf("futex_diff: private (kmx) and shared (liburcu) futexes do not wake each other\n");
	printf("futex_diff: PASS\n");
	return 0;
}
