/*
 * When a contender must not spin, and when it yields its CPU before it sleeps (kmutex.c,
 * optimistic_spin() and yield_and_spin()):
 *  - on a lock handed to a waiter that has not run yet (handoff_pending(), the part of the
 *    kernel's owner_on_cpu() that user space can see): the lock stays unused until the
 *    scheduler runs that waiter, and spinning on it burns the budget (and, on a loaded
 *    machine, the CPU the waiter needs) for nothing; yielding gives the waiter that CPU;
 *  - in an OSQ that already has a spinner for every CPU but the owner's (kmx_osq_full()),
 *    the bound the kernel's per-CPU nodes give its queue.  The test runs on one CPU, where
 *    that is one spinner;
 *  - a spin whose budget runs out (an owner that looks preempted) is followed by a yield and
 *    another try before the sleep, while spinning works on the mutex (spinning_works()), and
 *    not once recent spins have mostly failed.
 *
 * Threads: main, a waiter W, a first spinner S1, and the contender S.  The pause points record
 * S's steps in order until it sleeps: whether it joined the OSQ (KMUTEX_TP_OSQ_JOIN), polled
 * the owner word (KMUTEX_TP_SPIN_ON_OWNER), yielded (KMUTEX_TP_YIELD), slept
 * (KMUTEX_TP_WAITER_SLEEP).
 *   running owner: main holds the lock (blocked in sem_wait, which looks running): S joins
 *                  the OSQ and spins; this also proves that the pause points are reached.
 *   handed over:   W sleeps on the list; a signal wakes it (a spurious wakeup for a plain
 *                  lock), it fails as the head and sets HANDOFF, and sleeps again; main
 *                  unlocks, handing the lock to W with PICKUP; W is held right after its
 *                  futex sleep (KMUTEX_TP_WAITER_WOKEN), as if the scheduler had not run it
 *                  yet.  S must yield, then sleep, without joining the OSQ or spinning.
 *   full OSQ:      S1 is held at the head of the OSQ, spinning on main; S must yield, then
 *                  sleep, without joining the OSQ.
 *   preempted owner: main holds the lock and never lets go until S sleeps: S spins out its
 *                  budget, yields, tries again, and sleeps.
 *   hopeless spin: the same again on the same mutex, whose failed spins have now closed the
 *                  yield window: S spins, then sleeps without yielding.
 * All on one CPU, where every owner last ran on S's CPU: the rule that stops S there
 * (sched_view.h; Tests/regression/spin_owner_cpu.c tests it) is turned off, so that these cases
 * see the budget and the yield window, as on a system without rseq.
 * Deterministic: each step waits for a state (a semaphore, W inside the futex syscall),
 * never for an amount of time (S's yield window ends by time, but nothing S waits for can
 * happen before it sleeps).  With handoff_pending(), kmx_osq_full(), yield_and_spin() or its
 * spinning_works() gate taken out, its case fails.
 */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kmutex.h"
#include "owner.h"
#include "in_futex.h"
#include "spin_steps.h"
#include "test_hooks.h"

enum role { ROLE_OTHER, ROLE_W, ROLE_S1, ROLE_S };

static struct kmutex lock;
static __thread enum role role;   /* set by each thread itself, for the hook */
static char s_steps[MAX_STEPS + 1];         /* S's own until it posts s_slept */
static char s_decided_steps[MAX_STEPS + 1]; /* S's own until it posts s_decided */
static long w_tid;                /* atomic */
static const uint32_t *w_word;     /* W's wake word, set before w_asleep is posted */
static int w_wakes;               /* W's own */
static int s1_spins;              /* S1's own */
static sem_t s_decided, s_slept, w_asleep, w_handed, w_go, s1_spinning, s1_go;

static void s_hook(enum kmutex_test_point point)
{
	char step = record_spin_step(s_steps, point);

	if (!step)
		return;
	if (step != 'j' && !s_decided_steps[0]) {
		/* the first step that is not the join: what S chose while main still held on */
		memcpy(s_decided_steps, s_steps, sizeof(s_steps));
		sem_post(&s_decided);
	}
	if (step == 'z')
		sem_post(&s_slept);
}

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l != &lock)
		return;
	if (role == ROLE_S)
		s_hook(point);
	if (role == ROLE_W && point == KMUTEX_TP_WAITER_SLEEP) {
		w_word = kmutex_test_wake_word();
		sem_post(&w_asleep);
	}
	if (role == ROLE_W && point == KMUTEX_TP_WAITER_WOKEN && ++w_wakes == 2) {
		sem_post(&w_handed);
		sem_wait(&w_go);
	}
	/* S1 stays at the head of the OSQ, polling the owner word, until told to go on. */
	if (role == ROLE_S1 && point == KMUTEX_TP_SPIN_ON_OWNER && !s1_spins++) {
		sem_post(&s1_spinning);
		sem_wait(&s1_go);
	}
}

static void on_usr1(int sig) { (void)sig; }

/* W is blocked in the futex syscall (after the sleep point nothing else can block it). */
static int w_in_futex(void)
{
	return thread_in_futex(__atomic_load_n(&w_tid, __ATOMIC_ACQUIRE), w_word);
}

static void wait_until_w_sleeps(void)
{
	sem_wait(&w_asleep);
	while (!w_in_futex())
		sched_yield();
}

static void *locker_main(void *arg)
{
	role = *(enum role *)arg;
	if (role == ROLE_W)
		__atomic_store_n(&w_tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	kmutex_lock(&lock);
	kmutex_unlock(&lock);
	return NULL;
}

static pthread_t start_locker(enum role r)
{
	static enum role roles[] = { ROLE_OTHER, ROLE_W, ROLE_S1, ROLE_S };
	pthread_t t;

	pthread_create(&t, NULL, locker_main, &roles[r]);
	return t;
}

static void reset_steps(void)
{
	/*
	 * A post left by the case before: in "running owner" S may spin out its budget and
	 * sleep before main unlocks (one CPU, a loaded machine), and nobody waits for that post.
	 * Left there, it would let the next case go on before its own S has slept.
	 */
	while (sem_trywait(&s_slept) == 0 || sem_trywait(&s_decided) == 0)
		;
	memset(s_steps, 0, sizeof(s_steps));
	memset(s_decided_steps, 0, sizeof(s_decided_steps));
}

static void reset_case(void)
{
	reset_steps();
	kmutex_init(&lock);
}

/*
 * S's steps (first appearances, in order) against want, as in "jsyz": join, spin, yield,
 * sleep.  steps is s_steps or s_decided_steps, read after the semaphore that publishes it.
 */
static int check_steps(const char *name, const char *steps, const char *want)
{
	if (strcmp(steps, want) != 0) {
		fprintf(stderr, "FAIL %s: S's steps were \"%s\", expected \"%s\" "
			"(j: join the OSQ, s: spin, y: yield, z: sleep)\n", name, steps, want);
		return 1;
	}
	printf("%s: S's steps \"%s\" (j: join the OSQ, s: spin, y: yield, z: sleep)\n", name, steps);
	return 0;
}

static int running_owner(void)
{
	pthread_t s;

	reset_case();
	kmutex_lock(&lock);
	s = start_locker(ROLE_S);
	sem_wait(&s_decided);
	kmutex_unlock(&lock);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	/* Only the steps before main let go: on one CPU, S may spin out its budget and yield
	 * before main runs again to unlock. */
	return check_steps("running owner", s_decided_steps, "js");
}

static int handed_over(void)
{
	pthread_t w, s;
	uintptr_t word;
	int failed = 0;

	reset_case();
	kmutex_lock(&lock);
	w = start_locker(ROLE_W);
	wait_until_w_sleeps();
	pthread_kill(w, SIGUSR1);   /* W wakes, sets HANDOFF as the head, fails, sleeps again */
	wait_until_w_sleeps();
	if (!(kmutex_test_owner_word(&lock) & KMX_FLAG_HANDOFF)) {
		fprintf(stderr, "FAIL handed over: W did not set HANDOFF (word %#lx)\n",
			(unsigned long)kmutex_test_owner_word(&lock));
		failed++;
	}
	kmutex_unlock(&lock);       /* handed to W, who is held before its pickup */
	sem_wait(&w_handed);
	word = kmutex_test_owner_word(&lock);
	if (!(word & KMX_FLAG_PICKUP)) {
		fprintf(stderr, "FAIL handed over: no PICKUP after the unlock (word %#lx)\n",
			(unsigned long)word);
		failed++;
	}
	/* W's own spins failed (main held the lock throughout) and closed the yield window; S
	 * comes to a lock whose spins have been succeeding, as on a busy short-held mutex. */
	__atomic_store_n(&lock.spin_estimate, 0, __ATOMIC_RELAXED); /* W and S are not running */
	s = start_locker(ROLE_S);
	sem_wait(&s_slept);
	sem_post(&w_go);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return failed + check_steps("handed over", s_steps, "yz");
}

static int full_osq(void)
{
	pthread_t s1, s;

	reset_case();
	kmutex_lock(&lock);
	s1 = start_locker(ROLE_S1);
	sem_wait(&s1_spinning);     /* S1 is the OSQ's head, and its only node */
	s = start_locker(ROLE_S);
	sem_wait(&s_slept);
	sem_post(&s1_go);
	kmutex_unlock(&lock);
	pthread_join(s1, NULL);
	pthread_join(s, NULL);
	kmutex_destroy(&lock);
	return check_steps("full OSQ", s_steps, "yz");
}

/* S spins out its budget on a lock main holds until S sleeps; steps as want. */
static int held_until_s_sleeps(const char *name, const char *want)
{
	pthread_t s;

	reset_steps();
	kmutex_lock(&lock);
	s = start_locker(ROLE_S);
	sem_wait(&s_slept);
	kmutex_unlock(&lock);
	pthread_join(s, NULL);
	return check_steps(name, s_steps, want);
}

static int preempted_owner(void)
{
	int failed;

	reset_case();
	failed = held_until_s_sleeps("preempted owner", "jsyz");
	/* The same mutex: its spins have failed twice, and nothing has succeeded since. */
	failed += held_until_s_sleeps("hopeless spin", "jsz");
	kmutex_destroy(&lock);
	return failed;
}

/* One CPU: the OSQ's bound is then one spinner, whatever machine the test runs on. */
static void run_on_one_cpu(void)
{
	cpu_set_t cpus, one;

	CPU_ZERO(&one);
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &cpus)) {
				CPU_SET(c, &one);
				break;
			}
	if (CPU_COUNT(&one) != 1 || sched_setaffinity(0, sizeof(one), &one) != 0) {
		perror("spin_policy: cannot run on one CPU");
		exit(2);
	}
}

int main(void)
{
	struct sigaction sa;
	int failed = 0;

	run_on_one_cpu();           /* before the first spin, which reads the CPU count */
	kmutex_test_sched_view_off = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: the futex sleep returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sem_init(&s_decided, 0, 0);
	sem_init(&s_slept, 0, 0);
	sem_init(&w_asleep, 0, 0);
	sem_init(&w_handed, 0, 0);
	sem_init(&w_go, 0, 0);
	sem_init(&s1_spinning, 0, 0);
	sem_init(&s1_go, 0, 0);
	kmutex_test_hook = hook;
	failed += running_owner() != 0;
	failed += handed_over() != 0;
	failed += full_osq() != 0;
	failed += preempted_owner();
	printf("%d passed, %d failed\n", 5 - failed, failed);
	return failed != 0;
}
