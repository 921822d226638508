/*
 * The kernel's favourite pattern, in user space: a mutex serializes the updaters of an
 * RCU-protected structure while readers run under rcu_read_lock() without any lock.
 *
 * The structure is a hash table of cds_list_*_rcu buckets.  These list primitives, unlike
 * cds_lfht, rely on the updaters' own mutual exclusion, so a mutex that lets two updaters in
 * at once corrupts a bucket or loses an update, and this test sees it:
 *   - under the lock, each updater checks a locktorture-style "held" flag and that the table
 *     agrees with the updaters' own record of every key before changing it;
 *   - readers check every node they reach: magic (poisoned before free), key in the right
 *     bucket, key <-> value consistency, and a checksum over both (a torn node fails it);
 *   - at the end the table must equal the record exactly: no update lost, none duplicated.
 * Inserts, deletes and replacements (copy, cds_list_replace_rcu); removed nodes are reclaimed
 * through call_rcu(), or through synchronize_rcu() then free() for every SYNC_EVERY-th one.
 * Built with AddressSanitizer, so a reader touching a node freed too early is reported.
 * The same run with pthread_mutex_t is the control.
 *
 * Flavour: the default one (urcu-memb, -lurcu).  Readers need no quiescent-state calls, so a
 * reader that loops or blocks cannot stall grace periods in a way the test would have to
 * manage, and it is what a library user gets from <urcu.h>.  QSBR would make read-side
 * critical sections free but put quiescent states in every reader loop, testing the harness
 * more than the mutex.
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <urcu.h>
#include <urcu/rculist.h>

#include <kmutex.h>

#include "check.h"

#define NR_BUCKETS   16
#define NR_KEYS      256
#define NR_READERS   2
#define NR_UPDATERS  3
#define UPDATES      40000 /* per updater */
#define SYNC_EVERY   64    /* one retired node in SYNC_EVERY goes through synchronize_rcu */
#define AUDIT_EVERY  32    /* one update in AUDIT_EVERY also audits the whole table */

#define NODE_LIVE 0x4c495645u /* "LIVE" */
#define NODE_DEAD 0xdeadbeefu /* written just before free() */

struct node {
	struct cds_list_head link;
	struct rcu_head rcu;
	uint32_t magic;
	uint32_t key;
	uint64_t value;  /* key << 32 | version: a reader can tell whose value it is */
	uint64_t check;  /* node_check(key, value) */
};

/* Everything but the buckets' links is written only under the mutex under test. */
struct table {
	struct cds_list_head bucket[NR_BUCKETS];
	uint64_t record[NR_KEYS];    /* the updaters' own record: value per key, 0 = absent */
	uint32_t version[NR_KEYS];   /* last version given to each key */
	long nr_nodes;
	int held;                    /* locktorture's flag: set while an updater is inside */
};

struct lock_ops {
	const char *name;
	void (*lock)(void);
	int (*trylock)(void);  /* 1 when taken */
	void (*unlock)(void);
};

static struct kmutex kmu = KMUTEX_INITIALIZER;
static pthread_mutex_t pmu = PTHREAD_MUTEX_INITIALIZER;

static void kmu_lock(void) { kmutex_lock(&kmu); }
static int kmu_trylock(void) { return kmutex_trylock(&kmu); }
static void kmu_unlock(void) { kmutex_unlock(&kmu); }
static void pmu_lock(void) { CHECK(pthread_mutex_lock(&pmu) == 0, "pthread_mutex_lock"); }
static int pmu_trylock(void) { return pthread_mutex_trylock(&pmu) == 0; }
static void pmu_unlock(void) { CHECK(pthread_mutex_unlock(&pmu) == 0, "pthread_mutex_unlock"); }

static const struct lock_ops lock_kinds[] = {
	{ "kmutex", kmu_lock, kmu_trylock, kmu_unlock },
	{ "pthread_mutex", pmu_lock, pmu_trylock, pmu_unlock },
};

struct run {
	const struct lock_ops *lock;
	struct table table;
	int stop;          /* set once the updaters are done; readers then finish */
	uint64_t seed;
	pthread_barrier_t start; /* every thread starts together, so updaters contend */
};

struct updater_stats {
	long inserts, deletes, replaces, audits, via_call_rcu, via_synchronize, contended;
};
struct reader_stats { long lookups, nodes_checked, hits; };

struct updater { struct run *run; int id; struct updater_stats st; };
struct reader { struct run *run; int id; struct reader_stats st; };

static uint64_t node_check(uint32_t key, uint64_t value)
{
	uint64_t x = value ^ ((uint64_t)key * 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}

static struct node *node_new(uint32_t key, uint32_t version)
{
	struct node *n = calloc(1, sizeof(*n));

	CHECK(n != NULL, "out of memory");
	n->key = key;
	n->value = (uint64_t)key << 32 | version;
	n->check = node_check(key, n->value);
	n->magic = NODE_LIVE;
	return n;
}

/* Poison first: a reader that still reaches the node fails on the magic, or under ASan on the
 * read itself. */
static void node_free(struct node *n)
{
	n->magic = NODE_DEAD;
	n->check = 0;
	free(n);
}

static void node_free_rcu(struct rcu_head *head)
{
	node_free(caa_container_of(head, struct node, rcu));
}

static struct cds_list_head *bucket_of(struct table *t, uint32_t key)
{
	return &t->bucket[key % NR_BUCKETS];
}

/* ---- updaters ------------------------------------------------------------------------------ */

/* Under the lock: the node for key, after checking it against the record. */
static struct node *locked_lookup(struct run *run, uint32_t key)
{
	struct table *t = &run->table;
	struct node *n, *found = NULL;

	cds_list_for_each_entry(n, bucket_of(t, key), link) {
		if (n->key != key)
			continue;
		CHECK(found == NULL, "%s: key %u twice in its bucket", run->lock->name, key);
		found = n;
	}
	CHECK(found ? found->value == t->record[key] : t->record[key] == 0,
	      "%s: key %u holds %#" PRIx64 " but the record says %#" PRIx64 " (update lost)",
	      run->lock->name, key, found ? found->value : 0, t->record[key]);
	return found;
}

/*
 * Under the lock: every key agrees with the record, and the count with the nodes.  It also
 * makes some critical sections long, so that the other updaters queue behind them.
 */
static void locked_audit(struct run *run, struct updater_stats *st)
{
	long nodes = 0;

	for (uint32_t key = 0; key < NR_KEYS; key++)
		nodes += locked_lookup(run, key) != NULL;
	CHECK(nodes == run->table.nr_nodes, "%s: %ld nodes, count says %ld", run->lock->name,
	      nodes, run->table.nr_nodes);
	st->audits++;
}

/* One update under the lock; returns the node it removed from the table, if any. */
static struct node *locked_update(struct run *run, uint32_t key, int replace,
				  struct updater_stats *st)
{
	struct table *t = &run->table;
	struct node *old = locked_lookup(run, key), *n;

	if (old && !replace) {
		cds_list_del_rcu(&old->link);
		t->record[key] = 0;
		t->nr_nodes--;
		st->deletes++;
		return old;
	}
	n = node_new(key, ++t->version[key]);
	t->record[key] = n->value;
	if (old) {
		cds_list_replace_rcu(&old->link, &n->link);
		st->replaces++;
	} else {
		cds_list_add_rcu(&n->link, bucket_of(t, key));
		t->nr_nodes++;
		st->inserts++;
	}
	return old;
}

static void enter(struct run *run, struct updater_stats *st)
{
	if (!run->lock->trylock()) {
		st->contended++;
		run->lock->lock();
	}
	CHECK(run->table.held == 0, "%s: two updaters inside the lock", run->lock->name);
	run->table.held = 1;
}

static void leave(struct run *run)
{
	run->table.held = 0;
	run->lock->unlock();
}

static void *updater_main(void *p)
{
	struct updater *u = p;
	struct run *run = u->run;
	uint64_t rng = run->seed * 31 + (uint64_t)u->id;
	long retired = 0;

	rcu_register_thread(); /* call_rcu takes the read lock inside */
	pthread_barrier_wait(&run->start);
	for (int i = 0; i < UPDATES; i++) {
		uint32_t key = (uint32_t)rng_below(&rng, NR_KEYS);
		struct node *old;

		enter(run, &u->st);
		if (i % AUDIT_EVERY == 0)
			locked_audit(run, &u->st);
		old = locked_update(run, key, rng_below(&rng, 2), &u->st);
		leave(run);
		if (!old)
			continue;
		/* Readers may hold old until a grace period ends; synchronize_rcu outside the lock
		 * so readers and the other updaters are not held up by our grace period. */
		if (++retired % SYNC_EVERY == 0) {
			synchronize_rcu();
			node_free(old);
			u->st.via_synchronize++;
		} else {
			call_rcu(&old->rcu, node_free_rcu);
			u->st.via_call_rcu++;
		}
	}
	rcu_unregister_thread();
	return NULL;
}

/* ---- readers ------------------------------------------------------------------------------- */

static void check_node(struct run *run, const struct node *n, unsigned bucket)
{
	CHECK(n->magic == NODE_LIVE, "%s: reader reached a freed node (magic %#x)",
	      run->lock->name, n->magic);
	CHECK(n->key % NR_BUCKETS == bucket && n->key < NR_KEYS, "%s: key %u in bucket %u",
	      run->lock->name, n->key, bucket);
	CHECK(n->value >> 32 == n->key, "%s: node of key %u carries the value %#" PRIx64,
	      run->lock->name, n->key, n->value);
	CHECK(n->check == node_check(n->key, n->value), "%s: torn node: key %u value %#" PRIx64
	      " check %#" PRIx64, run->lock->name, n->key, n->value, n->check);
}

/* One read-side critical section: walk a bucket, checking every node on the way. */
static void read_bucket(struct run *run, unsigned bucket, uint32_t key, struct reader_stats *st)
{
	struct node *n;

	rcu_read_lock();
	cds_list_for_each_entry_rcu(n, &run->table.bucket[bucket], link) {
		check_node(run, n, bucket);
		st->nodes_checked++;
		st->hits += n->key == key;
	}
	rcu_read_unlock();
	st->lookups++;
}

static void *reader_main(void *p)
{
	struct reader *r = p;
	struct run *run = r->run;
	uint64_t rng = run->seed * 17 + (uint64_t)r->id;

	rcu_register_thread();
	pthread_barrier_wait(&run->start);
	do {
		uint32_t key = (uint32_t)rng_below(&rng, NR_KEYS);

		read_bucket(run, key % NR_BUCKETS, key, &r->st);
	/* ACQUIRE pairs with the RELEASE store of stop; only the updaters' end is published. */
	} while (!__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE));
	rcu_unregister_thread();
	return NULL;
}

/* ---- one run and its final check ------------------------------------------------------------ */

/* After every thread is joined: the table is exactly the updaters' record. */
static void check_final(struct run *run, const struct updater_stats *total)
{
	struct table *t = &run->table;
	int found[NR_KEYS] = { 0 };
	long nodes = 0;

	for (unsigned b = 0; b < NR_BUCKETS; b++) {
		struct node *n, *next;

		cds_list_for_each_entry_safe(n, next, &t->bucket[b], link) {
			check_node(run, n, b);
			CHECK(!found[n->key]++, "%s: key %u twice at the end", run->lock->name, n->key);
			CHECK(n->value == t->record[n->key], "%s: key %u ends with %#" PRIx64 ", the "
			      "record says %#" PRIx64, run->lock->name, n->key, n->value,
			      t->record[n->key]);
			nodes++;
			cds_list_del(&n->link);
			node_free(n);
		}
	}
	for (unsigned k = 0; k < NR_KEYS; k++)
		CHECK(found[k] || t->record[k] == 0, "%s: key %u missing, record says %#" PRIx64,
		      run->lock->name, k, t->record[k]);
	CHECK(nodes == t->nr_nodes && nodes == total->inserts - total->deletes,
	      "%s: %ld nodes, count %ld, inserts-deletes %ld", run->lock->name, nodes,
	      t->nr_nodes, total->inserts - total->deletes);
	CHECK(total->inserts + total->deletes + total->replaces == (long)NR_UPDATERS * UPDATES,
	      "%s: %ld updates done of %d", run->lock->name,
	      total->inserts + total->deletes + total->replaces, NR_UPDATERS * UPDATES);
}

static void run_with(const struct lock_ops *lock, uint64_t seed)
{
	struct run *run = calloc(1, sizeof(*run));
	struct updater u[NR_UPDATERS];
	struct reader r[NR_READERS];
	pthread_t ut[NR_UPDATERS], rt[NR_READERS];
	struct updater_stats total = { 0 };
	struct reader_stats rtotal = { 0 };

	CHECK(run != NULL, "out of memory");
	run->lock = lock;
	run->seed = seed;
	for (unsigned b = 0; b < NR_BUCKETS; b++)
		CDS_INIT_LIST_HEAD(&run->table.bucket[b]);
	pthread_barrier_init(&run->start, NULL, NR_READERS + NR_UPDATERS);
	for (int i = 0; i < NR_READERS; i++) {
		r[i] = (struct reader){ .run = run, .id = i };
		CHECK(pthread_create(&rt[i], NULL, reader_main, &r[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < NR_UPDATERS; i++) {
		u[i] = (struct updater){ .run = run, .id = i };
		CHECK(pthread_create(&ut[i], NULL, updater_main, &u[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < NR_UPDATERS; i++) {
		pthread_join(ut[i], NULL);
		total.inserts += u[i].st.inserts;
		total.deletes += u[i].st.deletes;
		total.replaces += u[i].st.replaces;
		total.audits += u[i].st.audits;
		total.via_call_rcu += u[i].st.via_call_rcu;
		total.via_synchronize += u[i].st.via_synchronize;
		total.contended += u[i].st.contended;
	}
	/* RELEASE: the readers' ACQUIRE load ends their loop; nothing else is handed over. */
	__atomic_store_n(&run->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NR_READERS; i++) {
		pthread_join(rt[i], NULL);
		rtotal.lookups += r[i].st.lookups;
		rtotal.nodes_checked += r[i].st.nodes_checked;
		rtotal.hits += r[i].st.hits;
	}
	rcu_barrier(); /* every call_rcu callback has run: the retired nodes are freed */
	check_final(run, &total);
	pthread_barrier_destroy(&run->start);
	printf("rcu_mutex %-13s: %d updaters x %d (%ld inserts, %ld deletes, %ld replaces; "
	       "%ld audits; %ld took the slow lock), reclaimed %ld via call_rcu + %ld via synchronize_rcu; "
	       "%d readers: %ld lookups, %ld nodes checked, %ld hits; table == record\n",
	       lock->name, NR_UPDATERS, UPDATES, total.inserts, total.deletes, total.replaces,
	       total.audits, total.contended, total.via_call_rcu, total.via_synchronize, NR_READERS,
	       rtotal.lookups, rtotal.nodes_checked, rtotal.hits);
	free(run);
}

int main(void)
{
	struct timespec now;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &now);
	seed = test_seed((uint64_t)now.tv_sec * 1000000007ull + (uint64_t)now.tv_nsec);
	printf("rcu_mutex: seed %#" PRIx64 " (replay with URCU_TEST_SEED=%#" PRIx64 "), "
	       "flavour urcu-memb\n", seed, seed);
	for (size_t i = 0; i < sizeof(lock_kinds) / sizeof(lock_kinds[0]); i++)
		run_with(&lock_kinds[i], seed);
	printf("rcu_mutex: PASS\n");
	return 0;
}
