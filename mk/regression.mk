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

.PHONY: test-regression
test-regression: $(REGRESSION_DIR)/handoff_abort $(REGRESSION_DIR)/v410/handoff_abort \
		 $(REGRESSION_DIR)/asan/free_after_unlock $(REGRESSION_DIR)/signal_no_leak \
		 $(REGRESSION_DIR)/spin_policy $(REGRESSION_DIR)/kcond_morph $(REGRESSION_DIR)/handoff_time
	@echo "== regression: handoff abort interleaving (mainline rules: must pass)"
	$(MAINLINE_RULE) $(REGRESSION_DIR)/handoff_abort
	@echo "== regression: same interleaving against the v4.10 rule (must fail: lock handed to nobody)"
	@if $(MAINLINE_RULE) $(REGRESSION_DIR)/v410/handoff_abort > $(REGRESSION_DIR)/v410.log 2>&1; then \
		cat $(REGRESSION_DIR)/v410.log; \
		echo "regression: the v4.10 build passed, so the test cannot see the bug"; exit 1; fi
	@grep "lock handed to nobody" $(REGRESSION_DIR)/v410.log
	@echo "regression: v4.10 build fails as it must"
	@echo "== regression: free right after the last unlock (AddressSanitizer)"
	$(MAINLINE_RULE) $(REGRESSION_DIR)/asan/free_after_unlock
	@echo "== regression: a signal interrupts only the wait it lands in"
	$(MAINLINE_RULE) $(REGRESSION_DIR)/signal_no_leak
	@echo "== regression: when not to spin: a lock handed to a waiter not yet running, a full OSQ"
	$(MAINLINE_RULE) $(REGRESSION_DIR)/spin_policy
	@echo "== regression: kcond wait morphing: a broadcast on a held mutex moves, never wakes"
	$(REGRESSION_DIR)/kcond_morph
	@echo "== regression: handoff unasked only to a head asleep and long first, with its wakeup"
	KMUTEX_HANDOFF_AFTER_US=1000 $(REGRESSION_DIR)/handoff_time owed
	KMUTEX_HANDOFF_AFTER_US=60000000 $(REGRESSION_DIR)/handoff_time young
	KMUTEX_HANDOFF_AFTER_US=200000 $(REGRESSION_DIR)/handoff_time awake

TESTS += test-regression
