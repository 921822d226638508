/*
 * The state of one Relacy iteration that the KMX_RELACY layer needs (kmx_relacy.h): the shadow
 * cells of the words the core touches atomically, the per-thread descriptors, the ghost clock,
 * the scenario's CPU count, and the stores a variant sinks.  A scenario (scenarios.cpp) holds
 * one as a member, so Relacy builds it afresh for each iteration.
 */
#ifndef KMX_RL_WORLD_H
#define KMX_RL_WORLD_H

#include "task.h"

namespace kmx_rl {

enum { NCELLS = 96, NTHREADS = 4, NSUNK = 4 };

struct cell_rec {
	const void *addr;
	unsigned size;
	uint64_t through; /* what the cell last wrote to the real memory */
	uint64_t base;    /* the word's value when the cell was made */
};

struct sunk_store {
	void *addr;
	unsigned size;
	uint64_t bits;
	const char *func;
};

struct world {
	cell_atomic cells[NCELLS];
	cell_rec rec[NCELLS];
	unsigned ncells;
	struct kmutex_task tasks[NTHREADS];
	struct kmutex_task *current[NTHREADS];
	uint32_t interrupt_pending[NTHREADS];
	sunk_store sunk[NTHREADS][NSUNK];
	unsigned nsunk[NTHREADS];
	uint64_t clock_ns;   /* CLOCK_MONOTONIC and CLOCK_REALTIME alike */
	uint64_t clock_step; /* ns added by every clock read */
	int ncpus;           /* what sched_getaffinity reports */
	/* Thread t's rseq area (sched_view.c): 1 while the thread lives, 0 once freed; plain
	 * data, so a read the protocol does not order before the free is a DATA RACE. */
	rl::var<int> rseq_alive[NTHREADS];

	world(uint64_t step, int cpus);
	~world();
};

} /* namespace kmx_rl */

#endif /* KMX_RL_WORLD_H */
