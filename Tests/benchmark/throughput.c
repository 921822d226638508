/*
 * The uncontended mode (ns per lock+unlock pair, against the bare cmpxchg pair) and the
 * throughput mode (threads x critical-section length, ops/s).  Trials run lock after lock
 * (lock A trial 1, lock B trial 1, ..., then trial 2), so a slow spell of the machine lands
 * on every lock alike instead of on one.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "futex.h" /* kmx_futex_waits, kmx_futex_wakes: kmutex's per-thread counts */

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
	bool moves;
	/* guarded by the lock, on one line: --moves adds no line of its own */
	uint64_t counter __attribute__((aligned(BENCH_CACHELINE)));
	uint64_t thread_moves, cpu_moves;
	const void *last_thread;
	int last_cpu;
};

/* ops and the futex counts are published after every acquisition (plain stores to the
 * thread's own line) so that the main thread can read them at both ends of the window. */
struct tp_thread {
	struct tp_shared *sh;
	uint64_t ops, futex_waits, futex_wakes;     /* atomic, written by the thread only */
	uint64_t sink;
} __attribute__((aligned(BENCH_CACHELINE)));

static void *tp_worker(void *arg)
{
	struct tp_thread *me = arg;
	struct tp_shared *sh = me->sh;
	uint64_t ops = 0, sink = 0;

	pthread_barrier_wait(&sh->start);
	/* RELAXED: the flag orders nothing, and the counters are samples: the main thread needs
	 * each to be a value it had, not an order between them. */
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		sh->l->lock(sh->obj);
		sh->counter++;
		if (sh->moves) {
			/* a change of thread is a handover; of CPU, the lines the lock and its
			 * data sit on moved (sched_getcpu() reads the rseq area: a few ns) */
			int cpu = sched_getcpu();

			sh->thread_moves += sh->last_thread != me;
			sh->cpu_moves += sh->last_cpu != cpu;
			sh->last_thread = me;
			sh->last_cpu = cpu;
		}
		sink += bench_work(sh->cs_iters);
		sh->l->unlock(sh->obj);
		__atomic_store_n(&me->ops, ++ops, __ATOMIC_RELAXED);
		/* a new thread's counts start at 0 (0 for locks that are not kmutex) */
		__atomic_store_n(&me->futex_waits, kmx_futex_waits, __ATOMIC_RELAXED);
		__atomic_store_n(&me->futex_wakes, kmx_futex_wakes, __ATOMIC_RELAXED);
		sink += bench_work(sh->out_iters);
	}
	me->sink = sink;
	return NULL;
}

/* One end of the measured window: time, acquisitions, and what they have cost so far. */
struct tp_sample {
	uint64_t ns, ops;
	struct bench_cost cost;
	double idle_ns;                             /* the whole machine's */
};

static struct tp_sample tp_sample(const struct tp_thread *th, int nthreads)
{
	struct tp_sample s = { .ns = bench_now_ns() };
	struct rusage ru;

	s.idle_ns = bench_machine_idle_ns();
	getrusage(RUSAGE_SELF, &ru);
	s.cost = (struct bench_cost){
		.cpu_ns = ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
			  ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3,
		.vcsw = (double)ru.ru_nvcsw, .ivcsw = (double)ru.ru_nivcsw,
	};
	for (int i = 0; i < nthreads; i++) {
		s.ops += __atomic_load_n(&th[i].ops, __ATOMIC_RELAXED);
		s.cost.futex_waits += (double)__atomic_load_n(&th[i].futex_waits, __ATOMIC_RELAXED);
		s.cost.futex_wakes += (double)__atomic_load_n(&th[i].futex_wakes, __ATOMIC_RELAXED);
	}
	return s;
}

/*
 * One trial: ops/s over a window that starts after a warm-up and ends before the stop flag.
 * Both ends are read when the main thread actually runs, which, among 32 busy threads on 2
 * CPUs, can be tens of ms after its sleep ended: timing from the start to the last exit made
 * a 30 ms trial last 31-110 ms, with the threads' start and exit in it.  cost: the process's
 * CPU time and context switches over the window (the main thread sleeps through it), and
 * kmutex's futex calls.
 */
static double tp_trial(const struct bench_config *cfg, const struct bench_lock *l, int nthreads,
		       uint64_t cs_ns, uint64_t *ops_out, uint64_t *elapsed_out,
		       struct bench_cost *cost)
{
	struct tp_shared *sh;
	struct tp_thread *th;
	pthread_t *tids;
	uint64_t total = 0;
	struct tp_sample a, b;

	if (l->external) {
		if (!bench_peer_throughput(cfg, nthreads, cs_ns, ops_out, elapsed_out, cost))
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
	sh->moves = cfg->moves;
	sh->last_cpu = -1;
	sh->cs_iters = bench_ns_to_iters(cs_ns);
	sh->out_iters = bench_ns_to_iters(cfg->outside_ns);
	pthread_barrier_init(&sh->start, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		th[i] = (struct tp_thread){ .sh = sh };
	bench_start_threads(tids, nthreads, tp_worker, th, sizeof(*th));
	pthread_barrier_wait(&sh->start);
	bench_sleep_ns(cfg->warmup_ms * 1000000u);
	a = tp_sample(th, nthreads);
	bench_sleep_ns(cfg->trial_ms * 1000000u);
	b = tp_sample(th, nthreads);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(tids[i], NULL);
		total += th[i].ops;
	}
	*elapsed_out = b.ns - a.ns;
	*ops_out = b.ops - a.ops;
	*cost = (struct bench_cost){
		b.cost.cpu_ns - a.cost.cpu_ns, b.cost.vcsw - a.cost.vcsw, b.cost.ivcsw - a.cost.ivcsw,
		l->counts_futex ? b.cost.futex_waits - a.cost.futex_waits : -1,
		l->counts_futex ? b.cost.futex_wakes - a.cost.futex_wakes : -1, 0,
	};
	/* neither idle nor ours: other processes and the hypervisor's steal; /proc/stat's 10 ms
	 * rounding can make it negative */
	cost->others_ns = (double)*elapsed_out * bench_ncpus() - (b.idle_ns - a.idle_ns) - cost->cpu_ns;
	if (cost->others_ns < 0 || a.idle_ns < 0)
		cost->others_ns = a.idle_ns < 0 ? -1 : 0;
	if (sh->counter != total)
		bench_die("%s: mutual exclusion broken: %llu increments under the lock, %llu ops",
			  l->name, (unsigned long long)sh->counter, (unsigned long long)total);
	if (cfg->moves) /* analysis only: a line on stderr, over the whole trial */
		fprintf(stderr, "\nmoves: %s %d threads cs %llu: per acquisition %.4f thread changes, "
				"%.4f CPU changes\n", l->name, nthreads, (unsigned long long)cs_ns,
			(double)sh->thread_moves / (double)total, (double)sh->cpu_moves / (double)total);
	pthread_barrier_destroy(&sh->start);
	bench_lock_free(l, sh->obj);
	free(tids);
	free(th);
	free(sh);
	return (double)*ops_out * 1e9 / (double)*elapsed_out;
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

/* The costs per acquisition, in the order of the CSV columns. */
enum { COST_CPU, COST_VCSW, COST_IVCSW, COST_WAITS, COST_WAKES, COST_OTHERS, NCOST };
static const char *const cost_csv = "cpu_ns_per_op,vcsw_per_op,ivcsw_per_op,futex_waits_per_op,"
				    "futex_wakes_per_op,others_share";

/* One CSV field: empty for a count this lock does not keep (futex calls outside kmutex). */
static void csv_cost(FILE *f, double v)
{
	if (v >= 0)
		fprintf(f, ",%.4g", v);
	else
		fputc(',', f);
}

/*
 * A lock's ops/s over pthread-normal's trial by trial: the two ran seconds apart, so a slow
 * spell of the machine (the host here changes speed by 20-30% for seconds at a time) divides
 * out.  r[0]: the median ratio, r[1]: its max-min as a share of it; 0 without pthread-normal.
 */
static void paired_ratio(const double *ops, const bool *use, const double *normal,
			 const bool *normal_use, int trials, double r[2])
{
	double v[MAX_TRIALS];
	struct bench_spread s;
	int n = 0;

	for (int pass = 0; normal && pass < 2 && !n; pass++)  /* quiet pairs, else any */
		for (int t = 0; t < trials; t++)
			if (ops[t] >= 0 && normal[t] > 0 && (pass || (use[t] && normal_use[t])))
				v[n++] = ops[t] / normal[t];
	if (!n) {
		r[0] = r[1] = 0;
		return;
	}
	s = bench_spread_of(v, n);
	r[0] = s.median;
	r[1] = s.median > 0 ? (s.max - s.min) / s.median : 0;
}

/*
 * Which trials of a cell count: those in which other processes took at most
 * BENCH_QUIET_SHARE of the machine (or in which we cannot tell: the Swift peer), when they
 * are at least half; otherwise all, and the cell is marked.  On this shared 2-vCPU machine a
 * compile elsewhere takes a whole CPU for seconds, and a trial run on one CPU is another
 * experiment, not a noisy sample of this one.  Returns the number of quiet trials.
 */
static int pick_quiet(const double *others, int trials, bool *use)
{
	int quiet = 0;

	for (int t = 0; t < trials; t++)
		quiet += use[t] = others[t] <= BENCH_QUIET_SHARE;
	if (2 * quiet < trials)
		for (int t = 0; t < trials; t++)
			use[t] = true;
	return quiet;
}

/* The values of the trials in use, packed into out[]; returns how many. */
static int picked(const double *v, const bool *use, int trials, double *out)
{
	int n = 0;

	for (int t = 0; t < trials; t++)
		if (use[t])
			out[n++] = v[t];
	return n;
}

int bench_throughput(const struct bench_config *cfg, FILE *out, struct bench_results *res)
{
	static double ops[BENCH_MAXLOCKS][16][8][MAX_TRIALS];
	static double per_op[BENCH_MAXLOCKS][16][8][NCOST][MAX_TRIALS];
	static double spread[BENCH_MAXLOCKS][16][8][3];
	static double cost[BENCH_MAXLOCKS][16][8][NCOST];      /* medians over the trials */
	static double ratio[BENCH_MAXLOCKS][16][8][2];         /* x pthread-normal: median, spread */
	static bool use[BENCH_MAXLOCKS][16][8][MAX_TRIALS];
	static int quiet[BENCH_MAXLOCKS][16][8];
	double sel[MAX_TRIALS];
	int normal_i = bench_lock_index(cfg, "pthread-normal");
	int cells = 0, done = 0, worst_i = 0, worst_k = 0, worst_c = 0, nspreads = 0;
	double worst = 0, *spreads = bench_xcalloc(BENCH_MAXLOCKS * 16 * 8, sizeof(double));
	FILE *csv = bench_open_out(cfg, "throughput.csv"), *sum;
	char lbl[32];

	for (int i = 0; i < cfg->nlocks; i++)
		cells += !cfg->locks[i]->uncontended_only;
	cells *= cfg->trials * cfg->nthreads * cfg->ncs;
	fprintf(csv, "lock,threads,cs_ns,trial,ops,elapsed_ns,ops_per_s,cpu_ns,vcsw,ivcsw,"
		     "futex_waits,futex_wakes,others_ns\n");
	for (int t = 0; t < cfg->trials; t++)
		for (int c = 0; c < cfg->ncs; c++)
			for (int k = 0; k < cfg->nthreads; k++)
				for (int i = 0; i < cfg->nlocks; i++) {
					const struct bench_lock *l = cfg->locks[i];
					uint64_t n = 0, el = 1;
					struct bench_cost u;
					double tot[NCOST];

					if (l->uncontended_only)
						continue;
					bench_progress("throughput: %d/%d  trial %d  cs %s  %2d threads  %s",
						       ++done, cells, t + 1,
						       cs_label(cfg->cs_ns[c], lbl, sizeof(lbl)),
						       cfg->threads[k], l->name);
					ops[i][k][c][t] = tp_trial(cfg, l, cfg->threads[k], cfg->cs_ns[c],
								   &n, &el, &u);
					if (ops[i][k][c][t] < 0)
						continue;
					tot[COST_CPU] = u.cpu_ns, tot[COST_VCSW] = u.vcsw;
					tot[COST_IVCSW] = u.ivcsw, tot[COST_WAITS] = u.futex_waits;
					tot[COST_WAKES] = u.futex_wakes, tot[COST_OTHERS] = u.others_ns;
					fprintf(csv, "%s,%d,%llu,%d,%llu,%llu,%.0f", l->name,
						cfg->threads[k], (unsigned long long)cfg->cs_ns[c], t + 1,
						(unsigned long long)n, (unsigned long long)el,
						ops[i][k][c][t]);
					for (int m = 0; m < NCOST; m++) {
						/* others: a share of the machine over the window */
						per_op[i][k][c][m][t] = tot[m] < 0 ? -1 :
							m == COST_OTHERS ? tot[m] / ((double)el * bench_ncpus()) :
							tot[m] / (double)(n ? n : 1);
						if (tot[m] >= 0)
							fprintf(csv, ",%.0f", tot[m]);
						else
							fputc(',', csv);
					}
					fputc('\n', csv);
				}
	bench_progress_done();
	fclose(csv);

	sum = bench_open_out(cfg, "throughput_summary.csv");
	fprintf(sum, "lock,threads,cs_ns,median_ops_s,min_ops_s,max_ops_s,ratio_vs_pthread_normal,"
		     "spread,ratio_spread,quiet_trials,%s\n", cost_csv);
	for (int i = 0; i < cfg->nlocks; i++)
		for (int k = 0; k < cfg->nthreads; k++)
			for (int c = 0; c < cfg->ncs; c++)
				quiet[i][k][c] = pick_quiet(per_op[i][k][c][COST_OTHERS], cfg->trials,
							    use[i][k][c]);
	for (int i = 0; i < cfg->nlocks; i++)
		for (int k = 0; k < cfg->nthreads; k++)
			for (int c = 0; c < cfg->ncs; c++) {
				bool *u = use[i][k][c];
				int n = picked(ops[i][k][c], u, cfg->trials, sel);
				struct bench_spread s = bench_spread_of(sel, n);

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
				paired_ratio(ops[i][k][c], u, normal_i >= 0 ? ops[normal_i][k][c] : NULL,
					     normal_i >= 0 ? use[normal_i][k][c] : NULL, cfg->trials,
					     ratio[i][k][c]);
				res->tp_ratio[i][k][c] = ratio[i][k][c][0];
				for (int m = 0; m < NCOST; m++)
					cost[i][k][c][m] = bench_median_of(
						sel, picked(per_op[i][k][c][m], u, cfg->trials, sel));
				res->tp_cpu_ns[i][k][c] = cost[i][k][c][COST_CPU];
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
				double *sp = spread[i][k][c], *r = ratio[i][k][c];

				if (cfg->locks[i]->uncontended_only || res->tp[i][k][c] < 0)
					continue;
				fprintf(sum, "%s,%d,%llu,%.0f,%.0f,%.0f,%.3f,%.3f,%.3f,%d", cfg->locks[i]->name,
					cfg->threads[k], (unsigned long long)cfg->cs_ns[c], sp[0], sp[1],
					sp[2], r[0], sp[0] > 0 ? (sp[2] - sp[1]) / sp[0] : 0, r[1],
					quiet[i][k][c]);
				for (int m = 0; m < NCOST; m++)
					csv_cost(sum, cost[i][k][c][m]);
				fputc('\n', sum);
			}
	fclose(sum);
	write_plot_data(cfg, res, spread);

	for (int c = 0; c < cfg->ncs; c++) {
		fprintf(out, "\nThroughput, critical section %s, ~%lluns of work between acquisitions: "
			     "kops/s, median of %d; x pthread-normal (median of the ratios of trials run "
			     "side by side); max-min of kops/s as %% of the median\n",
			cs_label(cfg->cs_ns[c], lbl, sizeof(lbl)),
			(unsigned long long)cfg->outside_ns, cfg->trials);
		fprintf(out, "  %-18s", "lock \\ threads");
		for (int k = 0; k < cfg->nthreads; k++)
			fprintf(out, " %19d", cfg->threads[k]);
		fputc('\n', out);
		for (int i = 0; i < cfg->nlocks; i++) {
			if (cfg->locks[i]->uncontended_only)
				continue;
			fprintf(out, "  %-18s", cfg->locks[i]->name);
			for (int k = 0; k < cfg->nthreads; k++) {
				double v = res->tp[i][k][c], *sp = spread[i][k][c];
				double normal = ratio[i][k][c][0];
				double pct = v > 0 ? 100 * (sp[2] - sp[1]) / v : 0;
				char busy = 2 * quiet[i][k][c] < cfg->trials ? '*' : ' ', spr[16];

				if (pct < 999.5)
					snprintf(spr, sizeof(spr), "%.0f%%", pct);
				else
					snprintf(spr, sizeof(spr), ">10x");
				if (v < 0)
					fprintf(out, " %19s", "-");
				else if (normal > 0)
					fprintf(out, " %6.0f %5.2fx%5s%c", v / 1e3, normal, spr, busy);
				else
					fprintf(out, " %6.0f       %5s%c", v / 1e3, spr, busy);
			}
			fputc('\n', out);
		}
		/* What each acquisition cost: a lock that wins by burning CPU, or loses by
		 * sleeping and waking, shows here. */
		fprintf(out, "  cost, medians: CPU ns per acquisition (user+sys, all threads) / voluntary "
			     "context switches and futex calls (kmutex only) per 1000 acquisitions\n");
		for (int i = 0; i < cfg->nlocks; i++) {
			if (cfg->locks[i]->uncontended_only)
				continue;
			fprintf(out, "  %-18s", cfg->locks[i]->name);
			for (int k = 0; k < cfg->nthreads; k++) {
				double *m = cost[i][k][c];
				char fx[16] = "-", cpu[16];

				if (res->tp[i][k][c] < 0) {
					fprintf(out, " %19s", "-");
					continue;
				}
				if (m[COST_WAITS] >= 0)
					snprintf(fx, sizeof(fx), "%.2f", 1000 * (m[COST_WAITS] + m[COST_WAKES]));
				/* a spinlock convoy's ms per acquisition in ms, to keep the columns */
				if (m[COST_CPU] < 999999.5)
					snprintf(cpu, sizeof(cpu), "%.0f", m[COST_CPU]);
				else
					snprintf(cpu, sizeof(cpu), "%.0fms", m[COST_CPU] / 1e6);
				fprintf(out, " %6s %5.2f %6s", cpu, 1000 * m[COST_VCSW], fx);
			}
			fputc('\n', out);
		}
	}
	fprintf(out, "  (*: other processes took over %.0f%% of the CPUs in more than half of the "
		     "trials, so all were used; otherwise only those where they did not: "
		     "quiet_trials in throughput_summary.csv)\n", 100 * BENCH_QUIET_SHARE);
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
