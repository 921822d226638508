/*
 * krwsem misuse is stopped with one line on stderr, then abort():
 *     kmutex: <check> (rwsem 0x..., thread <tid>)
 * Each case runs in a child (fork + waitpid); the parent asserts that the child died of
 * SIGABRT and that its stderr is exactly that line, with the check string of CShims/krwsem.c,
 * the krwsem's address and the thread that misused it (misuse_harness.h, shared with
 * misuse.c).  (krwsem's checks are always on: every call goes through the library.)  Built
 * twice: the debug build (-DKMUTEX_DEBUG, the debug library) also checks the wait list and
 * the flags whenever wait_lock changes hands.
 */
#include "kmutex.h"

#include <stdint.h>

#include "misuse_harness.h"

/* Every case misuses this krwsem: the child has it at the same address as the parent. */
static struct krwsem victim;

/* A thread that takes the victim (for write if arg is non-NULL) and keeps it forever. */
static int other_holds; /* atomic */

static void *hold_forever(void *write)
{
	if (write)
		krwsem_down_write(&victim);
	else
		krwsem_down_read(&victim);
	__atomic_store_n(&other_holds, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

static void other_thread_holds(int write)
{
	pthread_t t;

	pthread_create(&t, NULL, hold_forever, write ? (void *)1 : NULL);
	while (!__atomic_load_n(&other_holds, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

/* ---- the cases (each runs in a child and should not return) ----------------------------- */

static void case_up_write_by_non_holder(void)
{
	krwsem_init(&victim);
	other_thread_holds(1);
	report_tid();
	krwsem_up_write(&victim);
}

static void case_up_write_unlocked(void)
{
	krwsem_init(&victim);
	report_tid();
	krwsem_up_write(&victim);
}

static void case_up_write_read_held(void)
{
	krwsem_init(&victim);
	krwsem_down_read(&victim);
	report_tid();
	krwsem_up_write(&victim);
}

static void case_up_read_unlocked(void)
{
	krwsem_init(&victim);
	krwsem_down_read(&victim);
	krwsem_up_read(&victim);
	report_tid();
	krwsem_up_read(&victim);
}

static void case_up_read_write_held_by_other(void)
{
	krwsem_init(&victim);
	other_thread_holds(1);
	report_tid();
	krwsem_up_read(&victim);
}

static void case_up_read_write_held_by_self(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_up_read(&victim);
}

static void case_recursive_write(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_down_write(&victim);
}

static void case_read_by_write_holder(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_down_read(&victim); /* would wait for itself: -EDEADLK for a layer, misuse here */
}

static void case_recursive_write_timeout(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	(void)krwsem_down_write_timeout(&victim, &deadline);
}

static void case_downgrade_unlocked(void)
{
	krwsem_init(&victim);
	report_tid();
	krwsem_downgrade_write(&victim);
}

static void case_downgrade_by_non_holder(void)
{
	krwsem_init(&victim);
	other_thread_holds(1);
	report_tid();
	krwsem_downgrade_write(&victim);
}

static void case_destroy_read_held(void)
{
	krwsem_init(&victim);
	other_thread_holds(0);
	report_tid();
	krwsem_destroy(&victim);
}

static void case_destroy_write_held(void)
{
	krwsem_init(&victim);
	krwsem_down_write(&victim);
	report_tid();
	krwsem_destroy(&victim);
}

/*
 * Destroy with a waiter queued and the lock free: a writer waits while we hold the write lock;
 * it is parked in a signal handler that never returns, so our unlock only marks its wakeup and
 * leaves the lock free with WAITERS set.
 */
static void write_victim(void)
{
	krwsem_down_write(&victim);
}

static int victim_has_waiters(void)
{
	return (victim.count & 2) != 0; /* WAITERS */
}

static void case_destroy_with_waiters(void)
{
	krwsem_init_flags(&victim, KRWSEM_NO_SPIN);
	krwsem_down_write(&victim);
	park_waiter(write_victim, victim_has_waiters);
	krwsem_up_write(&victim);
	if (krwsem_is_locked(&victim))
		child_fail("the parked waiter took the lock\n");
	report_tid();
	krwsem_destroy(&victim);
}

static void case_destroyed_down_read(void)
{
	krwsem_init(&victim);
	krwsem_destroy(&victim);
	report_tid();
	krwsem_down_read(&victim);
}

static void case_destroyed_down_write(void)
{
	krwsem_init(&victim);
	krwsem_destroy(&victim);
	report_tid();
	(void)krwsem_down_write_trylock(&victim);
}

static void case_destroyed_twice(void)
{
	krwsem_init(&victim);
	krwsem_destroy(&victim);
	report_tid();
	krwsem_destroy(&victim);
}

static void case_corrupted(void)
{
	memset(&victim, 0xa5, sizeof(victim));
	report_tid();
	krwsem_down_read(&victim);
}

static void case_unknown_flag(void)
{
	report_tid();
	krwsem_init_flags(&victim, 0x80);
}

static void case_null_deadline_read(void)
{
	krwsem_init(&victim);
	report_tid();
	(void)krwsem_down_read_timeout(&victim, NULL);
}

static void case_null_deadline_write(void)
{
	krwsem_init(&victim);
	report_tid();
	(void)krwsem_down_write_timeout(&victim, NULL);
}

#ifdef KMUTEX_DEBUG
/* Flag words the protocol never produces: HANDOFF with nobody waiting, WAITERS on an empty list. */
static void case_handoff_without_head(void)
{
	krwsem_init(&victim);
	__atomic_store_n(&victim.count, 0x4, __ATOMIC_RELAXED);
	report_tid();
	krwsem_down_write(&victim);
}

static void case_waiters_without_list(void)
{
	krwsem_init(&victim);
	__atomic_store_n(&victim.count, 0x2 | 0x100, __ATOMIC_RELAXED); /* a reader, WAITERS */
	report_tid();
	krwsem_up_read(&victim);
}
#endif

/* ---- the parent ------------------------------------------------------------------------- */

#define MISUSE_CASE(name, check) MISUSE_CASE_OF(name, check, "rwsem", &victim)

MISUSE_CASE(up_write_by_non_holder, "up_write by a thread that does not hold the write lock")
MISUSE_CASE(up_write_unlocked, "up_write of a krwsem that is not write-locked")
MISUSE_CASE(up_write_read_held, "up_write of a krwsem that is not write-locked")
MISUSE_CASE(up_read_unlocked, "up_read of a krwsem that is not read-locked")
MISUSE_CASE(up_read_write_held_by_other, "up_read of a krwsem that is not read-locked")
MISUSE_CASE(up_read_write_held_by_self, "up_read of a krwsem write-locked by the caller")
MISUSE_CASE(recursive_write, "recursive write lock by the holder")
MISUSE_CASE(recursive_write_timeout, "recursive write lock by the holder")
MISUSE_CASE(read_by_write_holder, "read lock by the write holder")
MISUSE_CASE(downgrade_unlocked, "downgrade_write of a krwsem that is not write-locked")
MISUSE_CASE(downgrade_by_non_holder,
	    "downgrade_write by a thread that does not hold the write lock")
MISUSE_CASE(destroy_read_held, "destroy of a locked krwsem")
MISUSE_CASE(destroy_write_held, "destroy of a locked krwsem")
MISUSE_CASE(destroy_with_waiters, "destroy of a krwsem with waiters")
MISUSE_CASE(destroyed_down_read, "use of a destroyed krwsem")
MISUSE_CASE(destroyed_down_write, "use of a destroyed krwsem")
MISUSE_CASE(destroyed_twice, "use of a destroyed krwsem")
MISUSE_CASE(corrupted, "use of an uninitialized or corrupted krwsem")
MISUSE_CASE(unknown_flag, "krwsem_init_flags: unknown flag")
MISUSE_CASE(null_deadline_read, "krwsem_down_read_timeout: NULL deadline")
MISUSE_CASE(null_deadline_write, "krwsem_down_write_timeout: NULL deadline")
#ifdef KMUTEX_DEBUG
MISUSE_CASE(handoff_without_head, "corrupted krwsem: HANDOFF set, not by the head waiter")
MISUSE_CASE(waiters_without_list, "corrupted krwsem: WAITERS disagrees with the wait list")
#endif

/* Correct use exits normally with nothing on stderr. */
static void correct_use(void)
{
	krwsem_init(&victim);
	krwsem_down_read(&victim);
	krwsem_down_read(&victim);
	krwsem_up_read(&victim);
	krwsem_up_read(&victim);
	krwsem_down_write(&victim);
	krwsem_downgrade_write(&victim);
	krwsem_up_read(&victim);
	krwsem_destroy(&victim);
	krwsem_init(&victim);
	krwsem_destroy(&victim);
}

static void test_correct_use_does_not_abort(void)
{
	expect_no_abort(correct_use);
}

int main(void)
{
	check_start(300);
#ifdef KMUTEX_DEBUG
	printf("krwsem misuse checks, debug build\n");
#else
	printf("krwsem misuse checks, release build\n");
#endif
	RUN(test_correct_use_does_not_abort);
	RUN(test_up_write_by_non_holder);
	RUN(test_up_write_unlocked);
	RUN(test_up_write_read_held);
	RUN(test_up_read_unlocked);
	RUN(test_up_read_write_held_by_other);
	RUN(test_up_read_write_held_by_self);
	RUN(test_read_by_write_holder);
	RUN(test_recursive_write);
	RUN(test_recursive_write_timeout);
	RUN(test_downgrade_unlocked);
	RUN(test_downgrade_by_non_holder);
	RUN(test_destroy_read_held);
	RUN(test_destroy_write_held);
	RUN(test_destroy_with_waiters);
	RUN(test_destroyed_down_read);
	RUN(test_destroyed_down_write);
	RUN(test_destroyed_twice);
	RUN(test_corrupted);
	RUN(test_unknown_flag);
	RUN(test_null_deadline_read);
	RUN(test_null_deadline_write);
#ifdef KMUTEX_DEBUG
	RUN(test_handoff_without_head);
	RUN(test_waiters_without_list);
#endif
	return check_finish();
}
