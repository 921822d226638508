# TSan and fences (issue 23 item 5; verify/README.md, "TSan and fences"): the seed's handoff
# acceptance under TSan, three ways.  kmx_smp_mb__after_read() must be clean; no barrier (the
# seed's bug) must be reported; a plain fence (correct, but TSan cannot see it) is reported too,
# which is why the core's fence-based site uses the helper.  Under a second each.
TSAN_FENCE_DIR := $(BUILD)/tsan-fence
TSAN_FENCE_ENV := TSAN_OPTIONS="halt_on_error=1 exitcode=66"

$(TSAN_FENCE_DIR)/fence-%: Tests/tsan/fence.c CShims/atomic.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -Wno-error=tsan -O1 -fsanitize=thread \
		-DBARRIER=$(if $(filter helper,$*),0,$(if $(filter none,$*),1,2)) $< -o $@ -lpthread

.PHONY: test-tsan-fence
test-tsan-fence: $(TSAN_FENCE_DIR)/fence-helper $(TSAN_FENCE_DIR)/fence-none $(TSAN_FENCE_DIR)/fence-fence
	@$(TSAN_FENCE_ENV) timeout 60 $(TSAN_FENCE_DIR)/fence-helper > $(TSAN_FENCE_DIR)/helper.log 2>&1 || \
		{ cat $(TSAN_FENCE_DIR)/helper.log; echo "tsan-fence: the helper was reported (or hung): FAILED"; exit 1; }
	@echo "tsan-fence helper: clean, as it must be"
	@for v in none fence; do \
		$(TSAN_FENCE_ENV) timeout 60 $(TSAN_FENCE_DIR)/fence-$$v > $(TSAN_FENCE_DIR)/$$v.log 2>&1; rc=$$?; \
		if [ $$rc = 66 ] && grep -q "ThreadSanitizer: data race" $(TSAN_FENCE_DIR)/$$v.log; then \
			echo "tsan-fence $$v: data race reported, as it must be"; \
		else cat $(TSAN_FENCE_DIR)/$$v.log; echo "tsan-fence $$v: exit $$rc, no race report: FAILED"; exit 1; fi; \
	done

TESTS += test-tsan-fence
