/*
 * The lock tools on krwsem, release build (issue 22, item 6), as a layered API (the pthread
 * drop-in) gets them through krwsem's krwsem__ entry points:
 *  - lock_stat per mode: a reader that waits behind a writer counts in "rws-R" only, a writer
 *    that waits behind a reader in "rws-W" only, a read that times out as an R timeout; the
 *    table and the CSV print both rows.  Each waiter is known to be waiting before the holder
 *    lets go, because the holder waits for the statistics to count its contention: no timing.
 *  - acquisitions and hold times: counted per mode for the layered calls, not for the public
 *    ones (whose fast paths the release build leaves as they are).
 *  - lockdep through the layered calls: this program run again with KMUTEX_LOCKDEP=1
 *    (`rwsem_tools lockdep-child`) takes two krwsems in read/write ABBA and must be reported
 *    once, as rlock/lock; a recursive read must not be.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "kmutex.h"
#include "lock_stat.h"

static DEFINE_KRWSEM(rws);

static struct kmx_stat_snapshot row(const char *name)
{
	struct kmx_stat_snapshot s;

	if (!kmx_stat_get(name, &s))
		memset(&s, 0, sizeof(s));
	return s;
}

/* Until the statistics have counted `n` contentions in row `name` (the waiter is in). */
static void wait_for_contentions(const char *name, uint64_t n)
{
	while (row(name).contentions < n)
		usleep(1000);
}

enum op { READ, WRITE, READ_TIMEOUT };
struct waiter { enum op op; int ret; };

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct timespec deadline;

	switch (w->op) {
	case READ:
		w->ret = krwsem__down_read(&rws, 0, NULL);
		if (!w->ret)
			krwsem__up_read(&rws);
		break;
	case WRITE:
		w->ret = krwsem__down_write(&rws, 0, NULL);
		if (!w->ret)
			krwsem__up_write(&rws);
		break;
	case READ_TIMEOUT: /* the writer holds until this returns: it times out */
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += 20000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		w->ret = krwsem__down_read(&rws, KMUTEX__TIMED, &deadline);
		break;
	}
	return NULL;
}

/*
 * holder_write: the main thread holds rws for write (else read) while one waiter contends;
 * *ret: the waiter's lock call's.
 */
static void contend(bool holder_write, enum op op, const char *waiter_row, int *ret)
{
	struct waiter w = { op, -1 };
	uint64_t before = row(waiter_row).contentions;
	pthread_t t;

	CHECK((holder_write ? krwsem__down_write(&rws, 0, NULL) : krwsem__down_read(&rws, 0, NULL)) == 0);
	CHECK(pthread_create(&t, NULL, waiter_main, &w) == 0);
	if (op == READ_TIMEOUT)
		CHECK(pthread_join(t, NULL) == 0);
	else
		wait_for_contentions(waiter_row, before + 1);
	holder_write ? krwsem__up_write(&rws) : krwsem__up_read(&rws);
	if (op != READ_TIMEOUT)
		CHECK(pthread_join(t, NULL) == 0);
	*ret = w.ret;
}

static void test_per_mode(void)
{
	struct kmx_stat_snapshot r, w;
	int ret = -1;

	kmutex_stat_reset();
	contend(true, READ, "rws-R", &ret);
	CHECK(ret == 0);    /* a reader waits for the writer */
	r = row("rws-R");
	w = row("rws-W");
	/* slept, or got it without sleeping if the writer left as it was about to queue */
	CHECK(r.contentions == 1 && r.wait_nr == 1 && r.spin_acquired + r.slept == 1);
	CHECK(w.contentions == 0);                  /* the holder took it uncontended */
	CHECK(r.acquisitions == 1 && w.acquisitions == 1); /* layered calls: followed */
	CHECK(r.hold_nr == 1 && w.hold_nr == 1);

	contend(false, WRITE, "rws-W", &ret);        /* a writer waits for the reader */
	CHECK(ret == 0);
	r = row("rws-R");
	w = row("rws-W");
	CHECK(w.contentions == 1 && w.wait_nr == 1 && w.spin_acquired + w.slept == 1);
	CHECK(r.contentions == 1);                  /* unchanged: the holder's read was free */
	CHECK(r.acquisitions == 2 && w.acquisitions == 2);

	contend(true, READ_TIMEOUT, "rws-R", &ret);
	CHECK(ret == -ETIMEDOUT);
	r = row("rws-R");
	CHECK(r.contentions == 2 && r.timeouts == 1 && r.wait_nr == 1); /* not timed, as the kernel */
}

/* The public calls of the release build are not followed: no acquisitions counted. */
static void test_public_calls_not_followed(void)
{
	kmutex_stat_reset();
	krwsem_down_read(&rws);
	krwsem_up_read(&rws);
	krwsem_down_write(&rws);
	krwsem_up_write(&rws);
	CHECK(row("rws-R").acquisitions == 0 && row("rws-W").acquisitions == 0);
	CHECK(krwsem__down_read_try(&rws) == 0);
	krwsem__up_read(&rws);
	CHECK(krwsem__down_write_try(&rws) == 0);
	krwsem__up_write(&rws);
	CHECK(row("rws-R").acquisitions == 1 && row("rws-W").acquisitions == 1);
}

static void test_report_rows(void)
{
	char *text = NULL;
	size_t len = 0;
	int ret = -1;
	FILE *f;

	kmutex_stat_reset();
	contend(true, READ, "rws-R", &ret);
	CHECK(ret == 0);
	contend(false, WRITE, "rws-W", &ret);
	CHECK(ret == 0);
	f = open_memstream(&text, &len);
	kmutex_stat_dump(f);
	fclose(f);
	CHECK(strstr(text, "  rws-W:") && strstr(text, "  rws-R:"));
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	kmutex_stat_dump_csv(f);
	fclose(f);
	CHECK(strstr(text, "\n\"rws-R\",0,1,") && strstr(text, "\n\"rws-W\",0,1,"));
	free(text);
}

/* ---- lockdep through the layered calls ------------------------------------------------- */

static DEFINE_KRWSEM(ld_x);
static DEFINE_KRWSEM(ld_y);

static void lockdep_child(void)
{
	for (int round = 0; round < 2; round++) {
		CHECK(krwsem__down_read(&ld_x, 0, NULL) == 0);
		CHECK(krwsem__down_read(&ld_x, 0, NULL) == 0); /* recursive: no report */
		CHECK(krwsem__down_write(&ld_y, 0, NULL) == 0);
		krwsem__up_write(&ld_y);
		krwsem__up_read(&ld_x);
		krwsem__up_read(&ld_x);
		CHECK(krwsem__down_write(&ld_y, 0, NULL) == 0);
		CHECK(krwsem__down_read_try(&ld_x) == 0);     /* a trylock: no edge, no report */
		krwsem__up_read(&ld_x);
		CHECK(krwsem__down_read(&ld_x, 0, NULL) == 0); /* ld_y -> ld_x: the inversion */
		krwsem__up_read(&ld_x);
		krwsem__up_write(&ld_y);
	}
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static const char *self;

static void test_lockdep_layered(void)
{
	static char buf[1 << 16];
	int pipefd[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	CHECK(pipe(pipefd) == 0);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		setenv("KMUTEX_LOCKDEP", "1", 1);
		execl(self, self, "lockdep-child", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(pipefd[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(count(buf, "WARNING: possible circular locking dependency detected") == 1);
	CHECK(count(buf, "WARNING: possible recursive locking detected") == 0);
	CHECK(strstr(buf, "  lock(ld_y);\n                               rlock(ld_x);\n"
			  "                               lock(ld_y);\n  rlock(ld_x);"));
	if (check_case_failed)
		fprintf(stderr, "lockdep child's stderr:\n%s", buf);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "lockdep-child") == 0) {
		lockdep_child();
		return check_case_failed;
	}
	self = argv[0];
	check_start(60);
	kmutex_stat_enable(1);
	RUN(test_per_mode);
	RUN(test_public_calls_not_followed);
	RUN(test_report_rows);
	RUN(test_lockdep_layered);
	return check_finish();
}
