/*
 * lock_stat under the drop-in (KMUTEX_STAT): every acquisition of a pthread mutex is seen, so
 * the report counts them exactly, and the class is named after the code that first locked the
 * mutex.  Two threads lock one statically initialized mutex ROUNDS times each; mk/pthread.mk
 * runs this under the preload with KMUTEX_STAT=FILE and checks the CSV: one class "first
 * locked at ...", with 2 * ROUNDS acquisitions.
 */
#include <pthread.h>
#include <stdio.h>

#define ROUNDS 1000

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&mutex);
		counter++;
		pthread_mutex_unlock(&mutex);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("stat: %ld increments\n", counter);
	return counter == 2 * ROUNDS ? 0 : 1;
}
