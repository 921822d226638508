/*
 * lockdep for kmutex: see lockdep.h for the model.  Written from the design in the kernel's
 * Documentation/locking/lockdep-design.rst and the behaviour of kernel/locking/lockdep.c
 * (validate_chain, check_deadlock, check_prevs_add, check_noncircular, print_circular_bug);
 * none of its code is used.
 *
 * Data, all static (bss) so nothing is allocated on the lock path:
 *  - node_slots: open-addressing hash (class key, tag) -> node id, read without a lock;
 *  - nodes[], edges[]: the graph, each node with a list of its "after" edges, under graph_lock;
 *  - chain_slots: open-addressing set of validated chain keys, read without a lock;
 *  - per thread, the held-lock stack with the chain key of each prefix.
 * Writers publish a slot by storing its key last with RELEASE; readers load it with ACQUIRE.
 * Nothing is ever removed (a retired class keeps its node; its slot gets a tombstone).
 */
#include "lockdep.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomic.h"
#include "symbolize.h"
#include "wait_lock.h"

enum { MODE_UNKNOWN = 0, MODE_OFF = 1, MODE_ON = 2, MODE_ABORT = 3 };
int kmx_lockdep__mode;

#define MAX_NODES    8192u   /* the kernel's MAX_LOCKDEP_KEYS is 8191 */
#define NODE_SLOTS   16384u  /* power of two, at most half full */
#define MAX_EDGES    32768u
#define CHAIN_SLOTS  65536u  /* power of two */
#define MAX_CHAINS   (CHAIN_SLOTS / 4 * 3)
#define EDGE_FRAMES  6       /* stack frames kept per edge: "a few" */
#define MAX_REPORTED 256     /* problems remembered, so each is reported once */
#define STACK_SCAN   24      /* frames captured before trimming lockdep's own */

#define SLOT_EMPTY   ((uintptr_t)0)
#define SLOT_RETIRED ((uintptr_t)1) /* tombstone of a forgotten address-keyed class */
#define TAG_BY_ADDRESS 0x100u       /* tag = subclass | this when keyed by the lock's address */

#define CHAIN_ROOT 0x6b6d7574656c6463ull /* chain key of the empty stack */

struct node_slot {
	uintptr_t key;      /* SLOT_EMPTY, SLOT_RETIRED or a class key; RELEASE/ACQUIRE */
	uint32_t tag;       /* written before key */
	uint32_t node;      /* written before key */
};

struct node {
	uintptr_t key;
	const char *name;   /* NULL: keyed by address, shown as such */
	uint32_t tag;
	uint32_t after;     /* first edge (index + 1) leaving this node, 0 for none */
};

struct edge {
	uint32_t from, to;
	uint32_t next;      /* next edge (index + 1) leaving `from` */
	uint16_t from_read, to_read; /* the modes it was first seen in (KMX_LD_READ), for reports */
	uint32_t nframes;
	void *frames[EDGE_FRAMES]; /* where the edge was first seen: frames[0] is the lock call */
};

struct held {
	const void *lock;
	const void *ip;
	uint64_t chain_key; /* hash of the nodes held from the bottom up to this one */
	uint32_t node;
	uint16_t trylock;   /* taken without blocking: a trylock, or a recursive read */
	uint16_t read;      /* a read lock (KMX_LD_READ) */
};

struct thread_state {
	uint32_t depth;
	uint32_t excess;    /* locks held beyond the stack's capacity, not tracked */
	uint32_t warned;    /* the overflow notice was printed for this thread */
	struct held held[KMX_LOCKDEP_MAX_DEPTH];
};

static __thread struct thread_state ld_self;

static uint32_t graph_lock;           /* a kmx_wait_lock word: guards all below but the slots */
static struct node_slot node_slots[NODE_SLOTS];
static struct node nodes[MAX_NODES + 1]; /* id 0 is "none" */
static uint32_t nr_nodes;
static struct edge edges[MAX_EDGES];
static uint32_t nr_edges;
static uint64_t chain_slots[CHAIN_SLOTS]; /* 0 empty; RELEASE/ACQUIRE */
static uint32_t nr_chains;
static uint32_t reported[MAX_REPORTED][2];
static uint32_t nr_reported;
static int graph_full;                /* a table filled: lockdep is off; RELAXED */

/* BFS scratch, under graph_lock. */
static uint32_t bfs_queue[MAX_NODES + 1];
static uint32_t bfs_seen[MAX_NODES + 1]; /* == bfs_gen: visited in this search */
static uint32_t bfs_via[MAX_NODES + 1];  /* edge (index + 1) by which the node was reached */
static uint32_t bfs_gen;

static struct kmx_lockdep_stats stats;   /* RELAXED atomics */

/* ---- mode ------------------------------------------------------------------------------ */

int kmx_lockdep__read_mode(void)
{
	const char *env = getenv("KMUTEX_LOCKDEP");
	int mode = MODE_OFF;

	if (env && strcmp(env, "abort") == 0)
		mode = MODE_ABORT;
	else if (env && env[0] && strcmp(env, "0") != 0)
		mode = MODE_ON;
	if (mode >= MODE_ON) {
		/* backtrace() loads libgcc_s on its first call, which allocates: do it now, not
		 * inside a lock operation (under the pthread drop-in, inside pthread_mutex_lock). */
		void *warm[2];

		(void)backtrace(warm, 2);
	}
	/* RELAXED: every thread computes the same value; see kmx_lockdep_enabled(). */
	kmx_store(&kmx_lockdep__mode, mode, KMX_RELAXED);
	return mode;
}

/* Read the mode before main(), while allocating is harmless. */
__attribute__((constructor)) static void lockdep_read_mode_early(void)
{
	(void)kmx_lockdep__read_mode();
}

/* ---- hashing --------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/*
 * The chain key of a stack with `node` pushed, in read mode or not, on a stack whose key is
 * `key` (never 0).  The mode is part of it, as in the kernel's hlock_id(), so that a chain's
 * report names the modes it was seen in.
 */
static uint64_t chain_next(uint64_t key, uint32_t node, bool read)
{
	uint64_t k = mix64((key ^ node ^ (read ? 1ull << 32 : 0)) * 0x9e3779b97f4a7c15ull);

	return k ? k : 1;
}

/* ---- classes: (key, subclass) -> node id ---------------------------------------------- */

static uint32_t slot_index(uintptr_t key, uint32_t tag)
{
	return (uint32_t)mix64((uint64_t)key ^ ((uint64_t)tag << 48)) & (NODE_SLOTS - 1);
}

/* Lock-free: the node id of (key, tag), or 0. */
static uint32_t node_lookup(uintptr_t key, uint32_t tag)
{
	for (uint32_t i = slot_index(key, tag);; i = (i + 1) & (NODE_SLOTS - 1)) {
		/* ACQUIRE pairs with node_register()'s RELEASE: tag and node are written. */
		uintptr_t k = kmx_load(&node_slots[i].key, KMX_ACQUIRE);

		if (k == SLOT_EMPTY)
			return 0;
		if (k == key && node_slots[i].tag == tag)
			return node_slots[i].node;
	}
}

static void lockdep_turn_off(const char *why)
{
	char line[160];
	int len = snprintf(line, sizeof(line), "kmutex lockdep: %s; lockdep turned off\n", why);

	/* RELAXED: a flag checked on every acquire; late readers only do a little more work. */
	kmx_store(&graph_full, 1, KMX_RELAXED);
	(void)!write(STDERR_FILENO, line, (size_t)len);
}

/* Under graph_lock: the node of (key, tag), created if new; 0 if the table is full. */
static uint32_t node_register(uintptr_t key, uint32_t tag, const char *name)
{
	uint32_t i, id = node_lookup(key, tag);

	if (id)
		return id;
	if (nr_nodes == MAX_NODES) {
		lockdep_turn_off("too many lock classes");
		return 0;
	}
	id = ++nr_nodes;
	nodes[id] = (struct node){ .key = key, .name = name, .tag = tag };
	for (i = slot_index(key, tag); kmx_load(&node_slots[i].key, KMX_RELAXED) != SLOT_EMPTY;
	     i = (i + 1) & (NODE_SLOTS - 1))
		; /* RELAXED: slots are written under graph_lock, which we hold */
	node_slots[i].tag = tag;
	node_slots[i].node = id;
	/* RELEASE: tag and node above are visible to a node_lookup() that sees the key. */
	kmx_store(&node_slots[i].key, key, KMX_RELEASE);
	kmx_store(&stats.nodes, nr_nodes, KMX_RELAXED); /* RELAXED: a statistic */
	return id;
}

/* The node for a lock about to be held; may take graph_lock for a new class. */
static uint32_t node_of(const void *lock, const void *class_key, const char *name,
			unsigned subclass)
{
	uintptr_t key = class_key ? (uintptr_t)class_key : (uintptr_t)lock;
	uint32_t tag = subclass | (class_key ? 0 : TAG_BY_ADDRESS);
	uint32_t id = node_lookup(key, tag);

	if (kmx_likely(id))
		return id;
	kmx_wait_lock(&graph_lock);
	id = node_register(key, tag, class_key ? name : NULL);
	kmx_wait_unlock(&graph_lock);
	return id;
}

/* ---- chain cache ----------------------------------------------------------------------- */

static bool chain_cached(uint64_t key)
{
	for (uint32_t i = (uint32_t)key & (CHAIN_SLOTS - 1);; i = (i + 1) & (CHAIN_SLOTS - 1)) {
		/* ACQUIRE pairs with chain_add()'s RELEASE: the chain's edges were added before. */
		uint64_t k = kmx_load(&chain_slots[i], KMX_ACQUIRE);

		if (k == key)
			return true;
		if (k == 0)
			return false;
	}
}

/* Under graph_lock, after the chain's edges are in the graph. */
static void chain_add(uint64_t key)
{
	uint32_t i;

	if (nr_chains == MAX_CHAINS) {
		lockdep_turn_off("too many lock chains");
		return;
	}
	for (i = (uint32_t)key & (CHAIN_SLOTS - 1); kmx_load(&chain_slots[i], KMX_RELAXED) != 0;
	     i = (i + 1) & (CHAIN_SLOTS - 1))
		if (kmx_load(&chain_slots[i], KMX_RELAXED) == key)
			return; /* RELAXED: under graph_lock, the only writer */
	nr_chains++;
	/* RELEASE: see chain_cached(). */
	kmx_store(&chain_slots[i], key, KMX_RELEASE);
	kmx_store(&stats.chains, nr_chains, KMX_RELAXED); /* RELAXED: a statistic */
}

/* ---- stacks and symbols ---------------------------------------------------------------- */

/* The caller's stack from the frame that returns to ip (the lock call site) outwards. */
static uint32_t capture_stack(void **out, uint32_t max, const void *ip)
{
	void *frames[STACK_SCAN];
	int n = backtrace(frames, STACK_SCAN), first = 0;
	uint32_t len = 0;

	for (int i = 0; i < n; i++)
		if (frames[i] == ip) {
			first = i;
			break;
		}
	if (frames[first] != ip && ip) {
		out[len++] = (void *)ip; /* not found (inlined or no unwind info): keep the call site */
		first = n;
	}
	for (int i = first; i < n && len < max; i++)
		out[len++] = frames[i];
	return len;
}

static char report_buf[32768]; /* under graph_lock */
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

/* "function+0xoff [module]" for a code address, as the kernel's %pS. */
static void out_symbol(const void *ip)
{
	char sym[256];

	kmx_symbolize(sym, sizeof(sym), ip);
	out("%s", sym);
}

static void out_frames(void *const *frames, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		out("       ");
		out_symbol(frames[i]);
		out("\n");
	}
}

/* A class as the kernel prints it: name, "/subclass" when not 0. */
static void out_class(uint32_t id)
{
	const struct node *n = &nodes[id];

	if (n->name)
		out("%s", n->name);
	else
		out("kmutex@%p", (void *)n->key);
	if (n->tag & 0xff)
		out("/%u", n->tag & 0xffu);
}

static void out_thread(void)
{
	char comm[17] = "?";

	(void)prctl(PR_GET_NAME, comm, 0, 0, 0);
	out("%s/%ld", comm, (long)syscall(SYS_gettid));
}

/* "lock" or "rlock", as the kernel's scenario tables write an acquisition. */
static const char *verb(bool read)
{
	return read ? "rlock" : "lock";
}

static void out_held_lock(const void *lock, uint32_t id, bool read, const void *ip)
{
	out(" %p (", lock);
	out_class(id);
	out(")%s, at: ", read ? " for read" : "");
	out_symbol(ip);
	out("\n");
	if (!nodes[id].name)
		out("   (unnamed mutex: its class is keyed by its address, as a static lock's is)\n");
}

static void out_held_stack(const struct thread_state *ts)
{
	out("\n%u lock%s held by ", ts->depth, ts->depth == 1 ? "" : "s");
	out_thread();
	out(":\n");
	for (uint32_t i = 0; i < ts->depth; i++) {
		out(" #%u: %p (", i, ts->held[i].lock);
		out_class(ts->held[i].node);
		out("), at: ");
		out_symbol(ts->held[i].ip);
		out("%s%s\n", ts->held[i].read ? " (read)" : "", ts->held[i].trylock ? " (trylock)" : "");
	}
}

static void out_backtrace(const void *ip)
{
	void *frames[12];
	uint32_t n = capture_stack(frames, 12, ip);

	out("\nstack backtrace:\n");
	out_frames(frames, n);
}

/* Write the report in one write(2), then abort if asked to. */
static void report_finish(void)
{
	size_t done = 0;

	while (done < report_len) {
		ssize_t n = write(STDERR_FILENO, report_buf + done, report_len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	report_len = 0;
	kmx_add_return(&stats.reports, 1, KMX_RELAXED); /* RELAXED: a statistic */
	/* RELAXED: see kmx_lockdep_enabled(). */
	if (kmx_load(&kmx_lockdep__mode, KMX_RELAXED) == MODE_ABORT) {
		static const char msg[] = "kmutex lockdep: KMUTEX_LOCKDEP=abort: aborting\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
}

/* Under graph_lock: has the problem (a, b) been reported?  Remember it if not. */
static bool already_reported(uint32_t a, uint32_t b)
{
	for (uint32_t i = 0; i < nr_reported; i++)
		if (reported[i][0] == a && reported[i][1] == b)
			return true;
	if (nr_reported < MAX_REPORTED) {
		reported[nr_reported][0] = a;
		reported[nr_reported][1] = b;
		nr_reported++;
	}
	return false;
}

/* ---- the recursive-locking check (the kernel's check_deadlock) ------------------------ */

static void report_recursive(const struct thread_state *ts, const struct held *prev,
			     const void *lock, uint32_t id, bool read, const void *ip)
{
	out("\n============================================\n");
	out("WARNING: possible recursive locking detected\n");
	out("kmutex lockdep, pid %ld\n", (long)getpid());
	out("--------------------------------------------\n");
	out_thread();
	out(" is trying to acquire lock:\n");
	out_held_lock(lock, id, read, ip);
	out("\nbut task is already holding lock:\n");
	out_held_lock(prev->lock, prev->node, prev->read, prev->ip);
	out("\nother info that might help us debug this:\n");
	out(" Possible unsafe locking scenario:\n\n");
	out("       CPU0\n       ----\n  %s(", verb(prev->read));
	out_class(id);
	out(");\n  %s(", verb(read));
	out_class(id);
	out(");\n\n *** DEADLOCK ***\n\n");
	out(" May be due to missing lock nesting notation (kmutex_lock_nested)\n");
	out_held_stack(ts);
	out_backtrace(ip);
	report_finish();
}

/*
 * Under graph_lock.  false: the node is already held (a report was made, once).  Every
 * acquisition that gets here can block; a recursive read (the same lock, held for read) never
 * does, and kmx_lockdep_acquire() does not bring it here (lockdep.h, reader-writer locks).
 */
static bool check_recursive(const struct thread_state *ts, const void *lock, uint32_t id,
			    bool read, const void *ip)
{
	for (uint32_t i = 0; i < ts->depth; i++) {
		if (ts->held[i].node != id)
			continue;
		if (!already_reported(id, id))
			report_recursive(ts, &ts->held[i], lock, id, read, ip);
		return false;
	}
	return true;
}

/* ---- the graph: edges and the cycle search (the kernel's check_noncircular) ----------- */

static bool edge_exists(uint32_t from, uint32_t to)
{
	for (uint32_t e = nodes[from].after; e; e = edges[e - 1].next)
		if (edges[e - 1].to == to)
			return true;
	return false;
}

/*
 * Breadth-first search along "after" edges from `from` for `target`, so that the path found
 * (and reported) is a shortest one.  Returns true if target is reachable; bfs_via then leads
 * back from target to from.
 */
static bool path_exists(uint32_t from, uint32_t target)
{
	uint32_t head = 0, tail = 0;

	kmx_add_return(&stats.searches, 1, KMX_RELAXED); /* RELAXED: a statistic */
	if (++bfs_gen == 0) { /* wrapped: forget every old mark */
		memset(bfs_seen, 0, sizeof(bfs_seen));
		bfs_gen = 1;
	}
	bfs_seen[from] = bfs_gen;
	bfs_via[from] = 0;
	bfs_queue[tail++] = from;
	while (head < tail) {
		uint32_t n = bfs_queue[head++];

		for (uint32_t e = nodes[n].after; e; e = edges[e - 1].next) {
			uint32_t to = edges[e - 1].to;

			if (bfs_seen[to] == bfs_gen)
				continue;
			bfs_seen[to] = bfs_gen;
			bfs_via[to] = e;
			if (to == target)
				return true;
			bfs_queue[tail++] = to;
		}
	}
	return false;
}

/*
 * The report for the new edge prev -> next when next ->* prev exists (path in bfs_via), in
 * the layout of the kernel's print_circular_bug() and print_circular_lock_scenario().
 */
static void report_circular(const struct thread_state *ts, const struct held *prev,
			    const void *lock, uint32_t next, bool read, const void *ip)
{
	static uint32_t path[MAX_NODES + 1]; /* under graph_lock; too big for a caller's stack */
	uint32_t len = 0, parent;
	const struct edge *into_prev; /* parent -> prev, the last step of the existing chain */
	void *here[EDGE_FRAMES];
	uint32_t nhere = capture_stack(here, EDGE_FRAMES, ip);

	/* path[0] = prev ... path[len-1] = next, following the edges backwards. */
	for (uint32_t n = prev->node; n != next; n = edges[bfs_via[n] - 1].from)
		path[len++] = n;
	path[len++] = next;
	parent = path[1]; /* the class right before prev on the existing chain */
	into_prev = &edges[bfs_via[prev->node] - 1];

	out("\n======================================================\n");
	out("WARNING: possible circular locking dependency detected\n");
	out("kmutex lockdep, pid %ld\n", (long)getpid());
	out("------------------------------------------------------\n");
	out_thread();
	out(" is trying to acquire lock:\n");
	out_held_lock(lock, next, read, ip);
	out("\nbut task is already holding lock:\n");
	out_held_lock(prev->lock, prev->node, prev->read, prev->ip);
	out("\nwhich lock already depends on the new lock.\n\n");
	out("\nthe existing dependency chain (in reverse order) is:\n");
	for (uint32_t i = 0; i + 1 < len; i++) {
		const struct edge *e = &edges[bfs_via[path[i]] - 1];

		out("\n-> #%u (", len - 1 - i);
		out_class(path[i]);
		out("):\n");
		out_frames(e->frames, e->nframes);
	}
	out("\n-> #0 (");
	out_class(next);
	out("):\n");
	out_frames(here, nhere);

	out("\nother info that might help us debug this:\n\n");
	if (len > 2) {
		out("Chain exists of:\n  ");
		for (uint32_t i = len; i-- > 0;) {
			out_class(path[i]);
			out("%s", i ? " --> " : "\n\n");
		}
	}
	out(" Possible unsafe locking scenario:\n\n");
	out("       CPU0                    CPU1\n");
	out("       ----                    ----\n");
	out("  %s(", verb(prev->read));
	out_class(prev->node);
	out(");\n                               %s(", verb(into_prev->from_read));
	out_class(parent);
	out(");\n                               %s(", verb(into_prev->to_read));
	out_class(prev->node);
	out(");\n  %s(", verb(read));
	out_class(next);
	out(");\n\n *** DEADLOCK ***\n");
	out_held_stack(ts);
	out_backtrace(ip);
	report_finish();
}

/* Under graph_lock: add prev -> next unless it exists or would close a cycle (reported). */
static void add_edge(const struct thread_state *ts, const struct held *prev, const void *lock,
		     uint32_t next, bool read, const void *ip)
{
	struct edge *e;

	if (edge_exists(prev->node, next))
		return;
	if (path_exists(next, prev->node)) {
		/* Not added, so the graph stays acyclic and every later search is exact. */
		if (!already_reported(prev->node, next))
			report_circular(ts, prev, lock, next, read, ip);
		return;
	}
	if (nr_edges == MAX_EDGES) {
		lockdep_turn_off("too many lock dependencies");
		return;
	}
	e = &edges[nr_edges++];
	e->from = prev->node;
	e->to = next;
	e->from_read = prev->read;
	e->to_read = read;
	e->nframes = capture_stack(e->frames, EDGE_FRAMES, ip);
	e->next = nodes[prev->node].after;
	nodes[prev->node].after = nr_edges; /* index + 1 */
	kmx_store(&stats.edges, nr_edges, KMX_RELAXED); /* RELAXED: a statistic */
}

/*
 * Under graph_lock: edges into next from the top of the stack, and on down through trylocks
 * to the first lock taken by blocking (the kernel's check_prevs_add(): below that entry,
 * the dependencies follow by transitivity from the edges added when it was taken).
 */
static void add_edges_from_held(const struct thread_state *ts, const void *lock, uint32_t next,
				bool read, const void *ip)
{
	for (uint32_t i = ts->depth; i-- > 0;) {
		add_edge(ts, &ts->held[i], lock, next, read, ip);
		if (!ts->held[i].trylock)
			break;
	}
}

/* A chain not seen before: check it, add its edges, cache it (the kernel's validate_chain). */
static void validate_chain(const struct thread_state *ts, const void *lock, uint32_t next,
			   bool read, uint64_t key, const void *ip)
{
	kmx_wait_lock(&graph_lock);
	if (!chain_cached(key)) { /* another thread may have validated it meanwhile */
		if (check_recursive(ts, lock, next, read, ip))
			add_edges_from_held(ts, lock, next, read, ip);
		chain_add(key);
	}
	kmx_wait_unlock(&graph_lock);
}

/* ---- the interface --------------------------------------------------------------------- */

static bool lockdep_running(void)
{
	/* RELAXED: see lockdep_turn_off(). */
	return !kmx_load(&graph_full, KMX_RELAXED);
}

/*
 * A lock beyond the stack's capacity is counted, not tracked (the kernel turns lockdep off
 * altogether: "BUG: MAX_LOCK_DEPTH too low!").  Edges from the tracked locks stay true
 * dependencies, so going on can only miss problems, never invent one; once the thread is
 * back under the limit, tracking is exact again.
 */
static void overflow(struct thread_state *ts)
{
	ts->excess++;
	if (!ts->warned) {
		char line[240];
		int len = snprintf(line, sizeof(line),
				   "kmutex lockdep: thread %ld holds more than %d locks (MAX_LOCK_DEPTH):"
				   " the locks above that are not tracked (dependencies through them"
				   " are missed)\n",
				   (long)syscall(SYS_gettid), KMX_LOCKDEP_MAX_DEPTH);

		ts->warned = 1;
		(void)!write(STDERR_FILENO, line, (size_t)len);
	}
}

/*
 * A read of a lock this thread holds for read: krwsem lets it in at once, whatever waits
 * (lockdep.h, reader-writer locks), so it is taken without blocking.
 */
static bool recursive_read(const struct thread_state *ts, const void *lock, unsigned flags)
{
	if (!(flags & KMX_LD_READ))
		return false;
	for (uint32_t i = ts->depth; i-- > 0;)
		if (ts->held[i].lock == lock && ts->held[i].read)
			return true;
	return false;
}

void kmx_lockdep_acquire(const void *lock, const void *class_key, const char *name,
			 unsigned subclass, unsigned flags, const void *ip)
{
	struct thread_state *ts = &ld_self;
	bool read = flags & KMX_LD_READ;
	struct held *h;
	uint32_t id;
	uint64_t key;

	if (!lockdep_running())
		return;
	if (subclass >= KMX_LOCKDEP_MAX_SUBCLASS) {
		char line[120];
		int len = snprintf(line, sizeof(line),
				   "kmutex lockdep: subclass %u out of range (0..%d)\n", subclass,
				   KMX_LOCKDEP_MAX_SUBCLASS - 1);

		(void)!write(STDERR_FILENO, line, (size_t)len);
		abort();
	}
	if (ts->depth == KMX_LOCKDEP_MAX_DEPTH) {
		overflow(ts);
		return;
	}
	id = node_of(lock, class_key, name, subclass);
	if (!id)
		return;
	if (recursive_read(ts, lock, flags))
		flags |= KMX_LD_TRYLOCK;
	key = chain_next(ts->depth ? ts->held[ts->depth - 1].chain_key : CHAIN_ROOT, id, read);
	/* A trylock cannot block: nothing to check, no edge (kernel: validate_chain()). */
	if (!(flags & KMX_LD_TRYLOCK) && !chain_cached(key))
		validate_chain(ts, lock, id, read, key, ip);
	h = &ts->held[ts->depth++];
	h->lock = lock;
	h->ip = ip;
	h->chain_key = key;
	h->node = id;
	h->trylock = !!(flags & KMX_LD_TRYLOCK);
	h->read = read;
}

/* The chain keys of the entries from `from` up, after one below them changed. */
static void rekey_from(struct thread_state *ts, uint32_t from)
{
	for (uint32_t i = from; i < ts->depth; i++)
		ts->held[i].chain_key = chain_next(i ? ts->held[i - 1].chain_key : CHAIN_ROOT,
						   ts->held[i].node, ts->held[i].read);
}

void kmx_lockdep_release(const void *lock)
{
	struct thread_state *ts = &ld_self;
	uint32_t i;

	for (i = ts->depth; i-- > 0;)
		if (ts->held[i].lock == lock)
			break;
	if (i == UINT32_MAX) {
		/* One of the untracked locks above the limit, or not ours (the core checks). */
		if (ts->excess)
			ts->excess--;
		return;
	}
	/* Out of order: close the gap and recompute the keys above it (kernel:
	 * reacquire_held_locks(), without re-validating: edges only come from acquisitions). */
	ts->depth--;
	memmove(&ts->held[i], &ts->held[i + 1], (ts->depth - i) * sizeof(ts->held[0]));
	rekey_from(ts, i);
}

/*
 * The write lock became a read lock (the kernel's lock_downgrade()): the entry stays where it
 * is, in read mode.  Nothing is checked: a downgrade never blocks.  The topmost write entry of
 * the lock, should a broken program hold it twice.
 */
void kmx_lockdep_downgrade(const void *lock)
{
	struct thread_state *ts = &ld_self;

	for (uint32_t i = ts->depth; i-- > 0;) {
		if (ts->held[i].lock == lock && !ts->held[i].read) {
			ts->held[i].read = 1;
			rekey_from(ts, i);
			return;
		}
	}
}

void kmx_lockdep_forget(const void *lock)
{
	kmx_wait_lock(&graph_lock);
	for (uint32_t sub = 0; sub < KMX_LOCKDEP_MAX_SUBCLASS; sub++) {
		uint32_t tag = sub | TAG_BY_ADDRESS;

		for (uint32_t i = slot_index((uintptr_t)lock, tag);; i = (i + 1) & (NODE_SLOTS - 1)) {
			/* RELAXED: under graph_lock, the only writer. */
			uintptr_t k = kmx_load(&node_slots[i].key, KMX_RELAXED);

			if (k == SLOT_EMPTY)
				break;
			if (k == (uintptr_t)lock && node_slots[i].tag == tag) {
				/* RELAXED: a reader racing with the destroy of the lock it uses
				 * is the user's misuse; it finds the old node or none. */
				kmx_store(&node_slots[i].key, SLOT_RETIRED, KMX_RELAXED);
				break;
			}
		}
	}
	kmx_wait_unlock(&graph_lock);
}

void kmx_lockdep_get_stats(struct kmx_lockdep_stats *o)
{
	/* RELAXED: statistics. */
	o->reports = kmx_load(&stats.reports, KMX_RELAXED);
	o->nodes = kmx_load(&stats.nodes, KMX_RELAXED);
	o->edges = kmx_load(&stats.edges, KMX_RELAXED);
	o->chains = kmx_load(&stats.chains, KMX_RELAXED);
	o->searches = kmx_load(&stats.searches, KMX_RELAXED);
}
