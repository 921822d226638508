/*
 * The condvar mode: kmutex + kcond against glibc's pthread_mutex + pthread_cond (issue 9).
 *
 * broadcast: N waiters sleep on a predicate (a generation number); a broadcaster waits until
 *   every waiter has seen the current generation, bumps it and broadcasts, all under the
 *   mutex.  One round = one broadcast that every waiter wakes up for.  This is where wait
 *   morphing matters: glibc wakes all N at once and they pile up on the mutex, kcond moves
 *   them onto the mutex's wait list and unlocks wake them one at a time.
 * prodcons: N/2 producers and N/2 consumers on a small bounded queue, a signal per push and
 *   per pop.  One round = one item consumed.
 *
 * For each cell: rounds/s, CPU time per round and voluntary context switches per round
 * (getrusage over the whole process, which counts threads that have exited), trials
 * interleaved across the two implementations so a slow spell lands on both.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "kmutex.h"

#define CV_MAX_TRIALS 64
#define CV_QUEUE      8 /* small, so producers and consumers both wait often */

static const int cv_threads[] = { 4, 16, 32 };
#define CV_NTHREADS ((int)(sizeof(cv_threads) / sizeof(cv_threads[0])))

/* ---- the two implementations behind one small vtable ---- */

struct cv_sync {
	union { struct kmutex k; pthread_mutex_t p; } m;
	union { struct kcond k; pthread_cond_t p; } c[2];
};

struct cv_impl {
	const char *name;
	void (*init)(struct cv_sync *s);
	void (*destroy)(struct cv_sync *s);
	void (*lock)(struct cv_sync *s);
	void (*unlock)(struct cv_sync *s);
	void (*wait)(struct cv_sync *s, int c);
	void (*signal)(struct cv_sync *s, int c);
	void (*broadcast)(struct cv_sync *s, int c);
};

static void k_init(struct cv_sync *s)
{
	kmutex_init(&s->m.k);
	kcond_init(&s->c[0].k);
	kcond_init(&s->c[1].k);
}
static void k_destroy(struct cv_sync *s)
{
	kcond_destroy(&s->c[0].k);
	kcond_destroy(&s->c[1].k);
	kmutex_destroy(&s->m.k);
}
static void k_lock(struct cv_sync *s) { kmutex_lock(&s->m.k); }
static void k_unlock(struct cv_sync *s) { kmutex_unlock(&s->m.k); }
static void k_wait(struct cv_sync *s, int c) { kcond_wait(&s->c[c].k, &s->m.k); }
static void k_signal(struct cv_sync *s, int c) { kcond_signal(&s->c[c].k); }
static void k_broadcast(struct cv_sync *s, int c) { kcond_broadcast(&s->c[c].k); }

static void p_init(struct cv_sync *s)
{
	/* NORMAL, default condattr: what a program gets from PTHREAD_*_INITIALIZER */
	if (pthread_mutex_init(&s->m.p, NULL) || pthread_cond_init(&s->c[0].p, NULL) ||
	    pthread_cond_init(&s->c[1].p, NULL))
		bench_die("condvar: pthread init failed");
}
static void p_destroy(struct cv_sync *s)
{
	pthread_cond_destroy(&s->c[0].p);
	pthread_cond_destroy(&s->c[1].p);
	pthread_mutex_destroy(&s->m.p);
}
static void p_lock(struct cv_sync *s) { pthread_mutex_lock(&s->m.p); }
static void p_unlock(struct cv_sync *s) { pthread_mutex_unlock(&s->m.p); }
static void p_wait(struct cv_sync *s, int c) { pthread_cond_wait(&s->c[c].p, &s->m.p); }
static void p_signal(struct cv_sync *s, int c) { pthread_cond_signal(&s->c[c].p); }
static void p_broadcast(struct cv_sync *s, int c) { pthread_cond_broadcast(&s->c[c].p); }

static const struct cv_impl cv_impls[] = {
	{ "kcond", k_init, k_destroy, k_lock, k_unlock, k_wait, k_signal, k_broadcast },
	{ "pthread-cond", p_init, p_destroy, p_lock, p_unlock, p_wait, p_signal, p_broadcast },
};
#define CV_NIMPLS ((int)(sizeof(cv_impls) / sizeof(cv_impls[0])))

/* ---- shared state of one trial; every field below sync is under the mutex ---- */

struct cv_run {
	const struct cv_impl *impl;
	struct cv_sync sync;
	int nthreads;
	bool stop;
	uint64_t rounds;
	/* broadcast */
	uint64_t gen;
	int acked;
	/* prodcons */
	int queue[CV_QUEUE], head, count;
};

enum { CV_WAKE = 0, CV_DONE = 1 };         /* broadcast: waiters' cond, broadcaster's cond */
enum { CV_NOT_EMPTY = 0, CV_NOT_FULL = 1 }; /* prodcons */

static void *bc_waiter(void *arg)
{
	struct cv_run *r = arg;
	const struct cv_impl *im = r->impl;
	uint64_t seen = 0;

	im->lock(&r->sync);
	for (;;) {
		while (r->gen == seen && !r->stop)
			im->wait(&r->sync, CV_WAKE);
		if (r->stop)
			break;
		seen = r->gen;
		/* the last waiter of the round tells the broadcaster the next one may start */
		if (++r->acked == r->nthreads)
			im->signal(&r->sync, CV_DONE);
	}
	im->unlock(&r->sync);
	return NULL;
}

static void *bc_broadcaster(void *arg)
{
	struct cv_run *r = arg;
	const struct cv_impl *im = r->impl;

	im->lock(&r->sync);
	r->acked = r->nthreads; /* round 0 needs no acknowledgement */
	for (;;) {
		while (r->acked < r->nthreads && !r->stop)
			im->wait(&r->sync, CV_DONE);
		if (r->stop)
			break;
		r->rounds += r->gen > 0;
		r->acked = 0;
		r->gen++;
		im->broadcast(&r->sync, CV_WAKE);
	}
	im->unlock(&r->sync);
	return NULL;
}

static void *pc_producer(void *arg)
{
	struct cv_run *r = arg;
	const struct cv_impl *im = r->impl;

	im->lock(&r->sync);
	for (int item = 0;; item++) {
		while (r->count == CV_QUEUE && !r->stop)
			im->wait(&r->sync, CV_NOT_FULL);
		if (r->stop)
			break;
		r->queue[(r->head + r->count++) % CV_QUEUE] = item;
		im->signal(&r->sync, CV_NOT_EMPTY);
		/* drop the lock between items, as a real producer does its work outside it */
		im->unlock(&r->sync);
		im->lock(&r->sync);
	}
	im->unlock(&r->sync);
	return NULL;
}

static void *pc_consumer(void *arg)
{
	struct cv_run *r = arg;
	const struct cv_impl *im = r->impl;
	uint64_t sink = 0;

	im->lock(&r->sync);
	for (;;) {
		while (r->count == 0 && !r->stop)
			im->wait(&r->sync, CV_NOT_EMPTY);
		if (r->stop)
			break;
		sink += (uint64_t)r->queue[r->head];
		r->head = (r->head + 1) % CV_QUEUE;
		r->count--;
		r->rounds++;
		im->signal(&r->sync, CV_NOT_FULL);
		im->unlock(&r->sync);
		im->lock(&r->sync);
	}
	im->unlock(&r->sync);
	return (void *)(uintptr_t)(sink & 1);
}

/* ---- one trial ---- */

struct cv_sample { double rounds_s, cpu_us, vcsw; };

static double tv_us(struct timeval tv)
{
	return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

/* Sets stop and wakes every sleeper on both conds so that all threads can be joined. */
static void cv_stop(struct cv_run *r)
{
	r->impl->lock(&r->sync);
	r->stop = true;
	r->impl->broadcast(&r->sync, 0);
	r->impl->broadcast(&r->sync, 1);
	r->impl->unlock(&r->sync);
}

static struct cv_sample cv_trial(const struct cv_impl *im, bool broadcast, int n, uint64_t ms)
{
	static struct cv_run r; /* static: a kmutex wait list may point into it until joined */
	int total = broadcast ? n + 1 : n;
	pthread_t *tids = bench_xcalloc((size_t)total, sizeof(*tids));
	struct rusage ru0, ru1;
	struct cv_sample s;
	uint64_t t0, dt;
	double per;

	memset(&r, 0, sizeof(r));
	r.impl = im;
	r.nthreads = n;
	im->init(&r.sync);
	getrusage(RUSAGE_SELF, &ru0);
	t0 = bench_now_ns();
	for (int i = 0; i < total; i++) {
		void *(*fn)(void *) = broadcast ? (i < n ? bc_waiter : bc_broadcaster)
						: (i < n / 2 ? pc_producer : pc_consumer);
		int err = pthread_create(&tids[i], NULL, fn, &r);

		if (err)
			bench_die("condvar: pthread_create: %s", strerror(err));
	}
	bench_sleep_ns(ms * 1000000u);
	cv_stop(&r);
	for (int i = 0; i < total; i++)
		pthread_join(tids[i], NULL);
	dt = bench_now_ns() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	im->destroy(&r.sync);
	free(tids);
	s.rounds_s = (double)r.rounds * 1e9 / (double)dt;
	/* per round; a trial with no round at all reports the whole trial's cost */
	per = r.rounds ? (double)r.rounds : 1;
	s.cpu_us = (tv_us(ru1.ru_utime) + tv_us(ru1.ru_stime) - tv_us(ru0.ru_utime) -
		    tv_us(ru0.ru_stime)) / per;
	s.vcsw = (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / per;
	return s;
}

/* ---- the mode ---- */

static struct bench_spread cv_spread(struct cv_sample *v, int n, size_t field)
{
	double x[CV_MAX_TRIALS];

	for (int t = 0; t < n; t++)
		x[t] = *(double *)((char *)&v[t] + field);
	return bench_spread_of(x, n);
}

/* One line per implementation, kcond's with its rounds/s ratio to glibc's. */
static void cv_summarize(FILE *out, FILE *sum, const char *variant, int n, int trials,
			 struct cv_sample (*samples)[CV_MAX_TRIALS])
{
	struct bench_spread sr[CV_NIMPLS], sc[CV_NIMPLS], sv[CV_NIMPLS];
	double base = 0;

	for (int i = 0; i < CV_NIMPLS; i++) {
		sr[i] = cv_spread(samples[i], trials, offsetof(struct cv_sample, rounds_s));
		sc[i] = cv_spread(samples[i], trials, offsetof(struct cv_sample, cpu_us));
		sv[i] = cv_spread(samples[i], trials, offsetof(struct cv_sample, vcsw));
		if (!strcmp(cv_impls[i].name, "pthread-cond"))
			base = sr[i].median;
	}
	for (int i = 0; i < CV_NIMPLS; i++) {
		double ratio = base > 0 ? sr[i].median / base : 0;

		fprintf(sum, "%s,%s,%d,%.0f,%.0f,%.0f,%.2f,%.2f,%.2f,%.3f,%.3f,%.3f,%.3f\n", variant,
			cv_impls[i].name, n, sr[i].median, sr[i].min, sr[i].max, sc[i].median,
			sc[i].min, sc[i].max, sv[i].median, sv[i].min, sv[i].max, ratio);
		fprintf(out, "  %-9s %3d  %-13s %9.0f [%.0f - %.0f]  %8.2f [%.2f - %.2f]  "
			     "%7.3f [%.3f - %.3f]",
			variant, n, cv_impls[i].name, sr[i].median, sr[i].min, sr[i].max,
			sc[i].median, sc[i].min, sc[i].max, sv[i].median, sv[i].min, sv[i].max);
		if (strcmp(cv_impls[i].name, "pthread-cond"))
			fprintf(out, "  (%.2fx)", ratio);
		fputc('\n', out);
	}
}

static void cv_variant(const struct bench_config *cfg, FILE *out, FILE *csv, FILE *sum,
		       bool broadcast, uint64_t ms)
{
	static struct cv_sample samples[CV_NIMPLS][CV_MAX_TRIALS];
	const char *variant = broadcast ? "broadcast" : "prodcons";
	int trials = cfg->trials < CV_MAX_TRIALS ? cfg->trials : CV_MAX_TRIALS;

	for (int k = 0; k < CV_NTHREADS; k++) {
		int n = cv_threads[k];

		for (int t = 0; t < trials; t++)
			for (int i = 0; i < CV_NIMPLS; i++) {
				struct cv_sample s;

				bench_progress("condvar: %s, %d threads, trial %d/%d  %s", variant, n,
					       t + 1, trials, cv_impls[i].name);
				s = cv_trial(&cv_impls[i], broadcast, n, ms);
				samples[i][t] = s;
				fprintf(csv, "%s,%s,%d,%d,%llu,%.0f,%.3f,%.4f\n", variant,
					cv_impls[i].name, n, t + 1, (unsigned long long)ms, s.rounds_s,
					s.cpu_us, s.vcsw);
			}
		cv_summarize(out, sum, variant, n, trials, samples);
	}
}

int bench_condvar(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	/* a round takes microseconds to tens of them: five throughput trials' worth each */
	uint64_t ms = cfg->trial_ms * 5;
	FILE *csv = bench_open_out(cfg, "condvar.csv");
	FILE *sum = bench_open_out(cfg, "condvar_summary.csv");

	(void)res;
	fprintf(csv, "variant,impl,threads,trial,duration_ms,rounds_per_s,cpu_us_per_round,"
		     "vcsw_per_round\n");
	fprintf(sum, "variant,impl,threads,median_rounds_s,min_rounds_s,max_rounds_s,"
		     "median_cpu_us,min_cpu_us,max_cpu_us,median_vcsw,min_vcsw,max_vcsw,"
		     "ratio_rounds_vs_pthread_cond\n");
	fprintf(out, "\ncondvar: kmutex + kcond vs glibc pthread_mutex + pthread_cond, %d trials of "
		     "%llu ms, median [min - max]; broadcast: N waiters + 1 broadcaster, a round = one "
		     "broadcast all N wake for; prodcons: N/2 producers, N/2 consumers, queue of %d, "
		     "a round = one item\n",
		cfg->trials, (unsigned long long)ms, CV_QUEUE);
	fprintf(out, "  %-9s %3s  %-13s %s\n", "variant", "N", "impl",
		"rounds/s                     CPU us/round            vol. ctx switches/round");
	cv_variant(cfg, out, csv, sum, true, ms);
	cv_variant(cfg, out, csv, sum, false, ms);
	bench_progress_done();
	fclose(csv);
	fclose(sum);
	return 0;
}
