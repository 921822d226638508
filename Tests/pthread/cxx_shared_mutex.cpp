// A C++ program on std::shared_mutex and std::shared_timed_mutex (libstdc++ wraps a
// pthread_rwlock_t set by PTHREAD_RWLOCK_INITIALIZER): a table that writers update as a whole
// (every slot holds the same generation) and readers check under shared locks, through every
// form libstdc++ maps to pthread_rwlock_*: lock/lock_shared (wrlock/rdlock), try_lock and
// try_lock_shared (trywrlock/tryrdlock), try_lock_for and try_lock_until on steady_clock
// (clockwrlock/clockrdlock) and system_clock (timedwrlock/timedrdlock).  Checked: no reader
// ever sees a torn table, and every write that reported success is counted exactly once.
// It runs the same on glibc; with --expect-kmutex it also checks that libstdc++'s calls landed
// on krwsem (the write-locked bytes are krwsem's count and owner words, not glibc's) and that
// a new reader is refused while a writer waits (glibc's default kind lets it in).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>
#include <unistd.h>

namespace {

constexpr int kSlots = 64, kReaders = 4, kWriters = 2, kWrites = 3000, kReads = 20000;

int failures = 0;

void fail(const char *what)
{
	std::fprintf(stderr, "cxx_shared_mutex: FAIL %s\n", what);
	failures++;
}

uint64_t word(void *rwlock, int offset)
{
	uint64_t w;
	std::memcpy(&w, static_cast<char *>(rwlock) + offset, sizeof(w));
	return w;
}

// krwsem.h's layout: count at 0 (bit 0 WRITER_LOCKED, bit 1 WAITERS), owner at 8.
bool write_locked_bytes_are_krwsem(void *rwlock)
{
	return word(rwlock, 0) == 1 && word(rwlock, 8) > 0xffff;
}

template <class Mutex> struct Table {
	Mutex m;
	long slots[kSlots] = {};
	long writes = 0;
};

template <class Mutex> bool consistent(const Table<Mutex> &t)
{
	for (int i = 1; i < kSlots; i++)
		if (t.slots[i] != t.slots[0])
			return false;
	return t.slots[0] == t.writes;
}

template <class Mutex> void write_all(Table<Mutex> &t)
{
	t.writes++;
	for (int i = 0; i < kSlots; i++)
		t.slots[i]++;
}

// Readers and writers on a std::shared_mutex: lock, try_lock and their shared forms.
void run_shared_mutex(bool expect_kmutex)
{
	Table<std::shared_mutex> t;
	std::atomic<int> torn{0};
	std::vector<std::thread> threads;
	int done_writes = 0;

	if (expect_kmutex) {
		std::unique_lock<std::shared_mutex> lock(t.m);
		if (!write_locked_bytes_are_krwsem(t.m.native_handle()))
			fail("std::shared_mutex::lock fell through to glibc");
	}
	for (int r = 0; r < kReaders; r++)
		threads.emplace_back([&, r] {
			for (int i = 0; i < kReads; i++) {
				if ((i + r) % 4 == 0) {
					if (!t.m.try_lock_shared())
						continue;
				} else {
					t.m.lock_shared();
				}
				if (!consistent(t))
					torn++;
				t.m.unlock_shared();
			}
		});
	std::vector<int> writes(kWriters);
	for (int w = 0; w < kWriters; w++)
		threads.emplace_back([&, w] {
			for (int i = 0; i < kWrites; i++) {
				if (i % 5 == 0) {
					if (!t.m.try_lock())
						continue;
				} else {
					t.m.lock();
				}
				write_all(t);
				writes[w]++;
				t.m.unlock();
			}
		});
	for (auto &th : threads)
		th.join();
	for (int w : writes)
		done_writes += w;
	if (torn)
		fail("std::shared_mutex: a reader saw a torn table");
	if (t.writes != done_writes || !consistent(t))
		fail("std::shared_mutex: writes lost or duplicated");
	std::printf("cxx_shared_mutex: shared_mutex: %d writes, %d readers x %d reads, table consistent\n",
		    done_writes, kReaders, kReads);
}

// The same on std::shared_timed_mutex through the timed forms, on both clocks.
void run_shared_timed_mutex(bool expect_kmutex)
{
	using namespace std::chrono;
	Table<std::shared_timed_mutex> t;
	std::atomic<int> torn{0};
	std::vector<std::thread> threads;
	std::vector<int> writes(kWriters);
	int done_writes = 0;

	if (expect_kmutex) {
		if (!t.m.try_lock_for(milliseconds(100)))
			fail("std::shared_timed_mutex::try_lock_for on a free mutex");
		// The handle is not exposed: the pthread_rwlock_t is the object's first member.
		else if (!write_locked_bytes_are_krwsem(&t.m))
			fail("std::shared_timed_mutex::try_lock_for fell through to glibc");
		t.m.unlock();
	}
	for (int r = 0; r < kReaders; r++)
		threads.emplace_back([&, r] {
			for (int i = 0; i < kReads / 2; i++) {
				bool ok;
				switch ((i + r) % 3) {
				case 0: ok = t.m.try_lock_shared_for(milliseconds(50)); break;
				case 1: ok = t.m.try_lock_shared_until(steady_clock::now() + milliseconds(50)); break;
				default: ok = t.m.try_lock_shared_until(system_clock::now() + milliseconds(50)); break;
				}
				if (!ok)
					continue;
				if (!consistent(t))
					torn++;
				t.m.unlock_shared();
			}
		});
	for (int w = 0; w < kWriters; w++)
		threads.emplace_back([&, w] {
			for (int i = 0; i < kWrites; i++) {
				bool ok = i % 2 ? t.m.try_lock_until(system_clock::now() + milliseconds(50))
						: t.m.try_lock_for(milliseconds(50));
				if (!ok)
					continue;
				write_all(t);
				writes[w]++;
				t.m.unlock();
			}
		});
	for (auto &th : threads)
		th.join();
	for (int w : writes)
		done_writes += w;
	if (torn)
		fail("std::shared_timed_mutex: a reader saw a torn table");
	if (t.writes != done_writes || !consistent(t))
		fail("std::shared_timed_mutex: writes lost or duplicated");
	// A timed wait that cannot succeed times out.
	t.m.lock_shared();
	std::thread([&] {
		if (t.m.try_lock_for(milliseconds(20)))
			fail("std::shared_timed_mutex::try_lock_for got a read-held mutex");
	}).join();
	t.m.unlock_shared();
	std::printf("cxx_shared_mutex: shared_timed_mutex: %d timed writes, table consistent\n", done_writes);
}

// A writer waits behind a read lock: on krwsem a new reader is refused (the writer will get
// in); glibc's default kind lets every new reader in while any reader holds the lock.
void run_writer_not_starved()
{
	std::shared_mutex m;
	m.lock_shared();
	std::thread writer([&] {
		m.lock();
		m.unlock();
	});
	while (!(word(m.native_handle(), 0) & 2)) // WAITERS: the writer has queued
		usleep(100);
	std::thread([&] {
		if (m.try_lock_shared()) {
			fail("std::shared_mutex::try_lock_shared let a reader pass a waiting writer");
			m.unlock_shared();
		}
	}).join();
	m.unlock_shared();
	writer.join();
	std::printf("cxx_shared_mutex: a waiting writer is not passed by new readers\n");
}

} // namespace

int main(int argc, char **argv)
{
	bool expect_kmutex = argc > 1 && std::strcmp(argv[1], "--expect-kmutex") == 0;

	alarm(50);
	run_shared_mutex(expect_kmutex);
	run_shared_timed_mutex(expect_kmutex);
	if (expect_kmutex)
		run_writer_not_starved();
	std::printf("cxx_shared_mutex: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
