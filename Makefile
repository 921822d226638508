# kmutex: build, install, test.  `make` builds the library; `make test` runs every test;
# `make bench` runs the side-by-side benchmark.  Areas add their own rules in mk/*.mk and
# list their test targets in TESTS (run in order by `make test`).

ifeq ($(origin CC),default)
CC      := gcc
endif
AR      ?= ar
PREFIX  ?= /usr/local
BUILD   := build
VERSION := 0.1.0
SOMAJOR := 0

CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Werror -g -ICShims/include -ICShims
KMUTEX_SRCS := $(wildcard CShims/*.c)
KMUTEX_HDRS := $(wildcard CShims/*.h CShims/include/*.h)

.PHONY: all lib debug deps install uninstall test clean FORCE
all: lib

# $(call kmutex_lib,DIR,CFLAGS[,CCVAR,ARVAR]): build DIR/libkmutex.a from CShims with those
# flags, with the compiler and archiver named by the variables CCVAR and ARVAR (CC and AR;
# mk/arm64.mk passes its cross tools).
define kmutex_lib
$(1)/obj/%.o: CShims/%.c $(KMUTEX_HDRS)
	@mkdir -p $$(@D)
	$$($(or $(3),CC)) $$(CFLAGS_BASE) $(2) -c $$< -o $$@
$(1)/libkmutex.a: $(patsubst CShims/%.c,$(1)/obj/%.o,$(KMUTEX_SRCS))
	rm -f $$@ && $$($(or $(4),AR)) rcs $$@ $$^
endef

# Release (PIC objects serve both the archive and the shared library).
$(eval $(call kmutex_lib,$(BUILD),-O2 -fPIC))
# Debug: every call through the checked entry points, wait-list invariants checked.
$(eval $(call kmutex_lib,$(BUILD)/debug,-O1 -DKMUTEX_DEBUG))
# Test builds: pause points for deterministic race tests; and the v4.10 handoff rule.
$(eval $(call kmutex_lib,$(BUILD)/hooks,-O1 -DKMUTEX_TEST_HOOKS))
$(eval $(call kmutex_lib,$(BUILD)/v410,-O1 -DKMUTEX_TEST_HOOKS -DKMUTEX_V410_HANDOFF))
# Sanitizer builds of the library, for the stress and unit tests.
$(eval $(call kmutex_lib,$(BUILD)/tsan,-O1 -fsanitize=thread))
# (through a variable: a literal comma would split $(call)'s arguments, and the third is the compiler)
KMUTEX_ASAN_FLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer
$(eval $(call kmutex_lib,$(BUILD)/asan,$(KMUTEX_ASAN_FLAGS)))

SONAME := libkmutex.so.$(SOMAJOR)
$(BUILD)/libkmutex.so.$(VERSION): $(patsubst CShims/%.c,$(BUILD)/obj/%.o,$(KMUTEX_SRCS))
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ -lpthread
$(BUILD)/libkmutex.so: $(BUILD)/libkmutex.so.$(VERSION)
	ln -sf libkmutex.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libkmutex.so.$(VERSION) $@

# The .pc names PREFIX, so it is remade whenever PREFIX differs from the one it was made for.
$(BUILD)/kmutex.pc: kmutex.pc.in Makefile FORCE
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; echo "generated $@ for $(PREFIX)"; fi
FORCE:

lib: $(BUILD)/libkmutex.a $(BUILD)/libkmutex.so $(BUILD)/kmutex.pc
debug: $(BUILD)/debug/libkmutex.a

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 CShims/include/kmutex.h CShims/include/krwsem.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libkmutex.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libkmutex.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libkmutex.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf libkmutex.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libkmutex.so
	install -m 644 $(BUILD)/kmutex.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/kmutex.h $(DESTDIR)$(PREFIX)/include/krwsem.h $(DESTDIR)$(PREFIX)/lib/libkmutex.* \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/kmutex.pc

# Everything the tests and benchmarks need from Debian, installed when missing.
deps:
	@scripts/deps.sh

TESTS :=
include $(sort $(wildcard mk/*.mk))

# A group that fails stops make with a non-zero status; the last line counts the groups.
test: deps lib debug $(TESTS)
	@echo "groups: $(TESTS)"
	@echo "tests: $(words $(TESTS)) passed, 0 failed"

clean:
	rm -rf $(BUILD) .build .build-*
