/*
 * krwsem-bench: krwsem side by side with the reader-writer locks a program would otherwise get
 * (issue 22, "Benchmark"): glibc's default pthread_rwlock (PREFER_READER_NP), glibc's
 * PREFER_WRITER_NONRECURSIVE_NP, absl::Mutex in reader mode, and kmutex as a plain mutex
 * (readers exclude each other).  Modes, each over interleaved trials (every lock runs once per
 * trial round, in turn, so that a change in the machine's load hits all of them alike):
 *
 *  uncontended  read lock+unlock and write lock+unlock pairs on one thread, ns per pair;
 *  throughput   1-32 threads, each doing `lock; critical section; unlock; work outside` with a
 *               share of writes of 0 (read-only), 1, 10, 50 or 100% (write-only); readers
 *               check an invariant the writers keep (a == b), so a lock that let a reader in
 *               beside a writer is caught;
 *  writer-wait  four readers holding the lock in overlapping 200 us sections, one after the
 *               other without a pause (the lock is never free of readers), and one writer
 *               asking every millisecond: how long it waits (issue 22's "Why");
 *  reader-wait  two writers holding it in 200 us sections back to back, one reader asking
 *               every millisecond.
 * The load outlasts the asker's time by 20 ms; a wait still running when the load stops is
 * counted up to then, and if it had run for over 100 ms (far beyond any scheduling delay seen
 * here) the trial is marked starved.  CSVs, the plot data and the report (with issue 22's
 * targets) go to --out.  No figure is judged here: make test-bench-smoke checks only the form.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bench.h"
#include "kmutex.h"
#include "rwbench.h"

/* ---- the locks ------------------------------------------------------------------------- */

#define PAIRS(fn, type, LOCK, UNLOCK)                                              \
	static void fn(void *obj, uint64_t n)                                       \
	{                                                                           \
		type *l = obj;                                                      \
		for (uint64_t i = 0; i < n; i++) {                                  \
			LOCK;                                                       \
			__asm__ volatile("" ::: "memory"); /* no merging of pairs */ \
			UNLOCK;                                                     \
		}                                                                   \
	}

static void krw_init(void *o) { krwsem_init((struct krwsem *)o); }
static void krw_destroy(void *o) { krwsem_destroy(o); }
static void krw_rdlock(void *o) { krwsem_down_read(o); }
static void krw_rdunlock(void *o) { krwsem_up_read(o); }
static void krw_wrlock(void *o) { krwsem_down_write(o); }
static void krw_wrunlock(void *o) { krwsem_up_write(o); }
PAIRS(krw_rpairs, struct krwsem, krwsem_down_read(l), krwsem_up_read(l))
PAIRS(krw_wpairs, struct krwsem, krwsem_down_write(l), krwsem_up_write(l))
/* The calls a layered API makes (the pthread drop-in): what the lock tools' switch test costs. */
PAIRS(krw_layered_rpairs, struct krwsem, krwsem__down_read(l, 0, NULL), krwsem__up_read(l))
PAIRS(krw_layered_wpairs, struct krwsem, krwsem__down_write(l, 0, NULL), krwsem__up_write(l))

static void prw_init_kind(void *o, int kind)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, kind);
	if (pthread_rwlock_init(o, &attr))
		bench_die("pthread_rwlock_init failed");
	pthread_rwlockattr_destroy(&attr);
}
static void prw_init_default(void *o) { prw_init_kind(o, PTHREAD_RWLOCK_DEFAULT_NP); }
static void prw_init_writer(void *o)
{
	prw_init_kind(o, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
}
static void prw_destroy(void *o) { pthread_rwlock_destroy(o); }
static void prw_rdlock(void *o) { pthread_rwlock_rdlock(o); }
static void prw_wrlock(void *o) { pthread_rwlock_wrlock(o); }
static void prw_unlock(void *o) { pthread_rwlock_unlock(o); }
PAIRS(prw_rpairs, pthread_rwlock_t, pthread_rwlock_rdlock(l), pthread_rwlock_unlock(l))
PAIRS(prw_wpairs, pthread_rwlock_t, pthread_rwlock_wrlock(l), pthread_rwlock_unlock(l))

static void kmx_init(void *o) { kmutex_init((struct kmutex *)o); }
static void kmx_destroy(void *o) { kmutex_destroy(o); }
static void kmx_lock(void *o) { kmutex_lock(o); }
static void kmx_unlock(void *o) { kmutex_unlock(o); }
PAIRS(kmx_pairs, struct kmutex, kmutex_lock(l), kmutex_unlock(l))

static const struct rw_lock rw_krwsem = {
	"krwsem", "krwsem (this project)", sizeof(struct krwsem), krw_init, krw_destroy,
	krw_rdlock, krw_rdunlock, krw_wrlock, krw_wrunlock, krw_rpairs, krw_wpairs, false,
};
static const struct rw_lock rw_krwsem_layered = {
	"krwsem-layered", "krwsem through krwsem__down_*/krwsem__up_* (uncontended only)",
	sizeof(struct krwsem), krw_init, krw_destroy, krw_rdlock, krw_rdunlock, krw_wrlock,
	krw_wrunlock, krw_layered_rpairs, krw_layered_wpairs, true,
};
static const struct rw_lock rw_glibc = {
	"glibc-rw", "glibc pthread_rwlock, default kind (PREFER_READER_NP)", sizeof(pthread_rwlock_t),
	prw_init_default, prw_destroy, prw_rdlock, prw_unlock, prw_wrlock, prw_unlock,
	prw_rpairs, prw_wpairs, false,
};
static const struct rw_lock rw_glibc_writer = {
	"glibc-rw-writer", "glibc pthread_rwlock, PREFER_WRITER_NONRECURSIVE_NP",
	sizeof(pthread_rwlock_t), prw_init_writer, prw_destroy, prw_rdlock, prw_unlock,
	prw_wrlock, prw_unlock, prw_rpairs, prw_wpairs, false,
};
static const struct rw_lock rw_kmutex = {
	"kmutex", "kmutex as a plain mutex (readers exclude each other)", sizeof(struct kmutex),
	kmx_init, kmx_destroy, kmx_lock, kmx_unlock, kmx_lock, kmx_unlock, kmx_pairs, kmx_pairs, false,
};

static const struct rw_lock *const all_locks[] = {
	&rw_krwsem, &rw_glibc, &rw_glibc_writer, &rw_lock_absl, &rw_kmutex, &rw_krwsem_layered,
};
#define NLOCKS ((int)(sizeof(all_locks) / sizeof(all_locks[0])))
enum { L_KRWSEM, L_GLIBC, L_GLIBC_WRITER, L_ABSL, L_KMUTEX, L_KRWSEM_LAYERED };

static void *lock_new(const struct rw_lock *l)
{
	void *p = aligned_alloc(BENCH_CACHELINE, (l->size + BENCH_CACHELINE - 1) /
						 BENCH_CACHELINE * BENCH_CACHELINE);

	if (!p)
		bench_die("out of memory");
	memset(p, 0, l->size);
	l->init(p);
	return p;
}

static void lock_free(const struct rw_lock *l, void *p)
{
	l->destroy(p);
	free(p);
}

/* ---- configuration ---------------------------------------------------------------------- */

#define MAX_TRIALS  64
#define MAX_THREADS 8
#define NMIX        5
static const unsigned mixes[NMIX] = { 0, 10, 100, 500, 1000 }; /* writes per 1000 ops */

struct profile {
	const char *name;
	int unc_trials, tp_trials, wait_trials;
	uint64_t pairs, trial_ms, warmup_ms, wait_ms;
	int threads[MAX_THREADS], nthreads;
};

static const struct profile profiles[] = {
	{ "quick", 5, 3, 3, 1000000, 50, 10, 300, { 1, 2, 4, 8, 16, 32 }, 6 },
	{ "full", 11, 7, 5, 5000000, 200, 20, 1500, { 1, 2, 4, 8, 16, 32 }, 6 },
	{ "smoke", 1, 1, 1, 20000, 10, 2, 40, { 1, 2, 8 }, 3 },
};

static const struct profile *prof = &profiles[0];
static const char *out_dir = "build/bench/rwlock";
static FILE *report; /* the tables, collected, printed at the end */

/* Critical sections and the work between them, in ns of calibrated busy work. */
#define READ_CS_NS  50
#define WRITE_CS_NS 50
#define OUTSIDE_NS  100

/* The waits scenarios: issue 22's "four readers with overlapping 200 us holds and one writer
 * asking every millisecond", and its mirror. */
#define WAIT_HOLDERS_READ  4
#define WAIT_HOLDERS_WRITE 2
#define WAIT_HOLD_NS       200000
#define WAIT_ASK_EVERY_NS  1000000
#define STOP_AFTER_NS      20000000 /* the load outlasts the asker's time by this */
#define STARVED_NS         100000000 /* a wait still going at the stop, this long already */

static FILE *open_out(const char *file)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, file);
	f = fopen(path, "w");
	if (!f)
		bench_die("cannot write %s: %s", path, strerror(errno));
	return f;
}

/* Median of trial-by-trial ratios x[t] / y[t]: both ran in the same round, under one load. */
static double paired_ratio(const double *x, const double *y, int n)
{
	double r[MAX_TRIALS];
	int k = 0;

	for (int t = 0; t < n; t++)
		if (y[t] > 0)
			r[k++] = x[t] / y[t];
	return k ? bench_median_of(r, k) : 0;
}

/* ---- uncontended ------------------------------------------------------------------------ */

static double unc_ns[NLOCKS][2][MAX_TRIALS]; /* [lock][0 read, 1 write][trial] */

static void run_uncontended(void)
{
	FILE *csv = open_out("rw_uncontended.csv"), *sum = open_out("rw_uncontended_summary.csv");
	int n = prof->unc_trials;

	fprintf(csv, "lock,op,trial,pairs,ns_per_pair\n");
	for (int t = 0; t < n; t++) {
		for (int i = 0; i < NLOCKS; i++) {
			const struct rw_lock *l = all_locks[i];
			void *lock = lock_new(l);

			bench_progress("rwlock uncontended: trial %d/%d, %s", t + 1, n, l->name);
			l->read_pairs(lock, prof->pairs / 10); /* warm the line and the code */
			for (int op = 0; op < 2; op++) {
				uint64_t t0 = bench_now_ns();

				(op ? l->write_pairs : l->read_pairs)(lock, prof->pairs);
				unc_ns[i][op][t] = (double)(bench_now_ns() - t0) / (double)prof->pairs;
				fprintf(csv, "%s,%s,%d,%llu,%.2f\n", l->name, op ? "write" : "read", t + 1,
					(unsigned long long)prof->pairs, unc_ns[i][op][t]);
			}
			lock_free(l, lock);
		}
	}
	bench_progress_done();
	fprintf(sum, "lock,op,median_ns,min_ns,max_ns,ratio_vs_glibc_rw\n");
	fprintf(report, "\nuncontended lock+unlock, ns per pair (median [min-max] of %d trials; "
			"x glibc-rw: median of paired ratios)\n", n);
	fprintf(report, "  %-16s %-28s %-28s\n", "lock", "read", "write");
	for (int i = 0; i < NLOCKS; i++) {
		fprintf(report, "  %-16s", all_locks[i]->name);
		for (int op = 0; op < 2; op++) {
			struct bench_spread s = bench_spread_of(unc_ns[i][op], n);
			double r = paired_ratio(unc_ns[i][op], unc_ns[L_GLIBC][op], n);
			char cell[64];

			fprintf(sum, "%s,%s,%.2f,%.2f,%.2f,%.3f\n", all_locks[i]->name,
				op ? "write" : "read", s.median, s.min, s.max, r);
			snprintf(cell, sizeof(cell), "%.1f [%.1f-%.1f] %.2fx", s.median, s.min, s.max, r);
			fprintf(report, " %-28s", cell);
		}
		fputc('\n', report);
	}
	fclose(csv);
	fclose(sum);
}

/* ---- throughput ------------------------------------------------------------------------- */

struct tp_shared {
	const struct rw_lock *l;
	void *lock;
	unsigned write_permille;
	uint64_t read_iters, write_iters, outside_iters;
	int go, stop;                     /* RELAXED/ACQUIRE flags from the main thread */
	uint64_t violations;              /* readers that saw a != b; atomic */
	uint64_t a __attribute__((aligned(BENCH_CACHELINE))), b; /* the data, under the lock */
};

struct tp_thread {
	struct tp_shared *s;
	uint64_t seed;
	uint64_t ops;                     /* written by the thread, read by main; RELAXED */
	uint64_t sink;
} __attribute__((aligned(BENCH_CACHELINE)));

static void *tp_worker(void *arg)
{
	struct tp_thread *me = arg;
	struct tp_shared *s = me->s;
	const struct rw_lock *l = s->l;
	uint64_t ops = 0, sink = 0;

	/* ACQUIRE pairs with main's RELEASE of go: the shared setup is visible. */
	while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE))
		sched_yield();
	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		if (bench_next_random(&me->seed) % 1000 < s->write_permille) {
			l->wrlock(s->lock);
			s->a++;
			sink += bench_work(s->write_iters);
			s->b++;
			l->wrunlock(s->lock);
		} else {
			l->rdlock(s->lock);
			if (s->a != s->b) /* a writer is inside with us */
				__atomic_add_fetch(&s->violations, 1, __ATOMIC_RELAXED);
			sink += bench_work(s->read_iters);
			l->rdunlock(s->lock);
		}
		sink += bench_work(s->outside_iters);
		/* RELAXED: a counter main samples; one op more or less is within the noise. */
		__atomic_store_n(&me->ops, ++ops, __ATOMIC_RELAXED);
	}
	me->sink = sink;
	return NULL;
}

static uint64_t sum_ops(struct tp_thread *th, int n)
{
	uint64_t total = 0;

	for (int i = 0; i < n; i++)
		total += __atomic_load_n(&th[i].ops, __ATOMIC_RELAXED);
	return total;
}

/* One trial: ops/s over the window after the warm-up. */
static double tp_trial(const struct rw_lock *l, int nthreads, unsigned permille, uint64_t *ops_out,
		       uint64_t *elapsed_out)
{
	static struct tp_shared s;
	struct tp_thread *th = aligned_alloc(BENCH_CACHELINE, sizeof(*th) * (size_t)nthreads);
	pthread_t *tids = bench_xcalloc((size_t)nthreads, sizeof(*tids));
	uint64_t ops0, ops1, t0, t1;

	memset(&s, 0, sizeof(s));
	s.l = l;
	s.lock = lock_new(l);
	s.write_permille = permille;
	s.read_iters = bench_ns_to_iters(READ_CS_NS);
	s.write_iters = bench_ns_to_iters(WRITE_CS_NS);
	s.outside_iters = bench_ns_to_iters(OUTSIDE_NS);
	memset(th, 0, sizeof(*th) * (size_t)nthreads);
	for (int i = 0; i < nthreads; i++) {
		th[i].s = &s;
		th[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	}
	bench_start_threads(tids, nthreads, tp_worker, th, sizeof(*th));
	__atomic_store_n(&s.go, 1, __ATOMIC_RELEASE);
	/* Every thread running before the window opens (on a loaded machine that takes a while). */
	for (int i = 0, waited = 0; i < nthreads && waited < 200; )
		if (__atomic_load_n(&th[i].ops, __ATOMIC_RELAXED))
			i++;
		else
			bench_sleep_ns(1000000), waited++;
	bench_sleep_ns(prof->warmup_ms * 1000000);
	t0 = bench_now_ns();
	ops0 = sum_ops(th, nthreads);
	bench_sleep_ns(prof->trial_ms * 1000000);
	ops1 = sum_ops(th, nthreads);
	t1 = bench_now_ns();
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	if (s.violations)
		bench_die("%s: %llu readers ran beside a writer", l->name,
			  (unsigned long long)s.violations);
	if (s.a != s.b)
		bench_die("%s: the writers' counters disagree", l->name);
	lock_free(l, s.lock);
	free(th);
	free(tids);
	*ops_out = ops1 - ops0;
	*elapsed_out = t1 - t0;
	return (double)(ops1 - ops0) * 1e9 / (double)(t1 - t0);
}

static double tp[NLOCKS][MAX_THREADS][NMIX][MAX_TRIALS]; /* ops/s */

static void run_throughput(void)
{
	FILE *csv = open_out("rw_throughput.csv"), *sum = open_out("rw_throughput_summary.csv");
	int n = prof->tp_trials;

	fprintf(csv, "lock,threads,write_permille,trial,ops,elapsed_ns,ops_per_s\n");
	for (int t = 0; t < n; t++)
		for (int m = 0; m < NMIX; m++)
			for (int k = 0; k < prof->nthreads; k++)
				for (int i = 0; i < NLOCKS; i++) {
					uint64_t ops, ns;

					if (all_locks[i]->uncontended_only)
						continue;
					bench_progress("rwlock throughput: trial %d/%d, %u/1000 writes, %d threads, %s",
						       t + 1, n, mixes[m], prof->threads[k], all_locks[i]->name);
					tp[i][k][m][t] = tp_trial(all_locks[i], prof->threads[k], mixes[m],
								  &ops, &ns);
					fprintf(csv, "%s,%d,%u,%d,%llu,%llu,%.0f\n", all_locks[i]->name,
						prof->threads[k], mixes[m], t + 1, (unsigned long long)ops,
						(unsigned long long)ns, tp[i][k][m][t]);
				}
	bench_progress_done();

	fprintf(sum, "lock,threads,write_permille,median_ops_s,min_ops_s,max_ops_s,"
		     "ratio_vs_glibc_rw,ratio_vs_glibc_rw_writer,ratio_vs_kmutex\n");
	for (int i = 0; i < NLOCKS; i++) {
		char file[128];
		FILE *dat;

		if (all_locks[i]->uncontended_only)
			continue;
		snprintf(file, sizeof(file), "rwtp_%s.dat", all_locks[i]->name);
		dat = open_out(file);
		for (int m = 0; m < NMIX; m++) {
			fprintf(dat, "# write_permille %u: threads median min max (ops/s)\n", mixes[m]);
			for (int k = 0; k < prof->nthreads; k++) {
				struct bench_spread s = bench_spread_of(tp[i][k][m], n);

				fprintf(sum, "%s,%d,%u,%.0f,%.0f,%.0f,%.3f,%.3f,%.3f\n", all_locks[i]->name,
					prof->threads[k], mixes[m], s.median, s.min, s.max,
					paired_ratio(tp[i][k][m], tp[L_GLIBC][k][m], n),
					paired_ratio(tp[i][k][m], tp[L_GLIBC_WRITER][k][m], n),
					paired_ratio(tp[i][k][m], tp[L_KMUTEX][k][m], n));
				fprintf(dat, "%d %.0f %.0f %.0f\n", prof->threads[k], s.median, s.min, s.max);
			}
			fprintf(dat, "\n\n");
		}
		fclose(dat);
	}
	fclose(sum);
	fclose(csv);

	fprintf(report, "\nthroughput, kops/s (median of %d trials; read cs %d ns, write cs %d ns, "
			"%d ns outside; [min-max] in the CSV)\n", n, READ_CS_NS, WRITE_CS_NS, OUTSIDE_NS);
	for (int m = 0; m < NMIX; m++) {
		fprintf(report, "  writes %4.1f%%  %-16s", mixes[m] / 10.0, "threads:");
		for (int k = 0; k < prof->nthreads; k++)
			fprintf(report, " %8d", prof->threads[k]);
		fputc('\n', report);
		for (int i = 0; i < NLOCKS; i++) {
			if (all_locks[i]->uncontended_only)
				continue;
			fprintf(report, "  %14s %-16s", "", all_locks[i]->name);
			for (int k = 0; k < prof->nthreads; k++)
				fprintf(report, " %8.0f", bench_median_of(tp[i][k][m], n) / 1e3);
			fputc('\n', report);
		}
	}
}

/* ---- worst waits ------------------------------------------------------------------------ */

struct wait_shared {
	const struct rw_lock *l;
	void *lock;
	bool holders_write;               /* the holders' mode; the asker takes the other */
	int stop;                         /* RELAXED: the holders stop taking the lock */
	uint64_t stop_ns;                 /* when stop was set (written before it) */
	struct bench_hist hist;           /* the asker's waits */
	uint64_t last_ask_ns, last_got_ns; /* when the asker's last wait began, and ended */
	uint64_t oversleep_max_ns;        /* the asker's 1 ms sleeps: the most one overran */
	int starved;                      /* the asker got the lock only after the holders stopped */
};

struct holder { struct wait_shared *s; int index; };

static void *wait_holder(void *arg)
{
	struct holder *h = arg;
	struct wait_shared *s = h->s;

	/* Staggered: each starts a fraction of a hold after the previous, so reads overlap. */
	bench_sleep_ns((uint64_t)h->index * WAIT_HOLD_NS / WAIT_HOLDERS_READ);
	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		(s->holders_write ? s->l->wrlock : s->l->rdlock)(s->lock);
		bench_sleep_ns(WAIT_HOLD_NS);
		(s->holders_write ? s->l->wrunlock : s->l->rdunlock)(s->lock);
	}
	return NULL;
}

/* The asker: every millisecond, one lock in the other mode, its wait recorded. */
static void wait_asker(struct wait_shared *s, uint64_t run_ns)
{
	uint64_t end = bench_now_ns() + run_ns;

	while (bench_now_ns() < end) {
		uint64_t t0, waited, slept = bench_now_ns();

		bench_sleep_ns(WAIT_ASK_EVERY_NS);
		s->last_ask_ns = t0 = bench_now_ns();
		/* How late the scheduler woke the asker: the machine's share of any wait. */
		if (t0 - slept - WAIT_ASK_EVERY_NS > s->oversleep_max_ns)
			s->oversleep_max_ns = t0 - slept - WAIT_ASK_EVERY_NS;
		(s->holders_write ? s->l->rdlock : s->l->wrlock)(s->lock);
		s->last_got_ns = bench_now_ns();
		waited = s->last_got_ns - t0;
		(s->holders_write ? s->l->rdunlock : s->l->wrunlock)(s->lock);
		bench_hist_add(&s->hist, waited);
	}
}

/* The asker gives up at the end of the run: a wait that outlasted it is counted until then. */
static void *asker_thread(void *arg)
{
	struct wait_shared *s = arg;

	wait_asker(s, prof->wait_ms * 1000000);
	return NULL;
}

enum { W_WRITER, W_READER, NWAIT };
static const char *const wait_names[NWAIT] = { "writer-wait", "reader-wait" };
static double wait_max[NLOCKS][NWAIT][MAX_TRIALS], wait_p99[NLOCKS][NWAIT][MAX_TRIALS];
static double oversleep[NLOCKS][NWAIT][MAX_TRIALS];
static int wait_starved[NLOCKS][NWAIT];

static void wait_trial(const struct rw_lock *l, int scenario, FILE *csv, int trial, int li)
{
	static struct wait_shared s;
	struct holder hs[WAIT_HOLDERS_READ];
	pthread_t tids[WAIT_HOLDERS_READ], asker;
	int nh = scenario == W_WRITER ? WAIT_HOLDERS_READ : WAIT_HOLDERS_WRITE;

	memset(&s, 0, sizeof(s));
	s.l = l;
	s.lock = lock_new(l);
	s.holders_write = scenario == W_READER;
	for (int i = 0; i < nh; i++)
		hs[i] = (struct holder){ &s, i };
	bench_start_threads(tids, nh, wait_holder, hs, sizeof(hs[0]));
	if (pthread_create(&asker, NULL, asker_thread, &s))
		bench_die("pthread_create failed");
	/* The run: until the asker's time is up, plus STOP_AFTER_NS for its last wait. */
	bench_sleep_ns(prof->wait_ms * 1000000 + STOP_AFTER_NS);
	s.stop_ns = bench_now_ns();
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	pthread_join(asker, NULL);
	for (int i = 0; i < nh; i++)
		pthread_join(tids[i], NULL);
	/*
	 * Starved: still waiting when the holders stopped, after STARVED_NS of waiting; its wait
	 * (recorded as it ended, after the stop) would have gone on with the load.
	 */
	s.starved = s.last_got_ns > s.stop_ns && s.stop_ns - s.last_ask_ns > STARVED_NS;
	lock_free(l, s.lock);
	wait_max[li][scenario][trial] = (double)s.hist.max;
	wait_p99[li][scenario][trial] = (double)bench_hist_quantile(&s.hist, 0.99);
	oversleep[li][scenario][trial] = (double)s.oversleep_max_ns;
	wait_starved[li][scenario] += s.starved;
	fprintf(csv, "%s,%s,%d,%llu,%llu,%llu,%llu,%d,%llu\n", l->name, wait_names[scenario], trial + 1,
		(unsigned long long)s.hist.n,
		(unsigned long long)bench_hist_quantile(&s.hist, 0.5),
		(unsigned long long)bench_hist_quantile(&s.hist, 0.99),
		(unsigned long long)s.hist.max, s.starved, (unsigned long long)s.oversleep_max_ns);
}

static void run_waits(void)
{
	FILE *csv = open_out("rw_waits.csv"), *sum = open_out("rw_waits_summary.csv");
	int n = prof->wait_trials;

	fprintf(csv, "lock,scenario,trial,asks,p50_ns,p99_ns,max_ns,starved,oversleep_max_ns\n");
	for (int t = 0; t < n; t++)
		for (int w = 0; w < NWAIT; w++)
			for (int i = 0; i < NLOCKS; i++) {
				if (all_locks[i]->uncontended_only)
					continue;
				bench_progress("rwlock %s: trial %d/%d, %s", wait_names[w], t + 1, n,
					       all_locks[i]->name);
				wait_trial(all_locks[i], w, csv, t, i);
			}
	bench_progress_done();
	fprintf(sum, "lock,scenario,median_max_ns,min_max_ns,max_max_ns,median_p99_ns,starved_trials,"
		     "max_oversleep_ns\n");
	fprintf(report, "\nworst waits, ms: %d readers in overlapping %d us holds and a writer asking "
			"every %d ms (writer-wait), %d writers in back-to-back %d us holds and a reader "
			"asking every %d ms (reader-wait); %llu ms runs; max per trial, median [min-max] "
			"of %d trials, p99 median; \"starved\": trials where the asker, waiting for over "
			"100 ms, got in only when the load stopped; \"late\": the most the asker's 1 ms "
			"sleeps overran (the scheduler's share of any wait)\n", WAIT_HOLDERS_READ, WAIT_HOLD_NS / 1000,
		WAIT_ASK_EVERY_NS / 1000000, WAIT_HOLDERS_WRITE, WAIT_HOLD_NS / 1000,
		WAIT_ASK_EVERY_NS / 1000000, (unsigned long long)prof->wait_ms, n);
	for (int w = 0; w < NWAIT; w++)
		for (int i = 0; i < NLOCKS; i++) {
			struct bench_spread s = bench_spread_of(wait_max[i][w], n);
			double p99 = bench_median_of(wait_p99[i][w], n);

			if (all_locks[i]->uncontended_only)
				continue;
			double late = bench_spread_of(oversleep[i][w], n).max;

			fprintf(sum, "%s,%s,%.0f,%.0f,%.0f,%.0f,%d,%.0f\n", all_locks[i]->name,
				wait_names[w], s.median, s.min, s.max, p99, wait_starved[i][w], late);
			fprintf(report, "  %-12s %-16s max %8.2f [%.2f-%.2f]  p99 %8.2f  starved %d/%d  "
					"late %.2f\n", wait_names[w], all_locks[i]->name, s.median / 1e6,
				s.min / 1e6, s.max / 1e6, p99 / 1e6, wait_starved[i][w], n, late / 1e6);
		}
	fclose(csv);
	fclose(sum);
}

/* ---- issue 22's targets ------------------------------------------------------------------ */

static const char *verdict(bool met) { return met ? "met" : "MISSED"; }

/* The smallest and the median over thread counts of krwsem's paired ratio to lock `ref`. */
static void tp_ratio_range(int m, int ref, double *lo, double *med, int *at)
{
	double r[MAX_THREADS];

	*lo = 1e9;
	*at = 0;
	for (int k = 0; k < prof->nthreads; k++) {
		r[k] = paired_ratio(tp[L_KRWSEM][k][m], tp[ref][k][m], prof->tp_trials);
		if (r[k] < *lo) {
			*lo = r[k];
			*at = prof->threads[k];
		}
	}
	*med = bench_median_of(r, prof->nthreads);
}

static void report_targets(bool have_unc, bool have_tp, bool have_wait)
{
	fprintf(report, "\nIssue 22 targets for krwsem (figures from this run; profile %s):\n",
		prof->name);
	if (have_wait)
		for (int w = 0; w < NWAIT; w++) {
			double worst = bench_spread_of(wait_max[L_KRWSEM][w], prof->wait_trials).max;
			double late = bench_spread_of(oversleep[L_KRWSEM][w], prof->wait_trials).max;

			fprintf(report, "  %s at most 10 ms: worst %.2f ms over %d trials, the scheduler "
					"up to %.2f ms late meanwhile (glibc-rw %.2f ms, glibc-rw-writer "
					"%.2f ms): %s\n", wait_names[w], worst / 1e6, prof->wait_trials,
				late / 1e6,
				bench_spread_of(wait_max[L_GLIBC][w], prof->wait_trials).max / 1e6,
				bench_spread_of(wait_max[L_GLIBC_WRITER][w], prof->wait_trials).max / 1e6,
				verdict(worst <= 10e6));
		}
	if (have_tp) {
		static const struct { int mix, ref; double target; const char *what; } t[] = {
			{ 0, L_GLIBC, 1.0, "read-only vs glibc-rw" },
			{ 1, L_GLIBC_WRITER, 1.2, "1% writes vs glibc-rw-writer" },
			{ 2, L_GLIBC_WRITER, 1.2, "10% writes vs glibc-rw-writer" },
			{ 4, L_KMUTEX, 0.9, "write-only vs kmutex" },
		};
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			double lo, med;
			int at;

			tp_ratio_range(t[i].mix, t[i].ref, &lo, &med, &at);
			fprintf(report, "  throughput %s at least %.1fx: median over thread counts %.2fx, "
					"lowest %.2fx at %d threads: %s\n", t[i].what, t[i].target, med, lo,
				at, verdict(lo >= t[i].target));
		}
	}
	if (have_unc) {
		double r = paired_ratio(unc_ns[L_KRWSEM][0], unc_ns[L_GLIBC][0], prof->unc_trials);

		fprintf(report, "  uncontended read lock+unlock at most 1.1x glibc-rw: %.2fx (linked "
				"statically; through the layered calls %.2fx): %s\n", r,
			paired_ratio(unc_ns[L_KRWSEM_LAYERED][0], unc_ns[L_GLIBC][0], prof->unc_trials),
			verdict(r <= 1.1));
	}
}

/* ---- main ------------------------------------------------------------------------------- */

static const char usage[] =
	"usage: krwsem-bench [all|uncontended|throughput|waits|list|help] [--quick|--full|--smoke] "
	"[--out DIR]\n";

int main(int argc, char **argv)
{
	const char *mode = "all";
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int i = 1;

	if (argc > 1 && argv[1][0] != '-')
		mode = argv[i++];
	if (!strcmp(mode, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(mode, "list")) {
		for (int k = 0; k < NLOCKS; k++)
			printf("%-16s %s\n", all_locks[k]->name, all_locks[k]->about);
		return 0;
	}
	if (strcmp(mode, "all") && strcmp(mode, "uncontended") && strcmp(mode, "throughput") &&
	    strcmp(mode, "waits"))
		bench_die("unknown mode '%s' (krwsem-bench help)", mode);
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			prof = &profiles[0];
		else if (!strcmp(argv[i], "--full"))
			prof = &profiles[1];
		else if (!strcmp(argv[i], "--smoke"))
			prof = &profiles[2];
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out_dir = argv[++i];
		else
			bench_die("unknown option '%s' (krwsem-bench help)", argv[i]);
	}

	if (mkdir(out_dir, 0777) && errno != EEXIST)
		bench_die("cannot create %s: %s", out_dir, strerror(errno));
	report = open_memstream(&text, &len);
	if (!report)
		bench_die("open_memstream: %s", strerror(errno));
	bench_print_machine(report, "krwsem-bench", prof->name);
	bench_calibrate();
	if (!strcmp(mode, "all") || !strcmp(mode, "uncontended"))
		run_uncontended();
	if (!strcmp(mode, "all") || !strcmp(mode, "throughput"))
		run_throughput();
	if (!strcmp(mode, "all") || !strcmp(mode, "waits"))
		run_waits();
	report_targets(!strcmp(mode, "all") || !strcmp(mode, "uncontended"),
		       !strcmp(mode, "all") || !strcmp(mode, "throughput"),
		       !strcmp(mode, "all") || !strcmp(mode, "waits"));
	fclose(report);
	fputs(text, stdout);
	f = open_out("rw_report.txt");
	fputs(text, f);
	fclose(f);
	printf("\nresults: %s/ (rw_report.txt, rw_*.csv, rwtp_*.dat)\n", out_dir);
	free(text);
	return 0;
}
