/*
 * Unit tests of every call and return code of CShims/include/kmutex.h.
 *
 * Contended cases use a "holder" thread that owns the mutex until told to let go, so the
 * calling thread meets a lock held by someone else.  No test has a timing threshold: where a
 * call must wait, the test only checks that it has not returned yet or that it returned
 * after its deadline, never that it was fast.
 */
#include "kmutex.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "check.h"

/*
 * The owner word's task part.  Tests peek at this private field only to see which thread
 * descriptor a mutex names (the low three bits are flags, see CShims/owner.h).  RELAXED: a
 * snapshot, the same as kmutex_is_locked().
 */
static uintptr_t owner_task(const struct kmutex *m)
{
	return __atomic_load_n(&m->owner, __ATOMIC_RELAXED) & ~(uintptr_t)15;
}

/* ---- a thread that holds a mutex until told to release it ------------------------------ */

struct holder {
	struct kmutex *m;
	pthread_t thread;
	int locked;  /* set by the holder once it owns m; atomic */
	int release; /* set by the test to make the holder unlock; atomic */
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	kmutex_lock(h->m);
	/* RELEASE/ACQUIRE pairs: locked is read by the test, release by the holder. */
	__atomic_store_n(&h->locked, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&h->release, __ATOMIC_ACQUIRE))
		sleep_us(200);
	kmutex_unlock(h->m);
	return NULL;
}

static void holder_start(struct holder *h, struct kmutex *m)
{
	*h = (struct holder){ .m = m };
	if (pthread_create(&h->thread, NULL, holder_main, h) != 0)
		abort();
	while (!__atomic_load_n(&h->locked, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

static void holder_stop(struct holder *h)
{
	__atomic_store_n(&h->release, 1, __ATOMIC_RELEASE);
	pthread_join(h->thread, NULL);
}

/* ---- a thread that makes one locking call, so the test can watch it wait --------------- */

enum call { CALL_LOCK, CALL_INTERRUPTIBLE, CALL_TIMEOUT, CALL_INTERRUPTIBLE_PENDING };

struct caller {
	struct kmutex *m;
	enum call call;
	struct timespec deadline;
	pthread_t thread;
	int started; /* atomic */
	int done;    /* atomic: the call returned; result and saved_errno are valid */
	int result;
	int saved_errno;
	int hold;    /* keep the lock when the call took it, until unlock_now; atomic */
	int unlock_now; /* atomic */
	int owns;    /* atomic: the call took the lock and self is valid */
	uintptr_t self; /* this thread's descriptor, seen in the owner word when it held the lock */
};

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	int r = 0;

	if (c->call == CALL_INTERRUPTIBLE_PENDING)
		kmutex_interrupt_self();
	__atomic_store_n(&c->started, 1, __ATOMIC_RELEASE);
	errno = 4242;
	switch (c->call) {
	case CALL_LOCK:
		kmutex_lock(c->m);
		break;
	case CALL_INTERRUPTIBLE:
	case CALL_INTERRUPTIBLE_PENDING:
		r = kmutex_lock_interruptible(c->m);
		break;
	case CALL_TIMEOUT:
		r = kmutex_lock_timeout(c->m, &c->deadline);
		break;
	}
	c->saved_errno = errno;
	c->result = r;
	if (r == 0) {
		c->self = owner_task(c->m);
		/* RELEASE: self is read by the test after it sees owns. */
		__atomic_store_n(&c->owns, 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&c->hold, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&c->unlock_now, __ATOMIC_ACQUIRE))
			sleep_us(100);
		kmutex_unlock(c->m);
	}
	/* RELEASE: result, saved_errno and self are read by the test after it sees done. */
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void caller_start(struct caller *c, struct kmutex *m, enum call call)
{
	c->m = m;
	c->call = call;
	if (pthread_create(&c->thread, NULL, caller_main, c) != 0)
		abort();
	while (!__atomic_load_n(&c->started, __ATOMIC_ACQUIRE))
		sleep_us(100);
}

static int caller_done(struct caller *c)
{
	return flag_set(&c->done);
}

/* Wait until the call returned; 0 if it did not within PATIENCE_US. */
static int caller_wait_done(struct caller *c)
{
	return wait_flag(&c->done);
}

/* ---- static and dynamic initialization -------------------------------------------------- */

static DEFINE_KMUTEX(static_mutex);

static void test_define_kmutex(void)
{
	CHECK(kmutex_is_locked(&static_mutex) == 0);
	kmutex_lock(&static_mutex);
	CHECK(kmutex_is_locked(&static_mutex) == 1);
	kmutex_unlock(&static_mutex);
	CHECK(kmutex_is_locked(&static_mutex) == 0);
}

static void test_initializer(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;

	CHECK(kmutex_is_locked(&m) == 0);
	CHECK(kmutex_trylock(&m) == 1);
	CHECK(kmutex_is_locked(&m) == 1);
	kmutex_unlock(&m);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

/*
 * All zeros is a valid mutex (so a kmutex can live in a zeroed pthread_mutex_t): locked
 * uncontended and contended, it behaves like an initialized one.  The layout is the one
 * libkmutex-pthread relies on: 40 bytes, options where glibc's __kind is.
 */
static struct kmutex zeroed_mutex;

static void *lock_zeroed_once(void *arg)
{
	(void)arg;
	kmutex_lock(&zeroed_mutex);
	kmutex_unlock(&zeroed_mutex);
	return NULL;
}

static void test_zero_filled_is_valid(void)
{
	pthread_t t;

	_Static_assert(sizeof(struct kmutex) == 40, "struct kmutex must fit a pthread_mutex_t");
	_Static_assert(offsetof(struct kmutex, options) == 16, "options must sit at __kind");
	memset(&zeroed_mutex, 0, sizeof(zeroed_mutex));
	kmutex_lock(&zeroed_mutex);
	pthread_create(&t, NULL, lock_zeroed_once, NULL);
	usleep(2000); /* let it queue; either order passes */
	kmutex_unlock(&zeroed_mutex);
	pthread_join(t, NULL);
	CHECK(kmutex_is_locked(&zeroed_mutex) == 0);
	CHECK(kmutex_trylock(&zeroed_mutex) == 1);
	kmutex_unlock(&zeroed_mutex);
	kmutex_destroy(&zeroed_mutex);
}

/* kmutex_set_name interns: equal names share one pointer, the caller's buffer is copied. */
static void test_set_name(void)
{
	struct kmutex a = KMUTEX_INITIALIZER, b = KMUTEX_INITIALIZER;
	char buf[32];

	CHECK(static_mutex.name != NULL && strcmp(static_mutex.name, "static_mutex") == 0);
	strcpy(buf, "table lock");
	kmutex_set_name(&a, buf);
	strcpy(buf, "other");
	kmutex_set_name(&b, "table lock");
	CHECK(a.name == b.name);
	CHECK(strcmp(a.name, "table lock") == 0);
	kmutex_set_name(&b, buf);
	CHECK(strcmp(b.name, "other") == 0 && a.name != b.name);
	kmutex_set_name(&b, NULL);
	CHECK(b.name == NULL);
}

/*
 * kmutex_init and kmutex_init_flags name the class after their call site: one pointer per
 * site, "unit.c:LINE"; the functions themselves, called by address, leave the mutex unnamed.
 */
static int init_site_line;

static void init_at_one_site(struct kmutex *m)
{
	kmutex_init(m); init_site_line = __LINE__; /* one line: the macro's __LINE__ */
}

static void test_init_names_call_site(void)
{
	struct kmutex a, b, c, d;
	void (*init_fn)(struct kmutex *) = &kmutex_init;
	char want[64];

	init_at_one_site(&a);
	init_at_one_site(&b);
	CHECK(a.name != NULL && a.name == b.name);
	snprintf(want, sizeof(want), "unit.c:%d", init_site_line);
	CHECK(strstr(a.name, want) != NULL);
	kmutex_init_flags(&c, KMUTEX_NO_SPIN);
	CHECK(c.name != NULL && c.name != a.name && strstr(c.name, "unit.c:") != NULL);
	CHECK(c.options & KMUTEX__OPT_NO_SPIN);
	init_fn(&d);
	CHECK(d.name == NULL);
	(kmutex_init_flags)(&d, 0);
	CHECK(d.name == NULL);
	kmutex_destroy(&a);
	kmutex_destroy(&b);
	kmutex_destroy(&c);
	kmutex_destroy(&d);
}

static void test_init_and_flags(void)
{
	static const unsigned flags[] = { 0, KMUTEX_NO_HANDOFF, KMUTEX_NO_SPIN,
					  KMUTEX_NO_HANDOFF | KMUTEX_NO_SPIN };
	struct kmutex m;

	kmutex_init(&m);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_lock(&m);
	CHECK(kmutex_is_locked(&m) == 1);
	kmutex_unlock(&m);
	kmutex_destroy(&m);
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		kmutex_init_flags(&m, flags[i]);
		CHECK(kmutex_is_locked(&m) == 0);
		CHECK(kmutex_trylock(&m) == 1);
		CHECK(kmutex_trylock(&m) == 0);
		kmutex_unlock(&m);
		CHECK(kmutex_lock_interruptible(&m) == 0);
		kmutex_unlock(&m);
		struct timespec deadline = ts_add_ns(mono_now(), 1000000000LL);
		CHECK(kmutex_lock_timeout(&m, &deadline) == 0);
		kmutex_unlock(&m);
		CHECK(kmutex_is_locked(&m) == 0);
		kmutex_destroy(&m);
	}
}

/* A destroyed mutex can be initialized again and used, any number of times. */
static void test_destroy_then_init(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;

	for (int i = 0; i < 100; i++) {
		kmutex_lock(&m);
		CHECK(kmutex_is_locked(&m));
		kmutex_unlock(&m);
		kmutex_destroy(&m);
		if (i % 2)
			kmutex_init(&m);
		else
			kmutex_init_flags(&m, (unsigned)i & (KMUTEX_NO_HANDOFF | KMUTEX_NO_SPIN));
	}
	/* Also after contention has left flags and a waiter history behind. */
	struct holder h;
	struct caller c = { 0 };

	holder_start(&h, &m);
	caller_start(&c, &m, CALL_LOCK);
	holder_stop(&h);
	CHECK(caller_wait_done(&c));
	pthread_join(c.thread, NULL);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
	kmutex_init(&m);
	CHECK(kmutex_trylock(&m) == 1);
	kmutex_unlock(&m);
	kmutex_destroy(&m);
}

/* ---- trylock ------------------------------------------------------------------------- */

static void test_trylock_free(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;

	CHECK(kmutex_trylock(&m) == 1);
	CHECK(kmutex_is_locked(&m) == 1);
	kmutex_unlock(&m);
	CHECK(kmutex_trylock(&m) == 1);
	kmutex_unlock(&m);
	kmutex_destroy(&m);
}

static void test_trylock_held_by_other(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;

	holder_start(&h, &m);
	CHECK(kmutex_trylock(&m) == 0);
	CHECK(kmutex_is_locked(&m) == 1);
	holder_stop(&h);
	CHECK(kmutex_is_locked(&m) == 0);
	CHECK(kmutex_trylock(&m) == 1);
	kmutex_unlock(&m);
	kmutex_destroy(&m);
}

/* Not recursive: the owner's trylock fails, and one unlock frees the lock. */
static void test_trylock_by_owner(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;

	kmutex_lock(&m);
	CHECK(kmutex_trylock(&m) == 0);
	CHECK(kmutex_is_locked(&m) == 1);
	kmutex_unlock(&m);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

/* ---- lock waits for the owner ----------------------------------------------------------- */

static void test_lock_waits_for_owner(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct caller c = { .hold = 1 };

	holder_start(&h, &m);
	caller_start(&c, &m, CALL_LOCK);
	sleep_us(20000);
	CHECK(!caller_done(&c)); /* it must wait while the holder owns the lock */
	holder_stop(&h);
	/* Now the caller owns it, until unlock_now. */
	int owns = wait_flag(&c.owns);
	int locked = kmutex_is_locked(&m), trylock = kmutex_trylock(&m);
	int named = owns && owner_task(&m) == c.self;
	__atomic_store_n(&c.unlock_now, 1, __ATOMIC_RELEASE);
	int done = caller_wait_done(&c);
	pthread_join(c.thread, NULL);
	CHECK(owns && done);
	CHECK(locked == 1);
	CHECK(trylock == 0);
	CHECK(named);
	CHECK(c.result == 0);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

/* ---- lock_timeout -------------------------------------------------------------------- */

static void test_timeout_free(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct timespec future = ts_add_ns(mono_now(), 5000000000LL);
	struct timespec past = { 0, 0 };
	struct timespec recent = ts_add_ns(mono_now(), -1000000);

	CHECK(kmutex_lock_timeout(&m, &future) == 0);
	CHECK(kmutex_is_locked(&m));
	kmutex_unlock(&m);
	/* A deadline already past still takes a free lock. */
	CHECK(kmutex_lock_timeout(&m, &past) == 0);
	CHECK(kmutex_is_locked(&m));
	kmutex_unlock(&m);
	CHECK(kmutex_lock_timeout(&m, &recent) == 0);
	kmutex_unlock(&m);
	kmutex_destroy(&m);
}

static void test_timeout_held_by_other(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct timespec past = { 0, 0 };

	holder_start(&h, &m);
	for (int i = 0; i < 3; i++) {
		struct timespec deadline = ts_add_ns(mono_now(), 20000000LL * (i + 1));
		int r = kmutex_lock_timeout(&m, &deadline);

		CHECK(r == -ETIMEDOUT);
		/* It returns only once the deadline has passed. */
		CHECK(ts_after_eq(mono_now(), deadline));
		CHECK(kmutex_is_locked(&m));
	}
	CHECK(kmutex_lock_timeout(&m, &past) == -ETIMEDOUT);
	CHECK(kmutex_trylock(&m) == 0);
	holder_stop(&h);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

static void test_timeout_gets_lock_when_released(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct caller c = { .deadline = ts_add_ns(mono_now(), 60LL * 1000000000LL) };

	holder_start(&h, &m);
	caller_start(&c, &m, CALL_TIMEOUT);
	sleep_us(10000);
	CHECK(!caller_done(&c));
	holder_stop(&h);
	CHECK(caller_wait_done(&c));
	pthread_join(c.thread, NULL);
	CHECK(c.result == 0);
	CHECK(c.self != 0);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

static void test_timeout_einval(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct timespec negative = mono_now(), too_big = mono_now();

	negative.tv_nsec = -1;
	too_big.tv_nsec = 1000000000L;
	holder_start(&h, &m);
	CHECK(kmutex_lock_timeout(&m, &negative) == -EINVAL);
	CHECK(kmutex_lock_timeout(&m, &too_big) == -EINVAL);
	too_big.tv_sec += 1000; /* far future: -EINVAL comes without waiting */
	CHECK(kmutex_lock_timeout(&m, &too_big) == -EINVAL);
	CHECK(kmutex_trylock(&m) == 0); /* still the holder's */
	holder_stop(&h);
	kmutex_destroy(&m);
}

/* ---- lock_interruptible and kmutex_interrupt_self ----------------------------------------- */

static void test_interruptible_free(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;

	CHECK(kmutex_lock_interruptible(&m) == 0);
	CHECK(kmutex_is_locked(&m));
	kmutex_unlock(&m);
	kmutex_destroy(&m);
}

/*
 * A handler that runs while the caller sleeps ends its wait with -EINTR.  The signal is
 * repeated until the call returns: one that lands while the caller still spins is lost by
 * design (a no-op handler leaves nothing pending), the next one finds it asleep.
 */
static void interrupt_sleeping_waiter(void (*handler)(int), int sa_flags)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct caller c = { 0 };

	install_handler(SIGUSR1, handler, sa_flags);
	holder_start(&h, &m);
	caller_start(&c, &m, CALL_INTERRUPTIBLE);
	int returned = signal_until_done(c.thread, SIGUSR1, &c.done);
	holder_stop(&h); /* lets the caller finish if the signal did not */
	pthread_join(c.thread, NULL);
	install_handler(SIGUSR1, SIG_DFL, 0);
	CHECK(returned);
	CHECK(c.result == -EINTR);
	CHECK(c.saved_errno == 4242);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

static void test_interruptible_noop_handler(void)
{
	interrupt_sleeping_waiter(noop_handler, 0);
}

/* The header promises -EINTR "whatever the handler did": with SA_RESTART too. */
static void test_interruptible_noop_handler_sa_restart(void)
{
	interrupt_sleeping_waiter(noop_handler, SA_RESTART);
}

static void test_interruptible_interrupt_self_handler(void)
{
	interrupt_sleeping_waiter(interrupt_handler, SA_RESTART);
}

/*
 * An interruption made pending before the call ends a wait that has to wait, and is consumed:
 * the next interruptible wait of the same thread waits for the lock.
 */
struct pending_case {
	struct kmutex *m;
	int first, second; /* results */
	int first_done;    /* atomic */
	int second_done;   /* atomic */
};

static void *pending_main(void *arg)
{
	struct pending_case *p = arg;

	kmutex_interrupt_self();
	p->first = kmutex_lock_interruptible(p->m);
	if (p->first == 0)
		kmutex_unlock(p->m);
	__atomic_store_n(&p->first_done, 1, __ATOMIC_RELEASE);
	p->second = kmutex_lock_interruptible(p->m);
	if (p->second == 0)
		kmutex_unlock(p->m);
	__atomic_store_n(&p->second_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_pending_interruption_consumed(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct pending_case p = { .m = &m };
	pthread_t t;

	holder_start(&h, &m);
	pthread_create(&t, NULL, pending_main, &p);
	int first_returned = wait_flag(&p.first_done);
	sleep_us(20000);
	int second_waited = !__atomic_load_n(&p.second_done, __ATOMIC_ACQUIRE);
	holder_stop(&h);
	pthread_join(t, NULL);
	CHECK(first_returned);
	CHECK(p.first == -EINTR);
	CHECK(second_waited); /* the interruption was consumed by the first wait */
	CHECK(p.second == 0);
	kmutex_destroy(&m);
}

/* A free lock is taken with an interruption pending, and the interruption stays pending. */
struct pending_free_case {
	struct kmutex *free_lock, *held_lock;
	int on_free, on_held, held_locked_after;
};

static void *pending_free_main(void *arg)
{
	struct pending_free_case *p = arg;

	kmutex_interrupt_self();
	p->on_free = kmutex_lock_interruptible(p->free_lock);
	if (p->on_free == 0)
		kmutex_unlock(p->free_lock);
	p->on_held = kmutex_lock_interruptible(p->held_lock);
	if (p->on_held == 0)
		kmutex_unlock(p->held_lock);
	return NULL;
}

static void test_pending_interruption_free_lock(void)
{
	struct kmutex free_lock = KMUTEX_INITIALIZER, held_lock = KMUTEX_INITIALIZER;
	struct holder h;
	struct pending_free_case p = { .free_lock = &free_lock, .held_lock = &held_lock };
	pthread_t t;
	int joined = 0;

	holder_start(&h, &held_lock);
	pthread_create(&t, NULL, pending_free_main, &p);
	/* If the interruption were lost the second call would wait for the holder: give it
	 * PATIENCE_US, then release so the test ends either way. */
	for (long waited = 0; waited < PATIENCE_US && !joined; waited += 1000) {
		joined = pthread_tryjoin_np(t, NULL) == 0;
		if (!joined)
			sleep_us(1000);
	}
	holder_stop(&h);
	if (!joined)
		pthread_join(t, NULL);
	CHECK(joined);
	CHECK(p.on_free == 0);
	CHECK(p.on_held == -EINTR);
	kmutex_destroy(&free_lock);
	kmutex_destroy(&held_lock);
}

/* Plain and timed locks never look at interruptions. */
static void test_lock_and_timeout_ignore_interruption(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	struct holder h;
	struct caller plain = { 0 }, timed = { 0 };

	install_handler(SIGUSR1, interrupt_handler, 0);
	timed.deadline = ts_add_ns(mono_now(), 60LL * 1000000000LL);
	holder_start(&h, &m);
	caller_start(&plain, &m, CALL_LOCK);
	caller_start(&timed, &m, CALL_TIMEOUT);
	for (int i = 0; i < 20; i++) {
		pthread_kill(plain.thread, SIGUSR1);
		pthread_kill(timed.thread, SIGUSR1);
		sleep_us(1000);
	}
	int plain_waited = !caller_done(&plain), timed_waited = !caller_done(&timed);
	holder_stop(&h);
	CHECK(caller_wait_done(&plain));
	CHECK(caller_wait_done(&timed));
	pthread_join(plain.thread, NULL);
	pthread_join(timed.thread, NULL);
	install_handler(SIGUSR1, SIG_DFL, 0);
	CHECK(plain_waited);
	CHECK(timed_waited);
	CHECK(timed.result == 0);
	CHECK(plain.self != 0 && timed.self != 0);
	kmutex_destroy(&m);
}

/* ---- errno --------------------------------------------------------------------------- */

static void test_errno_preserved(void)
{
	struct kmutex m;
	struct holder h;
	struct timespec soon;

	errno = 4242;
	kmutex_init(&m);
	CHECK(errno == 4242);
	kmutex_lock(&m);
	CHECK(errno == 4242);
	CHECK(kmutex_trylock(&m) == 0 && errno == 4242);
	kmutex_unlock(&m);
	CHECK(errno == 4242);
	CHECK(kmutex_lock_interruptible(&m) == 0 && errno == 4242);
	kmutex_unlock(&m);
	holder_start(&h, &m);
	errno = 4242;
	soon = ts_add_ns(mono_now(), 5000000);
	CHECK(kmutex_lock_timeout(&m, &soon) == -ETIMEDOUT); /* the futex sleep timed out */
	CHECK(errno == 4242);
	soon.tv_nsec = -5;
	CHECK(kmutex_lock_timeout(&m, &soon) == -EINVAL && errno == 4242);
	kmutex_interrupt_self();
	CHECK(errno == 4242);
	CHECK(kmutex_lock_interruptible(&m) == -EINTR && errno == 4242);
	/* A contended lock: the caller sleeps on a futex and is woken by the unlock. */
	struct caller c = { 0 };

	caller_start(&c, &m, CALL_LOCK);
	sleep_us(5000);
	holder_stop(&h);
	CHECK(caller_wait_done(&c));
	pthread_join(c.thread, NULL);
	CHECK(c.saved_errno == 4242);
	errno = 4242;
	kmutex_destroy(&m);
	CHECK(errno == 4242);
}

/* ---- options behave as mutexes under contention ----------------------------------------- */

struct counting {
	struct kmutex *m;
	long *counter; /* plain: the mutex is what protects it */
	int *inside;   /* plain, shared: set while some thread is in the critical section */
	int iterations;
	int overlaps;  /* this thread found another one inside */
	unsigned seed;
};

static int take_somehow(struct counting *c, int i)
{
	struct timespec deadline;

	switch (i % 4) {
	case 0:
		kmutex_lock(c->m);
		return 1;
	case 1:
		return kmutex_trylock(c->m);
	case 2:
		return kmutex_lock_interruptible(c->m) == 0;
	default:
		deadline = ts_add_ns(mono_now(), (long long)(rand_r(&c->seed) % 200) * 1000);
		return kmutex_lock_timeout(c->m, &deadline) == 0;
	}
}

static void *counting_main(void *arg)
{
	struct counting *c = arg;

	for (int i = 0; i < c->iterations;) {
		if (!take_somehow(c, i + (int)(rand_r(&c->seed) % 4)))
			continue;
		/* volatile so the compiler keeps each access where it is in the section. */
		if (*(volatile int *)c->inside)
			c->overlaps++;
		*(volatile int *)c->inside = 1;
		(*c->counter)++;
		*(volatile int *)c->inside = 0;
		kmutex_unlock(c->m);
		i++;
	}
	return NULL;
}

static void test_options_are_mutexes(void)
{
	static const unsigned flags[] = { 0, KMUTEX_NO_HANDOFF, KMUTEX_NO_SPIN,
					  KMUTEX_NO_HANDOFF | KMUTEX_NO_SPIN };
	enum { THREADS = 4, ITERATIONS = 20000 };

	for (unsigned f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		struct kmutex m;
		long counter = 0;
		int inside = 0, overlaps = 0;
		struct counting args[THREADS];
		pthread_t t[THREADS];

		kmutex_init_flags(&m, flags[f]);
		for (int i = 0; i < THREADS; i++) {
			args[i] = (struct counting){ .m = &m, .counter = &counter, .inside = &inside,
						     .iterations = ITERATIONS, .seed = f * 100 + i };
			pthread_create(&t[i], NULL, counting_main, &args[i]);
		}
		for (int i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			overlaps += args[i].overlaps;
		}
		CHECK(overlaps == 0);
		CHECK(counter == (long)THREADS * ITERATIONS);
		CHECK(kmutex_is_locked(&m) == 0);
		kmutex_destroy(&m);
	}
}

/* ---- many mutexes ---------------------------------------------------------------------- */

enum { MANY = 1000 };
static struct kmutex many[MANY];
static long many_count[MANY];

struct many_arg {
	unsigned seed;
	int rounds;
};

static void *many_main(void *arg)
{
	struct many_arg *a = arg;

	for (int i = 0; i < a->rounds; i++) {
		int k = (int)(rand_r(&a->seed) % MANY);

		kmutex_lock(&many[k]);
		many_count[k]++;
		kmutex_unlock(&many[k]);
	}
	return NULL;
}

static void test_many_mutexes(void)
{
	enum { THREADS = 3, ROUNDS = 50000 };
	struct many_arg args[THREADS];
	pthread_t t[THREADS];
	long total = 0;

	/*
	 * The function, not the macro: each mutex unnamed, its own lock class.  With the macro all
	 * would share this call site's class, and holding them all at once is what lockdep (as
	 * the kernel's) reports as possible recursive locking (test-lockdep runs this test).
	 */
	for (int i = 0; i < MANY; i++)
		(kmutex_init_flags)(&many[i], (unsigned)i % 4);
	/* One thread holds all of them at once. */
	for (int i = 0; i < MANY; i++)
		kmutex_lock(&many[i]);
	for (int i = 0; i < MANY; i++)
		CHECK(kmutex_is_locked(&many[i]) && kmutex_trylock(&many[i]) == 0);
	for (int i = MANY - 1; i >= 0; i -= 2)
		kmutex_unlock(&many[i]);
	for (int i = 0; i < MANY; i++)
		CHECK(kmutex_is_locked(&many[i]) == (i % 2 == 0));
	for (int i = 0; i < MANY; i += 2)
		kmutex_unlock(&many[i]);
	/* Several threads on random ones. */
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct many_arg){ .seed = 7u + (unsigned)i, .rounds = ROUNDS };
		pthread_create(&t[i], NULL, many_main, &args[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < MANY; i++) {
		CHECK(kmutex_is_locked(&many[i]) == 0);
		total += many_count[i];
		kmutex_destroy(&many[i]);
	}
	CHECK(total == (long)THREADS * ROUNDS);
}

/* ---- threads that exit: descriptors are reused -------------------------------------------- */

struct short_lived {
	struct kmutex *m;
	int *held_by_main; /* atomic: main holds m, so this thread must meet contention */
	int timed_call_done; /* atomic: main may let go of m */
	uintptr_t self;    /* the descriptor that owned m while this thread held it */
	int timed_out;
	int got_it;
	int trylock_ok;
};

static void *short_lived_main(void *arg)
{
	struct short_lived *s = arg;
	struct timespec soon = ts_add_ns(mono_now(), 1000000);

	if (__atomic_load_n(s->held_by_main, __ATOMIC_ACQUIRE)) {
		s->timed_out = kmutex_lock_timeout(s->m, &soon) == -ETIMEDOUT;
		__atomic_store_n(&s->timed_call_done, 1, __ATOMIC_RELEASE);
		kmutex_lock(s->m); /* waits until main lets go */
	} else {
		s->timed_out = 1;
		s->trylock_ok = kmutex_trylock(s->m);
		if (!s->trylock_ok)
			kmutex_lock(s->m);
	}
	s->self = owner_task(s->m);
	s->got_it = kmutex_is_locked(s->m);
	kmutex_unlock(s->m);
	return NULL;
}

static void test_thread_exit_reuses_descriptor(void)
{
	enum { ROUNDS = 200 };
	struct kmutex m = KMUTEX_INITIALIZER;
	uintptr_t first = 0, main_self;
	int held_by_main = 0, distinct_from_first = 0;

	kmutex_lock(&m);
	main_self = owner_task(&m);
	kmutex_unlock(&m);
	for (int i = 0; i < ROUNDS; i++) {
		struct short_lived s = { .m = &m, .held_by_main = &held_by_main };
		pthread_t t;

		__atomic_store_n(&held_by_main, i % 2, __ATOMIC_RELEASE);
		if (i % 2)
			kmutex_lock(&m);
		pthread_create(&t, NULL, short_lived_main, &s);
		if (i % 2) {
			wait_flag(&s.timed_call_done);
			sleep_us(1000);
			kmutex_unlock(&m);
		}
		pthread_join(t, NULL);
		CHECK(s.got_it && s.timed_out);
		CHECK(i % 2 || s.trylock_ok);
		CHECK(s.self != 0 && s.self != main_self);
		if (!first)
			first = s.self;
		distinct_from_first += s.self != first;
	}
	/* Each thread exited before the next one started: they all had the same descriptor. */
	CHECK(distinct_from_first == 0);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

/* Threads created and exiting while others hold, wait on and hand over the same mutex. */
static void test_thread_churn(void)
{
	enum { BATCHES = 40, THREADS = 4, ITERATIONS = 300 };
	struct kmutex m = KMUTEX_INITIALIZER;
	long counter = 0;
	int overlaps = 0, inside = 0;

	for (int b = 0; b < BATCHES; b++) {
		struct counting args[THREADS];
		pthread_t t[THREADS];

		for (int i = 0; i < THREADS; i++) {
			args[i] = (struct counting){ .m = &m, .counter = &counter, .inside = &inside,
						     .iterations = ITERATIONS,
						     .seed = (unsigned)(b * THREADS + i) };
			pthread_create(&t[i], NULL, counting_main, &args[i]);
		}
		for (int i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			overlaps += args[i].overlaps;
		}
	}
	CHECK(overlaps == 0);
	CHECK(counter == (long)BATCHES * THREADS * ITERATIONS);
	CHECK(kmutex_is_locked(&m) == 0);
	kmutex_destroy(&m);
}

int main(void)
{
	check_start(600);
	RUN(test_define_kmutex);
	RUN(test_initializer);
	RUN(test_zero_filled_is_valid);
	RUN(test_set_name);
	RUN(test_init_names_call_site);
	RUN(test_init_and_flags);
	RUN(test_destroy_then_init);
	RUN(test_trylock_free);
	RUN(test_trylock_held_by_other);
	RUN(test_trylock_by_owner);
	RUN(test_lock_waits_for_owner);
	RUN(test_timeout_free);
	RUN(test_timeout_held_by_other);
	RUN(test_timeout_gets_lock_when_released);
	RUN(test_timeout_einval);
	RUN(test_interruptible_free);
	RUN(test_interruptible_noop_handler);
	RUN(test_interruptible_noop_handler_sa_restart);
	RUN(test_interruptible_interrupt_self_handler);
	RUN(test_pending_interruption_consumed);
	RUN(test_pending_interruption_free_lock);
	RUN(test_lock_and_timeout_ignore_interruption);
	RUN(test_errno_preserved);
	RUN(test_options_are_mutexes);
	RUN(test_many_mutexes);
	RUN(test_thread_exit_reuses_descriptor);
	RUN(test_thread_churn);
	return check_finish();
}
