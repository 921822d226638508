/*
 * Deterministic regression tests of the rules the kernel's rwsem got wrong (rwsem-notes.md
 * section 1.6), and of recursive reads, driven by krwsem's pause points (test_hooks.h,
 * build/hooks).  Each case must pass against the library as it is and fail against a library
 * built with its fix taken out (mk/krwsem.mk builds them with -DKRWSEM_BUG_*):
 *
 *   handoff-left  (KRWSEM_BUG_HANDOFF_LEFT; d257cc8cb8d5, 6eebd5fb2083)
 *       A writer at the head sets HANDOFF, then is interrupted and leaves while another writer
 *       waits.  The bit was the departed head's: it must go with it.  Checked while the next
 *       writer is parked just after its wakeup, before it could set HANDOFF of its own.
 *   wake-next     (KRWSEM_BUG_NO_WAKE_NEXT; 1ee326196c66, 54c1ee4d614d)
 *       Readers hold the lock; a writer waits at the head, a reader queues behind it.  The
 *       writer is interrupted and leaves: the reader can now share the lock and must be let
 *       in at once, not left sleeping until every current reader has gone (the kernel's vmcore
 *       had 385 readers stranded so).  Checked when the writer's call has returned.
 *   bias-late     (KRWSEM_BUG_BIAS_LATE; a9e9bcb45b15)
 *       A writer's unlock grants two queued readers.  Both, awake already, run while the waker
 *       is parked just after the second grant: both hold the lock, so both biases must be in
 *       the count.  (With the biases added after the grants, the count holds only the waker's
 *       probe bias: the second reader's unlock would take it below zero.)
 *   no-thieves    (KRWSEM_BUG_HANDOFF_IGNORED)
 *       A writer at the head sets HANDOFF; the readers leave and wake it, and it is parked
 *       right after its wakeup, the lock free.  Nobody else may take the lock now: a writer's
 *       trylock and a reader's timed down_read (a steal, but for HANDOFF) must fail.  This is
 *       what bounds the head's wait once HANDOFF is set.
 *   recursive     (KRWSEM_BUG_NO_RECURSION: the kernel's non-recursive down_read)
 *       A thread that reads asks again while a writer waits with HANDOFF set: it must get the
 *       lock at once.  Without the rule it waits for the writer, which waits for it; the test
 *       gives the call a deadline so that the failure is a -ETIMEDOUT, not a hang.
 *
 *   stale-record  (KRWSEM_BUG_STALE_RECORD: krwsem's own record of held read locks trusted
 *                  over the count)
 *       The record of a thread's read locks can be stale: a hold released by another thread
 *       (glibc allows it) leaves its entry, and holds beyond KRWSEM_READ_HELD_SLOTS count for
 *       every krwsem.  While a writer holds the lock, such a thread's down_read must wait
 *       like anyone's (here: time out), not take the "recursive" read beside the writer.
 *       Both ways to a stale record are tried; the writer holds the lock throughout, so the
 *       only right answer is -ETIMEDOUT whatever the timing.
 *
 *   woken-retry   (KRWSEM_BUG_WOKEN_KEPT: krwsem's own WOKEN, header item 5)
 *       A writer at the head is woken by the readers' unlock (WOKEN set: later unlocks skip
 *       wait_lock), and parked before its try; a thief takes the lock meanwhile.  The head's
 *       try fails and it goes back to sleep: its try must have cleared WOKEN (checked as it
 *       sleeps), so that the thief's unlock wakes it (checked at once after that unlock: its
 *       wake word says UP, while the head is parked again before it could re-arm).  With WOKEN
 *       kept, the head sleeps for good: a lost wakeup.
 *
 * Usage: rwsem_rules CASE.  Run handoff-left, no-thieves and recursive with
 * KRWSEM_HANDOFF_AFTER_US=0
 * (the head asks for HANDOFF at its first failed try, as the kernel's RT writers do).
 * Exit 0 on pass, 1 with "FAIL ..." lines on failure.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmutex.h"
#include "task.h" /* a waiter's wake word (woken-retry) */
#include "test_hooks.h"

#define COUNT_WAITERS 0x2ull
#define COUNT_HANDOFF 0x4ull
#define COUNT_WOKEN   0x8ull

enum role { ROLE_MAIN, ROLE_W1, ROLE_W2, ROLE_R };

static __thread enum role role;
static struct krwsem sem;
static int failures;

/* Posted by the hook the first time each role reaches a point; then optionally parked. */
static sem_t w1_sleeping, w1_woken, w1_resume, w2_sleeping, w2_woken, w2_resume, r_sleeping, r_go, r_checked;
static int w1_slept, w1_woke, w2_slept, w2_woke, granted_seen; /* one thread each */
static __thread int r_slept;
static int park_w1_after_wake, park_w2_after_wake, park_r_before_sleep, pause_at_grant;
#define NR_READERS 2
static uint64_t r_count_seen[NR_READERS];    /* the count as each granted reader saw it */

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
	} } while (0)

/* The woken-retry case's own points: W1's sleeps and wakes, counted. */
static int woken_retry, wr_sleeps, wr_wakes; /* W1's thread only, after the case set them */
static sem_t wr_woken, wr_resume, wr_slept_again;
static struct kmutex_task *w1_task;
static uint64_t wr_count_at_sleep;

static void woken_retry_hook(enum krwsem_test_point point, struct krwsem *s)
{
	if (point == KRWSEM_TP_WAITER_SLEEP && ++wr_sleeps == 1) {
		w1_task = kmutex__current;
		sem_post(&w1_sleeping);
	} else if (point == KRWSEM_TP_WAITER_SLEEP && wr_sleeps == 2) {
		wr_count_at_sleep = krwsem_test_count(s);
		sem_post(&wr_slept_again);
	} else if (point == KRWSEM_TP_WRITER_WOKEN && ++wr_wakes <= 2) {
		sem_post(&wr_woken);
		sem_wait(&wr_resume);
	}
}

static void hook(enum krwsem_test_point point, struct krwsem *s)
{
	if (s != &sem)
		return;
	if (woken_retry && role == ROLE_W1) {
		woken_retry_hook(point, s);
		return;
	}
	if (role == ROLE_W1 && point == KRWSEM_TP_WAITER_SLEEP && !w1_slept++)
		sem_post(&w1_sleeping);
	if (role == ROLE_W1 && point == KRWSEM_TP_WRITER_WOKEN && park_w1_after_wake && !w1_woke++) {
		sem_post(&w1_woken);
		sem_wait(&w1_resume);
	}
	if (role == ROLE_W2 && point == KRWSEM_TP_WAITER_SLEEP && !w2_slept++)
		sem_post(&w2_sleeping);
	if (role == ROLE_W2 && point == KRWSEM_TP_WRITER_WOKEN && park_w2_after_wake && !w2_woke++) {
		sem_post(&w2_woken);
		sem_wait(&w2_resume);
	}
	if (role == ROLE_R && point == KRWSEM_TP_WAITER_SLEEP && !r_slept++) {
		sem_post(&r_sleeping);
		if (park_r_before_sleep)
			sem_wait(&r_go);
	}
	if (role == ROLE_MAIN && point == KRWSEM_TP_READER_GRANTED && pause_at_grant &&
	    ++granted_seen == NR_READERS) {
		/* The waker, under wait_lock, right after the last grant: let the readers run. */
		for (int i = 0; i < NR_READERS; i++)
			sem_post(&r_go);
		for (int i = 0; i < NR_READERS; i++)
			sem_wait(&r_checked);
	}
}

static void on_sigusr1(int sig)
{
	(void)sig;
	kmutex_interrupt_self();
}

static int w1_result = 1;

static void *w1_interruptible_writer(void *arg)
{
	(void)arg;
	role = ROLE_W1;
	w1_result = krwsem_down_write_interruptible(&sem);
	if (w1_result == 0)
		krwsem_up_write(&sem);
	return NULL;
}

static void *w2_writer(void *arg)
{
	(void)arg;
	role = ROLE_W2;
	krwsem_down_write(&sem);
	krwsem_up_write(&sem);
	return NULL;
}

static int r_holding; /* atomic */
static sem_t r_release;

static void *reader(void *arg)
{
	role = ROLE_R;
	krwsem_down_read(&sem);
	r_count_seen[(long)arg] = krwsem_test_count(&sem);
	__atomic_store_n(&r_holding, 1, __ATOMIC_RELEASE);
	if (pause_at_grant)
		sem_post(&r_checked);
	sem_wait(&r_release);
	krwsem_up_read(&sem);
	return NULL;
}

/* Signal W1 until its interruptible call returns (one landing before its sleep is kept
 * pending by kmutex_interrupt_self, so the first one suffices; the loop is for clarity). */
static void interrupt_w1(pthread_t w1)
{
	pthread_kill(w1, SIGUSR1);
	pthread_join(w1, NULL);
}

static void wait_for_waiters(int n)
{
	while (krwsem_test_nr_waiters(&sem) != n)
		sched_yield();
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void case_handoff_left(void)
{
	pthread_t w1, w2;
	uint64_t count;

	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	park_w2_after_wake = 1;
	krwsem_down_read(&sem);                          /* the lock is read-held throughout */
	pthread_create(&w1, NULL, w1_interruptible_writer, NULL);
	sem_wait(&w1_sleeping);
	count = krwsem_test_count(&sem);
	CHECK(count & COUNT_HANDOFF, "the head writer should have set HANDOFF (count %#llx)",
	      (unsigned long long)count);
	pthread_create(&w2, NULL, w2_writer, NULL);
	sem_wait(&w2_sleeping);
	wait_for_waiters(2);

	interrupt_w1(w1);                                /* W1 leaves; W2 is woken, and parks */
	CHECK(w1_result == -EINTR, "W1 returned %d, expected -EINTR", w1_result);
	sem_wait(&w2_woken);
	count = krwsem_test_count(&sem);
	CHECK(!(count & COUNT_HANDOFF),
	      "HANDOFF left behind by a waiter that left: count %#llx with the next waiter not "
	      "yet run", (unsigned long long)count);
	sem_post(&w2_resume);
	krwsem_up_read(&sem);
	pthread_join(w2, NULL);
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static void case_wake_next(void)
{
	pthread_t w1, r;
	uint64_t count;
	int waiters;

	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	krwsem_down_read(&sem);                          /* readers hold the lock */
	pthread_create(&w1, NULL, w1_interruptible_writer, NULL);
	sem_wait(&w1_sleeping);
	pthread_create(&r, NULL, reader, (void *)0);     /* queues behind the writer */
	sem_wait(&r_sleeping);
	wait_for_waiters(2);

	interrupt_w1(w1);
	CHECK(w1_result == -EINTR, "W1 returned %d, expected -EINTR", w1_result);
	count = krwsem_test_count(&sem);
	waiters = krwsem_test_nr_waiters(&sem);
	CHECK(waiters == 0 && count >> 8 == 2,
	      "reader stranded: the lock is read-held and no writer waits, but the reader still "
	      "sleeps in the queue (%d waiters, %llu readers counted)", waiters,
	      (unsigned long long)(count >> 8));
	krwsem_up_read(&sem);                            /* in the bug build this wakes it */
	while (!__atomic_load_n(&r_holding, __ATOMIC_ACQUIRE))
		sched_yield();
	sem_post(&r_release);
	pthread_join(r, NULL);
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static void case_bias_late(void)
{
	pthread_t r[NR_READERS];

	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	park_r_before_sleep = 1;
	krwsem_down_write(&sem);
	for (long i = 0; i < NR_READERS; i++) {
		pthread_create(&r[i], NULL, reader, (void *)i);
		sem_wait(&r_sleeping);                   /* awake, parked before its sleep */
	}
	wait_for_waiters(NR_READERS);
	pause_at_grant = 1;
	krwsem_up_write(&sem);                           /* grants both; the hook lets them run */
	CHECK(granted_seen == NR_READERS, "the unlock should have granted both queued readers");
	for (int i = 0; i < NR_READERS; i++)
		CHECK(r_count_seen[i] >> 8 >= NR_READERS,
		      "a woken reader holds the lock but its bias is not counted: %d readers hold "
		      "it, the count says %llu (an unlock would take it below zero)", NR_READERS,
		      (unsigned long long)(r_count_seen[i] >> 8));
	for (int i = 0; i < NR_READERS; i++)
		sem_post(&r_release);
	for (int i = 0; i < NR_READERS; i++)
		pthread_join(r[i], NULL);
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static void *w1_plain_writer(void *arg)
{
	(void)arg;
	role = ROLE_W1;
	krwsem_down_write(&sem);
	krwsem_up_write(&sem);
	return NULL;
}

static void case_no_thieves(void)
{
	pthread_t w1;
	struct timespec past;
	uint64_t count;
	int took_write, took_read;

	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	park_w1_after_wake = 1;
	krwsem_down_read(&sem);
	pthread_create(&w1, NULL, w1_plain_writer, NULL);
	sem_wait(&w1_sleeping);                          /* head, HANDOFF set, asleep */
	krwsem_up_read(&sem);                            /* wakes W1, which parks */
	sem_wait(&w1_woken);
	count = krwsem_test_count(&sem);
	CHECK((count & ~COUNT_WOKEN) == (COUNT_WAITERS | COUNT_HANDOFF),
	      "the lock should be free with WAITERS and HANDOFF (count %#llx)",
	      (unsigned long long)count);

	took_write = krwsem_down_write_trylock(&sem);
	CHECK(!took_write, "a thief took the write lock while HANDOFF was set");
	if (took_write)
		krwsem_up_write(&sem);
	clock_gettime(CLOCK_MONOTONIC, &past);
	took_read = krwsem_down_read_timeout(&sem, &past) == 0;
	CHECK(!took_read, "a reader stole the lock while HANDOFF was set");
	if (took_read)
		krwsem_up_read(&sem);
	sem_post(&w1_resume);
	pthread_join(w1, NULL);
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static void case_recursive(void)
{
	pthread_t w2;
	struct timespec deadline;
	uint64_t count;
	int r, tried;

	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	krwsem_down_read(&sem);
	pthread_create(&w2, NULL, w2_writer, NULL);
	sem_wait(&w2_sleeping);
	count = krwsem_test_count(&sem);
	CHECK((count & (COUNT_WAITERS | COUNT_HANDOFF)) == (COUNT_WAITERS | COUNT_HANDOFF),
	      "a writer should wait with HANDOFF set (count %#llx)", (unsigned long long)count);

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 1;                            /* bounds the failure only */
	r = krwsem_down_read_timeout(&sem, &deadline);
	CHECK(r == 0, "recursive read blocked behind a waiting writer: returned %d", r);
	tried = krwsem_down_read_trylock(&sem);
	CHECK(tried == 1, "recursive read trylock refused while a writer waits");
	if (r == 0)
		krwsem_up_read(&sem);
	if (tried)
		krwsem_up_read(&sem);
	krwsem_up_read(&sem);
	pthread_join(w2, NULL);
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static int w_holding; /* atomic */
static uintptr_t w_owner; /* the owner word as the write holder left it */
static sem_t w_release;

static void *write_holder(void *arg)
{
	(void)arg;
	krwsem_down_write(&sem);
	w_owner = __atomic_load_n(&sem.owner, __ATOMIC_RELAXED);
	__atomic_store_n(&w_holding, 1, __ATOMIC_RELEASE);
	sem_wait(&w_release);
	krwsem_up_write(&sem);
	return NULL;
}

static void *release_read_elsewhere(void *arg)
{
	(void)arg;
	krwsem_up_read(&sem);
	return NULL;
}

/* With the writer holding the lock: a read must time out.  how: which stale record. */
static void expect_read_refused(const char *how)
{
	struct timespec deadline;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += 10 * 1000000;                /* only bounds the wait */
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	r = krwsem_down_read_timeout(&sem, &deadline);
	CHECK(r == -ETIMEDOUT, "read lock granted beside a writer (%s): returned %d, count %#llx",
	      how, r, (unsigned long long)krwsem_test_count(&sem));
	/* The bug build only: up_read would abort (write-locked), so undo the read by hand, our
	 * bias and the owner word's reader mark; the writer is parked holding the lock, nobody
	 * else touches either. */
	if (r == 0) {
		krwsem_test_set_count(&sem, krwsem_test_count(&sem) - 0x100);
		__atomic_store_n(&sem.owner, w_owner, __ATOMIC_RELAXED);
	}
}

static pthread_t start_write_holder(void)
{
	pthread_t w;

	__atomic_store_n(&w_holding, 0, __ATOMIC_RELAXED);
	pthread_create(&w, NULL, write_holder, NULL);
	while (!__atomic_load_n(&w_holding, __ATOMIC_ACQUIRE))
		sched_yield();
	return w;
}

static void stop_write_holder(pthread_t w)
{
	sem_post(&w_release);
	pthread_join(w, NULL);
}

static void case_stale_record(void)
{
	enum { N = KRWSEM_READ_HELD_SLOTS + 1 };
	struct krwsem others[N];
	pthread_t w, t;

	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	/* A hold released by another thread: our entry for sem stays behind. */
	krwsem_down_read(&sem);
	pthread_create(&t, NULL, release_read_elsewhere, NULL);
	pthread_join(t, NULL);
	CHECK(krwsem_read_held_by_self(&sem) == 1, "the record should still name sem");
	w = start_write_holder();
	expect_read_refused("a hold released by another thread left its entry");
	stop_write_holder(w);

	/* Holds beyond the slots: untracked, so they count for every krwsem. */
	for (int i = 0; i < N; i++) {
		krwsem_init(&others[i]);
		krwsem_down_read(&others[i]);
	}
	w = start_write_holder();
	expect_read_refused("holds beyond the record's slots");
	stop_write_holder(w);
	for (int i = N; i-- > 0;) {
		krwsem_up_read(&others[i]);
		krwsem_destroy(&others[i]);
	}
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static void case_woken_retry(void)
{
	pthread_t w1;
	uint64_t count;
	uint32_t wake;
	int stole;

	/* No HANDOFF in this case (the thief must get in): H far beyond the case's run. */
	setenv("KRWSEM_HANDOFF_AFTER_US", "600000000", 1);
	krwsem_init_flags(&sem, KRWSEM_NO_SPIN);
	woken_retry = 1;
	krwsem_down_read(&sem);
	pthread_create(&w1, NULL, w1_plain_writer, NULL);
	sem_wait(&w1_sleeping);                          /* the head, asleep */
	krwsem_up_read(&sem);                            /* wakes it, WOKEN set; it parks */
	sem_wait(&wr_woken);
	count = krwsem_test_count(&sem);
	CHECK(count == (COUNT_WAITERS | COUNT_WOKEN),
	      "the unlock should have freed the lock with WAITERS and WOKEN (count %#llx)",
	      (unsigned long long)count);
	stole = krwsem_down_write_trylock(&sem);         /* the thief */
	CHECK(stole, "the thief's trylock should take the free lock (count %#llx)",
	      (unsigned long long)krwsem_test_count(&sem));
	if (!stole)
		exit(1);
	sem_post(&wr_resume);                            /* its try fails; it sleeps again */
	sem_wait(&wr_slept_again);
	CHECK(!(wr_count_at_sleep & COUNT_WOKEN),
	      "WOKEN left set while the woken head went back to sleep: count %#llx",
	      (unsigned long long)wr_count_at_sleep);
	krwsem_up_write(&sem);                           /* must wake it; it parks before re-arming */
	wake = __atomic_load_n(&w1_task->wake, __ATOMIC_RELAXED);
	CHECK(wake == KMX_WAKE_UP,
	      "the thief's unlock did not wake the head, asleep after its failed try (a lost "
	      "wakeup: wake word %s, count %#llx)", wake == KMX_WAKE_UP ? "UP" : "SLEEP",
	      (unsigned long long)krwsem_test_count(&sem));
	if (failures) {                                  /* the head sleeps for good: leave it */
		printf("rwsem_rules woken-retry: FAIL\n");
		exit(1);
	}
	sem_post(&wr_resume);
	pthread_join(w1, NULL);
	CHECK(krwsem_test_count(&sem) == 0, "count %#llx after everyone left",
	      (unsigned long long)krwsem_test_count(&sem));
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "handoff-left", case_handoff_left },
	{ "wake-next", case_wake_next },
	{ "bias-late", case_bias_late },
	{ "no-thieves", case_no_thieves },
	{ "recursive", case_recursive },
	{ "stale-record", case_stale_record },
	{ "woken-retry", case_woken_retry },
};

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sem_init(&w1_sleeping, 0, 0);
	sem_init(&w1_woken, 0, 0);
	sem_init(&w1_resume, 0, 0);
	sem_init(&w2_sleeping, 0, 0);
	sem_init(&w2_woken, 0, 0);
	sem_init(&w2_resume, 0, 0);
	sem_init(&r_sleeping, 0, 0);
	sem_init(&r_go, 0, 0);
	sem_init(&r_checked, 0, 0);
	sem_init(&r_release, 0, 0);
	sem_init(&w_release, 0, 0);
	sem_init(&wr_woken, 0, 0);
	sem_init(&wr_resume, 0, 0);
	sem_init(&wr_slept_again, 0, 0);
	krwsem_test_hook = hook;
	alarm(60); /* a hang is a failure too; mk/krwsem.mk's timeout names the case */
	for (size_t i = 0; argc == 2 && i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		cases[i].run();
		printf("rwsem_rules %s: %s\n", cases[i].name, failures ? "FAIL" : "pass");
		return failures ? 1 : 0;
	}
	fprintf(stderr, "usage: %s handoff-left|wake-next|bias-late|no-thieves|recursive|"
		"stale-record|woken-retry\n", argv[0]);
	return 64;
}
