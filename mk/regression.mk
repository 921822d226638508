# Deterministic regression tests of races, driven by pause points (build/hooks).
# handoff_abort must also fail against build/v410, the v4.10 handoff rule: that proves it can
# see the bug.  free_after_unlock runs with AddressSanitizer (the library sources built in).
REGRESSION_DIR := $(BUILD)/regression

REGRESSION_HDRS := $(wildcard Tests/regression/*.h)

$(REGRESSION_DIR)/%: Tests/regression/%.c $(REGRESSION_HDRS) $(BUILD)/hooks/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DKMUTEX_TEST_HOOKS $< $(BUILD)/hooks/libkmutex.a -lpthread -o $@

$(REGRESSION_DIR)/v410/%: Tests/regression/%.c $(REGRESSION_HDRS) $(BUILD)/v410/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DKMUTEX_TEST_HOOKS $< $(BUILD)/v410/libkmutex.a -lpthread -o $@

$(REGRESSION_DIR)/asan/%: Tests/regression/%.c $(REGRESSION_HDRS) $(KMUTEX_SRCS) $(KMUTEX_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DKMUTEX_TEST_HOOKS -fsanitize=address,undefined -fno-omit-frame-pointer \
		$< $(KMUTEX_SRCS) -lpthread -o $@

# The interleavings below are built around mainline's rule (the head asks for the lock after
# one failed wakeup): KMUTEX_HANDOFF_AFTER_US=0 restores it.  handoff_time tests the default.
MAINLINE_RULE := KMUTEX_HANDOFF_AFTER_US=0
# Each run under a time limit that names the test and shows its threads if it hangs.
REGRESSION_TIMED = scripts/run-timed.sh 120

.PHONY: test-regression
test-regression: $(REGRESSION_DIR)/handoff_abort $(REGRESSION_DIR)/v410/handoff_abort \
		 $(REGRESSION_DIR)/asan/free_after_unlock $(REGRESSION_DIR)/signal_no_leak \
		 $(REGRESSION_DIR)/spin_policy $(REGRESSION_DIR)/kcond_morph $(REGRESSION_DIR)/handoff_time \
		 $(REGRESSION_DIR)/spin_owner_cpu
	@echo "== regression: handoff abort interleaving (mainline rules: must pass)"
	$(REGRESSION_TIMED) "regression: handoff_abort" env $(MAINLINE_RULE) $(REGRESSION_DIR)/handoff_abort
	@echo "== regression: same interleaving against the v4.10 rule (must fail: lock handed to nobody)"
	@if $(REGRESSION_TIMED) "regression: handoff_abort (must fail)" env $(MAINLINE_RULE) $(REGRESSION_DIR)/v410/handoff_abort > $(REGRESSION_DIR)/v410.log 2>&1; then \
		cat $(REGRESSION_DIR)/v410.log; \
		echo "regression: the v4.10 build passed, so the test cannot see the bug"; exit 1; fi
	@grep "lock handed to nobody" $(REGRESSION_DIR)/v410.log
	@echo "regression: v4.10 build fails as it must"
	@echo "== regression: free right after the last unlock (AddressSanitizer)"
	$(REGRESSION_TIMED) "regression: free_after_unlock" env $(MAINLINE_RULE) $(REGRESSION_DIR)/asan/free_after_unlock
	@echo "== regression: a signal interrupts only the wait it lands in"
	$(REGRESSION_TIMED) "regression: signal_no_leak" env $(MAINLINE_RULE) $(REGRESSION_DIR)/signal_no_leak
	@echo "== regression: when not to spin: a lock handed to a waiter not yet running, a full OSQ"
	$(REGRESSION_TIMED) "regression: spin_policy" env $(MAINLINE_RULE) $(REGRESSION_DIR)/spin_policy
	@echo "== regression: no spinning against an owner that cannot run (rseq cpu_id), nor by a real-time caller"
	$(REGRESSION_TIMED) "regression: spin_owner_cpu" $(REGRESSION_DIR)/spin_owner_cpu
	@echo "== regression: the same with the scheduler hidden from the library (must fail: the rules are out)"
	@$(REGRESSION_TIMED) "regression: spin_owner_cpu (must fail)" env SCHED_VIEW_OFF=1 \
		$(REGRESSION_DIR)/spin_owner_cpu > $(REGRESSION_DIR)/sched_view_off.log 2>&1; rc=$$?; \
	grep -E "^(FAIL|SKIP)" $(REGRESSION_DIR)/sched_view_off.log; \
	for rule in "owner last ran here" "real-time caller"; do \
		grep -qE "^(FAIL|SKIP) $$rule" $(REGRESSION_DIR)/sched_view_off.log || { \
			cat $(REGRESSION_DIR)/sched_view_off.log; \
			echo "regression: '$$rule' passed without the rules (exit $$rc), so the test cannot see them"; \
			exit 1; }; \
	done; \
	if [ $$rc = 1 ]; then echo "regression: fails without the rules as it must"; \
	elif [ $$rc = 0 ]; then echo "regression: both rules SKIPPED here (no rseq area, no SCHED_FIFO)"; \
	else echo "regression: spin_owner_cpu (must fail) ended with status $$rc"; exit 1; fi
	@echo "== regression: kcond wait morphing: a broadcast on a held mutex moves, never wakes"
	$(REGRESSION_TIMED) "regression: kcond_morph" $(REGRESSION_DIR)/kcond_morph
	@echo "== regression: handoff unasked only to a head asleep and long first, with its wakeup"
	$(REGRESSION_TIMED) "regression: handoff_time owed" env KMUTEX_HANDOFF_AFTER_US=1000 $(REGRESSION_DIR)/handoff_time owed
	$(REGRESSION_TIMED) "regression: handoff_time young" env KMUTEX_HANDOFF_AFTER_US=60000000 $(REGRESSION_DIR)/handoff_time young
	$(REGRESSION_TIMED) "regression: handoff_time awake" env KMUTEX_HANDOFF_AFTER_US=200000 $(REGRESSION_DIR)/handoff_time awake

TESTS += test-regression
