// The public header compiles as C++17 (g++ -std=c++17 -Wall -Wextra -Werror) and its inline
// entry points link and work from C++: every call once, with its return code.
#include "kmutex.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

static DEFINE_KMUTEX(global_mutex);

static int failures;
#define CXX_CHECK(expr) \
	do { if (!(expr)) { std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); failures++; } } while (0)

int main()
{
	struct kmutex local = KMUTEX_INITIALIZER;
	struct kmutex flagged;
	struct timespec deadline;

	kmutex_init(&local);
	CXX_CHECK(local.name != nullptr && std::strstr(local.name, "cxx.cpp:") != nullptr);
	(kmutex_init)(&local);
	CXX_CHECK(local.name == nullptr);
	void (*init_fn)(struct kmutex *) = &kmutex_init;
	init_fn(&local);
	kmutex_init_flags(&flagged, KMUTEX_NO_HANDOFF | KMUTEX_NO_SPIN);
	kmutex_lock(&global_mutex);
	CXX_CHECK(kmutex_is_locked(&global_mutex) == 1);
	CXX_CHECK(kmutex_trylock(&global_mutex) == 0);
	kmutex_unlock(&global_mutex);
	CXX_CHECK(kmutex_lock_interruptible(&local) == 0);
	kmutex_unlock(&local);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	CXX_CHECK(kmutex_lock_timeout(&flagged, &deadline) == 0);
	int from_other = -1;
	std::thread other([&] {
		from_other = kmutex_lock_timeout(&flagged, &deadline);
		kmutex_interrupt_self();
	});
	other.join();
	CXX_CHECK(from_other == -ETIMEDOUT);
	kmutex_unlock(&flagged);
	kmutex_destroy(&local);
	kmutex_destroy(&flagged);
	std::printf("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
	return failures ? 1 : 0;
}
