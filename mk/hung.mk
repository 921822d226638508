# Issue 24: the hung-task watchdog (CShims/hung_task.c, docs/hung-task.md).
# test-hung runs each scenario of Tests/hung/hung.c with KMUTEX_HUNG_TIMEOUT set, on the
# release library, under ASan+UBSan and under TSan, and a pthread ABBA under the preload.
# The programs wait for report text and for watchdog scans, never for a time; a report that
# never comes is caught by `timeout`, which names the scenario.  About 45 s in all, most of it
# the timeouts the scenarios must outlast.  Outputs in build/hung/.

HUNG_DIR     := $(BUILD)/hung
HUNG_CFLAGS  := $(CFLAGS_BASE) -ITests/hung -ITests/unit -O1 -rdynamic
HUNG_HDRS    := Tests/hung/harness.h CShims/hung_task.h CShims/task.h CShims/include/kmutex.h \
                CShims/include/krwsem.h
HUNG_LIMIT   ?= 120

$(HUNG_DIR)/hung: Tests/hung/hung.c $(HUNG_HDRS) $(BUILD)/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(HUNG_CFLAGS) -o $@ $< $(BUILD)/libkmutex.a -lpthread -ldl
$(HUNG_DIR)/hung-asan: Tests/hung/hung.c $(HUNG_HDRS) $(BUILD)/asan/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(HUNG_CFLAGS) $(CTEST_ASAN) -o $@ $< $(BUILD)/asan/libkmutex.a -lpthread -ldl
$(HUNG_DIR)/hung-tsan: Tests/hung/hung.c $(HUNG_HDRS) $(BUILD)/tsan/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(HUNG_CFLAGS) $(CTEST_TSAN) -o $@ $< $(BUILD)/tsan/libkmutex.a -lpthread -ldl
# Plain pthread code: it knows kmutex only through the preload.
$(HUNG_DIR)/abba_pthread: Tests/hung/abba_pthread.c $(HUNG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HUNG_CFLAGS) -pthread -o $@ $< -ldl

# $(call hung_run,TIMEOUT_S,WHAT,COMMAND): COMMAND with KMUTEX_HUNG_TIMEOUT=TIMEOUT_S, under
# timeout; the log (the reports) is kept in $(HUNG_DIR)/WHAT.log.
define hung_run
	@echo "== hung-task: $(2) (KMUTEX_HUNG_TIMEOUT=$(1))"
	@timeout -k 5 $(HUNG_LIMIT) env KMUTEX_HUNG_TIMEOUT=$(1) $(3) > $(HUNG_DIR)/$(2).log 2>&1; rc=$$?; \
	if [ $$rc -eq 124 ]; then cat $(HUNG_DIR)/$(2).log; \
		echo "TIMEOUT: hung-task $(2): the expected report never came in $(HUNG_LIMIT) s" >&2; exit 1; fi; \
	if [ $$rc -ne 0 ]; then cat $(HUNG_DIR)/$(2).log; echo "FAIL: hung-task $(2) (exit $$rc)" >&2; exit 1; fi; \
	grep -h "^hung\|^progress" $(HUNG_DIR)/$(2).log
endef

# The progressing run: timeout 2 s against critical sections under 1 us and waits of at most
# a few scheduler periods: a report needs one wait blocked 2 s and still blocked 1 s later.
.PHONY: test-hung
test-hung: $(addprefix $(HUNG_DIR)/,hung hung-asan hung-tsan abba_pthread) $(PTHREAD_SO)
	$(call hung_run,1,abba,$(HUNG_DIR)/hung abba)
	$(call hung_run,1,abba-preload,env LD_PRELOAD=$(abspath $(PTHREAD_SO)) $(HUNG_DIR)/abba_pthread)
	$(call hung_run,1,cycle3,$(HUNG_DIR)/hung cycle3)
	$(call hung_run,1,rwsem,$(HUNG_DIR)/hung rwsem)
	$(call hung_run,1,owner,$(HUNG_DIR)/hung owner)
	$(call hung_run,1,condvar,$(HUNG_DIR)/hung condvar)
	$(call hung_run,1,moved,$(HUNG_DIR)/hung moved)
	$(call hung_run,1,stale,$(HUNG_DIR)/hung stale)
	$(call hung_run,2,progress,$(HUNG_DIR)/hung progress 6)
	@echo "== hung-task: KMUTEX_HUNG_ABORT=1 aborts after the report"
	@ulimit -c 0; timeout -k 5 $(HUNG_LIMIT) env KMUTEX_HUNG_TIMEOUT=1 KMUTEX_HUNG_ABORT=1 $(HUNG_DIR)/hung abort \
		> $(HUNG_DIR)/abort.log 2>&1; rc=$$?; \
	if [ $$rc -ne 134 ] || ! grep -q "^Found 1 deadlock" $(HUNG_DIR)/abort.log || \
	   ! grep -q "KMUTEX_HUNG_ABORT=1: aborting after the report" $(HUNG_DIR)/abort.log; then \
		cat $(HUNG_DIR)/abort.log; echo "FAIL: hung-task abort: exit $$rc, want 134 (SIGABRT) after the report" >&2; exit 1; fi; \
	echo "hung abort: SIGABRT after the deadlock report"
	$(call hung_run,1,abba-asan,env $(CTEST_ASAN_ENV) $(HUNG_DIR)/hung-asan abba)
	$(call hung_run,1,owner-asan,env $(CTEST_ASAN_ENV) $(HUNG_DIR)/hung-asan owner)
	$(call hung_run,1,condvar-asan,env $(CTEST_ASAN_ENV) $(HUNG_DIR)/hung-asan condvar)
	$(call hung_run,1,stale-asan,env $(CTEST_ASAN_ENV) $(HUNG_DIR)/hung-asan stale)
	$(call hung_run,1,abba-tsan,env $(CTEST_TSAN_ENV) $(HUNG_DIR)/hung-tsan abba)
	$(call hung_run,1,owner-tsan,env $(CTEST_TSAN_ENV) $(HUNG_DIR)/hung-tsan owner)
	$(call hung_run,1,condvar-tsan,env $(CTEST_TSAN_ENV) $(HUNG_DIR)/hung-tsan condvar)
	$(call hung_run,1,rwsem-tsan,env $(CTEST_TSAN_ENV) $(HUNG_DIR)/hung-tsan rwsem)
	$(call hung_run,1,stale-tsan,env $(CTEST_TSAN_ENV) $(HUNG_DIR)/hung-tsan stale)
	@echo "hung-task: all scenarios reported as expected"

TESTS += test-hung

# bench-hung: the watchdog scan's cost against the number of thread descriptors
# (docs/hung-task.md, "Cost"); not part of make test.
$(HUNG_DIR)/scan_cost: Tests/hung/scan_cost.c CShims/hung_task.h $(BUILD)/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 -o $@ $< $(BUILD)/libkmutex.a -lpthread

.PHONY: bench-hung
bench-hung: $(HUNG_DIR)/scan_cost
	@for n in 1 100 1000 4000; do timeout -k 5 120 env KMUTEX_HUNG_TIMEOUT=0.02 $< $$n watchdog || exit 1; done
	@for n in 1 100 1000 4000; do timeout -k 5 120 env KMUTEX_HUNG_TIMEOUT=100000 $< $$n || exit 1; done
