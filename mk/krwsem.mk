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
$(eval $(call krwsem_bin,stress,Tests/stress/rwsem_stress.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call krwsem_bin,stress-tsan,Tests/stress/rwsem_stress.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))
$(eval $(call krwsem_bin,stress-asan,Tests/stress/rwsem_stress.c,$(BUILD)/asan/libkmutex.a,$(CTEST_ASAN)))

$(KRWSEM_DIR)/unit-cxx: Tests/unit/krwsem_cxx.cpp $(BUILD)/libkmutex.a $(KRWSEM_TEST_HDRS)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -Wall -Wextra -Wshadow -Werror -pedantic -g -O2 -ICShims/include -o $@ $< $(BUILD)/libkmutex.a -lpthread

KRWSEM_STRESS_ARGS ?= -d 2
KRWSEM_TORTURE_ARGS ?= -d 60 -r 8 -w 4

.PHONY: test-krwsem krwsem-torture
test-krwsem: $(KRWSEM_DIR)/unit $(KRWSEM_DIR)/unit-cxx $(KRWSEM_DIR)/unit-tsan $(KRWSEM_DIR)/unit-asan \
	     $(KRWSEM_DIR)/stress $(KRWSEM_DIR)/stress-tsan $(KRWSEM_DIR)/stress-asan
	@echo "== krwsem: unit tests"
	@$(call krwsem_run,120,unit,$(KRWSEM_DIR)/unit)
	@$(call krwsem_run,60,unit-cxx,$(KRWSEM_DIR)/unit-cxx)
	@echo "== krwsem: unit tests under TSan"
	@$(call krwsem_run,240,unit-tsan,env $(CTEST_TSAN_ENV) $(KRWSEM_DIR)/unit-tsan)
	@echo "== krwsem: unit tests under ASan/UBSan"
	@$(call krwsem_run,240,unit-asan,env $(CTEST_ASAN_ENV) $(KRWSEM_DIR)/unit-asan)
	@echo "== krwsem: locktorture-style stress (readers, writers, plain/timed/interruptible/try, signals)"
	@$(call krwsem_run,60,stress,$(KRWSEM_DIR)/stress $(KRWSEM_STRESS_ARGS))
	@$(call krwsem_run,60,stress nospin,$(KRWSEM_DIR)/stress $(KRWSEM_STRESS_ARGS) -o nospin -r 6 -w 2)
	@$(call krwsem_run,120,stress-tsan,env $(CTEST_TSAN_ENV) $(KRWSEM_DIR)/stress-tsan $(KRWSEM_STRESS_ARGS) -r 3 -w 3)
	@$(call krwsem_run,120,stress-asan,env $(CTEST_ASAN_ENV) $(KRWSEM_DIR)/stress-asan $(KRWSEM_STRESS_ARGS) -r 3 -w 3)

# Long run on demand.
krwsem-torture: $(KRWSEM_DIR)/stress
	$(KRWSEM_DIR)/stress $(KRWSEM_TORTURE_ARGS)

TESTS += test-krwsem
