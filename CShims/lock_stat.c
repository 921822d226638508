/*
 * Contention statistics per lock class, and their report in /proc/lock_stat's layout.
 *
 * Enabling: the environment variable KMUTEX_STAT, read once when the library is loaded (a
 * constructor): unset, empty or "0": off; "1": on, and the report goes to stderr at exit; any
 * other value is a path: on, and at exit the report is written there and a CSV to PATH.csv.
 * kmutex_stat_enable() switches collection at run time.
 *
 * Storage: a fixed open-addressing table of classes keyed by the name pointer and the kind
 * (a mutex; a reader-writer lock's read side or write side, the kernel's "-R" and "-W" rows
 * of one class), in static memory: the slow path must not call malloc or a pthread mutex
 * (libkmutex-pthread interposes pthread_mutex_lock, and malloc may take one), and a class
 * is found without a lock.  A class slot is claimed once with a cmpxchg on its key and never
 * freed.  When the table is full, further classes are counted together under "(other
 * classes)".
 *
 * Counters are updated with RELAXED atomics: each is an independent tally that nothing else is
 * published through, and the report is a snapshot (taken at exit, or when asked for, while
 * other threads may still count); a report racing with updates may see a count before its
 * wait time, never a torn value.  Min and max are cmpxchg loops; 0 means "no sample yet".
 */
#include "lock_stat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wait_lock.h"

struct kmx_stat_switch kmx_stat_switch;

/* Set the first time an acquisition is recorded: the report then has acquisition columns. */
static int acquisitions_seen;

struct kmx_class_stat {
	uintptr_t key;                /* class_key(name, kind); 0: a free slot */
	uintptr_t last_contender;     /* task that contended last, for con-bounces */
	uintptr_t last_acquirer;      /* task that acquired last, for acq-bounces */
	uint64_t contentions, con_bounces, wait_nr, wait_min, wait_max, wait_total;
	uint64_t spin_acquired, slept, handoffs, timeouts, interrupts;
	uint64_t acquisitions, acq_bounces, hold_nr, hold_min, hold_max, hold_total;
} __attribute__((aligned(64)));

#define CLASS_SLOTS 1024u /* a power of two */

static struct kmx_class_stat classes[CLASS_SLOTS];
static const char unnamed[] = "(unnamed)";
static const char other_name[] = "(other classes)";
static struct kmx_class_stat other_classes;

/*
 * A class's key: the name pointer shifted left, the kind (enum kmx_stat_kind) in the two low
 * bits.  User-space addresses have their top bits clear on x86-64 and arm64, so nothing is
 * lost, and one cmpxchg claims a slot for both.
 */
static uintptr_t class_key(const char *name, unsigned kind)
{
	return (uintptr_t)name << 2 | kind;
}

static const char *key_name(uintptr_t key)
{
	return key ? (const char *)(key >> 2) : NULL;
}

static unsigned key_kind(uintptr_t key)
{
	return (unsigned)(key & 3);
}

/* ---- collection ------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no syscall, no lock */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t hash_key(uintptr_t key)
{
	uint64_t h = (key >> 3) * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */

	return (uint32_t)(h >> 54) & (CLASS_SLOTS - 1);
}

/* The class of a name pointer and kind, claiming a free slot the first time. */
static struct kmx_class_stat *class_of(const char *name, unsigned kind)
{
	uintptr_t key = class_key(name ? name : unnamed, kind);
	uint32_t i = hash_key(key);

	for (uint32_t n = 0; n < CLASS_SLOTS; n++, i = (i + 1) & (CLASS_SLOTS - 1)) {
		struct kmx_class_stat *cls = &classes[i];
		/* ACQUIRE pairs with the RELEASE that claimed the slot: the report reads the
		 * string the key points to (written before the claiming thread saw the name). */
		uintptr_t k = kmx_load(&cls->key, KMX_ACQUIRE), expected = 0;

		if (k == key)
			return cls;
		if (k)
			continue;
		/* RELEASE: see above; on failure ACQUIRE, for the key another thread put there. */
		if (__atomic_compare_exchange_n(&cls->key, &expected, key, 0, KMX_RELEASE, KMX_ACQUIRE) ||
		    expected == key)
			return cls;
	}
	return &other_classes;
}

static struct kmx_class_stat *class_of_lock(const struct kmutex *lock)
{
	/* A plain field, written at init and by kmutex_set_name, which the user orders with use. */
	return class_of(lock->name, KMX_STAT_MUTEX);
}

static void count(uint64_t *counter)
{
	kmx_add_return(counter, 1, KMX_RELAXED); /* a tally: see the file comment */
}

/* One time sample into nr, min, max, total.  RELAXED throughout (the file comment). */
static void sample(uint64_t *nr, uint64_t *min, uint64_t *max, uint64_t *total, uint64_t ns)
{
	uint64_t old;

	if (ns == 0)
		ns = 1; /* 0 marks "no sample" in min */
	count(nr);
	kmx_add_return(total, ns, KMX_RELAXED);
	old = kmx_load(min, KMX_RELAXED);
	while ((old == 0 || ns < old) && !kmx_try_cmpxchg(min, &old, ns, KMX_RELAXED))
		;
	old = kmx_load(max, KMX_RELAXED);
	while (ns > old && !kmx_try_cmpxchg(max, &old, ns, KMX_RELAXED))
		;
}

/* Did another task than the caller do this last?  Records the caller as the last one. */
static bool bounced(uintptr_t *last)
{
	uintptr_t self = (uintptr_t)kmutex__self();
	/* RELAXED: only the identity matters, no data is read through it. */
	uintptr_t prev = kmx_xchg(last, self, KMX_RELAXED);

	return prev != 0 && prev != self;
}

void kmx_stat_contended(struct kmutex *lock, struct kmx_contention *c)
{
	kmx_stat_contended_class(lock->name, KMX_STAT_MUTEX, c);
}

void kmx_stat_contended_class(const char *name, unsigned kind, struct kmx_contention *c)
{
	struct kmx_class_stat *cls = class_of(name, kind);

	count(&cls->contentions);
	if (bounced(&cls->last_contender))
		count(&cls->con_bounces);
	c->cls = cls;
	c->start_ns = now_ns();
}

/* As the kernel's lock_stat: wait times are sampled for the waits that ended in the lock. */
void kmx_stat_contention_end(struct kmx_contention *c, int ret)
{
	struct kmx_class_stat *cls = c->cls;

	switch (ret) {
	case 0:
		sample(&cls->wait_nr, &cls->wait_min, &cls->wait_max, &cls->wait_total,
		       now_ns() - c->start_ns);
		count(c->slept ? &cls->slept : &cls->spin_acquired);
		break;
	case -ETIMEDOUT:
		count(&cls->timeouts);
		break;
	case -EINTR:
		count(&cls->interrupts);
		break;
	default: /* -EINVAL: a malformed deadline, found once the call had to wait */
		break;
	}
}

__attribute__((noinline)) int kmx_contention_end_event(const void *lock, struct kmx_contention *c,
							int ret)
{
	KMX_PROBE2(contention_end, lock, ret);
	if (c->cls)
		kmx_stat_contention_end(c, ret);
	return ret;
}

void kmx_stat_handoff(struct kmutex *lock)
{
	count(&class_of_lock(lock)->handoffs);
}

void kmx_stat_handoff_class(const char *name, unsigned kind)
{
	count(&class_of(name, kind)->handoffs);
}

/*
 * Hold times: the acquisition time of each mutex the thread holds, innermost last.  TLS with
 * the initial-exec model, as kmutex__current: no allocation on first use in a dlopen()ed
 * library (the general-dynamic model may call malloc there).
 */
#define HELD_MAX 16

struct held_lock {
	const void *lock;
	struct kmx_class_stat *cls;
	uint64_t since_ns;
};

static __thread struct held_lock held[HELD_MAX] __attribute__((tls_model("initial-exec")));
static __thread unsigned nr_held __attribute__((tls_model("initial-exec")));

void kmx_stat_acquired(struct kmutex *lock)
{
	KMX_PROBE1(acquired, lock);
	kmx_stat_acquired_class(lock, lock->name, KMX_STAT_MUTEX);
}

void kmx_stat_acquired_class(const void *lock, const char *name, unsigned kind)
{
	struct kmx_class_stat *cls;

	if (!kmx_stat_enabled())
		return;
	cls = class_of(name, kind);
	kmx_store(&acquisitions_seen, 1, KMX_RELAXED); /* a flag for the report's layout */
	count(&cls->acquisitions);
	if (bounced(&cls->last_acquirer))
		count(&cls->acq_bounces);
	if (nr_held < HELD_MAX)
		held[nr_held++] = (struct held_lock){ lock, cls, now_ns() };
}

void kmx_stat_released(struct kmutex *lock)
{
	KMX_PROBE1(released, lock);
	kmx_stat_released_class(lock);
}

/*
 * The hold time goes to the class (and kind) the acquisition was counted in: a read lock's to
 * the "-R" row.  The innermost entry of the lock: nested reads of one krwsem end in turn.
 */
void kmx_stat_released_class(const void *lock)
{
	/* Even with statistics just turned off: drop the entry, so the stack stays in step. */
	for (unsigned i = nr_held; i-- > 0;) {
		if (held[i].lock != lock)
			continue;
		uint64_t since = held[i].since_ns;
		struct kmx_class_stat *cls = held[i].cls;

		memmove(&held[i], &held[i + 1], (nr_held - i - 1) * sizeof(held[0]));
		nr_held--;
		if (kmx_stat_enabled())
			sample(&cls->hold_nr, &cls->hold_min, &cls->hold_max, &cls->hold_total,
			       now_ns() - since);
		return;
	}
}

/* ---- control ----------------------------------------------------------------------------- */

int kmutex_stat_enable(int on)
{
	/* RELAXED: a switch (kmx_stat_enabled()). */
	if (on < 0)
		return kmx_load(&kmx_stat_switch.on, KMX_RELAXED);
	return kmx_xchg(&kmx_stat_switch.on, on ? 1 : 0, KMX_RELAXED);
}

static void reset_class(struct kmx_class_stat *cls)
{
	uint64_t *counters[] = {
		&cls->contentions, &cls->con_bounces, &cls->wait_nr, &cls->wait_min, &cls->wait_max,
		&cls->wait_total, &cls->spin_acquired, &cls->slept, &cls->handoffs, &cls->timeouts,
		&cls->interrupts, &cls->acquisitions, &cls->acq_bounces, &cls->hold_nr,
		&cls->hold_min, &cls->hold_max, &cls->hold_total,
	};

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		kmx_store(counters[i], 0, KMX_RELAXED);
	kmx_store(&cls->last_contender, 0, KMX_RELAXED);
	kmx_store(&cls->last_acquirer, 0, KMX_RELAXED);
}

/* Classes keep their slots; their counters restart from zero (updates racing with it may
 * survive: a reset is exact only when no mutex is contended meanwhile). */
void kmutex_stat_reset(void)
{
	for (uint32_t i = 0; i < CLASS_SLOTS; i++)
		if (kmx_load(&classes[i].key, KMX_RELAXED))
			reset_class(&classes[i]);
	reset_class(&other_classes);
}

/* ---- the report ------------------------------------------------------------------------- */

static void snapshot(const struct kmx_class_stat *cls, struct kmx_stat_snapshot *s)
{
	/* ACQUIRE pairs with class_of()'s claim. */
	uintptr_t key = cls == &other_classes ? class_key(other_name, KMX_STAT_MUTEX)
					      : kmx_load(&cls->key, KMX_ACQUIRE);
#define SNAP(field) kmx_load(&cls->field, KMX_RELAXED)
	*s = (struct kmx_stat_snapshot){
		.name = key_name(key), .kind = key_kind(key),
		.con_bounces = SNAP(con_bounces), .contentions = SNAP(contentions),
		.wait_nr = SNAP(wait_nr), .wait_min_ns = SNAP(wait_min),
		.wait_max_ns = SNAP(wait_max), .wait_total_ns = SNAP(wait_total),
		.acq_bounces = SNAP(acq_bounces), .acquisitions = SNAP(acquisitions),
		.hold_nr = SNAP(hold_nr), .hold_min_ns = SNAP(hold_min),
		.hold_max_ns = SNAP(hold_max), .hold_total_ns = SNAP(hold_total),
		.spin_acquired = SNAP(spin_acquired), .slept = SNAP(slept),
		.handoffs = SNAP(handoffs), .timeouts = SNAP(timeouts),
		.interrupts = SNAP(interrupts),
	};
#undef SNAP
}

static bool has_activity(const struct kmx_stat_snapshot *s)
{
	return s->name && (s->contentions || s->acquisitions || s->handoffs);
}

/* The row's name: the class's, with "-R" or "-W" for a reader-writer lock's sides. */
static const char *row_name(const struct kmx_stat_snapshot *r, char *buf, size_t len)
{
	if (r->kind == KMX_STAT_MUTEX)
		return r->name;
	snprintf(buf, len, "%s-%c", r->name, r->kind == KMX_STAT_READ ? 'R' : 'W');
	return buf;
}

bool kmx_stat_get(const char *name, struct kmx_stat_snapshot *out)
{
	for (uint32_t i = 0; i <= CLASS_SLOTS; i++) {
		char buf[256];

		snapshot(i < CLASS_SLOTS ? &classes[i] : &other_classes, out);
		if (out->name && strcmp(row_name(out, buf, sizeof(buf)), name) == 0)
			return true;
	}
	return false;
}

/* The report works on a copy, sorted; one report at a time (dump_lock, a kmx_wait_lock). */
static uint32_t dump_lock;
static struct kmx_stat_snapshot rows[CLASS_SLOTS + 1];

/* Most contended first, as lock_stat sorts; then by total wait, then acquisitions, then name. */
static int compare_rows(const void *a, const void *b)
{
	const struct kmx_stat_snapshot *x = a, *y = b;

	if (x->contentions != y->contentions)
		return x->contentions > y->contentions ? -1 : 1;
	if (x->wait_total_ns != y->wait_total_ns)
		return x->wait_total_ns > y->wait_total_ns ? -1 : 1;
	if (x->acquisitions != y->acquisitions)
		return x->acquisitions > y->acquisitions ? -1 : 1;
	if (strcmp(x->name, y->name))
		return strcmp(x->name, y->name);
	return (int)y->kind - (int)x->kind; /* -W before -R, as the kernel prints them */
}

static size_t collect_rows(void)
{
	size_t n = 0;

	for (uint32_t i = 0; i <= CLASS_SLOTS; i++) {
		snapshot(i < CLASS_SLOTS ? &classes[i] : &other_classes, &rows[n]);
		if (has_activity(&rows[n]))
			n++;
	}
	qsort(rows, n, sizeof(rows[0]), compare_rows);
	return n;
}

/* Microseconds with two decimals, as lock_stat prints times. */
static const char *usecs(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%llu.%02llu", (unsigned long long)(ns / 1000),
		 (unsigned long long)(ns % 1000 / 10));
	return buf;
}

static const char *count_str(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/*
 * The 13 lock_stat columns in their order, then kmutex's own: spin-acquired (contended calls
 * that got the lock without sleeping), slept (that queued on the wait list), handoffs,
 * timeouts, interrupts.
 */
static const char *const columns[] = {
	"con-bounces", "contentions", "waittime-min", "waittime-max", "waittime-total",
	"waittime-avg", "acq-bounces", "acquisitions", "holdtime-min", "holdtime-max",
	"holdtime-total", "holdtime-avg", "spin-acquired", "slept", "handoffs", "timeouts",
	"interrupts",
};
#define NR_COLUMNS (sizeof(columns) / sizeof(columns[0]))

/* One row's cells as text; "-" (table) or "" (CSV) where acquisitions are not seen. */
static void row_cells(const struct kmx_stat_snapshot *r, bool acq, const char *none,
		      char cells[NR_COLUMNS][32])
{
	const uint64_t counts[] = { r->con_bounces, r->contentions };
	const uint64_t waits[] = { r->wait_min_ns, r->wait_max_ns, r->wait_total_ns,
				   r->wait_nr ? r->wait_total_ns / r->wait_nr : 0 };
	const uint64_t acqs[] = { r->acq_bounces, r->acquisitions };
	const uint64_t holds[] = { r->hold_min_ns, r->hold_max_ns, r->hold_total_ns,
				   r->hold_nr ? r->hold_total_ns / r->hold_nr : 0 };
	const uint64_t tail[] = { r->spin_acquired, r->slept, r->handoffs, r->timeouts,
				  r->interrupts };
	size_t c = 0;

	for (size_t i = 0; i < 2; i++)
		count_str(cells[c++], 32, counts[i]);
	for (size_t i = 0; i < 4; i++)
		usecs(cells[c++], 32, waits[i]);
	for (size_t i = 0; i < 2; i++)
		acq ? count_str(cells[c], 32, acqs[i]) : strcpy(cells[c], none), c++;
	for (size_t i = 0; i < 4; i++)
		acq ? usecs(cells[c], 32, holds[i]) : strcpy(cells[c], none), c++;
	for (size_t i = 0; i < 5; i++)
		count_str(cells[c++], 32, tail[i]);
}

static void print_rule(FILE *out)
{
	for (size_t i = 0; i < 40 + 15 * NR_COLUMNS; i++)
		fputc('-', out);
	fputc('\n', out);
}

static void print_table(FILE *out, size_t n)
{
	bool acq = kmx_load(&acquisitions_seen, KMX_RELAXED);
	char cells[NR_COLUMNS][32];

	fprintf(out, "lock_stat version 0.4\n");
	print_rule(out);
	fprintf(out, "%40s", "class name");
	for (size_t i = 0; i < NR_COLUMNS; i++)
		fprintf(out, " %14s", columns[i]);
	fputc('\n', out);
	print_rule(out);
	for (size_t r = 0; r < n; r++) {
		char name[256];

		fprintf(out, "\n%39.39s:", row_name(&rows[r], name, sizeof(name)));
		row_cells(&rows[r], acq, "-", cells);
		for (size_t i = 0; i < NR_COLUMNS; i++)
			fprintf(out, " %14s", cells[i]);
		fputc('\n', out);
	}
	if (!acq)
		fprintf(out, "\n(acquisitions and hold times: not seen by this build, which counts "
			     "only the slow path; see the debug build)\n");
}

static void print_csv(FILE *out, size_t n)
{
	bool acq = kmx_load(&acquisitions_seen, KMX_RELAXED);
	char cells[NR_COLUMNS][32];

	fprintf(out, "class");
	for (size_t i = 0; i < NR_COLUMNS; i++)
		fprintf(out, ",%s", columns[i]);
	fputc('\n', out);
	for (size_t r = 0; r < n; r++) {
		char name[256];

		fputc('"', out);
		for (const char *p = row_name(&rows[r], name, sizeof(name)); *p; p++) {
			if (*p == '"')
				fputc('"', out);
			fputc(*p, out);
		}
		fputc('"', out);
		row_cells(&rows[r], acq, "", cells);
		for (size_t i = 0; i < NR_COLUMNS; i++)
			fprintf(out, ",%s", cells[i]);
		fputc('\n', out);
	}
}

static void report(FILE *table, FILE *csv)
{
	size_t n;

	kmx_wait_lock(&dump_lock);
	n = collect_rows();
	if (table)
		print_table(table, n);
	if (csv)
		print_csv(csv, n);
	kmx_wait_unlock(&dump_lock);
}

void kmutex_stat_dump(FILE *out)
{
	report(out, NULL);
	fflush(out);
}

void kmutex_stat_dump_csv(FILE *out)
{
	report(NULL, out);
	fflush(out);
}

/* ---- KMUTEX_STAT ------------------------------------------------------------------------ */

static const char *report_path; /* NULL: stderr */

__attribute__((constructor)) static void stat_from_environment(void)
{
	const char *v = getenv("KMUTEX_STAT");

	if (!v || !*v || strcmp(v, "0") == 0)
		return;
	report_path = strcmp(v, "1") == 0 ? NULL : v;
	kmutex_stat_enable(1);
}

static void write_report_files(const char *path)
{
	char csv_path[4096];
	FILE *table = fopen(path, "w"), *csv;

	snprintf(csv_path, sizeof(csv_path), "%s.csv", path);
	csv = fopen(csv_path, "w");
	if (!table || !csv) {
		fprintf(stderr, "kmutex: KMUTEX_STAT: cannot write %s\n", table ? csv_path : path);
		if (table)
			fclose(table);
		if (csv)
			fclose(csv);
		return;
	}
	report(table, csv);
	fclose(table);
	fclose(csv);
}

/* At exit, if KMUTEX_STAT asked for a report (the environment, not kmutex_stat_enable). */
__attribute__((destructor)) static void stat_report_at_exit(void)
{
	const char *v = getenv("KMUTEX_STAT");

	if (!v || !*v || strcmp(v, "0") == 0)
		return;
	if (report_path)
		write_report_files(report_path);
	else
		kmutex_stat_dump(stderr);
}
