/* Output files, and the targets read off the results: measured and reported, never
 * asserted (the machine is shared and noisy). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

FILE *bench_open_out(const struct bench_config *cfg, const char *file)
{
	char path[4096];
	FILE *f;

	if (mkdir(cfg->out_dir, 0777) && errno != EEXIST)
		bench_die("cannot create %s: %s", cfg->out_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", cfg->out_dir, file);
	f = fopen(path, "w");
	if (!f)
		bench_die("cannot write %s: %s", path, strerror(errno));
	return f;
}

int bench_lock_index(const struct bench_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->nlocks; i++)
		if (!strcmp(cfg->locks[i]->name, name))
			return i;
	return -1;
}

static int thread_index(const struct bench_config *cfg, int threads)
{
	for (int k = 0; k < cfg->nthreads; k++)
		if (cfg->threads[k] == threads)
			return k;
	return -1;
}

static const char *verdict(bool met)
{
	return met ? "met" : "MISSED";
}

static void target_uncontended(const struct bench_config *cfg, const struct bench_results *res,
			       int km, FILE *out)
{
	int fl = bench_lock_index(cfg, "bare-cmpxchg"), pn = bench_lock_index(cfg, "pthread-normal");

	if (fl >= 0 && res->unc_ns[fl] > 0 && res->unc_ns[km] > 0) {
		double r = res->unc_ns[km] / res->unc_ns[fl];

		fprintf(out, "  uncontended <= 1.3x the bare cmpxchg pair: %.2f ns vs %.2f ns = %.2fx: %s\n",
			res->unc_ns[km], res->unc_ns[fl], r, verdict(r <= 1.3));
	}
	if (pn >= 0 && res->unc_ns[pn] > 0 && res->unc_ns[km] > 0)
		fprintf(out, "  uncontended below pthread-normal: %.2f ns vs %.2f ns = %.2fx: %s\n",
			res->unc_ns[km], res->unc_ns[pn], res->unc_ns[km] / res->unc_ns[pn],
			verdict(res->unc_ns[km] < res->unc_ns[pn]));
}

/* Issue 12: a lock that wins by burning CPU should show it.  Cells of 2 threads and more. */
static void target_cpu(const struct bench_config *cfg, const struct bench_results *res, int km,
		       FILE *out)
{
	int pa = bench_lock_index(cfg, "pthread-adaptive"), above = 0, cells = 0, wk = 0, wc = 0;
	double worst = 0;

	if (pa < 0)
		return;
	for (int k = 0; k < cfg->nthreads; k++)
		for (int c = 0; c < cfg->ncs; c++) {
			double r;

			if (cfg->threads[k] < 2 || res->tp[km][k][c] <= 0 || res->tp[pa][k][c] <= 0 ||
			    res->tp_cpu_ns[pa][k][c] <= 0)
				continue;
			r = res->tp_cpu_ns[km][k][c] / res->tp_cpu_ns[pa][k][c];
			cells++;
			above += r > 1;
			if (r > worst)
				worst = r, wk = k, wc = c;
		}
	if (cells)
		fprintf(out, "  CPU time per acquisition <= pthread-adaptive's (2+ threads): above in %d of "
			     "%d cells, highest %.2fx (%d threads, cs %lluns): %s\n",
			above, cells, worst, cfg->threads[wk], (unsigned long long)cfg->cs_ns[wc],
			verdict(!above));
}

static void target_throughput(const struct bench_config *cfg, const struct bench_results *res,
			      int km, FILE *out)
{
	int pn = bench_lock_index(cfg, "pthread-normal");
	int k2 = thread_index(cfg, 2), k32 = thread_index(cfg, 32);
	int below = 0, cells = 0, wk = 0, wc = 0;
	double worst = 1e300;

	if (pn < 0)
		return;
	for (int k = 0; k < cfg->nthreads; k++)
		for (int c = 0; c < cfg->ncs; c++) {
			double r;

			if (res->tp_ratio[km][k][c] <= 0)
				continue;
			r = res->tp_ratio[km][k][c];
			cells++;
			below += r < 1;
			if (r < worst)
				worst = r, wk = k, wc = c;
		}
	if (cells)
		fprintf(out, "  throughput >= pthread-normal in every cell: below in %d of %d cells, "
			     "lowest %.2fx (%d threads, cs %lluns): %s\n",
			below, cells, worst, cfg->threads[wk], (unsigned long long)cfg->cs_ns[wc],
			verdict(!below));
	target_cpu(cfg, res, km, out);
	for (int c = 0; c < cfg->ncs && k2 >= 0; c++)
		if (cfg->cs_ns[c] <= 100 && res->tp_ratio[km][k2][c] > 0) {
			double r = res->tp_ratio[km][k2][c];

			fprintf(out, "  >= 1.5x pthread-normal at 2 threads, cs %lluns: %.2fx: %s\n",
				(unsigned long long)cfg->cs_ns[c], r, verdict(r >= 1.5));
		}
	for (int c = 0; c < cfg->ncs && k2 >= 0 && k32 >= 0; c++)
		if (res->tp[km][k2][c] > 0 && res->tp[km][k32][c] >= 0) {
			double r = res->tp[km][k32][c] / res->tp[km][k2][c];

			fprintf(out, "  no collapse at 32 threads (>= 0.5x the 2-thread figure), cs %lluns: "
				     "%.2fx: %s\n",
				(unsigned long long)cfg->cs_ns[c], r, verdict(r >= 0.5));
		}
}

static void target_fairness(const struct bench_config *cfg, const struct bench_results *res,
			    int km, FILE *out)
{
	int pn = bench_lock_index(cfg, "pthread-normal");

	if (res->have_torture)
		fprintf(out, "  locktorture without \"???\": %s\n", verdict(!res->torture_flag[km]));
	if (res->have_skew && res->skew_max_ns[km] >= 0)
		fprintf(out, "  lockskew victim max wait < 5 ms: %.3f ms, median over trials (its sleeps "
			     "ended up to %.3f ms late: the scheduler's share): %s\n",
			res->skew_max_ns[km] / 1e6, res->skew_oversleep_ns[km] / 1e6,
			verdict(res->skew_max_ns[km] < 5e6));
	if (res->have_wait && pn >= 0)
		fprintf(out, "  p99.9 wait <= pthread-normal's: %.2f us vs %.2f us: %s\n",
			res->wait_p999[km] / 1e3, res->wait_p999[pn] / 1e3,
			verdict(res->wait_p999[km] <= res->wait_p999[pn]));
}

void bench_report_targets(const struct bench_config *cfg, const struct bench_results *res, FILE *out)
{
	int km = bench_lock_index(cfg, "kmutex");

	if (km < 0)
		return;
	fprintf(out, "\nIssue 4 targets for kmutex (measured, not asserted):\n");
	if (res->have_unc)
		target_uncontended(cfg, res, km, out);
	if (res->have_tp)
		target_throughput(cfg, res, km, out);
	target_fairness(cfg, res, km, out);
}
