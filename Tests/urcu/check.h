/*
 * Shared by the liburcu comparison tests: a failing check prints one line naming the
 * comparison and exits non-zero; a seeded generator makes every operation sequence
 * reproducible from the seed the test prints.
 */
#ifndef URCU_CHECK_H
#define URCU_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...) do {                                                   \
	if (!(cond)) {                                                          \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
		fprintf(stderr, __VA_ARGS__);                                   \
		fputc('\n', stderr);                                            \
		exit(1);                                                        \
	}                                                                       \
} while (0)

/* splitmix64: tiny, full-period, and good enough to pick operations and operands. */
static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rng_below(uint64_t *state, uint64_t bound)
{
	return rng_next(state) % bound;
}

/* The seed: $URCU_TEST_SEED when set (to replay a failure), otherwise the given default. */
static inline uint64_t test_seed(uint64_t fallback)
{
	const char *env = getenv("URCU_TEST_SEED");

	return env && *env ? strtoull(env, NULL, 0) : fallback;
}

#endif /* URCU_CHECK_H */
