/*
 * The POSIX rule kmutex keeps and the kernel does not: a thread that acquires and releases a
 * mutex may destroy and free it at once, even if another thread's unlock released it a moment
 * before (Documentation/locking/mutex-design.rst forbids this for the kernel's mutex, whose
 * unlock takes wait_lock after releasing the owner word).
 *
 * U unlocks with a waiter W queued and is parked at KMUTEX_TP_UNLOCK_RELEASED, after it released
 * the owner word and before its last access to the mutex (dropping wait_lock).  T then takes
 * the free lock and unlocks it.  T's unlock may return while U is parked only if a waiter is
 * still queued (WAITERS in the word): that waiter's lock call cannot return before it takes
 * wait_lock after U, and until it returns nobody may free the mutex.  (Since the AWAKE flag,
 * T's unlock does return: the head is awake, so T releases without wait_lock.)  W waits
 * interruptibly and is signalled while U is parked, so it runs then; it must not return from
 * its lock call while U is parked.  Finally W frees the mutex right after its own unlock; built with
 * AddressSanitizer, any later access by U or T would be reported.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "in_futex.h"
#include "kmutex.h"
#include "test_hooks.h"

static struct kmutex *mutex;
static sem_t u_locked, u_released, u_go;
static int t_acquired, t_unlocked; /* atomics: written by T, polled by main */
static uintptr_t t_word_after;     /* atomic: the owner word right after T's unlock */
static int w_returned;             /* atomic: W's lock call returned */
static long w_tid;                 /* atomic: set by W when it is about to sleep */
static const uint32_t *w_word;     /* W's wake word, published by the store of w_tid */
static __thread int is_u, is_w;

/* W is asleep in its futex wait (the only place it can block after KMUTEX_TP_WAITER_SLEEP). */
static int w_is_asleep(void)
{
	return thread_in_futex(__atomic_load_n(&w_tid, __ATOMIC_ACQUIRE), w_word);
}

static void hook(enum kmutex_test_point point, struct kmutex *lock)
{
	if (is_w && point == KMUTEX_TP_WAITER_SLEEP && lock == mutex) {
		is_w = 0;
		w_word = kmutex_test_wake_word();
		__atomic_store_n(&w_tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	}
	if (is_u && point == KMUTEX_TP_UNLOCK_RELEASED && lock == mutex) {
		is_u = 0;
		sem_post(&u_released);
		sem_wait(&u_go);
	}
}

static void on_signal(int sig)
{
	(void)sig;
}

static void *u_main(void *arg)
{
	(void)arg;
	kmutex_lock(mutex);
	sem_post(&u_locked);
	/* W must be asleep, so that only U's wakeup can let it compete for the lock. */
	while (!__atomic_load_n(&w_tid, __ATOMIC_ACQUIRE) || !w_is_asleep())
		sched_yield();
	is_u = 1;
	kmutex_unlock(mutex);
	return NULL;
}

static void *t_main(void *arg)
{
	(void)arg;
	while (!kmutex_trylock(mutex))
		sched_yield();
	__atomic_store_n(&t_acquired, 1, __ATOMIC_RELEASE);
	kmutex_unlock(mutex);
	__atomic_store_n(&t_word_after, kmutex_test_owner_word(mutex), __ATOMIC_RELAXED);
	__atomic_store_n(&t_unlocked, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *w_main(void *arg)
{
	(void)arg;
	is_w = 1;
	if (kmutex_lock_interruptible(mutex) == 0) /* or -EINTR: it was signalled */
		kmutex_unlock(mutex);
	__atomic_store_n(&w_returned, 1, __ATOMIC_RELEASE);
	/* The last user: destroy and free at once, as POSIX code does. */
	kmutex_destroy(mutex);
	free(mutex);
	return NULL;
}

int main(void)
{
	struct timespec pause = { 0, 1000 * 1000 };
	pthread_t u, t, w;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: the sleep ends */
	int early = 0, t_returned, failed;

	mutex = malloc(sizeof(*mutex));
	kmutex_init_flags(mutex, KMUTEX_NO_SPIN);
	sem_init(&u_locked, 0, 0);
	sem_init(&u_released, 0, 0);
	sem_init(&u_go, 0, 0);
	kmutex_test_hook = hook;
	sigaction(SIGUSR1, &sa, NULL);

	pthread_create(&u, NULL, u_main, NULL);
	sem_wait(&u_locked);
	pthread_create(&w, NULL, w_main, NULL);
	sem_wait(&u_released);
	pthread_create(&t, NULL, t_main, NULL);
	while (!__atomic_load_n(&t_acquired, __ATOMIC_ACQUIRE))
		nanosleep(&pause, NULL);
	/* W runs now, and must block on U's wait_lock; give both 100 ms to (wrongly) finish. */
	pthread_kill(w, SIGUSR1);
	for (int i = 0; i < 100 && !early; i++) {
		nanosleep(&pause, NULL);
		early = __atomic_load_n(&w_returned, __ATOMIC_ACQUIRE);
	}
	t_returned = __atomic_load_n(&t_unlocked, __ATOMIC_ACQUIRE);
	sem_post(&u_go);
	pthread_join(u, NULL);
	pthread_join(t, NULL);
	pthread_join(w, NULL);
	failed = early;
	if (early)
		fprintf(stderr, "FAIL: a waiter's lock call returned while an unlock still used the mutex\n");
	if (t_returned && !(__atomic_load_n(&t_word_after, __ATOMIC_RELAXED) & 1)) {
		fprintf(stderr, "FAIL: an unlock returned while the previous unlock still used the mutex, "
				"and no waiter was left to order a free after it\n");
		failed = 1;
	}
	printf("%d passed, %d failed\n", !failed, failed);
	return failed;
}
