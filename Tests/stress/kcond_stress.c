/*
 * kcond stress: producers and consumers on a bounded queue guarded by one kmutex, with two
 * kconds (not_empty, not_full).  Every wait is in a predicate loop, as kcond requires; the
 * waits mix plain, timed (short deadlines that often expire) and interruptible ones, under a
 * storm of signals whose handler sometimes calls kmutex_interrupt_self(); wakers mix signal
 * and broadcast, from under the mutex and from outside it.
 *
 * Checked: every item produced is consumed exactly once (a duplicate fails at once, a lost
 * one at the end); no wakeup is lost (a consumer or producer asleep with its predicate true
 * and nobody left to wake it never ends: the watchdog fails the run with a message); the
 * mutex is held whenever a wait returns.  A quarter of the wakes come after the unlock.
 *
 * usage: kcond_stress [-d seconds] [-p producers] [-c consumers]
 */
#include "kmutex.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_SIZE   8
#define MAX_THREADS  16
#define MAX_ITEMS    (1u << 22) /* per producer */
#define WATCHDOG_SLACK 120 /* seconds past the duration: a thread is stuck */

enum wait_kind { WAIT_PLAIN, WAIT_TIMED, WAIT_INTERRUPTIBLE, NR_WAIT_KINDS };

static struct kmutex lock;
static struct kcond not_empty, not_full;
/* Under lock: */
static uint32_t queue[QUEUE_SIZE];
static unsigned q_head, q_len;
static int stopping;         /* producers stop producing */
static int producers_left;
static unsigned long produced, consumed, timeouts, interruptions;
static uint8_t *seen[MAX_THREADS]; /* seen[p][k]: item k of producer p consumed */

static pthread_t consumer_threads[MAX_THREADS];
static int nr_consumers;

static void fail(const char *what)
{
	fprintf(stderr, "kcond_stress: FAIL: %s (queue %u, produced %lu, consumed %lu)\n", what,
		q_len, produced, consumed);
	exit(1);
}

static struct timespec mono_after_ns(long ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += ns;
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_nsec -= 1000000000L;
		ts.tv_sec++;
	}
	return ts;
}

/* One wait of the given kind, with the mutex held; the caller loops on its predicate. */
static void wait_on(struct kcond *c, enum wait_kind kind)
{
	struct timespec deadline;
	int ret = 0;

	switch (kind) {
	case WAIT_PLAIN:
		kcond_wait(c, &lock);
		break;
	case WAIT_TIMED:
		deadline = mono_after_ns(200 * 1000); /* 200 us: expires often */
		ret = kcond_wait_timeout(c, &lock, &deadline);
		if (ret == -ETIMEDOUT)
			timeouts++;
		break;
	default:
		ret = kcond_wait_interruptible(c, &lock);
		if (ret == -EINTR)
			interruptions++;
		break;
	}
	if (ret != 0 && ret != -ETIMEDOUT && ret != -EINTR)
		fail("a wait returned an unexpected code");
	if (!kmutex_is_locked(&lock))
		fail("a wait returned without the mutex");
}

/* A third of the wakes broadcast, the rest signal. */
static void wake(struct kcond *c, unsigned long n)
{
	if (n % 3 == 0)
		kcond_broadcast(c);
	else
		kcond_signal(c);
}

struct producer { int id; enum wait_kind kind; };

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	unsigned long n = 0;

	for (uint32_t k = 0; k < MAX_ITEMS; k++, n++) {
		int outside;

		kmutex_lock(&lock);
		while (q_len == QUEUE_SIZE && !stopping)
			wait_on(&not_full, p->kind);
		if (stopping) {
			kmutex_unlock(&lock);
			break;
		}
		queue[(q_head + q_len++) % QUEUE_SIZE] = (uint32_t)p->id << 24 | k;
		produced++;
		outside = n % 4 == 0;
		if (!outside)
			wake(&not_empty, n);
		kmutex_unlock(&lock);
		if (outside)
			wake(&not_empty, n);
	}
	kmutex_lock(&lock);
	producers_left--;
	kmutex_unlock(&lock);
	kcond_broadcast(&not_empty); /* consumers check producers_left */
	return NULL;
}

static void *consumer_main(void *arg)
{
	enum wait_kind kind = (enum wait_kind)(intptr_t)arg;
	unsigned long n = 0;

	for (;; n++) {
		uint32_t item;
		int outside;

		kmutex_lock(&lock);
		while (q_len == 0 && producers_left > 0)
			wait_on(&not_empty, kind);
		if (q_len == 0) {
			kmutex_unlock(&lock);
			break;
		}
		item = queue[q_head];
		q_head = (q_head + 1) % QUEUE_SIZE;
		q_len--;
		if (seen[item >> 24][item & 0xffffff]++)
			fail("an item was consumed twice");
		consumed++;
		outside = n % 4 == 1;
		if (!outside)
			wake(&not_full, n);
		kmutex_unlock(&lock);
		if (outside)
			wake(&not_full, n);
	}
	return NULL;
}

static void on_signal(int sig)
{
	static __thread unsigned n;

	(void)sig;
	if (n++ % 2)
		kmutex_interrupt_self();
}

static void on_watchdog(int sig)
{
	static const char msg[] = "kcond_stress: FAIL: timed out: a thread never woke (lost wakeup?)\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static int storm_stop; /* atomic */

static void *storm_main(void *arg)
{
	unsigned n = 0;

	(void)arg;
	while (!__atomic_load_n(&storm_stop, __ATOMIC_RELAXED)) {
		struct timespec ts = { 0, 300 * 1000 };

		pthread_kill(consumer_threads[n++ % nr_consumers], SIGUSR1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int duration = 3, nr_producers = 3, opt;
	struct producer producers[MAX_THREADS];
	pthread_t producer_threads[MAX_THREADS], storm;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	nr_consumers = 3;
	while ((opt = getopt(argc, argv, "d:p:c:")) != -1) {
		switch (opt) {
		case 'd': duration = atoi(optarg); break;
		case 'p': nr_producers = atoi(optarg); break;
		case 'c': nr_consumers = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-d seconds] [-p producers] [-c consumers]\n", argv[0]);
			return 2;
		}
	}
	if (nr_producers < 1 || nr_producers > MAX_THREADS || nr_consumers < 1 ||
	    nr_consumers > MAX_THREADS || duration < 1) {
		fprintf(stderr, "kcond_stress: 1..%d producers and consumers, duration >= 1\n", MAX_THREADS);
		return 2;
	}
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGALRM, on_watchdog);
	alarm((unsigned)duration + WATCHDOG_SLACK);
	kmutex_init(&lock);
	kcond_init(&not_empty);
	kcond_init(&not_full);
	producers_left = nr_producers;
	for (int i = 0; i < nr_producers; i++) {
		seen[i] = calloc(MAX_ITEMS, 1);
		producers[i] = (struct producer){ i, (enum wait_kind)(i % NR_WAIT_KINDS) };
		pthread_create(&producer_threads[i], NULL, producer_main, &producers[i]);
	}
	for (int i = 0; i < nr_consumers; i++)
		pthread_create(&consumer_threads[i], NULL, consumer_main,
			       (void *)(intptr_t)((i + 1) % NR_WAIT_KINDS));
	pthread_create(&storm, NULL, storm_main, NULL);

	sleep((unsigned)duration);
	kmutex_lock(&lock);
	stopping = 1;
	kmutex_unlock(&lock);
	kcond_broadcast(&not_full);
	for (int i = 0; i < nr_producers; i++)
		pthread_join(producer_threads[i], NULL);
	for (int i = 0; i < nr_consumers; i++)
		pthread_join(consumer_threads[i], NULL);
	__atomic_store_n(&storm_stop, 1, __ATOMIC_RELAXED);
	pthread_join(storm, NULL);

	if (consumed != produced || q_len != 0)
		fail("items were lost");
	for (int i = 0; i < nr_producers; i++)
		free(seen[i]);
	kcond_destroy(&not_empty);
	kcond_destroy(&not_full);
	kmutex_destroy(&lock);
	printf("kcond_stress: %d producers, %d consumers, %d s: produced %lu consumed %lu, "
	       "timeouts %lu, interruptions %lu\n", nr_producers, nr_consumers, duration, produced,
	       consumed, timeouts, interruptions);
	printf("kcond_stress: PASS\n");
	return 0;
}
