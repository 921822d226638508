/*
 * fork() in a multithreaded program leaves the child usable.  Hammer threads lock a mutex and
 * wait on a condvar with it (so the mutex has waiters and spinners, and the condvar waiters,
 * at any moment); the main thread takes the mutex and forks.  The child, left with threads
 * that vanished while queued, unlocks the mutex, locks and unlocks it, uses the condvar
 * (signal, broadcast, a timed wait) and a recursive mutex, and exits 0.  Repeated many times,
 * so the fork lands in every state the hammers leave.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "check.h"
#include "pt.h"

#define HAMMERS 3
#define FORKS   40

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rm = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static volatile int stop;
static unsigned long counter;

static void *hammer(void *arg)
{
	long id = (long)arg;

	while (!stop) {
		pthread_mutex_lock(&m);
		counter++;
		if (id == 0) {
			struct timespec dl = pt_deadline(CLOCK_REALTIME, 1);

			pthread_cond_timedwait(&c, &m, &dl);
		} else if (counter % 7 == 0) {
			pthread_cond_signal(&c);
		}
		pthread_mutex_unlock(&m);
		pthread_mutex_lock(&rm);
		pthread_mutex_lock(&rm);
		pthread_mutex_unlock(&rm);
		pthread_mutex_unlock(&rm);
	}
	return NULL;
}

static int child(void)
{
	struct timespec dl;

	alarm(10);
	if (pthread_mutex_unlock(&m) != 0) return 10;
	for (int i = 0; i < 1000; i++) {
		if (pthread_mutex_lock(&m) != 0) return 11;
		counter++;
		if (pthread_mutex_unlock(&m) != 0) return 12;
	}
	if (pthread_mutex_lock(&m) != 0) return 13;
	if (pthread_cond_signal(&c) != 0) return 14;
	if (pthread_cond_broadcast(&c) != 0) return 15;
	dl = pt_deadline(CLOCK_REALTIME, 2);
	if (pthread_cond_timedwait(&c, &m, &dl) != ETIMEDOUT) return 16;
	if (pthread_mutex_unlock(&m) != 0) return 17;
	/* rm was not held by us at the fork: free, or held by a vanished hammer (glibc: stuck). */
	if (pthread_mutex_trylock(&m) != 0) return 18;
	if (pthread_mutex_unlock(&m) != 0) return 19;
	return 0;
}

static void t_fork_while_hammered(void)
{
	pthread_t t[HAMMERS];

	for (long i = 0; i < HAMMERS; i++)
		pthread_create(&t[i], NULL, hammer, (void *)i);
	for (int f = 0; f < FORKS; f++) {
		int status;
		pid_t pid;

		usleep(2000);
		pthread_mutex_lock(&m);
		pid = fork();
		if (pid == 0)
			_exit(child());
		pthread_mutex_unlock(&m);
		CHECK(pid > 0);
		CHECK(waitpid(pid, &status, 0) == pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fprintf(stderr, "fork %d: child status %#x\n", f, status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	stop = 1;
	for (int i = 0; i < HAMMERS; i++)
		pthread_join(t[i], NULL);
}

int main(void)
{
	check_start(50);
	RUN(t_fork_while_hammered);
	return check_finish();
}
