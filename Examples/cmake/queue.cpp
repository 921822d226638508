// The README's C++ example, whole: a queue of ints between a producer and a consumer on
// kmx::mutex and kmx::condition_variable.  Exits 0 when every item arrived once, in order.
#include <kmutex.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

kmx::mutex m;
kmx::condition_variable cv;
std::deque<int> queue;

void put(int v) { { std::lock_guard g(m); queue.push_back(v); } cv.notify_one(); }

std::optional<int> take_for(std::chrono::milliseconds d)
{
	std::unique_lock lk(m);
	if (!cv.wait_for(lk, d, [] { return !queue.empty(); }))
		return std::nullopt;                 // timed out, queue still empty
	int v = queue.front();
	queue.pop_front();
	return v;
}

int main()
{
	const int n = 100000;
	std::thread producer([] { for (int i = 0; i < n; i++) put(i); });
	long sum = 0;
	for (int expect = 0; expect < n; expect++) {
		std::optional<int> v = take_for(std::chrono::hours(1));
		if (!v || *v != expect) {
			std::fprintf(stderr, "queue: expected %d, got %d\n", expect, v ? *v : -1);
			return 1;
		}
		sum += *v;
	}
	producer.join();
	if (take_for(std::chrono::milliseconds(1))) {
		std::fprintf(stderr, "queue: an item too many\n");
		return 1;
	}
	std::printf("queue: %d items, sum %ld\n", n, sum);
	return 0;
}
