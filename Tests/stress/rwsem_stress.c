/*
 * A locktorture-style stress of one krwsem (the shape of the kernel's rwsem_lock torture type,
 * written for krwsem; no code taken from it).
 *
 * Reader and writer threads of four kinds hammer one krwsem: plain, interruptible (a signal
 * storm thread keeps sending SIGUSR1 to every worker; the handler calls
 * kmutex_interrupt_self()), timed with short deadlines, and trylock.  Readers sometimes take
 * the lock again while holding it (recursive reads must never block, writers waiting or not);
 * writers sometimes downgrade.  The invariant, checked by both sides:
 *   - a writer inside finds no other writer and no reader inside (two atomic counters);
 *   - a reader inside finds no writer inside, and the two halves of the protected pair equal
 *     (a writer bumps them one at a time, with a delay between);
 *   - after an error return (-EINTR, -ETIMEDOUT) the caller holds nothing.
 * Holds are short, one in LONG_HOLD lasts about a millisecond, so that waiters pile up, sleep
 * and hand off.
 *
 * The hang watchdog fires only on a real hang, never on a slow machine: a worker that has
 * slept in one lock call, unwoken, for watchdog_seconds of the process's own time.  "Slept"
 * is read from the kernel at every 10 ms tick: the thread is in state S and its schedstat
 * (CPU time, and time spent runnable without a CPU) has not moved, so a worker that is woken
 * and tries again, or that is runnable and waits for a CPU, is not hung, however long its
 * call.  "The process's own time" is the watchdog's ticks, each counted for at most 100 ms: a
 * process that is frozen or starved (a stopped VM, real-time tasks taking the CPUs: the
 * kernel leaves other tasks 5% of each second) does not age its sleepers.  A sleeper that
 * long is a lost wakeup or a deadlock (HANDOFF bounds every wait by a few critical sections
 * and wakeups); the run then fails with exit 2 and a dump of the lock (count, owner, wait list
 * with each waiter's wake word) and of every worker's thread (state, syscall).  The signal
 * storm wakes every sleeper every few milliseconds, so a hang shows once the storm has
 * stopped, at the run's end (the hung worker keeps the run from ending).  A worker that spins
 * forever is left to the caller's timeout.
 *
 * At the end, as locktorture does:
 *     Reads:  Total: N  Max/Min: a/b ???  Fail: f
 *     Writes: Total: N  Max/Min: a/b ???  Fail: f
 * ("???" marks max/2 > min: reported, not failed on, since kinds differ by design), and the
 * worst wait seen by each side (a figure, never a pass mark), with what the machine did
 * meanwhile: how long that thread, and all workers together, were runnable without a CPU
 * (schedstat's run delay), and how late the watchdog's ticks came (a frozen process).  A
 * long wait with a CPU-starved or frozen process around it is the machine's, not the lock's.
 * Exit 1 on any failure, 2 on a hung worker.
 *
 * Usage: rwsem_stress [-d seconds] [-r readers] [-w writers] [-o nospin] [-s signal_period_us]
 *                     [-W watchdog_seconds] [-l long_hold_one_in]
 */
#include "kmutex.h"
#include "task.h"      /* a waiter's wake word, for the hang dump */
#include "wait_list.h" /* the wait list's nodes, for the hang dump */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

enum kind { PLAIN, INTERRUPTIBLE, TIMED, TRY, NR_KINDS };
static const char *const kind_name[NR_KINDS] = { "plain", "interruptible", "timed", "try" };

enum failure {
	F_TWO_WRITERS,     /* a writer found another writer inside */
	F_WRITER_READERS,  /* a writer found readers inside */
	F_READER_WRITER,   /* a reader found a writer inside */
	F_TORN_PAIR,       /* a reader saw the protected pair mid-update */
	F_ERROR_BUT_HELD,  /* an error return, yet the caller holds the lock */
	F_BAD_RETURN,      /* a return code outside the documented ones */
	F_LOST_UPDATE,     /* the pair disagrees with the write acquisitions */
	NR_FAILURES
};
static const char *const failure_name[NR_FAILURES] = {
	"two writers inside", "a writer found readers inside", "a reader found a writer inside",
	"a reader saw a torn update", "error return while holding the lock",
	"unexpected return code", "protected counter lost updates",
};

struct worker {
	int id;
	int writer;
	enum kind kind;
	pthread_t thread;
	pid_t tid;              /* atomic: read by the watchdog */
	unsigned seed;
	long acquisitions, interrupted, timed_out, busy;
	long long max_wait_ns;  /* longest call that returned with the lock (a figure) */
	long long max_wait_start, max_wait_end; /* when it was: CLOCK_MONOTONIC ns */
	unsigned long calls;    /* atomic: calls made so far; the number of the current one */
	long long call_start;   /* atomic: CLOCK_MONOTONIC ns the current lock call began, or 0 */
	struct kmutex_task *task; /* atomic: its descriptor (whose wake word it sleeps on) */
	/* The watchdog's own. */
	int stat_fd, syscall_fd, schedstat_fd;
	bool schedstat_ok;           /* exec and run_delay below were read at this tick */
	unsigned long long exec, run_delay;
	unsigned long watched_call;  /* the call being watched, + 1; 0 none */
	unsigned long long still_exec, still_run_delay; /* schedstat when last seen moving */
	long long still_since;       /* process time (watchdog ticks) since it was last seen awake */
} __attribute__((aligned(64)));

static struct krwsem sem;
static long pair_a, pair_b;              /* plain: protected by the write lock */
static int writers_inside, readers_inside; /* atomic */
static long failures[NR_FAILURES];       /* atomic */
static int stop_workers, stop_watchdog; /* atomic */
static long long last_acquired_ns;       /* atomic: the latest acquisition, any worker */
static long long process_ns;             /* the watchdog's: ticks seen, each 100 ms at most */
/*
 * The watchdog's record of its ticks, read at the end (after joining it) to say what the
 * machine did during each side's worst wait: when each tick came, how late (a frozen or
 * starved process), and every worker's schedstat run delay then (time runnable without a
 * CPU).  Ticks beyond the record are not kept.
 */
static long long *tick_ns, *tick_late_ns;
static unsigned long long *tick_run_delay; /* [tick * nr_workers + worker] */
static int nr_ticks, max_ticks;
/* The longest stretch without an acquisition the watchdog saw, and the count word then: a
 * figure that tells a preempted holder (lock bits set) from a lost wakeup (free, WAITERS). */
static long long longest_stall_ns;
static unsigned long long stall_count;

static int nr_readers = 4, nr_writers = 4;
static struct torture_opts opts = {
	.duration_s = 4, .watchdog_s = 10, .signal_period_us = 200, .long_hold_every = 500,
};
static unsigned sem_flags;
static struct worker *workers;
static int nr_workers;

static void fail(enum failure f)
{
	__atomic_fetch_add(&failures[f], 1, __ATOMIC_RELAXED);
}

/* One lock call of the worker's kind: 0 (held), or the error (-EBUSY for a failed try). */
static int acquire(struct worker *w)
{
	struct timespec deadline;
	int r, ok;

	switch (w->kind) {
	case PLAIN:
		if (w->writer)
			krwsem_down_write(&sem);
		else
			krwsem_down_read(&sem);
		return 0;
	case INTERRUPTIBLE:
		r = w->writer ? krwsem_down_write_interruptible(&sem)
			      : krwsem_down_read_interruptible(&sem);
		if (r != 0 && r != -EINTR)
			fail(F_BAD_RETURN);
		return r;
	case TIMED:
		deadline = torture_short_deadline(&w->seed);
		r = w->writer ? krwsem_down_write_timeout(&sem, &deadline)
			      : krwsem_down_read_timeout(&sem, &deadline);
		if (r != 0 && r != -ETIMEDOUT)
			fail(F_BAD_RETURN);
		return r;
	default:
		ok = w->writer ? krwsem_down_write_trylock(&sem) : krwsem_down_read_trylock(&sem);
		if (ok != 0 && ok != 1)
			fail(F_BAD_RETURN);
		return ok ? 0 : -EBUSY;
	}
}

/* Inside a read lock (ours, or a downgraded write lock). */
static void read_section(struct worker *w)
{
	__atomic_fetch_add(&readers_inside, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&writers_inside, __ATOMIC_RELAXED))
		fail(F_READER_WRITER);
	if (pair_a != pair_b)
		fail(F_TORN_PAIR);
	/* Now and then a recursive read: it must be granted at once, writers waiting or not. */
	if (rand_r(&w->seed) % 8 == 0) {
		if (rand_r(&w->seed) % 2) {
			krwsem_down_read(&sem);
		} else if (!krwsem_down_read_trylock(&sem)) {
			fprintf(stderr, "rwsem_stress: FAIL: recursive read trylock refused (worker %d)\n",
				w->id);
			_exit(1);
		}
		if (pair_a != pair_b)
			fail(F_TORN_PAIR);
		krwsem_up_read(&sem);
	}
	torture_hold(&w->seed, opts.long_hold_every);
	if (__atomic_load_n(&writers_inside, __ATOMIC_RELAXED))
		fail(F_READER_WRITER);
	__atomic_fetch_sub(&readers_inside, 1, __ATOMIC_RELAXED);
}

static void write_section(struct worker *w)
{
	if (__atomic_exchange_n(&writers_inside, 1, __ATOMIC_RELAXED))
		fail(F_TWO_WRITERS);
	if (__atomic_load_n(&readers_inside, __ATOMIC_RELAXED))
		fail(F_WRITER_READERS);
	pair_a++;
	torture_hold(&w->seed, opts.long_hold_every);
	pair_b++;
	if (__atomic_load_n(&readers_inside, __ATOMIC_RELAXED))
		fail(F_WRITER_READERS);
	__atomic_store_n(&writers_inside, 0, __ATOMIC_RELAXED);
}

/* schedstat: CPU time and time runnable without a CPU (run delay), in ns; false if unreadable. */
static bool read_schedstat(int fd, unsigned long long *exec, unsigned long long *run_delay)
{
	char buf[128];
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return false;
	buf[n] = 0;
	return sscanf(buf, "%llu %llu", exec, run_delay) == 2;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
	while (!__atomic_load_n(&stop_workers, __ATOMIC_RELAXED)) {
		long long start = mono_ns();
		int r;

		/* RELAXED: the watchdog's view of the call; a late or early look costs nothing. */
		__atomic_store_n(&w->call_start, start, __ATOMIC_RELAXED);
		r = acquire(w);
		__atomic_store_n(&w->call_start, 0, __ATOMIC_RELAXED);
		if (!w->task)
			__atomic_store_n(&w->task, kmutex__current, __ATOMIC_RELAXED);
		if (r == 0) {
			long long waited = mono_ns() - start;

			if (waited > w->max_wait_ns) {
				w->max_wait_ns = waited;
				w->max_wait_start = start;
				w->max_wait_end = start + waited;
			}
			w->acquisitions++;
			__atomic_store_n(&last_acquired_ns, mono_ns(), __ATOMIC_RELAXED);
			if (w->writer) {
				write_section(w);
				if (rand_r(&w->seed) % 8 == 0) {
					krwsem_downgrade_write(&sem);
					read_section(w);
					krwsem_up_read(&sem);
				} else {
					krwsem_up_write(&sem);
				}
			} else {
				read_section(w);
				krwsem_up_read(&sem);
			}
		} else {
			/* After an error we hold nothing: no write lock, no read lock recorded. */
			if (krwsem_write_held_by_self(&sem) || krwsem_read_held_by_self(&sem)) {
				fail(F_ERROR_BUT_HELD);
				fprintf(stderr, "rwsem_stress: FAIL: worker %d (%s %s) returned %d but "
					"holds the lock\n", w->id, w->writer ? "writer" : "reader",
					kind_name[w->kind], r);
				_exit(1);
			}
			if (r == -EINTR)
				w->interrupted++;
			else if (r == -ETIMEDOUT)
				w->timed_out++;
			else
				w->busy++;
		}
		/* RELAXED: a progress counter for the watchdog; it orders nothing. */
		__atomic_store_n(&w->calls, w->calls + 1, __ATOMIC_RELAXED);
		torture_maybe_pause(&w->seed);
	}
	return NULL;
}

/* ---- the signal storm (torture.h), the watchdog ------------------------------------------ */

static pthread_t worker_thread(int i)
{
	return workers[i].thread;
}

/* A /proc file of a worker's thread, opened once (the thread lives until the end). */
static int open_thread_file(const struct worker *w, const char *file)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s",
		 (int)__atomic_load_n(&w->tid, __ATOMIC_RELAXED), file);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The thread's state letter (R running or runnable, S asleep, ...), '?' if unreadable. */
static char thread_state(const struct worker *w)
{
	char buf[512], *paren;
	ssize_t n = w->stat_fd < 0 ? -1 : pread(w->stat_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return '?';
	buf[n] = 0;
	paren = strrchr(buf, ')'); /* "tid (comm) S ...": comm may hold anything */
	return paren && paren[1] == ' ' && paren[2] ? paren[2] : '?';
}

/*
 * Copy memory that other threads may be changing or unmapping: through the kernel, so that a
 * stale pointer in a wait list being rewritten gives an error, not a crash (and TSan sees no
 * racy read; the dump is a snapshot, not a synchronized view).
 */
static bool peek(void *dst, const void *src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)src, len };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len;
}

static int worker_of_task(const struct kmutex_task *task)
{
	for (int i = 0; i < nr_workers; i++)
		if (task && __atomic_load_n(&workers[i].task, __ATOMIC_RELAXED) == task)
			return i;
	return -1;
}

/* The lock as it is now, and each worker's thread: what a hang report needs. */
static void dump_state(void)
{
	struct krwsem copy;
	struct kmutex_waiter node;
	const struct kmutex_waiter *at;
	uint32_t wake;
	long long now = mono_ns();

	if (!peek(&copy, &sem, sizeof(copy)))
		return;
	fprintf(stderr, "rwsem_stress: count 0x%llx (%llu readers%s%s%s%s), owner %#lx, wait_lock %u, "
		"osq_tail %u\nrwsem_stress: wait list (head first):",
		(unsigned long long)copy.count, (unsigned long long)(copy.count >> 8),
		copy.count & 1 ? ", WRITER_LOCKED" : "", copy.count & 2 ? ", WAITERS" : "",
		copy.count & 4 ? ", HANDOFF" : "", copy.count & 8 ? ", WOKEN" : "",
		(unsigned long)copy.owner, copy.wait_lock, copy.osq_tail);
	at = copy.wait_list;
	for (int n = 0; at && n < 2 * nr_workers; n++) {
		int i;

		if (!peek(&node, at, sizeof(node))) {
			fprintf(stderr, " (unreadable node %p)", (const void *)at);
			break;
		}
		i = worker_of_task(node.task);
		if (i < 0 || !peek(&wake, &node.task->wake, sizeof(wake))) {
			fprintf(stderr, " (node %p of no worker)", (const void *)at);
			break;
		}
		fprintf(stderr, " worker %d (%s, wake word %s)", i, workers[i].writer ? "W" : "R",
			wake == KMX_WAKE_UP ? "UP" : "SLEEP");
		at = node.next == copy.wait_list ? NULL : node.next;
	}
	fputc('\n', stderr);
	for (int i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];
		long long start = __atomic_load_n(&w->call_start, __ATOMIC_RELAXED);
		struct kmutex_task *task = __atomic_load_n(&w->task, __ATOMIC_RELAXED);
		char sys[96] = "?";
		ssize_t n = w->syscall_fd < 0 ? -1 : pread(w->syscall_fd, sys, sizeof(sys) - 1, 0);
		unsigned long long futex_addr = 0;
		long nr = -1;

		if (n > 0)
			sys[n - (sys[n - 1] == '\n')] = 0;
		/* "202 0xADDR 0x80 ...": futex(ADDR, FUTEX_WAIT_PRIVATE), ADDR its wake word or not */
		sscanf(sys, "%ld %llx", &nr, &futex_addr);
		fprintf(stderr, "rwsem_stress:   worker %d (%s %s, tid %d): ", i,
			w->writer ? "writer" : "reader", kind_name[w->kind],
			(int)__atomic_load_n(&w->tid, __ATOMIC_RELAXED));
		if (start)
			fprintf(stderr, "in a lock call for %.1f ms", (now - start) / 1e6);
		else
			fprintf(stderr, "not in a lock call");
		fprintf(stderr, ", state %c, syscall %s%s\n", thread_state(w), sys,
			task && nr == SYS_futex && futex_addr == (uintptr_t)&task->wake
				? " (a futex wait on its wake word)" : "");
	}
}

/*
 * Watch one worker for a tick (its schedstat just read).  true: it has slept in its current
 * lock call, unwoken, for opts.watchdog_s of process time.
 */
static bool hung(struct worker *w)
{
	unsigned long call = __atomic_load_n(&w->calls, __ATOMIC_RELAXED) + 1;
	unsigned long long exec = w->exec, run_delay = w->run_delay;
	bool readable = w->schedstat_ok;
	char state;

	if (!__atomic_load_n(&w->call_start, __ATOMIC_RELAXED)) {
		w->watched_call = 0;
		return false;
	}
	state = thread_state(w);
	if (w->watched_call != call) {
		w->watched_call = call;
		w->still_since = -1;
	}
	/*
	 * Asleep and unmoved since the last look, or the watch starts over.  (A runnable thread
	 * that gets no CPU shows an unmoved schedstat too, since run delay is added when it runs:
	 * hence the state.  Without /proc, neither tells anything, and only process time counts.)
	 */
	if (w->still_since < 0 || (readable && (state != 'S' || exec != w->still_exec ||
						run_delay != w->still_run_delay))) {
		w->still_exec = exec;
		w->still_run_delay = run_delay;
		w->still_since = process_ns;
		return false;
	}
	return process_ns - w->still_since >= opts.watchdog_s * 1000000000LL;
}

static void *watchdog_main(void *arg)
{
	struct timespec tick = { 0, 10 * 1000000 };
	long long last_tick = mono_ns();

	(void)arg;
	for (int i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];

		while (!__atomic_load_n(&w->tid, __ATOMIC_RELAXED))
			nanosleep(&tick, NULL);
		w->stat_fd = open_thread_file(w, "stat");
		w->syscall_fd = open_thread_file(w, "syscall");
		w->schedstat_fd = open_thread_file(w, "schedstat");
	}
	while (!__atomic_load_n(&stop_watchdog, __ATOMIC_RELAXED)) {
		long long now, gap, stall;

		nanosleep(&tick, NULL);
		now = mono_ns();
		gap = now - last_tick;
		last_tick = now;
		/* Process time: a tick that came late (the process frozen or starved) counts 100 ms. */
		process_ns += gap < 100000000LL ? gap : 100000000LL;
		for (int i = 0; i < nr_workers; i++)
			workers[i].schedstat_ok = read_schedstat(workers[i].schedstat_fd, &workers[i].exec,
								 &workers[i].run_delay);
		if (nr_ticks < max_ticks) {
			tick_ns[nr_ticks] = now;
			/* Late: beyond twice the tick (a sleep of 10 ms often takes 10-20 here). */
			tick_late_ns[nr_ticks] = gap > 2 * tick.tv_nsec ? gap - tick.tv_nsec : 0;
			for (int i = 0; i < nr_workers; i++)
				tick_run_delay[nr_ticks * nr_workers + i] = workers[i].run_delay;
			nr_ticks++;
		}
		stall = now - __atomic_load_n(&last_acquired_ns, __ATOMIC_RELAXED);
		if (__atomic_load_n(&last_acquired_ns, __ATOMIC_RELAXED) && stall > longest_stall_ns) {
			longest_stall_ns = stall;
			stall_count = __atomic_load_n(&sem.count, __ATOMIC_RELAXED);
		}
		for (int i = 0; i < nr_workers; i++) {
			struct worker *w = &workers[i];

			if (!hung(w))
				continue;
			fprintf(stderr, "rwsem_stress: FAIL: worker %d (%s %s, tid %d) has slept in one lock "
				"call, unwoken, for %d s of process time (its call began %.1f s ago): a lost "
				"wakeup or a deadlock\n", w->id, w->writer ? "writer" : "reader",
				kind_name[w->kind], (int)__atomic_load_n(&w->tid, __ATOMIC_RELAXED), opts.watchdog_s,
				(mono_ns() - __atomic_load_n(&w->call_start, __ATOMIC_RELAXED)) / 1e9);
			dump_state();
			_exit(2);
		}
	}
	return NULL;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-d seconds] [-r readers] [-w writers] [-o nospin] "
		"[-s signal_period_us (0: no storm)] [-W watchdog_seconds] "
		"[-l long_hold_one_in (0: never)]\n", prog);
	exit(64);
}

static void parse_args(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "d:r:w:o:s:W:l:")) != -1) {
		if (torture_common_opt(&opts, opt, 'W', optarg))
			continue;
		switch (opt) {
		case 'r': nr_readers = atoi(optarg); break;
		case 'w': nr_writers = atoi(optarg); break;
		case 'o':
			if (!strcmp(optarg, "nospin"))
				sem_flags = KRWSEM_NO_SPIN;
			else if (strcmp(optarg, "none"))
				usage(argv[0]);
			break;
		default: usage(argv[0]);
		}
	}
	if (!torture_opts_valid(&opts) || nr_readers < 0 || nr_writers < 0 ||
	    nr_readers + nr_writers == 0)
		usage(argv[0]);
}

/*
 * What the machine did during [start, end], from the watchdog's ticks around it: how long
 * worker w, and all workers together, were runnable without a CPU (the kernel adds a wait
 * for a CPU when it ends, so the ticks enclosing the interval are used), and how late the
 * watchdog's ticks came (the process frozen, or starved: stopped threads are not runnable).
 * false if the ticks do not cover it.
 */
static bool machine_during(int w, long long start, long long end, long long *own_rd,
			   long long *all_rd, long long *late)
{
	int a = -1, b = -1;

	for (int k = 0; k < nr_ticks; k++) {
		if (tick_ns[k] <= start)
			a = k;
		if (tick_ns[k] >= end && b < 0)
			b = k;
	}
	if (a < 0 || b < 0)
		return false;
	*own_rd = (long long)(tick_run_delay[b * nr_workers + w] - tick_run_delay[a * nr_workers + w]);
	*all_rd = *late = 0;
	for (int i = 0; i < nr_workers; i++)
		*all_rd += (long long)(tick_run_delay[b * nr_workers + i] -
				       tick_run_delay[a * nr_workers + i]);
	for (int k = a + 1; k <= b; k++)
		*late += tick_late_ns[k];
	return true;
}

/* One side's locktorture line; returns its total acquisitions. */
static long report_side(int writer)
{
	long total = 0, max = 0, min = -1, intr = 0, tmo = 0, busy = 0;
	long long own_rd, all_rd, late;
	struct worker none = { 0 }, *worst = &none;

	for (int i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];

		if (w->writer != writer)
			continue;
		total += w->acquisitions;
		max = w->acquisitions > max ? w->acquisitions : max;
		min = min < 0 || w->acquisitions < min ? w->acquisitions : min;
		intr += w->interrupted;
		tmo += w->timed_out;
		busy += w->busy;
		worst = w->max_wait_ns > worst->max_wait_ns ? w : worst;
	}
	if (min < 0)
		return 0;
	printf("%s Total: %ld  Max/Min: %ld/%ld %s  (-EINTR %ld, -ETIMEDOUT %ld, try refused %ld; "
	       "worst wait %.3f ms)\n", writer ? "Writes:" : "Reads: ", total, max, min,
	       max / 2 > min ? "???" : "", intr, tmo, busy, worst->max_wait_ns / 1e6);
	if (worst != &none && machine_during(worst->id, worst->max_wait_start, worst->max_wait_end,
					     &own_rd, &all_rd, &late))
		printf("        during it: that thread %.1f ms runnable without a CPU, all workers %.1f "
		       "ms, the watchdog %.1f ms late (+/- a tick)\n", own_rd / 1e6, all_rd / 1e6,
		       late / 1e6);
	return total;
}

int main(int argc, char **argv)
{
	struct torture_storm storm = { .seed = 4242, .target = worker_thread };
	long fails, writes;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	nr_workers = nr_readers + nr_writers;
	printf("rwsem_stress: %d readers, %d writers, %d s, %s, signal every %ld us, long hold 1 "
	       "in %lu, watchdog %d s\n", nr_readers, nr_writers, opts.duration_s,
	       sem_flags ? "nospin" : "spin", opts.signal_period_us, opts.long_hold_every,
	       opts.watchdog_s);
	torture_install_signal();
	krwsem_init_flags(&sem, sem_flags);
	workers = aligned_alloc(64, sizeof(*workers) * (size_t)nr_workers);
	max_ticks = (opts.duration_s + 60) * 100; /* the run, and a minute of joining and hang watch */
	tick_ns = calloc((size_t)max_ticks, sizeof(*tick_ns));
	tick_late_ns = calloc((size_t)max_ticks, sizeof(*tick_late_ns));
	tick_run_delay = calloc((size_t)max_ticks * (size_t)nr_workers, sizeof(*tick_run_delay));
	if (!workers || !tick_ns || !tick_late_ns || !tick_run_delay)
		abort();
	for (int i = 0; i < nr_workers; i++) {
		workers[i] = (struct worker){ .id = i, .writer = i >= nr_readers,
					      .kind = (enum kind)((i >= nr_readers ? i - nr_readers : i) % NR_KINDS),
					      .seed = 0x9e3779b9u * (unsigned)(i + 1) };
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			abort();
	}
	storm.nr_targets = nr_workers;
	torture_run(&opts, &storm, &stop_workers, watchdog_main, &stop_watchdog);

	report_side(0);
	writes = report_side(1);
	printf("longest stretch without an acquisition (10 ms samples): %.1f ms, count then 0x%llx\n",
	       longest_stall_ns / 1e6, stall_count);
	if (pair_a != pair_b || pair_a != writes)
		fail(F_LOST_UPDATE);
	fails = torture_report_failures("rwsem_stress", failures, failure_name, NR_FAILURES);
	if (__atomic_load_n(&sem.count, __ATOMIC_RELAXED) != 0) {
		fprintf(stderr, "rwsem_stress: FAIL: count 0x%llx after every worker left\n",
			(unsigned long long)__atomic_load_n(&sem.count, __ATOMIC_RELAXED));
		fails++;
	}
	krwsem_destroy(&sem);
	free(workers);
	free(tick_ns);
	free(tick_late_ns);
	free(tick_run_delay);
	printf("rwsem_stress: %s (Fail: %ld)\n", fails ? "FAIL" : "PASS", fails);
	return fails ? 1 : 0;
}
