/*
 * A C program using kmutex the way C users do: built against the installed header and library
 * through `pkg-config --cflags --libs kmutex`.
 *
 * Four threads move money between accounts, each transfer under the lock of the bank; the
 * total must stay what it was.  It also shows trylock and a timed lock with an absolute
 * CLOCK_MONOTONIC deadline.  Exits 0 and prints the totals when all is well.
 */
#include <kmutex.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ACCOUNTS 8
#define THREADS 4
#define TRANSFERS 100000

static DEFINE_KMUTEX(bank_lock);
static long balance[ACCOUNTS];

static void transfer(unsigned from, unsigned to, long amount)
{
	kmutex_lock(&bank_lock);
	balance[from] -= amount;
	balance[to] += amount;
	kmutex_unlock(&bank_lock);
}

static void *teller(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < TRANSFERS; i++)
		transfer(rand_r(&seed) % ACCOUNTS, rand_r(&seed) % ACCOUNTS, rand_r(&seed) % 100);
	return NULL;
}

static long total(void)
{
	long sum = 0;

	kmutex_lock(&bank_lock);
	for (int i = 0; i < ACCOUNTS; i++)
		sum += balance[i];
	kmutex_unlock(&bank_lock);
	return sum;
}

/* The owner's trylock fails (the mutex is not recursive); a timed lock of a free mutex succeeds. */
static int show_try_and_timeout(void)
{
	struct kmutex audit_lock;
	struct timespec deadline;
	int ok;

	kmutex_init(&audit_lock);
	kmutex_lock(&audit_lock);
	ok = kmutex_trylock(&audit_lock) == 0; /* not recursive: the owner's trylock fails */
	kmutex_unlock(&audit_lock);

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	ok = ok && kmutex_lock_timeout(&audit_lock, &deadline) == 0; /* free: taken at once */
	kmutex_unlock(&audit_lock);
	kmutex_destroy(&audit_lock);
	return ok;
}

int main(void)
{
	pthread_t threads[THREADS];
	long before;

	for (int i = 0; i < ACCOUNTS; i++)
		balance[i] = 1000;
	before = total();
	for (int i = 0; i < THREADS; i++) {
		if (pthread_create(&threads[i], NULL, teller, (void *)(uintptr_t)(i + 1)) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);

	printf("bank: %d transfers, total before %ld, after %ld\n", THREADS * TRANSFERS, before,
	       total());
	if (total() != before) {
		fprintf(stderr, "bank: money was created or lost: the lock failed\n");
		return 1;
	}
	if (!show_try_and_timeout()) {
		fprintf(stderr, "bank: trylock or timed lock misbehaved\n");
		return 1;
	}
	return 0;
}
