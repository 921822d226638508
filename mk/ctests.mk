# C tests of the core: unit tests (also under TSan and ASan/UBSan, and a C++ build of the
# header), debug-check tests (misuse aborts with its one-line message), and a locktorture-style
# stress (a short run in `make test`, a long one in `make torture`).  Outputs in build/ctests/.

CTESTS     := $(BUILD)/ctests
CTEST_HDRS := CShims/include/kmutex.h Tests/unit/check.h
CTEST_TSAN := -O1 -fsanitize=thread
CTEST_ASAN := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# Sanitizer runs fail on the first report (TSan exits 66 by default when it reported anything).
CTEST_TSAN_ENV   := TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
CTEST_ASAN_ENV   := ASAN_OPTIONS="halt_on_error=1 detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1"

CTEST_STRESS_SHORT ?= -d 4 -t 6
CTEST_STRESS_SAN   ?= -d 3 -t 4
TORTURE_ARGS ?= -d 60 -t 12

.PHONY: test-unit test-debug test-stress test-sanitize torture ctests
TESTS += test-unit test-debug test-stress test-sanitize

# $(call ctest_bin,NAME,SOURCES,LIBRARY,FLAGS): build $(CTESTS)/NAME.
define ctest_bin
$(CTESTS)/$(1): $(2) $(3) $(CTEST_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) -ITests/unit $(4) -o $$@ $(2) $(3) -lpthread
endef

$(eval $(call ctest_bin,unit,Tests/unit/unit.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call ctest_bin,unit-tsan,Tests/unit/unit.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))
$(eval $(call ctest_bin,unit-asan,Tests/unit/unit.c,$(BUILD)/asan/libkmutex.a,$(CTEST_ASAN)))
$(eval $(call ctest_bin,kcond,Tests/unit/kcond.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call ctest_bin,kcond-tsan,Tests/unit/kcond.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))
$(eval $(call ctest_bin,kcond-asan,Tests/unit/kcond.c,$(BUILD)/asan/libkmutex.a,$(CTEST_ASAN)))
$(eval $(call ctest_bin,debug-release,Tests/debug/misuse.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call ctest_bin,debug-debug,Tests/debug/misuse.c,$(BUILD)/debug/libkmutex.a,-O1 -DKMUTEX_DEBUG))
$(eval $(call ctest_bin,stress,Tests/stress/stress.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call ctest_bin,stress-tsan,Tests/stress/stress.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))
$(eval $(call ctest_bin,stress-asan,Tests/stress/stress.c,$(BUILD)/asan/libkmutex.a,$(CTEST_ASAN)))
$(eval $(call ctest_bin,kcond-stress,Tests/stress/kcond_stress.c,$(BUILD)/libkmutex.a,-O2))
$(eval $(call ctest_bin,kcond-stress-tsan,Tests/stress/kcond_stress.c,$(BUILD)/tsan/libkmutex.a,$(CTEST_TSAN)))

# The harnesses the misuse tests and the locktorture-style stresses share with krwsem's
# (mk/krwsem.mk, mk/lockdep.mk; mk/arm64.mk, read first, names the folders).
MISUSE_HDRS  := Tests/debug/misuse_harness.h
TORTURE_HDRS := Tests/stress/torture.h
$(addprefix $(CTESTS)/,debug-release debug-debug): $(MISUSE_HDRS)
$(addprefix $(CTESTS)/,stress stress-tsan stress-asan): $(TORTURE_HDRS)

$(CTESTS)/unit-cxx: Tests/unit/cxx.cpp $(BUILD)/libkmutex.a $(CTEST_HDRS)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -Wall -Wextra -Wshadow -Werror -pedantic -g -O2 -ICShims/include -o $@ $< $(BUILD)/libkmutex.a -lpthread

ctests: $(addprefix $(CTESTS)/,unit unit-tsan unit-asan unit-cxx kcond kcond-tsan kcond-asan kcond-stress kcond-stress-tsan debug-release debug-debug stress stress-tsan stress-asan)

test-unit: $(CTESTS)/unit $(CTESTS)/unit-cxx $(CTESTS)/kcond
	$(CTESTS)/unit
	$(CTESTS)/unit-cxx
	$(CTESTS)/kcond

test-debug: $(CTESTS)/debug-release $(CTESTS)/debug-debug
	$(CTESTS)/debug-release
	$(CTESTS)/debug-debug

test-stress: $(CTESTS)/stress $(CTESTS)/kcond-stress
	$(CTESTS)/kcond-stress -d 3 -p 3 -c 3
	$(CTESTS)/kcond-stress -d 2 -p 1 -c 6
	$(CTESTS)/stress $(CTEST_STRESS_SHORT)
	$(CTESTS)/stress $(CTEST_STRESS_SHORT) -o nohandoff
	$(CTESTS)/stress $(CTEST_STRESS_SHORT) -o nospin

test-sanitize: $(CTESTS)/unit-tsan $(CTESTS)/unit-asan $(CTESTS)/stress-tsan $(CTESTS)/stress-asan \
	       $(CTESTS)/kcond-tsan $(CTESTS)/kcond-asan $(CTESTS)/kcond-stress-tsan
	$(CTEST_TSAN_ENV) $(CTESTS)/unit-tsan
	$(CTEST_ASAN_ENV) $(CTESTS)/unit-asan
	$(CTEST_TSAN_ENV) $(CTESTS)/kcond-tsan
	$(CTEST_ASAN_ENV) $(CTESTS)/kcond-asan
	$(CTEST_TSAN_ENV) $(CTESTS)/kcond-stress-tsan -d 2 -p 2 -c 3
	$(CTEST_TSAN_ENV) $(CTESTS)/stress-tsan $(CTEST_STRESS_SAN)
	$(CTEST_ASAN_ENV) $(CTESTS)/stress-asan $(CTEST_STRESS_SAN)

# Long run on demand; e.g. make torture TORTURE_ARGS="-d 60 -t 12 -o nohandoff" to compare.
torture: $(CTESTS)/stress
	$(CTESTS)/stress $(TORTURE_ARGS)
