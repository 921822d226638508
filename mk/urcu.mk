# Tests/urcu: kmutex compared against liburcu (issue 5).  liburcu comes from scripts/deps.sh;
# its flags are looked up when a recipe runs (`=`, not `:=`), after `make test` ran deps.
# liburcu 0.13 ships no liburcu-common.pc: liburcu.pc already links -lurcu-common.
URCU_PKGS     = liburcu liburcu-cds
URCU_CFLAGS   = $(shell pkg-config --cflags $(URCU_PKGS))
URCU_LIBS     = $(shell pkg-config --libs $(URCU_PKGS))
URCU_BUILD   := $(BUILD)/urcu
URCU_HDRS    := Tests/urcu/check.h CShims/atomic.h CShims/futex.h

# Header-only comparisons (atomic.h, futex.h), built like the release library.
$(URCU_BUILD)/atomics_diff: Tests/urcu/atomics_diff.c $(URCU_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 $(URCU_CFLAGS) $< -o $@ $(URCU_LIBS) -lpthread
$(URCU_BUILD)/futex_diff: Tests/urcu/futex_diff.c $(URCU_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 $(URCU_CFLAGS) $< -o $@ $(URCU_LIBS) -lpthread
# RCU readers against kmutex-serialized updaters, under AddressSanitizer.
$(URCU_BUILD)/rcu_mutex: Tests/urcu/rcu_mutex.c Tests/urcu/check.h $(BUILD)/asan/libkmutex.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		$(URCU_CFLAGS) $< -o $@ $(BUILD)/asan/libkmutex.a $(URCU_LIBS) -lpthread

.PHONY: test-urcu-atomics test-urcu-futex test-urcu-rcu-mutex
test-urcu-atomics: $(URCU_BUILD)/atomics_diff
	$<
test-urcu-futex: $(URCU_BUILD)/futex_diff
	$<
test-urcu-rcu-mutex: $(URCU_BUILD)/rcu_mutex
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $<

TESTS += test-urcu-atomics test-urcu-futex test-urcu-rcu-mutex
