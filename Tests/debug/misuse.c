/*
 * Misuse is stopped with one line on stderr, then abort():
 *     kmutex: <check> (mutex 0x..., thread <tid>)
 * Each case runs in a child (fork + waitpid); the parent asserts that the child died of
 * SIGABRT and that its stderr is exactly that line, with the check string of CShims/kmutex.c,
 * the mutex's address and the thread that misused it (misuse_harness.h, shared with
 * rwsem_misuse.c).
 *
 * Built twice: against the release library (the checks on the slow paths, always on) and,
 * with -DKMUTEX_DEBUG, against the debug library, which also catches uninitialized and
 * destroyed mutexes that the release fast path cannot see.
 */
#include "kmutex.h"
#include "owner.h"
#include "wait_list.h"

#include <stdint.h>

#include "misuse_harness.h"

/* Every case misuses this mutex: the child has it at the same address as the parent. */
static struct kmutex victim;

/* ---- the cases (each runs in a child and should not return) --------------------------- */

static void *unlock_victim(void *arg)
{
	(void)arg;
	report_tid();
	kmutex_unlock(&victim);
	return NULL;
}

static void case_unlock_by_non_owner(void)
{
	pthread_t t;

	kmutex_init(&victim);
	kmutex_lock(&victim);
	pthread_create(&t, NULL, unlock_victim, NULL);
	pthread_join(t, NULL);
}

static void case_unlock_unlocked(void)
{
	kmutex_init(&victim);
	kmutex_lock(&victim);
	kmutex_unlock(&victim);
	report_tid();
	kmutex_unlock(&victim);
}

static void case_recursive_lock(void)
{
	kmutex_init(&victim);
	kmutex_lock(&victim);
	report_tid();
	kmutex_lock(&victim);
}

static void case_recursive_lock_interruptible(void)
{
	kmutex_init_flags(&victim, KMUTEX_NO_SPIN);
	kmutex_lock(&victim);
	report_tid();
	(void)kmutex_lock_interruptible(&victim);
}

static void case_recursive_lock_timeout(void)
{
	struct timespec deadline = mono_now();

	kmutex_init_flags(&victim, KMUTEX_NO_HANDOFF);
	kmutex_lock(&victim);
	report_tid();
	(void)kmutex_lock_timeout(&victim, &deadline);
}

static void case_destroy_locked_by_self(void)
{
	kmutex_init(&victim);
	kmutex_lock(&victim);
	report_tid();
	kmutex_destroy(&victim);
}

/* A thread that takes the victim and keeps it forever; returns once it holds it. */
static int other_holds; /* atomic */

static void *lock_victim_forever(void *arg)
{
	(void)arg;
	kmutex_lock(&victim);
	__atomic_store_n(&other_holds, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

static void other_thread_holds(void)
{
	pthread_t t;

	pthread_create(&t, NULL, lock_victim_forever, NULL);
	while (!__atomic_load_n(&other_holds, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

static void case_destroy_locked_by_other(void)
{
	kmutex_init(&victim);
	other_thread_holds();
	report_tid();
	kmutex_destroy(&victim);
}

/*
 * Destroy with a waiter on the list and the lock free: the waiter is parked inside a signal
 * handler that never returns while it sleeps on the wait list, so the unlock releases the
 * lock (keeping WAITERS) and the waiter cannot take it.
 */
static void lock_victim(void)
{
	kmutex_lock(&victim);
}

static void case_destroy_with_waiters(void)
{
	/* NO_HANDOFF: the unlock below must release, not hand the lock to the long waiter. */
	kmutex_init_flags(&victim, KMUTEX_NO_SPIN | KMUTEX_NO_HANDOFF);
	kmutex_lock(&victim);
	park_waiter(lock_victim, NULL);
	kmutex_unlock(&victim); /* free now, but the parked waiter is still queued */
	if (kmutex_is_locked(&victim))
		child_fail("the parked waiter took the lock\n");
	report_tid();
	kmutex_destroy(&victim);
}

static void case_corrupted(void)
{
	memset(&victim, 0xa5, sizeof(victim));
	report_tid();
	kmutex_lock(&victim);
}

static void case_corrupted_trylock(void)
{
	memset(&victim, 0x5a, sizeof(victim));
	report_tid();
	(void)kmutex_trylock(&victim);
}

static void case_unknown_flag(void)
{
	report_tid();
	kmutex_init_flags(&victim, 0x80);
}

static void case_null_deadline(void)
{
	kmutex_init(&victim);
	other_thread_holds();
	report_tid();
	(void)kmutex_lock_timeout(&victim, NULL);
}

/* Owner words the protocol never produces: flags of a handoff on a free lock, or an unlock by
 * the thread a handoff named before it picked the lock up. */
static void case_handoff_on_free_lock(void)
{
	kmutex_init(&victim);
	__atomic_store_n(&victim.owner, KMX_FLAG_HANDOFF, __ATOMIC_RELAXED);
	report_tid();
	kmutex_lock(&victim);
}

static void case_unlock_before_pickup(void)
{
	kmutex_init(&victim);
	__atomic_store_n(&victim.owner, (uintptr_t)kmutex__self() | KMX_FLAG_PICKUP, __ATOMIC_RELAXED);
	report_tid();
	kmutex_unlock(&victim);
}

#ifdef KMUTEX_DEBUG
/* The debug build checks the wait list whenever it takes wait_lock. */
static struct kmutex_waiter fake_head, fake_stray;
static struct kmutex_task *const fake_task = (struct kmutex_task *)(uintptr_t)0x1000;

static void case_corrupted_wait_list(void)
{
	kmutex_init(&victim);
	kmutex_lock(&victim);
	/* fake_head->next->prev is not fake_head */
	fake_head = (struct kmutex_waiter){ .next = &fake_head, .prev = &fake_stray, .task = fake_task };
	victim.wait_list = &fake_head;
	__atomic_fetch_or(&victim.owner, KMX_FLAG_WAITERS, __ATOMIC_RELAXED);
	report_tid();
	kmutex_unlock(&victim); /* waiters: takes wait_lock, which checks the list */
}

static void case_handed_to_non_head(void)
{
	kmutex_init_flags(&victim, KMUTEX_NO_SPIN);
	fake_head = (struct kmutex_waiter){ .next = &fake_head, .prev = &fake_head, .task = fake_task };
	victim.wait_list = &fake_head;
	/* handed (PICKUP) to a thread that is not the head waiter */
	__atomic_store_n(&victim.owner, (uintptr_t)fake_task * 2 | KMX_FLAG_PICKUP | KMX_FLAG_WAITERS,
			 __ATOMIC_RELAXED);
	report_tid();
	kmutex_lock(&victim); /* owned by another: queues, taking wait_lock, which checks */
}

/*
 * Memory never initialized, whose owner word happens to be zero (all zeros would be a valid
 * mutex).  Only the debug build sees these: the release fast path takes a zero owner word
 * without looking at the rest.
 */
static void fill_uninitialized(void)
{
	memset(&victim, 0xbe, sizeof(victim));
	victim.owner = 0;
}

static void case_uninitialized(void)
{
	fill_uninitialized();
	report_tid();
	kmutex_lock(&victim);
}

static void case_uninitialized_trylock(void)
{
	fill_uninitialized();
	report_tid();
	(void)kmutex_trylock(&victim);
}

static void case_destroyed_lock(void)
{
	kmutex_init(&victim);
	kmutex_destroy(&victim);
	report_tid();
	kmutex_lock(&victim);
}

static void case_destroyed_unlock(void)
{
	kmutex_init(&victim);
	kmutex_lock(&victim);
	kmutex_unlock(&victim);
	kmutex_destroy(&victim);
	report_tid();
	kmutex_unlock(&victim);
}

static void case_destroyed_twice(void)
{
	kmutex_init(&victim);
	kmutex_destroy(&victim);
	report_tid();
	kmutex_destroy(&victim);
}
#endif

/* ---- kcond misuse ---------------------------------------------------------------------- */

static struct kcond victim_cond;

static void case_cond_wait_unlocked(void)
{
	kmutex_init(&victim);
	kcond_init(&victim_cond);
	report_tid();
	kcond_wait(&victim_cond, &victim);
}

static void *cond_waiter(void *arg)
{
	kmutex_lock(&victim);
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
	kcond_wait(&victim_cond, &victim);
	kmutex_unlock(&victim);
	return NULL;
}

/* A waiter on victim_cond with victim; returns once it sleeps (the mutex is free again). */
static void start_cond_waiter(void)
{
	pthread_t t;
	int started = 0;

	kmutex_init(&victim);
	kcond_init(&victim_cond);
	pthread_create(&t, NULL, cond_waiter, &started);
	while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		sleep_us(100);
	kmutex_lock(&victim); /* the waiter released it inside kcond_wait: it is on the list */
	kmutex_unlock(&victim);
}

static void case_cond_destroy_with_waiters(void)
{
	start_cond_waiter();
	report_tid();
	kcond_destroy(&victim_cond);
}

static void case_cond_two_mutexes(void)
{
	static struct kmutex other;

	start_cond_waiter();
	kmutex_init(&other);
	kmutex_lock(&other);
	report_tid();
	kcond_wait(&victim_cond, &other);
}

static void case_cond_null_deadline(void)
{
	kmutex_init(&victim);
	kcond_init(&victim_cond);
	kmutex_lock(&victim);
	report_tid();
	(void)kcond_wait_timeout(&victim_cond, &victim, NULL);
}

/* ---- the parent: run a case in a child and check how it died ------------------------------ */

/* Each case misuses victim, the mutex. */
#define MISUSE_CASE(name, check) MISUSE_CASE_OF(name, check, "mutex", &victim)

MISUSE_CASE(unlock_by_non_owner, "unlock of a mutex owned by another thread")
MISUSE_CASE(unlock_unlocked, "unlock of an unlocked mutex")
MISUSE_CASE(recursive_lock, "recursive lock by the owner")
MISUSE_CASE(recursive_lock_interruptible, "recursive lock by the owner")
MISUSE_CASE(recursive_lock_timeout, "recursive lock by the owner")
MISUSE_CASE(destroy_locked_by_self, "destroy of a locked mutex")
MISUSE_CASE(destroy_locked_by_other, "destroy of a locked mutex")
MISUSE_CASE(destroy_with_waiters, "destroy of a mutex with waiters")
MISUSE_CASE(corrupted, "use of an uninitialized or corrupted mutex")
MISUSE_CASE(corrupted_trylock, "use of an uninitialized or corrupted mutex")
MISUSE_CASE(unknown_flag, "kmutex_init_flags: unknown flag")
MISUSE_CASE(null_deadline, "kmutex_lock_timeout: NULL deadline")
MISUSE_CASE(handoff_on_free_lock, "corrupted mutex: handoff flags on a free lock")
MISUSE_CASE(unlock_before_pickup, "corrupted mutex: unlock of a lock not yet picked up")
#ifdef KMUTEX_DEBUG
MISUSE_CASE(corrupted_wait_list, "corrupted mutex: wait list links broken")
MISUSE_CASE(handed_to_non_head, "corrupted mutex: handed to a thread that is not the head waiter")
MISUSE_CASE(uninitialized, "use of an uninitialized or corrupted mutex")
MISUSE_CASE(uninitialized_trylock, "use of an uninitialized or corrupted mutex")
MISUSE_CASE(destroyed_lock, "use of a destroyed mutex")
MISUSE_CASE(destroyed_unlock, "use of a destroyed mutex")
MISUSE_CASE(destroyed_twice, "use of a destroyed mutex")
#endif

MISUSE_CASE(cond_wait_unlocked, "kcond_wait: the mutex is not held by the caller")

/* These misuse victim_cond, the condition variable. */
#define COND_MISUSE_CASE(name, check) MISUSE_CASE_OF(name, check, "condvar", &victim_cond)

COND_MISUSE_CASE(cond_destroy_with_waiters, "destroy of a condition variable with waiters")
COND_MISUSE_CASE(cond_two_mutexes, "kcond_wait: two mutexes used with one condition variable at once")
COND_MISUSE_CASE(cond_null_deadline, "kcond_wait_timeout: NULL deadline")

/* Correct use in a child exits normally with nothing on stderr: the checks do not misfire. */
static void correct_use(void)
{
	kmutex_init(&victim);
	kmutex_lock(&victim);
	kmutex_unlock(&victim);
	kmutex_destroy(&victim);
	kmutex_init(&victim);
	kmutex_destroy(&victim);
}

static void test_correct_use_does_not_abort(void)
{
	expect_no_abort(correct_use);
}

int main(void)
{
	check_start(300);
#ifdef KMUTEX_DEBUG
	printf("misuse checks, debug build\n");
#else
	printf("misuse checks, release build\n");
#endif
	RUN(test_correct_use_does_not_abort);
	RUN(test_unlock_by_non_owner);
	RUN(test_unlock_unlocked);
	RUN(test_recursive_lock);
	RUN(test_recursive_lock_interruptible);
	RUN(test_recursive_lock_timeout);
	RUN(test_destroy_locked_by_self);
	RUN(test_destroy_locked_by_other);
	RUN(test_destroy_with_waiters);
	RUN(test_corrupted);
	RUN(test_corrupted_trylock);
	RUN(test_unknown_flag);
	RUN(test_null_deadline);
	RUN(test_handoff_on_free_lock);
	RUN(test_unlock_before_pickup);
	RUN(test_cond_wait_unlocked);
	RUN(test_cond_destroy_with_waiters);
	RUN(test_cond_two_mutexes);
	RUN(test_cond_null_deadline);
#ifdef KMUTEX_DEBUG
	RUN(test_corrupted_wait_list);
	RUN(test_handed_to_non_head);
	RUN(test_uninitialized);
	RUN(test_uninitialized_trylock);
	RUN(test_destroyed_lock);
	RUN(test_destroyed_unlock);
	RUN(test_destroyed_twice);
#endif
	return check_finish();
}
