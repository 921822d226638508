/* The C fast path as a C caller gets it: the header's inline kmutex_lock/kmutex_unlock. */
#include "bench_fast_path.h"

/* SwiftPM offers no header search path outside this package; the header is the root's. */
#include "../../../CShims/include/kmutex.h"

static struct kmutex bench_lock = KMUTEX_INITIALIZER;
static uint64_t bench_counter;

uint64_t bench_c_lock_unlock(uint64_t pairs)
{
	for (uint64_t i = 0; i < pairs; i++) {
		kmutex_lock(&bench_lock);
		bench_counter++;
		kmutex_unlock(&bench_lock);
	}
	return bench_counter;
}
