/*
 * The hung-task tests' harness: the program captures its own stderr (where the watchdog
 * writes) through a pipe, echoes it, and waits for report text: never for a time.  A report
 * that never comes hangs the test, and `timeout` in mk/hung.mk names it.  The watchdog's
 * scan counter (kmx_hung_get_stats, looked up with dlsym so that the preloaded library's
 * serves too) lets a test wait for scans to happen, e.g. "two more scans and still no other
 * report".
 */
#ifndef HUNG_HARNESS_H
#define HUNG_HARNESS_H

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hung_task.h"

static char captured[1 << 20];
static size_t captured_len;
static int capture_fd = -1, real_stderr = -1;

static void fail(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)!write(real_stderr >= 0 ? real_stderr : 2, "FAIL: ", 6);
	(void)!write(real_stderr >= 0 ? real_stderr : 2, line, (size_t)n);
	(void)!write(real_stderr >= 0 ? real_stderr : 2, "\n", 1);
	_exit(1);
}

/* From now on the program's stderr goes to us. */
static void capture_stderr(void)
{
	int p[2];

	if (pipe(p) != 0 || (real_stderr = dup(2)) < 0 || dup2(p[1], 2) < 0)
		fail("cannot capture stderr");
	close(p[1]);
	capture_fd = p[0];
}

/* Read what is there (waiting up to 50 ms for it), echo it, keep it. */
static void drain(void)
{
	struct pollfd pfd = { capture_fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, 50) <= 0)
		return; /* nothing yet, or EINTR (the watchdog asked us for our stack) */
	n = read(capture_fd, captured + captured_len, sizeof(captured) - 1 - captured_len);
	if (n > 0) {
		(void)!write(real_stderr, captured + captured_len, (size_t)n);
		captured_len += (size_t)n;
		captured[captured_len] = '\0';
	}
}

static unsigned count(const char *needle)
{
	unsigned n = 0;

	for (const char *p = captured; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void wait_for_text(const char *needle)
{
	while (!strstr(captured, needle))
		drain();
}

static struct kmx_hung_stats watchdog_stats(void)
{
	static void (*get)(struct kmx_hung_stats *);
	struct kmx_hung_stats st;

	if (!get && !(get = (void (*)(struct kmx_hung_stats *))dlsym(RTLD_DEFAULT, "kmx_hung_get_stats")))
		fail("kmx_hung_get_stats not found: not linked with kmutex, or not under the preload");
	get(&st);
	return st;
}

static uint64_t scans(void)
{
	return watchdog_stats().scans;
}

/* Let the watchdog complete n more scans, draining stderr meanwhile. */
static void wait_scans(unsigned n)
{
	uint64_t target = scans() + n;

	while (scans() < target)
		drain();
}

/* The text between the first `from` and the next "\nINFO: task" header (or the end). */
static const char *section(const char *from, char *buf, size_t size)
{
	const char *start = strstr(captured, from), *end;
	size_t len;

	if (!start)
		return "";
	/* The next report's header: "\nINFO: task NAME:TID blocked for more than". */
	end = strstr(start + 1, " blocked for more than ");
	while (end && end > start && *end != '\n')
		end--;
	len = end && end > start ? (size_t)(end - start) : strlen(start);
	if (len >= size)
		len = size - 1;
	memcpy(buf, start, len);
	buf[len] = '\0';
	return buf;
}

static void expect(const char *text, const char *needle, const char *what)
{
	if (!strstr(text, needle))
		fail("%s: the report does not contain \"%s\"", what, needle);
}

/* expect() each of needles, a NULL-terminated list. */
static inline void expect_all(const char *text, const char *what, const char *const *needles)
{
	for (; *needles; needles++)
		expect(text, *needles, what);
}

/* The report of a deadlock whose first task's header starts with `from`, once it is out. */
static inline const char *deadlock_report(const char *from, char *buf, size_t size)
{
	wait_for_text("Found 1 deadlock.");
	return section(from, buf, size);
}

/* The report that starts with `from`, complete: with its stacks, and a scan after them. */
static inline const char *report_with_stacks(const char *from, char *buf, size_t size)
{
	wait_for_text(from);
	wait_for_text("\nStacks:");
	wait_scans(1); /* the report is written in one piece: it is complete after a scan */
	return section(from, buf, size);
}

/* After the scans the caller waited for: exactly want reports in all (why: which ones). */
static inline void expect_reports(const char *what, unsigned want, const char *why)
{
	unsigned n = count(" blocked for more than ");

	if (n != want)
		fail("%s: %u reports, want %s", what, n, why);
}

/* ---- an ABBA deadlock, on kmutex or on pthread mutexes under the preload -------------------- */

/*
 * A thread of an ABBA deadlock: named `name`, it takes `first`, waits until the other thread
 * holds its own first lock, then takes `second` and never returns.  Not static, and not
 * inlined: the reports name the function where it waits (-rdynamic).
 */
#define ABBA_THREAD(fn, name, lock, first, second, both_hold) \
	__attribute__((noinline)) void *fn(void *arg)         \
	{                                                     \
		(void)arg;                                    \
		pthread_setname_np(pthread_self(), name);     \
		lock(&first);                                 \
		pthread_barrier_wait(&both_hold);             \
		lock(&second); /* never returns */            \
		return NULL;                                  \
	}

static inline void start_abba(pthread_barrier_t *both_hold, void *(*thread_a)(void *),
			      void *(*thread_b)(void *))
{
	pthread_t a, b;

	pthread_barrier_init(both_hold, NULL, 2);
	pthread_create(&a, NULL, thread_a, NULL);
	pthread_create(&b, NULL, thread_b, NULL);
}

/*
 * The ABBA deadlock between threads "<prefix>a" and "<prefix>b": one deadlock report naming
 * both threads, both locks (lock_a, lock_b: the variables' names) and the functions where each
 * waits (fn_a, fn_b), and no other report three scans later.  Returns the report.
 */
static inline const char *expect_abba_report(const char *what, const char *prefix,
					     const char *lock_a, const char *lock_b,
					     const char *fn_a, const char *fn_b, char *buf, size_t size)
{
	char header[64], want[6][96];
	const char *r;

	snprintf(header, sizeof(header), "INFO: task %s", prefix);
	r = deadlock_report(header, buf, size);
	snprintf(want[0], sizeof(want[0]), "\"%sa\" tid", prefix);
	snprintf(want[1], sizeof(want[1]), "\"%sb\" tid", prefix);
	snprintf(want[2], sizeof(want[2]), "= &%s [", lock_a);
	snprintf(want[3], sizeof(want[3]), "= &%s [", lock_b);
	snprintf(want[4], sizeof(want[4]), "at: %s+", fn_a);
	snprintf(want[5], sizeof(want[5]), "at: %s+", fn_b);
	expect_all(r, what, (const char *const[]){ "Found one kmutex deadlock", want[0], want[1],
						   want[2], want[3], want[4], want[5], NULL });
	/* Each hung wait once: both threads are in the one report, for good. */
	wait_scans(3);
	expect_reports(what, 1, "exactly 1");
	return r;
}

/*
 * Park the calling thread in a sleep outside kmutex, for good.  Always inlined: the reports
 * must show the sleep in the caller's frame (a test looks for its name in the stack), and
 * this static function has no name to show.
 */
static inline __attribute__((always_inline)) void sleep_forever(void)
{
	for (;;) {
		struct timespec ts = { 1000, 0 };

		nanosleep(&ts, NULL); /* a signal (the watchdog's) ends it early: sleep again */
	}
}

#endif /* HUNG_HARNESS_H */
