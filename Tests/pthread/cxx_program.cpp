// A C++ program on std::mutex, std::recursive_mutex, std::timed_mutex and
// std::condition_variable: a bounded queue with producers and consumers (notify_one,
// notify_all, wait with a predicate, wait_until on system_clock and steady_clock, wait_for),
// checked for lost and duplicated items; timed_mutex::try_lock_for (pthread_mutex_clocklock).
// It runs the same on glibc; with --expect-kmutex it also checks that libstdc++'s calls landed
// on kmutex (a locked std::mutex holds kmutex's owner word, not glibc's __lock = 1).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>
#include <unistd.h>
#include <sys/syscall.h>

namespace {

constexpr int kProducers = 3, kConsumers = 3, kItems = 20000, kCapacity = 16;

struct Queue {
	std::mutex m;
	std::condition_variable not_empty, not_full;
	std::deque<int> items;
	int producers_left = kProducers;
};

int failures = 0;

void fail(const char *what)
{
	std::fprintf(stderr, "cxx_program: FAIL %s\n", what);
	failures++;
}

bool locked_bytes_are_kmutex(std::mutex &m)
{
	unsigned long word0;
	int owner8;
	std::memcpy(&word0, m.native_handle(), sizeof(word0));
	std::memcpy(&owner8, reinterpret_cast<char *>(m.native_handle()) + 8, sizeof(owner8));
	return word0 > 0xffff && owner8 != static_cast<int>(syscall(SYS_gettid));
}

void producer(Queue &q, int id)
{
	for (int i = 0; i < kItems; i++) {
		std::unique_lock<std::mutex> lock(q.m);
		// Alternate the three wait flavours libstdc++ maps to cond_wait/timedwait/clockwait.
		if (i % 3 == 0)
			q.not_full.wait(lock, [&] { return q.items.size() < kCapacity; });
		else if (i % 3 == 1)
			while (q.items.size() >= kCapacity)
				q.not_full.wait_until(lock, std::chrono::system_clock::now() + std::chrono::milliseconds(5));
		else
			while (q.items.size() >= kCapacity)
				q.not_full.wait_for(lock, std::chrono::milliseconds(5));
		q.items.push_back(id * kItems + i);
		q.not_empty.notify_one();
	}
	std::lock_guard<std::mutex> lock(q.m);
	if (--q.producers_left == 0)
		q.not_empty.notify_all();
}

void consumer(Queue &q, std::vector<int> &seen)
{
	for (;;) {
		std::unique_lock<std::mutex> lock(q.m);
		while (q.items.empty() && q.producers_left > 0)
			q.not_empty.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(5));
		if (q.items.empty())
			return;
		int item = q.items.front();
		q.items.pop_front();
		q.not_full.notify_all();
		lock.unlock();
		seen[item]++;
	}
}

void test_queue(bool expect_kmutex)
{
	Queue q;
	std::vector<std::vector<int>> seen(kConsumers, std::vector<int>(kProducers * kItems));
	std::vector<std::thread> threads;

	if (expect_kmutex) {
		std::lock_guard<std::mutex> lock(q.m);
		if (!locked_bytes_are_kmutex(q.m))
			fail("std::mutex::lock fell through to glibc");
	}
	for (int c = 0; c < kConsumers; c++)
		threads.emplace_back(consumer, std::ref(q), std::ref(seen[c]));
	for (int p = 0; p < kProducers; p++)
		threads.emplace_back(producer, std::ref(q), p);
	for (auto &t : threads)
		t.join();
	for (int item = 0; item < kProducers * kItems; item++) {
		int n = 0;
		for (auto &s : seen)
			n += s[item];
		if (n != 1) {
			std::fprintf(stderr, "item %d consumed %d times\n", item, n);
			fail("lost or duplicated item");
			return;
		}
	}
}

void test_recursive_and_timed()
{
	std::recursive_mutex rm;
	std::timed_mutex tm;
	int counter = 0;
	std::vector<std::thread> threads;

	for (int t = 0; t < 4; t++)
		threads.emplace_back([&] {
			for (int i = 0; i < 10000; i++) {
				std::lock_guard<std::recursive_mutex> a(rm);
				std::lock_guard<std::recursive_mutex> b(rm);
				counter++;
			}
		});
	for (auto &t : threads)
		t.join();
	if (counter != 40000)
		fail("recursive_mutex counter");
	tm.lock();
	std::thread other([&] {
		if (tm.try_lock_for(std::chrono::milliseconds(20)))
			fail("timed_mutex::try_lock_for took a held mutex");
	});
	other.join();
	tm.unlock();
	if (!tm.try_lock_for(std::chrono::milliseconds(20)))
		fail("timed_mutex::try_lock_for on a free mutex");
	tm.unlock();
}

} // namespace

int main(int argc, char **argv)
{
	bool expect_kmutex = argc > 1 && std::strcmp(argv[1], "--expect-kmutex") == 0;

	alarm(50);
	test_queue(expect_kmutex);
	test_recursive_and_timed();
	std::printf("cxx_program: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
