// krwsem.h compiles as C++17 (g++ -std=c++17 -Wall -Wextra -Werror -pedantic), included alone,
// and its calls link and work from C++: every call once, with its return code.
#include "krwsem.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

static DEFINE_KRWSEM(global_sem);

static int failures;
#define CXX_CHECK(expr) \
	do { if (!(expr)) { std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); failures++; } } while (0)

int main()
{
	struct krwsem local = KRWSEM_INITIALIZER;
	struct timespec deadline;

	static_assert(sizeof(struct krwsem) <= 56, "fits a pthread_rwlock_t");
	CXX_CHECK(std::strcmp(global_sem.name, "global_sem") == 0);
	krwsem_init(&local);
	CXX_CHECK(local.name != nullptr && std::strstr(local.name, "krwsem_cxx.cpp:") != nullptr);
	krwsem_set_name(&local, "cxx");
	krwsem_down_read(&global_sem);
	CXX_CHECK(krwsem_is_locked(&global_sem) == 1);
	CXX_CHECK(krwsem_read_held_by_self(&global_sem) == 1);
	CXX_CHECK(krwsem_down_read_trylock(&global_sem) == 1);
	CXX_CHECK(krwsem_down_write_trylock(&global_sem) == 0);
	krwsem_up_read(&global_sem);
	krwsem_up_read(&global_sem);
	CXX_CHECK(krwsem_down_read_interruptible(&local) == 0);
	krwsem_up_read(&local);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	CXX_CHECK(krwsem_down_read_timeout(&local, &deadline) == 0);
	krwsem_up_read(&local);
	krwsem_down_write(&local);
	CXX_CHECK(krwsem_write_held_by_self(&local) == 1);
	int from_other = -1, try_other = -1;
	std::thread other([&] {
		from_other = krwsem_down_read_timeout(&local, &deadline);
		try_other = krwsem_down_write_trylock(&local);
	});
	other.join();
	CXX_CHECK(from_other == -ETIMEDOUT && try_other == 0);
	krwsem_downgrade_write(&local);
	krwsem_up_read(&local);
	CXX_CHECK(krwsem_down_write_interruptible(&local) == 0);
	krwsem_up_write(&local);
	CXX_CHECK(krwsem_down_write_timeout(&local, &deadline) == 0);
	krwsem_up_write(&local);
	CXX_CHECK(krwsem_down_write_trylock(&local) == 1);
	krwsem_up_write(&local);
	CXX_CHECK(krwsem_is_locked(&local) == 0);
	krwsem_destroy(&local);
	std::printf("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
	return failures ? 1 : 0;
}
