// absl::Mutex's reader mode behind rwbench.h's vtable; compiled with g++ and linked through
// pkg-config absl_synchronization, as ../locks_absl.cc.
#include <absl/synchronization/mutex.h>

#include <cstdint>
#include <new>

extern "C" {
#include "rwbench.h"
}

namespace {

absl::Mutex *mu(void *obj) { return static_cast<absl::Mutex *>(obj); }

void init(void *obj) { new (obj) absl::Mutex(); }
void destroy(void *obj) { mu(obj)->~Mutex(); }
void rdlock(void *obj) { mu(obj)->ReaderLock(); }
void rdunlock(void *obj) { mu(obj)->ReaderUnlock(); }
void wrlock(void *obj) { mu(obj)->Lock(); }
void wrunlock(void *obj) { mu(obj)->Unlock(); }

void read_pairs(void *obj, uint64_t n)
{
	absl::Mutex *m = mu(obj);

	for (uint64_t i = 0; i < n; i++) {
		m->ReaderLock();
		__asm__ volatile("" ::: "memory"); // keeps the pair from being merged
		m->ReaderUnlock();
	}
}

void write_pairs(void *obj, uint64_t n)
{
	absl::Mutex *m = mu(obj);

	for (uint64_t i = 0; i < n; i++) {
		m->Lock();
		__asm__ volatile("" ::: "memory");
		m->Unlock();
	}
}

} // namespace

extern "C" const struct rw_lock rw_lock_absl = {
	"absl-rw", "absl::Mutex, ReaderLock/Lock (libabsl-dev)", sizeof(absl::Mutex), init, destroy,
	rdlock, rdunlock, wrlock, wrunlock, read_pairs, write_pairs, false,
};
