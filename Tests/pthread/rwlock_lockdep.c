/*
 * Lockdep on pthread rwlocks under the drop-in (issue 22, item 6): run by test-pthread-lockdep
 * with KMUTEX_LOCKDEP=1 and LD_PRELOAD=libkmutex-pthread.so, which checks its stderr:
 *  - many read and write lock/unlock rounds, and a recursive read: no report, and no "more
 *    than 48 locks" notice (every unlock must pop lockdep's held stack: the drop-in unlocks
 *    through krwsem__up_read / krwsem__up_write, which the tools follow);
 *  - a read/write inversion between two rwlocks (a read then b write; b write then a read):
 *    one "circular locking dependency" report, printed with rlock().
 * Plain pthread calls: nothing here knows about kmutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_rwlock_t a = PTHREAD_RWLOCK_INITIALIZER;
static pthread_rwlock_t b = PTHREAD_RWLOCK_INITIALIZER;

static void must(int ret, const char *what)
{
	if (ret) {
		fprintf(stderr, "rwlock_lockdep: %s failed: %d\n", what, ret);
		exit(1);
	}
}

int main(void)
{
	for (int i = 0; i < 100; i++) {
		must(pthread_rwlock_rdlock(&a), "rdlock");
		must(pthread_rwlock_unlock(&a), "unlock");
		must(pthread_rwlock_wrlock(&a), "wrlock");
		must(pthread_rwlock_unlock(&a), "unlock");
	}
	must(pthread_rwlock_rdlock(&a), "rdlock");
	must(pthread_rwlock_rdlock(&a), "recursive rdlock");
	must(pthread_rwlock_unlock(&a), "unlock");
	must(pthread_rwlock_unlock(&a), "unlock");

	must(pthread_rwlock_rdlock(&a), "rdlock a");
	must(pthread_rwlock_wrlock(&b), "wrlock b");
	must(pthread_rwlock_unlock(&b), "unlock b");
	must(pthread_rwlock_unlock(&a), "unlock a");
	must(pthread_rwlock_wrlock(&b), "wrlock b");
	must(pthread_rwlock_rdlock(&a), "rdlock a"); /* b -> a: the inversion */
	must(pthread_rwlock_unlock(&a), "unlock a");
	must(pthread_rwlock_unlock(&b), "unlock b");
	puts("rwlock_lockdep: done");
	return 0;
}
