/*
 * Differential test: kmutex's atomic/barrier layer (CShims/atomic.h) against liburcu's
 * uatomic_* and cmm_smp_* on the same operations.
 *
 *  1. Single-threaded: a seeded random sequence of load/store/xchg/add_return/or/and/cmpxchg
 *     is applied to three words, one through each layer and one through plain C arithmetic
 *     (the model).  Every return value, failed cmpxchg included, and the word after every
 *     operation must agree, on 32- and 64-bit words.
 *  2. Multi-threaded: N threads run the same contended loops through each layer
 *     (add_return, or/and on a shared bitmap, cmpxchg-increment, xchg token passing); totals
 *     must equal what the loops imply, and every value handed out must be handed out once.
 *  3. Barriers: store-buffering litmus rounds with kmx_smp_mb and cmm_smp_mb may never show
 *     the outcome a full fence forbids; message passing with the rmb/wmb pairs likewise.
 *
 * Every atomic here is RELAXED unless stated: the tests check atomicity and return values,
 * and pthread_join orders all results before they are read.  liburcu 0.13's uatomic_* take
 * no order (they are full barriers on x86), so they are the stronger side of each comparison.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include <urcu/arch.h>
#include <urcu/uatomic.h>

#include "atomic.h"
#include "check.h"

#define SEQ_OPS     200000 /* operations per single-threaded sequence */
#define SEQ_SEEDS   4      /* sequences per word size */
#define MT_THREADS  4      /* more threads than cores: preemption mid-loop is part of the test */
#define MT_OPS      200000 /* operations per thread per contended loop */
#define LITMUS_ROUNDS 20000

/* ---- 1. single-threaded sequences ------------------------------------------------------- */

enum seq_op { OP_LOAD, OP_STORE, OP_XCHG, OP_ADD_RETURN, OP_OR, OP_AND, OP_CMPXCHG,
	      OP_TRY_CMPXCHG, NR_SEQ_OPS };

struct seq_stats {
	long cmpxchg_ok, cmpxchg_failed;
};

/* Operands lean on the values where width and sign bugs hide, the rest is uniform. */
static uint64_t pick_operand(uint64_t *rng, uint64_t mask)
{
	static const uint64_t edges[] = { 0, 1, 2, ~0ull, ~0ull - 1, 1ull << 31, (1ull << 31) - 1,
					  1ull << 32, (1ull << 32) - 1, 1ull << 63,
					  0x5555555555555555ull, 0xaaaaaaaaaaaaaaaaull };

	if (rng_below(rng, 4) == 0)
		return edges[rng_below(rng, sizeof(edges) / sizeof(edges[0]))] & mask;
	return rng_next(rng) & mask;
}

/* A cmpxchg's expected value: the current one (succeeds), one bit off, or anything. */
static uint64_t pick_expected(uint64_t *rng, uint64_t current, uint64_t mask, int bits)
{
	switch (rng_below(rng, 4)) {
	case 0:
	case 1:
		return current;
	case 2:
		return (current ^ (1ull << rng_below(rng, bits))) & mask;
	default:
		return pick_operand(rng, mask);
	}
}

/*
 * One sequence on words of type T.  ours goes through kmx_*, theirs through uatomic_*,
 * model through plain C; the three must agree after every step.
 */
#define DEFINE_RUN_SEQUENCE(T, BITS)                                                           \
static void run_sequence_##BITS(uint64_t seed, struct seq_stats *st)                          \
{                                                                                              \
	const uint64_t mask = (T)~(T)0;                                                        \
	uint64_t rng = seed;                                                                   \
	T init = (T)pick_operand(&rng, mask);                                                  \
	T ours = init, theirs = init, model = init;                                            \
                                                                                               \
	for (long i = 0; i < SEQ_OPS; i++) {                                                   \
		enum seq_op op = (enum seq_op)rng_below(&rng, NR_SEQ_OPS);                     \
		T v = (T)pick_operand(&rng, mask), a, b, old;                                   \
		int ok;                                                                        \
                                                                                               \
		switch (op) {                                                                  \
		case OP_LOAD:                                                                  \
			a = kmx_load(&ours, KMX_RELAXED);                                      \
			b = uatomic_read(&theirs);                                             \
			CHECK(a == model && b == model, "%d-bit seed %#" PRIx64 " op %ld load:"\
			      " kmx %#" PRIx64 " urcu %#" PRIx64 " model %#" PRIx64, BITS, seed,\
			      i, (uint64_t)a, (uint64_t)b, (uint64_t)model);                   \
			break;                                                                 \
		case OP_STORE:                                                                 \
			kmx_store(&ours, v, KMX_RELAXED);                                      \
			uatomic_set(&theirs, v);                                               \
			model = v;                                                             \
			break;                                                                 \
		case OP_XCHG:                                                                  \
			a = kmx_xchg(&ours, v, KMX_RELAXED);                                   \
			b = uatomic_xchg(&theirs, v);                                          \
			CHECK(a == model && b == model, "%d-bit seed %#" PRIx64 " op %ld xchg:"\
			      " kmx %#" PRIx64 " urcu %#" PRIx64 " model %#" PRIx64, BITS, seed,\
			      i, (uint64_t)a, (uint64_t)b, (uint64_t)model);                   \
			model = v;                                                             \
			break;                                                                 \
		case OP_ADD_RETURN:                                                            \
			a = kmx_add_return(&ours, v, KMX_RELAXED);                             \
			b = uatomic_add_return(&theirs, v);                                    \
			model = (T)(model + v);                                                \
			CHECK(a == model && b == model, "%d-bit seed %#" PRIx64 " op %ld "     \
			      "add_return: kmx %#" PRIx64 " urcu %#" PRIx64 " model %#" PRIx64,\
			      BITS, seed, i, (uint64_t)a, (uint64_t)b, (uint64_t)model);       \
			break;                                                                 \
		case OP_OR: /* uatomic_or returns nothing: its effect is checked below */     \
			a = kmx_fetch_or(&ours, v, KMX_RELAXED);                               \
			uatomic_or(&theirs, v);                                                \
			CHECK(a == model, "%d-bit seed %#" PRIx64 " op %ld fetch_or returned " \
			      "%#" PRIx64 ", model %#" PRIx64, BITS, seed, i, (uint64_t)a,      \
			      (uint64_t)model);                                                \
			model |= v;                                                            \
			break;                                                                 \
		case OP_AND:                                                                   \
			a = kmx_fetch_and(&ours, v, KMX_RELAXED);                              \
			uatomic_and(&theirs, v);                                               \
			CHECK(a == model, "%d-bit seed %#" PRIx64 " op %ld fetch_and returned "\
			      "%#" PRIx64 ", model %#" PRIx64, BITS, seed, i, (uint64_t)a,      \
			      (uint64_t)model);                                                \
			model &= v;                                                            \
			break;                                                                 \
		case OP_CMPXCHG:                                                               \
			old = (T)pick_expected(&rng, model, mask, BITS);                       \
			a = kmx_cmpxchg(&ours, old, v, KMX_RELAXED);                           \
			b = uatomic_cmpxchg(&theirs, old, v);                                  \
			CHECK(a == model && b == model, "%d-bit seed %#" PRIx64 " op %ld "     \
			      "cmpxchg(old %#" PRIx64 "): kmx %#" PRIx64 " urcu %#" PRIx64     \
			      " model %#" PRIx64, BITS, seed, i, (uint64_t)old, (uint64_t)a,   \
			      (uint64_t)b, (uint64_t)model);                                   \
			if (model == old) {                                                    \
				model = v;                                                     \
				st->cmpxchg_ok++;                                              \
			} else {                                                               \
				st->cmpxchg_failed++;                                          \
			}                                                                      \
			break;                                                                 \
		case OP_TRY_CMPXCHG: /* success flag and the value written back */          \
			old = (T)pick_expected(&rng, model, mask, BITS);                       \
			a = old;                                                               \
			ok = kmx_try_cmpxchg(&ours, &a, v, KMX_RELAXED);                       \
			b = uatomic_cmpxchg(&theirs, old, v);                                  \
			CHECK(ok == (model == old) && a == model && b == model, "%d-bit seed " \
			      "%#" PRIx64 " op %ld try_cmpxchg(old %#" PRIx64 "): ok %d found "\
			      "%#" PRIx64 " urcu %#" PRIx64 " model %#" PRIx64, BITS, seed, i, \
			      (uint64_t)old, ok, (uint64_t)a, (uint64_t)b, (uint64_t)model);  \
			if (ok) {                                                              \
				model = v;                                                     \
				st->cmpxchg_ok++;                                              \
			} else {                                                               \
				st->cmpxchg_failed++;                                          \
			}                                                                      \
			break;                                                                 \
		case NR_SEQ_OPS:                                                               \
			break;                                                                 \
		}                                                                              \
		CHECK(ours == model && theirs == model, "%d-bit seed %#" PRIx64 " after op %ld"\
		      " (%d): kmx word %#" PRIx64 " urcu word %#" PRIx64 " model %#" PRIx64,   \
		      BITS, seed, i, (int)op, (uint64_t)ours, (uint64_t)theirs,                \
		      (uint64_t)model);                                                        \
	}                                                                                      \
}

DEFINE_RUN_SEQUENCE(uint32_t, 32)
DEFINE_RUN_SEQUENCE(uint64_t, 64)

static void test_sequences(uint64_t seed)
{
	struct seq_stats st = { 0, 0 };

	for (int s = 0; s < SEQ_SEEDS; s++) {
		run_sequence_32(seed + (uint64_t)s, &st);
		run_sequence_64(seed + (uint64_t)s, &st);
	}
	/* Both branches of every compare-and-swap were compared, not only the easy one. */
	CHECK(st.cmpxchg_ok > 0 && st.cmpxchg_failed > 0, "ok %ld failed %ld",
	      st.cmpxchg_ok, st.cmpxchg_failed);
	printf("sequences: %d x %d ops on 32- and 64-bit words agree (cmpxchg: %ld succeeded, "
	       "%ld failed, same values returned)\n", 2 * SEQ_SEEDS, SEQ_OPS, st.cmpxchg_ok,
	       st.cmpxchg_failed);
}

/* ---- 2. contended loops, once through each layer ---------------------------------------- */

/* One layer's operations on one word size, as functions so a loop can run on either layer. */
struct layer32 {
	const char *name;
	uint32_t (*add_return)(uint32_t *p, uint32_t v);
	uint32_t (*xchg)(uint32_t *p, uint32_t v);
	uint32_t (*cmpxchg)(uint32_t *p, uint32_t old, uint32_t v);
	void (*or_bits)(uint32_t *p, uint32_t v, int *was_clear);
	void (*and_bits)(uint32_t *p, uint32_t v, int *was_set);
	uint32_t (*read)(uint32_t *p);
};
struct layer64 {
	const char *name;
	uint64_t (*add_return)(uint64_t *p, uint64_t v);
	uint64_t (*xchg)(uint64_t *p, uint64_t v);
	uint64_t (*cmpxchg)(uint64_t *p, uint64_t old, uint64_t v);
	void (*or_bits)(uint64_t *p, uint64_t v, int *was_clear);
	void (*and_bits)(uint64_t *p, uint64_t v, int *was_set);
	uint64_t (*read)(uint64_t *p);
};

/*
 * or_bits/and_bits report whether the bits were clear (set) before, where the layer can say:
 * kmx_fetch_or returns the old word; uatomic_or returns nothing, so it leaves the flag at 1.
 */
#define DEFINE_LAYERS(T, BITS)                                                                 \
static T kmx_add_return_##BITS(T *p, T v) { return kmx_add_return(p, v, KMX_RELAXED); }       \
static T kmx_xchg_##BITS(T *p, T v) { return kmx_xchg(p, v, KMX_RELAXED); }                    \
static T kmx_cmpxchg_##BITS(T *p, T old, T v) { return kmx_cmpxchg(p, old, v, KMX_RELAXED); }  \
static void kmx_or_##BITS(T *p, T v, int *was_clear)                                           \
{ *was_clear = (kmx_fetch_or(p, v, KMX_RELAXED) & v) == 0; }                                   \
static void kmx_and_##BITS(T *p, T v, int *was_set)                                            \
{ *was_set = (kmx_fetch_and(p, v, KMX_RELAXED) & ~v) == (T)~v; }                              \
static T kmx_read_##BITS(T *p) { return kmx_load(p, KMX_RELAXED); }                            \
static T urcu_add_return_##BITS(T *p, T v) { return uatomic_add_return(p, v); }               \
static T urcu_xchg_##BITS(T *p, T v) { return uatomic_xchg(p, v); }                            \
static T urcu_cmpxchg_##BITS(T *p, T old, T v) { return uatomic_cmpxchg(p, old, v); }          \
static void urcu_or_##BITS(T *p, T v, int *was_clear) { uatomic_or(p, v); *was_clear = 1; }  \
static void urcu_and_##BITS(T *p, T v, int *was_set) { uatomic_and(p, v); *was_set = 1; }     \
static T urcu_read_##BITS(T *p) { return uatomic_read(p); }                                    \
static const struct layer##BITS layers##BITS[] = {                                             \
	{ "kmx", kmx_add_return_##BITS, kmx_xchg_##BITS, kmx_cmpxchg_##BITS, kmx_or_##BITS,    \
	  kmx_and_##BITS, kmx_read_##BITS },                                                   \
	{ "urcu", urcu_add_return_##BITS, urcu_xchg_##BITS, urcu_cmpxchg_##BITS,               \
	  urcu_or_##BITS, urcu_and_##BITS, urcu_read_##BITS },                                 \
};

DEFINE_LAYERS(uint32_t, 32)
DEFINE_LAYERS(uint64_t, 64)

/*
 * The contended loops for one word size.  Each thread owns index t of every per-thread
 * array; the shared words are written only through the layer under test.
 */
#define NR_TOKENS (MT_THREADS * MT_OPS)
#define DEFINE_CONTENDED(T, BITS)                                                              \
struct mt_##BITS {                                                                             \
	const struct layer##BITS *layer;                                                       \
	T base;                           /* counter start: near the wrap, so it wraps */     \
	T counter, sum, cas_counter, token_word;                                               \
	T bitmap[NR_TOKENS / BITS + 1];                                                        \
	uint32_t seen[NR_TOKENS + 1];     /* how often each value was handed out */           \
	T deltas_total[MT_THREADS];                                                            \
	long cas_retries[MT_THREADS];                                                          \
	long or_dup[MT_THREADS], and_dup[MT_THREADS];                                          \
	uint64_t seed;                                                                         \
	pthread_barrier_t start;                                                               \
};                                                                                             \
struct mt_arg_##BITS { struct mt_##BITS *mt; int t; };                                          \
                                                                                               \
static void mark_seen_##BITS(struct mt_##BITS *mt, uint64_t index)                            \
{                                                                                              \
	CHECK(index <= NR_TOKENS, "%s %d-bit: value index %" PRIu64 " out of range",           \
	      mt->layer->name, BITS, index);                                                   \
	/* RELAXED: a count; pthread_join publishes it to the checker. */                      \
	__atomic_fetch_add(&mt->seen[index], 1, __ATOMIC_RELAXED);                             \
}                                                                                              \
                                                                                               \
static void *contend_##BITS(void *p)                                                           \
{                                                                                              \
	struct mt_arg_##BITS *arg = p;                                                         \
	struct mt_##BITS *mt = arg->mt;                                                        \
	const struct layer##BITS *L = mt->layer;                                               \
	uint64_t rng = mt->seed + (uint64_t)arg->t;                                            \
	int t = arg->t, flag;                                                                  \
                                                                                               \
	pthread_barrier_wait(&mt->start);                                                      \
	/* add_return by 1: the results are base+1 .. base+N*K, each exactly once. */          \
	for (int i = 0; i < MT_OPS; i++)                                                       \
		mark_seen_##BITS(mt, (T)(L->add_return(&mt->counter, 1) - mt->base) - 1);      \
	/* add_return by random amounts: the total is the sum, modulo the width. */            \
	for (int i = 0; i < MT_OPS; i++) {                                                     \
		T d = (T)rng_next(&rng);                                                       \
		L->add_return(&mt->sum, d);                                                    \
		mt->deltas_total[t] = (T)(mt->deltas_total[t] + d);                            \
	}                                                                                      \
	/* cmpxchg increments: retry with the value found until ours lands. */                 \
	for (int i = 0; i < MT_OPS; i++) {                                                     \
		T seen = L->read(&mt->cas_counter), found;                                     \
		while ((found = L->cmpxchg(&mt->cas_counter, seen, (T)(seen + 1))) != seen) {  \
			seen = found;                                                          \
			mt->cas_retries[t]++;                                                  \
		}                                                                              \
	}                                                                                      \
	/* Bits interleaved across threads, so every word is fought over. */                  \
	for (int i = 0; i < MT_OPS; i++) {                                                     \
		int bit = i * MT_THREADS + t;                                                  \
		L->or_bits(&mt->bitmap[bit / BITS], (T)1 << (bit % BITS), &flag);              \
		mt->or_dup[t] += !flag;                                                        \
	}                                                                                      \
	pthread_barrier_wait(&mt->start); /* every bit is set before any is cleared */       \
	for (int i = 0; i < MT_OPS; i++) {                                                     \
		int bit = i * MT_THREADS + t;                                                  \
		L->and_bits(&mt->bitmap[bit / BITS], (T)~((T)1 << (bit % BITS)), &flag);       \
		mt->and_dup[t] += !flag;                                                       \
	}                                                                                      \
	/* xchg token passing: each token put in comes out exactly once (or stays). */         \
	for (int i = 0; i < MT_OPS; i++)                                                       \
		mark_seen_##BITS(mt, L->xchg(&mt->token_word, (T)(t * MT_OPS + i + 1)));        \
	return NULL;                                                                           \
}                                                                                              \
                                                                                               \
static void check_contended_##BITS(struct mt_##BITS *mt)                                       \
{                                                                                              \
	const char *name = mt->layer->name;                                                    \
	T deltas = 0;                                                                          \
	long retries = 0;                                                                      \
                                                                                               \
	for (int t = 0; t < MT_THREADS; t++) {                                                 \
		deltas = (T)(deltas + mt->deltas_total[t]);                                    \
		retries += mt->cas_retries[t];                                                 \
		CHECK(mt->or_dup[t] == 0 && mt->and_dup[t] == 0, "%s %d-bit thread %d: %ld "  \
		      "bits already set by or, %ld already clear at and", name, BITS, t,       \
		      mt->or_dup[t], mt->and_dup[t]);                                          \
	}                                                                                      \
	CHECK(mt->counter == (T)(mt->base + NR_TOKENS), "%s %d-bit add_return total %#"        \
	      PRIx64 ", expected %#" PRIx64, name, BITS, (uint64_t)mt->counter,                \
	      (uint64_t)(T)(mt->base + NR_TOKENS));                                            \
	CHECK(mt->sum == deltas, "%s %d-bit add_return random total %#" PRIx64 ", expected %#"\
	      PRIx64, name, BITS, (uint64_t)mt->sum, (uint64_t)deltas);                        \
	CHECK(mt->cas_counter == NR_TOKENS, "%s %d-bit cmpxchg increments: %" PRIu64           \
	      ", expected %d", name, BITS, (uint64_t)mt->cas_counter, NR_TOKENS);              \
	for (size_t w = 0; w < sizeof(mt->bitmap) / sizeof(mt->bitmap[0]); w++)                \
		CHECK(mt->bitmap[w] == 0, "%s %d-bit bitmap word %zu left %#" PRIx64, name,    \
		      BITS, w, (uint64_t)mt->bitmap[w]);                                       \
	/* Counter indexes 0..N*K-1 and tokens 1..N*K (0 = the initial word) were each seen   \
	 * once from add_return and once from xchg, except the token still in the word. */     \
	mark_seen_##BITS(mt, mt->token_word);                                                  \
	for (int v = 0; v <= NR_TOKENS; v++) {                                                 \
		uint32_t expect = (v == NR_TOKENS ? 0 : 1) + 1;                                \
		CHECK(mt->seen[v] == expect, "%s %d-bit value %d handed out %u times, "        \
		      "expected %u", name, BITS, v, mt->seen[v], expect);                      \
	}                                                                                      \
	printf("contended %-4s %d-bit: %d threads x %d ops: add_return, or/and, xchg exact; " \
	       "cmpxchg total exact after %ld retries\n", name, BITS, MT_THREADS, MT_OPS,      \
	       retries);                                                                       \
}                                                                                              \
                                                                                               \
static void test_contended_##BITS(uint64_t seed)                                               \
{                                                                                              \
	for (size_t l = 0; l < sizeof(layers##BITS) / sizeof(layers##BITS[0]); l++) {         \
		struct mt_##BITS *mt = calloc(1, sizeof(*mt));                                 \
		struct mt_arg_##BITS args[MT_THREADS];                                         \
		pthread_t tid[MT_THREADS];                                                     \
                                                                                               \
		CHECK(mt != NULL, "out of memory");                                            \
		mt->layer = &layers##BITS[l];                                                  \
		mt->seed = seed;                                                               \
		mt->base = (T)(0 - NR_TOKENS / 2);                                             \
		mt->counter = mt->base;                                                        \
		pthread_barrier_init(&mt->start, NULL, MT_THREADS);                            \
		for (int t = 0; t < MT_THREADS; t++) {                                         \
			args[t] = (struct mt_arg_##BITS){ mt, t };                             \
			CHECK(pthread_create(&tid[t], NULL, contend_##BITS, &args[t]) == 0,    \
			      "pthread_create");                                               \
		}                                                                              \
		for (int t = 0; t < MT_THREADS; t++)                                           \
			pthread_join(tid[t], NULL);                                            \
		check_contended_##BITS(mt);                                                    \
		pthread_barrier_destroy(&mt->start);                                           \
		free(mt);                                                                      \
	}                                                                                      \
}

DEFINE_CONTENDED(uint32_t, 32)
DEFINE_CONTENDED(uint64_t, 64)

/* ---- 3. barrier litmus tests -------------------------------------------------------------- */

enum fence_kind { FENCE_KMX, FENCE_URCU, FENCE_NONE };
static const char *const fence_names[] = { "kmx_smp_mb", "cmm_smp_mb", "compiler barrier" };

struct litmus {
	enum fence_kind fence;
	int x[LITMUS_ROUNDS], y[LITMUS_ROUNDS];  /* fresh locations every round */
	int r[2][LITMUS_ROUNDS];                 /* what each side read */
	unsigned round[2];                       /* each side's round, for the lockstep */
};
struct litmus_arg { struct litmus *lt; int side; };

/*
 * Lockstep: a side starts round i once the other has reached it, so the two sides' accesses
 * overlap in time.  ACQUIRE pairs with the RELEASE store of the other side's round.
 */
static void litmus_sync(struct litmus *lt, int side, unsigned i)
{
	kmx_store(&lt->round[side], i, KMX_RELEASE);
	for (unsigned spins = 0; kmx_load(&lt->round[!side], KMX_ACQUIRE) < i; spins++) {
		if (spins > 200)
			sched_yield(); /* the other side is not running: give it our core */
		else
			kmx_cpu_relax();
	}
}

static void litmus_fence(enum fence_kind kind)
{
	if (kind == FENCE_KMX)
		kmx_smp_mb();
	else if (kind == FENCE_URCU)
		cmm_smp_mb();
	else
		cmm_barrier();
}

/*
 * Store buffering: side 0 stores x then loads y, side 1 stores y then loads x.  With a full
 * fence between store and load, both loads cannot miss both stores.  The RELAXED accesses
 * are ordered by the fence under test and nothing else.
 */
static void *store_buffering(void *p)
{
	struct litmus_arg *arg = p;
	struct litmus *lt = arg->lt;
	int side = arg->side;

	for (unsigned i = 1; i < LITMUS_ROUNDS; i++) {
		litmus_sync(lt, side, i);
		kmx_store(side ? &lt->y[i] : &lt->x[i], 1, KMX_RELAXED);
		litmus_fence(lt->fence);
		lt->r[side][i] = kmx_load(side ? &lt->x[i] : &lt->y[i], KMX_RELAXED);
	}
	return NULL;
}

/* Run both sides of a litmus test to the end; the caller reads lt->r and frees lt. */
static struct litmus *run_litmus(void *(*side_fn)(void *), enum fence_kind fence)
{
	struct litmus *lt = calloc(1, sizeof(*lt));
	struct litmus_arg args[2] = { { lt, 0 }, { lt, 1 } };
	pthread_t tid[2];

	CHECK(lt != NULL, "out of memory");
	lt->fence = fence;
	for (int s = 0; s < 2; s++)
		CHECK(pthread_create(&tid[s], NULL, side_fn, &args[s]) == 0, "pthread_create");
	for (int s = 0; s < 2; s++)
		pthread_join(tid[s], NULL);
	return lt;
}

static long run_store_buffering(enum fence_kind fence)
{
	struct litmus *lt = run_litmus(store_buffering, fence);
	long both_missed = 0;

	for (unsigned i = 1; i < LITMUS_ROUNDS; i++)
		both_missed += lt->r[0][i] == 0 && lt->r[1][i] == 0;
	free(lt);
	return both_missed;
}

/*
 * Message passing: side 0 writes data, wmb, flag; side 1 reads flag, rmb, data.  Seeing the
 * flag without the data is forbidden with the read/write barrier pair of either layer.
 */
static void *message_passing(void *p)
{
	struct litmus_arg *arg = p;
	struct litmus *lt = arg->lt;
	int side = arg->side;

	for (unsigned i = 1; i < LITMUS_ROUNDS; i++) {
		litmus_sync(lt, side, i);
		if (side == 0) {
			kmx_store(&lt->x[i], 1, KMX_RELAXED);  /* data */
			if (lt->fence == FENCE_KMX)
				kmx_smp_wmb();
			else
				cmm_smp_wmb();
			kmx_store(&lt->y[i], 1, KMX_RELAXED);  /* flag */
		} else {
			int flag = kmx_load(&lt->y[i], KMX_RELAXED);

			if (lt->fence == FENCE_KMX)
				kmx_smp_rmb();
			else
				cmm_smp_rmb();
			lt->r[1][i] = flag && !kmx_load(&lt->x[i], KMX_RELAXED);
		}
	}
	return NULL;
}

static long run_message_passing(enum fence_kind fence)
{
	struct litmus *lt = run_litmus(message_passing, fence);
	long stale = 0;

	for (unsigned i = 1; i < LITMUS_ROUNDS; i++)
		stale += lt->r[1][i];
	free(lt);
	return stale;
}

static void test_barriers(void)
{
	for (enum fence_kind f = FENCE_KMX; f <= FENCE_URCU; f++) {
		long sb = run_store_buffering(f), mp = run_message_passing(f);

		CHECK(sb == 0, "%s: store buffering showed both loads missing in %ld rounds",
		      fence_names[f], sb);
		CHECK(mp == 0, "%s: message passing saw the flag without the data in %ld rounds",
		      fence_names[f], mp);
		printf("litmus %-10s: %d store-buffering and message-passing rounds, 0 forbidden "
		       "outcomes\n", fence_names[f], LITMUS_ROUNDS - 1);
	}
	/* The control shows the store-buffering test can see the reordering a fence forbids
	 * (how often depends on scheduling, so it is reported, not asserted). */
	printf("litmus control (%s only): both loads missed in %ld of %d rounds\n",
	       fence_names[FENCE_NONE], run_store_buffering(FENCE_NONE), LITMUS_ROUNDS - 1);
}

int main(void)
{
	struct timespec now;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &now);
	seed = test_seed((uint64_t)now.tv_sec * 1000000007ull + (uint64_t)now.tv_nsec);
	printf("atomics_diff: seed %#" PRIx64 " (replay with URCU_TEST_SEED=%#" PRIx64 ")\n",
	       seed, seed);
	test_sequences(seed);
	test_contended_32(seed);
	test_contended_64(seed);
	test_barriers();
	printf("atomics_diff: PASS\n");
	return 0;
}
