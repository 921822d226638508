// absl::Mutex behind the C vtable of bench.h; compiled with g++, linked through pkg-config
// absl_synchronization.
#include <absl/synchronization/mutex.h>

#include <cstdint>
#include <new>

extern "C" {
#include "bench.h"
}

namespace {

absl::Mutex *as_mutex(void *obj) { return static_cast<absl::Mutex *>(obj); }

void absl_init(void *obj) { new (obj) absl::Mutex(); }
void absl_lock(void *obj) { as_mutex(obj)->Lock(); }
void absl_unlock(void *obj) { as_mutex(obj)->Unlock(); }
void absl_destroy(void *obj) { as_mutex(obj)->~Mutex(); }

void absl_pairs(void *obj, uint64_t n)
{
	absl::Mutex *mu = as_mutex(obj);

	for (uint64_t i = 0; i < n; i++) {
		mu->Lock();
		// keeps the pair from being merged across iterations
		__asm__ volatile("" ::: "memory");
		mu->Unlock();
	}
}

} // namespace

extern "C" const struct bench_lock bench_lock_absl = {
	"absl", "absl::Mutex (libabsl-dev)", sizeof(absl::Mutex), absl_init, absl_lock,
	absl_unlock, absl_destroy, absl_pairs, false, false, false,
};
