/* Time, calibrated busy work, threads, errors and the progress line. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("\nkmutex-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void *bench_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		bench_die("out of memory");
	return p;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A dependent multiply chain: steady speed, no memory traffic, and not removable because
 * the result is returned and the callers keep it. */
uint64_t bench_work(uint64_t iters)
{
	uint64_t x = iters | 1;

	for (uint64_t i = 0; i < iters; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static double work_iters_per_ns;

/* The fastest of many short runs: interference from other processes only ever slows a run,
 * and a short run is likely to fit between two preemptions on a shared machine. */
void bench_calibrate(void)
{
	const uint64_t iters = 200000;
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 30; i++) {
		uint64_t t0 = bench_now_ns();
		volatile uint64_t sink = bench_work(iters);
		uint64_t dt = bench_now_ns() - t0;

		(void)sink;
		if (dt < best)
			best = dt;
	}
	work_iters_per_ns = (double)iters / (double)(best ? best : 1);
}

uint64_t bench_ns_to_iters(uint64_t ns)
{
	if (work_iters_per_ns == 0)
		bench_die("internal: busy work used before bench_calibrate()");
	return (uint64_t)((double)ns * work_iters_per_ns + 0.5);
}

/* The first line of a report: the program, its profile, the machine and its load. */
void bench_print_machine(FILE *out, const char *program, const char *profile)
{
	struct utsname u;
	char model[256] = "unknown CPU", line[256], load[64] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	f = fopen("/proc/loadavg", "r");
	if (f && fgets(load, sizeof(load), f))
		load[strcspn(load, "\n")] = 0;
	if (f)
		fclose(f);
	uname(&u);
	fprintf(out, "%s, profile %s: %d CPUs (%s), Linux %s; load average at start: %s\n",
		program, profile, bench_ncpus(), model, u.release, load);
}

/* xorshift64: cheap per-thread randomness (a state that is never 0). */
uint64_t bench_next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

int bench_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* Starts n threads, thread i getting args + i * argsize. */
void bench_start_threads(pthread_t *tids, int n, void *(*fn)(void *), void *args, size_t argsize)
{
	for (int i = 0; i < n; i++) {
		int err = pthread_create(&tids[i], NULL, fn, (char *)args + (size_t)i * argsize);

		if (err)
			bench_die("pthread_create: %s", strerror(err));
	}
}

/*
 * Time all CPUs together have spent idle, in ns, from /proc/stat's first line (idle + iowait);
 * -1 if unreadable.  Its unit is 10 ms, so over a 60 ms trial on 2 CPUs it is good to ~8% of
 * the machine: enough to see a compile elsewhere take a CPU, not to time anything.  (The idle
 * field alone, rather than the sum of the busy ones, has one rounding, not several.)
 */
double bench_machine_idle_ns(void)
{
	unsigned long long user, nice, sys, idle, iowait;
	FILE *f = fopen("/proc/stat", "r");
	double ns = -1;

	if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait) == 5)
		ns = (double)(idle + iowait) * 1e9 / (double)sysconf(_SC_CLK_TCK);
	if (f)
		fclose(f);
	return ns;
}

static int progress_tty = -1;
static int progress_len;
static uint64_t progress_start;

void bench_progress(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int len;

	if (progress_tty < 0) {
		progress_tty = isatty(STDERR_FILENO);
		progress_start = bench_now_ns();
	}
	if (!progress_tty)
		return;
	len = snprintf(line, sizeof(line), "[%3llus] ",
		       (unsigned long long)((bench_now_ns() - progress_start) / 1000000000u));
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 1)
		len = (int)sizeof(line) - 1;
	/* pad with spaces so a shorter line fully covers the previous one */
	fprintf(stderr, "\r%s%*s", line, progress_len > len ? progress_len - len : 0, "");
	fflush(stderr);
	progress_len = len;
}

void bench_progress_done(void)
{
	if (progress_tty > 0 && progress_len) {
		fprintf(stderr, "\r%*s\r", progress_len, "");
		fflush(stderr);
	}
	progress_len = 0;
}
