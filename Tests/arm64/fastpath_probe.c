/*
 * The fast paths as a program compiles them: kmutex.h's inline lock, trylock and unlock, each
 * in a function of its own for scripts/check-arm64-fastpaths.py to disassemble.  make
 * test-arm64 builds it three ways (Debian's default, outline atomics; -march=armv8.1-a, LSE
 * inline; -mno-outline-atomics, LL/SC inline) and runs it, so the instructions checked are
 * also executed: a lock, a trylock, an unlock and a count under the lock, each seen to work.
 */
#include <stdio.h>

#include "kmutex.h"

__attribute__((noinline)) void probe_lock(struct kmutex *m)
{
	kmutex_lock(m);
}

__attribute__((noinline)) int probe_trylock(struct kmutex *m)
{
	return kmutex_trylock(m);
}

__attribute__((noinline)) void probe_unlock(struct kmutex *m)
{
	kmutex_unlock(m);
}

__attribute__((noinline)) void probe_lock_unlock(struct kmutex *m, long *counter)
{
	kmutex_lock(m);
	++*counter;
	kmutex_unlock(m);
}

int main(void)
{
	struct kmutex m = KMUTEX_INITIALIZER;
	long counter = 0;
	int failed = 0;

	probe_lock(&m);
	failed += !kmutex_is_locked(&m);
	failed += probe_trylock(&m) != 0; /* held: the trylock must fail */
	probe_unlock(&m);
	failed += kmutex_is_locked(&m);
	failed += probe_trylock(&m) != 1;
	probe_unlock(&m);
	probe_lock_unlock(&m, &counter);
	failed += counter != 1 || kmutex_is_locked(&m);
	printf("fastpath probe: %s\n", failed ? "FAIL" : "lock, trylock, unlock work");
	return failed != 0;
}
