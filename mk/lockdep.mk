# lockdep (issue 11): lock-order validation in the debug build, KMUTEX_LOCKDEP=1.
#  - test-lockdep: the kernel selftest scenarios (Tests/lockdep/scenarios.c), each reported or
#    not as the kernel's lockdep would, once; then clean runs (no report allowed) of the unit
#    tests, the kcond tests, the stress test, and krwsem's unit tests and stress, built against
#    the debug library.
#  - bench-lockdep: cost per lock+unlock with lockdep on, against the unchecked debug build,
#    Helgrind and gcc's ThreadSanitizer, and what each finds (Tests/lockdep/bench.c).
# Outputs in build/lockdep/.  Every binary runs under `timeout`.

LOCKDEP_DIR     := $(BUILD)/lockdep
LOCKDEP_TIMEOUT ?= 120
LOCKDEP_CFLAGS  := $(CFLAGS_BASE) -ITests/unit -O1 -DKMUTEX_DEBUG -rdynamic
LOCKDEP_STRESS  ?= -d 3 -t 4

# $(call lockdep_run,COMMAND,WHAT): COMMAND under timeout; say which one hung or failed.
lockdep_run = timeout $(LOCKDEP_TIMEOUT) $(1); rc=$$?; \
	if [ $$rc = 124 ]; then echo "lockdep: $(2) timed out after $(LOCKDEP_TIMEOUT) s (a hang)"; exit 1; \
	elif [ $$rc != 0 ]; then echo "lockdep: $(2) failed (exit status $$rc)"; exit 1; fi

# $(call lockdep_clean,BINARY ARGS,WHAT[,N]): run with KMUTEX_LOCKDEP=1; a report, or lockdep
# turning itself off (a table full), fails, but for N "recursive locking" reports the program
# provokes on purpose (default 0); notices (more than 48 locks held) are shown.
lockdep_clean = $(call lockdep_run,env KMUTEX_LOCKDEP=1 $(1) 2> $(LOCKDEP_DIR)/$(2).err > $(LOCKDEP_DIR)/$(2).out,$(2)); \
	grep "kmutex lockdep:" $(LOCKDEP_DIR)/$(2).err; \
	rec=$$(grep -c "WARNING: possible recursive locking detected" $(LOCKDEP_DIR)/$(2).err); \
	if grep -q "WARNING: possible circular\|lockdep turned off" $(LOCKDEP_DIR)/$(2).err || \
	   [ "$$rec" != "$(or $(3),0)" ]; then \
		cat $(LOCKDEP_DIR)/$(2).err; echo "lockdep: $(2) produced an unexpected lockdep report"; exit 1; fi; \
	tail -n 1 $(LOCKDEP_DIR)/$(2).out; echo "lockdep: $(2): clean run, no report but the $(or $(3),0) provoked on purpose"

$(LOCKDEP_DIR)/scenarios: Tests/lockdep/scenarios.c CShims/lockdep.h $(CTEST_HDRS) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread
# The validator itself under ASan+UBSan (the library sources built in, debug build).
$(LOCKDEP_DIR)/scenarios-asan: Tests/lockdep/scenarios.c $(KMUTEX_SRCS) $(KMUTEX_HDRS) $(CTEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) $(CTEST_ASAN) -o $@ $< $(KMUTEX_SRCS) -lpthread
$(LOCKDEP_DIR)/unit: Tests/unit/unit.c $(CTEST_HDRS) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread
$(LOCKDEP_DIR)/kcond: Tests/unit/kcond.c $(CTEST_HDRS) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread
$(LOCKDEP_DIR)/stress: Tests/stress/stress.c $(CTEST_HDRS) $(TORTURE_HDRS) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread

# krwsem (issue 22): its unit tests and its stress, debug build, KMUTEX_LOCKDEP=1: no report.
$(LOCKDEP_DIR)/krwsem-unit: Tests/unit/krwsem.c $(CTEST_HDRS) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread
$(LOCKDEP_DIR)/krwsem-stress: Tests/stress/rwsem_stress.c $(CTEST_HDRS) $(TORTURE_HDRS) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread

# The kcond unit test is in flight on main; run it when it is there.
LOCKDEP_KCOND := $(if $(wildcard Tests/unit/kcond.c),kcond)

.PHONY: test-lockdep
test-lockdep: $(addprefix $(LOCKDEP_DIR)/,scenarios scenarios-asan unit $(LOCKDEP_KCOND) stress krwsem-unit krwsem-stress)
	@echo "== lockdep: kernel selftest scenarios (each reported or not, exactly once)"
	@$(call lockdep_run,$(LOCKDEP_DIR)/scenarios,scenarios)
	@echo "== lockdep: the same scenarios, validator under ASan+UBSan"
	@$(call lockdep_run,env ASAN_OPTIONS=detect_leaks=0 $(LOCKDEP_DIR)/scenarios-asan > $(LOCKDEP_DIR)/scenarios-asan.out,scenarios-asan); tail -n 1 $(LOCKDEP_DIR)/scenarios-asan.out
	@echo "== lockdep: clean runs with KMUTEX_LOCKDEP=1 (debug build): unit $(LOCKDEP_KCOND) stress krwsem-unit krwsem-stress"
	@$(call lockdep_clean,$(LOCKDEP_DIR)/unit,unit)
	@$(if $(LOCKDEP_KCOND),$(call lockdep_clean,$(LOCKDEP_DIR)/kcond,kcond))
	@$(call lockdep_clean,$(LOCKDEP_DIR)/stress $(LOCKDEP_STRESS),stress)
	@# test_layered_edeadlk asks again for the lock it holds for write, on purpose (-EDEADLK):
	@# lockdep reports that AA once, before the core's answer.
	@$(call lockdep_clean,$(LOCKDEP_DIR)/krwsem-unit,krwsem-unit,1)
	@$(call lockdep_clean,$(LOCKDEP_DIR)/krwsem-stress -d 2 -r 3 -w 2,krwsem-stress)

TESTS += test-lockdep

# ---- bench-lockdep: cost and coverage against Helgrind and gcc's TSan ----------------------
LOCKDEP_BENCH_SRC := Tests/lockdep/bench.c
$(LOCKDEP_DIR)/bench-kmutex: $(LOCKDEP_BENCH_SRC) $(BUILD)/debug/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(LOCKDEP_CFLAGS) -o $@ $< $(BUILD)/debug/libkmutex.a -lpthread
$(LOCKDEP_DIR)/bench-pthread: $(LOCKDEP_BENCH_SRC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DUSE_PTHREAD -o $@ $< -lpthread
$(LOCKDEP_DIR)/bench-tsan: $(LOCKDEP_BENCH_SRC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -DUSE_PTHREAD -fsanitize=thread -o $@ $< -lpthread

.PHONY: bench-lockdep
bench-lockdep: $(addprefix $(LOCKDEP_DIR)/,bench-kmutex bench-pthread bench-tsan)
	Tests/lockdep/bench.sh $(LOCKDEP_DIR) | tee $(LOCKDEP_DIR)/bench.txt
