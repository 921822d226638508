/*
 * lockdep through the pthread drop-in (issue 11): the kernel's locking selftest scenarios
 * (kernel/locking/locking-selftest.c: AA, ABBA, ABBCCA, ABCDBDDA, ABCDBCDA, the trylock and
 * timed variants), played with pthread mutexes and C11 mtx_* by a plain program under
 * LD_PRELOAD=libkmutex-pthread.so.  None of them deadlocks: each inversion happens in one
 * thread, at different times, which is what lockdep finds.
 *
 * Each scenario runs in a child (this program again, `lockdep --run NAME`) with
 * KMUTEX_LOCKDEP=1 (or =abort), stderr captured; the parent counts the reports and checks
 * each is there exactly once, or not at all, as the kernel's lockdep would have it.
 * Run without arguments, under the preload.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <threads.h>

#include "pt.h"

#define CIRCULAR  "WARNING: possible circular locking dependency detected"
#define RECURSIVE "WARNING: possible recursive locking detected"

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); exit(2); } } while (0)

static pthread_mutex_t A = PTHREAD_MUTEX_INITIALIZER, B = PTHREAD_MUTEX_INITIALIZER,
		       C = PTHREAD_MUTEX_INITIALIZER, D = PTHREAD_MUTEX_INITIALIZER;

static void lock(pthread_mutex_t *m)
{
	CHECK(pthread_mutex_lock(m) == 0);
}

static void unlock(pthread_mutex_t *m)
{
	CHECK(pthread_mutex_unlock(m) == 0);
}

/* first then second, nested, then both released. */
static void pair(pthread_mutex_t *first, pthread_mutex_t *second)
{
	lock(first);
	lock(second);
	unlock(second);
	unlock(first);
}

/* ---- the scenarios (each run in its own process) ----------------------------------------- */

static void sc_aa_errorcheck(void)
{
	pthread_mutexattr_t attr;
	pthread_mutex_t e;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	CHECK(pthread_mutex_init(&e, &attr) == 0);
	lock(&e);
	for (int i = 0; i < 2; i++) /* twice: reported once */
		CHECK(pthread_mutex_lock(&e) == EDEADLK);
	unlock(&e);
	pair(&A, &e); /* the stack held e once: no recursion left behind */
}

/* NORMAL: a relock waits, as glibc's; lockdep reports it (once), the timed one times out. */
static void sc_aa_normal(void)
{
	lock(&A);
	for (int i = 0; i < 2; i++) {
		struct timespec soon = pt_deadline(CLOCK_REALTIME, 2);

		CHECK(pthread_mutex_timedlock(&A, &soon) == ETIMEDOUT);
	}
	unlock(&A);
	lock(&A); /* the stack held A once: no recursion left behind */
	unlock(&A);
}

/* NORMAL with KMUTEX_STRICT=1: the relock is kmutex misuse; lockdep reports before the abort. */
static void sc_aa_normal_strict(void)
{
	setenv("KMUTEX_STRICT", "1", 1); /* read at the first misuse, below */
	lock(&A);
	lock(&A);
}

/* RECURSIVE: the levels above the first are not acquisitions; nothing to report. */
static void sc_aa_recursive_type(void)
{
	pthread_mutexattr_t attr;
	pthread_mutex_t r;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	CHECK(pthread_mutex_init(&r, &attr) == 0);
	lock(&r);
	lock(&r);
	CHECK(pthread_mutex_trylock(&r) == 0);
	lock(&A); /* r -> A */
	unlock(&A);
	unlock(&r);
	unlock(&r);
	unlock(&r);
	pair(&A, &r); /* A -> r: a real inversion, reported (r was held, once) */
}

static void sc_abba(void)
{
	for (int i = 0; i < 2; i++) { /* twice: reported once */
		pair(&A, &B);
		pair(&B, &A);
	}
}

static void sc_abbcca(void)
{
	pair(&A, &B);
	pair(&B, &C);
	pair(&C, &A);
}

static void sc_abcdbdda(void)
{
	pair(&A, &B);
	pair(&C, &D);
	pair(&B, &D);
	pair(&D, &A);
}

static void sc_abcdbcda(void)
{
	pair(&A, &B);
	pair(&C, &D);
	pair(&B, &C);
	pair(&D, &A);
}

/* A trylock cannot block: A held, trylock B adds no A -> B, so B then A is no inversion. */
static void sc_trylock_abba(void)
{
	lock(&A);
	CHECK(pthread_mutex_trylock(&B) == 0);
	unlock(&B);
	unlock(&A);
	pair(&B, &A);
}

/* But a lock taken while a trylock is held depends on it, and on what is below it. */
static void sc_trylock_then_lock(void)
{
	lock(&A);
	CHECK(pthread_mutex_trylock(&B) == 0);
	lock(&C); /* B -> C and A -> C (the kernel's check_prevs_add walks over the trylock) */
	unlock(&C);
	unlock(&B);
	unlock(&A);
	pair(&C, &A);
}

/* A timed lock can wait: A -> B as with a lock. */
static void sc_timedlock_abba(void)
{
	struct timespec far = pt_deadline(CLOCK_REALTIME, 60000);

	lock(&A);
	CHECK(pthread_mutex_timedlock(&B, &far) == 0);
	unlock(&B);
	unlock(&A);
	lock(&B);
	CHECK(pthread_mutex_clocklock(&A, CLOCK_REALTIME, &far) == 0); /* B -> A: reported */
	unlock(&A);
	unlock(&B);
}

static void *hold_b_thread(void *arg)
{
	(void)arg;
	lock(&B);
	usleep(50000);
	unlock(&B);
	return NULL;
}

/* A timed lock that times out still waited: the edge stands; B is not left on the stack. */
static void sc_timedlock_timeout(void)
{
	pthread_t t;
	struct timespec soon;

	CHECK(pthread_create(&t, NULL, hold_b_thread, NULL) == 0);
	usleep(10000);
	lock(&A);
	soon = pt_deadline(CLOCK_REALTIME, 5);
	CHECK(pthread_mutex_timedlock(&B, &soon) == ETIMEDOUT);
	pthread_join(t, NULL);
	lock(&B); /* were B still on the stack: "recursive locking" */
	unlock(&B);
	unlock(&A);
	pair(&B, &A); /* A -> B from the timed-out wait: reported */
}

/* A condvar wait takes its mutex off the stack while it sleeps and puts it back after. */
static void sc_cond_wait(void)
{
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct timespec soon = pt_deadline(CLOCK_REALTIME, 2);

	lock(&A);
	lock(&B);
	CHECK(pthread_cond_timedwait(&cv, &B, &soon) == ETIMEDOUT); /* relock: A -> B again */
	lock(&C); /* B is held again: B -> C */
	unlock(&C);
	unlock(&B);
	unlock(&A);
	pair(&C, &B); /* reported: C -> B against B -> C */
}

/* A condvar wait with nothing else held, repeated: no report (no AA on the relock). */
static void sc_cond_wait_clean(void)
{
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

	for (int i = 0; i < 3; i++) {
		struct timespec soon = pt_deadline(CLOCK_MONOTONIC, 1);

		lock(&A);
		CHECK(pthread_cond_clockwait(&cv, &A, CLOCK_MONOTONIC, &soon) == ETIMEDOUT);
		unlock(&A);
	}
}

static void sc_mtx_abba(void)
{
	mtx_t x, y;

	CHECK(mtx_init(&x, mtx_plain) == thrd_success);
	CHECK(mtx_init(&y, mtx_timed) == thrd_success);
	CHECK(mtx_lock(&x) == thrd_success);
	CHECK(mtx_lock(&y) == thrd_success);
	mtx_unlock(&y);
	mtx_unlock(&x);
	CHECK(mtx_lock(&y) == thrd_success);
	CHECK(mtx_trylock(&x) == thrd_success); /* no edge */
	mtx_unlock(&x);
	struct timespec far = pt_deadline(CLOCK_REALTIME, 60000);
	CHECK(mtx_timedlock(&x, &far) == thrd_success); /* an edge: y -> x, reported */
	mtx_unlock(&x);
	mtx_unlock(&y);
}

/* Two mutexes first locked by one wrapper are two classes: nesting them is not recursion. */
static __attribute__((noinline)) void lock_through_wrapper(pthread_mutex_t *m)
{
	lock(m);
}

static void sc_wrapper(void)
{
	for (int i = 0; i < 3; i++) {
		lock_through_wrapper(&A);
		lock_through_wrapper(&B);
		unlock(&B);
		unlock(&A);
	}
}

/*
 * Memory reused for new mutexes without pthread_mutex_destroy (as libstdc++'s std::mutex
 * destructor does nothing): zeroed, as a new object's initializer does, and first locked
 * elsewhere, they are new classes, so the old order does not make a false cycle.
 */
static void sc_reused_memory(void)
{
	static pthread_mutex_t slots[2];

	pair(&slots[0], &slots[1]);
	memset(slots, 0, sizeof(slots)); /* "freed" and made again: the zero initializer */
	lock(&slots[1]);
	lock(&slots[0]);
	unlock(&slots[0]);
	unlock(&slots[1]);
}

/* A process-shared mutex is glibc's (forwarded): not validated. */
static void sc_forwarded(void)
{
	pthread_mutexattr_t attr;
	pthread_mutex_t x, y;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	CHECK(pthread_mutex_init(&x, &attr) == 0 && pthread_mutex_init(&y, &attr) == 0);
	pair(&x, &y);
	pair(&y, &x);
}

/* Several threads, always A then B then C: no report. */
static void *ordered_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		lock(&A);
		lock(&B);
		if (i % 2)
			lock(&C);
		if (i % 2)
			unlock(&C);
		unlock(&B);
		unlock(&A);
	}
	return NULL;
}

static void sc_clean_threads(void)
{
	pthread_t t[3];

	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, ordered_worker, NULL) == 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
}

/* ---- the table: what the kernel's lockdep would report ------------------------------------ */

struct scenario {
	const char *name;
	void (*run)(void);
	const char *mode;   /* KMUTEX_LOCKDEP */
	int circular, recursive;
	int sig;            /* the signal the child must die of, or 0: exit 0 */
	const char *also;   /* a line stderr must contain after the report, or NULL */
};

static const struct scenario scenarios[] = {
	{ "AA (ERRORCHECK: EDEADLK)", sc_aa_errorcheck, "1", 0, 1, 0, NULL },
	{ "AA (NORMAL: waits as glibc's, reported)", sc_aa_normal, "1", 0, 1, 0, NULL },
	{ "AA (NORMAL, KMUTEX_STRICT=1: aborts after the report)", sc_aa_normal_strict, "1", 0, 1,
	  SIGABRT, "kmutex: recursive lock by the owner" },
	{ "AA (RECURSIVE: allowed)", sc_aa_recursive_type, "1", 1, 0, 0, NULL },
	{ "ABBA", sc_abba, "1", 1, 0, 0, NULL },
	{ "ABBCCA", sc_abbcca, "1", 1, 0, 0, NULL },
	{ "ABCDBDDA", sc_abcdbdda, "1", 1, 0, 0, NULL },
	{ "ABCDBCDA", sc_abcdbcda, "1", 1, 0, 0, NULL },
	{ "trylock ABBA (no edge)", sc_trylock_abba, "1", 0, 0, 0, NULL },
	{ "lock under a held trylock", sc_trylock_then_lock, "1", 1, 0, 0, NULL },
	{ "timedlock ABBA", sc_timedlock_abba, "1", 1, 0, 0, NULL },
	{ "timedlock that times out", sc_timedlock_timeout, "1", 1, 0, 0, NULL },
	{ "condvar wait keeps the held stack", sc_cond_wait, "1", 1, 0, 0, NULL },
	{ "condvar wait, nothing else held", sc_cond_wait_clean, "1", 0, 0, 0, NULL },
	{ "C11 mtx ABBA (trylock no edge, timedlock edge)", sc_mtx_abba, "1", 1, 0, 0, NULL },
	{ "two mutexes behind one lock wrapper", sc_wrapper, "1", 0, 0, 0, NULL },
	{ "memory reused for new mutexes", sc_reused_memory, "1", 0, 0, 0, NULL },
	{ "forwarded (process-shared) mutexes", sc_forwarded, "1", 0, 0, 0, NULL },
	{ "three threads, one order", sc_clean_threads, "1", 0, 0, 0, NULL },
	{ "ABBA with KMUTEX_LOCKDEP=abort", sc_abba, "abort", 1, 0, SIGABRT,
	  "kmutex lockdep: KMUTEX_LOCKDEP=abort: aborting" },
};
#define NR_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void check_child(const struct scenario *s, int status, const char *err)
{
	int circ = count(err, CIRCULAR), rec = count(err, RECURSIVE);
	int died = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	bool ok = circ == s->circular && rec == s->recursive && died == s->sig &&
		  (s->sig || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
	const char *report = strstr(err, "WARNING: possible");

	if (s->also) /* after the report: lockdep speaks before the abort */
		ok = ok && report && strstr(report, s->also);
	printf("%s %-50s circular %d recursive %d%s\n", ok ? "ok  " : "FAIL", s->name, circ, rec,
	       died ? (died == SIGABRT ? ", SIGABRT" : ", killed") : "");
	if (!ok) {
		failures++;
		printf("  expected circular %d recursive %d, %s; stderr:\n%s\n", s->circular,
		       s->recursive, s->sig ? "SIGABRT" : "exit 0", err);
	}
}

static char *read_all(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	CHECK(buf);
	buf[len] = '\0';
	return buf;
}

static void run_child(const struct scenario *s, unsigned index)
{
	int fds[2], status;
	char arg[16];
	pid_t pid;
	char *err;

	CHECK(pipe(fds) == 0);
	snprintf(arg, sizeof(arg), "%u", index);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("KMUTEX_LOCKDEP", s->mode, 1);
		execl("/proc/self/exe", "lockdep", "--run", arg, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	err = read_all(fds[0]);
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	check_child(s, status, err);
	free(err);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--run") == 0) {
		unsigned i = (unsigned)atoi(argv[2]);

		CHECK(i < NR_SCENARIOS);
		scenarios[i].run();
		return 0;
	}
	if (!pt_served_by_kmutex("pthread_mutex_lock", (void *)pthread_mutex_lock) ||
	    !pt_served_by_kmutex("mtx_lock", (void *)mtx_lock))
		return 1;
	for (unsigned i = 0; i < NR_SCENARIOS; i++)
		run_child(&scenarios[i], i);
	printf("lockdep through the drop-in: %zu scenarios, %d failed\n", NR_SCENARIOS, failures);
	return failures != 0;
}
