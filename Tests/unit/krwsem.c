/*
 * Unit tests of every call and return code of CShims/include/krwsem.h.
 *
 * Contended cases use "actor" threads that make one call and, if it took the lock, hold it
 * until told to let go, so the test meets a krwsem held by someone else.  No test has a timing
 * threshold: where a call must wait, the test checks only that it has not returned yet, or
 * that it returned after its deadline; where a test must wait for another thread to reach a
 * state, it waits for that state (with a long patience that only catches hangs).  Tests peek
 * at the private count word (CShims/krwsem.c: bit 1 WAITERS, readers from bit 8) only to see
 * that a waiter has queued.
 */
#include "kmutex.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define COUNT_WAITERS 0x2ull
#define COUNT_READER  0x100ull

static uint64_t count_word(const struct krwsem *s)
{
	return __atomic_load_n(&s->count, __ATOMIC_RELAXED); /* a snapshot */
}

/* For wait_until(has_waiters, s): a waiter has queued on the krwsem s. */
static int has_waiters(const void *s)
{
	return (count_word(s) & COUNT_WAITERS) != 0;
}

/* ---- actors: a thread that makes one call, and holds what it got until told -------------- */

enum op {
	READ, READ_TRY, READ_INTR, READ_TIMEOUT,
	WRITE, WRITE_TRY, WRITE_INTR, WRITE_TIMEOUT,
};

struct actor {
	struct krwsem *s;
	enum op op;
	struct timespec deadline;
	int interrupt_first; /* call kmutex_interrupt_self() before the call */
	pthread_t thread;
	int started, done, holding, release; /* atomic */
	int result;          /* 0 or -errno (trylock: 0 taken, -EBUSY not) */
	int saved_errno;
	struct timespec returned_at;
};

static int is_write(enum op op)
{
	return op >= WRITE;
}

static void *actor_main(void *arg)
{
	struct actor *a = arg;
	int r = 0;

	if (a->interrupt_first)
		kmutex_interrupt_self();
	__atomic_store_n(&a->started, 1, __ATOMIC_RELEASE);
	errno = 4242;
	switch (a->op) {
	case READ: krwsem_down_read(a->s); break;
	case READ_TRY: r = krwsem_down_read_trylock(a->s) ? 0 : -EBUSY; break;
	case READ_INTR: r = krwsem_down_read_interruptible(a->s); break;
	case READ_TIMEOUT: r = krwsem_down_read_timeout(a->s, &a->deadline); break;
	case WRITE: krwsem_down_write(a->s); break;
	case WRITE_TRY: r = krwsem_down_write_trylock(a->s) ? 0 : -EBUSY; break;
	case WRITE_INTR: r = krwsem_down_write_interruptible(a->s); break;
	case WRITE_TIMEOUT: r = krwsem_down_write_timeout(a->s, &a->deadline); break;
	}
	a->saved_errno = errno;
	a->result = r;
	a->returned_at = mono_now();
	if (r == 0) {
		__atomic_store_n(&a->holding, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&a->release, __ATOMIC_ACQUIRE))
			sleep_us(100);
		if (is_write(a->op))
			krwsem_up_write(a->s);
		else
			krwsem_up_read(a->s);
	}
	/* RELEASE: result and the rest are read by the test after it sees done. */
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void actor_start(struct actor *a, struct krwsem *s, enum op op)
{
	a->s = s;
	a->op = op;
	if (pthread_create(&a->thread, NULL, actor_main, a) != 0)
		abort();
	while (!__atomic_load_n(&a->started, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

/* Start an actor and wait until it holds the lock; 0 if it did not. */
static int actor_hold(struct actor *a, struct krwsem *s, enum op op)
{
	actor_start(a, s, op);
	return wait_flag(&a->holding);
}

/* Let the actor release what it holds (if anything) and join it. */
static void actor_finish(struct actor *a)
{
	__atomic_store_n(&a->release, 1, __ATOMIC_RELEASE);
	pthread_join(a->thread, NULL);
}

/* Release every actor first, then join: one may still wait for the lock another holds. */
static void actors_finish(struct actor *const *list, int n)
{
	for (int i = 0; i < n; i++)
		__atomic_store_n(&list[i]->release, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < n; i++)
		pthread_join(list[i]->thread, NULL);
}

/* ---- initialization --------------------------------------------------------------------- */

static DEFINE_KRWSEM(static_sem);

static void test_define_and_initializer(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;

	CHECK(static_sem.name != NULL && strcmp(static_sem.name, "static_sem") == 0);
	CHECK(krwsem_is_locked(&static_sem) == 0);
	krwsem_down_write(&static_sem);
	CHECK(krwsem_is_locked(&static_sem) == 1);
	krwsem_up_write(&static_sem);
	CHECK(krwsem_is_locked(&s) == 0);
	krwsem_down_read(&s);
	CHECK(krwsem_is_locked(&s) == 1);
	krwsem_up_read(&s);
	CHECK(krwsem_is_locked(&s) == 0);
	krwsem_destroy(&s);
}

/*
 * The layout libkmutex-pthread relies on, and all zeros as a valid krwsem, also with a layered
 * API's tag in options' low bits, as glibc's PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
 * leaves 2 at offset 48.
 */
static void test_layout_and_zero_fill(void)
{
	union {
		struct krwsem s;
		unsigned char bytes[56];
	} u;
	struct actor r = { 0 };

	_Static_assert(sizeof(struct krwsem) <= 56, "fits a pthread_rwlock_t");
	_Static_assert(offsetof(struct krwsem, options) == 48, "options at glibc's __flags");
	CHECK(_Alignof(struct krwsem) <= 8);
	memset(&u, 0, sizeof(u));
	u.bytes[48] = 2;
	CHECK((u.s.options & 0xff) == 2);
	krwsem_down_write(&u.s);
	actor_start(&r, &u.s, READ);
	CHECK(wait_until(has_waiters, &u.s));
	krwsem_up_write(&u.s);
	CHECK(wait_flag(&r.holding));
	actor_finish(&r);
	CHECK(krwsem_is_locked(&u.s) == 0);
	CHECK(u.bytes[48] == 2); /* the core never touched the tag */
	krwsem_destroy(&u.s);
}

static int init_site_line;

static void init_at_one_site(struct krwsem *s)
{
	krwsem_init(s); init_site_line = __LINE__; /* one line: the macro's __LINE__ */
}

static void test_init_names(void)
{
	struct krwsem a, b, c, d;
	char want[64], buf[32];

	init_at_one_site(&a);
	init_at_one_site(&b);
	snprintf(want, sizeof(want), "krwsem.c:%d", init_site_line);
	CHECK(a.name != NULL && a.name == b.name && strstr(a.name, want) != NULL);
	krwsem_init_flags(&c, KRWSEM_NO_SPIN);
	CHECK(c.name != NULL && c.name != a.name);
	(krwsem_init)(&d);
	CHECK(d.name == NULL);
	strcpy(buf, "cache lock");
	krwsem_set_name(&a, buf);
	strcpy(buf, "other");
	krwsem_set_name(&b, "cache lock");
	CHECK(a.name == b.name && strcmp(a.name, "cache lock") == 0);
	krwsem_set_name(&b, NULL);
	CHECK(b.name == NULL);
	krwsem_destroy(&a);
	krwsem_destroy(&b);
	krwsem_destroy(&c);
	krwsem_destroy(&d);
}

/* Both flag settings, every call uncontended; destroy and init again, many times. */
static void test_init_flags_and_reinit(void)
{
	struct krwsem s;
	struct timespec deadline = ts_add_ns(mono_now(), 1000000000LL);

	for (int i = 0; i < 20; i++) {
		krwsem_init_flags(&s, (i & 1) ? KRWSEM_NO_SPIN : 0);
		krwsem_down_read(&s);
		krwsem_up_read(&s);
		CHECK(krwsem_down_read_trylock(&s) == 1);
		krwsem_up_read(&s);
		CHECK(krwsem_down_read_interruptible(&s) == 0);
		krwsem_up_read(&s);
		CHECK(krwsem_down_read_timeout(&s, &deadline) == 0);
		krwsem_up_read(&s);
		krwsem_down_write(&s);
		krwsem_up_write(&s);
		CHECK(krwsem_down_write_trylock(&s) == 1);
		krwsem_up_write(&s);
		CHECK(krwsem_down_write_interruptible(&s) == 0);
		krwsem_up_write(&s);
		CHECK(krwsem_down_write_timeout(&s, &deadline) == 0);
		krwsem_up_write(&s);
		CHECK(krwsem_is_locked(&s) == 0);
		CHECK(count_word(&s) == 0);
		krwsem_destroy(&s);
	}
}

/* ---- read side ------------------------------------------------------------------------- */

/* Readers share: two other threads and this one hold it at once. */
static void test_readers_share(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor a = { 0 }, b = { 0 };

	CHECK(actor_hold(&a, &s, READ));
	CHECK(actor_hold(&b, &s, READ_INTR));
	CHECK(krwsem_down_read_trylock(&s) == 1);
	CHECK(krwsem_read_held_by_self(&s) == 1);
	CHECK(krwsem_write_held_by_self(&s) == 0);
	CHECK(count_word(&s) >> 8 == 3);
	krwsem_up_read(&s);
	CHECK(krwsem_read_held_by_self(&s) == 0);
	CHECK(krwsem_down_write_trylock(&s) == 0);
	actor_finish(&a);
	actor_finish(&b);
	CHECK(a.result == 0 && b.result == 0);
	CHECK(krwsem_is_locked(&s) == 0);
	krwsem_destroy(&s);
}

static void test_read_waits_for_writer(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor r = { 0 };

	krwsem_down_write(&s);
	CHECK(krwsem_write_held_by_self(&s) == 1);
	CHECK(krwsem_down_read_trylock(&s) == 0);
	actor_start(&r, &s, READ);
	CHECK(wait_until(has_waiters, &s));
	CHECK(!flag_set(&r.holding));
	krwsem_up_write(&s);
	CHECK(wait_flag(&r.holding));
	CHECK(krwsem_down_write_trylock(&s) == 0);
	actor_finish(&r);
	CHECK(krwsem_is_locked(&s) == 0 && count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* Trylock for read: taken when free or read-held; refused by a writer, or by queued waiters
 * unless the caller already reads. */
static void test_read_trylock(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor w = { 0 }, r = { 0 }, q = { 0 }, t1 = { 0 }, t2 = { 0 };

	CHECK(krwsem_down_read_trylock(&s) == 1);
	krwsem_up_read(&s);
	CHECK(actor_hold(&w, &s, WRITE));
	CHECK(krwsem_down_read_trylock(&s) == 0);
	CHECK(krwsem__down_read_try(&s) == -EBUSY);
	actor_finish(&w);
	CHECK(actor_hold(&r, &s, READ));
	CHECK(krwsem_down_read_trylock(&s) == 1);   /* read-held by another: shared */
	actor_start(&q, &s, WRITE);                  /* a writer queues behind the readers */
	CHECK(wait_until(has_waiters, &s));
	CHECK(krwsem_down_read_trylock(&s) == 1);   /* we read already: recursive, let in */
	krwsem_up_read(&s);
	krwsem_up_read(&s);
	actor_start(&t1, &s, READ_TRY);              /* a thread holding nothing: refused */
	CHECK(wait_flag(&t1.done));
	CHECK(t1.result == -EBUSY);
	actor_finish(&r);
	CHECK(wait_flag(&q.holding));
	actor_start(&t2, &s, READ_TRY);
	CHECK(wait_flag(&t2.done));
	CHECK(t2.result == -EBUSY);
	actor_finish(&q);
	actor_finish(&t1);
	actor_finish(&t2);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* ---- write side -------------------------------------------------------------------------- */

static void test_write_waits_for_readers(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor r1 = { 0 }, r2 = { 0 }, w = { 0 };

	CHECK(actor_hold(&r1, &s, READ));
	CHECK(actor_hold(&r2, &s, READ));
	actor_start(&w, &s, WRITE);
	CHECK(wait_until(has_waiters, &s));
	actor_finish(&r1);
	sleep_us(2000);
	CHECK(!flag_set(&w.holding)); /* one reader left: still excluded */
	actor_finish(&r2);
	CHECK(wait_flag(&w.holding));
	CHECK(krwsem_down_read_trylock(&s) == 0);
	CHECK(krwsem_write_held_by_self(&s) == 0); /* held by w, not by us */
	actor_finish(&w);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

static void test_write_trylock(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor r = { 0 }, w = { 0 };

	CHECK(krwsem_down_write_trylock(&s) == 1);
	CHECK(krwsem_down_write_trylock(&s) == 0);   /* by the holder: not recursive */
	CHECK(krwsem__down_write_try(&s) == -EBUSY);
	krwsem_up_write(&s);
	CHECK(actor_hold(&r, &s, READ));
	CHECK(krwsem_down_write_trylock(&s) == 0);
	actor_finish(&r);
	CHECK(actor_hold(&w, &s, WRITE));
	CHECK(krwsem_down_write_trylock(&s) == 0);
	actor_finish(&w);
	CHECK(krwsem_down_write_trylock(&s) == 1);
	krwsem_up_write(&s);
	krwsem_destroy(&s);
}

/* Writers exclude each other. */
static void test_writers_exclude(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor w1 = { 0 }, w2 = { 0 };

	CHECK(actor_hold(&w1, &s, WRITE));
	actor_start(&w2, &s, WRITE_INTR);
	CHECK(wait_until(has_waiters, &s));
	CHECK(!flag_set(&w2.holding));
	actor_finish(&w1);
	CHECK(wait_flag(&w2.holding));
	actor_finish(&w2);
	CHECK(w2.result == 0 && count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* ---- timeouts ------------------------------------------------------------------------------ */

static void timeout_case(enum op holder_op, enum op op)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor h = { 0 }, a = { 0 };

	CHECK(actor_hold(&h, &s, holder_op));
	a.deadline = ts_add_ns(mono_now(), 30 * 1000000LL);
	actor_start(&a, &s, op);
	CHECK(wait_flag(&a.done));
	CHECK(a.result == -ETIMEDOUT);
	CHECK(a.saved_errno == 4242);
	CHECK(ts_after_eq(a.returned_at, a.deadline));
	actor_finish(&h);
	actor_finish(&a);
	CHECK(count_word(&s) == 0); /* no flag, no bias left behind */
	krwsem_destroy(&s);
}

static void test_read_timeout_behind_writer(void) { timeout_case(WRITE, READ_TIMEOUT); }
static void test_write_timeout_behind_reader(void) { timeout_case(READ, WRITE_TIMEOUT); }
static void test_write_timeout_behind_writer(void) { timeout_case(WRITE, WRITE_TIMEOUT); }

/* A deadline already past still takes a free lock; a far one waits and gets it. */
static void test_timeout_free_and_granted(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct timespec past = ts_add_ns(mono_now(), -1000000000LL);
	struct actor h = { 0 }, r = { 0 }, w = { 0 };

	CHECK(krwsem_down_read_timeout(&s, &past) == 0);
	krwsem_up_read(&s);
	CHECK(krwsem_down_write_timeout(&s, &past) == 0);
	krwsem_up_write(&s);

	CHECK(actor_hold(&h, &s, WRITE));
	r.deadline = w.deadline = ts_add_ns(mono_now(), 60 * 1000000000LL);
	actor_start(&r, &s, READ_TIMEOUT);
	actor_start(&w, &s, WRITE_TIMEOUT);
	CHECK(wait_until(has_waiters, &s));
	actor_finish(&h);
	CHECK(wait_flag(&r.holding) || wait_flag(&w.holding));
	actors_finish((struct actor *[]){ &r, &w }, 2);
	CHECK(r.result == 0 && w.result == 0);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* tv_nsec out of range: -EINVAL when the call has to wait; a free lock is still taken. */
static void test_timeout_einval(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct timespec bad[2] = { { 1, -1 }, { 1, 1000000000L } };
	struct actor h = { 0 };

	for (int i = 0; i < 2; i++) {
		CHECK(krwsem_down_read_timeout(&s, &bad[i]) == 0);
		krwsem_up_read(&s);
		CHECK(krwsem_down_write_timeout(&s, &bad[i]) == 0);
		krwsem_up_write(&s);
	}
	CHECK(actor_hold(&h, &s, WRITE));
	for (int i = 0; i < 2; i++) {
		CHECK(krwsem_down_read_timeout(&s, &bad[i]) == -EINVAL);
		CHECK(krwsem_down_write_timeout(&s, &bad[i]) == -EINVAL);
	}
	actor_finish(&h);
	CHECK(count_word(&s) == 0); /* the read attempt's bias went back out */
	krwsem_destroy(&s);
}

/* ---- interruptions ------------------------------------------------------------------------- */

/* A handler that runs while the caller sleeps ends its wait with -EINTR; the signal is
 * repeated until the call returns (one that lands while it still spins may be lost). */
static void interrupt_case(enum op holder_op, enum op op, void (*handler)(int), int sa_flags)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor h = { 0 }, a = { 0 };

	install_handler(SIGUSR1, handler, sa_flags);
	CHECK(actor_hold(&h, &s, holder_op));
	actor_start(&a, &s, op);
	int returned = signal_until_done(a.thread, SIGUSR1, &a.done);
	actor_finish(&h);
	actor_finish(&a);
	install_handler(SIGUSR1, SIG_DFL, 0);
	CHECK(returned);
	CHECK(a.result == -EINTR);
	CHECK(a.saved_errno == 4242);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

static void test_read_interrupted(void) { interrupt_case(WRITE, READ_INTR, noop_handler, 0); }
static void test_read_interrupted_restart(void)
{
	interrupt_case(WRITE, READ_INTR, interrupt_handler, SA_RESTART);
}
static void test_write_interrupted(void)
{
	interrupt_case(READ, WRITE_INTR, noop_handler, SA_RESTART);
}
static void test_write_interrupted_self(void)
{
	interrupt_case(WRITE, WRITE_INTR, interrupt_handler, 0);
}

/* An interruption made pending before the call ends a wait that has to wait (and is consumed
 * by it); a free lock is taken regardless. */
static void test_pending_interruption(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor h = { 0 }, r = { 0 }, w = { 0 }, f = { 0 };

	CHECK(actor_hold(&h, &s, WRITE));
	r.interrupt_first = w.interrupt_first = 1;
	actor_start(&r, &s, READ_INTR);
	actor_start(&w, &s, WRITE_INTR);
	CHECK(wait_flag(&r.done) && wait_flag(&w.done));
	CHECK(r.result == -EINTR && w.result == -EINTR);
	actor_finish(&h);
	f.interrupt_first = 1;
	CHECK(actor_hold(&f, &s, READ_INTR));
	actor_finish(&f);
	actor_finish(&r);
	actor_finish(&w);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* Plain and timed waits ignore interruptions. */
static void test_plain_waits_ignore_interruptions(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor h = { 0 }, r = { 0 }, w = { 0 }, t = { 0 };

	install_handler(SIGUSR1, interrupt_handler, 0);
	CHECK(actor_hold(&h, &s, WRITE));
	t.deadline = ts_add_ns(mono_now(), 60 * 1000000000LL);
	actor_start(&r, &s, READ);
	actor_start(&w, &s, WRITE);
	actor_start(&t, &s, READ_TIMEOUT);
	CHECK(wait_until(has_waiters, &s));
	for (int i = 0; i < 20; i++) {
		pthread_kill(r.thread, SIGUSR1);
		pthread_kill(w.thread, SIGUSR1);
		pthread_kill(t.thread, SIGUSR1);
		sleep_us(1000);
	}
	CHECK(!flag_set(&r.done) && !flag_set(&w.done) && !flag_set(&t.done));
	actor_finish(&h);
	CHECK(wait_flag(&r.holding) || wait_flag(&w.holding));
	actors_finish((struct actor *[]){ &r, &w, &t }, 3);
	install_handler(SIGUSR1, SIG_DFL, 0);
	CHECK(r.result == 0 && w.result == 0 && t.result == 0);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* ---- the reader batch, downgrade, recursion ------------------------------------------------- */

/* Readers queued behind a writer are let in together by its unlock: all hold at once. */
static void test_reader_batch(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor r[4];

	memset(r, 0, sizeof(r));
	krwsem_down_write(&s);
	for (int i = 0; i < 4; i++)
		actor_start(&r[i], &s, i % 2 ? READ : READ_INTR);
	CHECK(wait_until(has_waiters, &s));
	sleep_us(2000);
	krwsem_up_write(&s);
	for (int i = 0; i < 4; i++)
		CHECK(wait_flag(&r[i].holding));
	CHECK(count_word(&s) >> 8 == 4);
	for (int i = 0; i < 4; i++)
		actor_finish(&r[i]);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* downgrade_write: still excludes writers, lets queued readers in, never sleeps. */
static void test_downgrade(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor r = { 0 }, w = { 0 };

	krwsem_down_write(&s);
	actor_start(&r, &s, READ);
	CHECK(wait_until(has_waiters, &s));
	krwsem_downgrade_write(&s);
	CHECK(krwsem_write_held_by_self(&s) == 0);
	CHECK(krwsem_read_held_by_self(&s) == 1);
	CHECK(wait_flag(&r.holding)); /* the queued reader joins us */
	actor_start(&w, &s, WRITE);
	sleep_us(2000);
	CHECK(!flag_set(&w.holding));
	krwsem_up_read(&s);
	actor_finish(&r);
	CHECK(wait_flag(&w.holding));
	actor_finish(&w);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/*
 * Recursive reads never deadlock: with a writer queued (which stops new readers), a thread that
 * already reads gets the lock again, by every read call.  Without the rule each call here would
 * wait for the writer, which waits for us: the timed calls would time out, the others hang.
 */
static void test_recursive_read_with_waiting_writer(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor w = { 0 }, other = { 0 };
	struct timespec far = ts_add_ns(mono_now(), 10 * 1000000000LL);

	krwsem_down_read(&s);
	actor_start(&w, &s, WRITE);
	CHECK(wait_until(has_waiters, &s));
	CHECK(krwsem_down_read_timeout(&s, &far) == 0);
	CHECK(krwsem_down_read_interruptible(&s) == 0);
	CHECK(krwsem_down_read_trylock(&s) == 1);
	krwsem_down_read(&s);
	CHECK(count_word(&s) >> 8 == 5);
	other.deadline = ts_add_ns(mono_now(), 20 * 1000000LL);
	actor_start(&other, &s, READ_TIMEOUT); /* a thread that holds nothing waits its turn */
	CHECK(wait_flag(&other.done));
	CHECK(other.result == -ETIMEDOUT);
	for (int i = 0; i < 5; i++)
		krwsem_up_read(&s);
	CHECK(krwsem_read_held_by_self(&s) == 0);
	CHECK(wait_flag(&w.holding));
	actor_finish(&w);
	actor_finish(&other);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* Beyond KRWSEM_READ_HELD_SLOTS holds, the thread counts as a reader of every krwsem until it
 * is back under: the documented overflow rule. */
static void test_read_record_overflow(void)
{
	enum { N = KRWSEM_READ_HELD_SLOTS + 3 };
	struct krwsem s[N + 1];

	/* The function, not the macro: each krwsem its own lockdep class, as they are read-held
	 * together (one class held twice is "recursive locking" to lockdep, as in the kernel). */
	for (int i = 0; i <= N; i++)
		(krwsem_init)(&s[i]);
	for (int i = 0; i < N; i++)
		krwsem_down_read(&s[i]);
	for (int i = 0; i < N; i++)
		CHECK(krwsem_read_held_by_self(&s[i]) == 1);
	CHECK(krwsem_read_held_by_self(&s[N]) == 1); /* untracked holds: any krwsem */
	for (int i = 0; i < N; i++)
		krwsem_up_read(&s[i]);
	CHECK(krwsem_read_held_by_self(&s[N]) == 0);
	for (int i = 0; i < N; i++)
		CHECK(krwsem_read_held_by_self(&s[i]) == 0);
	/* Out of order releases too. */
	for (int i = 0; i < 4; i++)
		krwsem_down_read(&s[i]);
	krwsem_up_read(&s[1]);
	CHECK(krwsem_read_held_by_self(&s[1]) == 0 && krwsem_read_held_by_self(&s[3]) == 1);
	krwsem_up_read(&s[0]);
	krwsem_up_read(&s[3]);
	krwsem_up_read(&s[2]);
	for (int i = 0; i <= N; i++) {
		CHECK(krwsem_read_held_by_self(&s[i]) == 0);
		krwsem_destroy(&s[i]);
	}
}

/* A read lock may be released by another thread, as glibc allows. */
static void *release_read_elsewhere(void *arg)
{
	krwsem_up_read(arg);
	return NULL;
}

static void test_read_released_by_other_thread(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	pthread_t t;

	krwsem_down_read(&s);
	pthread_create(&t, NULL, release_read_elsewhere, &s);
	pthread_join(t, NULL);
	CHECK(krwsem_is_locked(&s) == 0);
	CHECK(krwsem_down_write_trylock(&s) == 1);
	krwsem_up_write(&s);
	krwsem_destroy(&s);
}

/* The write holder asking again, through the layered calls: -EDEADLK, on every path that
 * would wait (the drop-in's EDEADLK), and the lock left exactly as it was. */
static void test_layered_edeadlk(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 5;
	CHECK(krwsem__down_write(&s, 0, NULL) == 0);
	CHECK(krwsem__down_read(&s, 0, NULL) == -EDEADLK);
	CHECK(krwsem__down_read(&s, KMUTEX__TIMED, &deadline) == -EDEADLK);
	CHECK(krwsem__down_write(&s, 0, NULL) == -EDEADLK);
	CHECK(krwsem__down_write(&s, KMUTEX__INTERRUPTIBLE, NULL) == -EDEADLK);
	CHECK(krwsem__down_read_try(&s) == -EBUSY);
	CHECK(krwsem__down_write_try(&s) == -EBUSY);
	CHECK(count_word(&s) == 0x1ull); /* WRITER_LOCKED alone */
	krwsem_up_write(&s);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* The reader count's guard: at 2^55 - 1 readers, read calls report -EAGAIN (0 from the plain
 * trylock) and leave the count as it was. */
static void test_reader_overflow(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	const uint64_t full = ((1ull << 55) - 1) << 8;

	__atomic_store_n(&s.count, full, __ATOMIC_RELAXED); /* as if that many readers held it */
	CHECK(krwsem_is_locked(&s) == 1);
	CHECK(krwsem__down_read_try(&s) == -EAGAIN);
	CHECK(krwsem_down_read_trylock(&s) == 0);
	CHECK(krwsem__down_read(&s, 0, NULL) == -EAGAIN);
	CHECK(krwsem_down_read_interruptible(&s) == -EAGAIN);
	CHECK(krwsem_down_write_trylock(&s) == 0);
	CHECK(count_word(&s) == full);
	__atomic_store_n(&s.count, COUNT_READER, __ATOMIC_RELAXED); /* one reader left */
	CHECK(krwsem_down_read_trylock(&s) == 1);
	krwsem_up_read(&s);
	krwsem_up_read(&s);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* The layered API (for libkmutex-pthread): every outcome as a code, deadlines on either clock. */
static void test_layered_api_codes(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor h = { 0 };
	struct timespec rt, mono, bad = { 1, 1000000000L };

	CHECK(krwsem__down_read_try(&s) == 0);
	CHECK(krwsem__down_write_try(&s) == -EBUSY);
	krwsem_up_read(&s);
	CHECK(krwsem__down_write_try(&s) == 0);
	CHECK(krwsem_write_held_by_self(&s) == 1);
	krwsem_up_write(&s);
	CHECK(actor_hold(&h, &s, WRITE));
	CHECK(krwsem__down_read_try(&s) == -EBUSY);
	CHECK(krwsem__down_write_try(&s) == -EBUSY);
	clock_gettime(CLOCK_REALTIME, &rt);
	rt = ts_add_ns(rt, 20 * 1000000LL);
	CHECK(krwsem__down_read(&s, KMUTEX__TIMED | KMUTEX__REALTIME, &rt) == -ETIMEDOUT);
	CHECK(krwsem__down_write(&s, KMUTEX__TIMED | KMUTEX__REALTIME, &rt) == -ETIMEDOUT);
	mono = ts_add_ns(mono_now(), 20 * 1000000LL);
	CHECK(krwsem__down_read(&s, KMUTEX__TIMED, &mono) == -ETIMEDOUT);
	CHECK(krwsem__down_read(&s, KMUTEX__TIMED | KMUTEX__REALTIME, &bad) == -EINVAL);
	CHECK(krwsem__down_write(&s, KMUTEX__TIMED, &bad) == -EINVAL);
	kmutex_interrupt_self();
	CHECK(krwsem__down_read(&s, KMUTEX__INTERRUPTIBLE, NULL) == -EINTR);
	kmutex_interrupt_self();
	CHECK(krwsem__down_write(&s, KMUTEX__INTERRUPTIBLE, NULL) == -EINTR);
	actor_finish(&h);
	rt = ts_add_ns(rt, 60 * 1000000000LL);
	CHECK(krwsem__down_read(&s, KMUTEX__TIMED | KMUTEX__REALTIME, &rt) == 0);
	krwsem_up_read(&s);
	CHECK(krwsem__down_write(&s, 0, NULL) == 0);
	krwsem_up_write(&s);
	CHECK(count_word(&s) == 0);
	krwsem_destroy(&s);
}

/* ---- errno, and many threads ------------------------------------------------------------ */

static void test_errno_preserved(void)
{
	struct krwsem s = KRWSEM_INITIALIZER;
	struct actor h = { 0 };
	struct timespec soon = ts_add_ns(mono_now(), 5 * 1000000LL);

	errno = 4242;
	krwsem_down_read(&s);
	krwsem_up_read(&s);
	CHECK(actor_hold(&h, &s, WRITE));
	CHECK(krwsem_down_read_timeout(&s, &soon) == -ETIMEDOUT);
	CHECK(errno == 4242);
	actor_finish(&h);
	krwsem_destroy(&s);
}

/* Mixed readers and writers: writers bump two counters under the write lock, readers check
 * they are equal and that no writer is inside. */
enum { MIX_THREADS = 6, MIX_ITERS = 4000 };
static struct krwsem mix_sem;
static long mix_a, mix_b;
static int mix_writer_inside, mix_errors;

static void *mix_main(void *arg)
{
	long id = (long)arg;
	struct timespec deadline;

	for (int i = 0; i < MIX_ITERS; i++) {
		int kind = (int)((id + i) % 5);

		if ((id + i) % 4 == 0) { /* writer */
			int r = 0;

			if (kind == 0)
				r = krwsem_down_write_interruptible(&mix_sem);
			else if (kind == 1) {
				deadline = ts_add_ns(mono_now(), 1000000000LL);
				r = krwsem_down_write_timeout(&mix_sem, &deadline);
			} else
				krwsem_down_write(&mix_sem);
			if (r)
				continue;
			if (__atomic_exchange_n(&mix_writer_inside, 1, __ATOMIC_RELAXED))
				__atomic_add_fetch(&mix_errors, 1, __ATOMIC_RELAXED);
			mix_a++;
			mix_b++;
			__atomic_store_n(&mix_writer_inside, 0, __ATOMIC_RELAXED);
			if (kind == 3) {
				krwsem_downgrade_write(&mix_sem);
				if (mix_a != mix_b)
					__atomic_add_fetch(&mix_errors, 1, __ATOMIC_RELAXED);
				krwsem_up_read(&mix_sem);
			} else {
				krwsem_up_write(&mix_sem);
			}
		} else { /* reader, sometimes recursive */
			if (kind == 0 && !krwsem_down_read_trylock(&mix_sem))
				continue;
			if (kind != 0)
				krwsem_down_read(&mix_sem);
			if (__atomic_load_n(&mix_writer_inside, __ATOMIC_RELAXED) || mix_a != mix_b)
				__atomic_add_fetch(&mix_errors, 1, __ATOMIC_RELAXED);
			if (kind == 4) {
				krwsem_down_read(&mix_sem);
				krwsem_up_read(&mix_sem);
			}
			krwsem_up_read(&mix_sem);
		}
	}
	return NULL;
}

static void test_mixed_threads(void)
{
	pthread_t t[MIX_THREADS];

	krwsem_init(&mix_sem);
	for (long i = 0; i < MIX_THREADS; i++)
		pthread_create(&t[i], NULL, mix_main, (void *)i);
	for (int i = 0; i < MIX_THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK(mix_errors == 0);
	CHECK(mix_a == mix_b && mix_a > 0);
	CHECK(count_word(&mix_sem) == 0);
	krwsem_destroy(&mix_sem);
}

int main(void)
{
	check_start(240);
	RUN(test_define_and_initializer);
	RUN(test_layout_and_zero_fill);
	RUN(test_init_names);
	RUN(test_init_flags_and_reinit);
	RUN(test_readers_share);
	RUN(test_read_waits_for_writer);
	RUN(test_read_trylock);
	RUN(test_write_waits_for_readers);
	RUN(test_write_trylock);
	RUN(test_writers_exclude);
	RUN(test_read_timeout_behind_writer);
	RUN(test_write_timeout_behind_reader);
	RUN(test_write_timeout_behind_writer);
	RUN(test_timeout_free_and_granted);
	RUN(test_timeout_einval);
	RUN(test_read_interrupted);
	RUN(test_read_interrupted_restart);
	RUN(test_write_interrupted);
	RUN(test_write_interrupted_self);
	RUN(test_pending_interruption);
	RUN(test_plain_waits_ignore_interruptions);
	RUN(test_reader_batch);
	RUN(test_downgrade);
	RUN(test_recursive_read_with_waiting_writer);
	RUN(test_read_record_overflow);
	RUN(test_read_released_by_other_thread);
	RUN(test_reader_overflow);
	RUN(test_layered_api_codes);
	RUN(test_layered_edeadlk);
	RUN(test_errno_preserved);
	RUN(test_mixed_threads);
	return check_finish();
}
