# Issue 4: the side-by-side benchmark.  `make bench` (several minutes: the throughput sweep,
# issue 9's condvar mode and real programs under the pthread preload, issue 10's observability
# costs, issue 22's reader-writer locks (krwsem-bench, about 2 minutes); longer when other work
# holds the CPUs, and the report marks such cells), issue 21's FlexGuard-shaped one-lock
# benchmark against a plain futex lock (flexbench.sh, about 25 s), `make
# bench-full` (the long sweep); test-bench-smoke runs every mode and lock for a fraction of a
# second each and checks the output is well formed (no timing assertions).
# docs/perf-analysis.md reads the columns.

BENCH_DIR     := $(BUILD)/bench
BENCH_SRC     := Tests/benchmark
BENCH_C       := $(wildcard $(BENCH_SRC)/*.c)
BENCH_OBJS    := $(patsubst $(BENCH_SRC)/%.c,$(BENCH_DIR)/obj/%.o,$(BENCH_C)) $(BENCH_DIR)/obj/locks_absl.o
BENCH_CFLAGS  := $(CFLAGS_BASE) -O2
# Recursive (=), so pkg-config runs when the recipes do: after `deps` has installed absl.
BENCH_ABSL     = $(shell pkg-config --cflags absl_synchronization)
BENCH_LIBS     = $(shell pkg-config --libs absl_synchronization) -lck -lm -lpthread
SWIFTC        ?= $(firstword $(shell command -v swiftc 2>/dev/null) $(wildcard /opt/swift/usr/bin/swiftc))
BENCH_PEER    := $(if $(SWIFTC),$(BENCH_DIR)/swift-mutex-peer)

.PHONY: bench bench-full bench-programs test-bench-smoke bench-deps bench-preload bench-flex

# Issue 9: real programs on glibc and under LD_PRELOAD=libkmutex-pthread.so (programs.sh),
# plus two pthread-API programs of our own (preload/), built against glibc alone.
BENCH_PRELOAD ?= $(abspath $(BUILD)/libkmutex-pthread.so)
BENCH_PT_DIR  := $(BENCH_DIR)/preload
BENCH_PT      := $(BENCH_PT_DIR)/pt_uncontended $(BENCH_PT_DIR)/pt_lockskew \
		 $(BENCH_PT_DIR)/pt_rw_uncontended $(BENCH_PT_DIR)/pt_rwskew \
		 $(BENCH_PT_DIR)/pt_flexguard
# the programs' run: medians over interleaved trials, about 2 minutes
define bench_preload_run
	$(BENCH_SRC)/programs.sh $(BENCH_PRELOAD) $(1) $(BENCH_PT_DIR)
endef
# Issue 21 item 6: one lock, one cache line, 2-32 threads; glibc's default and ADAPTIVE mutexes,
# a plain inline futex lock and the preload, interleaved (flexbench.sh; PROFILE quick, ~25 s,
# or full, ~3 minutes).
define bench_flex_run
	$(BENCH_SRC)/flexbench.sh $(BENCH_PRELOAD) $(1) $(BENCH_PT_DIR) $(2)
endef

# deps first (order-only: it never forces a rebuild), so a fresh machine gets libck and absl.
$(BENCH_DIR)/obj/%.o: $(BENCH_SRC)/%.c $(BENCH_SRC)/bench.h $(KMUTEX_HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -c $< -o $@

$(BENCH_DIR)/obj/locks_absl.o: $(BENCH_SRC)/locks_absl.cc $(BENCH_SRC)/bench.h | deps
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror $(BENCH_ABSL) -I$(BENCH_SRC) -c $< -o $@

# Linked with g++ for absl's C++ runtime.
$(BENCH_DIR)/kmutex-bench: $(BENCH_OBJS) $(BUILD)/libkmutex.a
	$(CXX) -o $@ $(BENCH_OBJS) $(BUILD)/libkmutex.a $(BENCH_LIBS)

$(BENCH_DIR)/swift-mutex-peer: $(BENCH_SRC)/SwiftMutexPeer.swift
	@mkdir -p $(@D)
	$(SWIFTC) -O -parse-as-library $< -o $@

# Issue 22: krwsem against glibc's rwlock kinds, absl's reader mode and kmutex
# (Tests/benchmark/rwlock/rwbench.c; about a minute in the quick profile).  Its own program,
# sharing kmutex-bench's time, busy-work and statistics code.
RWBENCH_SRC   := $(BENCH_SRC)/rwlock
RWBENCH_OBJS  := $(BENCH_DIR)/obj/rwbench.o $(BENCH_DIR)/obj/rwlocks_absl.o \
		 $(BENCH_DIR)/obj/util.o $(BENCH_DIR)/obj/stats.o
RWBENCH       := $(BENCH_DIR)/krwsem-bench

$(BENCH_DIR)/obj/rwbench.o: $(RWBENCH_SRC)/rwbench.c $(RWBENCH_SRC)/rwbench.h $(BENCH_SRC)/bench.h $(KMUTEX_HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -c $< -o $@

$(BENCH_DIR)/obj/rwlocks_absl.o: $(RWBENCH_SRC)/rwlocks_absl.cc $(RWBENCH_SRC)/rwbench.h | deps
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror $(BENCH_ABSL) -I$(RWBENCH_SRC) -c $< -o $@

$(RWBENCH): $(RWBENCH_OBJS) $(BUILD)/libkmutex.a
	$(CXX) -o $@ $(RWBENCH_OBJS) $(BUILD)/libkmutex.a $(BENCH_LIBS)

bench-programs: $(BENCH_DIR)/kmutex-bench $(RWBENCH) $(BENCH_PEER) $(BENCH_PT)

$(BENCH_PT_DIR)/%: $(BENCH_SRC)/preload/%.c $(BENCH_SRC)/preload/preloaded.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 -pthread -o $@ $<
# The rwlock writer-starvation shape of test-pthread (Tests/pthread/rwskew.c), for figures.
$(BENCH_PT_DIR)/pt_rwskew: Tests/pthread/rwskew.c $(BENCH_SRC)/preload/preloaded.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 -pthread -o $@ $<

# sysbench, stress-ng, rocksdb-tools, memcached, libmemcached-tools: for make bench only
# (unbound and dnsperf come with make deps: test-pthread-rwprograms needs them).
bench-deps: deps
	@BENCH=1 scripts/deps.sh

# lib: builds libkmutex-pthread.so where the pthread drop-in is (programs.sh skips without it).
bench-preload: bench-deps lib $(BENCH_PT)
	$(call bench_preload_run,$(BENCH_DIR))

# The FlexGuard-shaped benchmark alone (results in build/bench/flexbench.*).
bench-flex: lib $(BENCH_PT)
	$(call bench_flex_run,$(BENCH_DIR),quick)

define bench_run
	$(if $(SWIFTC),,@echo "bench: swiftc not found: the swift-mutex column is skipped")
	$(BENCH_DIR)/kmutex-bench all $(1) --out $(2)
	$(BENCH_SRC)/plot.sh $(2)
endef

bench: bench-programs bench-deps lib
	$(call bench_run,--quick,$(BENCH_DIR))
	mkdir -p $(BENCH_DIR)/rwlock && $(RWBENCH) all --quick --out $(BENCH_DIR)/rwlock
	$(BENCH_SRC)/plot.sh $(BENCH_DIR)/rwlock
	$(call bench_preload_run,$(BENCH_DIR))
	$(call bench_flex_run,$(BENCH_DIR),quick)

bench-full: bench-programs bench-deps lib
	$(call bench_run,--full,$(BENCH_DIR)/full)
	mkdir -p $(BENCH_DIR)/full/rwlock && $(RWBENCH) all --full --out $(BENCH_DIR)/full/rwlock
	$(BENCH_SRC)/plot.sh $(BENCH_DIR)/full/rwlock
	PROGRAMS_TRIALS=7 $(call bench_preload_run,$(BENCH_DIR)/full)
	$(call bench_flex_run,$(BENCH_DIR)/full,full)

# The preload too: the smoke runs the FlexGuard-shaped benchmark under it (about a second).
test-bench-smoke: bench-programs $(BUILD)/libkmutex-pthread.so
	$(BENCH_SRC)/smoke.sh $(BENCH_DIR)/kmutex-bench $(BENCH_DIR)/smoke $(RWBENCH) $(BENCH_PRELOAD)

TESTS += test-bench-smoke
