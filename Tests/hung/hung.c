/*
 * The hung-task watchdog on kmutex and kcond directly (docs/hung-task.md).  One scenario per
 * run, named by argv[1]; mk/hung.mk runs each with KMUTEX_HUNG_TIMEOUT set, under `timeout`.
 * Every check waits for report text or for watchdog scans, never for a time.  Built with
 * -rdynamic so that dladdr names the functions and lock variables below (hence not static).
 *
 *   abba      two threads, two mutexes, each holds one and wants the other: one deadlock
 *             report naming both threads, both locks and the functions where each waits
 *   owner     a thread waits for a mutex whose owner sleeps in nanosleep: the report shows
 *             the owner's stack, taken at that moment
 *   condvar   a condvar wait nobody signals: reported as such
 *   stale     waits that time out or are interrupted (mutex, condvar, krwsem), then a sentinel
 *             hang: the sentinel alone is reported, so no record outlived its wait
 *   progress  a long, heavily contended run that keeps making progress, then the sentinel:
 *             the sentinel alone is reported
 *   cycle3    three threads in a cycle, then a fourth blocked behind it: the cycle is one
 *             deadlock report; the fourth is reported as blocked behind that deadlock
 *   moved     a condvar waiter that a broadcast moved onto the mutex's wait list, the mutex
 *             held by a thread sleeping elsewhere: reported as waiting for that mutex
 *   rwsem     a writer behind two readers that sleep elsewhere: named, both of them; then a
 *             deadlock through a krwsem: a reader waits for a mutex whose owner waits to
 *             write: reported as a deadlock, the reader named as the holder
 *   abort     the abba deadlock with stderr left alone, main waiting forever: run with
 *             KMUTEX_HUNG_ABORT=1, the watchdog ends the process (mk/hung.mk checks how)
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "kmutex.h"
#include "krwsem.h"
#include "futex.h"
#include "harness.h"
#include "task.h"

DEFINE_KMUTEX(lock_a);
DEFINE_KMUTEX(lock_b);
DEFINE_KMUTEX(sleepy_lock);
DEFINE_KMUTEX(sentinel_lock);
DEFINE_KMUTEX(held_lock);
DEFINE_KMUTEX(cond_mutex);
struct kcond lonely_cond = KCOND_INITIALIZER;

static pthread_barrier_t both_hold;
static int never[2]; /* a pipe nobody writes: parks threads outside kmutex */

static void name_self(const char *name)
{
	pthread_setname_np(pthread_self(), name);
}

static void park_forever(void)
{
	char c;

	while (read(never[0], &c, 1) != 0)
		;
}

/* ---- abba -------------------------------------------------------------------------------- */

ABBA_THREAD(abba_thread_a, "abba-a", kmutex_lock, lock_a, lock_b, both_hold)
ABBA_THREAD(abba_thread_b, "abba-b", kmutex_lock, lock_b, lock_a, both_hold)

static void abba(void)
{
	char buf[16384];
	const char *r;

	start_abba(&both_hold, abba_thread_a, abba_thread_b);
	r = expect_abba_report("abba", "abba-", "lock_a", "lock_b", "abba_thread_a", "abba_thread_b",
			       buf, sizeof(buf));
	expect_all(r, "abba", (const char *const[]){ "waiting to lock mutex", "(lock_a) = &lock_a [",
						     "(lock_b) = &lock_b [", "- holding mutex", NULL });
}

/* ---- a three-thread cycle, and a thread blocked behind it ---------------------------------- */

DEFINE_KMUTEX(ring_1);
DEFINE_KMUTEX(ring_2);
DEFINE_KMUTEX(ring_3);
static struct kmutex *const ring[3] = { &ring_1, &ring_2, &ring_3 };
static pthread_barrier_t ring_holds;

__attribute__((noinline)) void *ring_thread(void *arg)
{
	static const char *const names[3] = { "ring-1", "ring-2", "ring-3" };
	int i = (int)(intptr_t)arg;

	name_self(names[i]);
	kmutex_lock(ring[i]);
	pthread_barrier_wait(&ring_holds);
	kmutex_lock(ring[(i + 1) % 3]); /* never returns */
	return NULL;
}

__attribute__((noinline)) void *behind_the_ring(void *arg)
{
	(void)arg;
	name_self("behind");
	kmutex_lock(&ring_1); /* owned by ring-1, which is in the cycle */
	return NULL;
}

static void cycle3(void)
{
	pthread_t t[4];
	char buf[16384];
	const char *r;

	pthread_barrier_init(&ring_holds, NULL, 3);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, ring_thread, (void *)(intptr_t)i);
	r = deadlock_report("INFO: task ring-", buf, sizeof(buf));
	expect(r, "Found one kmutex deadlock", "cycle3");
	for (int i = 0; i < 3; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\"ring-%d\" tid", i + 1);
		expect(r, want, "cycle3");
		snprintf(want, sizeof(want), "(ring_%d) = &ring_%d [", i + 1, i + 1);
		expect(r, want, "cycle3");
	}
	expect(r, "at: ring_thread+", "cycle3");
	/* Now a thread behind the cycle: its own report, naming the deadlock it waits behind. */
	pthread_create(&t[3], NULL, behind_the_ring, NULL);
	wait_for_text("INFO: task behind:");
	wait_for_text("a deadlock (below), behind which it waits");
	wait_scans(3);
	r = section("INFO: task behind:", buf, sizeof(buf));
	expect_all(r, "cycle3 behind", (const char *const[]){
		"is blocked on a mutex owned by task ring-1:", "Found one kmutex deadlock",
		"at: behind_the_ring+", NULL });
	expect_reports("cycle3", 2, "2 (the cycle once, the thread behind it once)");
}

/* ---- owner sleeping elsewhere --------------------------------------------------------------- */

static atomic_int sleeper_holds;

__attribute__((noinline)) void *owner_sleeps_elsewhere(void *arg)
{
	(void)arg;
	name_self("sleepy-owner");
	kmutex_lock(&sleepy_lock);
	atomic_store(&sleeper_holds, 1);
	sleep_forever();
	return NULL;
}

__attribute__((noinline)) void *wait_behind_sleeper(void *arg)
{
	(void)arg;
	name_self("blocked-waiter");
	kmutex_lock(&sleepy_lock);
	return NULL;
}

static atomic_int program_handler_calls;

static void program_rt_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&program_handler_calls, 1);
}

static void owner(void)
{
	struct sigaction program = { .sa_handler = program_rt_handler }, now;
	sigset_t mask_before, mask_after;
	pthread_t o, w;
	char buf[16384];
	const char *r;

	/*
	 * The program uses the top real-time signal: the watchdog must take another one for the
	 * owner's stack, and leave this handler, the other signal's disposition and the masks
	 * as they were.
	 */
	sigaction(SIGRTMAX, &program, NULL);
	pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
	pthread_create(&o, NULL, owner_sleeps_elsewhere, NULL);
	while (!atomic_load(&sleeper_holds))
		drain();
	pthread_create(&w, NULL, wait_behind_sleeper, NULL);
	wait_for_text("what it is doing now:");
	r = report_with_stacks("INFO: task blocked-waiter", buf, sizeof(buf));
	expect_all(r, "owner", (const char *const[]){
		"is blocked on a mutex owned by task sleepy-owner:", "(sleepy_lock) = &sleepy_lock [",
		"at: wait_behind_sleeper+", NULL });
	r = strstr(r, "\"sleepy-owner\" tid");
	r = r ? strstr(r + 1, "\"sleepy-owner\" tid") : NULL; /* its stack, after the chain */
	if (!r)
		fail("owner: no stack section for the owner");
	expect_all(r, "owner", (const char *const[]){ "what it is doing now:", "nanosleep",
						      "owner_sleeps_elsewhere+", NULL });
	sigaction(SIGRTMAX, NULL, &now);
	if (now.sa_handler != program_rt_handler || atomic_load(&program_handler_calls))
		fail("owner: the program's SIGRTMAX handler was replaced or called");
	if (watchdog_stats().last_signal != SIGRTMAX - 1)
		fail("owner: the stack was asked with signal %d, want SIGRTMAX-1 (%d): SIGRTMAX is the program's",
		     watchdog_stats().last_signal, SIGRTMAX - 1);
	sigaction(SIGRTMAX - 1, NULL, &now);
	if ((now.sa_flags & SA_SIGINFO) || now.sa_handler != SIG_DFL)
		fail("owner: SIGRTMAX-1 not back to SIG_DFL after the stack was taken");
	pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
	for (int sig = 1; sig < SIGRTMAX; sig++)
		if (sigismember(&mask_before, sig) != sigismember(&mask_after, sig))
			fail("owner: the signal mask changed (signal %d)", sig);
}

/* ---- condvar nobody signals ------------------------------------------------------------------ */

__attribute__((noinline)) void *wait_for_nothing(void *arg)
{
	(void)arg;
	name_self("cv-waiter");
	kmutex_lock(&cond_mutex);
	for (;;)
		kcond_wait(&lonely_cond, &cond_mutex);
	return NULL;
}

static void condvar(void)
{
	pthread_t t;
	char buf[16384];
	const char *r;

	pthread_create(&t, NULL, wait_for_nothing, NULL);
	r = report_with_stacks("INFO: task cv-waiter", buf, sizeof(buf));
	expect_all(r, "condvar", (const char *const[]){
		"is waiting on a condition variable that nobody has signalled", "= &lonely_cond [",
		"with mutex", "(cond_mutex) = &cond_mutex [", "at: wait_for_nothing+", NULL });
	wait_scans(3);
	expect_reports("condvar", 1, "exactly 1");
}

/* ---- a condvar waiter moved onto a held mutex by a broadcast --------------------------------- */

DEFINE_KMUTEX(moved_mutex);
struct kcond moved_cond = KCOND_INITIALIZER;
static atomic_int moved_holder_holds;

__attribute__((noinline)) void *wait_to_be_moved(void *arg)
{
	(void)arg;
	name_self("cv-moved");
	kmutex_lock(&moved_mutex);
	kcond_wait(&moved_cond, &moved_mutex); /* woken by the broadcast, then waits for the mutex */
	return NULL;
}

__attribute__((noinline)) void *hold_and_sleep(void *arg)
{
	(void)arg;
	name_self("cv-holder");
	kmutex_lock(&moved_mutex);
	atomic_store(&moved_holder_holds, 1);
	sleep_forever();
	return NULL;
}

static void moved(void)
{
	pthread_t w, h;
	char buf[16384];
	const char *r;

	pthread_create(&w, NULL, wait_to_be_moved, NULL);
	/* The waiter is on the condvar's list once the condvar has a waiter. */
	while (!__atomic_load_n(&moved_cond.waiters, __ATOMIC_ACQUIRE))
		drain();
	pthread_create(&h, NULL, hold_and_sleep, NULL);
	while (!atomic_load(&moved_holder_holds))
		drain();
	kcond_broadcast(&moved_cond); /* the mutex is held: the waiter is moved, not woken */
	r = report_with_stacks("INFO: task cv-moved:", buf, sizeof(buf));
	expect_all(r, "moved", (const char *const[]){
		"is blocked on a mutex owned by task cv-holder:", "(moved_mutex) = &moved_mutex [",
		"moved there from condvar", "what it is doing now:", "hold_and_sleep+", NULL });
}

/* ---- krwsem: readers named; a deadlock through a read lock ---------------------------------- */

struct krwsem table_sem;           /* zero-filled: a valid unlocked krwsem */
struct krwsem index_sem;
DEFINE_KMUTEX(index_mutex);
static atomic_int readers_in, index_reader_holds, index_mutex_held;

__attribute__((noinline)) void *read_and_sleep(void *arg)
{
	name_self(arg);
	krwsem_down_read(&table_sem);
	atomic_fetch_add(&readers_in, 1);
	sleep_forever();
	return NULL;
}

__attribute__((noinline)) void *write_behind_readers(void *arg)
{
	(void)arg;
	name_self("rw-writer");
	krwsem_down_write(&table_sem);
	return NULL;
}

/* Holds index_sem for reading, then wants index_mutex. */
__attribute__((noinline)) void *reader_wants_mutex(void *arg)
{
	(void)arg;
	name_self("idx-reader");
	krwsem_down_read(&index_sem);
	atomic_store(&index_reader_holds, 1);
	while (!atomic_load(&index_mutex_held))
		;
	kmutex_lock(&index_mutex); /* never returns */
	return NULL;
}

/* Holds index_mutex, then wants index_sem for writing. */
__attribute__((noinline)) void *mutex_owner_wants_write(void *arg)
{
	(void)arg;
	name_self("idx-writer");
	kmutex_lock(&index_mutex);
	atomic_store(&index_mutex_held, 1);
	while (!atomic_load(&index_reader_holds))
		;
	krwsem_down_write(&index_sem); /* never returns */
	return NULL;
}

static void rwsem(void)
{
	pthread_t t[5];
	char buf[16384];
	const char *r;

	krwsem_set_name(&table_sem, "table_sem");
	pthread_create(&t[0], NULL, read_and_sleep, "rw-reader-1");
	pthread_create(&t[1], NULL, read_and_sleep, "rw-reader-2");
	while (atomic_load(&readers_in) < 2)
		drain();
	pthread_create(&t[2], NULL, write_behind_readers, NULL);
	r = report_with_stacks("INFO: task rw-writer:", buf, sizeof(buf));
	expect_all(r, "rwsem readers", (const char *const[]){
		"is blocked on a rw-semaphore (to write)", "(table_sem) = &table_sem [",
		"held by 2 readers: ", "\"rw-reader-1\" tid", "\"rw-reader-2\" tid",
		"at: write_behind_readers+", "\"rw-reader-2\" tid", NULL });
	r = strstr(r, ", a reader, what it is doing now:");
	if (!r || !strstr(r, "read_and_sleep+"))
		fail("rwsem readers: no stack for the readers");

	pthread_create(&t[3], NULL, reader_wants_mutex, NULL);
	pthread_create(&t[4], NULL, mutex_owner_wants_write, NULL);
	r = deadlock_report("INFO: task idx-", buf, sizeof(buf));
	expect_all(r, "rwsem deadlock", (const char *const[]){
		"Found one kmutex deadlock", "waiting to lock rw-semaphore (to write) ",
		"= &index_sem [", "held by reader \"idx-reader\" tid",
		"which is held for reading by \"idx-reader\" tid", "- holding rw-semaphore 0x",
		" for reading\n", "(index_mutex) = &index_mutex [", "at: reader_wants_mutex+",
		"at: mutex_owner_wants_write+", NULL });
	wait_scans(3);
	expect_reports("rwsem", 2, "2 (the writer behind readers, the deadlock)");
}

/* ---- the sentinel: a real hang after the runs that must not be reported ------------------- */

__attribute__((noinline)) void *sentinel_waits(void *arg)
{
	(void)arg;
	name_self("sentinel");
	kmutex_lock(&sentinel_lock);
	return NULL;
}

/*
 * main holds sentinel_lock; a thread waits for it.  Any record left over from before is older
 * than the sentinel's wait, so it would be reported no later than the sentinel: once the
 * sentinel's report is out and two more scans are done, the sentinel must be the only report.
 */
static void sentinel_only(const char *what)
{
	pthread_t s;

	kmutex_lock(&sentinel_lock);
	pthread_create(&s, NULL, sentinel_waits, NULL);
	wait_for_text("INFO: task sentinel:");
	wait_scans(2);
	if (count(" blocked for more than ") != 1 || !strstr(captured, "(sentinel_lock)"))
		fail("%s: %u reports, want exactly 1, the sentinel's", what, count(" blocked for more than "));
}

/* ---- stale records ------------------------------------------------------------------------- */

#define NR_STALE 6
static struct kmutex_task *_Atomic waiter_task[NR_STALE];
static atomic_int wait_result[NR_STALE];
struct krwsem held_sem;

static void interrupt_handler(int sig)
{
	(void)sig;
	kmutex_interrupt_self();
}

static struct timespec soon(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 100000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

__attribute__((noinline)) void *stale_waiter(void *arg)
{
	int which = (int)(intptr_t)arg, ret = 0;
	static const char *const names[] = { "timed-out", "interrupted", "cv-timed-out", "cv-interrupted",
					     "rw-timed-out", "rw-interrupted" };
	struct timespec deadline = soon();

	name_self(names[which]);
	atomic_store(&waiter_task[which], kmutex__self());
	switch (which) {
	case 0:
		ret = kmutex_lock_timeout(&held_lock, &deadline);
		break;
	case 1:
		ret = kmutex_lock_interruptible(&held_lock);
		break;
	case 2:
		kmutex_lock(&cond_mutex);
		ret = kcond_wait_timeout(&lonely_cond, &cond_mutex, &deadline);
		kmutex_unlock(&cond_mutex);
		break;
	case 3:
		kmutex_lock(&cond_mutex);
		ret = kcond_wait_interruptible(&lonely_cond, &cond_mutex);
		kmutex_unlock(&cond_mutex);
		break;
	case 4:
		ret = krwsem_down_read_timeout(&held_sem, &deadline);
		break;
	case 5:
		ret = krwsem_down_write_interruptible(&held_sem);
		break;
	}
	atomic_store(&wait_result[which], ret ? ret : 1);
	park_forever(); /* alive, so its descriptor keeps any stale record */
	return NULL;
}

/* Wait until thread `which` is in its recorded wait (the record says so). */
static void wait_until_blocked(int which, uint32_t kind)
{
	struct kmutex_task *t;

	while (!(t = atomic_load(&waiter_task[which])) ||
	       __atomic_load_n(&t->hung.kind, __ATOMIC_ACQUIRE) != kind)
		drain();
}

static void stale(void)
{
	static const int want[NR_STALE] = { -ETIMEDOUT, -EINTR, -ETIMEDOUT, -EINTR, -ETIMEDOUT, -EINTR };
	struct sigaction sa = { .sa_handler = interrupt_handler };
	pthread_t t[NR_STALE];

	sigaction(SIGUSR1, &sa, NULL);
	kmutex_lock(&held_lock); /* held by main to the end */
	krwsem_down_write(&held_sem); /* likewise */
	for (int i = 0; i < NR_STALE; i++)
		pthread_create(&t[i], NULL, stale_waiter, (void *)(intptr_t)i);
	wait_until_blocked(1, KMX_BLOCKED_MUTEX);
	pthread_kill(t[1], SIGUSR1);
	wait_until_blocked(3, KMX_BLOCKED_CONDVAR);
	pthread_kill(t[3], SIGUSR1);
	wait_until_blocked(5, KMX_BLOCKED_RWSEM_WRITE);
	pthread_kill(t[5], SIGUSR1);
	for (int i = 0; i < NR_STALE; i++) {
		while (!atomic_load(&wait_result[i]))
			drain();
		if (atomic_load(&wait_result[i]) != want[i])
			fail("stale: waiter %d returned %d, want %d", i, atomic_load(&wait_result[i]), want[i]);
	}
	sentinel_only("stale");
}

/* ---- progress -------------------------------------------------------------------------------- */

static struct kmutex busy[2];
static atomic_int stop;
static atomic_ulong acquisitions, sleeps;
static atomic_int workers_done;

__attribute__((noinline)) void *busy_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	unsigned long n = 0;

	name_self("busy");
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct kmutex *m = &busy[rand_r(&seed) & 1];

		kmutex_lock(m);
		for (volatile int i = 0; i < 50; i++) /* a critical section of well under 1 us */
			;
		kmutex_unlock(m);
		n++;
	}
	atomic_fetch_add(&acquisitions, n);
	atomic_fetch_add(&sleeps, kmx_futex_waits);
	atomic_fetch_add(&workers_done, 1);
	park_forever(); /* alive, so that a record its last wait left behind would be found */
	return NULL;
}

static void progress(unsigned nscans)
{
	pthread_t t[8];

	/* No spinning: every contended lock sleeps, so waits are recorded by the hundred thousand. */
	kmutex_init_flags(&busy[0], KMUTEX_NO_SPIN);
	kmutex_init_flags(&busy[1], KMUTEX_NO_SPIN);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, busy_worker, (void *)(uintptr_t)(i + 1));
	wait_scans(nscans);
	atomic_store(&stop, 1);
	while (atomic_load(&workers_done) < 8)
		drain();
	printf("progress: %lu acquisitions, %lu sleeps over %u watchdog scans\n",
	       atomic_load(&acquisitions), atomic_load(&sleeps), nscans);
	if (atomic_load(&sleeps) < 100)
		fail("progress: only %lu sleeps: the run did not exercise the recorded waits",
		     atomic_load(&sleeps));
	if (count(" blocked for more than "))
		fail("progress: a progressing run was reported");
	sentinel_only("progress");
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(never) != 0)
		fail("pipe");
	if (!strcmp(what, "abort")) {
		start_abba(&both_hold, abba_thread_a, abba_thread_b);
		for (;;)
			pause();
	}
	capture_stderr();
	if (!strcmp(what, "abba"))
		abba();
	else if (!strcmp(what, "cycle3"))
		cycle3();
	else if (!strcmp(what, "moved"))
		moved();
	else if (!strcmp(what, "rwsem"))
		rwsem();
	else if (!strcmp(what, "owner"))
		owner();
	else if (!strcmp(what, "condvar"))
		condvar();
	else if (!strcmp(what, "stale"))
		stale();
	else if (!strcmp(what, "progress"))
		progress(argc > 2 ? (unsigned)atoi(argv[2]) : 6);
	else
		fail("usage: %s abba|cycle3|rwsem|owner|condvar|moved|stale|progress [scans]|abort", argv[0]);
	printf("hung %s: ok\n", what);
	_exit(0); /* the hung threads stay hung: leave without running exit handlers */
}
