/*
 * kmutex.hpp: kmutex and kcond for C++17, header-only, in the shapes the standard library's lock
 * types and algorithms expect.
 *
 *   kmx::mutex               Lockable and TimedLockable: std::lock_guard, std::unique_lock,
 *                            std::scoped_lock, std::lock and try_lock_for/try_lock_until work.
 *   kmx::condition_variable  waits with std::unique_lock<kmx::mutex>: wait, wait_for, wait_until,
 *                            with and without a predicate; returns std::cv_status.
 *   kmx::shared_mutex        SharedLockable (std::shared_lock) on krwsem, when krwsem.h is there.
 *
 * Nothing here throws: kmutex never fails to lock, and misuse (unlocking a mutex another thread
 * holds, relocking one the thread holds, destroying a held mutex, waiting without the mutex)
 * prints one line on stderr and aborts, as in C.  So lock(), unlock() and the waits are noexcept,
 * where std::mutex::lock may throw std::system_error.
 *
 * Timeouts.  kmutex_lock_timeout and kcond_wait_timeout take an absolute CLOCK_MONOTONIC
 * deadline, which is std::chrono::steady_clock's clock in libstdc++ and libc++ on Linux, so a
 * steady_clock time point converts directly.  Any other clock (system_clock, which can be set,
 * or a user's clock) is waited on as the standard asks: the time left on that clock is waited
 * on the monotonic one, and on a timeout that clock is read again, so a clock set back makes the
 * wait go on and one set forward ends it early.  Durations are rounded up to whole nanoseconds
 * (a timeout never ends before the time asked for) and saturate rather than overflow, so
 * try_lock_for(std::chrono::hours::max()) waits forever in practice.
 */
#ifndef KMUTEX_HPP
#define KMUTEX_HPP

#include <chrono>
#include <condition_variable> /* std::cv_status */
#include <cstdint>
#include <ctime>
#include <limits>
#include <type_traits>
#include <mutex>              /* std::unique_lock */

#include "kmutex.h"

#if defined(__has_include)
#if __has_include("krwsem.h")
#include "krwsem.h"
#define KMX_HAVE_SHARED_MUTEX 1
#endif
#endif

namespace kmx {

namespace detail {

/* t + ns as a timespec, saturating at the largest time_t instead of wrapping. */
inline timespec timespec_add(timespec t, std::int64_t ns) noexcept
{
	if (ns <= 0)
		return t;
	const std::int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	const std::int64_t tmax = std::numeric_limits<time_t>::max();
	if (sec >= tmax - t.tv_sec - 1)
		return timespec{std::numeric_limits<time_t>::max(), 999999999};
	t.tv_sec += static_cast<time_t>(sec);
	t.tv_nsec += static_cast<long>(nsec);
	if (t.tv_nsec >= 1000000000) {
		t.tv_nsec -= 1000000000;
		t.tv_sec++;
	}
	return t;
}

/* A duration as whole nanoseconds, rounded up, saturated to int64's range. */
template <class Rep, class Period>
std::int64_t ceil_ns(const std::chrono::duration<Rep, Period> &d) noexcept
{
	using fns = std::chrono::duration<long double, std::nano>;
	const long double n = std::chrono::duration_cast<fns>(d).count();
	if (n <= 0)
		return 0;
	if (n >= static_cast<long double>(std::numeric_limits<std::int64_t>::max()))
		return std::numeric_limits<std::int64_t>::max();
	const std::int64_t whole = static_cast<std::int64_t>(n);
	return whole + (static_cast<long double>(whole) < n ? 1 : 0);
}

/* The CLOCK_MONOTONIC deadline `ns` from now. */
inline timespec monotonic_after(std::int64_t ns) noexcept
{
	timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return timespec_add(now, ns);
}

/* steady_clock time point -> CLOCK_MONOTONIC timespec (the same clock on Linux). */
template <class Duration>
timespec to_timespec(const std::chrono::time_point<std::chrono::steady_clock, Duration> &tp) noexcept
{
	return timespec_add(timespec{0, 0}, ceil_ns(tp.time_since_epoch()));
}

/*
 * Calls wait(deadline) with the CLOCK_MONOTONIC form of tp until it succeeds (returns 0) or tp
 * has passed on its own clock; returns whether it succeeded.  wait returns 0 or -ETIMEDOUT.
 */
template <class Clock, class Duration, class Wait>
bool until(const std::chrono::time_point<Clock, Duration> &tp, Wait wait)
{
	if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
		const timespec deadline = to_timespec(tp);
		return wait(&deadline) == 0;
	} else {
		for (;;) {
			const timespec deadline = monotonic_after(ceil_ns(tp - Clock::now()));
			if (wait(&deadline) == 0)
				return true;
			if (Clock::now() >= tp)
				return false;
		}
	}
}

} /* namespace detail */

class mutex {
public:
	using native_handle_type = struct kmutex *;

	/* All zeros is an unlocked kmutex: constant-initialized, so usable from static constructors. */
	constexpr mutex() noexcept : m_{} {}
	/* A mutex in the lock class `name` (a string that outlives the mutex), for lock_stat and
	 * lockdep reports. */
	explicit mutex(const char *name) noexcept : m_{} { kmutex_set_name(&m_, name); }
	/* Aborts if the mutex is held or waited on (std::mutex leaves that undefined). */
	~mutex() { kmutex_destroy(&m_); }
	mutex(const mutex &) = delete;
	mutex &operator=(const mutex &) = delete;

	void lock() noexcept { kmutex_lock(&m_); }
	/* False when held, also by the caller (kmutex is not recursive). */
	bool try_lock() noexcept { return kmutex_trylock(&m_) != 0; }
	void unlock() noexcept { kmutex_unlock(&m_); }

	template <class Rep, class Period>
	bool try_lock_for(const std::chrono::duration<Rep, Period> &d) noexcept
	{
		const timespec deadline = detail::monotonic_after(detail::ceil_ns(d));
		return kmutex_lock_timeout(&m_, &deadline) == 0;
	}

	template <class Clock, class Duration>
	bool try_lock_until(const std::chrono::time_point<Clock, Duration> &tp)
	{
		return detail::until(tp, [this](const timespec *deadline) {
			return kmutex_lock_timeout(&m_, deadline);
		});
	}

	native_handle_type native_handle() noexcept { return &m_; }

private:
	struct kmutex m_;
};

class condition_variable {
public:
	using native_handle_type = struct kcond *;

	constexpr condition_variable() noexcept : c_{} {}
	/* Waits for woken waiters to stop touching it; aborts if a thread still waits on it. */
	~condition_variable() { kcond_destroy(&c_); }
	condition_variable(const condition_variable &) = delete;
	condition_variable &operator=(const condition_variable &) = delete;

	void notify_one() noexcept { kcond_signal(&c_); }
	/* Moves the waiters onto the mutex's wait list (wait morphing): they wake one by one. */
	void notify_all() noexcept { kcond_broadcast(&c_); }

	/* lk must own its mutex (else: kcond's misuse message and abort).  May wake spuriously. */
	void wait(std::unique_lock<mutex> &lk) noexcept { kcond_wait(&c_, lk.mutex()->native_handle()); }

	template <class Predicate>
	void wait(std::unique_lock<mutex> &lk, Predicate pred)
	{
		while (!pred())
			wait(lk);
	}

	template <class Clock, class Duration>
	std::cv_status wait_until(std::unique_lock<mutex> &lk,
				  const std::chrono::time_point<Clock, Duration> &tp)
	{
		struct kmutex *m = lk.mutex()->native_handle();
		if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
			const timespec deadline = detail::to_timespec(tp);
			return kcond_wait_timeout(&c_, m, &deadline) == 0 ? std::cv_status::no_timeout
									   : std::cv_status::timeout;
		} else {
			/* One wait (a wakeup ends it); timed out only if tp passed on its own clock. */
			const timespec deadline = detail::monotonic_after(detail::ceil_ns(tp - Clock::now()));
			(void)kcond_wait_timeout(&c_, m, &deadline);
			return Clock::now() < tp ? std::cv_status::no_timeout : std::cv_status::timeout;
		}
	}

	template <class Clock, class Duration, class Predicate>
	bool wait_until(std::unique_lock<mutex> &lk, const std::chrono::time_point<Clock, Duration> &tp,
			Predicate pred)
	{
		while (!pred())
			if (wait_until(lk, tp) == std::cv_status::timeout)
				return pred();
		return true;
	}

	template <class Rep, class Period>
	std::cv_status wait_for(std::unique_lock<mutex> &lk, const std::chrono::duration<Rep, Period> &d)
	{
		const timespec deadline = detail::monotonic_after(detail::ceil_ns(d));
		return kcond_wait_timeout(&c_, lk.mutex()->native_handle(), &deadline) == 0
			       ? std::cv_status::no_timeout
			       : std::cv_status::timeout;
	}

	/* The deadline is fixed once, so spurious wakeups do not extend the wait. */
	template <class Rep, class Period, class Predicate>
	bool wait_for(std::unique_lock<mutex> &lk, const std::chrono::duration<Rep, Period> &d,
		      Predicate pred)
	{
		const timespec deadline = detail::monotonic_after(detail::ceil_ns(d));
		while (!pred())
			if (kcond_wait_timeout(&c_, lk.mutex()->native_handle(), &deadline) != 0)
				return pred();
		return true;
	}

	native_handle_type native_handle() noexcept { return &c_; }

private:
	struct kcond c_;
};

#ifdef KMX_HAVE_SHARED_MUTEX
/*
 * SharedLockable and TimedLockable on krwsem (std::shared_lock, std::unique_lock, and the timed
 * forms of both).  A thread that holds a shared lock may take it again even while a writer waits
 * (krwsem lets recursive readers in), which std::shared_mutex leaves undefined.
 */
class shared_mutex {
public:
	using native_handle_type = struct krwsem *;

	constexpr shared_mutex() noexcept : s_{} {}
	~shared_mutex() { krwsem_destroy(&s_); }
	shared_mutex(const shared_mutex &) = delete;
	shared_mutex &operator=(const shared_mutex &) = delete;

	void lock() noexcept { krwsem_down_write(&s_); }
	bool try_lock() noexcept { return krwsem_down_write_trylock(&s_) != 0; }
	void unlock() noexcept { krwsem_up_write(&s_); }
	template <class Rep, class Period>
	bool try_lock_for(const std::chrono::duration<Rep, Period> &d) noexcept
	{
		const timespec deadline = detail::monotonic_after(detail::ceil_ns(d));
		return krwsem_down_write_timeout(&s_, &deadline) == 0;
	}
	template <class Clock, class Duration>
	bool try_lock_until(const std::chrono::time_point<Clock, Duration> &tp)
	{
		return detail::until(tp, [this](const timespec *dl) { return krwsem_down_write_timeout(&s_, dl); });
	}

	void lock_shared() noexcept { krwsem_down_read(&s_); }
	bool try_lock_shared() noexcept { return krwsem_down_read_trylock(&s_) != 0; }
	void unlock_shared() noexcept { krwsem_up_read(&s_); }
	template <class Rep, class Period>
	bool try_lock_shared_for(const std::chrono::duration<Rep, Period> &d) noexcept
	{
		const timespec deadline = detail::monotonic_after(detail::ceil_ns(d));
		return krwsem_down_read_timeout(&s_, &deadline) == 0;
	}
	template <class Clock, class Duration>
	bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration> &tp)
	{
		return detail::until(tp, [this](const timespec *dl) { return krwsem_down_read_timeout(&s_, dl); });
	}

	native_handle_type native_handle() noexcept { return &s_; }

private:
	struct krwsem s_;
};
#endif /* KMX_HAVE_SHARED_MUTEX */

} /* namespace kmx */

#endif /* KMUTEX_HPP */
