# Issue 23 item 4: kmutex on arm64 (docs/arm64.md).  `make test-arm64` cross-builds the library,
# the pthread drop-in and the C tests with Debian's gcc-aarch64-linux-gnu into build/arm64 and
# runs them under qemu-user: the unit and kcond tests, the misuse checks, the regression
# interleavings (v4.10's must still fail; free_after_unlock under ASan), short stress runs,
# krwsem's tests, and the pthread API test linked and under LD_PRELOAD through the aarch64
# ld.so.  test-arm64-fastpaths checks the fast paths' ordering instructions in the aarch64
# disassembly (scripts/check-arm64-fastpaths.py).  qemu on x86 runs every guest access in the
# host's TSO order: this checks that kmutex builds, runs and emits the right instructions on
# arm64, never that its orderings are enough there (that is `make verify-weak`).  The runs
# took 22 s at a load of 15 on 2 CPUs and 54 s at a load of 49; a clean build of build/arm64
# adds 20 s on an idle machine, 30 s to a few minutes under such loads.

ARM64          := $(BUILD)/arm64
ARM64_CC       ?= aarch64-linux-gnu-gcc
ARM64_AR       ?= aarch64-linux-gnu-ar
ARM64_OBJDUMP  ?= aarch64-linux-gnu-objdump
ARM64_SYSROOT  ?= /usr/aarch64-linux-gnu
# -L: the guest's ld.so and libraries come from the cross sysroot.  The default CPU (max) has
# LSE, so the outline atomics take their CAS branch; ARM64_QEMU_V80 is an ARMv8.0 core without
# LSE, where the same binaries take the exclusive-load/store branch.
# KMX_TEST_HOST_SYS_FUTEX: the futex syscall's number that /proc shows under qemu, the host's
# (Tests/regression/in_futex.h).
ARM64_HOST_SYS_FUTEX := $(shell printf '\043include <sys/syscall.h>\nSYS_futex\n' | $(CC) -E -P - 2>/dev/null | tail -n 1)
ARM64_QEMU     ?= env KMX_TEST_HOST_SYS_FUTEX=$(ARM64_HOST_SYS_FUTEX) qemu-aarch64 -L $(ARM64_SYSROOT)
ARM64_QEMU_V80 ?= $(ARM64_QEMU) -cpu cortex-a57
# Per program: they took 7.3 s at most (at a load of 49), so only a hang comes near it.
ARM64_TIMEOUT  ?= 180
ARM64_STRESS   ?= -d 2 -t 4 -w 60
ARM64_CTESTS   := $(ARM64)/ctests
# (mk/arm64.mk is read before the other mk/*.mk: no variable of theirs is used outside recipes.)
ARM64_TEST_HDRS := $(KMUTEX_HDRS) $(wildcard Tests/unit/*.h Tests/regression/*.h Tests/pthread/*.h \
	Tests/debug/*.h Tests/stress/*.h)

# The release, debug, test-hook and v4.10 libraries, as the native ones (Makefile).
$(eval $(call kmutex_lib,$(ARM64),-O2 -fPIC,ARM64_CC,ARM64_AR))
$(eval $(call kmutex_lib,$(ARM64)/debug,-O1 -DKMUTEX_DEBUG,ARM64_CC,ARM64_AR))
$(eval $(call kmutex_lib,$(ARM64)/hooks,-O1 -DKMUTEX_TEST_HOOKS,ARM64_CC,ARM64_AR))
$(eval $(call kmutex_lib,$(ARM64)/v410,-O1 -DKMUTEX_TEST_HOOKS -DKMUTEX_V410_HANDOFF,ARM64_CC,ARM64_AR))

# $(call arm64_bin,NAME,SOURCE,LIBRARY,FLAGS): build $(ARM64_CTESTS)/NAME for aarch64.
define arm64_bin
$(ARM64_CTESTS)/$(1): $(2) $(3) $(ARM64_TEST_HDRS) | deps
	@mkdir -p $$(@D)
	$$(ARM64_CC) $$(CFLAGS_BASE) -ITests/unit $(4) -o $$@ $(2) $(3) -lpthread
endef

$(eval $(call arm64_bin,unit,Tests/unit/unit.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,kcond,Tests/unit/kcond.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,debug-release,Tests/debug/misuse.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,debug-debug,Tests/debug/misuse.c,$(ARM64)/debug/libkmutex.a,-O1 -DKMUTEX_DEBUG))
$(eval $(call arm64_bin,stress,Tests/stress/stress.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,kcond-stress,Tests/stress/kcond_stress.c,$(ARM64)/libkmutex.a,-O2))
ARM64_REGRESSION := handoff_abort signal_no_leak spin_policy kcond_morph handoff_time
$(foreach t,$(ARM64_REGRESSION),$(eval $(call arm64_bin,regression/$(t),Tests/regression/$(t).c,$(ARM64)/hooks/libkmutex.a,-O1 -DKMUTEX_TEST_HOOKS)))
$(eval $(call arm64_bin,regression/v410/handoff_abort,Tests/regression/handoff_abort.c,$(ARM64)/v410/libkmutex.a,-O1 -DKMUTEX_TEST_HOOKS))

# free_after_unlock with AddressSanitizer, the library sources built in, as natively.  ASan
# works under qemu-user; LeakSanitizer does not (it stops threads as a debugger would).
$(ARM64_CTESTS)/regression/asan/free_after_unlock: Tests/regression/free_after_unlock.c $(KMUTEX_SRCS) $(ARM64_TEST_HDRS) | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(CFLAGS_BASE) -O1 -DKMUTEX_TEST_HOOKS -fsanitize=address,undefined -fno-omit-frame-pointer \
		$< $(KMUTEX_SRCS) -lpthread -o $@
ARM64_ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# krwsem (mk/krwsem.mk).  Not the hung-task watchdog's tests (mk/hung.mk): qemu 7.2 has no
# process_vm_readv (the watchdog reads other threads' lock words with it) and cannot send
# SIGRTMAX (the stack request), so its reports differ there (docs/arm64.md).
$(eval $(call arm64_bin,krwsem,Tests/unit/krwsem.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,krwsem-misuse,Tests/debug/rwsem_misuse.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,krwsem-stress,Tests/stress/rwsem_stress.c,$(ARM64)/libkmutex.a,-O2))
$(eval $(call arm64_bin,regression/rwsem_rules,Tests/regression/rwsem_rules.c,$(ARM64)/hooks/libkmutex.a,-O1 -DKMUTEX_TEST_HOOKS))

ARM64_CORE_BINS := unit kcond debug-release debug-debug stress kcond-stress \
	$(addprefix regression/,$(ARM64_REGRESSION)) regression/v410/handoff_abort regression/asan/free_after_unlock \
	krwsem krwsem-misuse krwsem-stress regression/rwsem_rules

# The drop-in: the core's PIC objects and pthread/, as mk/pthread.mk builds it natively.
ARM64_PT_SO := $(ARM64)/libkmutex-pthread.so
ARM64_PT    := $(ARM64)/pthread-tests
$(ARM64)/pthread/%.o: pthread/%.c pthread/dropin.h $(KMUTEX_HDRS) | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(CFLAGS_BASE) -O2 -fPIC -c $< -o $@
$(ARM64_PT_SO): $(patsubst CShims/%.c,$(ARM64)/obj/%.o,$(KMUTEX_SRCS)) \
		$(patsubst pthread/%.c,$(ARM64)/pthread/%.o,$(wildcard pthread/*.c))
	$(ARM64_CC) -shared -Wl,-soname,libkmutex-pthread.so -o $@ $^ -lpthread -ldl
# Test programs built against glibc alone (run with and without the preload), and linked.
ARM64_PT_CFLAGS = $(CFLAGS_BASE) -ITests/unit -ITests/pthread -O1 -pthread
$(ARM64_PT)/%: Tests/pthread/%.c $(ARM64_TEST_HDRS) | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_PT_CFLAGS) -o $@ $< -ldl
$(ARM64_PT)/linked/%: Tests/pthread/%.c $(ARM64_TEST_HDRS) $(ARM64_PT_SO)
	@mkdir -p $(@D)
	$(ARM64_CC) $(ARM64_PT_CFLAGS) -DPT_LINKED -o $@ $< -L$(ARM64) -lkmutex-pthread \
		-Wl,-rpath,$(abspath $(ARM64)) -ldl
ARM64_PT_BINS := api preinit fork linked/api linked/preinit rwlock linked/rwlock
# -E: LD_PRELOAD for the guest's (aarch64) ld.so; in qemu's own environment the host's
# ld.so would try to load the aarch64 library into qemu.
ARM64_PRELOAD := -E LD_PRELOAD=$(abspath $(ARM64_PT_SO))

# $(call arm64_run,SECONDS,WHAT,QEMU COMMAND...): run with a time limit; a test that hangs is
# named, with what its threads were doing (scripts/run-timed.sh).
ARM64_TIMED = scripts/run-timed.sh
define arm64_run
	@echo "== arm64: $(2)"
	@$(ARM64_TIMED) $(1) "arm64: $(2)" $(3)
endef

# The fast-path probe, compiled as Debian's gcc does by default (outline atomics), with LSE
# inline, and with LL/SC inline: scripts/check-arm64-fastpaths.py reads all three.
ARM64_PROBE := $(ARM64)/probe
ARM64_PROBE_FLAGS_default :=
ARM64_PROBE_FLAGS_lse     := -march=armv8.1-a
ARM64_PROBE_FLAGS_llsc    := -mno-outline-atomics
$(ARM64_PROBE)/%: Tests/arm64/fastpath_probe.c $(ARM64)/libkmutex.a $(KMUTEX_HDRS) | deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(CFLAGS_BASE) -O2 $(ARM64_PROBE_FLAGS_$*) -o $@ $< $(ARM64)/libkmutex.a -lpthread
ARM64_PROBES := $(addprefix $(ARM64_PROBE)/,default lse llsc)

.PHONY: test-arm64 test-arm64-core test-arm64-pthread test-arm64-fastpaths arm64
arm64: $(addprefix $(ARM64_CTESTS)/,$(ARM64_CORE_BINS)) $(ARM64_PT_SO) $(addprefix $(ARM64_PT)/,$(ARM64_PT_BINS))

test-arm64-core: arm64
	$(call arm64_run,$(ARM64_TIMEOUT),unit tests,$(ARM64_QEMU) $(ARM64_CTESTS)/unit)
	$(call arm64_run,$(ARM64_TIMEOUT),unit tests on an ARMv8.0 core (no LSE: LL/SC atomics),$(ARM64_QEMU_V80) $(ARM64_CTESTS)/unit)
	$(call arm64_run,$(ARM64_TIMEOUT),kcond tests,$(ARM64_QEMU) $(ARM64_CTESTS)/kcond)
	$(call arm64_run,$(ARM64_TIMEOUT),misuse aborts (release library),$(ARM64_QEMU) $(ARM64_CTESTS)/debug-release)
	$(call arm64_run,$(ARM64_TIMEOUT),misuse aborts (debug library),$(ARM64_QEMU) $(ARM64_CTESTS)/debug-debug)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: handoff abort interleaving,env $(MAINLINE_RULE) $(ARM64_QEMU) $(ARM64_CTESTS)/regression/handoff_abort)
	@echo "== arm64: regression: the same against the v4.10 rule (must fail: lock handed to nobody)"
	@if $(ARM64_TIMED) $(ARM64_TIMEOUT) "arm64: v4.10 handoff abort" env $(MAINLINE_RULE) $(ARM64_QEMU) \
			$(ARM64_CTESTS)/regression/v410/handoff_abort > $(ARM64_CTESTS)/v410.log 2>&1; then \
		cat $(ARM64_CTESTS)/v410.log; echo "arm64: the v4.10 build passed, so the test cannot see the bug" >&2; exit 1; fi
	@grep "lock handed to nobody" $(ARM64_CTESTS)/v410.log || \
		{ cat $(ARM64_CTESTS)/v410.log; echo "arm64: the v4.10 build failed for another reason" >&2; exit 1; }
	$(call arm64_run,$(ARM64_TIMEOUT),regression: free right after the last unlock (AddressSanitizer),env $(MAINLINE_RULE) $(ARM64_ASAN_ENV) $(ARM64_QEMU) $(ARM64_CTESTS)/regression/asan/free_after_unlock)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: a signal interrupts only its wait,env $(MAINLINE_RULE) $(ARM64_QEMU) $(ARM64_CTESTS)/regression/signal_no_leak)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: when not to spin,env $(MAINLINE_RULE) $(ARM64_QEMU) $(ARM64_CTESTS)/regression/spin_policy)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: kcond wait morphing,$(ARM64_QEMU) $(ARM64_CTESTS)/regression/kcond_morph)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: handoff unasked (owed),env KMUTEX_HANDOFF_AFTER_US=1000 $(ARM64_QEMU) $(ARM64_CTESTS)/regression/handoff_time owed)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: handoff unasked (young),env KMUTEX_HANDOFF_AFTER_US=60000000 $(ARM64_QEMU) $(ARM64_CTESTS)/regression/handoff_time young)
	$(call arm64_run,$(ARM64_TIMEOUT),regression: handoff unasked (awake),env KMUTEX_HANDOFF_AFTER_US=200000 $(ARM64_QEMU) $(ARM64_CTESTS)/regression/handoff_time awake)
	$(call arm64_run,$(ARM64_TIMEOUT),kcond stress,$(ARM64_QEMU) $(ARM64_CTESTS)/kcond-stress -d 2 -p 2 -c 3)
	$(call arm64_run,$(ARM64_TIMEOUT),stress,$(ARM64_QEMU) $(ARM64_CTESTS)/stress $(ARM64_STRESS))
	$(call arm64_run,$(ARM64_TIMEOUT),stress without handoff,$(ARM64_QEMU) $(ARM64_CTESTS)/stress $(ARM64_STRESS) -o nohandoff)
	$(call arm64_run,$(ARM64_TIMEOUT),stress on an ARMv8.0 core (LL/SC atomics contended),$(ARM64_QEMU_V80) $(ARM64_CTESTS)/stress $(ARM64_STRESS))
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem unit tests,$(ARM64_QEMU) $(ARM64_CTESTS)/krwsem)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem misuse aborts,$(ARM64_QEMU) $(ARM64_CTESTS)/krwsem-misuse)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem regression: handoff-left,env KRWSEM_HANDOFF_AFTER_US=0 $(ARM64_QEMU) $(ARM64_CTESTS)/regression/rwsem_rules handoff-left)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem regression: wake-next,$(ARM64_QEMU) $(ARM64_CTESTS)/regression/rwsem_rules wake-next)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem regression: bias-late,$(ARM64_QEMU) $(ARM64_CTESTS)/regression/rwsem_rules bias-late)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem regression: no-thieves,env KRWSEM_HANDOFF_AFTER_US=0 $(ARM64_QEMU) $(ARM64_CTESTS)/regression/rwsem_rules no-thieves)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem regression: recursive,env KRWSEM_HANDOFF_AFTER_US=0 $(ARM64_QEMU) $(ARM64_CTESTS)/regression/rwsem_rules recursive)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem stress,$(ARM64_QEMU) $(ARM64_CTESTS)/krwsem-stress -d 2 -W 60)
	$(call arm64_run,$(ARM64_TIMEOUT),krwsem stress on an ARMv8.0 core,$(ARM64_QEMU_V80) $(ARM64_CTESTS)/krwsem-stress -d 2 -W 60)

test-arm64-pthread: arm64
	$(call arm64_run,$(ARM64_TIMEOUT),pthread api under LD_PRELOAD (aarch64 ld.so),$(ARM64_QEMU) $(ARM64_PRELOAD) $(ARM64_PT)/api)
	$(call arm64_run,$(ARM64_TIMEOUT),pthread api linked with -lkmutex-pthread,$(ARM64_QEMU) $(ARM64_PT)/linked/api)
	@echo "== arm64: pthread api on glibc alone: must fail (proves the preload took effect above)"
	@if $(ARM64_TIMED) $(ARM64_TIMEOUT) "arm64: api on glibc" $(ARM64_QEMU) $(ARM64_PT)/api > $(ARM64_PT)/api-glibc.log 2>&1; then \
		echo "FAIL: arm64: api passed without the preload: it cannot tell glibc from kmutex" >&2; exit 1; fi
	@grep -q "fell through to glibc" $(ARM64_PT)/api-glibc.log || \
		{ cat $(ARM64_PT)/api-glibc.log >&2; echo "FAIL: arm64: api without the preload failed for another reason" >&2; exit 1; }
	$(call arm64_run,$(ARM64_TIMEOUT),locks before constructors under LD_PRELOAD,$(ARM64_QEMU) $(ARM64_PRELOAD) $(ARM64_PT)/preinit)
	$(call arm64_run,$(ARM64_TIMEOUT),locks before constructors linked,$(ARM64_QEMU) $(ARM64_PT)/linked/preinit)
	$(call arm64_run,$(ARM64_TIMEOUT),fork in a multithreaded program under LD_PRELOAD,$(ARM64_QEMU) $(ARM64_PRELOAD) $(ARM64_PT)/fork)
	$(call arm64_run,$(ARM64_TIMEOUT),pthread rwlock under LD_PRELOAD,$(ARM64_QEMU) $(ARM64_PRELOAD) $(ARM64_PT)/rwlock)
	$(call arm64_run,$(ARM64_TIMEOUT),pthread rwlock linked with -lkmutex-pthread,$(ARM64_QEMU) $(ARM64_PT)/linked/rwlock)

test-arm64-fastpaths: $(ARM64_PROBES) $(ARM64_PT_SO) $(ARM64)/libkmutex.a $(ARM64)/v410/libkmutex.a
	@echo "== arm64: fast-path ordering instructions in the disassembly"
	@scripts/check-arm64-fastpaths.py --objdump $(ARM64_OBJDUMP) --probe-dir $(ARM64_PROBE) \
		--dropin $(ARM64_PT_SO) --release-lib $(ARM64)/libkmutex.a --v410-lib $(ARM64)/v410/libkmutex.a
	$(call arm64_run,60,the probe as built by default (outline atomics: casa taken),$(ARM64_QEMU) $(ARM64_PROBE)/default)
	$(call arm64_run,60,the probe as built by default on ARMv8.0 (ldaxr/stxr taken),$(ARM64_QEMU_V80) $(ARM64_PROBE)/default)
	$(call arm64_run,60,the probe with LSE inline,$(ARM64_QEMU) $(ARM64_PROBE)/lse)
	$(call arm64_run,60,the probe with LL/SC inline on ARMv8.0,$(ARM64_QEMU_V80) $(ARM64_PROBE)/llsc)
	@echo "== arm64: the LSE probe on the ARMv8.0 core: must die of SIGILL (the ARMv8.0 runs really lack LSE)"
	@$(ARM64_TIMED) 60 "arm64: LSE probe on ARMv8.0" $(ARM64_QEMU_V80) $(ARM64_PROBE)/lse > $(ARM64_PROBE)/lse-v80.log 2>&1; rc=$$?; \
	if [ $$rc -ne 132 ]; then cat $(ARM64_PROBE)/lse-v80.log; \
		echo "FAIL: arm64: casa ran on $(ARM64_QEMU_V80) (exit $$rc, want 132 = SIGILL): the ARMv8.0 runs do not test LL/SC" >&2; exit 1; fi; \
	echo "arm64: SIGILL as it must"

# Built in parallel, run one group after the other (readable output, and qemu's threads do not
# compete with each other's on a 2-CPU machine).
test-arm64: arm64 $(ARM64_PROBES) | deps
	@$(MAKE) --no-print-directory test-arm64-fastpaths && $(MAKE) --no-print-directory test-arm64-core && \
		$(MAKE) --no-print-directory test-arm64-pthread

TESTS += test-arm64
