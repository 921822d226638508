/*
 * Issue 21 item 6: a lock benchmark in the shape of FlexGuard's "scheduling" benchmark, written
 * here from its description (one lock, N threads, a critical section on one cache line, a delay
 * between sections).  Each thread loops: take the lock, increment the first CS_WORDS words of
 * one shared 64-byte line, release it, then spin DELAY iterations of an empty loop outside.
 * The figure is total acquisitions per second over MS milliseconds.
 *
 * One binary, three locks, so every lock is compiled the same way and called from the same loop:
 *   pthread   a PTHREAD_MUTEX_INITIALIZER mutex through the PLT: glibc's default (NORMAL) mutex,
 *             or libkmutex-pthread's when flexbench.sh runs it under LD_PRELOAD;
 *   adaptive  glibc's PTHREAD_MUTEX_ADAPTIVE_NP (spins a bounded while before it sleeps);
 *   futex     a plain three-state futex lock defined below and inlined into the loop: what a
 *             program gets from the simplest correct sleeping lock, the floor the drop-in is
 *             compared with.
 *
 * After the run the shared words must all equal the sum of the threads' counts: a lost update
 * means two threads were inside together, and the program says so and exits 1.
 *
 * usage: pt_flexguard pthread|adaptive|futex THREADS [MS] [DELAY]
 * prints: pt_flexguard lock=L threads=N ms=M delay=D ops=X ops_per_s=Y exclusive=1 preload=0|1
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preloaded.h"

#define MAX_THREADS 256
#define CS_WORDS    4 /* of the line's 8: "a few words of one line" */

enum lock_kind { LOCK_PTHREAD, LOCK_ADAPTIVE, LOCK_FUTEX };

/* ---- the plain futex lock (Drepper's "Futexes Are Tricky", mutex 3): no spinning ---------- */

enum { FUTEX_UNLOCKED, FUTEX_LOCKED, FUTEX_CONTENDED /* locked, and someone may sleep */ };

static void futex_lock_slow(uint32_t *state, uint32_t seen)
{
	/*
	 * Mark the lock contended before sleeping, so the holder's unlock knows to wake; the
	 * exchange also takes the lock if it was released meanwhile (it returns UNLOCKED).  The
	 * lock stays CONTENDED after we take it this way (we cannot know whether others sleep):
	 * at worst one needless wake.  ACQUIRE: pairs with futex_unlock's RELEASE exchange.
	 */
	if (seen != FUTEX_CONTENDED)
		seen = __atomic_exchange_n(state, FUTEX_CONTENDED, __ATOMIC_ACQUIRE);
	while (seen != FUTEX_UNLOCKED) {
		/* Sleeps only while the word is still CONTENDED: an unlock in between returns at
		 * once (EAGAIN), and so does a signal (EINTR); either way we retry the exchange. */
		syscall(SYS_futex, state, FUTEX_WAIT_PRIVATE, FUTEX_CONTENDED, NULL, NULL, 0);
		seen = __atomic_exchange_n(state, FUTEX_CONTENDED, __ATOMIC_ACQUIRE);
	}
}

static inline void futex_lock(uint32_t *state)
{
	uint32_t seen = FUTEX_UNLOCKED;

	/* ACQUIRE on success: pairs with futex_unlock's RELEASE; nothing to order on failure. */
	if (!__atomic_compare_exchange_n(state, &seen, FUTEX_LOCKED, 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		futex_lock_slow(state, seen);
}

static inline void futex_unlock(uint32_t *state)
{
	/* RELEASE: publishes the critical section to the next acquirer's ACQUIRE. */
	if (__atomic_exchange_n(state, FUTEX_UNLOCKED, __ATOMIC_RELEASE) == FUTEX_CONTENDED)
		syscall(SYS_futex, state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- the benchmark ------------------------------------------------------------------------ */

static pthread_mutex_t plain_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t adaptive_mutex;
static uint32_t futex_word;

/* The one line the critical sections share, alone on its line. */
static struct {
	uint64_t word[8];
} shared_line __attribute__((aligned(64)));

static struct {
	uint64_t ops;
} __attribute__((aligned(64))) counts[MAX_THREADS];

static unsigned delay_iterations;
static pthread_barrier_t start_line;
static int stop; /* atomic */

static int stopped(void)
{
	/* RELAXED: a flag polled between sections; pthread_join orders the counts after it. */
	return __atomic_load_n(&stop, __ATOMIC_RELAXED);
}

static inline void critical_section(void)
{
	for (int i = 0; i < CS_WORDS; i++)
		shared_line.word[i]++;
}

static inline void delay(void)
{
	for (unsigned i = 0; i < delay_iterations; i++)
		__asm__ volatile("" ::: "memory"); /* an iteration the compiler must keep */
}

/* One loop per lock, the lock calls written out, so none pays for a choice in the loop. */
#define DEFINE_WORKER(name, lock_call, unlock_call)             \
	static void *name(void *arg)                            \
	{                                                       \
		uint64_t ops = 0;                               \
		pthread_barrier_wait(&start_line);              \
		while (!stopped()) {                            \
			lock_call;                              \
			critical_section();                     \
			unlock_call;                            \
			ops++;                                  \
			delay();                                \
		}                                               \
		((typeof(&counts[0]))arg)->ops = ops;           \
		return NULL;                                    \
	}

DEFINE_WORKER(pthread_worker, pthread_mutex_lock(&plain_mutex), pthread_mutex_unlock(&plain_mutex))
DEFINE_WORKER(adaptive_worker, pthread_mutex_lock(&adaptive_mutex),
	      pthread_mutex_unlock(&adaptive_mutex))
DEFINE_WORKER(futex_worker, futex_lock(&futex_word), futex_unlock(&futex_word))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(const char *why)
{
	fprintf(stderr, "pt_flexguard: %s (usage: pt_flexguard pthread|adaptive|futex THREADS [MS] [DELAY])\n",
		why);
	exit(2);
}

static unsigned long number(const char *s, unsigned long lo, unsigned long hi, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage(what);
	return v;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "pthread", "adaptive", "futex" };
	void *(*const workers[])(void *) = { pthread_worker, adaptive_worker, futex_worker };
	pthread_mutexattr_t attr;
	pthread_t tids[MAX_THREADS];
	enum lock_kind kind;
	unsigned threads, ms;
	uint64_t total = 0, t0, elapsed;
	int exclusive = 1;

	if (argc < 3 || argc > 5)
		usage("wrong number of arguments");
	for (kind = 0; kind < 3 && strcmp(argv[1], names[kind]); kind++)
		;
	if (kind == 3)
		usage("no such lock");
	threads = number(argv[2], 1, MAX_THREADS, "THREADS must be 1..256");
	ms = argc > 3 ? number(argv[3], 1, 600000, "MS must be 1..600000") : 1000;
	delay_iterations = argc > 4 ? number(argv[4], 0, 100000000, "DELAY must be 0..1e8") : 200;

	if (pthread_mutexattr_init(&attr) || pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP) ||
	    pthread_mutex_init(&adaptive_mutex, &attr))
		usage("cannot make an ADAPTIVE mutex");
	if (pthread_barrier_init(&start_line, NULL, threads + 1))
		usage("cannot make the start barrier");
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, workers[kind], &counts[i])) {
			fprintf(stderr, "pt_flexguard: cannot start thread %u\n", i);
			return 2;
		}
	pthread_barrier_wait(&start_line);
	t0 = now_ns();
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 }, NULL);
	/* RELAXED: the workers only need to see it eventually; the joins below order the rest. */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	elapsed = now_ns() - t0;

	for (unsigned i = 0; i < threads; i++)
		total += counts[i].ops;
	for (int i = 0; i < CS_WORDS; i++)
		if (shared_line.word[i] != total) {
			fprintf(stderr, "pt_flexguard: %s lost updates: word %d is %llu after %llu sections\n",
				names[kind], i, (unsigned long long)shared_line.word[i],
				(unsigned long long)total);
			exclusive = 0;
		}
	printf("pt_flexguard lock=%s threads=%u ms=%u delay=%u ops=%llu ops_per_s=%.0f exclusive=%d preload=%d\n",
	       names[kind], threads, ms, delay_iterations, (unsigned long long)total,
	       (double)total * 1e9 / (double)elapsed, exclusive, kmutex_preloaded());
	return exclusive ? 0 : 1;
}
