# Man pages (man/, liburing's model), and the documents' commands (test-docs, below): section 3 for every function of the public headers, one
# page per call or family with `.so` links, and libkmutex-pthread(7).  `make install` puts them
# in PREFIX/share/man.  test-man (about 10 s) runs scripts/check-man.py: every function the
# headers CShims/include/*.h declare has a page, each page renders without a groff or man-db
# warning, has its sections, and its EXAMPLES compile; then it installs the pages into a
# temporary prefix and looks up every page by name with man(1), as a user would.

MAN_PAGES  := $(wildcard man/man3/*.3 man/man7/*.7)
MAN_PREFIX := $(BUILD)/man/prefix

.PHONY: install-man uninstall-man test-man
install: install-man
install-man:
	install -d $(DESTDIR)$(PREFIX)/share/man/man3 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 644 $(wildcard man/man3/*.3) $(DESTDIR)$(PREFIX)/share/man/man3/
	install -m 644 $(wildcard man/man7/*.7) $(DESTDIR)$(PREFIX)/share/man/man7/
uninstall: uninstall-man
uninstall-man:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/,$(MAN_PAGES))

test-man:
	timeout 300 scripts/check-man.py --cc $(CC) || { s=$$?; [ $$s -eq 124 ] && echo "test-man: check-man.py hung: killed"; exit $$s; }
	rm -rf $(MAN_PREFIX)
	$(MAKE) --no-print-directory install-man PREFIX=$(abspath $(MAN_PREFIX)) >/dev/null
	@n=0; for p in $(MAN_PAGES); do \
		name=$$(basename $$p); sec=$${name##*.}; name=$${name%.*}; \
		LC_ALL=C.UTF-8 MANWIDTH=80 timeout 30 man -M $(abspath $(MAN_PREFIX))/share/man $$sec $$name 2>&1 >/dev/null \
			| grep . && { echo "test-man: man $$sec $$name warned"; exit 1; }; \
		LC_ALL=C.UTF-8 MANWIDTH=80 timeout 30 man -M $(abspath $(MAN_PREFIX))/share/man $$sec $$name 2>/dev/null \
			| grep -qw -- "$$name" || { echo "test-man: man $$sec $$name: not found in the installed pages"; exit 1; }; \
		n=$$((n + 1)); done; echo "test-man: man finds all $$n installed pages by name"

# test-docs (about 5 s): the commands README.md and docs/ show work (scripts/check-docs.py):
# every `make TARGET`, repository path and link they name exists; README's C example compiles
# and links through pkg-config from an installed tree, its C++ example is the one test-cxx
# runs, its drop-in commands run a program on kmutex (lock_stat table, no lockdep report), and
# docs/lockdep.md's commands report (and abort on) an ABBA.  The bpftrace and perf commands of
# docs/observability.md run in test-observability (Tests/observability/probes.sh).
.PHONY: test-docs
test-docs: lib debug
	timeout 300 scripts/check-docs.py $(BUILD) || { s=$$?; [ $$s -eq 124 ] && echo "test-docs: check-docs.py hung: killed"; exit $$s; }

TESTS += test-man test-docs
