/*
 * krwsem-bench: krwsem against the reader-writer locks a program would otherwise get (issue 22,
 * "Benchmark").  Every lock sits behind the small vtable below; rwbench.c runs the modes.
 */
#ifndef RWBENCH_H
#define RWBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rw_lock {
	const char *name;
	const char *about;
	size_t size;                        /* bytes of lock state; allocated cache-aligned */
	void (*init)(void *lock);
	void (*destroy)(void *lock);
	void (*rdlock)(void *lock);
	void (*rdunlock)(void *lock);
	void (*wrlock)(void *lock);
	void (*wrunlock)(void *lock);
	/* n read (or write) lock+unlock pairs with the calls inlined: the uncontended cost. */
	void (*read_pairs)(void *lock, uint64_t n);
	void (*write_pairs)(void *lock, uint64_t n);
	bool uncontended_only;              /* a variant whose cost alone is of interest */
};

/* absl::Mutex in reader mode (ReaderLock) and writer mode (Lock), from rwlocks_absl.cc. */
extern const struct rw_lock rw_lock_absl;

#endif /* RWBENCH_H */
