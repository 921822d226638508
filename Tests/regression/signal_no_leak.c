/*
 * A signal that interrupts one interruptible sleep belongs to that wait only.  Here the wait
 * it interrupted wins the lock anyway (the head set HANDOFF, and the unlock hands the lock to
 * it, which the trylock before the signal check picks up).  The thread's next interruptible
 * lock, with no signal anywhere near it, must then wait normally, not fail with a stale -EINTR.
 * (Found in review: the futex EINTR used to be kept in the per-thread pending flag that only
 * kmutex_interrupt_self() should set.)
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kmutex.h"
#include "in_futex.h"
#include "test_hooks.h"

static struct kmutex lock;
static sem_t w_sleeping, w_parked, w_resume, phase2;
static long w_tid;       /* atomic */
static const uint32_t *w_word; /* W's wake word, set before w_sleeping is posted */
static int first_wait = 1, parked_once, slept_once; /* W's own */
static int r1, r2, w_done; /* w_done atomic */

static void on_usr1(int sig) { (void)sig; } /* does not call kmutex_interrupt_self() */

static void hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l != &lock || syscall(SYS_gettid) != __atomic_load_n(&w_tid, __ATOMIC_ACQUIRE) || !first_wait)
		return;
	if (point == KMUTEX_TP_WAITER_SLEEP && !slept_once++) {
		w_word = kmutex_test_wake_word();
		sem_post(&w_sleeping);
	}
	if (point == KMUTEX_TP_WAITER_RETRY && !parked_once++) {
		sem_post(&w_parked);
		sem_wait(&w_resume);
	}
}

/* W is blocked in the futex syscall (after the sleep point nothing else can block it). */
static int w_in_futex(void)
{
	return thread_in_futex(__atomic_load_n(&w_tid, __ATOMIC_ACQUIRE), w_word);
}

static void *w_main(void *arg)
{
	(void)arg;
	__atomic_store_n(&w_tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	r1 = kmutex_lock_interruptible(&lock);
	if (r1 == 0)
		kmutex_unlock(&lock);
	first_wait = 0;
	sem_wait(&phase2);
	r2 = kmutex_lock_interruptible(&lock);
	__atomic_store_n(&w_done, 1, __ATOMIC_RELEASE);
	if (r2 == 0)
		kmutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	pthread_t w;
	int failed;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sem_init(&w_sleeping, 0, 0);
	sem_init(&w_parked, 0, 0);
	sem_init(&w_resume, 0, 0);
	sem_init(&phase2, 0, 0);
	kmutex_init_flags(&lock, KMUTEX_NO_SPIN);
	kmutex_test_hook = hook;

	kmutex_lock(&lock);
	pthread_create(&w, NULL, w_main, NULL);
	sem_wait(&w_sleeping);
	while (!w_in_futex())
		sched_yield();
	pthread_kill(w, SIGUSR1);  /* W's sleep ends in EINTR; W sets HANDOFF, fails, parks */
	sem_wait(&w_parked);
	kmutex_unlock(&lock);      /* handed to W */
	sem_post(&w_resume);       /* W picks it up: r1 == 0 */

	kmutex_lock(&lock);        /* phase 2: W's next wait has to wait, no signal is sent */
	sem_post(&phase2);
	while (!__atomic_load_n(&w_done, __ATOMIC_ACQUIRE) && !w_in_futex())
		sched_yield();
	kmutex_unlock(&lock);
	pthread_join(w, NULL);

	failed = (r1 != 0) + (r2 != 0);
	if (r1 != 0)
		fprintf(stderr, "FAIL: the signalled wait should pick up the handed-off lock, got %d\n", r1);
	if (r2 != 0)
		fprintf(stderr, "FAIL: a later wait with no signal returned %d (a stale interruption)\n", r2);
	printf("%d passed, %d failed\n", 2 - failed, failed);
	return failed != 0;
}
