#ifndef BENCH_FAST_PATH_H
#define BENCH_FAST_PATH_H

#include <stdint.h>

/* Locks and unlocks a private kmutex `pairs` times from C; returns a count that depends on
 * every critical section so that the compiler keeps them. */
uint64_t bench_c_lock_unlock(uint64_t pairs);

#endif
