/*
 * The locktorture scaffolding shared by stress.c (kmutex) and rwsem_stress.c (krwsem): the
 * options both take, the clock, the busy-wait holds with locktorture's occasional long one,
 * short and past deadlines, the pauses that let others at the lock, the signal storm whose
 * handler interrupts the waits, and the failure report.  What each test checks, and its
 * watchdog, stay in the test.
 */
#ifndef KMX_TORTURE_H
#define KMX_TORTURE_H

#include "kmutex.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------------------------ */

struct torture_opts {
	int duration_s;                /* -d: how long the workers run */
	int watchdog_s;                /* the watchdog's limit (its letter is the test's) */
	long signal_period_us;         /* -s: the storm's period; 0 no storm */
	unsigned long long_hold_every; /* -l: one hold in this many lasts ~1 ms; 0 never */
};

/* Take opt if it is one of the common options (watchdog_opt: the test's letter for it). */
static bool torture_common_opt(struct torture_opts *o, int opt, int watchdog_opt, const char *arg)
{
	if (opt == 'd')
		o->duration_s = atoi(arg);
	else if (opt == 's')
		o->signal_period_us = atol(arg);
	else if (opt == 'l')
		o->long_hold_every = strtoul(arg, NULL, 10);
	else if (opt == watchdog_opt)
		o->watchdog_s = atoi(arg);
	else
		return false;
	return true;
}

static bool torture_opts_valid(const struct torture_opts *o)
{
	return o->duration_s > 0 && o->watchdog_s > 0 && o->signal_period_us >= 0 &&
	       o->signal_period_us < 1000000;
}

/* ---- time, holds, deadlines ------------------------------------------------------------- */

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec mono_after_ns(long long ns)
{
	struct timespec ts;

	ns += mono_ns();
	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	return ts;
}

/*
 * Busy-wait inside a critical section: a short delay, or one in long_hold_every about 1 ms
 * (locktorture's long delay), so that waiters pile up and sleep.  The compiler barrier keeps
 * the section's stores before and after the delay.
 */
static __attribute__((noinline)) void torture_hold(unsigned *seed, unsigned long long_hold_every)
{
	if (long_hold_every && rand_r(seed) % long_hold_every == 0) {
		long long end = mono_ns() + 1000000;

		while (mono_ns() < end)
			__asm__ __volatile__("" ::: "memory");
	} else {
		for (unsigned i = rand_r(seed) % 256; i > 0; i--)
			__asm__ __volatile__("" ::: "memory");
	}
}

/* A deadline: mostly within 300 us, sometimes 20 ms away, sometimes already past. */
static struct timespec torture_short_deadline(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed);

	if (r % 16 == 0)
		return mono_after_ns(-1000000);
	if (r % 8 == 0)
		return mono_after_ns(20000000);
	return mono_after_ns((long long)(r % 300) * 1000);
}

/* Between lock calls, now and then: let the others at the lock for a moment. */
static void torture_maybe_pause(unsigned *seed)
{
	if (rand_r(seed) % 64 == 0) {
		struct timespec pause_ts = { 0, (long)(rand_r(seed) % 50) * 1000 };

		nanosleep(&pause_ts, NULL);
	}
}

/* ---- the signal storm ------------------------------------------------------------------- */

/*
 * SIGUSR1 interrupts the wait it lands in (SA_RESTART: the storm must not make other calls
 * fail).  The storm signals every worker, not only the interruptible ones: plain and timed
 * waits must ignore interruptions, and their futex sleeps see EINTR too.
 */
static void torture_on_signal(int sig)
{
	(void)sig;
	kmutex_interrupt_self();
}

static void torture_install_signal(void)
{
	struct sigaction sa = { .sa_handler = torture_on_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

struct torture_storm {
	long period_us;               /* 0: no storm */
	unsigned seed;
	int nr_targets;               /* the workers */
	pthread_t (*target)(int i);   /* the thread of worker i */
	void (*sample)(void);         /* called after each signal, or NULL */
	pthread_t thread;
	int stop;                     /* atomic */
};

static void *torture_storm_main(void *arg)
{
	struct torture_storm *s = arg;
	struct timespec period = { 0, s->period_us * 1000 };

	/* RELAXED: a stop flag; the join in torture_storm_stop orders the rest. */
	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		pthread_kill(s->target((int)(rand_r(&s->seed) % (unsigned)s->nr_targets)), SIGUSR1);
		if (s->sample)
			s->sample();
		nanosleep(&period, NULL);
	}
	return NULL;
}

static void torture_storm_start(struct torture_storm *s)
{
	if (s->period_us && pthread_create(&s->thread, NULL, torture_storm_main, s))
		abort();
}

/* Stop the storm first, before any worker exits: it must not signal a thread that is gone. */
static void torture_storm_stop(struct torture_storm *s)
{
	if (!s->period_us)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	pthread_join(s->thread, NULL);
}

/* ---- the run --------------------------------------------------------------------------------- */

/*
 * With the workers started: the watchdog and the storm start, the workers run for the
 * duration; then the storm stops first (it must not signal a worker that has exited), the
 * workers are told to stop and joined, and the watchdog last (a worker stuck in a lock call
 * keeps the join from returning: the watchdog ends the run then).
 */
static void torture_run(const struct torture_opts *o, struct torture_storm *storm,
			int *stop_workers, void *(*watchdog_main)(void *), int *stop_watchdog)
{
	pthread_t watchdog;

	if (pthread_create(&watchdog, NULL, watchdog_main, NULL))
		abort();
	storm->period_us = o->signal_period_us;
	torture_storm_start(storm);
	sleep((unsigned)o->duration_s);

	torture_storm_stop(storm);
	/* RELAXED: stop flags; the joins order what the threads did before them. */
	__atomic_store_n(stop_workers, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < storm->nr_targets; i++)
		pthread_join(storm->target(i), NULL);
	__atomic_store_n(stop_watchdog, 1, __ATOMIC_RELAXED);
	pthread_join(watchdog, NULL);
}

/* ---- the report ---------------------------------------------------------------------------- */

/* Print each kind of failure that happened; returns how many failures there were in all. */
static long torture_report_failures(const char *prog, const long *failures,
				    const char *const *names, int nr_kinds)
{
	long fails = 0;

	for (int f = 0; f < nr_kinds; f++) {
		long n = __atomic_load_n(&failures[f], __ATOMIC_RELAXED);

		if (n)
			fprintf(stderr, "%s: FAIL: %s: %ld\n", prog, names[f], n);
		fails += n;
	}
	return fails;
}

#endif /* KMX_TORTURE_H */
