/*
 * kmutex-bench: kmutex side by side with the locks its users would pick instead.
 *
 * Every lock sits behind one small vtable (struct bench_lock); the modes (uncontended,
 * throughput, fairness, test_mutex) only see the vtable.  Swift's Synchronization.Mutex cannot
 * live in this process, so it is a separate executable (swift-mutex-peer) that runs the same
 * uncontended and throughput loops and prints rows in the same CSV shape; peer.c drives it.
 */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_CACHELINE 128 /* two lines: the adjacent-line prefetcher pairs them on x86 */

struct bench_lock {
	const char *name;
	const char *about;
	size_t size;                        /* bytes of lock state; allocated cache-aligned */
	void (*init)(void *lock);
	void (*lock)(void *lock);
	void (*unlock)(void *lock);
	void (*destroy)(void *lock);
	/* n lock+unlock pairs with the calls inlined, so the loop measures the lock, not a call. */
	void (*pairs)(void *lock, uint64_t n);
	bool uncontended_only;              /* the bare cmpxchg floor: not a lock to contend on */
	bool external;                      /* runs in the Swift peer, not in this process */
	bool counts_futex;                  /* kmutex: futex.h counts this thread's futex calls */
};

extern const struct bench_lock *const bench_locks[];
extern const size_t bench_nlocks;
const struct bench_lock *bench_find_lock(const char *name);
void *bench_lock_new(const struct bench_lock *l);
void bench_lock_free(const struct bench_lock *l, void *obj);

/* absl::Mutex, from the C++ shim (locks_absl.cc). */
extern const struct bench_lock bench_lock_absl;

/* ---- time and busy work (util.c) ---- */
uint64_t bench_now_ns(void);
void bench_sleep_ns(uint64_t ns);
/* Busy work that the compiler cannot remove; its speed is calibrated once per process. */
uint64_t bench_work(uint64_t iters);
void bench_calibrate(void);
uint64_t bench_ns_to_iters(uint64_t ns);
int bench_ncpus(void);
void bench_print_machine(FILE *out, const char *program, const char *profile);
uint64_t bench_next_random(uint64_t *state); /* xorshift64; *state never 0 */
/* Aborts with a one-line message: the benchmark cannot go on. */
void bench_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void *bench_xcalloc(size_t n, size_t size);
void bench_start_threads(pthread_t *tids, int n, void *(*fn)(void *), void *args, size_t argsize);
double bench_machine_idle_ns(void);

/* ---- statistics (stats.c) ---- */
struct bench_spread { double median, min, max; };
struct bench_spread bench_spread_of(const double *v, int n);
double bench_median_of(const double *v, int n);
/* Log-linear histogram of wait times: 2^BENCH_HIST_SUB buckets per power of two (~3%). */
#define BENCH_HIST_SUB 5
#define BENCH_HIST_BUCKETS (64 << BENCH_HIST_SUB)
struct bench_hist { uint64_t count[BENCH_HIST_BUCKETS]; uint64_t n, max; double sum; };
void bench_hist_add(struct bench_hist *h, uint64_t v);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
uint64_t bench_hist_bucket_upper(int bucket);

/* ---- progress line (util.c): stderr, rewritten with \r when stderr is a terminal ---- */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_progress_done(void);

/* ---- run configuration shared by the modes ---- */
struct bench_config {
	const char *out_dir;              /* CSV, data and table files */
	const char *swift_peer;           /* path, or NULL when Swift is not available */
	const struct bench_lock *locks[32];
	int nlocks;
	int trials;
	/* uncontended */
	uint64_t pairs;
	/* throughput */
	int threads[16], nthreads;
	uint64_t cs_ns[8]; int ncs;
	uint64_t outside_ns;
	uint64_t trial_ms;
	uint64_t warmup_ms;               /* before each throughput trial's window */
	bool moves;                       /* throughput: count thread and CPU changes of the lock */
	/* fairness */
	uint64_t fair_ms;
	int fair_threads;
	int skew_load;                    /* lockskew's busy background threads */
	int skew_trials;
	const char *profile;              /* "quick", "full", "smoke" or "custom", for the tables */
};

/* ---- the modes; each writes its CSV under out_dir and prints its table on `out` ---- */
struct bench_results;
int bench_uncontended(const struct bench_config *cfg, FILE *out, struct bench_results *res);
int bench_throughput(const struct bench_config *cfg, FILE *out, struct bench_results *res);
int bench_locktorture(const struct bench_config *cfg, FILE *out, struct bench_results *res);
int bench_lockskew(const struct bench_config *cfg, FILE *out, struct bench_results *res);
int bench_waittime(const struct bench_config *cfg, FILE *out, struct bench_results *res);
int bench_test_mutex(int argc, char **argv);
/* condvar.c: kmutex + kcond vs pthread_mutex + pthread_cond, broadcast and prodcons */
int bench_condvar(const struct bench_config *cfg, FILE *out, struct bench_results *res);

/* ---- figures the target check reads (report.c) ---- */
#define BENCH_MAXLOCKS 32
struct bench_results {
	bool have_unc, have_tp, have_torture, have_skew, have_wait;
	double unc_ns[BENCH_MAXLOCKS];                     /* median ns per pair, by cfg lock index */
	double tp[BENCH_MAXLOCKS][16][8];                  /* median ops/s [lock][threads][cs] */
	double tp_cpu_ns[BENCH_MAXLOCKS][16][8];           /* median CPU ns per acquisition */
	double tp_ratio[BENCH_MAXLOCKS][16][8];            /* median paired x pthread-normal */
	bool torture_flag[BENCH_MAXLOCKS];                 /* "???" */
	double skew_max_ns[BENCH_MAXLOCKS];
	double skew_oversleep_ns[BENCH_MAXLOCKS];          /* the scheduler's share, same run */
	double wait_p999[BENCH_MAXLOCKS];
};
void bench_report_targets(const struct bench_config *cfg, const struct bench_results *res, FILE *out);
int bench_lock_index(const struct bench_config *cfg, const char *name);

/* ---- the Swift peer (peer.c) ---- */
/* Runs one peer trial; returns false (with a note on stderr) when the peer fails. */
bool bench_peer_uncontended(const struct bench_config *cfg, uint64_t pairs, double *ns_per_pair);
/* What a throughput trial cost, in totals over the trial: CPU time and context switches of
 * the whole process (getrusage), futex calls counted by kmutex (-1: not counted); and the CPU
 * time other processes and the hypervisor took meanwhile (-1: not known). */
struct bench_cost { double cpu_ns, vcsw, ivcsw, futex_waits, futex_wakes, others_ns; };
/* The share of the machine other processes (or the hypervisor) may take in a trial that still
 * counts as quiet: above /proc/stat's rounding (bench_machine_idle_ns), below one busy CPU. */
#define BENCH_QUIET_SHARE 0.15
bool bench_peer_throughput(const struct bench_config *cfg, int threads, uint64_t cs_ns,
			   uint64_t *ops, uint64_t *elapsed_ns, struct bench_cost *cost);

FILE *bench_open_out(const struct bench_config *cfg, const char *file);

#endif /* BENCH_H */
