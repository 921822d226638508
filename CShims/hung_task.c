/*
 * The hung-task watchdog: the kernel's khungtaskd (kernel/hung_task.c) with its blocker
 * tracking (CONFIG_DETECT_HUNG_TASK_BLOCKER, 2025), and a JVM-style deadlock finder, for
 * every thread blocked on a kmutex, a kcond or a krwsem.  Written from the design notes
 * (rwsem-notes.md section 6, lockdep-lockstat-probes-notes.md); no kernel code is used.
 *
 * Modes.  KMUTEX_HUNG_TIMEOUT=SECONDS (a decimal number; 0 or unset: off) starts one
 * watchdog thread, from a constructor, so that a program linked with kmutex and every program
 * under libkmutex-pthread get it alike.  Unset, nothing runs and the lock paths pay one relaxed
 * load on their sleeping paths (hung_task.h).  KMUTEX_HUNG_ABORT=1 aborts after the first
 * report, for a core dump.
 *
 * The scan.  Every timeout/2 the watchdog reads every thread descriptor's record (a seqlock,
 * hung_task.h): its cost is bounded by the number of descriptors, which is the largest number
 * of threads that ever used kmutex at once (descriptors are reused after thread exit), and
 * measured in docs/hung-task.md.  A wait is reported when a scan finds it older than the
 * timeout and the next scan finds the same wait (same seq) still there: a pause of the whole
 * process (a stopped VM, a machine thrashing) makes every wait look old at once, but only a
 * wait that then stays blocked while the process runs again is reported.  So a report comes
 * between 1 and 2 timeouts after the wait began.  Each wait is reported once.
 *
 * The chain.  From the hung thread: the lock it waits for, the lock's owner (a kmutex's owner
 * word names the owner's descriptor exactly: no "likely" as in the kernel), what that owner
 * waits for, and so on.  The chain ends in a thread that is not blocked on kmutex (running,
 * or blocked elsewhere: its stack says where), a condvar (nobody owns one), a rwsem held by
 * readers (all named), or a thread already on the chain: a deadlock.  A deadlock is reported
 * only when it is stable: every thread on the cycle still in the same wait (same seq) after
 * the owner words were read a second time.  A thread that is blocked cannot release a lock,
 * so owners read while all of them were blocked are the truth, not a race.
 *
 * Stacks.  A thread's stack is taken by the thread itself: the watchdog queues it a real-time
 * signal whose handler calls backtrace(3) into a shared buffer.  The signal: the highest
 * real-time signal that the program leaves at SIG_DFL and the thread does not block.  At
 * SIG_DFL a real-time signal kills the process, so a program that relies on receiving it
 * has installed a handler, and one that takes it with sigwait/signalfd blocks it: neither is
 * chosen (programs and libraries allocate from SIGRTMIN up, so the top is the least used).
 * Our handler is installed for the one request and the program's disposition put back after
 * the answer; if the program changed the disposition meanwhile its change is kept.  If no
 * answer comes (the thread is stopped, or starved for ANSWER_WAIT_NS), our handler stays
 * installed, since a signal still pending would kill the process at SIG_DFL.  Masks are
 * untouched: the watchdog blocks every signal in its own thread only, so that no program
 * signal is ever delivered to it.  Not signalled: a thread in an interruptible kmutex/kcond
 * wait (a handler ends that wait with -EINTR by contract), and, in a TSan build, any thread
 * in a kmutex wait (TSan defers handlers until the thread leaves its raw futex syscall).  The
 * price: a thread that is signalled while in a call that returns EINTR whatever SA_RESTART
 * says (nanosleep, poll, epoll_wait, select, sem_wait...) returns EINTR early; this happens
 * only to a thread named in a report.
 *
 * The watchdog allocates nothing and takes no pthread mutex (it would be a kmutex under the
 * drop-in): /proc reads with open/read, text with snprintf into static buffers, one write(2)
 * per report.  dladdr takes the loader's lock: a hang inside a dlopen (a constructor blocked
 * on a lock) would stop the watchdog in its symbolization; that one case is not covered.
 */
#include "hung_task.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "atomic.h"
#include "futex.h"
#include "kmutex.h"
#include "krwsem.h"
#include "owner.h"
#include "symbolize.h"
#include "task.h"
#include "wait_list.h"
#include "wait_lock.h"

#if defined(__SANITIZE_THREAD__)
#define KMX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KMX_TSAN 1
#endif
#endif
#ifndef KMX_TSAN
#define KMX_TSAN 0
#endif

enum { MODE_UNKNOWN = 0, MODE_OFF = 1, MODE_ON = 2 };
int kmx_hung__mode;

#define MAX_CHAIN       16           /* threads followed from a hung one */
#define MAX_FRAMES      24           /* stack frames kept per thread */
#define MAX_READERS     8            /* rwsem readers named */
#define ANSWER_WAIT_NS  3000000000ll /* how long a thread may take to answer for its stack */
#define NAME_LEN        96

/* Statistics (RELAXED atomics), kmx_hung_get_stats(). */
static uint64_t stats_scans, stats_scan_ns, stats_scan_ns_max, stats_descriptors, stats_reports,
	stats_stacks;
static int stats_last_signal;

/* The settings: written when the environment is read, before main() (the constructor below)
 * or by the first thread to lock before that, while the process has one thread. */
static uint64_t timeout_ns;
static double timeout_s;
static int abort_after_report;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static pid_t current_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- the environment ------------------------------------------------------------------- */

/* A one-line error and abort, as for misuse of the API: a typo must not silently disable it. */
static void bad_setting(const char *what)
{
	char line[200];
	int len = snprintf(line, sizeof(line), "kmutex: %s\n", what);

	(void)!write(STDERR_FILENO, line, (size_t)len);
	abort();
}

int kmx_hung__read_mode(void)
{
	const char *env = getenv("KMUTEX_HUNG_TIMEOUT");
	const char *abort_env = getenv("KMUTEX_HUNG_ABORT");
	int mode = MODE_OFF;

	if (env && *env) {
		char *end;
		double s = strtod(env, &end);

		if (*end || s < 0 || s > 1e6)
			bad_setting("KMUTEX_HUNG_TIMEOUT: not a number of seconds (0 to 1000000)");
		if (s > 0) {
			timeout_s = s;
			timeout_ns = (uint64_t)(s * 1e9);
			if (timeout_ns < 2000000)
				timeout_ns = 2000000; /* 2 ms: the scan interval stays above 1 ms */
			mode = MODE_ON;
		}
	}
	if (abort_env && *abort_env && strcmp(abort_env, "0") != 0 && strcmp(abort_env, "1") != 0)
		bad_setting("KMUTEX_HUNG_ABORT: not 0 or 1");
	abort_after_report = abort_env && strcmp(abort_env, "1") == 0;
	/* RELAXED: every thread computes the same value (see hung_task.h). */
	kmx_store(&kmx_hung__mode, mode, KMX_RELAXED);
	return mode;
}

/* ---- the record: written by its own thread, read by the watchdog ----------------------- */

void kmx_hung__begin(struct kmutex_task *self, uint32_t kind, const void *object, const void *with,
		     const void *node, const void *ip, uint32_t mode)
{
	struct kmx_hung_record *r = &self->hung;
	uint32_t seq = r->seq; /* only this thread writes it */

	/*
	 * The seqlock writer, without fences (TSan cannot check them): seq odd, then each field
	 * with RELEASE, then seq even with RELEASE.  A reader that loads any new field with
	 * ACQUIRE (snapshot_once()) synchronizes with that store, which comes after the odd seq:
	 * its re-read of seq sees the change.
	 */
	kmx_store(&r->seq, seq + 1, KMX_RELAXED);
	kmx_store(&r->object, object, KMX_RELEASE);
	kmx_store(&r->with, with, KMX_RELEASE);
	kmx_store(&r->node, node, KMX_RELEASE);
	kmx_store(&r->ip, ip, KMX_RELEASE);
	kmx_store(&r->mode, mode, KMX_RELEASE);
	kmx_store(&r->since, now_ns(), KMX_RELEASE);
	kmx_store(&r->kind, kind, KMX_RELEASE);
	kmx_store(&r->seq, seq + 2, KMX_RELEASE);
}

void kmx_hung__end(struct kmutex_task *self)
{
	struct kmx_hung_record *r = &self->hung;
	uint32_t seq = r->seq;

	kmx_store(&r->seq, seq + 1, KMX_RELAXED);
	kmx_store(&r->kind, KMX_BLOCKED_NONE, KMX_RELEASE); /* as in kmx_hung__begin() */
	kmx_store(&r->seq, seq + 2, KMX_RELEASE);
}

void kmx_hung__task_taken(struct kmutex_task *task)
{
	/* RELAXED: read by the watchdog as a hint; a stale tid is checked before use. */
	kmx_store(&task->hung.tid, (int32_t)current_tid(), KMX_RELAXED);
}

void kmx_hung__task_released(struct kmutex_task *task)
{
	if (kmx_load(&task->hung.kind, KMX_RELAXED) != KMX_BLOCKED_NONE)
		kmx_hung__end(task); /* a thread cancelled mid-wait: no stale record */
	kmx_store(&task->hung.tid, 0, KMX_RELAXED); /* 0: "the thread has exited" */
}

/* What the watchdog reads of a record, consistent (the seqlock reader). */
struct snap {
	uint32_t seq, kind, mode;
	const void *object, *with, *node, *ip;
	uint64_t since;
};

/* false: the thread is changing its record; the caller retries or treats it as running. */
static bool snapshot_once(struct kmutex_task *t, struct snap *s)
{
	struct kmx_hung_record *r = &t->hung;

	/* ACQUIRE pairs with the writer's final RELEASE store: the fields are those of seq. */
	s->seq = kmx_load(&r->seq, KMX_ACQUIRE);
	if (s->seq & 1)
		return false;
	/* ACQUIRE each: a field stored after the odd seq makes the re-check below see it. */
	s->kind = kmx_load(&r->kind, KMX_ACQUIRE);
	s->object = kmx_load(&r->object, KMX_ACQUIRE);
	s->with = kmx_load(&r->with, KMX_ACQUIRE);
	s->node = kmx_load(&r->node, KMX_ACQUIRE);
	s->ip = kmx_load(&r->ip, KMX_ACQUIRE);
	s->mode = kmx_load(&r->mode, KMX_ACQUIRE);
	s->since = kmx_load(&r->since, KMX_ACQUIRE);
	return kmx_load(&r->seq, KMX_RELAXED) == s->seq;
}

static bool snapshot(struct kmutex_task *t, struct snap *s)
{
	for (int i = 0; i < 8; i++)
		if (snapshot_once(t, s))
			return true;
	return false;
}

/* Is the thread still in the wait of s (same seq: the same wait, never left)? */
static bool same_wait(struct kmutex_task *t, const struct snap *s)
{
	/* ACQUIRE: our reads of the lock (owner words) come before this check. */
	return kmx_load(&t->hung.seq, KMX_ACQUIRE) == s->seq;
}

/*
 * Read memory that may have been unmapped since the record was read (a lock freed after the
 * wait ended): process_vm_readv on ourselves fails with EFAULT instead of crashing.
 */
static bool safe_read(void *dst, const void *src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)src, len };

	return syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) == (long)len;
}

/* A NUL-terminated string at src, cut to size; "" if unreadable. */
static void safe_read_string(char *dst, size_t size, const char *src)
{
	struct iovec local = { dst, size - 1 }, remote = { (void *)src, size - 1 };
	long n = src ? syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) : -1;

	/* A string near the end of a mapping: the read stops at the page boundary. */
	if (n < 0 && src) {
		size_t part = 4096 - ((uintptr_t)src & 4095);

		local.iov_len = remote.iov_len = part < size - 1 ? part : size - 1;
		n = syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL);
	}
	dst[n > 0 ? (size_t)n : 0] = '\0';
}

/* ---- threads: name, state -------------------------------------------------------------- */

static bool read_proc(pid_t tid, const char *file, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? (size_t)n : 0] = '\0';
	return n > 0;
}

static void thread_comm(pid_t tid, char *comm, size_t size)
{
	if (tid <= 0 || !read_proc(tid, "comm", comm, size)) {
		snprintf(comm, size, "?");
		return;
	}
	comm[strcspn(comm, "\n")] = '\0';
}

/* The signals the thread blocks (SigBlk), or all of them if it cannot be read. */
static uint64_t thread_blocked_signals(pid_t tid)
{
	char status[4096];
	const char *line;

	if (!read_proc(tid, "status", status, sizeof(status)) || !(line = strstr(status, "SigBlk:")))
		return ~0ull;
	return strtoull(line + 7, NULL, 16);
}

/* ---- stacks: asked of the thread itself, by a signal ----------------------------------- */

enum { REQ_IDLE, REQ_WAITING, REQ_FILLING, REQ_DONE };

static struct {
	uint32_t state;              /* REQ_*; the futex the watchdog sleeps on */
	uint32_t id;                 /* this request's number, the signal's si_value */
	int32_t nframes;
	void *frames[MAX_FRAMES + 8];
	void *pc;                    /* where the signal interrupted the thread */
} req;

static int kept_signal; /* a signal our handler stays installed on (an unanswered request) */

static void *interrupted_pc(void *ucv)
{
	ucontext_t *uc = ucv;

#if defined(__x86_64__)
	return (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (void *)uc->uc_mcontext.pc;
#else
	(void)uc;
	return NULL;
#endif
}

/* Runs on the thread whose stack is wanted.  Async-signal-safe but for backtrace(), which
 * the watchdog warmed up (its first call loads libgcc_s); errno is kept. */
static void stack_handler(int sig, siginfo_t *si, void *ucv)
{
	int saved_errno = errno;
	uint32_t expected = REQ_WAITING;

	(void)sig;
	if (si->si_code == SI_QUEUE && si->si_pid == getpid() &&
	    /* RELAXED: checked again below, once the claim orders it. */
	    (uint32_t)si->si_value.sival_int == kmx_load(&req.id, KMX_RELAXED) &&
	    /* ACQUIRE pairs with the watchdog's RELEASE store of WAITING: id is this request's. */
	    kmx_try_cmpxchg(&req.state, &expected, REQ_FILLING, KMX_ACQUIRE)) {
		if ((uint32_t)si->si_value.sival_int != kmx_load(&req.id, KMX_RELAXED)) {
			kmx_store(&req.state, REQ_WAITING, KMX_RELAXED); /* a late answer: not ours */
		} else {
			int n = backtrace(req.frames, MAX_FRAMES + 8);

			req.pc = interrupted_pc(ucv);
			req.nframes = n;
			/* RELEASE: the frames are written before the watchdog sees DONE. */
			kmx_store(&req.state, REQ_DONE, KMX_RELEASE);
			kmx_futex_wake(&req.state, 1);
		}
	}
	errno = saved_errno;
}

/* The highest real-time signal at SIG_DFL that the thread does not block, or 0. */
static int choose_signal(pid_t tid)
{
	uint64_t blocked = thread_blocked_signals(tid);

	struct sigaction cur;

	if (kept_signal && sigaction(kept_signal, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == stack_handler)
		return blocked & (1ull << (kept_signal - 1)) ? 0 : kept_signal;
	kept_signal = 0; /* none, or the program has taken it over since */
	for (int sig = SIGRTMAX; sig >= SIGRTMIN; sig--) {

		if (blocked & (1ull << (sig - 1)))
			continue;
		if (sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_handler == SIG_DFL)
			return sig;
	}
	return 0;
}

/* Put the program's disposition back, unless it installed its own meanwhile. */
static void restore_signal(int sig, const struct sigaction *program)
{
	struct sigaction found;

	if (sigaction(sig, program, &found) == 0 &&
	    !((found.sa_flags & SA_SIGINFO) && found.sa_sigaction == stack_handler))
		(void)sigaction(sig, &found, NULL); /* the program's own change wins */
}

/* Wait for DONE until the deadline; false if the thread did not answer (request withdrawn). */
static bool wait_for_answer(uint64_t deadline)
{
	for (;;) {
		/* ACQUIRE pairs with the handler's RELEASE of DONE: the frames are there. */
		uint32_t state = kmx_load(&req.state, KMX_ACQUIRE), expected = REQ_WAITING;
		uint64_t now = now_ns();
		struct timespec ts = { (time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull) };

		if (state == REQ_DONE)
			return true;
		if (state == REQ_FILLING) {
			/* The handler is writing: it wakes us when done, whatever the deadline. */
			(void)kmx_futex_wait(&req.state, REQ_FILLING, NULL);
			continue;
		}
		if (now >= deadline) {
			/* Withdraw it; if the handler claimed it just now, it finishes promptly. */
			if (kmx_try_cmpxchg(&req.state, &expected, REQ_IDLE, KMX_RELAXED))
				return false;
			continue;
		}
		(void)kmx_futex_wait(&req.state, state, &ts);
	}
}

/*
 * The thread's stack, from where the signal interrupted it outwards, into frames.  0 and a
 * reason in why when it cannot be had.
 */
static int take_stack(pid_t tid, void **frames, int max, const char **why)
{
	struct sigaction ours, program;
	siginfo_t info;
	int sig, n, first = 0;
	bool answered;

	*why = NULL;
	if (tid <= 0 || syscall(SYS_tgkill, getpid(), tid, 0) != 0) {
		*why = "the thread has exited";
		return 0;
	}
	sig = choose_signal(tid);
	if (!sig) {
		*why = "no real-time signal is free (at SIG_DFL and unblocked in that thread)";
		return 0;
	}
	if (sig != kept_signal) {
		memset(&ours, 0, sizeof(ours));
		ours.sa_sigaction = stack_handler;
		ours.sa_flags = SA_SIGINFO | SA_RESTART;
		sigfillset(&ours.sa_mask); /* nothing else runs on top of the backtrace */
		if (sigaction(sig, &ours, &program) != 0) {
			*why = "sigaction failed";
			return 0;
		}
	}
	/* RELAXED id: published by the RELEASE store of WAITING. */
	kmx_store(&req.id, req.id + 1, KMX_RELAXED);
	kmx_store(&req.state, REQ_WAITING, KMX_RELEASE);
	kmx_store(&stats_last_signal, sig, KMX_RELAXED); /* RELAXED: a statistic */
	memset(&info, 0, sizeof(info));
	info.si_signo = sig;
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	info.si_value.sival_int = (int)req.id;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &info) != 0) {
		kmx_store(&req.state, REQ_IDLE, KMX_RELAXED);
		if (sig != kept_signal)
			restore_signal(sig, &program);
		*why = "the signal could not be sent";
		return 0;
	}
	answered = wait_for_answer(now_ns() + ANSWER_WAIT_NS);
	if (!answered) {
		kept_signal = sig; /* it may still be delivered: SIG_DFL would kill the process */
		*why = "no answer to the stack request (the thread is stopped or starved)";
		return 0;
	}
	if (sig != kept_signal)
		restore_signal(sig, &program);
	/* Skip the handler and the signal trampoline: start where the thread was. */
	for (int i = 0; i < req.nframes; i++)
		if (req.frames[i] == req.pc) {
			first = i;
			break;
		}
	n = req.nframes - first < max ? req.nframes - first : max;
	memcpy(frames, &req.frames[first], (size_t)n * sizeof(void *));
	kmx_store(&req.state, REQ_IDLE, KMX_RELAXED);
	return n;
}

/* ---- the report ------------------------------------------------------------------------ */

static char report_buf[65536]; /* the watchdog's alone (scan_lock) */
static size_t report_len;

__attribute__((format(printf, 1, 2))) static void out(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (report_len >= sizeof(report_buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(report_buf + report_len, sizeof(report_buf) - report_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		report_len += (size_t)n < sizeof(report_buf) - report_len
				      ? (size_t)n : sizeof(report_buf) - report_len - 1;
}

static void out_flush(void)
{
	for (size_t done = 0; done < report_len;) {
		ssize_t n = write(STDERR_FILENO, report_buf + done, report_len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	report_len = 0;
}

/* One thread on a blocker chain. */
struct hop {
	struct kmutex_task *task;
	pid_t tid;
	char comm[20];
	bool blocked;                 /* in a recorded wait: snap is valid */
	struct snap snap;
	uint32_t kind;                /* what it waits on in effect (a moved condvar waiter: MUTEX) */
	const void *lock;             /* what it waits on in effect */
	char lock_desc[2 * NAME_LEN + 64];
	struct kmutex_task *owners[MAX_READERS];
	int nowners;                  /* owners named in owners[] */
	uint64_t nreaders;            /* a rwsem's readers, by its count (some may not be named) */
	bool writer;                  /* a rwsem's owners[0] is its writer */
	uintptr_t owner_word;         /* a mutex's owner word as read */
};

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case KMX_BLOCKED_MUTEX:
		return "mutex";
	case KMX_BLOCKED_CONDVAR:
		return "condition variable";
	case KMX_BLOCKED_RWSEM_READ:
		return "rw-semaphore (to read)";
	case KMX_BLOCKED_RWSEM_WRITE:
		return "rw-semaphore (to write)";
	default:
		return "?";
	}
}

/* "0x... (class) [symbol]" for a kmutex. */
static void describe_mutex(char *buf, size_t size, const struct kmutex *lock)
{
	const char *name_ptr = NULL;
	char name[NAME_LEN] = "", sym[NAME_LEN + 32];

	if (safe_read(&name_ptr, &lock->name, sizeof(name_ptr)) && name_ptr)
		safe_read_string(name, sizeof(name), name_ptr);
	kmx_symbolize_data(sym, sizeof(sym), lock);
	snprintf(buf, size, "%p%s%s%s%s%s", (const void *)lock, name[0] ? " (" : "", name,
		 name[0] ? ")" : "", sym[0] ? " = " : "", sym);
}

static void describe_object(char *buf, size_t size, const void *object, const char *name)
{
	char sym[NAME_LEN + 32];

	kmx_symbolize_data(sym, sizeof(sym), object);
	snprintf(buf, size, "%p%s%s%s%s%s", object, name && name[0] ? " (" : "", name ? name : "",
		 name && name[0] ? ")" : "", sym[0] ? " = " : "", sym);
}

/* A hop's descriptor and tid, and its wait if it has one. */
static void hop_init(struct hop *h, struct kmutex_task *task)
{
	memset(h, 0, sizeof(*h));
	h->task = task;
	/* RELAXED: see kmx_hung__task_taken(). */
	h->tid = kmx_load(&task->hung.tid, KMX_RELAXED);
	thread_comm(h->tid, h->comm, sizeof(h->comm));
	h->blocked = snapshot(task, &h->snap) && h->snap.kind != KMX_BLOCKED_NONE;
}

/*
 * The threads whose read-lock records (task.h) say they hold sem, but `self`: up to max.
 * The records are the threads' own, read with safe_read as snapshots (a thread may be taking
 * or dropping a read lock meanwhile); a thread that has read locks beyond the record's slots
 * is not named, and the count of readers still says how many there are.
 */
static int find_readers(const void *sem, const struct kmutex_task *self, struct kmutex_task **out, int max)
{
	uint32_t n = kmx_task_count();
	int found = 0;

	for (uint32_t id = 0; id < n && found < max; id++) {
		struct kmutex_task *t = kmx_task_at(id);
		struct kmx_read_held held;

		if (t == self || !safe_read(&held, &t->read_held, sizeof(held)))
			continue;
		for (uint32_t i = 0; i < held.nr && i < KRWSEM_READ_HELD_SLOTS; i++)
			if (held.sems[i] == sem) {
				out[found++] = t;
				break;
			}
	}
	return found;
}

/*
 * What the hop waits on in effect, and who owns it.  A condvar waiter whose node a broadcast
 * moved onto the mutex's wait list waits for that mutex now.
 */
static void hop_resolve(struct hop *h)
{
	const struct snap *s = &h->snap;

	h->kind = s->kind;
	h->lock = s->object;
	h->nowners = 0;
	if (s->kind == KMX_BLOCKED_CONDVAR && (s->mode & KMX_HUNG_WITH_KMUTEX)) {
		uint32_t state;

		if (safe_read(&state, &((const struct kmutex_waiter *)s->node)->state, sizeof(state)) &&
		    state == KMX_WAITER_ON_MUTEX) {
			h->kind = KMX_BLOCKED_MUTEX;
			h->lock = s->with;
		}
	}
	switch (h->kind) {
	case KMX_BLOCKED_MUTEX: {
		struct kmutex_task *owner;

		describe_mutex(h->lock_desc, sizeof(h->lock_desc), h->lock);
		if (!safe_read(&h->owner_word, &((const struct kmutex *)h->lock)->owner,
			       sizeof(h->owner_word)))
			break;
		owner = kmx_owner_task(h->owner_word);
		if (owner && kmx_is_task(owner))
			h->owners[h->nowners++] = owner;
		break;
	}
	case KMX_BLOCKED_CONDVAR: {
		char with[2 * NAME_LEN];

		describe_object(h->lock_desc, sizeof(h->lock_desc), h->lock, NULL);
		if (s->mode & KMX_HUNG_WITH_KMUTEX)
			describe_mutex(with, sizeof(with), s->with);
		else
			snprintf(with, sizeof(with), "%p (a glibc mutex)", s->with);
		snprintf(h->lock_desc + strlen(h->lock_desc), sizeof(h->lock_desc) - strlen(h->lock_desc),
			 ", with mutex %s", with);
		break;
	}
	case KMX_BLOCKED_RWSEM_READ:
	case KMX_BLOCKED_RWSEM_WRITE: {
		struct krwsem copy;
		struct kmutex_task *writer = NULL;
		char name[NAME_LEN] = "";

		if (kmx_krwsem_holders && safe_read(&copy, h->lock, sizeof(copy))) {
			writer = kmx_krwsem_holders(&copy, &h->nreaders);
			if (copy.name)
				safe_read_string(name, sizeof(name), copy.name);
		}
		describe_object(h->lock_desc, sizeof(h->lock_desc), h->lock, name);
		h->writer = false;
		if (writer && kmx_is_task(writer)) {
			h->owners[h->nowners++] = writer;
			h->writer = true;
		} else if (h->nreaders) {
			h->nowners = find_readers(h->lock, h->task, h->owners, MAX_READERS);
		}
		break;
	}
	default:
		break;
	}
}

/* "name" tid N, or a note when the descriptor's thread is gone. */
static void out_thread(const struct hop *h)
{
	if (h->tid > 0)
		out("\"%s\" tid %d", h->comm, (int)h->tid);
	else
		out("a thread that has exited (descriptor %p)", (void *)h->task);
}

static bool main_program_module(const void *base)
{
	Dl_info info;
	const void *phdr = (const void *)getauxval(AT_PHDR);

	return phdr && dladdr(phdr, &info) && info.dli_fbase == base;
}

/*
 * Is the frame kmutex's own: in our shared library (libkmutex.so, libkmutex-pthread.so), or,
 * linked into the program, one of the API functions (kcond_wait calls the wait proper)?
 */
static bool own_frame(const void *ip)
{
	static const void *own_base; /* the watchdog's alone */
	Dl_info info;

	if (!own_base && dladdr((const void *)kmx_hung__begin, &info))
		own_base = main_program_module(info.dli_fbase) ? (const void *)1 : info.dli_fbase;
	if (!dladdr(ip, &info))
		return false;
	return info.dli_fbase == own_base ||
	       (info.dli_sname && (!strncmp(info.dli_sname, "kmutex", 6) ||
				   !strncmp(info.dli_sname, "kcond", 5) ||
				   !strncmp(info.dli_sname, "krwsem", 6)));
}

/*
 * Where a blocked thread waits: the first frame from its lock call's return address on that
 * is not kmutex's own (under libkmutex-pthread, pthread_mutex_lock's caller; after
 * kcond_wait, its caller): the program's call.  Without a stack, the return address.
 */
static const void *wait_site(const struct hop *h, void *const *frames, int n)
{
	int i = 0;

	while (i < n && frames[i] != h->snap.ip)
		i++;
	for (; i < n; i++)
		if (!own_frame(frames[i]))
			return frames[i];
	return h->snap.ip;
}

/* The hop's stack (taken now) and where it waits. */
static void out_stack(const struct hop *h)
{
	void *frames[MAX_FRAMES];
	const char *why = NULL;
	char sym[256];
	int n = 0, first = 0;

	if (h->blocked && (h->snap.mode & KMUTEX__INTERRUPTIBLE))
		why = "not taken: the thread is in an interruptible wait, which a signal would end";
	else if (h->blocked && KMX_TSAN)
		why = "not taken: a TSan build runs signal handlers only once a thread leaves its futex wait";
	else
		n = take_stack(h->tid, frames, MAX_FRAMES, &why);
	if (n)
		kmx_add_return(&stats_stacks, 1, KMX_RELAXED);
	if (h->blocked) {
		kmx_symbolize(sym, sizeof(sym), wait_site(h, frames, n));
		out("  at: %s\n", sym);
		/* The frames inside the lock call before its return address are kmutex's own. */
		for (int i = 0; i < n; i++)
			if (frames[i] == h->snap.ip) {
				first = i;
				break;
			}
	}
	if (!n) {
		out("  Call Trace: %s\n", why ? why : "not available");
		return;
	}
	out("  Call Trace:\n");
	if (first)
		out("   ... %d frame%s in the wait itself\n", first, first == 1 ? "" : "s");
	for (int i = first; i < n; i++) {
		kmx_symbolize(sym, sizeof(sym), frames[i]);
		out("   %s\n", sym);
	}
}

/* ---- following the chain --------------------------------------------------------------- */

enum chain_end {
	END_RUNNING,   /* the last thread is not in a kmutex wait */
	END_EXITED,    /* the last owner has exited holding the lock */
	END_CONDVAR,   /* the last thread waits on a condvar: nobody to name */
	END_FREE,      /* the lock is free: the wait is ending */
	END_HANDED,    /* the mutex was handed to the waiter, which has not run to take it */
	END_READERS,   /* a rwsem held by readers: all named, not followed */
	END_CYCLE,     /* the owner is a thread already on the chain: a deadlock */
	END_LONG,      /* MAX_CHAIN threads and no end */
	END_CHANGED,   /* a wait on the chain ended while it was read: try at the next scan */
};

static struct hop chain[MAX_CHAIN]; /* the watchdog's alone (scan_lock) */

static enum chain_end walk(struct kmutex_task *start, const struct snap *first, int *len, int *cycle_at)
{
	int n = 0;

	hop_init(&chain[0], start);
	if (!chain[0].blocked || chain[0].snap.seq != first->seq)
		return END_CHANGED;
	for (;;) {
		struct hop *h = &chain[n++];
		struct kmutex_task *next;

		*len = n;
		if (!h->blocked)
			return h->tid > 0 ? END_RUNNING : END_EXITED;
		hop_resolve(h);
		if (!same_wait(h->task, &h->snap))
			return END_CHANGED;
		if (h->kind == KMX_BLOCKED_CONDVAR)
			return END_CONDVAR;
		if (h->nowners == 0)
			return h->nreaders ? END_READERS : END_FREE;
		/* Its own: handed to it (PICKUP), or, for the pthread drop-in's relock of a NORMAL
		 * mutex by its owner (KMUTEX__RELOCK), held by itself, a cycle of one (below). */
		if (h->owners[0] == h->task &&
		    (h->kind != KMX_BLOCKED_MUTEX || (h->owner_word & KMX_FLAG_PICKUP)))
			return END_HANDED;
		/* A rwsem held by readers is followed through its reader when there is one. */
		if (h->kind != KMX_BLOCKED_MUTEX && !h->writer && (h->nreaders != 1 || h->nowners != 1))
			return END_READERS;
		next = h->owners[0];
		for (int j = 0; j < n; j++)
			if (chain[j].task == next) {
				*cycle_at = j;
				return END_CYCLE;
			}
		if (n == MAX_CHAIN)
			return END_LONG;
		hop_init(&chain[n], next);
	}
}

/*
 * A cycle is a deadlock if, with every thread on it still in the same wait afterwards, each
 * lock's owner read again is the same: threads that stay blocked cannot release, so the owners
 * read between the two looks at their waits were all true at once.
 */
static bool cycle_is_stable(int from, int n)
{
	for (int i = from; i < n; i++) {
		struct kmutex_task *owner = chain[i].owners[0];

		hop_resolve(&chain[i]);
		if (chain[i].nowners == 0 || chain[i].owners[0] != owner)
			return false;
	}
	for (int i = from; i < n; i++)
		if (!same_wait(chain[i].task, &chain[i].snap))
			return false;
	return true;
}

/* ---- writing the report ---------------------------------------------------------------- */

static void out_mode(const struct hop *h)
{
	if (h->snap.mode & KMUTEX__TIMED)
		out(" (a timed wait)");
	if (h->snap.mode & KMUTEX__INTERRUPTIBLE)
		out(" (an interruptible wait)");
}

static void out_owners(const struct hop *h)
{
	for (int i = 0; i < h->nowners; i++) {
		struct hop owner;

		hop_init(&owner, h->owners[i]);
		out("%s", i ? ", " : "");
		out_thread(&owner);
	}
	if (h->nreaders > (uint64_t)h->nowners)
		out("%s%llu not named", h->nowners ? " and " : "",
		    (unsigned long long)(h->nreaders - (uint64_t)h->nowners));
}

/* One line of the chain: what the hop waits on and who holds it. */
static void out_hop_line(int i, int n, enum chain_end end)
{
	const struct hop *h = &chain[i];

	out("  ");
	out_thread(h);
	if (!h->blocked) {
		out(h->tid > 0 ? ": not waiting on kmutex: running, or blocked elsewhere (its stack, "
				 "taken now, is below)\n"
			       : ": it exited holding the lock (a thread must unlock before it exits)\n");
		return;
	}
	if (h->kind == KMX_BLOCKED_CONDVAR) {
		out(": waiting on condition variable %s", h->lock_desc);
		out_mode(h);
		out(": a condvar has no owner; the wait ends when another thread signals it\n");
		return;
	}
	out(": waiting to lock %s %s", kind_name(h->kind), h->lock_desc);
	if (h->snap.kind == KMX_BLOCKED_CONDVAR)
		out(" (moved there from condvar %p by a broadcast)", h->snap.object);
	out_mode(h);
	if (i == n - 1 && end == END_FREE)
		out(", which is free now (the wait is ending)\n");
	else if (i == n - 1 && end == END_HANDED)
		out(", which was handed to it: it has not run since to take it\n");
	else if (i == n - 1 && end == END_READERS) {
		out(", held by %llu reader%s: ", (unsigned long long)h->nreaders,
		    h->nreaders == 1 ? "" : "s");
		out_owners(h);
		out("\n");
	} else {
		out(h->kind == KMX_BLOCKED_MUTEX ? ", held by " : h->writer ? ", held by writer "
									 : ", held by reader ");
		out_owners(h);
		out("\n");
	}
}

static void out_header(const struct hop *h, uint64_t now)
{
	out("\nINFO: task %s:%d blocked for more than %g seconds.\n", h->comm, (int)h->tid, timeout_s);
	out("      kmutex hung-task watchdog, pid %d: blocked for %.3f s on a %s.\n", (int)getpid(),
	    (double)(now - h->snap.since) / 1e9, kind_name(h->kind));
	out("\"KMUTEX_HUNG_TIMEOUT=0\" disables this message.\n");
}

/* The kernel's one-line verdict: whom the task is blocked on. */
static void out_verdict(int n, enum chain_end end, int cycle_at)
{
	const struct hop *h0 = &chain[0];

	if (h0->kind == KMX_BLOCKED_CONDVAR) {
		out("INFO: task %s:%d is waiting on a condition variable that nobody has signalled.\n",
		    h0->comm, (int)h0->tid);
		return;
	}
	out("INFO: task %s:%d is blocked on a %s", h0->comm, (int)h0->tid, kind_name(h0->kind));
	for (int i = 1; i < n; i++) {
		out(" owned by task %s:%d", chain[i].comm, (int)chain[i].tid);
		if (i + 1 < n)
			out(", which is blocked on a %s", kind_name(chain[i].kind));
	}
	switch (end) {
	case END_CYCLE:
		if (n == 1) {
			out(" it holds itself: a deadlock (it locked the mutex again).\n");
			break;
		}
		out(", which is blocked on a %s owned by task %s:%d: %s.\n", kind_name(chain[n - 1].kind),
		    chain[cycle_at].comm, (int)chain[cycle_at].tid,
		    cycle_at == 0 ? "a deadlock" : "a deadlock (below), behind which it waits");
		break;
	case END_RUNNING:
		out(n > 1 ? ", which is running or blocked outside kmutex.\n" : ".\n");
		break;
	case END_EXITED:
		out(", which has exited without unlocking it.\n");
		break;
	case END_CONDVAR:
		out(", which is waiting on a condition variable.\n");
		break;
	case END_READERS:
		out(" held by readers.\n");
		break;
	default:
		out(".\n");
		break;
	}
}

/* JVM-style: the cycle, then each thread on it with what it holds and waits for. */
static void out_deadlock(int from, int n, uint64_t now)
{
	out("\nFound one kmutex deadlock:\n==========================\n");
	for (int i = from; i < n; i++) {
		const struct hop *h = &chain[i], *next = &chain[i + 1 < n ? i + 1 : from];

		out_thread(h);
		out(":\n  waiting to lock %s %s,\n  which is held %sby ", kind_name(h->kind), h->lock_desc,
		    h->kind == KMX_BLOCKED_MUTEX ? "" : h->writer ? "for writing " : "for reading ");
		out_thread(next);
		out("\n");
	}
	out("\nStacks of the threads listed above:\n===================================\n");
	for (int i = from; i < n; i++) {
		const struct hop *h = &chain[i], *prev = &chain[i > from ? i - 1 : n - 1];

		out_thread(h);
		out(" (blocked for %.3f s):\n", (double)(now - h->snap.since) / 1e9);
		out("  - waiting to lock %s %s\n", kind_name(h->kind), h->lock_desc);
		if (prev->kind == KMX_BLOCKED_MUTEX)
			out("  - holding mutex %s\n", prev->lock_desc);
		else
			out("  - holding rw-semaphore %s for %s\n", prev->lock_desc,
			    prev->writer ? "writing" : "reading");
		out_stack(h);
	}
	out("\nFound 1 deadlock.\n");
}

static void finish_report(void)
{
	out_flush();
	kmx_add_return(&stats_reports, 1, KMX_RELAXED); /* RELAXED: a statistic */
	if (abort_after_report) {
		static const char msg[] = "kmutex: KMUTEX_HUNG_ABORT=1: aborting after the report\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
}

/* The hung wait s of task: follow its chain and report it.  Returns 1 if it reported. */
static unsigned report_wait(struct kmutex_task *task, const struct snap *s, uint64_t now)
{
	int n = 0, cycle_at = -1;
	enum chain_end end = walk(task, s, &n, &cycle_at);
	bool deadlock;

	if (end == END_CHANGED)
		return 0; /* in flux: the next scan looks again */
	deadlock = end == END_CYCLE && cycle_is_stable(cycle_at, n);
	if (end == END_CYCLE && !deadlock)
		return 0;

	out_header(&chain[0], now);
	out_verdict(n, end, cycle_at);
	out("Blocker chain:\n");
	for (int i = 0; i < n; i++)
		out_hop_line(i, n, end);
	if (end == END_LONG)
		out("  ... (the chain goes on: only %d threads are followed)\n", MAX_CHAIN);
	if (deadlock) {
		/* The threads before the cycle first, then the cycle, JVM-style. */
		for (int i = 0; i < cycle_at; i++) {
			out("\n");
			out_thread(&chain[i]);
			out(" (blocked for %.3f s):\n", (double)(now - chain[i].snap.since) / 1e9);
			out_stack(&chain[i]);
		}
		out_deadlock(cycle_at, n, now);
		/* Each thread on the cycle is in this report: none is reported again for this wait. */
		for (int i = cycle_at; i < n; i++)
			kmx_store(&chain[i].task->hung.reported, chain[i].snap.seq, KMX_RELAXED);
	} else {
		out("\nStacks:\n");
		for (int i = 0; i < n; i++) {
			const struct hop *h = &chain[i];

			if (!h->blocked && h->tid <= 0)
				continue;
			out_thread(h);
			if (h->blocked)
				out(" (blocked for %.3f s):\n", (double)(now - h->snap.since) / 1e9);
			else
				out(", what it is doing now:\n");
			out_stack(h);
		}
		/* A rwsem held by readers: each reader named, and what it is doing. */
		for (int i = 0; end == END_READERS && i < chain[n - 1].nowners; i++) {
			static struct hop reader; /* the watchdog's alone; too big for its stack */

			hop_init(&reader, chain[n - 1].owners[i]);
			out_thread(&reader);
			out(", a reader, what it is doing now:\n");
			out_stack(&reader);
		}
	}
	/* RELAXED: only the watchdog reads and writes it. */
	kmx_store(&task->hung.reported, s->seq, KMX_RELAXED);
	finish_report();
	return 1;
}

/* ---- the scan and the watchdog thread -------------------------------------------------- */

static uint32_t scan_lock; /* a kmx_wait_lock word: one scan at a time, and its statics */

static unsigned scan(void)
{
	uint64_t start = now_ns(), took;
	uint32_t n = kmx_task_count();
	unsigned reports = 0;

	for (uint32_t id = 0; id < n; id++) {
		struct kmutex_task *t = kmx_task_at(id);
		struct kmx_hung_record *r = &t->hung;
		struct snap s;

		if (!snapshot(t, &s) || s.kind == KMX_BLOCKED_NONE)
			continue;
		if (s.since + timeout_ns > start)
			continue;
		/* RELAXED: overdue and reported are the watchdog's own (under scan_lock). */
		if (kmx_load(&r->reported, KMX_RELAXED) == s.seq)
			continue;
		if (kmx_load(&r->overdue, KMX_RELAXED) != s.seq) {
			/* Overdue now: reported if the next scan finds this wait still there. */
			kmx_store(&r->overdue, s.seq, KMX_RELAXED);
			continue;
		}
		reports += report_wait(t, &s, start);
	}
	took = now_ns() - start;
	/* RELAXED: statistics. */
	kmx_add_return(&stats_descriptors, n, KMX_RELAXED);
	kmx_add_return(&stats_scan_ns, took, KMX_RELAXED);
	if (took > kmx_load(&stats_scan_ns_max, KMX_RELAXED))
		kmx_store(&stats_scan_ns_max, took, KMX_RELAXED);
	kmx_add_return(&stats_scans, 1, KMX_RELAXED);
	return reports;
}

unsigned kmx_hung_scan_now(void)
{
	unsigned reports;

	kmx_wait_lock(&scan_lock);
	reports = scan();
	kmx_wait_unlock(&scan_lock);
	return reports;
}

void kmx_hung_get_stats(struct kmx_hung_stats *o)
{
	/* RELAXED: statistics. */
	o->scans = kmx_load(&stats_scans, KMX_RELAXED);
	o->scan_ns = kmx_load(&stats_scan_ns, KMX_RELAXED);
	o->scan_ns_max = kmx_load(&stats_scan_ns_max, KMX_RELAXED);
	o->descriptors = kmx_load(&stats_descriptors, KMX_RELAXED);
	o->reports = kmx_load(&stats_reports, KMX_RELAXED);
	o->stacks = kmx_load(&stats_stacks, KMX_RELAXED);
	o->last_signal = kmx_load(&stats_last_signal, KMX_RELAXED);
}

static void *watchdog(void *arg)
{
	uint64_t interval = timeout_ns / 2, next = now_ns();

	(void)arg;
	(void)prctl(PR_SET_NAME, "kmutex-hung", 0, 0, 0);
	for (;;) {
		struct timespec ts;

		next += interval;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		(void)kmx_hung_scan_now();
		if (next < now_ns()) /* a scan or a pause overran: start afresh from now */
			next = now_ns();
	}
	return NULL;
}

/*
 * Start the watchdog before main(), if asked to.  Its thread blocks every signal, so that no
 * signal meant for the program is delivered to it.  backtrace() is called once here: its
 * first call loads libgcc_s (allocating), which the signal handler must not be the one to do.
 */
__attribute__((constructor)) static void hung_task_start(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t thread;
	void *warm[2];
	int err;

	if (!kmx_hung_enabled())
		return;
	(void)backtrace(warm, 2);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	err = pthread_create(&thread, &attr, watchdog, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		bad_setting("KMUTEX_HUNG_TIMEOUT: cannot start the watchdog thread");
}
