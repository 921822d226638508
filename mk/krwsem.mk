# krwsem, the reader-writer semaphore (CShims/krwsem.c): unit tests (also under TSan and
# ASan/UBSan, and a C++ build of the header), misuse tests, a locktorture-style stress, and
# deterministic regression tests of the kernel's rwsem bugs, each of which must fail against a
# library built with its fix taken out (KRWSEM_BUG_*).  Every binary runs under `timeout`,
# which names the test that hung.  Outputs in build/krwsem/.

KRWSEM_DIR := $(BUILD)/krwsem
KRWSEM_TEST_HDRS := CShims/include/kmutex.h CShims/include/krwsem.h Tests/unit/check.h

# $(call krwsem_run,SECONDS,NAME,COMMAND...): run under timeout; say which test hung.
krwsem_run = timeout -k 5 $(1) $(3) || { rc=$$?; [ $$rc -eq 124 ] && echo "TIMEOUT: krwsem $(2) ran longer than $(1) s" >&2; exit $$rc; }

# $(call krwsem_bin,NAME,SOURCE,LIBRARY,FLAGS)
define krwsem_bin
$(KRWSEM_DIR)/$(1): $(2) $(3) $(KRWSEM_TEST_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) -ITests/unit $(4) -o $$@ $(2) $(3) -lpthread
endef

$(eval $(call krwsem_bin,unit,Tests/unit/krwsem.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call krwsem_bin,unit-tsan,Tests/unit/krwsem.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))
$(eval $(call krwsem_bin,unit-asan,Tests/unit/krwsem.c,$(BUILD)/asan/libkmutex.a,$(CTEST_ASAN)))
$(eval $(call krwsem_bin,misuse,Tests/debug/rwsem_misuse.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call krwsem_bin,misuse-debug,Tests/debug/rwsem_misuse.c,$(BUILD)/debug/libkmutex.a,-O1 -DKMUTEX_DEBUG))
$(eval $(call krwsem_bin,stress-debug,Tests/stress/rwsem_stress.c,$(BUILD)/debug/libkmutex.a,-O1 -DKMUTEX_DEBUG))
$(eval $(call krwsem_bin,stress,Tests/stress/rwsem_stress.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call krwsem_bin,stress-tsan,Tests/stress/rwsem_stress.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))
$(eval $(call krwsem_bin,stress-asan,Tests/stress/rwsem_stress.c,$(BUILD)/asan/libkmutex.a,$(CTEST_ASAN)))
# The harnesses shared with the kmutex tests (mk/ctests.mk).
$(addprefix $(KRWSEM_DIR)/,misuse misuse-debug): $(MISUSE_HDRS)
$(addprefix $(KRWSEM_DIR)/,stress stress-debug stress-tsan stress-asan): $(TORTURE_HDRS)

$(KRWSEM_DIR)/unit-cxx: Tests/unit/krwsem_cxx.cpp $(BUILD)/libkmutex.a $(KRWSEM_TEST_HDRS)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -Wall -Wextra -Wshadow -Werror -pedantic -g -O2 -ICShims/include -o $@ $< $(BUILD)/libkmutex.a -lpthread

KRWSEM_STRESS_ARGS ?= -d 2
KRWSEM_TORTURE_ARGS ?= -d 60 -r 8 -w 4

.PHONY: test-krwsem krwsem-torture
test-krwsem: $(KRWSEM_DIR)/unit $(KRWSEM_DIR)/unit-cxx $(KRWSEM_DIR)/misuse $(KRWSEM_DIR)/misuse-debug \
	     $(KRWSEM_DIR)/stress-debug $(KRWSEM_DIR)/unit-tsan $(KRWSEM_DIR)/unit-asan \
	     $(KRWSEM_DIR)/stress $(KRWSEM_DIR)/stress-tsan $(KRWSEM_DIR)/stress-asan
	@echo "== krwsem: unit tests"
	@$(call krwsem_run,120,unit,$(KRWSEM_DIR)/unit)
	@$(call krwsem_run,60,unit-cxx,$(KRWSEM_DIR)/unit-cxx)
	@echo "== krwsem: misuse aborts with its one-line message"
	@$(call krwsem_run,120,misuse,$(KRWSEM_DIR)/misuse)
	@$(call krwsem_run,120,misuse-debug,$(KRWSEM_DIR)/misuse-debug)
	@echo "== krwsem: unit tests under TSan"
	@$(call krwsem_run,240,unit-tsan,env $(CTEST_TSAN_ENV) $(KRWSEM_DIR)/unit-tsan)
	@echo "== krwsem: unit tests under ASan/UBSan"
	@$(call krwsem_run,240,unit-asan,env $(CTEST_ASAN_ENV) $(KRWSEM_DIR)/unit-asan)
	@echo "== krwsem: locktorture-style stress (readers, writers, plain/timed/interruptible/try, signals)"
	@$(call krwsem_run,60,stress,$(KRWSEM_DIR)/stress $(KRWSEM_STRESS_ARGS))
	@$(call krwsem_run,60,stress nospin,$(KRWSEM_DIR)/stress $(KRWSEM_STRESS_ARGS) -o nospin -r 6 -w 2)
	@$(call krwsem_run,120,stress-tsan,env $(CTEST_TSAN_ENV) $(KRWSEM_DIR)/stress-tsan $(KRWSEM_STRESS_ARGS) -r 3 -w 3)
	@$(call krwsem_run,120,stress-asan,env $(CTEST_ASAN_ENV) $(KRWSEM_DIR)/stress-asan $(KRWSEM_STRESS_ARGS) -r 3 -w 3)
	@echo "== krwsem: stress on the debug library (wait list, flags and wakeups checked at every wait_lock)"
	@$(call krwsem_run,60,stress-debug,$(KRWSEM_DIR)/stress-debug $(KRWSEM_STRESS_ARGS))
	@echo "== krwsem: the same with HANDOFF at a head's first failed try (KRWSEM_HANDOFF_AFTER_US=0)"
	@$(call krwsem_run,60,stress handoff-always,env KRWSEM_HANDOFF_AFTER_US=0 $(KRWSEM_DIR)/stress $(KRWSEM_STRESS_ARGS))
	@$(call krwsem_run,120,stress-tsan handoff-always,env KRWSEM_HANDOFF_AFTER_US=0 $(CTEST_TSAN_ENV) $(KRWSEM_DIR)/stress-tsan $(KRWSEM_STRESS_ARGS) -r 3 -w 3)

# Long run on demand.
krwsem-torture: $(KRWSEM_DIR)/stress
	$(KRWSEM_DIR)/stress $(KRWSEM_TORTURE_ARGS)

TESTS += test-krwsem

# ---- deterministic regression tests of the kernel's rwsem rules (Tests/regression/rwsem_rules.c)
# Each case runs against build/hooks (must pass) and against a library built with its fix taken
# out (must fail, with its message): that proves the test can see the bug.
KRWSEM_BUGS := handoff_left no_wake_next bias_late handoff_ignored no_recursion stale_record woken_kept
$(foreach b,$(KRWSEM_BUGS),$(eval $(call kmutex_lib,$(BUILD)/krwsem-bug/$(b),-O1 -DKMUTEX_TEST_HOOKS -DKRWSEM_BUG_$(shell echo $(b) | tr a-z A-Z))))

$(KRWSEM_DIR)/rules: Tests/regression/rwsem_rules.c $(BUILD)/hooks/libkmutex.a $(KRWSEM_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DKMUTEX_TEST_HOOKS $< $(BUILD)/hooks/libkmutex.a -lpthread -o $@

$(KRWSEM_DIR)/rules-%: Tests/regression/rwsem_rules.c $(BUILD)/krwsem-bug/%/libkmutex.a $(KRWSEM_TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DKMUTEX_TEST_HOOKS $< $(BUILD)/krwsem-bug/$*/libkmutex.a -lpthread -o $@

# $(call krwsem_rule,CASE,BUG,ENV,MESSAGE): CASE passes as built, fails with MESSAGE when BUG
# is put back.
define krwsem_rule
	@echo "== krwsem regression: $(1) (must pass)"
	@$(call krwsem_run,60,rules $(1),env $(3) $(KRWSEM_DIR)/rules $(1))
	@echo "== krwsem regression: $(1) with KRWSEM_BUG_$(2) (must fail)"
	@timeout -k 5 60 env $(3) $(KRWSEM_DIR)/rules-$(shell echo $(2) | tr A-Z a-z) $(1) > $(KRWSEM_DIR)/rules-$(1).log 2>&1; \
	rc=$$?; cat $(KRWSEM_DIR)/rules-$(1).log; \
	if [ $$rc -eq 0 ]; then echo "krwsem: $(1) passed with its fix taken out, so it cannot see the bug" >&2; exit 1; fi; \
	if ! grep -q "$(4)" $(KRWSEM_DIR)/rules-$(1).log; then echo "krwsem: $(1) with the bug failed (status $$rc) without its message" >&2; exit 1; fi
	@echo "krwsem regression: $(1) failed as it must with KRWSEM_BUG_$(2)"
endef

KRWSEM_H0 := KRWSEM_HANDOFF_AFTER_US=0

.PHONY: test-krwsem-regression
test-krwsem-regression: $(KRWSEM_DIR)/rules $(addprefix $(KRWSEM_DIR)/rules-,$(KRWSEM_BUGS))
	$(call krwsem_rule,handoff-left,HANDOFF_LEFT,$(KRWSEM_H0),HANDOFF left behind by a waiter that left)
	$(call krwsem_rule,wake-next,NO_WAKE_NEXT,,reader stranded)
	$(call krwsem_rule,bias-late,BIAS_LATE,,its bias is not counted)
	$(call krwsem_rule,no-thieves,HANDOFF_IGNORED,$(KRWSEM_H0),while HANDOFF was set)
	$(call krwsem_rule,recursive,NO_RECURSION,$(KRWSEM_H0),recursive read blocked behind a waiting writer)
	$(call krwsem_rule,stale-record,STALE_RECORD,,read lock granted beside a writer)
	$(call krwsem_rule,woken-retry,WOKEN_KEPT,,a lost wakeup)

TESTS += test-krwsem-regression

# The short measurement behind the HANDOFF time (docs/rwsem.md): waits under continuous
# overlapping readers and under continuous writers, for each H, interleaved.  Figures only.
$(eval $(call krwsem_bin,bound,Tests/stress/rwsem_bound.c,$(BUILD)/libkmutex.a,-O2))
KRWSEM_BOUND_H ?= 1000 4000
.PHONY: krwsem-bound
krwsem-bound: $(KRWSEM_DIR)/bound
	@for round in 1 2 3; do for h in $(KRWSEM_BOUND_H); do \
		KRWSEM_HANDOFF_AFTER_US=$$h $(KRWSEM_DIR)/bound writer -t 4 -h 200 -d 2; \
		KRWSEM_HANDOFF_AFTER_US=$$h $(KRWSEM_DIR)/bound reader -t 2 -h 200 -d 2; \
	done; done
