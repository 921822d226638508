/*
 * Fairness: locktorture's writer statistics line, lockskew (a hog against a sleepy victim on
 * a loaded machine), and the wait-time report (acquisition-wait quantiles and per-thread
 * acquisitions).  Each lock runs once per trial, locks interleaved.  The Swift peer has no
 * fairness modes, so Swift's Mutex is left out here.
 */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_THREADS 256

static bool in_process(const struct bench_lock *l)
{
	return !l->uncontended_only && !l->external;
}

static void run_threads(int n, void *(*fn)(void *), void *args, size_t argsize, int *stop,
			uint64_t ms)
{
	pthread_t tids[MAX_THREADS];

	if (n > MAX_THREADS)
		bench_die("at most %d threads", MAX_THREADS);
	bench_start_threads(tids, n, fn, args, argsize);
	bench_sleep_ns(ms * 1000000u);
	/* RELAXED: the flag orders nothing; the joins publish the threads' results. */
	__atomic_store_n(stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
}

static bool stopped(int *stop)
{
	return __atomic_load_n(stop, __ATOMIC_RELAXED);
}

/* ---- locktorture ---- */

struct torture {
	const struct bench_lock *l;
	void *obj;
	int nwriters, stop;
	uint64_t long_hold_iters;
	int held __attribute__((aligned(BENCH_CACHELINE))); /* 1 inside the critical section */
};

struct torture_writer {
	struct torture *t;
	uint64_t acquired, fail, seed;
} __attribute__((aligned(BENCH_CACHELINE)));

/*
 * locktorture's writer, rewritten: take the lock, check that nobody else is inside, now and
 * then hold it for long (5 ms, about once per 2000 acquisitions per writer) or yield the CPU
 * while holding it, and go again at once.
 */
static void *torture_writer(void *arg)
{
	struct torture_writer *w = arg;
	struct torture *t = w->t;
	uint64_t sink = 0;

	while (!stopped(&t->stop)) {
		uint64_t r = bench_next_random(&w->seed);

		t->l->lock(t->obj);
		/* RELAXED: under a working lock these never race; a broken one shows as a fail. */
		if (__atomic_load_n(&t->held, __ATOMIC_RELAXED))
			w->fail++;
		__atomic_store_n(&t->held, 1, __ATOMIC_RELAXED);
		if (r % ((uint64_t)t->nwriters * 2000) == 0)
			sink += bench_work(t->long_hold_iters);
		if ((r >> 20) % ((uint64_t)t->nwriters * 20000) == 0)
			sched_yield();
		__atomic_store_n(&t->held, 0, __ATOMIC_RELAXED);
		t->l->unlock(t->obj);
		w->acquired++;
	}
	w->seed ^= sink;
	return NULL;
}

int bench_locktorture(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	int nw = 2 * bench_ncpus(); /* locktorture's default writer count */
	FILE *csv = bench_open_out(cfg, "locktorture.csv");
	char (*lines)[BENCH_MAXLOCKS][160] = bench_xcalloc((size_t)cfg->trials, sizeof(*lines));
	bool failed = false;

	fprintf(csv, "lock,trial,writers,duration_ms,total,max,min,fail,flag\n");
	for (int tr = 0; tr < cfg->trials; tr++)
		for (int i = 0; i < cfg->nlocks; i++) {
			const struct bench_lock *l = cfg->locks[i];
			struct torture *t = aligned_alloc(BENCH_CACHELINE, sizeof(*t));
			struct torture_writer *w = aligned_alloc(BENCH_CACHELINE, sizeof(*w) * (size_t)nw);
			uint64_t total = 0, max = 0, min = UINT64_MAX, fail = 0;
			bool skew;

			if (!in_process(l))
				continue;
			if (!t || !w)
				bench_die("out of memory");
			bench_progress("locktorture: trial %d/%d  %s, %d writers, %llu ms", tr + 1,
				       cfg->trials, l->name, nw, (unsigned long long)cfg->fair_ms);
			memset(t, 0, sizeof(*t));
			t->l = l;
			t->obj = bench_lock_new(l);
			t->nwriters = nw;
			t->long_hold_iters = bench_ns_to_iters(5000000);
			for (int k = 0; k < nw; k++)
				w[k] = (struct torture_writer){ .t = t, .seed = 0x9e3779b97f4a7c15u * (k + 1) };
			run_threads(nw, torture_writer, w, sizeof(*w), &t->stop, cfg->fair_ms);
			for (int k = 0; k < nw; k++) {
				total += w[k].acquired;
				fail += w[k].fail;
				max = w[k].acquired > max ? w[k].acquired : max;
				min = w[k].acquired < min ? w[k].acquired : min;
			}
			skew = max / 2 > min; /* locktorture's "???": a writer got under half the top */
			res->torture_flag[i] |= skew;
			failed |= fail != 0;
			snprintf(lines[tr][i], sizeof(lines[tr][i]),
				 "Writes:  Total: %llu  Max/Min: %llu/%llu %s  Fail: %llu %s",
				 (unsigned long long)total, (unsigned long long)max,
				 (unsigned long long)min, skew ? "???" : "", (unsigned long long)fail,
				 fail ? "!!!" : "");
			fprintf(csv, "%s,%d,%d,%llu,%llu,%llu,%llu,%llu,%s\n", l->name, tr + 1, nw,
				(unsigned long long)cfg->fair_ms, (unsigned long long)total,
				(unsigned long long)max, (unsigned long long)min,
				(unsigned long long)fail, skew ? "???" : "");
			bench_lock_free(l, t->obj);
			free(w);
			free(t);
		}
	bench_progress_done();
	fclose(csv);
	fprintf(out, "\nlocktorture: %d writers relocking at once for %llu ms, rare 5 ms holds; "
		     "\"???\" = some writer got under half of the busiest one's acquisitions\n",
		nw, (unsigned long long)cfg->fair_ms);
	for (int i = 0; i < cfg->nlocks; i++)
		for (int tr = 0; tr < cfg->trials; tr++)
			if (lines[tr][i][0])
				fprintf(out, "  %-18s %s\n", cfg->locks[i]->name, lines[tr][i]);
	for (int i = 0; i < cfg->nlocks; i++)
		if (cfg->locks[i]->external)
			fprintf(out, "  (%s: not in the fairness modes; its peer runs the uncontended and "
				     "throughput loops only)\n", cfg->locks[i]->name);
	free(lines);
	res->have_torture = true;
	if (failed)
		fprintf(out, "  FAIL: a lock let two writers in at once (\"!!!\" above)\n");
	return failed;
}

/* ---- lockskew ---- */

struct skew {
	const struct bench_lock *l;
	void *obj;
	int stop;
	uint64_t hold_iters, victim_sleep_ns;
	uint64_t hog_rounds, victim_rounds, victim_max_ns, victim_sum_ns;
	uint64_t oversleep_max_ns; /* the scheduler's share: how late the victim's sleeps end */
};

static void *skew_hog(void *arg)
{
	struct skew *s = arg;
	uint64_t sink = 0;

	while (!stopped(&s->stop)) {
		s->l->lock(s->obj);
		sink += bench_work(s->hold_iters);
		s->l->unlock(s->obj);
		s->hog_rounds++;
	}
	return (void *)(uintptr_t)(sink & 1);
}

static void *skew_victim(void *arg)
{
	struct skew *s = arg;

	while (!stopped(&s->stop)) {
		uint64_t t0 = bench_now_ns(), wait;

		bench_sleep_ns(s->victim_sleep_ns);
		wait = bench_now_ns() - t0 - s->victim_sleep_ns;
		if (wait > s->oversleep_max_ns)
			s->oversleep_max_ns = wait;
		t0 = bench_now_ns();
		s->l->lock(s->obj);
		wait = bench_now_ns() - t0;
		s->l->unlock(s->obj);
		s->victim_rounds++;
		s->victim_sum_ns += wait;
		if (wait > s->victim_max_ns)
			s->victim_max_ns = wait;
	}
	return NULL;
}

/* Background load: one busy thread per CPU, no locks, so the hog and the victim share
 * the CPUs with other work as on a loaded machine. */
static void *skew_load(void *arg)
{
	struct skew *s = arg;
	uint64_t sink = 0;

	while (!stopped(&s->stop))
		sink += bench_work(10000);
	return (void *)(uintptr_t)(sink & 1);
}

struct skew_thread {
	struct skew *s;
	void *(*fn)(void *);
};

static void *skew_start(void *arg)
{
	struct skew_thread *t = arg;

	return t->fn(t->s);
}

/* Median over trials of each lock's worst victim wait, next to the scheduler's share. */
static void summarize_skew(const struct bench_config *cfg, FILE *out, struct bench_results *res,
			   double (*max_ns)[BENCH_MAXLOCKS], double (*over_ns)[BENCH_MAXLOCKS])
{
	double v[64], o[64];

	if (cfg->trials < 2)
		fprintf(out, "  (one trial per lock)\n");
	for (int i = 0; i < cfg->nlocks; i++) {
		struct bench_spread sv, so;

		res->skew_max_ns[i] = -1;
		if (!in_process(cfg->locks[i]))
			continue;
		for (int tr = 0; tr < cfg->trials && tr < 64; tr++)
			v[tr] = max_ns[tr][i], o[tr] = over_ns[tr][i];
		sv = bench_spread_of(v, cfg->trials < 64 ? cfg->trials : 64);
		so = bench_spread_of(o, cfg->trials < 64 ? cfg->trials : 64);
		res->skew_max_ns[i] = sv.median;
		res->skew_oversleep_ns[i] = so.median;
		if (cfg->trials >= 2)
			fprintf(out, "  %-18s victim max wait, median of %d trials: %8.3f ms [%.3f - %.3f]  "
				     "(oversleep max, median %.3f ms)\n",
				cfg->locks[i]->name, cfg->trials, sv.median / 1e6, sv.min / 1e6,
				sv.max / 1e6, so.median / 1e6);
	}
}

int bench_lockskew(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	int nload = cfg->skew_load;
	FILE *csv = bench_open_out(cfg, "lockskew.csv");
	double (*max_ns)[BENCH_MAXLOCKS] = bench_xcalloc((size_t)cfg->trials, sizeof(*max_ns));
	double (*over_ns)[BENCH_MAXLOCKS] = bench_xcalloc((size_t)cfg->trials, sizeof(*over_ns));
	char (*lines)[BENCH_MAXLOCKS][160] = bench_xcalloc((size_t)cfg->trials, sizeof(*lines));

	fprintf(csv, "lock,trial,duration_ms,hog_rounds,victim_rounds,victim_max_wait_us,"
		     "victim_mean_wait_us,victim_oversleep_max_us\n");
	for (int tr = 0; tr < cfg->trials; tr++)
		for (int i = 0; i < cfg->nlocks; i++) {
			const struct bench_lock *l = cfg->locks[i];
			struct skew s = { .l = l };
			struct skew_thread th[2 + MAX_THREADS];
			double mean;

			if (!in_process(l))
				continue;
			bench_progress("lockskew: trial %d/%d  %s, hog vs victim + %d busy threads, %llu ms",
				       tr + 1, cfg->trials, l->name, nload,
				       (unsigned long long)cfg->fair_ms);
			s.obj = bench_lock_new(l);
			s.hold_iters = bench_ns_to_iters(100000);
			s.victim_sleep_ns = 100000;
			th[0] = (struct skew_thread){ &s, skew_hog };
			th[1] = (struct skew_thread){ &s, skew_victim };
			for (int k = 0; k < nload; k++)
				th[2 + k] = (struct skew_thread){ &s, skew_load };
			run_threads(2 + nload, skew_start, th, sizeof(th[0]), &s.stop, cfg->fair_ms);
			bench_lock_free(l, s.obj);
			mean = s.victim_rounds ? (double)s.victim_sum_ns / (double)s.victim_rounds : 0;
			max_ns[tr][i] = (double)s.victim_max_ns;
			over_ns[tr][i] = (double)s.oversleep_max_ns;
			snprintf(lines[tr][i], sizeof(lines[tr][i]),
				 "hog %6llu  victim %6llu rounds  victim wait max %8.3f ms  mean %7.1f us  "
				 "(oversleep max %7.3f ms)",
				 (unsigned long long)s.hog_rounds, (unsigned long long)s.victim_rounds,
				 (double)s.victim_max_ns / 1e6, mean / 1e3, (double)s.oversleep_max_ns / 1e6);
			fprintf(csv, "%s,%d,%llu,%llu,%llu,%.1f,%.1f,%.1f\n", l->name, tr + 1,
				(unsigned long long)cfg->fair_ms, (unsigned long long)s.hog_rounds,
				(unsigned long long)s.victim_rounds, (double)s.victim_max_ns / 1e3,
				mean / 1e3, (double)s.oversleep_max_ns / 1e3);
		}
	bench_progress_done();
	fclose(csv);
	fprintf(out, "\nlockskew: a hog holding ~100 us and relocking at once, a victim sleeping "
		     "~100 us between attempts, %d busy threads of background load, %llu ms; "
		     "oversleep = how late the victim's sleeps ended, the scheduler's part of a wait\n",
		nload, (unsigned long long)cfg->fair_ms);
	for (int i = 0; i < cfg->nlocks; i++)
		for (int tr = 0; tr < cfg->trials; tr++)
			if (lines[tr][i][0])
				fprintf(out, "  %-18s %s\n", cfg->locks[i]->name, lines[tr][i]);
	summarize_skew(cfg, out, res, max_ns, over_ns);
	free(over_ns);
	free(max_ns);
	free(lines);
	res->have_skew = true;
	return 0;
}

/* ---- wait-time report ---- */

struct waits {
	const struct bench_lock *l;
	void *obj;
	int stop;
	uint64_t cs_iters, out_iters;
};

struct waits_thread {
	struct waits *w;
	struct bench_hist hist;
	uint64_t sink;
};

static void *waits_worker(void *arg)
{
	struct waits_thread *me = arg;
	struct waits *w = me->w;

	while (!stopped(&w->stop)) {
		uint64_t t0 = bench_now_ns();

		w->l->lock(w->obj);
		bench_hist_add(&me->hist, bench_now_ns() - t0);
		me->sink += bench_work(w->cs_iters);
		w->l->unlock(w->obj);
		me->sink += bench_work(w->out_iters);
	}
	return NULL;
}

static void write_cdf(const struct bench_config *cfg, const char *lock, const struct bench_hist *h)
{
	char name[128];
	FILE *f;
	uint64_t seen = 0;

	snprintf(name, sizeof(name), "cdf_%s.dat", lock);
	f = bench_open_out(cfg, name);
	fprintf(f, "# wait_ns cumulative_fraction\n");
	for (int b = 0; b < BENCH_HIST_BUCKETS; b++) {
		if (!h->count[b])
			continue;
		seen += h->count[b];
		fprintf(f, "%llu %.7f\n", (unsigned long long)bench_hist_bucket_upper(b),
			(double)seen / (double)h->n);
	}
	fclose(f);
}

/* Per-thread acquisitions as a fraction of the lock's mean: rows threads, columns locks. */
static void write_perthread_matrix(const struct bench_config *cfg, double (*acq)[MAX_THREADS], int n)
{
	FILE *f = bench_open_out(cfg, "perthread.dat");

	fprintf(f, "thread");
	for (int i = 0; i < cfg->nlocks; i++)
		if (in_process(cfg->locks[i]))
			fprintf(f, " %s", cfg->locks[i]->name);
	fputc('\n', f);
	for (int k = 0; k < n; k++) {
		fprintf(f, "%d", k);
		for (int i = 0; i < cfg->nlocks; i++) {
			double mean = 0;

			if (!in_process(cfg->locks[i]))
				continue;
			for (int j = 0; j < n; j++)
				mean += acq[i][j] / n;
			fprintf(f, " %.4f", mean > 0 ? acq[i][k] / mean : 0);
		}
		fputc('\n', f);
	}
	fclose(f);
}

int bench_waittime(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	int n = cfg->fair_threads;
	const uint64_t cs_ns = 1000, out_ns = 1000;
	FILE *csv = bench_open_out(cfg, "waittime.csv");
	FILE *per = bench_open_out(cfg, "perthread.csv");
	struct waits_thread *th = bench_xcalloc((size_t)n, sizeof(*th));
	struct bench_hist *all = bench_xcalloc((size_t)cfg->nlocks, sizeof(*all));
	double (*acq)[MAX_THREADS] = bench_xcalloc((size_t)cfg->nlocks, sizeof(*acq));

	if (n < 1 || n > MAX_THREADS)
		bench_die("wait-time threads must be 1..%d", MAX_THREADS);
	fprintf(csv, "lock,threads,acquisitions,p50_ns,p99_ns,p999_ns,max_ns,acq_mean,acq_stddev\n");
	fprintf(per, "lock,trial,thread,acquisitions\n");
	for (int tr = 0; tr < cfg->trials; tr++)
		for (int i = 0; i < cfg->nlocks; i++) {
			const struct bench_lock *l = cfg->locks[i];
			struct waits w = { .l = l };

			if (!in_process(l))
				continue;
			bench_progress("wait times: trial %d/%d  %s, %d threads, %llu ms", tr + 1,
				       cfg->trials, l->name, n, (unsigned long long)cfg->fair_ms);
			w.obj = bench_lock_new(l);
			w.cs_iters = bench_ns_to_iters(cs_ns);
			w.out_iters = bench_ns_to_iters(out_ns);
			memset(th, 0, sizeof(*th) * (size_t)n);
			for (int k = 0; k < n; k++)
				th[k].w = &w;
			run_threads(n, waits_worker, th, sizeof(*th), &w.stop, cfg->fair_ms);
			bench_lock_free(l, w.obj);
			for (int k = 0; k < n; k++) {
				bench_hist_merge(&all[i], &th[k].hist);
				acq[i][k] += (double)th[k].hist.n;
				fprintf(per, "%s,%d,%d,%llu\n", l->name, tr + 1, k,
					(unsigned long long)th[k].hist.n);
			}
		}
	bench_progress_done();
	fclose(per);

	fprintf(out, "\nWait times: %d threads, critical section ~%lluns, ~%lluns between "
		     "acquisitions, %d x %llu ms; acquisition wait quantiles (us), and per-thread "
		     "acquisitions: mean, stddev\n",
		n, (unsigned long long)cs_ns, (unsigned long long)out_ns, cfg->trials,
		(unsigned long long)cfg->fair_ms);
	fprintf(out, "  %-18s %9s %9s %9s %10s %12s %10s %6s\n", "lock", "p50", "p99", "p99.9", "max",
		"acq mean", "stddev", "cv");
	for (int i = 0; i < cfg->nlocks; i++) {
		double mean = 0, var = 0;
		uint64_t q50, q99, q999;

		if (!in_process(cfg->locks[i]))
			continue;
		for (int k = 0; k < n; k++)
			mean += acq[i][k] / cfg->trials;
		mean /= n;
		for (int k = 0; k < n; k++) {
			double d = acq[i][k] / cfg->trials - mean;

			var += d * d;
		}
		var = n > 1 ? var / (n - 1) : 0;
		q50 = bench_hist_quantile(&all[i], 0.50);
		q99 = bench_hist_quantile(&all[i], 0.99);
		q999 = bench_hist_quantile(&all[i], 0.999);
		res->wait_p999[i] = (double)q999;
		fprintf(csv, "%s,%d,%llu,%llu,%llu,%llu,%llu,%.1f,%.1f\n", cfg->locks[i]->name, n,
			(unsigned long long)all[i].n, (unsigned long long)q50,
			(unsigned long long)q99, (unsigned long long)q999,
			(unsigned long long)all[i].max, mean, sqrt(var));
		fprintf(out, "  %-18s %9.2f %9.2f %9.2f %10.2f %12.0f %10.0f %5.1f%%\n",
			cfg->locks[i]->name, q50 / 1e3, q99 / 1e3, q999 / 1e3, all[i].max / 1e3, mean,
			sqrt(var), mean > 0 ? 100 * sqrt(var) / mean : 0);
		write_cdf(cfg, cfg->locks[i]->name, &all[i]);
	}
	fclose(csv);
	write_perthread_matrix(cfg, acq, n);
	free(acq);
	free(all);
	free(th);
	res->have_wait = true;
	return 0;
}
