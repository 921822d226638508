/*
 * A locktorture-style stress of one kmutex (the shape of the kernel's
 * kernel/locking/locktorture.c, written for kmutex; no code taken from it).
 *
 * Writer threads of three kinds hammer one lock: plain kmutex_lock(), interruptible (a signal
 * storm thread keeps sending them SIGUSR1, whose handler calls kmutex_interrupt_self()), and
 * timed with short deadlines.  Inside the critical section each writer checks and sets a plain
 * `held` flag: finding it set means two owners at once.  Holds are short, and one in
 * LONG_HOLD_EVERY lasts about a millisecond, so that waiters pile up and sleep.  A watchdog
 * fails the run, naming the thread, when a writer's lock call has not returned for several
 * seconds.  At the end it prints, as locktorture does,
 *     Writes:  Total: N  Max/Min: a/b ???  Fail: f
 * where "???" marks starvation (the busiest writer got more than twice the acquisitions of the
 * idlest).  It is reported, not failed on: the kinds differ by design (a timed writer gives up)
 * and the machine is shared.  The run fails (exit 1) on Fail > 0, on a stuck writer (exit 2),
 * on an error return that left the lock handed to the caller (exit 1 at once), and a misuse
 * abort from the library (a call that returned 0 without the lock would unlock a lock it does
 * not own) ends it too.
 *
 * Usage: stress [-d seconds] [-t writers] [-o nohandoff,nospin] [-s signal_period_us]
 *               [-w watchdog_seconds] [-l long_hold_one_in]
 */
#include "kmutex.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

enum kind { PLAIN, INTERRUPTIBLE, TIMED, NR_KINDS };
static const char *const kind_name[NR_KINDS] = { "plain", "interruptible", "timed" };

/* Kinds of failure, counted separately so the report says what went wrong. */
enum failure {
	F_TWO_HOLDERS,      /* `held` already set on acquisition */
	F_NOT_LOCKED,       /* kmutex_is_locked() false inside the critical section */
	F_OWNER_NOT_SELF,   /* the owner word names another thread inside our section */
	F_ERROR_BUT_OWNED,  /* -EINTR / -ETIMEDOUT returned, yet the lock names us */
	F_BAD_RETURN,       /* a return code outside the documented ones */
	F_LOST_UPDATE,      /* the protected counter disagrees with the acquisitions */
	NR_FAILURES
};
static const char *const failure_name[NR_FAILURES] = {
	"two holders at once", "not locked inside the critical section",
	"owner word names another thread inside the section",
	"error return while the lock is ours", "unexpected return code",
	"protected counter lost updates",
};

struct writer {
	int id;
	enum kind kind;
	pthread_t thread;
	pid_t tid;             /* atomic: read by the watchdog */
	unsigned seed;
	uintptr_t self;        /* our descriptor, learned from the owner word at the first hold */
	long acquisitions;
	long interrupted, timed_out;
	unsigned long calls;   /* atomic: lock calls that returned, the watchdog's progress mark */
} __attribute__((aligned(64)));

static struct kmutex lock;
static int held;              /* plain: the lock is what protects it */
static long protected_count;  /* plain: incremented under the lock */
static long failures[NR_FAILURES]; /* atomic */
static int stop_writers, stop_watchdog; /* atomic */

static int nr_writers = 6;
static struct torture_opts opts = {
	.duration_s = 5, .watchdog_s = 10, .signal_period_us = 200, .long_hold_every = 1000,
};
static unsigned lock_options;
static struct writer *writers;

static void fail(enum failure f)
{
	__atomic_fetch_add(&failures[f], 1, __ATOMIC_RELAXED);
}

/*
 * The owner word's task part: a peek at the private field (low four bits are flags, see
 * CShims/owner.h), the only way to see *whom* the lock names.  RELAXED: a snapshot.
 */
static uintptr_t owner_task(void)
{
	return __atomic_load_n(&lock.owner, __ATOMIC_RELAXED) & ~(uintptr_t)15;
}

/* One lock call of this writer's kind: 0 (we own the lock) or the error it returned. */
static int acquire(struct writer *w)
{
	struct timespec deadline;
	int r;

	switch (w->kind) {
	case PLAIN:
		kmutex_lock(&lock);
		return 0;
	case INTERRUPTIBLE:
		r = kmutex_lock_interruptible(&lock);
		if (r != 0 && r != -EINTR)
			fail(F_BAD_RETURN);
		return r;
	default:
		deadline = torture_short_deadline(&w->seed);
		r = kmutex_lock_timeout(&lock, &deadline);
		if (r != 0 && r != -ETIMEDOUT)
			fail(F_BAD_RETURN);
		return r;
	}
}

static void critical_section(struct writer *w)
{
	if (held)
		fail(F_TWO_HOLDERS);
	held = 1;
	if (!kmutex_is_locked(&lock))
		fail(F_NOT_LOCKED);
	if (!w->self)
		w->self = owner_task();
	else if (owner_task() != w->self)
		fail(F_OWNER_NOT_SELF);
	protected_count++;
	torture_hold(&w->seed, opts.long_hold_every);
	held = 0;
}

/*
 * The seed thread's bug: the lock was handed to a waiter that then left with an error.  Nobody
 * will ever unlock it, so stop here with the evidence rather than wait for the watchdog.
 */
static void error_but_owned(struct writer *w, int r)
{
	fail(F_ERROR_BUT_OWNED);
	fprintf(stderr, "stress: FAIL: writer %d (%s) returned %s, but the lock names it "
		"(owner word 0x%lx): handed to a waiter that left\n", w->id, kind_name[w->kind],
		r == -EINTR ? "-EINTR" : "-ETIMEDOUT",
		(unsigned long)__atomic_load_n(&lock.owner, __ATOMIC_RELAXED));
	_exit(1);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
	while (!__atomic_load_n(&stop_writers, __ATOMIC_RELAXED)) {
		int r = acquire(w);

		if (r == 0) {
			critical_section(w);
			kmutex_unlock(&lock);
			w->acquisitions++;
		} else {
			/* After an error we are off the wait list: nobody may hand us the lock. */
			if (w->self && owner_task() == w->self)
				error_but_owned(w, r);
			if (r == -EINTR)
				w->interrupted++;
			else
				w->timed_out++;
		}
		/* RELAXED: a progress counter for the watchdog; it orders nothing. */
		__atomic_store_n(&w->calls, w->calls + 1, __ATOMIC_RELAXED);
		torture_maybe_pause(&w->seed);
	}
	return NULL;
}

/* ---- the signal storm (torture.h) -------------------------------------------------------- */

/* How often the storm thread saw each flag in the owner word: shows which paths ran. */
static long samples, seen_waiters, seen_handoff, seen_pickup, seen_awake;

static void sample_owner_word(void)
{
	/* RELAXED: a statistical snapshot; bits as in CShims/owner.h. */
	uintptr_t word = __atomic_load_n(&lock.owner, __ATOMIC_RELAXED);

	samples++;
	seen_waiters += (word & 1) != 0;
	seen_handoff += (word & 2) != 0;
	seen_pickup += (word & 4) != 0;
	seen_awake += (word & 8) != 0;
}

static pthread_t writer_thread(int i)
{
	return writers[i].thread;
}

/* ---- the watchdog ---------------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
	unsigned long *last = calloc((size_t)nr_writers, sizeof(*last));
	long long *since = calloc((size_t)nr_writers, sizeof(*since));
	struct timespec tick = { 0, 100 * 1000000 };

	(void)arg;
	if (!last || !since)
		abort();
	for (int i = 0; i < nr_writers; i++)
		since[i] = mono_ns();
	while (!__atomic_load_n(&stop_watchdog, __ATOMIC_RELAXED)) {
		nanosleep(&tick, NULL);
		for (int i = 0; i < nr_writers; i++) {
			struct writer *w = &writers[i];
			unsigned long calls = __atomic_load_n(&w->calls, __ATOMIC_RELAXED);

			if (calls != last[i]) {
				last[i] = calls;
				since[i] = mono_ns();
			} else if (mono_ns() - since[i] > opts.watchdog_s * 1000000000LL) {
				fprintf(stderr, "stress: FAIL: writer %d (%s, tid %d) stuck in a lock call "
					"for %d s (after %lu calls); owner word 0x%lx\n",
					w->id, kind_name[w->kind],
					(int)__atomic_load_n(&w->tid, __ATOMIC_RELAXED), opts.watchdog_s, calls,
					(unsigned long)__atomic_load_n(&lock.owner, __ATOMIC_RELAXED));
				_exit(2); /* the stuck thread cannot be joined */
			}
		}
	}
	free(last);
	free(since);
	return NULL;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-d seconds] [-t writers] [-o nohandoff,nospin] "
		"[-s signal_period_us (0: no storm)] [-w watchdog_seconds] [-l long_hold_one_in "
		"(0: never)]\n", prog);
	exit(64);
}

static unsigned parse_options(const char *arg, const char *prog)
{
	unsigned flags = 0;
	char *copy = strdup(arg), *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "nohandoff"))
			flags |= KMUTEX_NO_HANDOFF;
		else if (!strcmp(tok, "nospin"))
			flags |= KMUTEX_NO_SPIN;
		else if (strcmp(tok, "none"))
			usage(prog);
	}
	free(copy);
	return flags;
}

static void parse_args(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "d:t:o:s:w:l:")) != -1) {
		if (torture_common_opt(&opts, opt, 'w', optarg))
			continue;
		switch (opt) {
		case 't': nr_writers = atoi(optarg); break;
		case 'o': lock_options = parse_options(optarg, argv[0]); break;
		default: usage(argv[0]);
		}
	}
	if (!torture_opts_valid(&opts) || nr_writers <= 0)
		usage(argv[0]);
}

static long report(void)
{
	long total = 0, max = 0, min = -1, fails;
	long kind_acq[NR_KINDS] = { 0 }, kind_n[NR_KINDS] = { 0 };
	long interrupted = 0, timed_out = 0;

	for (int i = 0; i < nr_writers; i++) {
		struct writer *w = &writers[i];

		total += w->acquisitions;
		max = w->acquisitions > max ? w->acquisitions : max;
		min = min < 0 || w->acquisitions < min ? w->acquisitions : min;
		kind_acq[w->kind] += w->acquisitions;
		kind_n[w->kind]++;
		interrupted += w->interrupted;
		timed_out += w->timed_out;
	}
	if (protected_count != total)
		fail(F_LOST_UPDATE);
	fails = torture_report_failures("stress", failures, failure_name, NR_FAILURES);
	/* locktorture's line; "???" when max/2 > min, its mark of starvation. */
	printf("Writes:  Total: %ld  Max/Min: %ld/%ld %s  Fail: %ld\n", total, max, min,
	       max / 2 > min ? "???" : "", fails);
	printf("  per kind (threads, acquisitions): plain %ld/%ld  interruptible %ld/%ld "
	       "(-EINTR %ld)  timed %ld/%ld (-ETIMEDOUT %ld)\n",
	       kind_n[PLAIN], kind_acq[PLAIN], kind_n[INTERRUPTIBLE], kind_acq[INTERRUPTIBLE],
	       interrupted, kind_n[TIMED], kind_acq[TIMED], timed_out);
	if (samples)
		printf("  owner word flags in %ld samples: WAITERS %ld  HANDOFF %ld  PICKUP %ld  AWAKE %ld\n",
		       samples, seen_waiters, seen_handoff, seen_pickup, seen_awake);
	return fails;
}

int main(int argc, char **argv)
{
	struct torture_storm storm = { .seed = 12345, .target = writer_thread,
				       .sample = sample_owner_word };
	long fails;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("stress: %d writers, %d s, options%s%s%s, signal every %ld us, long hold 1 in %lu, "
	       "watchdog %d s\n", nr_writers, opts.duration_s,
	       lock_options & KMUTEX_NO_HANDOFF ? " nohandoff" : "",
	       lock_options & KMUTEX_NO_SPIN ? " nospin" : "", lock_options ? "" : " none",
	       opts.signal_period_us, opts.long_hold_every, opts.watchdog_s);
	torture_install_signal();
	kmutex_init_flags(&lock, lock_options);
	writers = aligned_alloc(64, sizeof(*writers) * (size_t)nr_writers);
	if (!writers)
		abort();
	for (int i = 0; i < nr_writers; i++) {
		writers[i] = (struct writer){ .id = i, .kind = (enum kind)(i % NR_KINDS),
					      .seed = 0x9e3779b9u * (unsigned)(i + 1) };
		if (pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]))
			abort();
	}
	storm.nr_targets = nr_writers;
	torture_run(&opts, &storm, &stop_writers, watchdog_main, &stop_watchdog);

	fails = report();
	if (kmutex_is_locked(&lock)) {
		fprintf(stderr, "stress: FAIL: the lock is still held after every writer left\n");
		fails++;
	}
	kmutex_destroy(&lock);
	free(writers);
	printf("stress: %s\n", fails ? "FAIL" : "PASS");
	return fails ? 1 : 0;
}
