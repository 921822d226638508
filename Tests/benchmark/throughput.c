/*
 * The uncontended mode (ns per lock+unlock pair, against the bare cmpxchg pair) and the
 * throughput mode (threads x critical-section length, ops/s).  Trials run lock after lock
 * (lock A trial 1, lock B trial 1, ..., then trial 2), so a slow spell of the machine lands
 * on every lock alike instead of on one.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_TRIALS 64

static const char *cs_label(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0)
		snprintf(buf, len, "empty");
	else if (ns < 1000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else
		snprintf(buf, len, "%lluus", (unsigned long long)(ns / 1000));
	return buf;
}

/* ---- uncontended ---- */

static double uncontended_trial(const struct bench_config *cfg, const struct bench_lock *l)
{
	void *obj;
	uint64_t t0, dt;
	double ns;

	if (l->external)
		return bench_peer_uncontended(cfg, cfg->pairs, &ns) ? ns : -1;
	obj = bench_lock_new(l);
	l->pairs(obj, cfg->pairs / 10); /* warm the line, the TLS descriptor and the branches */
	t0 = bench_now_ns();
	l->pairs(obj, cfg->pairs);
	dt = bench_now_ns() - t0;
	bench_lock_free(l, obj);
	return (double)dt / (double)cfg->pairs;
}

static void *no_op_thread(void *arg)
{
	return arg;
}

/*
 * glibc's pthread_mutex drops the lock prefix from its cmpxchg while the process has never
 * had a second thread (SINGLE_THREAD_P): that costs it half as much as a real atomic pair, on
 * some machines less than the bare cmpxchg pair itself.  A mutex is only of use in a process
 * with threads, so that is where every lock is measured: glibc's flag never goes back.
 */
static void become_multithreaded(void)
{
	pthread_t tid;

	if (pthread_create(&tid, NULL, no_op_thread, NULL) != 0 || pthread_join(tid, NULL) != 0)
		bench_die("uncontended: cannot start a thread");
}

int bench_uncontended(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	static double ns[BENCH_MAXLOCKS][MAX_TRIALS];
	int floor_i = bench_lock_index(cfg, "bare-cmpxchg");
	int normal_i = bench_lock_index(cfg, "pthread-normal");
	FILE *csv = bench_open_out(cfg, "uncontended.csv");

	fprintf(csv, "lock,trial,pairs,ns_per_pair\n");
	become_multithreaded();
	for (int t = 0; t < cfg->trials; t++)
		for (int i = 0; i < cfg->nlocks; i++) {
			const struct bench_lock *l = cfg->locks[i];

			bench_progress("uncontended: trial %d/%d  %s", t + 1, cfg->trials, l->name);
			ns[i][t] = uncontended_trial(cfg, l);
			if (ns[i][t] >= 0)
				fprintf(csv, "%s,%d,%llu,%.3f\n", l->name, t + 1,
					(unsigned long long)cfg->pairs, ns[i][t]);
		}
	bench_progress_done();
	fclose(csv);

	fprintf(out, "\nUncontended lock+unlock, one thread (the process has had others): ns per pair, median [min-max] of %d trials "
		     "of %llu pairs\n", cfg->trials, (unsigned long long)cfg->pairs);
	fprintf(out, "  %-18s %8s %19s %8s %9s\n", "lock", "median", "[min - max]", "x floor",
		"x normal");
	for (int i = 0; i < cfg->nlocks; i++) {
		struct bench_spread s = bench_spread_of(ns[i], cfg->trials);

		if (s.min < 0) {
			fprintf(out, "  %-18s %8s  (no result: see the note on stderr)\n",
				cfg->locks[i]->name, "-");
			res->unc_ns[i] = -1;
			continue;
		}
		res->unc_ns[i] = s.median;
		fprintf(out, "  %-18s %8.2f   [%6.2f - %6.2f]", cfg->locks[i]->name, s.median, s.min,
			s.max);
		if (floor_i >= 0)
			fprintf(out, " %7.2fx", s.median / bench_spread_of(ns[floor_i], cfg->trials).median);
		if (normal_i >= 0)
			fprintf(out, " %8.2fx", s.median / bench_spread_of(ns[normal_i], cfg->trials).median);
		fputc('\n', out);
	}
	res->have_unc = true;
	return 0;
}

/* ---- throughput ---- */

struct tp_shared {
	const struct bench_lock *l;
	void *obj;
	uint64_t cs_iters, out_iters;
	pthread_barrier_t start;
	int stop;                                   /* atomic */
	uint64_t counter __attribute__((aligned(BENCH_CACHELINE))); /* guarded by the lock */
};

struct tp_thread {
	struct tp_shared *sh;
	uint64_t ops, sink;
} __attribute__((aligned(BENCH_CACHELINE)));

static void *tp_worker(void *arg)
{
	struct tp_thread *me = arg;
	struct tp_shared *sh = me->sh;
	uint64_t ops = 0, sink = 0;

	pthread_barrier_wait(&sh->start);
	/* RELAXED: the flag orders nothing; the join publishes `ops` to the main thread. */
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		sh->l->lock(sh->obj);
		sh->counter++;
		sink += bench_work(sh->cs_iters);
		sh->l->unlock(sh->obj);
		ops++;
		sink += bench_work(sh->out_iters);
	}
	me->ops = ops;
	me->sink = sink;
	return NULL;
}

/* One trial: ops/s over the time from the start to the last thread's exit, so threads that
 * stay queued after the stop flag (spinlock convoys) count against their lock. */
static double tp_trial(const struct bench_config *cfg, const struct bench_lock *l, int nthreads,
		       uint64_t cs_ns, uint64_t *ops_out, uint64_t *elapsed_out)
{
	struct tp_shared *sh;
	struct tp_thread *th;
	pthread_t *tids;
	uint64_t t0, total = 0;

	if (l->external) {
		if (!bench_peer_throughput(cfg, nthreads, cs_ns, ops_out, elapsed_out))
			return -1;
		return (double)*ops_out * 1e9 / (double)*elapsed_out;
	}
	sh = aligned_alloc(BENCH_CACHELINE, sizeof(*sh));
	th = aligned_alloc(BENCH_CACHELINE, sizeof(*th) * (size_t)nthreads);
	tids = bench_xcalloc((size_t)nthreads, sizeof(*tids));
	if (!sh || !th)
		bench_die("out of memory");
	memset(sh, 0, sizeof(*sh));
	sh->l = l;
	sh->obj = bench_lock_new(l);
	sh->cs_iters = bench_ns_to_iters(cs_ns);
	sh->out_iters = bench_ns_to_iters(cfg->outside_ns);
	pthread_barrier_init(&sh->start, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		th[i] = (struct tp_thread){ .sh = sh };
	bench_start_threads(tids, nthreads, tp_worker, th, sizeof(*th));
	pthread_barrier_wait(&sh->start);
	t0 = bench_now_ns();
	bench_sleep_ns(cfg->trial_ms * 1000000u);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(tids[i], NULL);
		total += th[i].ops;
	}
	*elapsed_out = bench_now_ns() - t0;
	*ops_out = total;
	if (sh->counter != total)
		bench_die("%s: mutual exclusion broken: %llu increments under the lock, %llu ops",
			  l->name, (unsigned long long)sh->counter, (unsigned long long)total);
	pthread_barrier_destroy(&sh->start);
	bench_lock_free(l, sh->obj);
	free(tids);
	free(th);
	free(sh);
	return (double)total * 1e9 / (double)*elapsed_out;
}

static void write_plot_data(const struct bench_config *cfg, const struct bench_results *res,
			    double (*spread)[16][8][3])
{
	for (int i = 0; i < cfg->nlocks; i++) {
		char name[128];
		FILE *f;

		if (cfg->locks[i]->uncontended_only || res->tp[i][0][0] < 0)
			continue;
		snprintf(name, sizeof(name), "tp_%s.dat", cfg->locks[i]->name);
		f = bench_open_out(cfg, name);
		for (int c = 0; c < cfg->ncs; c++) {
			fprintf(f, "# cs_ns %llu: threads median_ops_s min max\n",
				(unsigned long long)cfg->cs_ns[c]);
			for (int k = 0; k < cfg->nthreads; k++)
				fprintf(f, "%d %.0f %.0f %.0f\n", cfg->threads[k], spread[i][k][c][0],
					spread[i][k][c][1], spread[i][k][c][2]);
			fprintf(f, "\n\n");
		}
		fclose(f);
	}
}

int bench_throughput(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	static double ops[BENCH_MAXLOCKS][16][8][MAX_TRIALS];
	static double spread[BENCH_MAXLOCKS][16][8][3];
	int normal_i = bench_lock_index(cfg, "pthread-normal");
	int cells = 0, done = 0, worst_i = 0, worst_k = 0, worst_c = 0, nspreads = 0;
	double worst = 0, *spreads = bench_xcalloc(BENCH_MAXLOCKS * 16 * 8, sizeof(double));
	FILE *csv = bench_open_out(cfg, "throughput.csv"), *sum;
	char lbl[32];

	for (int i = 0; i < cfg->nlocks; i++)
		cells += !cfg->locks[i]->uncontended_only;
	cells *= cfg->trials * cfg->nthreads * cfg->ncs;
	fprintf(csv, "lock,threads,cs_ns,trial,ops,elapsed_ns,ops_per_s\n");
	for (int t = 0; t < cfg->trials; t++)
		for (int c = 0; c < cfg->ncs; c++)
			for (int k = 0; k < cfg->nthreads; k++)
				for (int i = 0; i < cfg->nlocks; i++) {
					const struct bench_lock *l = cfg->locks[i];
					uint64_t n = 0, el = 1;

					if (l->uncontended_only)
						continue;
					bench_progress("throughput: %d/%d  trial %d  cs %s  %2d threads  %s",
						       ++done, cells, t + 1,
						       cs_label(cfg->cs_ns[c], lbl, sizeof(lbl)),
						       cfg->threads[k], l->name);
					ops[i][k][c][t] = tp_trial(cfg, l, cfg->threads[k], cfg->cs_ns[c],
								   &n, &el);
					if (ops[i][k][c][t] >= 0)
						fprintf(csv, "%s,%d,%llu,%d,%llu,%llu,%.0f\n", l->name,
							cfg->threads[k],
							(unsigned long long)cfg->cs_ns[c], t + 1,
							(unsigned long long)n, (unsigned long long)el,
							ops[i][k][c][t]);
				}
	bench_progress_done();
	fclose(csv);

	sum = bench_open_out(cfg, "throughput_summary.csv");
	fprintf(sum, "lock,threads,cs_ns,median_ops_s,min_ops_s,max_ops_s,ratio_vs_pthread_normal\n");
	for (int i = 0; i < cfg->nlocks; i++)
		for (int k = 0; k < cfg->nthreads; k++)
			for (int c = 0; c < cfg->ncs; c++) {
				struct bench_spread s = bench_spread_of(ops[i][k][c], cfg->trials);

				if (cfg->locks[i]->uncontended_only)
					continue;
				if (s.min < 0) {
					res->tp[i][k][c] = -1;
					continue;
				}
				spread[i][k][c][0] = s.median;
				spread[i][k][c][1] = s.min;
				spread[i][k][c][2] = s.max;
				res->tp[i][k][c] = s.median;
				if (s.median > 0)
					spreads[nspreads++] = (s.max - s.min) / s.median;
				if (s.median > 0 && (s.max - s.min) / s.median > worst) {
					worst = (s.max - s.min) / s.median;
					worst_i = i, worst_k = k, worst_c = c;
				}
			}
	for (int i = 0; i < cfg->nlocks; i++)
		for (int k = 0; k < cfg->nthreads; k++)
			for (int c = 0; c < cfg->ncs; c++) {
				double normal = normal_i >= 0 ? res->tp[normal_i][k][c] : 0;

				if (cfg->locks[i]->uncontended_only || res->tp[i][k][c] < 0)
					continue;
				fprintf(sum, "%s,%d,%llu,%.0f,%.0f,%.0f,%.3f\n", cfg->locks[i]->name,
					cfg->threads[k], (unsigned long long)cfg->cs_ns[c],
					spread[i][k][c][0], spread[i][k][c][1], spread[i][k][c][2],
					normal > 0 ? res->tp[i][k][c] / normal : 0);
			}
	fclose(sum);
	write_plot_data(cfg, res, spread);

	for (int c = 0; c < cfg->ncs; c++) {
		fprintf(out, "\nThroughput, critical section %s, ~%lluns of work between acquisitions: "
			     "kops/s, median of %d (x pthread-normal)\n",
			cs_label(cfg->cs_ns[c], lbl, sizeof(lbl)),
			(unsigned long long)cfg->outside_ns, cfg->trials);
		fprintf(out, "  %-18s", "lock \\ threads");
		for (int k = 0; k < cfg->nthreads; k++)
			fprintf(out, " %13d", cfg->threads[k]);
		fputc('\n', out);
		for (int i = 0; i < cfg->nlocks; i++) {
			if (cfg->locks[i]->uncontended_only)
				continue;
			fprintf(out, "  %-18s", cfg->locks[i]->name);
			for (int k = 0; k < cfg->nthreads; k++) {
				double v = res->tp[i][k][c];
				double normal = normal_i >= 0 ? res->tp[normal_i][k][c] : 0;

				if (v < 0)
					fprintf(out, " %13s", "-");
				else if (normal > 0)
					fprintf(out, " %6.0f %5.2fx", v / 1e3, v / normal);
				else
					fprintf(out, " %6.0f       ", v / 1e3);
			}
			fputc('\n', out);
		}
	}
	if (worst > 0)
		fprintf(out, "  (max-min over trials, as a share of the median: %.0f%% in the median cell, "
			     "%.0f%% at worst: %s, %d threads, cs %s; min and max of every cell in "
			     "throughput_summary.csv)\n",
			100 * bench_median_of(spreads, nspreads), worst * 100, cfg->locks[worst_i]->name,
			cfg->threads[worst_k], cs_label(cfg->cs_ns[worst_c], lbl, sizeof(lbl)));
	free(spreads);
	res->have_tp = true;
	return 0;
}
