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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#endif /* HUNG_HARNESS_H */
