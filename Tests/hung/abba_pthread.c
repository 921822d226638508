/*
 * A real ABBA deadlock on pthread mutexes, in a program that knows nothing of kmutex: run
 * under LD_PRELOAD=libkmutex-pthread.so with KMUTEX_HUNG_TIMEOUT set, the watchdog reports it
 * as a deadlock naming both threads, both mutexes (global variables: dladdr names them, the
 * program is linked with -rdynamic) and the functions where each waits.  It waits for the
 * report text, not for a time.  Without the preload there is no watchdog: the test says so.
 */
#include <pthread.h>

#include "harness.h"

pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t mutex_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold;

__attribute__((noinline)) void *pt_abba_thread_a(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "pt-abba-a");
	pthread_mutex_lock(&mutex_a);
	pthread_barrier_wait(&both_hold);
	pthread_mutex_lock(&mutex_b); /* never returns */
	return NULL;
}

__attribute__((noinline)) void *pt_abba_thread_b(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "pt-abba-b");
	pthread_mutex_lock(&mutex_b);
	pthread_barrier_wait(&both_hold);
	pthread_mutex_lock(&mutex_a); /* never returns */
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	char buf[16384];
	const char *r;

	capture_stderr();
	(void)scans(); /* fails at once without the preload */
	pthread_barrier_init(&both_hold, NULL, 2);
	pthread_create(&a, NULL, pt_abba_thread_a, NULL);
	pthread_create(&b, NULL, pt_abba_thread_b, NULL);
	wait_for_text("Found 1 deadlock.");
	r = section("INFO: task pt-abba-", buf, sizeof(buf));
	expect(r, "Found one kmutex deadlock", "pthread abba");
	expect(r, "\"pt-abba-a\" tid", "pthread abba");
	expect(r, "\"pt-abba-b\" tid", "pthread abba");
	expect(r, "= &mutex_a [", "pthread abba");
	expect(r, "= &mutex_b [", "pthread abba");
	expect(r, "at: pt_abba_thread_a+", "pthread abba");
	expect(r, "at: pt_abba_thread_b+", "pthread abba");
	wait_scans(3);
	if (count(" blocked for more than ") != 1)
		fail("pthread abba: %u reports, want exactly 1", count(" blocked for more than "));
	printf("hung pthread abba under the preload: ok\n");
	fflush(stdout);
	_exit(0);
}
