/*
 * A minimal test harness shared by the C tests: CHECK() prints file:line and the expression
 * of a failed assertion and ends the current test case; RUN() runs a case and counts it; the
 * program ends with the line "N passed, N failed" (what CI reads) and a non-zero exit status
 * when anything failed.  A global alarm turns a hung test into a failure instead of a stuck CI.
 */
#ifndef KMX_TEST_CHECK_H
#define KMX_TEST_CHECK_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int check_passed, check_failed, check_case_failed;

#define CHECK(expr)                                                                         \
	do {                                                                                \
		if (!(expr)) {                                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
			check_case_failed = 1;                                              \
			return;                                                             \
		}                                                                           \
	} while (0)

#define RUN(test)                                                                           \
	do {                                                                                \
		check_case_failed = 0;                                                      \
		test();                                                                     \
		if (check_case_failed) {                                                    \
			check_failed++;                                                     \
			fprintf(stderr, "FAIL %s\n", #test);                                \
		} else {                                                                    \
			check_passed++;                                                     \
			printf("ok   %s\n", #test);                                         \
		}                                                                           \
		fflush(stdout);                                                             \
	} while (0)

static void check_timeout(int sig)
{
	static const char msg[] = "test timed out (a thread is stuck)\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(2);
}

/* Fail the whole program if it runs longer than seconds (a hang is a failure too). */
static inline void check_start(unsigned seconds)
{
	signal(SIGALRM, check_timeout);
	alarm(seconds);
}

static inline int check_finish(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

/*
 * For tests that read a child's stderr after it died of a signal: qemu-user (make test-arm64)
 * adds its own last line then, "qemu: uncaught target signal 6 (Aborted) - core dumped".
 * Drop exactly that line, so the checks still see anything else.
 */
static inline void check_drop_emulator_line(char *err)
{
	static const char note[] = "qemu: uncaught target signal ";
	char *line = strstr(err, note);

	if (line && (line == err || line[-1] == '\n') && strchr(line, '\n') == line + strlen(line) - 1)
		*line = 0;
}

/* ---- time helpers ---------------------------------------------------------------------- */

static inline struct timespec mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static inline struct timespec ts_add_ns(struct timespec ts, long long ns)
{
	long long total = ts.tv_nsec + ns;

	ts.tv_sec += total / 1000000000LL;
	ts.tv_nsec = total % 1000000000LL;
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000L;
		ts.tv_sec--;
	}
	return ts;
}

/* a >= b */
static inline int ts_after_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec >= b.tv_nsec);
}

static inline void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- waiting for another thread ----------------------------------------------------------- */

/* How long a test waits for something that must happen before calling it a hang. */
#define PATIENCE_US (20 * 1000 * 1000L)

/* Wait until cond(arg) holds; 0 if it did not within PATIENCE_US. */
static inline int wait_until(int (*cond)(const void *), const void *arg)
{
	for (long waited = 0; waited < PATIENCE_US; waited += 200) {
		if (cond(arg))
			return 1;
		sleep_us(200);
	}
	return 0;
}

/* ACQUIRE: pairs with the RELEASE store that sets the flag, after what it publishes. */
static inline int flag_set(const void *flag)
{
	return __atomic_load_n((const int *)flag, __ATOMIC_ACQUIRE);
}

/* Wait until *flag is set; 0 if it was not within PATIENCE_US. */
static inline int wait_flag(int *flag)
{
	return wait_until(flag_set, flag);
}

/* ---- signal handlers for the interruption tests ------------------------------------------ */

static inline void install_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* A handler that does nothing: the signal only ends the futex sleep (EINTR). */
static inline void noop_handler(int sig)
{
	(void)sig;
}

/*
 * Send sig to thread t every millisecond until *done is set: one that lands while t still
 * spins may be lost (a no-op handler leaves nothing pending), the next finds it asleep.
 * 0 if *done was not set within PATIENCE_US.
 */
static inline int signal_until_done(pthread_t t, int sig, int *done)
{
	for (long waited = 0; !flag_set(done) && waited < PATIENCE_US; waited += 1000) {
		pthread_kill(t, sig);
		sleep_us(1000);
	}
	return flag_set(done);
}

#ifdef KMUTEX_H
/* The handler a kmutex program installs to make a signal interrupt the wait it lands in. */
static inline void interrupt_handler(int sig)
{
	(void)sig;
	kmutex_interrupt_self();
}
#endif

#endif /* KMX_TEST_CHECK_H */
