/* Medians over trials and the wait-time histogram. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of any number of values (sorts a copy). */
double bench_median_of(const double *v, int n)
{
	double *sorted, m;

	if (n <= 0)
		return 0;
	sorted = bench_xcalloc((size_t)n, sizeof(*sorted));
	memcpy(sorted, v, (size_t)n * sizeof(*v));
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_double);
	m = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	free(sorted);
	return m;
}

struct bench_spread bench_spread_of(const double *v, int n)
{
	struct bench_spread s = { 0, 0, 0 };
	double sorted[256];

	if (n <= 0)
		return s;
	if (n > 256)
		bench_die("internal: more than 256 trials");
	memcpy(sorted, v, (size_t)n * sizeof(*v));
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_double);
	s.min = sorted[0];
	s.max = sorted[n - 1];
	s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	return s;
}

/*
 * Bucket of v: values below 2^SUB are exact; above, the power of two picks a group of 2^SUB
 * buckets and the next SUB bits below the top bit pick the bucket within it.
 */
static int hist_bucket(uint64_t v)
{
	int top, shift;

	if (v < (1u << BENCH_HIST_SUB))
		return (int)v;
	top = 63 - __builtin_clzll(v);
	shift = top - BENCH_HIST_SUB;
	return ((shift + 1) << BENCH_HIST_SUB) + (int)((v >> shift) & ((1u << BENCH_HIST_SUB) - 1));
}

/* The largest value that falls in a bucket. */
uint64_t bench_hist_bucket_upper(int bucket)
{
	int group = bucket >> BENCH_HIST_SUB, sub = bucket & ((1 << BENCH_HIST_SUB) - 1);
	int shift;

	if (group == 0)
		return (uint64_t)bucket;
	shift = group - 1;
	return ((((uint64_t)1 << BENCH_HIST_SUB) + (uint64_t)sub + 1) << shift) - 1;
}

void bench_hist_add(struct bench_hist *h, uint64_t v)
{
	h->count[hist_bucket(v)]++;
	h->n++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (int i = 0; i < BENCH_HIST_BUCKETS; i++)
		into->count[i] += from->count[i];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

/* Upper edge of the bucket holding quantile q (never above the true maximum). */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->n)
		return 0;
	rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen > rank) {
			uint64_t up = bench_hist_bucket_upper(i);

			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}
