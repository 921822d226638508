// kmutex.hpp with the standard library's lock types: kmx::mutex under std::lock_guard,
// std::unique_lock, std::scoped_lock (two mutexes, opposite orders), try_lock_for/until on
// steady_clock and system_clock, far deadlines that must not overflow; kmx::condition_variable's
// waits with predicates, timeouts and notify_all; kmx::shared_mutex when krwsem.h exists.
// No timing thresholds: a wait that must time out waits on something nobody will do, and one
// that must not is ended by another thread's action; the alarm of check_start ends a hang.
#include "kmutex.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <vector>

extern "C" {
#include "check.h"
}

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<kmx::mutex> && !std::is_copy_assignable_v<kmx::mutex>);
static_assert(!std::is_copy_constructible_v<kmx::condition_variable>);
static_assert(std::is_nothrow_default_constructible_v<kmx::mutex>);
static_assert(noexcept(std::declval<kmx::mutex &>().lock()) && noexcept(std::declval<kmx::mutex &>().unlock()) &&
	      noexcept(std::declval<kmx::mutex &>().try_lock()));
static_assert(std::is_same_v<kmx::mutex::native_handle_type, struct kmutex *>);

static kmx::mutex global; // constant-initialized: usable before main and from any constructor

static bool held(kmx::mutex &m) { return kmutex_is_locked(m.native_handle()) != 0; }

// A thread that holds m until told to let go.
struct holder {
	kmx::mutex &m;
	std::atomic<int> state{0}; // 1: holds it; 2: let go
	std::thread t;
	explicit holder(kmx::mutex &mx) : m(mx), t([this] {
		m.lock();
		state.store(1);
		while (state.load() != 2)
			std::this_thread::yield();
		m.unlock();
	}) {
		while (state.load() != 1)
			std::this_thread::yield();
	}
	void release() { state.store(2); t.join(); }
};

static void test_lock_guard_unique_lock()
{
	{
		std::lock_guard<kmx::mutex> g(global);
		CHECK(held(global));
		CHECK(!global.try_lock()); // not recursive
	}
	CHECK(!held(global));
	std::unique_lock<kmx::mutex> lk(global, std::defer_lock);
	CHECK(!lk.owns_lock());
	lk.lock();
	CHECK(lk.owns_lock() && held(global));
	lk.unlock();
	CHECK(lk.try_lock());
	lk.unlock();

	kmx::mutex named("cxx_api named");
	CHECK(named.native_handle()->name != nullptr);
	holder h(named);
	std::unique_lock<kmx::mutex> busy(named, std::try_to_lock);
	CHECK(!busy.owns_lock());
	h.release();
	CHECK(busy.try_lock());
}

// Two threads take the same two mutexes in opposite orders through std::scoped_lock, which
// must avoid the deadlock (std::lock: lock one, try the other, back off).
static void test_scoped_lock()
{
	kmx::mutex a, b;
	long count = 0;
	auto run = [&](bool ab) {
		for (int i = 0; i < 20000; i++) {
			if (ab) {
				std::scoped_lock lk(a, b);
				count++;
			} else {
				std::scoped_lock lk(b, a);
				count++;
			}
		}
	};
	std::thread t1(run, true), t2(run, false);
	t1.join();
	t2.join();
	CHECK(count == 40000);
	CHECK(!held(a) && !held(b));
}

static void test_timed()
{
	kmx::mutex m;
	// A free mutex: taken, whatever the deadline, even one already past.
	CHECK(m.try_lock_for(0s));
	m.unlock();
	CHECK(m.try_lock_until(std::chrono::steady_clock::now() - 1h));
	m.unlock();
	CHECK(m.try_lock_until(std::chrono::system_clock::now() - 1h));
	m.unlock();

	holder h(m);
	// Held by another thread, which lets go only when told: every timed attempt must time out.
	CHECK(!m.try_lock_for(1ms));
	CHECK(!m.try_lock_for(std::chrono::duration<double>(1e-12)));
	CHECK(!m.try_lock_for(-5s));
	CHECK(!m.try_lock_until(std::chrono::steady_clock::now() + 2ms));
	// system_clock is not CLOCK_MONOTONIC: taken as an absolute monotonic time, a realtime
	// deadline 1 s ago would be decades ahead and this would hang (the alarm fails it).
	CHECK(!m.try_lock_until(std::chrono::system_clock::now() - 1s));
	CHECK(!m.try_lock_until(std::chrono::system_clock::now() + 2ms));
	std::unique_lock<kmx::mutex> lk(m, 1ms);
	CHECK(!lk.owns_lock());

	// A deadline too far to represent must wait, not wrap into the past: the holder lets go
	// while we wait (or before), and the wait must end holding the mutex.
	std::thread releaser([&] {
		std::this_thread::sleep_for(20ms);
		h.release();
	});
	CHECK(m.try_lock_for(std::chrono::hours::max()));
	releaser.join();
	m.unlock();
	holder h2(m);
	std::thread releaser2([&] {
		std::this_thread::sleep_for(20ms);
		h2.release();
	});
	CHECK(m.try_lock_until(std::chrono::system_clock::time_point::max()));
	releaser2.join();
	m.unlock();
}

static void test_condition_variable()
{
	kmx::mutex m;
	kmx::condition_variable cv;
	bool ready = false;

	// Nobody changes the predicate: wait_for with it must time out and return false, holding m.
	{
		std::unique_lock<kmx::mutex> lk(m);
		CHECK(!cv.wait_for(lk, 2ms, [&] { return ready; }));
		CHECK(lk.owns_lock() && held(m));
		CHECK(!cv.wait_until(lk, std::chrono::steady_clock::now() + 1ms, [&] { return ready; }));
		CHECK(!cv.wait_until(lk, std::chrono::system_clock::now() + 1ms, [&] { return ready; }));
		CHECK(cv.wait_until(lk, std::chrono::system_clock::now() - 1s) == std::cv_status::timeout);
		CHECK(cv.wait_until(lk, std::chrono::steady_clock::now() - 1s) == std::cv_status::timeout);
		CHECK(held(m));
	}

	// A producer sets it: wait (no timeout) and wait_for with a far deadline must see it.
	for (int round = 0; round < 2; round++) {
		ready = false;
		std::thread producer([&] {
			{
				std::lock_guard<kmx::mutex> g(m);
				ready = true;
			}
			cv.notify_one();
		});
		std::unique_lock<kmx::mutex> lk(m);
		if (round == 0)
			cv.wait(lk, [&] { return ready; });
		else
			CHECK(cv.wait_for(lk, std::chrono::hours::max(), [&] { return ready; }));
		CHECK(ready && lk.owns_lock());
		lk.unlock();
		producer.join();
	}

	// notify_all: every waiter sees the generation change and returns holding m in turn.
	int generation = 0, woken = 0;
	std::vector<std::thread> waiters;
	std::atomic<int> waiting{0};
	for (int i = 0; i < 4; i++)
		waiters.emplace_back([&] {
			std::unique_lock<kmx::mutex> lk(m);
			waiting++;
			cv.wait(lk, [&] { return generation == 1; });
			woken++;
		});
	while (waiting.load() != 4)
		std::this_thread::yield();
	{
		std::lock_guard<kmx::mutex> g(m);
		generation = 1;
		cv.notify_all();
	}
	for (auto &t : waiters)
		t.join();
	CHECK(woken == 4);
}

#ifdef KMX_HAVE_SHARED_MUTEX
static void test_shared_mutex()
{
	kmx::shared_mutex s;
	{
		std::shared_lock<kmx::shared_mutex> r1(s);
		bool other_read = false, other_write = true;
		std::thread t([&] {
			other_read = s.try_lock_shared();
			if (other_read)
				s.unlock_shared();
			other_write = s.try_lock_for(1ms);
		});
		t.join();
		CHECK(other_read);
		CHECK(!other_write);
	}
	{
		std::unique_lock<kmx::shared_mutex> w(s);
		bool other_read = true;
		std::thread t([&] { other_read = s.try_lock_shared_for(1ms); });
		t.join();
		CHECK(!other_read);
	}
	CHECK(s.try_lock_until(std::chrono::system_clock::now() - 1s));
	s.unlock();
}
#endif

int main()
{
	check_start(120);
	RUN(test_lock_guard_unique_lock);
	RUN(test_scoped_lock);
	RUN(test_timed);
	RUN(test_condition_variable);
#ifdef KMX_HAVE_SHARED_MUTEX
	RUN(test_shared_mutex);
#else
	std::printf("skip test_shared_mutex: no krwsem.h (kmx::shared_mutex comes with krwsem)\n");
#endif
	return check_finish();
}
