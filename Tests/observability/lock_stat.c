/*
 * The contention statistics, exact on scripted scenarios (build/hooks: pause points make the
 * interleavings deterministic; no timing assumption anywhere):
 *  - one contention that sleeps, one that spins, one handoff, one timeout, one interruption;
 *  - con-bounces and the report's order on a scripted two-thread pattern;
 *  - the report's layout (header, columns, rows) and its CSV;
 *  - KMUTEX_STAT=PATH and KMUTEX_STAT=1 at exit (this program run again as a child).
 * `lock_stat child` is the child: one contention on the class "obs child", then exit.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "../regression/in_futex.h"
#include "kmutex.h"
#include "lock_stat.h"
#include "test_hooks.h"

/* ---- helpers ------------------------------------------------------------------------------- */

enum call { CALL_LOCK, CALL_TIMEOUT_NOW, CALL_INTERRUPTED };

struct contender {
	pthread_t thread;
	struct kmutex *m;
	enum call call;
	int ret;
	long tid;                 /* the contender's, and the word it sleeps on, */
	const uint32_t *wake;     /* published before it calls (atomics: main polls them) */
};

static void *contender_main(void *arg)
{
	struct contender *c = arg;
	struct timespec now;

	__atomic_store_n(&c->wake, kmutex_test_wake_word(), __ATOMIC_RELAXED);
	__atomic_store_n(&c->tid, (long)gettid(), __ATOMIC_RELEASE);

	switch (c->call) {
	case CALL_LOCK:
		kmutex_lock(c->m);
		c->ret = 0;
		break;
	case CALL_TIMEOUT_NOW: /* a deadline already past: the held lock times out at once */
		clock_gettime(CLOCK_MONOTONIC, &now);
		c->ret = kmutex_lock_timeout(c->m, &now);
		break;
	case CALL_INTERRUPTED: /* a pending interruption ends the first wait at once */
		kmutex_interrupt_self();
		c->ret = kmutex_lock_interruptible(c->m);
		break;
	}
	if (c->ret == 0)
		kmutex_unlock(c->m);
	return NULL;
}

static void wait_for_waiters(struct kmutex *m, int n)
{
	while (kmutex_test_nr_waiters(m) != n)
		sched_yield();
}

/* Main holds m; one thread makes `call`, which must wait; main releases when it sleeps. */
static int contend_once(struct kmutex *m, enum call call)
{
	struct contender c = { .m = m, .call = call, .ret = -1 };

	kmutex_lock(m);
	pthread_create(&c.thread, NULL, contender_main, &c);
	if (call == CALL_LOCK) {
		/*
		 * On the list is not enough: a contender that has queued but not yet slept sees
		 * the lock still held after a wakeup of its own (mainline's rule then asks for a
		 * handoff: KMUTEX_HANDOFF_AFTER_US=0), and the count would depend on scheduling.
		 */
		wait_for_waiters(m, 1);
		while (!__atomic_load_n(&c.tid, __ATOMIC_ACQUIRE) ||
		       !thread_in_futex(c.tid, __atomic_load_n(&c.wake, __ATOMIC_RELAXED)))
			sched_yield();
	} else
		pthread_join(c.thread, NULL); /* it gives up while we hold the lock */
	kmutex_unlock(m);
	if (call == CALL_LOCK)
		pthread_join(c.thread, NULL);
	return c.ret;
}

static struct kmx_stat_snapshot stat_of(const char *name)
{
	struct kmx_stat_snapshot s;

	if (!kmx_stat_get(name, &s))
		memset(&s, 0, sizeof(s));
	return s;
}

/* The hooks: each scenario installs its own with the mutex it watches. */
static struct kmutex *hooked;
static sem_t at_point, go_on;
static int woken_count, sleep_count;

/* ---- exact counts -------------------------------------------------------------------------- */

static void test_one_contention_that_sleeps(void)
{
	struct kmutex m;
	struct kmx_stat_snapshot s;

	kmutex_init_flags(&m, KMUTEX_NO_SPIN);
	kmutex_set_name(&m, "obs sleep");
	CHECK(contend_once(&m, CALL_LOCK) == 0);
	s = stat_of("obs sleep");
	CHECK(s.contentions == 1 && s.slept == 1 && s.spin_acquired == 0);
	CHECK(s.handoffs == 0);
	CHECK(s.timeouts == 0 && s.interrupts == 0 && s.con_bounces == 0);
	CHECK(s.wait_nr == 1 && s.wait_min_ns > 0);
	CHECK(s.wait_min_ns == s.wait_max_ns && s.wait_max_ns == s.wait_total_ns);
	CHECK(s.acquisitions == 0 && s.hold_nr == 0); /* release build: the slow path only */
	kmutex_destroy(&m);
}

/* The contender spins: paused at its first poll of the owner word until main has unlocked.
 * main waits in sem_wait meanwhile, and may have last run on the contender's CPU, where the
 * library would not spin on it (sched_view.h): that rule is off for this case. */
static void spin_hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l == hooked && point == KMUTEX_TP_SPIN_ON_OWNER && !woken_count++) {
		sem_post(&at_point);
		sem_wait(&go_on);
	}
}

static void test_one_contention_that_spins(void)
{
	struct kmutex m;
	struct contender c = { .m = &m, .call = CALL_LOCK };
	struct kmx_stat_snapshot s;

	kmutex_init(&m);
	kmutex_set_name(&m, "obs spin");
	hooked = &m;
	woken_count = 0;
	kmutex_test_hook = spin_hook;
	kmutex_test_sched_view_off = 1;
	kmutex_lock(&m);
	pthread_create(&c.thread, NULL, contender_main, &c);
	sem_wait(&at_point);
	kmutex_unlock(&m);
	sem_post(&go_on);
	pthread_join(c.thread, NULL);
	kmutex_test_hook = NULL;
	kmutex_test_sched_view_off = 0;
	s = stat_of("obs spin");
	CHECK(s.contentions == 1 && s.spin_acquired == 1 && s.slept == 0);
	CHECK(s.wait_nr == 1 && s.handoffs == 0);
	kmutex_destroy(&m);
}

/*
 * One handoff: W sleeps; main unlocks and, while W is paused right after its wakeup, takes the
 * lock again (a steal: uncontended, the lock was free).  W fails, sets HANDOFF and sleeps
 * again; main's next unlock hands the lock to W.
 */
static void handoff_hook(enum kmutex_test_point point, struct kmutex *l)
{
	if (l != hooked)
		return;
	if (point == KMUTEX_TP_WAITER_WOKEN && !woken_count++) {
		sem_post(&at_point);
		sem_wait(&go_on);
	}
	if (point == KMUTEX_TP_WAITER_SLEEP && ++sleep_count == 2)
		sem_post(&at_point);
}

static void test_one_handoff(void)
{
	struct kmutex m;
	struct contender c = { .m = &m, .call = CALL_LOCK };
	struct kmx_stat_snapshot s;

	kmutex_init_flags(&m, KMUTEX_NO_SPIN);
	kmutex_set_name(&m, "obs handoff");
	hooked = &m;
	woken_count = sleep_count = 0;
	kmutex_test_hook = handoff_hook;
	kmutex_lock(&m);
	pthread_create(&c.thread, NULL, contender_main, &c);
	wait_for_waiters(&m, 1);
	kmutex_unlock(&m);
	sem_wait(&at_point);  /* W woke and waits for us */
	kmutex_lock(&m);      /* the steal */
	sem_post(&go_on);
	sem_wait(&at_point);  /* W set HANDOFF and sleeps again */
	kmutex_unlock(&m);    /* handed to W */
	pthread_join(c.thread, NULL);
	kmutex_test_hook = NULL;
	s = stat_of("obs handoff");
	CHECK(s.handoffs == 1);
	CHECK(s.contentions == 1 && s.slept == 1 && s.spin_acquired == 0 && s.wait_nr == 1);
	CHECK(s.timeouts == 0 && s.interrupts == 0);
	kmutex_destroy(&m);
}

static void test_one_timeout(void)
{
	struct kmutex m;
	struct kmx_stat_snapshot s;

	kmutex_init_flags(&m, KMUTEX_NO_SPIN);
	kmutex_set_name(&m, "obs timeout");
	CHECK(contend_once(&m, CALL_TIMEOUT_NOW) == -ETIMEDOUT);
	s = stat_of("obs timeout");
	CHECK(s.contentions == 1 && s.timeouts == 1 && s.interrupts == 0);
	CHECK(s.slept == 0 && s.spin_acquired == 0 && s.wait_nr == 0 && s.handoffs == 0);
	kmutex_destroy(&m);
}

static void test_one_interruption(void)
{
	struct kmutex m;
	struct kmx_stat_snapshot s;

	kmutex_init_flags(&m, KMUTEX_NO_SPIN);
	kmutex_set_name(&m, "obs interrupt");
	CHECK(contend_once(&m, CALL_INTERRUPTED) == -EINTR);
	s = stat_of("obs interrupt");
	CHECK(s.contentions == 1 && s.interrupts == 1 && s.timeouts == 0);
	CHECK(s.slept == 0 && s.spin_acquired == 0 && s.wait_nr == 0);
	kmutex_destroy(&m);
}

/* Off: a contention leaves no trace. */
static void test_off_counts_nothing(void)
{
	struct kmutex m;
	struct kmx_stat_snapshot s;

	kmutex_init_flags(&m, KMUTEX_NO_SPIN);
	kmutex_set_name(&m, "obs off");
	CHECK(kmutex_stat_enable(0) == 1);
	CHECK(contend_once(&m, CALL_LOCK) == 0);
	CHECK(kmutex_stat_enable(1) == 0);
	CHECK(!kmx_stat_get("obs off", &s));
	kmutex_destroy(&m);
}

/* ---- con-bounces and the report ------------------------------------------------------------- */

/* Two long-lived contenders (a descriptor is reused after its thread exits). */
struct worker {
	pthread_t thread;
	sem_t go, done;
	struct kmutex *m;
	int quit;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		sem_wait(&w->go);
		if (w->quit)
			return NULL;
		kmutex_lock(w->m);
		kmutex_unlock(w->m);
		sem_post(&w->done);
	}
}

static void contend_by(struct worker *w, struct kmutex *m)
{
	kmutex_lock(m);
	w->m = m;
	sem_post(&w->go);
	wait_for_waiters(m, 1);
	kmutex_unlock(m);
	sem_wait(&w->done);
}

static struct kmutex class_a, class_b, class_c;
static char report[16384], csv[8192];

static void dump_to(char *buf, size_t len, void (*dump)(FILE *))
{
	FILE *f = fmemopen(buf, len, "w");

	dump(f);
	fclose(f);
}

static void test_bounces_and_order(void)
{
	struct worker t[2];
	struct kmx_stat_snapshot a, b, c;

	for (int i = 0; i < 2; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		sem_init(&t[i].go, 0, 0);
		sem_init(&t[i].done, 0, 0);
		pthread_create(&t[i].thread, NULL, worker_main, &t[i]);
	}
	kmutex_init_flags(&class_a, KMUTEX_NO_SPIN);
	kmutex_init_flags(&class_b, KMUTEX_NO_SPIN);
	kmutex_init_flags(&class_c, KMUTEX_NO_SPIN);
	kmutex_set_name(&class_a, "obs A");
	kmutex_set_name(&class_b, "obs B");
	kmutex_set_name(&class_c, "obs \"C\""); /* a quote, for the CSV */
	kmutex_stat_reset();
	/* A: T1 T2 T1 T1 = 4 contentions, 2 bounces; B: T1 = 1, 0; C: T2 T2 T1 = 3, 1. */
	contend_by(&t[0], &class_a);
	contend_by(&t[1], &class_a);
	contend_by(&t[0], &class_a);
	contend_by(&t[0], &class_a);
	contend_by(&t[0], &class_b);
	contend_by(&t[1], &class_c);
	contend_by(&t[1], &class_c);
	contend_by(&t[0], &class_c);
	for (int i = 0; i < 2; i++) {
		t[i].quit = 1;
		sem_post(&t[i].go);
		pthread_join(t[i].thread, NULL);
	}
	a = stat_of("obs A");
	b = stat_of("obs B");
	c = stat_of("obs \"C\"");
	CHECK(a.contentions == 4 && a.con_bounces == 2);
	CHECK(b.contentions == 1 && b.con_bounces == 0);
	CHECK(c.contentions == 3 && c.con_bounces == 1);
	dump_to(report, sizeof(report), kmutex_stat_dump);
	dump_to(csv, sizeof(csv), kmutex_stat_dump_csv);
}

static const char *const columns[] = {
	"con-bounces", "contentions", "waittime-min", "waittime-max", "waittime-total",
	"waittime-avg", "acq-bounces", "acquisitions", "holdtime-min", "holdtime-max",
	"holdtime-total", "holdtime-avg", "spin-acquired", "slept", "handoffs", "timeouts",
	"interrupts",
};
#define NR_COLUMNS 17

/* Splits a line on blanks into at most max fields (in place). */
static int split(char *line, char **fields, int max)
{
	int n = 0;

	for (char *tok = strtok(line, " \n"); tok && n < max; tok = strtok(NULL, " \n"))
		fields[n++] = tok;
	return n;
}

static bool is_rule(const char *line)
{
	return strspn(line, "-") == strlen(line) && strlen(line) > 100;
}

/*
 * The table: "lock_stat version 0.4", a rule, the header (class name, then the 13 lock_stat
 * columns in order and kmutex's 5), a rule, then one row per class ("name:" right-aligned,
 * then a value per column), most contended first: A, C, B.
 */
static void test_report_layout(void)
{
	char buf[sizeof(report)], *lines[64], *fields[32], *save = NULL;
	int n = 0, nf, row = 0;
	const char *want_rows[] = { "obs A:", "obs \"C\":", "obs B:" };

	memcpy(buf, report, sizeof(buf));
	for (char *l = strtok_r(buf, "\n", &save); l && n < 64; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	CHECK(n >= 7);
	CHECK(strcmp(lines[0], "lock_stat version 0.4") == 0);
	CHECK(is_rule(lines[1]) && is_rule(lines[3]));
	nf = split(lines[2], fields, 32);
	CHECK(nf == 2 + NR_COLUMNS);
	CHECK(strcmp(fields[0], "class") == 0 && strcmp(fields[1], "name") == 0);
	for (int i = 0; i < NR_COLUMNS; i++)
		CHECK(strcmp(fields[2 + i], columns[i]) == 0);
	for (int i = 4; i < n; i++) {
		char *colon = strrchr(lines[i], ':');
		char name[64];

		if (!colon || lines[i][0] != ' ')
			continue; /* the closing note */
		CHECK(row < 3);
		snprintf(name, sizeof(name), "%.*s", (int)(colon + 1 - lines[i]), lines[i]);
		CHECK(strcmp(name + strspn(name, " "), want_rows[row]) == 0);
		CHECK(colon - lines[i] == 39); /* right-aligned in 40 columns */
		nf = split(colon + 1, fields, 32);
		CHECK(nf == NR_COLUMNS);
		if (row == 0) {
			CHECK(strcmp(fields[0], "2") == 0 && strcmp(fields[1], "4") == 0);
			CHECK(strchr(fields[2], '.') && strchr(fields[5], '.')); /* us, 2 decimals */
			CHECK(strcmp(fields[6], "-") == 0 && strcmp(fields[7], "-") == 0);
			CHECK(strcmp(fields[13], "4") == 0); /* slept */
		}
		row++;
	}
	CHECK(row == 3);
}

static void test_csv_layout(void)
{
	char want[512] = "class";

	for (int i = 0; i < NR_COLUMNS; i++)
		strcat(strcat(want, ","), columns[i]);
	strcat(want, "\n");
	CHECK(strncmp(csv, want, strlen(want)) == 0);
	CHECK(strncmp(csv + strlen(want), "\"obs A\",2,4,", 12) == 0);
	CHECK(strstr(csv, "\n\"obs \"\"C\"\"\",1,3,") != NULL);
	CHECK(strstr(csv, "\n\"obs B\",0,1,") != NULL);
}

/* ---- KMUTEX_STAT at exit --------------------------------------------------------------------- */

static int child(void)
{
	struct kmutex m;

	kmutex_init_flags(&m, KMUTEX_NO_SPIN);
	kmutex_set_name(&m, "obs child");
	return contend_once(&m, CALL_LOCK);
}

/* Runs this program as `child` with KMUTEX_STAT=value, its stderr into err_path. */
static int run_child(const char *value, const char *err_path)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		FILE *err = freopen(err_path, "w", stderr);

		if (!err)
			_exit(126);
		setenv("KMUTEX_STAT", value, 1);
		execl("/proc/self/exe", "lock_stat", "child", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return n;
}

static const char *out_dir = "build/observability";

static void test_kmutex_stat_path(void)
{
	char path[512], csv_path[600], err_path[600], buf[8192];

	snprintf(path, sizeof(path), "%s/child-report.txt", out_dir);
	snprintf(csv_path, sizeof(csv_path), "%s.csv", path);
	snprintf(err_path, sizeof(err_path), "%s/child-stderr.txt", out_dir);
	unlink(path);
	unlink(csv_path);
	CHECK(run_child(path, err_path) == 0);
	CHECK(read_file(path, buf, sizeof(buf)) > 0);
	CHECK(strncmp(buf, "lock_stat version 0.4\n", 22) == 0);
	CHECK(strstr(buf, "class name    con-bounces    contentions") != NULL);
	CHECK(strstr(buf, "      obs child:              0              1 ") != NULL);
	CHECK(read_file(csv_path, buf, sizeof(buf)) > 0);
	CHECK(strncmp(buf, "class,con-bounces,contentions,", 30) == 0);
	CHECK(strstr(buf, "\n\"obs child\",0,1,") != NULL);
	CHECK(read_file(err_path, buf, sizeof(buf)) == 0); /* nothing on stderr */
}

static void test_kmutex_stat_1(void)
{
	char err_path[600], buf[8192];

	snprintf(err_path, sizeof(err_path), "%s/child-stderr.txt", out_dir);
	CHECK(run_child("1", err_path) == 0);
	CHECK(read_file(err_path, buf, sizeof(buf)) > 0);
	CHECK(strncmp(buf, "lock_stat version 0.4\n", 22) == 0);
	CHECK(strstr(buf, "      obs child:              0              1 ") != NULL);
	CHECK(run_child("0", err_path) == 0);
	CHECK(read_file(err_path, buf, sizeof(buf)) == 0); /* off: no report */
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc > 1)
		out_dir = argv[1];
	check_start(120);
	sem_init(&at_point, 0, 0);
	sem_init(&go_on, 0, 0);
	kmutex_stat_enable(1);
	RUN(test_one_contention_that_sleeps);
	RUN(test_one_contention_that_spins);
	RUN(test_one_handoff);
	RUN(test_one_timeout);
	RUN(test_one_interruption);
	RUN(test_off_counts_nothing);
	RUN(test_bounces_and_order);
	RUN(test_report_layout);
	RUN(test_csv_layout);
	RUN(test_kmutex_stat_path);
	RUN(test_kmutex_stat_1);
	return check_finish();
}
