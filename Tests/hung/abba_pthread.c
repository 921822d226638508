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

ABBA_THREAD(pt_abba_thread_a, "pt-abba-a", pthread_mutex_lock, mutex_a, mutex_b, both_hold)
ABBA_THREAD(pt_abba_thread_b, "pt-abba-b", pthread_mutex_lock, mutex_b, mutex_a, both_hold)

int main(void)
{
	char buf[16384];

	capture_stderr();
	(void)scans(); /* fails at once without the preload */
	start_abba(&both_hold, pt_abba_thread_a, pt_abba_thread_b);
	expect_abba_report("pthread abba", "pt-abba-", "mutex_a", "mutex_b", "pt_abba_thread_a",
			   "pt_abba_thread_b", buf, sizeof(buf));
	printf("hung pthread abba under the preload: ok\n");
	fflush(stdout);
	_exit(0);
}
