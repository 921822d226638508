/*
 * Unit tests of every pthread_rwlock_* and pthread_rwlockattr_* call libkmutex-pthread
 * interposes, and their return codes.  Built against glibc alone and run under LD_PRELOAD, and
 * built with -lkmutex-pthread (PT_LINKED); run without either it must fail, in t_interposed,
 * with "fell through to glibc": the first test proves the rest run on krwsem.
 *
 * Where a case needs to know a waiter is queued, or needs an overflowing reader count, it reads
 * or writes the krwsem in place, by the layout documented in CShims/include/krwsem.h: the count
 * at offset 0 (bit 0 WRITER_LOCKED, bit 1 WAITERS, readers from bit 8), the owner at 8, the
 * kind at 48, the drop-in's tag at 52.  No case depends on timing: a thread that must be
 * waiting is seen waiting in the count before the case goes on.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "check.h"
#include "pt.h"

/*
 * Versioned references, as binaries built against older glibcs hold them: the dynamic linker
 * must bind each to the drop-in's unversioned definition too.  (The plain references above
 * are this glibc's defaults, GLIBC_2.34 on 2.36.)
 */
#if defined(__x86_64__)
#define BASE_VERSION "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define BASE_VERSION "GLIBC_2.17"
#endif
#define OLD_REF(local, name, version, params)                                   \
	extern int local params;                                                \
	__asm__(".symver " #local "," #name "@" version)
OLD_REF(old_rdlock, pthread_rwlock_rdlock, BASE_VERSION, (pthread_rwlock_t *));
OLD_REF(old_wrlock, pthread_rwlock_wrlock, BASE_VERSION, (pthread_rwlock_t *));
OLD_REF(old_unlock, pthread_rwlock_unlock, BASE_VERSION, (pthread_rwlock_t *));
OLD_REF(old_init, pthread_rwlock_init, BASE_VERSION, (pthread_rwlock_t *, const pthread_rwlockattr_t *));
OLD_REF(old_clockrdlock, pthread_rwlock_clockrdlock, "GLIBC_2.30",
	(pthread_rwlock_t *, clockid_t, const struct timespec *));

#define COUNT_WRITER   0x1ull
#define COUNT_WAITERS  0x2ull
#define COUNT_BIAS     0x100ull

static uint64_t count_of(pthread_rwlock_t *rw)
{
	return __atomic_load_n((uint64_t *)(void *)rw, __ATOMIC_RELAXED);
}

static uint64_t owner_of(pthread_rwlock_t *rw)
{
	return __atomic_load_n((uint64_t *)(void *)((char *)rw + 8), __ATOMIC_RELAXED);
}

static uint32_t word_at(pthread_rwlock_t *rw, size_t offset)
{
	uint32_t w;

	memcpy(&w, (char *)rw + offset, sizeof(w));
	return w;
}

/* Wait (without a time limit: the program's alarm is the limit) until someone queues. */
static void wait_for_waiters(pthread_rwlock_t *rw)
{
	while (!(count_of(rw) & COUNT_WAITERS))
		usleep(100);
}

/* The bytes of an rwlock write-locked by the caller: krwsem's, or glibc's (with a message). */
static int write_locked_bytes_are_krwsem(const char *what, pthread_rwlock_t *rw)
{
	int cur_writer = (int)word_at(rw, 24); /* glibc's __cur_writer */

	if (count_of(rw) == COUNT_WRITER && owner_of(rw) > 0xffff &&
	    cur_writer != (int)syscall(SYS_gettid))
		return 1;
	fprintf(stderr, "%s fell through to glibc: write-locked bytes say word0=%#llx, __cur_writer %d\n",
		what, (unsigned long long)count_of(rw), cur_writer);
	return 0;
}

static void t_interposed(void)
{
	static const struct pt_fn fns[] = {
		PT_FN(pthread_rwlock_init), PT_FN(pthread_rwlock_destroy), PT_FN(pthread_rwlock_rdlock),
		PT_FN(pthread_rwlock_tryrdlock), PT_FN(pthread_rwlock_timedrdlock),
		PT_FN(pthread_rwlock_clockrdlock), PT_FN(pthread_rwlock_wrlock),
		PT_FN(pthread_rwlock_trywrlock), PT_FN(pthread_rwlock_timedwrlock),
		PT_FN(pthread_rwlock_clockwrlock), PT_FN(pthread_rwlock_unlock),
		PT_FN(pthread_rwlockattr_init), PT_FN(pthread_rwlockattr_destroy),
		PT_FN(pthread_rwlockattr_getpshared), PT_FN(pthread_rwlockattr_setpshared),
		PT_FN(pthread_rwlockattr_getkind_np), PT_FN(pthread_rwlockattr_setkind_np),
		{ "pthread_rwlock_rdlock@" BASE_VERSION, (const void *)&old_rdlock },
		{ "pthread_rwlock_wrlock@" BASE_VERSION, (const void *)&old_wrlock },
		{ "pthread_rwlock_unlock@" BASE_VERSION, (const void *)&old_unlock },
		{ "pthread_rwlock_init@" BASE_VERSION, (const void *)&old_init },
		{ "pthread_rwlock_clockrdlock@GLIBC_2.30", (const void *)&old_clockrdlock },
	};
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	struct timespec dl = pt_deadline(CLOCK_MONOTONIC, 1000);

	CHECK(pt_all_served_by_kmutex(fns, sizeof(fns) / sizeof(fns[0])));
	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	CHECK(write_locked_bytes_are_krwsem("pthread_rwlock_wrlock", &rw));
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	/* The old versions run the same code: a read lock is a bias in krwsem's count. */
	CHECK(old_init(&rw, NULL) == 0);
	CHECK(old_rdlock(&rw) == 0);
	CHECK(old_clockrdlock(&rw, CLOCK_MONOTONIC, &dl) == 0);
	CHECK(count_of(&rw) == 2 * COUNT_BIAS);
	CHECK(old_unlock(&rw) == 0 && old_unlock(&rw) == 0);
	CHECK(old_wrlock(&rw) == 0);
	CHECK(write_locked_bytes_are_krwsem("pthread_rwlock_wrlock@" BASE_VERSION, &rw));
	CHECK(old_unlock(&rw) == 0);
	CHECK(count_of(&rw) == 0);
}

/* ---- helpers run in another thread ---- */

static int other_tryrdlock(void *rw) { return pthread_rwlock_tryrdlock(rw); }
static int other_trywrlock(void *rw) { return pthread_rwlock_trywrlock(rw); }
static int other_wr_unlock(void *rw)
{
	int ret = pthread_rwlock_wrlock(rw);

	return ret ? ret : pthread_rwlock_unlock(rw);
}
static int other_rd_unlock(void *rw)
{
	int ret = pthread_rwlock_rdlock(rw);

	return ret ? ret : pthread_rwlock_unlock(rw);
}

/* How the timed calls are asked to wait: 30 ms ahead, or already past. */
static int timed_all(pthread_rwlock_t *rw, long ms, int want)
{
	struct timespec rt = pt_deadline(CLOCK_REALTIME, ms), mono = pt_deadline(CLOCK_MONOTONIC, ms);

	if (pthread_rwlock_timedrdlock(rw, &rt) != want) return __LINE__;
	if (pthread_rwlock_clockrdlock(rw, CLOCK_REALTIME, &rt) != want) return __LINE__;
	if (pthread_rwlock_clockrdlock(rw, CLOCK_MONOTONIC, &mono) != want) return __LINE__;
	if (pthread_rwlock_timedwrlock(rw, &rt) != want) return __LINE__;
	if (pthread_rwlock_clockwrlock(rw, CLOCK_REALTIME, &rt) != want) return __LINE__;
	if (pthread_rwlock_clockwrlock(rw, CLOCK_MONOTONIC, &mono) != want) return __LINE__;
	return 0;
}
static int other_timed_30ms(void *rw) { return timed_all(rw, 30, ETIMEDOUT); }
static int other_timed_past(void *rw) { return timed_all(rw, -1000, ETIMEDOUT); }
static int other_timedwr_30ms(void *rw)
{
	struct timespec rt = pt_deadline(CLOCK_REALTIME, 30), mono = pt_deadline(CLOCK_MONOTONIC, 30);

	if (pthread_rwlock_timedwrlock(rw, &rt) != ETIMEDOUT) return __LINE__;
	if (pthread_rwlock_clockwrlock(rw, CLOCK_MONOTONIC, &mono) != ETIMEDOUT) return __LINE__;
	return 0;
}

/* ---- the cases ---- */

/* Both static initializers, and never-initialized zeroed memory, with no first-use step. */
static void t_static(void)
{
	static pthread_rwlock_t dflt = PTHREAD_RWLOCK_INITIALIZER;
	static pthread_rwlock_t nonrec = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
	pthread_rwlock_t *zeroed = calloc(1, sizeof(*zeroed));
	pthread_rwlock_t *locks[] = { &dflt, &nonrec, zeroed };

	CHECK(zeroed);
	CHECK(word_at(&nonrec, 48) == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (size_t i = 0; i < 3; i++) {
		CHECK(pthread_rwlock_rdlock(locks[i]) == 0);
		CHECK(pthread_rwlock_rdlock(locks[i]) == 0); /* recursive, in every kind */
		CHECK(count_of(locks[i]) == 2 * COUNT_BIAS);
		CHECK(pt_in_thread(other_trywrlock, locks[i]) == EBUSY);
		CHECK(pthread_rwlock_unlock(locks[i]) == 0 && pthread_rwlock_unlock(locks[i]) == 0);
		CHECK(pthread_rwlock_wrlock(locks[i]) == 0);
		CHECK(write_locked_bytes_are_krwsem("pthread_rwlock_wrlock", locks[i]));
		CHECK(pt_in_thread(other_tryrdlock, locks[i]) == EBUSY);
		CHECK(pthread_rwlock_unlock(locks[i]) == 0);
		CHECK(count_of(locks[i]) == 0);
	}
	CHECK(word_at(&nonrec, 48) == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP); /* kept */
	CHECK(pthread_rwlock_destroy(zeroed) == 0);
	free(zeroed);
}

static void t_attr(void)
{
	pthread_rwlockattr_t attr;
	pthread_rwlock_t rw;
	int v = -1;

	CHECK(pthread_rwlockattr_init(&attr) == 0);
	CHECK(pthread_rwlockattr_getkind_np(&attr, &v) == 0 && v == PTHREAD_RWLOCK_PREFER_READER_NP);
	CHECK(pthread_rwlockattr_getpshared(&attr, &v) == 0 && v == PTHREAD_PROCESS_PRIVATE);
	CHECK(pthread_rwlockattr_setkind_np(&attr, 3) == EINVAL);
	CHECK(pthread_rwlockattr_setkind_np(&attr, -1) == EINVAL);
	CHECK(pthread_rwlockattr_setpshared(&attr, 2) == EINVAL);
	CHECK(pthread_rwlockattr_getkind_np(&attr, &v) == 0 && v == PTHREAD_RWLOCK_PREFER_READER_NP);
	for (int kind = 0; kind <= 2; kind++) {
		CHECK(pthread_rwlockattr_setkind_np(&attr, kind) == 0);
		CHECK(pthread_rwlockattr_getkind_np(&attr, &v) == 0 && v == kind);
		memset(&rw, 0xa5, sizeof(rw));
		CHECK(pthread_rwlock_init(&rw, &attr) == 0);
		CHECK(word_at(&rw, 48) == (uint32_t)kind); /* where glibc's init writes it too */
		CHECK(word_at(&rw, 52) == 0);            /* a krwsem, not forwarded */
		CHECK(pthread_rwlock_rdlock(&rw) == 0 && pthread_rwlock_rdlock(&rw) == 0);
		CHECK(pthread_rwlock_unlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0);
		CHECK(pthread_rwlock_wrlock(&rw) == 0);
		CHECK(write_locked_bytes_are_krwsem("pthread_rwlock_wrlock (attr)", &rw));
		CHECK(pthread_rwlock_unlock(&rw) == 0);
		CHECK(pthread_rwlock_destroy(&rw) == 0);
	}
	CHECK(pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0);
	CHECK(pthread_rwlockattr_getpshared(&attr, &v) == 0 && v == PTHREAD_PROCESS_SHARED);
	CHECK(pthread_rwlockattr_destroy(&attr) == 0);
}

/* The write holder asks again: EDEADLK from every blocking call, EBUSY from the try calls. */
static void t_edeadlk(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	struct timespec rt = pt_deadline(CLOCK_REALTIME, 1000), mono = pt_deadline(CLOCK_MONOTONIC, 1000);

	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	CHECK(pthread_rwlock_rdlock(&rw) == EDEADLK);
	CHECK(pthread_rwlock_wrlock(&rw) == EDEADLK);
	CHECK(pthread_rwlock_timedrdlock(&rw, &rt) == EDEADLK);
	CHECK(pthread_rwlock_timedwrlock(&rw, &rt) == EDEADLK);
	CHECK(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &mono) == EDEADLK);
	CHECK(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &mono) == EDEADLK);
	CHECK(pthread_rwlock_tryrdlock(&rw) == EBUSY);
	CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY);
	CHECK(count_of(&rw) == COUNT_WRITER); /* no bias left behind by the refusals */
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	CHECK(pt_in_thread(other_wr_unlock, &rw) == 0); /* free for others again */
}

/* Held by another thread: EBUSY from the try calls, ETIMEDOUT from the timed ones. */
static void t_busy_and_timeouts(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	CHECK(pt_in_thread(other_tryrdlock, &rw) == EBUSY);
	CHECK(pt_in_thread(other_trywrlock, &rw) == EBUSY);
	CHECK_STEPS(pt_in_thread(other_timed_30ms, &rw));
	CHECK_STEPS(pt_in_thread(other_timed_past, &rw));
	CHECK(count_of(&rw) == COUNT_WRITER); /* the timed-out waiters left nothing behind */
	CHECK(pthread_rwlock_unlock(&rw) == 0);

	CHECK(pthread_rwlock_rdlock(&rw) == 0);
	CHECK(pt_in_thread(other_trywrlock, &rw) == EBUSY);
	CHECK(pt_in_thread(other_tryrdlock, &rw) == 0); /* readers share it */
	CHECK_STEPS(pt_in_thread(other_timedwr_30ms, &rw));
	CHECK(pthread_rwlock_unlock(&rw) == 0); /* ours, and the other thread's read lock: */
	CHECK(pthread_rwlock_unlock(&rw) == 0); /* released here, as glibc allows */
	CHECK(count_of(&rw) == 0);
	/* A past deadline on a free lock: acquired, as glibc does. */
	struct timespec past = { 0, 0 };
	CHECK(pthread_rwlock_timedwrlock(&rw, &past) == 0 && pthread_rwlock_unlock(&rw) == 0);
	CHECK(pthread_rwlock_timedrdlock(&rw, &past) == 0 && pthread_rwlock_unlock(&rw) == 0);
}

/* EINVAL for a bad timespec or clock, checked first, even on a free lock (as glibc). */
static void t_einval(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	struct timespec bad[] = { { time(NULL) + 5, 1000000000L }, { time(NULL) + 5, -1 } };
	struct timespec ok = pt_deadline(CLOCK_MONOTONIC, 1000);

	for (int i = 0; i < 2; i++) {
		CHECK(pthread_rwlock_timedrdlock(&rw, &bad[i]) == EINVAL);
		CHECK(pthread_rwlock_timedwrlock(&rw, &bad[i]) == EINVAL);
		CHECK(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &bad[i]) == EINVAL);
		CHECK(pthread_rwlock_clockwrlock(&rw, CLOCK_REALTIME, &bad[i]) == EINVAL);
	}
	CHECK(pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &ok) == EINVAL);
	CHECK(pthread_rwlock_clockwrlock(&rw, CLOCK_THREAD_CPUTIME_ID, &ok) == EINVAL);
	CHECK(pthread_rwlock_clockrdlock(&rw, 12345, &ok) == EINVAL);
	CHECK(count_of(&rw) == 0); /* nothing was taken */
	/* With the lock write-held by the caller, EINVAL still comes first. */
	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	CHECK(pthread_rwlock_timedrdlock(&rw, &bad[0]) == EINVAL);
	CHECK(pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &ok) == EINVAL);
	CHECK(pthread_rwlock_unlock(&rw) == 0);
}

/* EAGAIN when the reader count would overflow (set up by writing krwsem's count in place). */
static void t_eagain(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	const uint64_t full = ((1ull << 55) - 1) << 8; /* 2^55 - 1 readers: the most there can be */
	struct timespec dl = pt_deadline(CLOCK_MONOTONIC, 1000);

	__atomic_store_n((uint64_t *)(void *)&rw, full, __ATOMIC_RELAXED);
	CHECK(pthread_rwlock_rdlock(&rw) == EAGAIN);
	CHECK(pthread_rwlock_tryrdlock(&rw) == EAGAIN);
	CHECK(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &dl) == EAGAIN);
	CHECK(count_of(&rw) == full); /* each refusal took its bias back */
	CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY);
	__atomic_store_n((uint64_t *)(void *)&rw, full - COUNT_BIAS, __ATOMIC_RELAXED);
	CHECK(pthread_rwlock_rdlock(&rw) == 0); /* the last one that fits */
	CHECK(count_of(&rw) == full);
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	__atomic_store_n((uint64_t *)(void *)&rw, 0, __ATOMIC_RELAXED);
	CHECK(pthread_rwlock_destroy(&rw) == 0);
}

/*
 * A writer waits behind our read lock: a new reader is refused (the writer is not starved:
 * glibc's default kind lets it in), and our own recursive read still gets in (no deadlock),
 * from rdlock, tryrdlock and the timed calls.
 */
struct writer_arg {
	pthread_rwlock_t *rw;
	int ret;
};

static void *writer_thread(void *p)
{
	struct writer_arg *w = p;

	w->ret = pthread_rwlock_wrlock(w->rw);
	if (w->ret == 0)
		w->ret = pthread_rwlock_unlock(w->rw);
	return NULL;
}

static void t_writer_waits(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	struct writer_arg w = { &rw, -1 };
	struct timespec dl = pt_deadline(CLOCK_MONOTONIC, 1000);
	pthread_t t;

	CHECK(pthread_rwlock_rdlock(&rw) == 0);
	CHECK(pthread_create(&t, NULL, writer_thread, &w) == 0);
	wait_for_waiters(&rw);
	CHECK(pt_in_thread(other_tryrdlock, &rw) == EBUSY); /* glibc's default: 0, the writer waits on */
	CHECK(pthread_rwlock_rdlock(&rw) == 0);             /* recursive: in, past the writer */
	CHECK(pthread_rwlock_tryrdlock(&rw) == 0);
	CHECK(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &dl) == 0);
	CHECK(count_of(&rw) == (4 * COUNT_BIAS | COUNT_WAITERS));
	for (int i = 0; i < 4; i++)
		CHECK(pthread_rwlock_unlock(&rw) == 0);
	pthread_join(t, NULL);
	CHECK(w.ret == 0);
	CHECK(count_of(&rw) == 0);
}

/* The same with the NONRECURSIVE kind: on krwsem a recursive read still works (see rwlock.c). */
static void t_nonrecursive_kind(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
	struct writer_arg w = { &rw, -1 };
	pthread_t t;

	CHECK(pthread_rwlock_rdlock(&rw) == 0);
	CHECK(pthread_create(&t, NULL, writer_thread, &w) == 0);
	wait_for_waiters(&rw);
	CHECK(pt_in_thread(other_tryrdlock, &rw) == EBUSY);
	CHECK(pthread_rwlock_rdlock(&rw) == 0); /* glibc: a deadlock the caller promised to avoid */
	CHECK(pthread_rwlock_unlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0);
	pthread_join(t, NULL);
	CHECK(w.ret == 0);
}

/* Readers queued behind a writer are all let in when it unlocks. */
static void t_readers_wake(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	struct pt_call calls[4];
	pthread_t t[4];

	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	for (int i = 0; i < 4; i++) {
		calls[i] = (struct pt_call){ other_rd_unlock, &rw, -1 };
		CHECK(pthread_create(&t[i], NULL, pt_call_thread, &calls[i]) == 0);
	}
	wait_for_waiters(&rw);
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(calls[i].ret == 0);
	}
	CHECK(count_of(&rw) == 0);
	CHECK(pt_in_thread(other_wr_unlock, &rw) == 0);
}

/*
 * Destroy, as glibc's: 0 even while held (glibc's own tst-rwlock6/7 rely on it), and the
 * rwlock untouched, usable again without init (as on glibc).  Garbage: EINVAL.
 */
static void t_destroy(void)
{
	pthread_rwlock_t rw;

	CHECK(pthread_rwlock_init(&rw, NULL) == 0);
	CHECK(pthread_rwlock_rdlock(&rw) == 0);
	CHECK(pthread_rwlock_destroy(&rw) == 0);
	CHECK(count_of(&rw) == COUNT_BIAS); /* still read-held */
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	CHECK(pthread_rwlock_wrlock(&rw) == 0);
	CHECK(pthread_rwlock_destroy(&rw) == 0);
	CHECK(pthread_rwlock_unlock(&rw) == 0);
	CHECK(pthread_rwlock_destroy(&rw) == 0);
	CHECK(pthread_rwlock_destroy(&rw) == 0);
	CHECK(pthread_rwlock_rdlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0);
	CHECK(pthread_rwlock_wrlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0);
	CHECK(count_of(&rw) == 0 && word_at(&rw, 48) == 0);
	/* Garbage (neither a krwsem nor a forwarded rwlock): EINVAL, as a garbage mutex. */
	memset(&rw, 0xff, sizeof(rw));
	CHECK(pthread_rwlock_rdlock(&rw) == EINVAL);
	CHECK(pthread_rwlock_wrlock(&rw) == EINVAL);
	CHECK(pthread_rwlock_tryrdlock(&rw) == EINVAL);
	CHECK(pthread_rwlock_trywrlock(&rw) == EINVAL);
	CHECK(pthread_rwlock_unlock(&rw) == EINVAL);
	CHECK(pthread_rwlock_destroy(&rw) == 0);
}

/* Process-shared: glibc's own rwlock, forwarded, and shared with a child process. */
static void t_pshared(void)
{
	pthread_rwlock_t *rw = mmap(NULL, sizeof(*rw), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_rwlockattr_t attr;
	struct timespec rt = pt_deadline(CLOCK_REALTIME, 1000), mono = pt_deadline(CLOCK_MONOTONIC, 1000);
	struct timespec bad = { 0, -1 };
	int status;
	pid_t pid;

	CHECK(rw != MAP_FAILED);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	CHECK(pthread_rwlock_init(rw, &attr) == 0);
	CHECK(word_at(rw, 28) == 1);          /* glibc's __shared */
	CHECK(word_at(rw, 52) == 0x62696c67u); /* the drop-in's tag: forwarded */
	CHECK(pthread_rwlock_wrlock(rw) == 0);
	CHECK((int)word_at(rw, 24) == (int)syscall(SYS_gettid)); /* glibc's __cur_writer */
	CHECK(pthread_rwlock_rdlock(rw) == EDEADLK);          /* glibc's answers */
	CHECK(pthread_rwlock_tryrdlock(rw) == EBUSY);
	CHECK(pthread_rwlock_timedrdlock(rw, &bad) == EINVAL);
	pid = fork();
	if (pid == 0) {
		struct timespec soon = pt_deadline(CLOCK_MONOTONIC, 20);

		if (pthread_rwlock_trywrlock(rw) != EBUSY) _exit(1);
		if (pthread_rwlock_clockrdlock(rw, CLOCK_MONOTONIC, &soon) != ETIMEDOUT) _exit(2);
		if (pthread_rwlock_rdlock(rw) != 0) _exit(3); /* waits for the parent's unlock */
		if (pthread_rwlock_unlock(rw) != 0) _exit(4);
		_exit(0);
	}
	CHECK(pid > 0);
	usleep(50000);
	CHECK(pthread_rwlock_unlock(rw) == 0);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(pthread_rwlock_timedrdlock(rw, &rt) == 0 && pthread_rwlock_unlock(rw) == 0);
	CHECK(pthread_rwlock_clockwrlock(rw, CLOCK_MONOTONIC, &mono) == 0 && pthread_rwlock_unlock(rw) == 0);
	CHECK(pthread_rwlock_trywrlock(rw) == 0 && pthread_rwlock_unlock(rw) == 0);
	CHECK(pthread_rwlock_destroy(rw) == 0);
	munmap(rw, sizeof(*rw));
}

/*
 * Mutual exclusion and data visibility: writers keep two counters equal under the write lock,
 * readers check them, some readers nest a second read lock.
 */
#define STRESS_ITERS 20000
static pthread_rwlock_t stress_rw = PTHREAD_RWLOCK_INITIALIZER;
static long stress_a, stress_b;
static int stress_bad;

static void *stress_reader(void *p)
{
	long nested = (long)p;

	for (int i = 0; i < STRESS_ITERS; i++) {
		if (i % 3 == 0) {
			while (pthread_rwlock_tryrdlock(&stress_rw) == EBUSY)
				;
		} else {
			pthread_rwlock_rdlock(&stress_rw);
		}
		if (nested)
			pthread_rwlock_rdlock(&stress_rw);
		if (stress_a != stress_b)
			__atomic_store_n(&stress_bad, 1, __ATOMIC_RELAXED);
		if (nested)
			pthread_rwlock_unlock(&stress_rw);
		pthread_rwlock_unlock(&stress_rw);
	}
	return NULL;
}

static void *stress_writer(void *p)
{
	(void)p;
	for (int i = 0; i < STRESS_ITERS; i++) {
		struct timespec dl = pt_deadline(CLOCK_MONOTONIC, 1000);

		if (i % 2 == 0)
			pthread_rwlock_wrlock(&stress_rw);
		else if (pthread_rwlock_clockwrlock(&stress_rw, CLOCK_MONOTONIC, &dl) != 0)
			continue;
		stress_a++;
		stress_b++;
		pthread_rwlock_unlock(&stress_rw);
	}
	return NULL;
}

static void t_stress(void)
{
	pthread_t t[4];

	pthread_create(&t[0], NULL, stress_reader, (void *)0L);
	pthread_create(&t[1], NULL, stress_reader, (void *)1L);
	pthread_create(&t[2], NULL, stress_writer, NULL);
	pthread_create(&t[3], NULL, stress_writer, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(!stress_bad);
	CHECK(stress_a == stress_b && stress_a > 0);
	CHECK(count_of(&stress_rw) == 0);
}

/* ---- misuse: the core's one-line message, then abort ---- */

static int misuse_child(int which)
{
	static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

	if (which == 0) {
		pthread_rwlock_unlock(&rw); /* unlock of an unlocked rwlock */
	} else {
		pthread_rwlock_rdlock(&rw);
		pthread_rwlock_unlock(&rw);
		pthread_rwlock_unlock(&rw); /* one unlock too many */
	}
	return 0;
}

static void t_misuse(void)
{
	static char out[16384];

	for (int which = 0; which < 2; which++) {
		CHECK(pt_child_aborts(misuse_child, which, out, sizeof(out)));
		CHECK(strstr(out, "up_read of a krwsem that is not read-locked"));
	}
}

/*
 * KMUTEX_RWLOCK=glibc under the preload (--expect-glibc): the calls still reach the drop-in,
 * which passes every rwlock to glibc: the write-locked bytes are glibc's (__cur_writer), and
 * glibc's reader preference lets a reader in beside a read-held lock whatever waits.
 */
static void t_all_glibc(void)
{
	static pthread_rwlock_t stat = PTHREAD_RWLOCK_INITIALIZER;
	pthread_rwlock_t rw;
	struct timespec dl = pt_deadline(CLOCK_MONOTONIC, 1000);

	CHECK(pt_served_by_kmutex("pthread_rwlock_wrlock", (const void *)&pthread_rwlock_wrlock));
	CHECK(pthread_rwlock_init(&rw, NULL) == 0);
	pthread_rwlock_t *locks[] = { &stat, &rw };
	for (int i = 0; i < 2; i++) {
		CHECK(pthread_rwlock_wrlock(locks[i]) == 0);
		CHECK((int)word_at(locks[i], 24) == (int)syscall(SYS_gettid)); /* glibc's __cur_writer */
		CHECK(pthread_rwlock_rdlock(locks[i]) == EDEADLK);
		CHECK(pthread_rwlock_unlock(locks[i]) == 0);
		CHECK(pthread_rwlock_clockrdlock(locks[i], CLOCK_MONOTONIC, &dl) == 0);
		CHECK(pthread_rwlock_tryrdlock(locks[i]) == 0);
		CHECK(pt_in_thread(other_trywrlock, locks[i]) == EBUSY);
		CHECK(pthread_rwlock_unlock(locks[i]) == 0 && pthread_rwlock_unlock(locks[i]) == 0);
		CHECK(word_at(locks[i], 24) == 0);
	}
	CHECK(pthread_rwlock_destroy(&rw) == 0);
}

int main(int argc, char **argv)
{
	check_start(50);
	if (argc > 1 && strcmp(argv[1], "--expect-glibc") == 0) {
		RUN(t_all_glibc);
		return check_finish();
	}
	RUN(t_interposed);
	if (check_failed) /* not on krwsem: the rest would test glibc */
		return check_finish();
	RUN(t_static);
	RUN(t_attr);
	RUN(t_edeadlk);
	RUN(t_busy_and_timeouts);
	RUN(t_einval);
	RUN(t_eagain);
	RUN(t_writer_waits);
	RUN(t_nonrecursive_kind);
	RUN(t_readers_wake);
	RUN(t_destroy);
	RUN(t_pshared);
	RUN(t_stress);
	RUN(t_misuse);
	return check_finish();
}
