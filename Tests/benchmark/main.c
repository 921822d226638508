/*
 * kmutex-bench: how kmutex compares, on this machine, with the locks its users would pick
 * instead.  `kmutex-bench` alone runs every mode with the quick profile (make bench);
 * `kmutex-bench help` lists modes and options.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char usage[] =
	"usage: kmutex-bench [MODE] [OPTIONS]\n"
	"modes: all (default), uncontended, throughput, fairness (= locktorture lockskew waittime),\n"
	"       locktorture, lockskew, waittime, condvar, list, help,\n"
	"       test_mutex [--lock NAME] nr_readers nr_writers duration [-c rdur] [-e wdur] [-d wdelay]\n"
	"options:\n"
	"  --quick | --full | --smoke   profile: ~2 minutes (default) | the long sweep | a few seconds\n"
	"  --out DIR                    results directory (default build/bench)\n"
	"  --locks a,b,...              locks to run (default: all; see `list`)\n"
	"  --trials N                   trials per cell, all modes\n"
	"  --threads 1,2,...            throughput thread counts\n"
	"  --cs NS,NS,...               throughput critical-section lengths in ns (0 = empty)\n"
	"  --outside NS                 work between acquisitions in ns\n"
	"  --trial-ms MS                throughput trial length (the measured window)\n"
	"  --warmup-ms MS               throughput: run before the window opens\n"
	"  --moves                      throughput: count the lock's moves between threads and CPUs\n"
	"                               (adds a sched_getcpu() to the critical section: analysis only)\n"
	"  --pairs N                    uncontended pairs per trial\n"
	"  --fair-ms MS                 fairness run length\n"
	"  --fair-threads N             wait-time report threads\n"
	"  --skew-load N                lockskew background busy threads (default: one per CPU)\n"
	"  --swift-peer PATH | --no-swift\n";

struct profile {
	const char *name;
	int unc_trials, tp_trials, fair_trials, skew_trials;
	uint64_t pairs, trial_ms, warmup_ms, fair_ms;
	int threads[8], nthreads;
	uint64_t cs[4];
	int ncs;
};

static const struct profile profiles[] = {
	{ "quick", 5, 5, 1, 3, 2000000, 60, 5, 1000, { 1, 2, 4, 8, 16, 32 }, 6, { 0, 100, 1000, 10000 }, 4 },
	{ "full", 11, 7, 3, 5, 10000000, 300, 20, 3000, { 1, 2, 4, 8, 16, 32 }, 6, { 0, 100, 1000, 10000 }, 4 },
	{ "smoke", 1, 1, 1, 1, 100000, 10, 2, 100, { 1, 2, 32 }, 3, { 0, 1000 }, 2 },
};

struct options {
	const char *mode;
	const struct profile *profile;
	struct bench_config cfg;
	int trials;                  /* --trials, or 0 */
	uint64_t pairs, trial_ms, warmup_ms, fair_ms, outside;
	int fair_threads, skew_load;
	bool no_swift, threads_set, cs_set, warmup_set;
};

static uint64_t parse_u64(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s ? s : "", &end, 10);
	if (!s || !*s || *end || errno || s[0] == '-')
		bench_die("%s wants a non-negative integer, got '%s'", opt, s ? s : "");
	return v;
}

/* A comma-separated list of integers into out[], at most max of them. */
static int parse_list(const char *opt, const char *s, uint64_t *out, int max)
{
	char buf[256], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s ? s : "");
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max)
			bench_die("%s takes at most %d values", opt, max);
		out[n++] = parse_u64(opt, tok);
	}
	if (!n)
		bench_die("%s wants a comma-separated list", opt);
	return n;
}

static void parse_locks(struct bench_config *cfg, const char *s)
{
	char buf[512], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", s ? s : "");
	cfg->nlocks = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct bench_lock *l = bench_find_lock(tok);

		if (!l)
			bench_die("unknown lock '%s' (see kmutex-bench list)", tok);
		if (cfg->nlocks == BENCH_MAXLOCKS)
			bench_die("too many locks");
		cfg->locks[cfg->nlocks++] = l;
	}
	if (!cfg->nlocks)
		bench_die("--locks wants a comma-separated list of lock names");
}

static const char *arg_of(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		bench_die("%s needs a value", argv[*i]);
	return argv[++*i];
}

static void parse_options(int argc, char **argv, struct options *o)
{
	uint64_t list[16];

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--quick") || !strcmp(a, "--full") || !strcmp(a, "--smoke"))
			o->profile = &profiles[a[2] == 'q' ? 0 : a[2] == 'f' ? 1 : 2];
		else if (!strcmp(a, "--out"))
			o->cfg.out_dir = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--locks"))
			parse_locks(&o->cfg, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--trials"))
			o->trials = (int)parse_u64(a, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--threads")) {
			o->cfg.nthreads = parse_list(a, arg_of(argc, argv, &i), list, 16);
			for (int k = 0; k < o->cfg.nthreads; k++)
				o->cfg.threads[k] = (int)list[k];
			o->threads_set = true;
		} else if (!strcmp(a, "--cs")) {
			o->cfg.ncs = parse_list(a, arg_of(argc, argv, &i), o->cfg.cs_ns, 8);
			o->cs_set = true;
		} else if (!strcmp(a, "--outside"))
			o->outside = parse_u64(a, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--trial-ms"))
			o->trial_ms = parse_u64(a, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--warmup-ms")) {
			o->warmup_ms = parse_u64(a, arg_of(argc, argv, &i));
			o->warmup_set = true;
		} else if (!strcmp(a, "--moves"))
			o->cfg.moves = true;
		else if (!strcmp(a, "--pairs"))
			o->pairs = parse_u64(a, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--fair-ms"))
			o->fair_ms = parse_u64(a, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--fair-threads"))
			o->fair_threads = (int)parse_u64(a, arg_of(argc, argv, &i));
		else if (!strcmp(a, "--skew-load"))
			o->skew_load = (int)parse_u64(a, arg_of(argc, argv, &i)) + 1;
		else if (!strcmp(a, "--swift-peer"))
			o->cfg.swift_peer = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--no-swift"))
			o->no_swift = true;
		else
			bench_die("unknown option '%s' (kmutex-bench help)", a);
	}
	if (o->trials < 0 || o->trials > 64)
		bench_die("--trials must be 1..64");
	for (int k = 0; k < o->cfg.nthreads; k++)
		if (o->cfg.threads[k] < 1 || o->cfg.threads[k] > 1024)
			bench_die("--threads values must be 1..1024");
}

/* The peer sits next to kmutex-bench unless --swift-peer says otherwise. */
static const char *default_swift_peer(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	char *slash;

	if (n <= 0)
		return NULL;
	path[n] = 0;
	slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	strcpy(slash + 1, "swift-mutex-peer");
	return access(path, X_OK) ? NULL : path;
}

/* Swift's column goes when there is no peer, with a note saying so. */
static void settle_swift(struct bench_config *cfg, bool no_swift, FILE *out)
{
	int j = 0;

	if (!no_swift && !cfg->swift_peer)
		cfg->swift_peer = default_swift_peer();
	if (cfg->swift_peer && !no_swift)
		return;
	for (int i = 0; i < cfg->nlocks; i++)
		if (!cfg->locks[i]->external)
			cfg->locks[j++] = cfg->locks[i];
	if (j != cfg->nlocks)
		fprintf(out, "note: swift-mutex skipped: %s\n",
			no_swift ? "--no-swift" : "no swift-mutex-peer next to kmutex-bench (Swift "
						  "missing? build it with make bench)");
	cfg->nlocks = j;
}

static void apply_profile(struct options *o)
{
	const struct profile *p = o->profile;
	struct bench_config *cfg = &o->cfg;

	cfg->profile = p->name;
	if (!o->threads_set) {
		cfg->nthreads = p->nthreads;
		memcpy(cfg->threads, p->threads, sizeof(p->threads));
	}
	if (!o->cs_set) {
		cfg->ncs = p->ncs;
		memcpy(cfg->cs_ns, p->cs, sizeof(p->cs));
	}
	cfg->pairs = o->pairs ? o->pairs : p->pairs;
	cfg->trial_ms = o->trial_ms ? o->trial_ms : p->trial_ms;
	cfg->warmup_ms = o->warmup_set ? o->warmup_ms : p->warmup_ms;
	cfg->fair_ms = o->fair_ms ? o->fair_ms : p->fair_ms;
	cfg->outside_ns = o->outside ? o->outside : 200;
	cfg->fair_threads = o->fair_threads ? o->fair_threads : 2 * bench_ncpus();
	/* skew_load is stored plus one so that 0 can mean "not given" */
	cfg->skew_load = o->skew_load ? o->skew_load - 1 : bench_ncpus();
	if (!cfg->nlocks)
		for (size_t i = 0; i < bench_nlocks; i++)
			cfg->locks[cfg->nlocks++] = bench_locks[i];
}

static bool mode_is(const char *mode, const char *a, const char *b)
{
	return !strcmp(mode, a) || (b && !strcmp(mode, b));
}

static void list_locks(void)
{
	for (size_t i = 0; i < bench_nlocks; i++)
		printf("%-18s %s\n", bench_locks[i]->name, bench_locks[i]->about);
}

static int run_modes(struct options *o, FILE *out)
{
	static struct bench_results res;
	struct bench_config *cfg = &o->cfg;
	const char *m = o->mode;
	int failed = 0;

	bench_print_machine(out, "kmutex-bench", cfg->profile);
	settle_swift(cfg, o->no_swift, out);
	bench_calibrate();
	if (mode_is(m, "all", "uncontended")) {
		cfg->trials = o->trials ? o->trials : o->profile->unc_trials;
		failed |= bench_uncontended(cfg, out, &res);
	}
	if (mode_is(m, "all", "throughput")) {
		cfg->trials = o->trials ? o->trials : o->profile->tp_trials;
		failed |= bench_throughput(cfg, out, &res);
	}
	cfg->trials = o->trials ? o->trials : o->profile->fair_trials;
	if (mode_is(m, "all", "fairness") || !strcmp(m, "locktorture"))
		failed |= bench_locktorture(cfg, out, &res);
	if (mode_is(m, "all", "fairness") || !strcmp(m, "lockskew")) {
		cfg->trials = o->trials ? o->trials : o->profile->skew_trials;
		failed |= bench_lockskew(cfg, out, &res);
		cfg->trials = o->trials ? o->trials : o->profile->fair_trials;
	}
	if (mode_is(m, "all", "fairness") || !strcmp(m, "waittime"))
		failed |= bench_waittime(cfg, out, &res);
	if (mode_is(m, "all", "condvar")) { /* condvar.c: issue 9's kcond vs glibc's condvar */
		cfg->trials = o->trials ? o->trials : o->profile->tp_trials;
		failed |= bench_condvar(cfg, out, &res);
	}
	bench_report_targets(cfg, &res, out);
	return failed;
}

int main(int argc, char **argv)
{
	struct options o = { .mode = "all", .profile = &profiles[0] };
	static const char *const modes[] = { "all", "uncontended", "throughput", "fairness",
					     "locktorture", "lockskew", "waittime", "condvar" };
	char *text = NULL;
	size_t len = 0;
	FILE *out, *report;
	int first = 1, failed;
	bool known = false;

	if (argc > 1 && argv[1][0] != '-') {
		o.mode = argv[1];
		first = 2;
	}
	if (!strcmp(o.mode, "test_mutex"))
		return bench_test_mutex(argc - 2, argv + 2);
	if (!strcmp(o.mode, "list")) {
		list_locks();
		return 0;
	}
	if (!strcmp(o.mode, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		known |= !strcmp(o.mode, modes[i]);
	if (!known)
		bench_die("unknown mode '%s' (kmutex-bench help)", o.mode);
	o.cfg.out_dir = "build/bench";
	parse_options(argc - first, argv + first, &o);
	apply_profile(&o);

	/* The tables are collected and printed at the end, after the progress line is gone. */
	out = open_memstream(&text, &len);
	if (!out)
		bench_die("open_memstream: %s", strerror(errno));
	failed = run_modes(&o, out);
	fclose(out);
	fputs(text, stdout);
	report = bench_open_out(&o.cfg, "report.txt");
	fputs(text, report);
	fclose(report);
	printf("\nresults: %s/ (report.txt, *.csv, plot data)\n", o.cfg.out_dir);
	free(text);
	return failed ? 1 : 0;
}
