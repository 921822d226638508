/*
 * Locks taken before any constructor runs.  A function in the executable's .preinit_array
 * runs before the initializers of every shared object, libkmutex-pthread's included: there it
 * uses each mutex type, a condvar wait, a forwarded (glibc) mutex with timedlock (whose glibc
 * function is looked up with dlvsym on first use), dlsym itself and malloc, and records what
 * it saw; main checks the record.
 */
#include <stdlib.h>

#include "check.h"
#include "pt.h"

static int steps_done;
static int failed_step;
static int preinit_on_kmutex;

#define STEP(expr)                                     \
	do {                                           \
		if (!failed_step && !(expr))           \
			failed_step = __LINE__;        \
		steps_done++;                          \
	} while (0)

static void before_constructors(int argc, char **argv, char **envp)
{
	static pthread_mutex_t normal = PTHREAD_MUTEX_INITIALIZER;
	static pthread_mutex_t rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
	static pthread_mutex_t ec = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
	static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	pthread_mutexattr_t attr;
	pthread_mutex_t shared;
	struct timespec dl;
	void *p;

	(void)argc, (void)argv, (void)envp;
	STEP(pthread_mutex_lock(&normal) == 0);
	preinit_on_kmutex = pt_locked_bytes_are_kmutex("pthread_mutex_lock in preinit", &normal);
	STEP(pthread_mutex_unlock(&normal) == 0);
	STEP(pthread_mutex_lock(&rec) == 0 && pthread_mutex_lock(&rec) == 0);
	STEP(pthread_mutex_unlock(&rec) == 0 && pthread_mutex_unlock(&rec) == 0);
	STEP(pthread_mutex_lock(&ec) == 0 && pthread_mutex_lock(&ec) == EDEADLK);
	dl = pt_deadline(CLOCK_REALTIME, 2);
	STEP(pthread_cond_timedwait(&cond, &ec, &dl) == ETIMEDOUT);
	STEP(pthread_mutex_unlock(&ec) == 0);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	STEP(pthread_mutex_init(&shared, &attr) == 0);
	dl = pt_deadline(CLOCK_REALTIME, 1000);
	STEP(pthread_mutex_timedlock(&shared, &dl) == 0);
	STEP(pt_locked_bytes_are_glibc(&shared));
	STEP(pthread_mutex_unlock(&shared) == 0);
	STEP(dlsym(RTLD_DEFAULT, "pthread_mutex_lock") != NULL);
	p = malloc(100);
	STEP(p != NULL);
	free(p);
}

__attribute__((section(".preinit_array"), used)) static void (*const preinit)(int, char **, char **) =
	before_constructors;

static void t_locks_before_constructors(void)
{
	if (failed_step)
		fprintf(stderr, "preinit step at line %d failed\n", failed_step);
	if (steps_done != 13)
		fprintf(stderr, "preinit ran %d steps\n", steps_done);
	CHECK(steps_done == 13);
	CHECK(failed_step == 0);
	CHECK(preinit_on_kmutex);
}

int main(void)
{
	check_start(20);
	RUN(t_locks_before_constructors);
	return check_finish();
}
