/*
 * test_mutex mode: liburcu's tests/benchmark/test_mutex interface, so that figures line up
 * with liburcu's own benchmark:
 *   kmutex-bench test_mutex [--lock NAME] nr_readers nr_writers duration [-c rdur] [-e wdur]
 *                           [-d wdelay] [-a cpu]... [-v]
 * Readers and writers both take the one lock; a writer rewrites a shared value that readers
 * check, so a lock that lets two threads in shows as a failure.  Durations are in loops of a
 * CPU-relax instruction, as in liburcu; the test duration is in seconds.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h" /* kmx_cpu_relax(): the same pause the kmutex spin uses */
#include "bench.h"

struct tm_shared {
	const struct bench_lock *l;
	void *obj;
	unsigned long rdur, wdur, wdelay;
	int go, stop;                 /* atomics */
	int value;                    /* written under the lock; relaxed atomics, see tm_reader */
	int cpus[64], ncpus;
};

struct tm_thread {
	struct tm_shared *sh;
	int index;
	bool writer;
	unsigned long long ops, fails;
} __attribute__((aligned(BENCH_CACHELINE)));

static void relax_loops(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		kmx_cpu_relax();
}

static void pin(const struct tm_shared *sh, int index)
{
	cpu_set_t set;

	if (!sh->ncpus)
		return;
	CPU_ZERO(&set);
	CPU_SET(sh->cpus[index % sh->ncpus], &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		bench_die("test_mutex: cannot pin a thread to CPU %d", sh->cpus[index % sh->ncpus]);
}

static void wait_for_go(struct tm_shared *sh)
{
	/* ACQUIRE pairs with main's RELEASE store of go: the setup is visible. */
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void *tm_worker(void *arg)
{
	struct tm_thread *me = arg;
	struct tm_shared *sh = me->sh;

	pin(sh, me->index);
	wait_for_go(sh);
	/* RELAXED on stop: it orders nothing; the join publishes the counts. */
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		sh->l->lock(sh->obj);
		if (me->writer) {
			/* RELAXED: ordered by the lock; atomics so a broken lock is a failure
			 * count and not undefined behaviour. */
			__atomic_store_n(&sh->value, 0, __ATOMIC_RELAXED);
			relax_loops(sh->wdur);
			__atomic_store_n(&sh->value, 8, __ATOMIC_RELAXED);
		} else {
			me->fails += __atomic_load_n(&sh->value, __ATOMIC_RELAXED) != 8;
			relax_loops(sh->rdur);
		}
		sh->l->unlock(sh->obj);
		me->ops++;
		if (me->writer)
			relax_loops(sh->wdelay);
	}
	return NULL;
}

static unsigned long parse_count(const char *what, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s ? s : "", &end, 10);
	if (!s || !*s || *end || errno || s[0] == '-')
		bench_die("test_mutex: %s wants a non-negative integer, got '%s'", what, s ? s : "");
	return v;
}

static void usage_die(void)
{
	bench_die("usage: kmutex-bench test_mutex [--lock NAME] nr_readers nr_writers duration "
		  "[-c rdur] [-e wdur] [-d wdelay] [-a cpu] [-v]");
}

int bench_test_mutex(int argc, char **argv)
{
	struct tm_shared sh = { .l = bench_find_lock("kmutex"), .value = 8 };
	unsigned long pos[3], duration;
	int npos = 0, nthreads;
	bool verbose = false;
	unsigned long long reads = 0, writes = 0, fails = 0;
	struct tm_thread *th;
	pthread_t *tids;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--lock")) {
			if (i + 1 >= argc)
				usage_die();
			sh.l = bench_find_lock(argv[++i]);
			if (!sh.l || sh.l->external || sh.l->uncontended_only)
				bench_die("test_mutex: no in-process lock named '%s' (see kmutex-bench "
					  "list)", argv[i]);
		} else if (!strcmp(a, "-c") || !strcmp(a, "-e") || !strcmp(a, "-d")) {
			unsigned long v = parse_count(a, i + 1 < argc ? argv[i + 1] : NULL);

			i++;
			*(a[1] == 'c' ? &sh.rdur : a[1] == 'e' ? &sh.wdur : &sh.wdelay) = v;
		} else if (!strcmp(a, "-a")) {
			if (sh.ncpus == 64)
				bench_die("test_mutex: at most 64 -a options");
			sh.cpus[sh.ncpus++] = (int)parse_count("-a", i + 1 < argc ? argv[i + 1] : NULL);
			i++;
		} else if (!strcmp(a, "-v")) {
			verbose = true;
		} else if (a[0] == '-' && a[1]) {
			bench_die("test_mutex: unknown option '%s'", a);
		} else {
			if (npos == 3)
				usage_die();
			static const char *const names[] = { "nr_readers", "nr_writers", "duration" };

			pos[npos] = parse_count(names[npos], a);
			npos++;
		}
	}
	if (npos != 3)
		usage_die();
	duration = pos[2];
	nthreads = (int)(pos[0] + pos[1]);
	if (pos[0] > 4096 || pos[1] > 4096)
		bench_die("test_mutex: at most 4096 readers and 4096 writers");
	if (nthreads == 0)
		bench_die("test_mutex: needs at least one reader or writer");
	sh.obj = bench_lock_new(sh.l);
	th = aligned_alloc(BENCH_CACHELINE, sizeof(*th) * (size_t)nthreads);
	tids = bench_xcalloc((size_t)nthreads, sizeof(*tids));
	if (!th)
		bench_die("out of memory");
	for (int i = 0; i < nthreads; i++)
		th[i] = (struct tm_thread){ .sh = &sh, .index = i, .writer = i >= (int)pos[0] };
	bench_start_threads(tids, nthreads, tm_worker, th, sizeof(*th));
	/* RELEASE pairs with wait_for_go's ACQUIRE. */
	__atomic_store_n(&sh.go, 1, __ATOMIC_RELEASE);
	bench_sleep_ns((uint64_t)duration * 1000000000u);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(tids[i], NULL);
		*(th[i].writer ? &writes : &reads) += th[i].ops;
		fails += th[i].fails;
	}
	if (verbose)
		printf("total number of reads : %llu, writes %llu\n", reads, writes);
	printf("SUMMARY %-25s testdur %4lu nr_readers %3lu rdur %6lu wdur %6lu nr_writers %3lu "
	       "wdelay %6lu nr_reads %12llu nr_writes %12llu nr_ops %12llu\n",
	       sh.l->name, duration, pos[0], sh.rdur, sh.wdur, pos[1], sh.wdelay, reads, writes,
	       reads + writes);
	bench_lock_free(sh.l, sh.obj);
	free(tids);
	free(th);
	if (fails) {
		fprintf(stderr, "kmutex-bench: test_mutex: %s let a reader in during a write %llu "
				"times\n", sh.l->name, fails);
		return 1;
	}
	return 0;
}
