/*
 * Lockdep scenarios: the mutex column of the kernel's locking selftests (lib/locking-selftest.c:
 * AA, ABBA, ABBCCA, ABCABC, ABBCCDDA, ABCDBDDA, ABCDBCDA, unlock order), the nested-subclass
 * cases, and trylock / timed / interruptible variants; then the krwsem rows, after the
 * selftests' rwsem column and their reader rows (recursive read-lock, mixed read-write and
 * write-read, the mixed ABBAs, the chain-cached one), with krwsem's one departure: a read of
 * a krwsem the thread already reads is let in past waiting writers, so it is no deadlock and
 * no report, where the kernel's non-recursive down_read is reported (lockdep.h).  None of them deadlocks: each runs in
 * one thread (or in threads one after the other), and lockdep must report exactly what the
 * kernel's lockdep would, from the orders alone.
 *
 * Each scenario runs in a child process of its own (a fresh graph) with KMUTEX_LOCKDEP set,
 * its body twice (a problem is reported once, and the second run must be served from the
 * chain cache); the parent reads the child's stderr and checks the header lines, the lock
 * names and the exit status.  Linked with -rdynamic, and the functions are not static, so
 * that dladdr() can name them in reports.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kmutex.h"
#include "lockdep.h"
#include "check.h"

#ifndef KMUTEX_DEBUG
#error "lockdep scenarios need the debug build (-DKMUTEX_DEBUG, build/debug/libkmutex.a)"
#endif

DEFINE_KMUTEX(lock_a);
DEFINE_KMUTEX(lock_b);
DEFINE_KMUTEX(lock_c);
DEFINE_KMUTEX(lock_d);
static struct kmutex x1, x2; /* two instances of class "X" (set in main of the child) */
static struct kmutex anon1, anon2; /* unnamed: each its own class */
DEFINE_KRWSEM(rw_x);
DEFINE_KRWSEM(rw_y);
static struct krwsem rx1, rx2; /* two instances of class "RX" (set in main of the child) */

#define A (&lock_a)
#define B (&lock_b)
#define C (&lock_c)
#define D (&lock_d)

/* The kernel selftests' LOCK_UNLOCK_2(x, y): take x, then y, release both. */
__attribute__((noinline)) void lock_unlock_2(struct kmutex *x, struct kmutex *y)
{
	kmutex_lock(x);
	kmutex_lock(y);
	kmutex_unlock(y);
	kmutex_unlock(x);
}

static struct timespec in_one_second(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += 1;
	return t;
}

/* ---- scenario bodies (run twice each) -------------------------------------------------- */

void s_aa(void) { lock_unlock_2(&x1, &x2); }
void s_aa_self(void) { kmutex_lock(A); kmutex_lock(A); } /* reported, then the core aborts */
void s_abba(void) { lock_unlock_2(A, B); lock_unlock_2(B, A); }
void s_abbcca(void) { lock_unlock_2(A, B); lock_unlock_2(B, C); lock_unlock_2(C, A); }
void s_abcabc(void) { lock_unlock_2(A, B); lock_unlock_2(C, A); lock_unlock_2(B, C); }
void s_abbccdda(void)
{
	lock_unlock_2(A, B); lock_unlock_2(B, C); lock_unlock_2(C, D); lock_unlock_2(D, A);
}
void s_abcdbdda(void)
{
	lock_unlock_2(A, B); lock_unlock_2(C, D); lock_unlock_2(B, D); lock_unlock_2(D, A);
}
void s_abcdbcda(void)
{
	lock_unlock_2(A, B); lock_unlock_2(C, D); lock_unlock_2(B, C); lock_unlock_2(D, A);
}
/* Same order every time, and three deep: nothing to report. */
void s_clean(void)
{
	kmutex_lock(A); kmutex_lock(B); kmutex_lock(C);
	kmutex_unlock(C); kmutex_unlock(B); kmutex_unlock(A);
	lock_unlock_2(A, C);
}
/* Unlocking out of order is not a deadlock (the selftests' "bad unlock order" succeeds). */
void s_unlock_order(void)
{
	kmutex_lock(A); kmutex_lock(B); kmutex_unlock(A); kmutex_unlock(B);
	lock_unlock_2(A, B);
}

void *thread_ab(void *arg) { (void)arg; lock_unlock_2(A, B); return NULL; }
void *thread_ba(void *arg) { (void)arg; lock_unlock_2(B, A); return NULL; }
/* ABBA across two threads that run one after the other. */
void s_abba_threads(void)
{
	pthread_t t;

	pthread_create(&t, NULL, thread_ab, NULL);
	pthread_join(t, NULL);
	pthread_create(&t, NULL, thread_ba, NULL);
	pthread_join(t, NULL);
}

/* Nesting: same class, distinct subclasses, is fine; same subclass is AA. */
void s_nested_ok(void)
{
	kmutex_lock(&x1); kmutex_lock_nested(&x2, 1);
	kmutex_unlock(&x2); kmutex_unlock(&x1);
}
void s_nested_same(void)
{
	kmutex_lock_nested(&x1, 1); kmutex_lock_nested(&x2, 1);
	kmutex_unlock(&x2); kmutex_unlock(&x1);
}
/* X/0 -> X/1 and then X/1 -> X/0: a subclass inversion is ABBA. */
void s_nested_inverted(void)
{
	kmutex_lock(&x1); kmutex_lock_nested(&x2, 1);
	kmutex_unlock(&x2); kmutex_unlock(&x1);
	kmutex_lock_nested(&x1, 1); kmutex_lock(&x2);
	kmutex_unlock(&x2); kmutex_unlock(&x1);
}

/* Trylock: B taken with trylock after A adds no A->B, so B then A is no cycle. */
void s_try_abba(void)
{
	kmutex_lock(A);
	if (kmutex_trylock(B))
		kmutex_unlock(B);
	kmutex_unlock(A);
	lock_unlock_2(B, A);
}
/* A then B, and later B held, trylock A: no edge, no report. */
void s_abba_try(void)
{
	lock_unlock_2(A, B);
	kmutex_lock(B);
	if (kmutex_trylock(A))
		kmutex_unlock(A);
	kmutex_unlock(B);
}
/* A trylock of a second instance of a held class is not checked either. */
void s_try_aa(void)
{
	kmutex_lock(&x1);
	if (kmutex_trylock(&x2))
		kmutex_unlock(&x2);
	kmutex_unlock(&x1);
}
/* A held by trylock, then B by blocking: A->B exists (a trylocked lock can be waited behind). */
void s_trylocked_then_lock(void)
{
	if (kmutex_trylock(A)) {
		kmutex_lock(B);
		kmutex_unlock(B);
		kmutex_unlock(A);
	}
	lock_unlock_2(B, A);
}
/* Timed and interruptible locks can wait: they add edges. */
void s_timed_abba(void)
{
	struct timespec t = in_one_second();

	lock_unlock_2(A, B);
	kmutex_lock(B);
	if (kmutex_lock_timeout(A, &t) == 0)
		kmutex_unlock(A);
	kmutex_unlock(B);
}
void s_intr_abba(void)
{
	lock_unlock_2(A, B);
	kmutex_lock(B);
	if (kmutex_lock_interruptible(A) == 0)
		kmutex_unlock(A);
	kmutex_unlock(B);
}

/* A timed lock that times out is not held afterwards: B must not be below C. */
static int holder_ready, holder_go;
void *hold_b(void *arg)
{
	(void)arg;
	kmutex_lock(B);
	__atomic_store_n(&holder_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&holder_go, __ATOMIC_ACQUIRE))
		usleep(1000);
	kmutex_unlock(B);
	return NULL;
}
void s_timed_fail(void)
{
	pthread_t t;
	struct timespec now;

	holder_ready = holder_go = 0;
	pthread_create(&t, NULL, hold_b, NULL);
	while (!__atomic_load_n(&holder_ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	kmutex_lock(A);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (kmutex_lock_timeout(B, &now) != -ETIMEDOUT)
		abort();
	kmutex_lock(C); /* held: A only, so A->C and not B->C */
	kmutex_unlock(C);
	kmutex_unlock(A);
	__atomic_store_n(&holder_go, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	lock_unlock_2(C, B);
}

/* Unnamed mutexes: each its own class, keyed by its address, and the report says so. */
void s_unnamed_abba(void) { lock_unlock_2(&anon1, &anon2); lock_unlock_2(&anon2, &anon1); }

/* More locks than the held stack takes: one clear message, no report. */
void s_overflow(void)
{
	static struct kmutex many[KMX_LOCKDEP_MAX_DEPTH + 1];

	for (int i = 0; i <= KMX_LOCKDEP_MAX_DEPTH; i++) {
		char name[16];

		snprintf(name, sizeof(name), "many%d", i);
		kmutex_set_name(&many[i], name);
	}
	for (int i = 0; i <= KMX_LOCKDEP_MAX_DEPTH; i++)
		kmutex_lock(&many[i]);
	for (int i = KMX_LOCKDEP_MAX_DEPTH; i >= 0; i--)
		kmutex_unlock(&many[i]);
}

/* A kcond wait releases and retakes its mutex: the held stack stays consistent. */
void s_kcond(void)
{
	static DEFINE_KCOND(cond);
	struct timespec now;

	kmutex_lock(A);
	kmutex_lock(B);
	clock_gettime(CLOCK_MONOTONIC, &now);
	(void)kcond_wait_timeout(&cond, B, &now);
	kmutex_unlock(B);
	kmutex_unlock(A);
	lock_unlock_2(A, B);
}

/* ---- krwsem: read and write (the selftests' RL/WL/RU/WU on an rwsem) ------------------- */

#define RL(s) krwsem_down_read(s)
#define RU(s) krwsem_up_read(s)
#define WL(s) krwsem_down_write(s)
#define WU(s) krwsem_up_write(s)
#define X (&rw_x)
#define Y (&rw_y)

/* A lock that would wait on the caller itself: lockdep reports it first, then the deadline
 * (already past) ends the wait, so the scenario goes on without deadlocking. */
static void read_would_block(struct krwsem *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (krwsem_down_read_timeout(s, &now) == 0)
		abort();
}
static void write_would_block(struct krwsem *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (krwsem_down_write_timeout(s, &now) == 0)
		abort();
}

/* "recursive read-lock": the kernel reports it for rwsem; a krwsem lets it in. */
void s_rw_recursive_read(void) { RL(X); RL(X); RU(X); RU(X); }
/* The nested read under another lock cannot wait either: no Y -> X dependency. */
void s_rw_recursive_read_under(void)
{
	RL(X); WL(Y); RL(X); RU(X); WU(Y); RU(X);
	lock_unlock_2(A, B);
}
/* "mixed read-write-lock" and "mixed write-read-lock": AA on one instance.  The write holder's
 * read is misuse to the core (EDEADLK to a layered API): lockdep reports first, then it aborts. */
void s_rw_read_write(void) { RL(X); write_would_block(X); RU(X); }
void s_rw_write_read(void) { WL(X); read_would_block(X); WU(X); }
/* Two instances of one class, both read: the kernel's rwsem AA (a waiting writer on each). */
void s_rw_read_read_class(void) { RL(&rx1); RL(&rx2); RU(&rx2); RU(&rx1); }
/* "mixed read-lock/lock-write ABBA": X read then A, A then X write. */
void s_rw_rl_lw_abba(void)
{
	RL(X); kmutex_lock(A); kmutex_unlock(A); RU(X);
	kmutex_lock(A); WL(X); WU(X); kmutex_unlock(A);
}
/* "mixed read-lock/lock-read ABBA": reported for rwsem (and krwsem), where a writer queued on
 * X blocks the second reader; only the kernel's recursive rwlock readers pass it. */
void s_rw_rl_lr_abba(void)
{
	RL(X); kmutex_lock(A); kmutex_unlock(A); RU(X);
	kmutex_lock(A); RL(X); RU(X); kmutex_unlock(A);
}
/* "mixed write-lock/lock-write ABBA". */
void s_rw_wl_lw_abba(void)
{
	WL(X); kmutex_lock(A); kmutex_unlock(A); WU(X);
	kmutex_lock(A); WL(X); WU(X); kmutex_unlock(A);
}
/* Read-read ABBA between two krwsems: a writer queued on each makes it a deadlock. */
void s_rw_read_read_abba(void)
{
	RL(X); RL(Y); RU(Y); RU(X);
	RL(Y); RL(X); RU(X); RU(Y);
}
/* "chain cached mixed R-L/L-W ABBA": the R-L chain validated and cached first. */
void s_rw_chain_cached(void)
{
	RL(X); kmutex_lock(A); kmutex_unlock(A); RU(X);
	RL(X); kmutex_lock(A); kmutex_unlock(A); RU(X);
	kmutex_lock(A); WL(X); WU(X); kmutex_unlock(A);
}
/* Trylocks cannot wait, in either mode: no report. */
void s_rw_trylock_abba(void)
{
	WL(X); kmutex_lock(A); kmutex_unlock(A); WU(X);
	kmutex_lock(A);
	if (krwsem_down_read_trylock(X))
		RU(X);
	if (krwsem_down_write_trylock(X))
		WU(X);
	kmutex_unlock(A);
}
/* A downgraded write lock is a read lock: a read of it again is recursive, not AA. */
void s_rw_downgrade(void)
{
	WL(X); krwsem_downgrade_write(X); RL(X); RU(X); RU(X);
}
/* Same order in both modes, and out-of-order release: nothing to report. */
void s_rw_clean(void)
{
	RL(X); WL(Y); RU(X); WU(Y);
	WL(X); RL(Y); RU(Y); WU(X);
}

/* ---- the table ------------------------------------------------------------------------- */

enum { NONE, CIRCULAR, RECURSIVE };

struct scenario {
	const char *name;
	void (*body)(void);
	int expect;            /* the one report lockdep must make, or NONE */
	const char *env;       /* KMUTEX_LOCKDEP */
	int expect_abort;
	const char *must_say[3]; /* strings the report must contain */
};

static const struct scenario scenarios[] = {
	{ "AA", s_aa, RECURSIVE, "1", 0, { "(X)", "lock_unlock_2+", "missing lock nesting" } },
	{ "AA-same-mutex", s_aa_self, RECURSIVE, "1", 1, { "(lock_a)", "recursive lock by the owner" } },
	{ "ABBA", s_abba, CIRCULAR, "1", 0, { "(lock_a)", "(lock_b)", "CPU0                    CPU1" } },
	{ "ABBA-2-threads", s_abba_threads, CIRCULAR, "1", 0, { "(lock_a)", "thread_ab", "thread_ba" } },
	{ "ABBCCA", s_abbcca, CIRCULAR, "1", 0, { "Chain exists of:\n  lock_a --> lock_b --> lock_c" } },
	{ "ABCABC", s_abcabc, CIRCULAR, "1", 0, { "Chain exists of:", "(lock_c)" } },
	{ "ABBCCDDA", s_abbccdda, CIRCULAR, "1", 0, { "lock_a --> lock_b --> lock_c --> lock_d", "-> #3" } },
	{ "ABCDBDDA", s_abcdbdda, CIRCULAR, "1", 0, { "lock_a --> lock_b --> lock_d" } },
	{ "ABCDBCDA", s_abcdbcda, CIRCULAR, "1", 0, { "lock_a --> lock_b --> lock_c --> lock_d" } },
	{ "clean-order", s_clean, NONE, "1", 0, { 0 } },
	{ "unlock-order", s_unlock_order, NONE, "1", 0, { 0 } },
	{ "nested-subclass-ok", s_nested_ok, NONE, "1", 0, { 0 } },
	{ "nested-same-subclass", s_nested_same, RECURSIVE, "1", 0, { "(X/1)" } },
	{ "nested-inverted", s_nested_inverted, CIRCULAR, "1", 0, { "(X/1)", "(X)" } },
	{ "trylock-then-ABBA", s_try_abba, NONE, "1", 0, { 0 } },
	{ "ABBA-with-trylock", s_abba_try, NONE, "1", 0, { 0 } },
	{ "trylock-AA", s_try_aa, NONE, "1", 0, { 0 } },
	{ "trylocked-then-lock", s_trylocked_then_lock, CIRCULAR, "1", 0, { "(lock_b)", "s_trylocked_then_lock+" } },
	{ "timed-ABBA", s_timed_abba, CIRCULAR, "1", 0, { "(lock_b)" } },
	{ "interruptible-ABBA", s_intr_abba, CIRCULAR, "1", 0, { "(lock_b)" } },
	{ "timed-out-not-held", s_timed_fail, NONE, "1", 0, { 0 } },
	{ "unnamed-ABBA", s_unnamed_abba, CIRCULAR, "1", 0, { "kmutex@0x", "keyed by its address" } },
	{ "ABBA-abort", s_abba, CIRCULAR, "abort", 1, { "KMUTEX_LOCKDEP=abort" } },
	{ "ABBA-lockdep-off", s_abba, NONE, "0", 0, { 0 } },
	{ "overflow", s_overflow, NONE, "1", 0, { "holds more than 48 locks (MAX_LOCK_DEPTH)" } },
	{ "kcond-relock", s_kcond, NONE, "1", 0, { 0 } },
	{ "rwsem-recursive-read", s_rw_recursive_read, NONE, "1", 0, { 0 } },
	{ "rwsem-recursive-read-under-lock", s_rw_recursive_read_under, NONE, "1", 0, { 0 } },
	{ "rwsem-read-write", s_rw_read_write, RECURSIVE, "1", 0,
	  { "(rw_x) for read, at: s_rw_read_write+", "  rlock(rw_x);\n  lock(rw_x);" } },
	/* reported, then the core's misuse abort (the write holder asking to read) */
	{ "rwsem-write-read", s_rw_write_read, RECURSIVE, "1", 1,
	  { "  lock(rw_x);\n  rlock(rw_x);", "read lock by the write holder" } },
	{ "rwsem-read-read-same-class", s_rw_read_read_class, RECURSIVE, "1", 0,
	  { "(RX) for read", "  rlock(RX);\n  rlock(RX);" } },
	{ "rwsem-RL-LW-ABBA", s_rw_rl_lw_abba, CIRCULAR, "1", 0,
	  { "  lock(lock_a);\n                               rlock(rw_x);\n                               lock(lock_a);\n  lock(rw_x);" } },
	{ "rwsem-RL-LR-ABBA", s_rw_rl_lr_abba, CIRCULAR, "1", 0, { "  rlock(rw_x);\n\n *** DEADLOCK" } },
	{ "rwsem-WL-LW-ABBA", s_rw_wl_lw_abba, CIRCULAR, "1", 0, { "(rw_x)", "(lock_a)" } },
	{ "rwsem-read-read-ABBA", s_rw_read_read_abba, CIRCULAR, "1", 0,
	  { "  rlock(rw_y);\n                               rlock(rw_x);\n                               rlock(rw_y);\n  rlock(rw_x);" } },
	{ "rwsem-chain-cached-RL-LW", s_rw_chain_cached, CIRCULAR, "1", 0, { "(rw_x)" } },
	{ "rwsem-trylock-ABBA", s_rw_trylock_abba, NONE, "1", 0, { 0 } },
	{ "rwsem-downgrade-read", s_rw_downgrade, NONE, "1", 0, { 0 } },
	{ "rwsem-clean", s_rw_clean, NONE, "1", 0, { 0 } },
};
#define NR_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* Child: run the body twice; the second run must not search the graph (chain cache). */
static int child(const struct scenario *s)
{
	struct kmx_lockdep_stats first, second;

	kmutex_set_name(&x1, "X");
	kmutex_set_name(&x2, "X");
	krwsem_set_name(&rx1, "RX");
	krwsem_set_name(&rx2, "RX");
	s->body();
	kmx_lockdep_get_stats(&first);
	s->body();
	kmx_lockdep_get_stats(&second);
	if (second.searches != first.searches || second.chains != first.chains) {
		fprintf(stderr, "CACHE-MISS: second run searched the graph (%llu -> %llu searches)\n",
			(unsigned long long)first.searches, (unsigned long long)second.searches);
		return 3;
	}
	return 0;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static const char *self_path;
static const struct scenario *current;
static char verbose;

static void run_current(void)
{
	const struct scenario *s = current;
	static char buf[1 << 17];
	int pipefd[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int circular, recursive;

	CHECK(pipe(pipefd) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char idx[16];

		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		setenv("KMUTEX_LOCKDEP", s->env, 1);
		snprintf(idx, sizeof(idx), "%d", (int)(s - scenarios));
		execl(self_path, self_path, "--child", idx, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(pipefd[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (verbose)
		fprintf(stderr, "---- %s ----\n%s", s->name, buf);

	circular = count(buf, "WARNING: possible circular locking dependency detected");
	recursive = count(buf, "WARNING: possible recursive locking detected");
	if (s->expect_abort) {
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	} else {
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			fprintf(stderr, "%s", buf);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	if (circular != (s->expect == CIRCULAR) || recursive != (s->expect == RECURSIVE))
		fprintf(stderr, "%s: %d circular, %d recursive reports:\n%s", s->name, circular,
			recursive, buf);
	CHECK(circular == (s->expect == CIRCULAR));   /* once, though the body ran twice */
	CHECK(recursive == (s->expect == RECURSIVE));
	if (s->expect != NONE) {
		CHECK(strstr(buf, "is trying to acquire lock:"));
		CHECK(strstr(buf, "but task is already holding lock:"));
		CHECK(strstr(buf, " *** DEADLOCK ***"));
		CHECK(strstr(buf, "stack backtrace:"));
	}
	if (s->expect == CIRCULAR) {
		CHECK(strstr(buf, "the existing dependency chain (in reverse order) is:"));
		CHECK(strstr(buf, "Possible unsafe locking scenario"));
	}
	for (int i = 0; i < 3 && s->must_say[i]; i++) {
		if (!strstr(buf, s->must_say[i]))
			fprintf(stderr, "%s: report lacks \"%s\":\n%s", s->name, s->must_say[i], buf);
		CHECK(strstr(buf, s->must_say[i]));
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(&scenarios[atoi(argv[2])]);

	self_path = argv[0];
	verbose = getenv("LOCKDEP_TEST_VERBOSE") != NULL;
	check_start(60);
	for (size_t i = 0; i < NR_SCENARIOS; i++) {
		current = &scenarios[i];
		check_case_failed = 0;
		run_current();
		if (check_case_failed) {
			check_failed++;
			fprintf(stderr, "FAIL %s\n", current->name);
		} else {
			check_passed++;
			printf("ok   %s (%s)\n", current->name,
			       current->expect == CIRCULAR ? "circular reported"
			       : current->expect == RECURSIVE ? "recursive reported" : "no report");
		}
		fflush(stdout);
	}
	return check_finish();
}
