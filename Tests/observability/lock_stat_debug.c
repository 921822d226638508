/*
 * The debug build sees every call (KMUTEX_DEBUG in the caller and the library): acquisitions,
 * acq-bounces and hold times are exact, uncontended calls are no contentions, and the report
 * fills the acquisition columns.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "kmutex.h"
#include "lock_stat.h"

static DEFINE_KMUTEX(dbg_outer);
static DEFINE_KMUTEX(dbg_inner);

static void lock_unlock_n(struct kmutex *m, int n)
{
	for (int i = 0; i < n; i++) {
		kmutex_lock(m);
		kmutex_unlock(m);
	}
}

static void *five_times(void *arg)
{
	lock_unlock_n(arg, 5);
	return NULL;
}

static void test_acquisitions_and_bounces(void)
{
	struct kmx_stat_snapshot s;
	pthread_t t;

	kmutex_stat_reset();
	lock_unlock_n(&dbg_outer, 10);                 /* main x10: no bounce */
	pthread_create(&t, NULL, five_times, &dbg_outer);
	pthread_join(t, NULL);                         /* T x5: one bounce */
	CHECK(kmutex_trylock(&dbg_outer) == 1);        /* main again: one bounce */
	kmutex_unlock(&dbg_outer);
	CHECK(kmx_stat_get("dbg_outer", &s));
	CHECK(s.acquisitions == 16 && s.acq_bounces == 2);
	CHECK(s.hold_nr == 16 && s.hold_min_ns > 0 && s.hold_min_ns <= s.hold_max_ns);
	CHECK(s.hold_total_ns >= s.hold_max_ns);
	CHECK(s.contentions == 0 && s.wait_nr == 0);
}

/* Nested, released out of order: each hold time is its own mutex's. */
static void test_nested_holds(void)
{
	struct kmx_stat_snapshot outer, inner;

	kmutex_stat_reset();
	kmutex_lock(&dbg_outer);
	kmutex_lock(&dbg_inner);
	kmutex_unlock(&dbg_outer);
	kmutex_unlock(&dbg_inner);
	CHECK(kmx_stat_get("dbg_outer", &outer) && kmx_stat_get("dbg_inner", &inner));
	CHECK(outer.acquisitions == 1 && outer.hold_nr == 1);
	CHECK(inner.acquisitions == 1 && inner.hold_nr == 1);
}

static void test_report_has_acquisitions(void)
{
	char buf[8192];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	const char *row;

	kmutex_stat_dump(f);
	fclose(f);
	row = strstr(buf, "dbg_outer:");
	CHECK(row != NULL);
	/* con-bounces 0, contentions 0, 4 wait times, then acq-bounces 0, acquisitions 1 */
	CHECK(strstr(row, "              0              1 ") != NULL);
	CHECK(strstr(buf, "not seen by this build") == NULL);
}

int main(void)
{
	check_start(60);
	kmutex_stat_enable(1);
	RUN(test_acquisitions_and_bounces);
	RUN(test_nested_holds);
	RUN(test_report_has_acquisitions);
	return check_finish();
}
