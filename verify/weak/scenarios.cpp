/*
 * Client scenarios of the real kmutex core under Relacy (make verify-weak; a bounded run in
 * make test): 2-3 threads use a kmutex (and a kcond) as a program would, and assert what the
 * lock protects.  The protected data are rl::var: an access that the lock's orders do not put in
 * happens-before with the previous one is a DATA RACE, even in an interleaving whose values
 * happen to look right; `holders` catches two threads inside at once; after() checks the
 * totals and that the mutex ends free with no flag, no waiter, no spinner.
 *
 *   weak SCENARIO BOUND [HISTORY_FILE]
 * runs one scenario with Relacy's context-bound scheduler (every interleaving with at most
 * BOUND preemptions, and every value each load may read under C11) and prints one line:
 *   SCENARIO: passed, N iterations, T s
 *   SCENARIO: FAILED: <Relacy's verdict> at iteration N, T s
 * (exit 0 / 1).  On failure the execution history goes to HISTORY_FILE.  KMX_WEAKEN and KMX_SINK
 * select a variant (runtime.cpp); verify/weak/run.sh runs the lot.
 */
#include <chrono>
#include <fstream>
#include <string>

#include "kmutex.h"
#include "krwsem.h"
#include "world.h"

namespace {

const uint64_t US = 1000, MS = 1000000;

/*
 * clock_step: ns per clock read (the yield window is 50 us, a head is owed a handoff after
 * 1 ms); cpus: what sched_getaffinity reports (the OSQ takes cpus - 1 spinners, 1 below 3);
 * flags: kmutex_init_flags.
 */
template <class D, unsigned N, uint64_t clock_step = 100 * US, int cpus = 2, unsigned flags = 0>
struct scenario : rl::test_suite<D, N> {
	kmx_rl::world w;
	struct kmutex m;
	rl::var<int> data;    /* the protected data */
	rl::var<int> holders; /* threads inside the critical section */
	int expected;         /* ghost: critical sections entered (threads run one at a time) */

	scenario() : w(clock_step, cpus), expected(0) {}

	void before()
	{
		kmutex_init_flags(&m, flags);
		data($) = 0;
		holders($) = 0;
	}

	/* The critical section, entered with m held. */
	void critical_section()
	{
		RL_ASSERT(holders($) == 0);
		holders($) = 1;
		data($) = data($) + 1;
		expected++;
		holders($) = 0;
	}

	void locked_section()
	{
		kmutex_lock(&m);
		critical_section();
		kmutex_unlock(&m);
	}

	void after()
	{
		RL_ASSERT(data($) == expected);
		/* The words as the last store left them (the layer writes them through). */
		RL_ASSERT(m.owner == 0);
		RL_ASSERT(m.wait_list == NULL);
		RL_ASSERT(m.osq_tail == 0);
		RL_ASSERT(m.wait_lock == 0);
	}
};

/* Three lockers; T0 twice.  Spinning, sleeping, AWAKE and the unlock's wake. */
struct lock_unlock : scenario<lock_unlock, 3> {
	void thread(unsigned t)
	{
		locked_section();
		if (t == 0)
			locked_section();
	}
};

/* trylock against lock: a trylock that wins must acquire, one that loses must not. */
struct trylock : scenario<trylock, 3> {
	void thread(unsigned t)
	{
		if (t == 1) {
			for (int i = 0; i < 2; i++)
				if (kmutex_trylock(&m)) {
					critical_section();
					kmutex_unlock(&m);
				}
		} else {
			locked_section();
		}
	}
};

/* A timed waiter: it may time out (the futex wait times out, or the clock passes the
 * deadline), and then it owns nothing; T0 holds the lock across two sections. */
struct timed : scenario<timed, 3, 200 * US, 2, KMUTEX_NO_SPIN> {
	void thread(unsigned t)
	{
		if (t == 1) {
			struct timespec deadline = { 1, 500000 }; /* 0.5 ms after the clock's start */
			int r = kmutex_lock_timeout(&m, &deadline);

			RL_ASSERT(r == 0 || r == -ETIMEDOUT);
			kmx_rl::seen.timeouts += r == -ETIMEDOUT;
			if (r == 0) {
				critical_section();
				kmutex_unlock(&m);
			}
		} else {
			kmutex_lock(&m);
			critical_section();
			if (t == 0)
				critical_section();
			kmutex_unlock(&m);
		}
	}
};

/* Interruptible waits: a spurious futex wakeup is a signal handler that ran (EINTR), and T2
 * also has an interruption pending (kmutex_interrupt_self) before it locks. */
struct interruptible : scenario<interruptible, 3, 100 * US, 2, KMUTEX_NO_SPIN> {
	void thread(unsigned t)
	{
		if (t == 0) {
			locked_section();
			locked_section();
			return;
		}
		if (t == 2)
			kmutex_interrupt_self();
		int r = kmutex_lock_interruptible(&m);

		RL_ASSERT(r == 0 || r == -EINTR);
		kmx_rl::seen.interrupted += r == -EINTR;
		if (r == 0) {
			critical_section();
			kmutex_unlock(&m);
		}
	}
};

/* Forced handoff and pickup, mainline's rule (KMUTEX_HANDOFF_AFTER_US=0, set by main): a woken
 * head that fails once sets HANDOFF, the owner's unlock hands it the lock with PICKUP, and the
 * head picks it up with its cmpxchg, under wait_lock or while it spins (the one pickup that no
 * wait_lock or futex wake orders: only the cmpxchg's ACQUIRE does). */
struct handoff : scenario<handoff, 3> {
	void thread(unsigned t)
	{
		for (unsigned i = 0; i < 3 - t; i++)
			locked_section();
	}
};

/* The unlock that hands over unasked: every head has waited long enough (a clock read
 * advances 2 ms), so an unlock that wakes a sleeping head hands it the lock. */
struct owed_handoff : scenario<owed_handoff, 3, 2 * MS, 2, KMUTEX_NO_SPIN> {
	void thread(unsigned t)
	{
		locked_section();
		if (t == 0)
			locked_section();
	}
};

/* OSQ spinning: four CPUs, so three spinners may queue; T1 and T2 spin behind each other
 * while T0 holds the lock (run with KMX_SINK=kmx_osq_lock: the node's relaxed initializing
 * stores become visible as late as C11 allows). */
struct osq : scenario<osq, 3, 100 * US, 4> {
	void thread(unsigned t)
	{
		(void)t;
		locked_section();
	}
};

/* Three spinners behind one owner (five CPUs: four may queue): a spinner whose budget runs out
 * while queued between two others leaves through the unqueue path, steps A to C. */
struct osq_unqueue : scenario<osq_unqueue, 4, 100 * US, 5> {
	void thread(unsigned t)
	{
		(void)t;
		locked_section();
	}
};

/* kcond: a waiter waits for a flag that a signaller sets under the mutex, and reads the
 * payload published with it.  `ready` and `payload` are protected by m. */
template <class D, unsigned N>
struct cond_scenario : scenario<D, N, 100 * US, 2> {
	struct kcond c;
	rl::var<int> ready, payload;

	void before()
	{
		scenario<D, N, 100 * US, 2>::before();
		kcond_init(&c);
		ready($) = 0;
		payload($) = 0;
	}

	void wait_for_payload()
	{
		kmutex_lock(&this->m);
		while (!ready($))
			kcond_wait(&c, &this->m);
		RL_ASSERT(payload($) == 42);
		this->critical_section();
		kmutex_unlock(&this->m);
	}

	void publish(bool all)
	{
		kmutex_lock(&this->m);
		payload($) = 42;
		ready($) = 1;
		this->critical_section();
		if (all)
			kcond_broadcast(&c);
		else
			kcond_signal(&c);
		kmutex_unlock(&this->m);
	}

	void after()
	{
		scenario<D, N, 100 * US, 2>::after();
		RL_ASSERT(c.waiters == NULL);
		RL_ASSERT(c.refs == 0);
		RL_ASSERT(c.lock == 0);
	}
};

/* POSIX lets the broadcaster destroy the kcond at once, mutex held, while the moved waiter
 * has not run: kcond_destroy() waits only for waiters that may still touch the kcond. */
struct cond_destroy : cond_scenario<cond_destroy, 2> {
	void thread(unsigned t)
	{
		if (t == 0) {
			wait_for_payload();
			return;
		}
		kmutex_lock(&m);
		payload($) = 42;
		ready($) = 1;
		critical_section();
		kcond_broadcast(&c);
		kcond_destroy(&c);
		kmutex_unlock(&m);
	}

	void after()
	{
		scenario<cond_destroy, 2, 100 * US, 2>::after();
	}
};

struct kcond_signal : cond_scenario<kcond_signal, 2> {
	void thread(unsigned t)
	{
		if (t == 0)
			wait_for_payload();
		else
			publish(false);
	}
};

/* Broadcast with wait morphing: the waiters' nodes move onto the mutex's wait list. */
struct kcond_broadcast : cond_scenario<kcond_broadcast, 3> {
	void thread(unsigned t)
	{
		if (t < 2)
			wait_for_payload();
		else
			publish(true);
	}
};

/*
 * krwsem: two writers and a reader.  Writers update `data` alone (holders, as for the mutex),
 * readers read it with no writer inside (`writers`, a ghost: threads run one at a time).  T1
 * downgrades its write lock to a read lock; T2 read-trylocks once, then reads.  A read that the
 * semaphore's orders do not put after the last writer's update is a DATA RACE.
 */
struct rwsem : rl::test_suite<rwsem, 3> {
	kmx_rl::world w;
	struct krwsem sem;
	rl::var<int> data, holders;
	int expected, writers, readers;

	rwsem() : w(100 * US, 2), expected(0), writers(0), readers(0) {}

	void before()
	{
		krwsem_init(&sem);
		data($) = 0;
		holders($) = 0;
	}

	void thread(unsigned t)
	{
		if (t == 2) {
			if (krwsem_down_read_trylock(&sem))
				read_section();
			krwsem_down_read(&sem);
			read_section();
			return;
		}
		krwsem_down_write(&sem);
		RL_ASSERT(readers == 0 && writers == 0);
		writers++;
		RL_ASSERT(holders($) == 0);
		holders($) = 1;
		data($) = data($) + 1;
		expected++;
		holders($) = 0;
		writers--;
		if (t == 1) {
			/* T1 downgrades: it reads its own update with the other writer kept out. */
			krwsem_downgrade_write(&sem);
			read_section();
		} else {
			krwsem_up_write(&sem);
		}
	}

	/* With a read lock held: no writer inside, the data as some writer left it; releases. */
	void read_section()
	{
		readers++;
		RL_ASSERT(writers == 0);
		RL_ASSERT(data($) <= expected);
		readers--;
		krwsem_up_read(&sem);
	}

	void after()
	{
		RL_ASSERT(data($) == expected);
		RL_ASSERT(!krwsem_is_locked(&sem));
	}
};

/*
 * sched_view.c's rseq areas (last-cpu): T0's thread publishes its area in a descriptor's
 * last_cpu, exits (retracts it, then frees it: a plain write, as glibc's unmap of its stack);
 * T2 is the next thread to take that descriptor from the pool (it waits for T0's exit, as the
 * pool's lock would order them) and publishes its own area; T1 reads the CPU twice, as a
 * spinner does.  A read of T0's area the protocol does not put before the free is a DATA RACE
 * on rseq_alive, or finds it freed.
 */
struct last_cpu : rl::test_suite<last_cpu, 3> {
	kmx_rl::world w;
	struct kmx_last_cpu lc;
	rl::atomic<int> t0_gone; /* T0's descriptor is back in the pool */

	last_cpu() : w(100 * US, 2) {}

	void before()
	{
		memset(&lc, 0, sizeof(lc));
		for (unsigned t = 0; t < kmx_rl::NTHREADS; t++)
			w.rseq_alive[t]($) = 1;
		t0_gone($) = 0;
	}

	void thread(unsigned t)
	{
		int cpu;

		switch (t) {
		case 0:
			kmx_last_cpu_publish(&lc);
			kmx_last_cpu_retract(&lc);
			w.rseq_alive[0]($) = 0;
			t0_gone($).store(1, rl::mo_release);
			break;
		case 1:
			for (int i = 0; i < 2; i++) {
				cpu = kmx_last_cpu_of(&lc);
				RL_ASSERT(cpu == -1 || cpu == 0 || cpu == 2);
			}
			break;
		case 2:
			while (!t0_gone($).load(rl::mo_acquire))
				rl::yield(1, $);
			kmx_last_cpu_publish(&lc);
			break;
		}
	}

	void after() {}
};

template <class T> bool run(const char *name, unsigned iterations, const char *history)
{
	typedef rl::random_scheduler<T::params::thread_count> sched;
	rl::test_params p;
	/*
	 * Files, not string streams: Relacy's operator new allocates from the iteration while one
	 * runs, and a string stream that grows then mixes the two allocators.
	 */
	std::ofstream state("/dev/null"), out(history ? history : "/dev/null");

	p.search_type = rl::sched_random;
	p.iteration_count = iterations;
	p.execution_depth_limit = 20000;
	p.output_stream = &out;
	p.progress_stream = &out;
	auto start = std::chrono::steady_clock::now();
	/* run_test, not simulate: simulate reports the replay's verdict, not the search's. */
	rl::test_result_e res = rl::run_test<T, sched>(p, state, false);
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	unsigned long long at = (unsigned long long)p.stop_iteration;

	if (res == rl::test_result_success) {
		const kmx_rl::events &e = kmx_rl::seen;

		printf("%s: passed, %llu iterations, %.1f s (seen: %llu pickups, %llu unqueue relinks, "
		       "%llu moved waiters, %llu timeouts, %llu interruptions)\n", name, at, secs,
		       e.pickups, e.unqueue_relinks, e.moved, e.timeouts, e.interrupted);
		return true;
	}
	printf("%s: FAILED: %s at iteration %llu, %.1f s\n", name, rl::test_result_str(res), at, secs);
	if (history) {
		/*
		 * The search again up to the failing iteration, collecting the execution history
		 * (the random scheduler's own replay, which starts at that iteration in a fresh
		 * context, does not always reproduce it: see verify/README.md).
		 */
		rl::test_params h;
		std::ofstream hstate("/dev/null");

		h.search_type = rl::sched_random;
		h.iteration_count = p.stop_iteration + 1;
		h.execution_depth_limit = 20000;
		h.output_stream = &out;
		h.progress_stream = &out;
		h.collect_history = true;
		h.output_history = false;
		if (rl::run_test<T, sched>(h, hstate, false) != res)
			out << "kmx_relacy: the search with history did not reproduce the verdict\n";
	}
	return false;
}

struct entry {
	const char *name;
	bool (*run)(const char *, unsigned, const char *);
	const char *env; /* NAME=VALUE the scenario needs, or NULL */
};

const entry scenarios[] = {
	{ "lock-unlock", run<lock_unlock>, NULL },
	{ "trylock", run<trylock>, NULL },
	{ "timed", run<timed>, NULL },
	{ "interruptible", run<interruptible>, NULL },
	{ "handoff", run<handoff>, "KMUTEX_HANDOFF_AFTER_US=0" },
	{ "owed-handoff", run<owed_handoff>, NULL },
	{ "osq", run<osq>, NULL },
	{ "osq-unqueue", run<osq_unqueue>, NULL },
	{ "kcond-signal", run<kcond_signal>, NULL },
	{ "kcond-broadcast", run<kcond_broadcast>, NULL },
	{ "kcond-destroy", run<cond_destroy>, NULL },
	{ "rwsem", run<rwsem>, NULL },
	{ "last-cpu", run<last_cpu>, NULL },
};

} /* namespace */

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s SCENARIO BOUND [HISTORY_FILE]\nscenarios:", argv[0]);
		for (const entry &e : scenarios)
			fprintf(stderr, " %s", e.name);
		fprintf(stderr, "\n");
		return 2;
	}
	kmx_rl::configure();
	for (const entry &e : scenarios) {
		if (strcmp(e.name, argv[1]) != 0)
			continue;
		if (e.env)
			putenv((char *)e.env);
		return e.run(e.name, (unsigned)atoi(argv[2]), argc > 3 ? argv[3] : NULL) ? 0 : 1;
	}
	fprintf(stderr, "%s: no scenario '%s'\n", argv[0], argv[1]);
	return 2;
}
