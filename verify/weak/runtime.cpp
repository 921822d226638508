/*
 * The KMX_RELACY layer's runtime (see kmx_relacy.h): shadow cells, the ordering sites and their
 * weakening, store sinking, the futex, the clock, and what task.c, debug.c and the statistics
 * provide in the real build.
 *
 * Weakening (variants and mutations): KMX_WEAKEN="site=order[,site=order...]".  A site is
 * function/operation/order as written in the source, e.g. trylock_common/cmpxchg/acquire; the
 * new order is relaxed, acquire, release or none (a fence dropped).  A site may add a condition
 * on the owner word a cmpxchg expects: @pickup (PICKUP set: the pickup of a handoff), @waiters
 * (WAITERS set: the acquisition of a lock that has sleepers, the slow path's).
 * All calls of one function with the same operation and order are one site.
 * KMX_SITES=FILE appends every ordering site (order other than relaxed) a run executed, one
 * per line: "site file:line", for verify/weak/mutate.sh.
 *
 * Store sinking: KMX_SINK="function[,function...]": relaxed stores made in those functions are
 * held in a per-thread buffer and made visible only at the thread's next release (or stronger)
 * operation or fence, futex call, or access to a held word: the store-store and store-load
 * reorderings C11 allows for relaxed stores and that Relacy, whose modification order follows
 * execution order, never produces by itself.
 */
#include "kmutex.h"
#include "debug.h"
#include "hung_task.h"
#include "lock_class.h"
#include "lock_stat.h"
#include "lockdep.h"
#include "osq.h"
#include "task.h"
#include "world.h"

namespace kmx_rl {

static world *cur; /* the iteration's world: set by its constructor */

/* ---- configuration (read once per process; the same for every iteration) -------------- */

/*
 * No std containers once a simulation runs: Relacy replaces the global operator new with its
 * own allocator inside an iteration (and checks it for leaks), so everything here is a fixed
 * array, filled by configure() from main() before the first iteration.
 */
enum { MAX_WEAKEN = 16, MAX_SITES = 256, MAX_SINK = 8, NAME = 64 };

struct weakening {
	char site[2 * NAME]; /* func/op/order */
	uint64_t when;       /* 0, or the owner-word flag the cmpxchg must expect (@pickup, @waiters) */
	int order;           /* -1: drop (fences) */
};

static weakening weakenings[MAX_WEAKEN];
static unsigned nweakenings;
static char sink_funcs[MAX_SINK][NAME];
static unsigned nsink_funcs;
static FILE *sites_out;

struct site_rec {
	const char *func, *file;
	int line, op, mo;
	bool pickup; /* a cmpxchg that expected PICKUP: the pickup of a handoff */
};
static site_rec sites_seen[MAX_SITES];
static unsigned nsites_seen;

static const char *const op_names[OP_COUNT] = {
	"load", "store", "xchg", "cmpxchg", "add", "or", "and", "fence",
};

static const char *order_name(int mo)
{
	switch (mo) {
	case __ATOMIC_RELAXED: return "relaxed";
	case __ATOMIC_CONSUME: return "consume";
	case __ATOMIC_ACQUIRE: return "acquire";
	case __ATOMIC_RELEASE: return "release";
	case __ATOMIC_ACQ_REL: return "acq_rel";
	default:               return "seq_cst";
	}
}

static int parse_order(const char *s)
{
	if (!strcmp(s, "relaxed")) return __ATOMIC_RELAXED;
	if (!strcmp(s, "acquire")) return __ATOMIC_ACQUIRE;
	if (!strcmp(s, "release")) return __ATOMIC_RELEASE;
	if (!strcmp(s, "acq_rel")) return __ATOMIC_ACQ_REL;
	if (!strcmp(s, "none"))    return -1;
	fprintf(stderr, "KMX_WEAKEN: unknown order '%s'\n", s);
	exit(2);
}

static void write_sites(void)
{
	for (unsigned i = 0; i < nsites_seen; i++) {
		const site_rec &r = sites_seen[i];
		const char *base = strrchr(r.file, '/');

		fprintf(sites_out, "%s/%s/%s%s %s:%d\n", r.func, op_names[r.op], order_name(r.mo),
			r.pickup ? "@pickup" : "", base ? base + 1 : r.file, r.line);
	}
	fclose(sites_out);
}

/* Items of a comma-separated list, each copied into a buffer of n bytes (exit if too long). */
static const char *next_item(const char *s, char *item, size_t n)
{
	size_t len = strcspn(s, ",");

	if (len >= n) {
		fprintf(stderr, "kmx_relacy: '%.*s' is too long\n", (int)len, s);
		exit(2);
	}
	memcpy(item, s, len);
	item[len] = 0;
	return s[len] ? s + len + 1 : s + len;
}

void configure(void)
{
	const char *s = getenv("KMX_WEAKEN");
	char item[3 * NAME];

	while (s && *s) {
		s = next_item(s, item, sizeof(item));
		char *eq = strchr(item, '='), *at;
		weakening &w = weakenings[nweakenings];

		if (!eq || nweakenings == MAX_WEAKEN) {
			fprintf(stderr, "KMX_WEAKEN: '%s' is not site=order (or too many)\n", item);
			exit(2);
		}
		*eq = 0;
		w.order = parse_order(eq + 1);
		at = strchr(item, '@');
		w.when = !at ? 0 : !strcmp(at, "@pickup") ? 0x4 : !strcmp(at, "@waiters") ? 0x1 : ~0ull;
		if (w.when == ~0ull) {
			fprintf(stderr, "KMX_WEAKEN: unknown condition '%s'\n", at);
			exit(2);
		}
		if (at)
			*at = 0;
		snprintf(w.site, sizeof(w.site), "%s", item);
		nweakenings++;
	}
	for (s = getenv("KMX_SINK"); s && *s && nsink_funcs < MAX_SINK; nsink_funcs++)
		s = next_item(s, sink_funcs[nsink_funcs], NAME);
	if (getenv("KMX_SITES")) {
		sites_out = fopen(getenv("KMX_SITES"), "a");
		if (!sites_out) {
			perror("KMX_SITES");
			exit(2);
		}
		atexit(write_sites);
	}
}

/* Is func/op/order this site's name? */
static bool same_site(const char *site, const char *func, int op, int mo)
{
	size_t n = strlen(func);
	const char *opn = op_names[op], *mon = order_name(mo);
	size_t no = strlen(opn);

	return !strncmp(site, func, n) && site[n] == '/' && !strncmp(site + n + 1, opn, no) &&
	       site[n + 1 + no] == '/' && !strcmp(site + n + 2 + no, mon);
}

events seen;

int order_at(const char *func, const char *file, int line, int op, int mo, uint64_t found)
{
	if (mo == __ATOMIC_RELAXED)
		return mo; /* nothing weaker */
	if (op == OP_CMPXCHG && (found & 0x4) && !strcmp(func, "trylock_common"))
		seen.pickups++;
	else if (op == OP_STORE && !strcmp(func, "osq_unqueue"))
		seen.unqueue_relinks++;
	else if (op == OP_XCHG && !strcmp(func, "kmx_enqueue_moved_waiter"))
		seen.moved++;
	if (sites_out) {
		/* @pickup is recorded for the owner word's cmpxchg only (trylock_common). */
		bool seen = false,
		     pickup = op == OP_CMPXCHG && (found & 0x4) && !strcmp(func, "trylock_common");

		for (unsigned i = 0; i < nsites_seen && !seen; i++)
			seen = sites_seen[i].line == line && sites_seen[i].pickup == pickup &&
			       !strcmp(sites_seen[i].file, file);
		if (!seen && nsites_seen < MAX_SITES)
			sites_seen[nsites_seen++] = site_rec{func, file, line, op, mo, pickup};
	}
	for (unsigned i = 0; i < nweakenings; i++) {
		const weakening &w = weakenings[i];

		if (!same_site(w.site, func, op, mo))
			continue;
		if (w.when && !(found & w.when))
			continue;
		return w.order;
	}
	return mo;
}

rl::memory_order rl_order(int mo)
{
	switch (mo) {
	case __ATOMIC_RELAXED: return rl::mo_relaxed;
	case __ATOMIC_CONSUME: return rl::mo_acquire;
	case __ATOMIC_ACQUIRE: return rl::mo_acquire;
	case __ATOMIC_RELEASE: return rl::mo_release;
	case __ATOMIC_ACQ_REL: return rl::mo_acq_rel;
	default:               return rl::mo_seq_cst;
	}
}

/* ---- cells ------------------------------------------------------------------------------ */

/*
 * Static variables of the core (caches such as handoff_after_cached) keep their values from
 * one iteration to the next in the real memory; each iteration must start from the program's
 * initial state, so the first value seen of each static word is restored when a world is built.
 */
extern "C" char __data_start[], _end[];

struct static_word {
	const void *addr;
	unsigned size;
	uint64_t initial;
};
enum { MAX_STATIC = 64 };
static static_word static_words[MAX_STATIC];
static unsigned nstatic_words;

static bool is_static(const void *addr)
{
	return (const char *)addr >= __data_start && (const char *)addr < _end;
}

static uint64_t read_bits(const void *addr, unsigned size)
{
	uint64_t b = 0;

	memcpy(&b, addr, size);
	return b;
}

cell_ref cell(const void *addr, unsigned size, rl::debug_info_param info)
{
	world *w = cur;
	unsigned i;

	flush_sunk_for(addr, info);
	for (i = 0; i < w->ncells; i++)
		if (w->rec[i].addr == addr)
			break;
	uint64_t now = read_bits(addr, size);

	if (i == w->ncells) {
		RL_ASSERT_IMPL(i < NCELLS, rl::test_result_user_assert_failed,
			       "kmx_relacy: too many atomic words (raise NCELLS)", info);
		w->ncells++;
		w->rec[i].addr = addr;
		w->rec[i].size = size;
		w->rec[i].base = now;    /* the cell's zero: the word's initial value */
		w->rec[i].through = now;
		if (is_static(addr)) {
			bool known = false;

			for (unsigned k = 0; k < nstatic_words; k++)
				known = known || static_words[k].addr == addr;
			RL_ASSERT_IMPL(known || nstatic_words < MAX_STATIC,
				       rl::test_result_user_assert_failed,
				       "kmx_relacy: too many static words (raise MAX_STATIC)", info);
			if (!known)
				static_words[nstatic_words++] = static_word{addr, size, now};
		}
	} else if (now != w->rec[i].through) {
		/*
		 * A plain write since the cell last wrote the word (an initialization): the cell
		 * takes the value, as one relaxed store, with no scheduling point of its own.
		 */
		rl::preemption_disabler pd(rl::ctx());

		w->cells[i].store(now ^ w->rec[i].base, rl::mo_relaxed, info);
		w->rec[i].through = now;
	}
	return cell_ref{w->cells[i], w->rec[i].base};
}

void write_through(void *addr, unsigned size, uint64_t bits)
{
	world *w = cur;

	memcpy(addr, &bits, size);
	for (unsigned i = 0; i < w->ncells; i++)
		if (w->rec[i].addr == addr)
			w->rec[i].through = bits;
}

/* ---- store sinking ----------------------------------------------------------------------- */

void flush_sunk(rl::debug_info_param info)
{
	world *w = cur;
	unsigned t = rl::thread_index(), n = w->nsunk[t];

	w->nsunk[t] = 0; /* first: cell() flushes too */
	for (unsigned k = 0; k < n; k++) {
		sunk_store &s = w->sunk[t][k];
		cell_ref c = cell(s.addr, s.size, info);

		c.a.store(s.bits ^ c.base, rl::mo_relaxed, info);
		write_through(s.addr, s.size, s.bits);
	}
}

void flush_sunk_for(const void *addr, rl::debug_info_param info)
{
	world *w = cur;
	unsigned t = rl::thread_index();

	for (unsigned k = 0; k < w->nsunk[t]; k++)
		if (w->sunk[t][k].addr == addr) {
			flush_sunk(info);
			return;
		}
}

bool sink_store(const char *func, void *addr, unsigned size, uint64_t bits, int mo,
		rl::debug_info_param info)
{
	world *w = cur;
	unsigned t = rl::thread_index();
	bool sink = false;

	if (mo != __ATOMIC_RELAXED) {
		flush_sunk(info); /* a release store: everything before it is visible first */
		return false;
	}
	for (unsigned k = 0; k < nsink_funcs; k++)
		sink = sink || !strcmp(sink_funcs[k], func);
	if (!sink || w->nsunk[t] == NSUNK)
		return false;
	flush_sunk_for(addr, info);
	w->sunk[t][w->nsunk[t]++] = sunk_store{addr, size, bits, func};
	return true;
}

void fence(int mo, const char *func, const char *file, int line)
{
	rl::debug_info info(func, file, line);

	mo = order_at(func, file, line, OP_FENCE, mo, 0);
	if (mo < 0)
		return;
	if (mo != __ATOMIC_ACQUIRE && mo != __ATOMIC_RELAXED)
		flush_sunk(info);
	rl::atomic_thread_fence(rl_order(mo), info);
}

/* ---- scheduling, clock, CPUs, descriptors ---------------------------------------------- */

void relax(void)
{
	rl::yield(1, $);
}

int clock_gettime_(clockid_t clk, struct timespec *ts)
{
	(void)clk;
	cur->clock_ns += cur->clock_step;
	ts->tv_sec = (time_t)(cur->clock_ns / 1000000000u);
	ts->tv_nsec = (long)(cur->clock_ns % 1000000000u);
	return 0;
}

int getaffinity(cpu_set_t *set)
{
	CPU_ZERO(set);
	for (int i = 0; i < cur->ncpus; i++)
		CPU_SET(i, set);
	return 0;
}

world::world(uint64_t step, int cpus) : ncells(0), clock_ns(1000000000ull), clock_step(step), ncpus(cpus)
{
	for (unsigned k = 0; k < nstatic_words; k++)
		memcpy((void *)static_words[k].addr, &static_words[k].initial, static_words[k].size);
	memset((void *)rec, 0, sizeof(rec));
	memset(tasks, 0, sizeof(tasks));
	for (unsigned t = 0; t < NTHREADS; t++) {
		tasks[t].wake = KMX_WAKE_UP;
		tasks[t].osq.code = t + 1;
		current[t] = NULL;
		interrupt_pending[t] = 0;
		nsunk[t] = 0;
	}
	cur = this;
}

world::~world()
{
	cur = NULL;
}

} /* namespace kmx_rl */

using kmx_rl::cur;

struct kmutex_task **kmx_rl_current(void)
{
	return &cur->current[rl::thread_index()];
}

/* task.c's interface */
struct kmutex_task *kmutex__task_create(void)
{
	unsigned t = rl::thread_index();

	cur->current[t] = &cur->tasks[t];
	return cur->current[t];
}

struct kmutex_osq_node *kmx_osq_node_of(uint32_t code)
{
	return code ? &cur->tasks[code - 1].osq : NULL;
}

void kmutex_interrupt_self(void)
{
	unsigned t = rl::thread_index();

	cur->interrupt_pending[t] = 1;
	if (cur->current[t])
		kmx_store(&cur->current[t]->wake, KMX_WAKE_UP, KMX_RELAXED);
}

int kmx_take_interruption(void)
{
	unsigned t = rl::thread_index();
	int was = cur->interrupt_pending[t];

	cur->interrupt_pending[t] = 0;
	return was;
}

int kmx_interruption_pending(void)
{
	return cur->interrupt_pending[rl::thread_index()];
}

/*
 * futex.h's interface, on the cell's Relacy wait set.  The kernel reads the word under its hash
 * bucket's lock, so a wait sees the word's latest value: here a relaxed RMW that changes nothing
 * (an RMW reads the last value in modification order), in the same step as the sleep.  A wakeup
 * orders the waker's futex_wake before the woken thread's return (Relacy's per-word sync); an
 * EAGAIN return orders nothing.  No seq_cst fence, unlike Relacy's own futex emulation: a seq_cst
 * fence in Relacy joins a global clock, so every fenced thread synchronizes with every earlier
 * one, far more than the kernel gives, and that hid the pickup bug (verify/README.md).
 */
int kmx_futex_wait_clock(uint32_t *word, uint32_t expected, const struct timespec *deadline,
			 int realtime)
{
	rl::context &c = rl::ctx();
	rl::debug_info info = $;
	kmx_rl::cell_atomic *a;
	uint64_t v;

	(void)realtime;
	kmx_rl::flush_sunk(info);
	c.sched();
	{
		rl::preemption_disabler pd(c); /* the value check and the sleep are one step */
		kmx_rl::cell_ref cr = kmx_rl::cell(word, sizeof(*word), info);

		a = &cr.a;
		v = a->fetch_add(0, rl::mo_relaxed, info) ^ cr.base;
	}
	if ((uint32_t)v != expected)
		return -EAGAIN;
	switch (a->wait(c, deadline != NULL, true, info)) {
	case rl::unpark_reason_normal:
		return 0;
	case rl::unpark_reason_timeout: {
		uint64_t at = (uint64_t)deadline->tv_sec * 1000000000ull + (uint64_t)deadline->tv_nsec;

		if (cur->clock_ns < at)
			cur->clock_ns = at;
		return -ETIMEDOUT;
	}
	default:
		return -EINTR; /* a spurious wakeup: as if a signal handler ran */
	}
}

int kmx_futex_wake(uint32_t *word, int n)
{
	rl::context &c = rl::ctx();
	rl::debug_info info = $;
	kmx_rl::cell_atomic *a = &kmx_rl::cell(word, sizeof(*word), info).a;

	kmx_rl::flush_sunk(info);
	c.sched();
	return (int)a->wake(c, (rl::thread_id_t)n, info);
}

/* debug.c's interface: a misuse check that fires is an assertion failure of the scenario */
void kmx_misuse_of(const char *check, const char *what, const void *object)
{
	(void)what;
	(void)object;
	rl::ctx().fail_test(check, rl::test_result_user_assert_failed, $);
	abort(); /* not reached: fail_test leaves the iteration */
}

void kmx_misuse(const char *check, const struct kmutex *lock)
{
	kmx_misuse_of(check, "mutex", lock);
}

void kmx_fatal(const char *what)
{
	kmx_misuse_of(what, "process", NULL);
}

/* Statistics stay off: the switch is read, nothing else is called. */
struct kmx_stat_switch kmx_stat_switch;

void kmx_stat_contended(struct kmutex *lock, struct kmx_contention *c)
{
	(void)c;
	kmx_misuse("kmx_relacy: statistics are off in the checked build", lock);
}

void kmx_stat_contention_end(struct kmx_contention *c, int ret)
{
	(void)c;
	(void)ret;
	kmx_fatal("kmx_relacy: statistics are off in the checked build");
}

void kmx_stat_handoff(struct kmutex *lock)
{
	kmx_misuse("kmx_relacy: statistics are off in the checked build", lock);
}

/* lock_stat.c's shared contention_end site: no probe here, and statistics are off. */
int kmx_contention_end_event(const void *lock, struct kmx_contention *c, int ret)
{
	(void)lock;
	if (c->cls)
		kmx_fatal("kmx_relacy: statistics are off in the checked build");
	return ret;
}

/* krwsem's per-mode statistics (krwsem_tools.h): only called with statistics on. */
void kmx_stat_contended_class(const char *name, unsigned kind, struct kmx_contention *c)
{
	(void)name, (void)kind, (void)c;
	kmx_fatal("kmx_relacy: statistics are off in the checked build");
}

void kmx_stat_handoff_class(const char *name, unsigned kind)
{
	(void)name, (void)kind;
	kmx_fatal("kmx_relacy: statistics are off in the checked build");
}

void kmx_stat_acquired_class(const void *lock, const char *name, unsigned kind)
{
	(void)lock, (void)name, (void)kind;
	kmx_fatal("kmx_relacy: statistics are off in the checked build");
}

void kmx_stat_released_class(const void *lock)
{
	(void)lock;
	kmx_fatal("kmx_relacy: statistics are off in the checked build");
}

/* lockdep.c's interface, as krwsem's layered calls reach it: lockdep stays off (1). */
int kmx_lockdep__mode = 1;

int kmx_lockdep__read_mode(void)
{
	return 1;
}

void kmx_lockdep_acquire(const void *lock, const void *class_key, const char *name,
			 unsigned subclass, unsigned flags, const void *ip)
{
	(void)lock, (void)class_key, (void)name, (void)subclass, (void)flags, (void)ip;
	kmx_fatal("kmx_relacy: lockdep is off in the checked build");
}

void kmx_lockdep_release(const void *lock)
{
	(void)lock;
	kmx_fatal("kmx_relacy: lockdep is off in the checked build");
}

void kmx_lockdep_forget(const void *lock)
{
	(void)lock;
	kmx_fatal("kmx_relacy: lockdep is off in the checked build");
}

/* hung_task.c's interface: the watchdog stays off (1) in the checked build. */
int kmx_hung__mode = 1;

int kmx_hung__read_mode(void)
{
	return 1;
}

void kmx_hung__begin(struct kmutex_task *self, uint32_t kind, const void *object, const void *with,
		     const void *node, const void *ip, uint32_t mode)
{
	(void)self, (void)kind, (void)object, (void)with, (void)node, (void)ip, (void)mode;
	kmx_fatal("kmx_relacy: the hung-task watchdog is off in the checked build");
}

void kmx_hung__end(struct kmutex_task *self)
{
	(void)self;
	kmx_fatal("kmx_relacy: the hung-task watchdog is off in the checked build");
}

const char *kmx_class_intern(const char *name)
{
	return name;
}

/*
 * sched_view.c: the mutex scenarios see nothing of the scheduler (as on a system without rseq:
 * their spinners stop by their budgets only, and the model's spinner may give up at any point
 * anyway), so these two stand in for the real ones; a Relacy thread is never real-time.  The
 * publish, retract and read of the rseq areas are the real code, checked by the last-cpu
 * scenario on the areas below.
 */
int kmx_this_cpu(const struct kmx_last_cpu *lc)
{
	(void)lc;
	return -1;
}

bool kmx_self_realtime(struct kmx_policy_cache *cache)
{
	(void)cache;
	return false;
}

/* Thread t's area is cur->rseq_alive[t], and its cpu_id is t. */
const struct rseq *kmx_rl_own_rseq_area(void)
{
	return (const struct rseq *)&cur->rseq_alive[rl::thread_index()];
}

int kmx_rl_rseq_cpu(const struct rseq *area)
{
	rl::var<int> *alive = (rl::var<int> *)area;
	int t = (int)(alive - cur->rseq_alive);

	RL_ASSERT(t >= 0 && t < kmx_rl::NTHREADS);
	RL_ASSERT((*alive)($) == 1); /* read after the thread freed it */
	return t;
}
