# Issue 9, part 2: libkmutex-pthread, the pthread drop-in (pthread/), and its tests
# (Tests/pthread/).  `make lib` builds build/libkmutex-pthread.so; `make test-pthread` runs
# the unit tests (preloaded and linked), the fall-through and starvation checks, fork and
# start-up tests; `make test-pthread-programs` runs programs nobody here wrote (CPython's
# threading tests, stress-ng, a C++ program) on glibc and under the preload.
# Every binary runs under `timeout`, which names the test that hung.

PTHREAD_DIR   := $(BUILD)/pthread
PTHREAD_TESTS := $(BUILD)/pthread-tests
PTHREAD_SO    := $(BUILD)/libkmutex-pthread.so
PTHREAD_HDRS  := CShims/include/kmutex.h Tests/unit/check.h $(wildcard Tests/pthread/*.h)
# The preload, as a program sees it: an absolute path, so tests can cd.
PRELOAD       := LD_PRELOAD=$(abspath $(PTHREAD_SO))
define pt_run
	@echo "== $(2)"
	@timeout -k 5 $(1) $(3) || { rc=$$?; [ $$rc -eq 124 ] && echo "TIMEOUT: $(2) ran longer than $(1) s" >&2; exit $$rc; }
endef

$(PTHREAD_DIR)/kmutex_pthread.o: pthread/kmutex_pthread.c $(KMUTEX_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O2 -fPIC -c $< -o $@

# The core's PIC objects and the interposer; libc resolves glibc's aliases at load time.
$(PTHREAD_SO): $(patsubst CShims/%.c,$(BUILD)/obj/%.o,$(KMUTEX_SRCS)) $(PTHREAD_DIR)/kmutex_pthread.o
	$(CC) -shared -Wl,-soname,libkmutex-pthread.so -o $@ $^ -lpthread -ldl

lib: $(PTHREAD_SO)

.PHONY: install-pthread uninstall-pthread
install: install-pthread
install-pthread: $(PTHREAD_SO)
	install -d $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(PTHREAD_SO) $(DESTDIR)$(PREFIX)/lib/
uninstall: uninstall-pthread
uninstall-pthread:
	rm -f $(DESTDIR)$(PREFIX)/lib/libkmutex-pthread.so

# ---- tests ------------------------------------------------------------------------------

PT_CFLAGS := $(CFLAGS_BASE) -ITests/unit -ITests/pthread -O1 -pthread
# Plain programs: built against glibc alone, run with and without the preload.
$(PTHREAD_TESTS)/%: Tests/pthread/%.c $(PTHREAD_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PT_CFLAGS) -o $@ $< -ldl
# The same sources linked with -lkmutex-pthread (before libc, as a user would).
$(PTHREAD_TESTS)/linked/%: Tests/pthread/%.c $(PTHREAD_HDRS) $(PTHREAD_SO)
	@mkdir -p $(@D)
	$(CC) $(PT_CFLAGS) -DPT_LINKED -o $@ $< -L$(BUILD) -lkmutex-pthread -Wl,-rpath,$(abspath $(BUILD)) -ldl
$(PTHREAD_TESTS)/cxx_program: Tests/pthread/cxx_program.cpp
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -pthread -o $@ $<

PT_BINS := api fork preinit lockskew
.PHONY: test-pthread test-pthread-programs
test-pthread: $(PTHREAD_SO) $(addprefix $(PTHREAD_TESTS)/,$(PT_BINS)) \
	      $(PTHREAD_TESTS)/linked/api $(PTHREAD_TESTS)/linked/preinit $(PTHREAD_TESTS)/cxx_program
	$(call pt_run,60,api under the preload,env $(PRELOAD) $(PTHREAD_TESTS)/api)
	$(call pt_run,60,api linked with -lkmutex-pthread,$(PTHREAD_TESTS)/linked/api)
	@echo "== api on glibc alone: must fail (proves the checks see a call that fell through)"
	@if timeout -k 5 60 $(PTHREAD_TESTS)/api > $(PTHREAD_TESTS)/api-glibc.log 2>&1; then \
		echo "FAIL: api passed without the preload: it cannot tell glibc from kmutex" >&2; exit 1; fi
	@grep -q "fell through to glibc" $(PTHREAD_TESTS)/api-glibc.log || \
		{ echo "FAIL: api without the preload failed for another reason:" >&2; cat $(PTHREAD_TESTS)/api-glibc.log >&2; exit 1; }
	$(call pt_run,30,locks before constructors (preinit_array) under the preload,env $(PRELOAD) $(PTHREAD_TESTS)/preinit)
	$(call pt_run,30,locks before constructors (preinit_array) linked,$(PTHREAD_TESTS)/linked/preinit)
	$(call pt_run,60,fork in a multithreaded program under the preload,env $(PRELOAD) $(PTHREAD_TESTS)/fork)
	$(call pt_run,60,starvation through the pthread API (lockskew) under the preload,env $(PRELOAD) $(PTHREAD_TESTS)/lockskew)
	@echo "== lockskew on glibc alone, for comparison (not checked: glibc's starvation is a matter of chance)"
	@timeout -k 5 60 $(PTHREAD_TESTS)/lockskew 2>&1 | head -1 || true
	$(call pt_run,60,C++ std::mutex/condition_variable under the preload,env $(PRELOAD) $(PTHREAD_TESTS)/cxx_program --expect-kmutex)

test-pthread-programs: $(PTHREAD_SO) $(PTHREAD_TESTS)/cxx_program | deps
	@echo "== programs nobody here wrote, on glibc and under the preload (about a minute)"
	@timeout -k 5 240 Tests/pthread/programs.sh $(abspath $(PTHREAD_SO)) $(PTHREAD_TESTS)/cxx_program \
		$(PTHREAD_TESTS)/programs || { rc=$$?; [ $$rc -eq 124 ] && echo "TIMEOUT: test-pthread-programs ran longer than 240 s" >&2; exit $$rc; }

TESTS += test-pthread test-pthread-programs
