# Exhaustive model checking of the protocol with spin (issue 6): verify/kmutex.pml, see
# verify/README.md.  Passing models must pass; each buggy variant must fail with a trail.
# Outputs (pan binaries, trails, condensed counterexamples) go to $(BUILD)/verify.
VERIFY_DIR := $(BUILD)/verify
VERIFY_CHECK = CC="$(CC)" verify/check.sh $(VERIFY_DIR)

.PHONY: verify
verify: verify/kmutex.pml verify/check.sh verify/trail.awk
	@echo "== verify: the model as kmutex.c implements it (must pass)"
	@$(VERIFY_CHECK) 3t pass safety
	@$(VERIFY_CHECK) 3t-spin2 pass safety -DSPIN=2
	@PANFLAGS=-DCOLLAPSE $(VERIFY_CHECK) 3t-timed pass safety -DM3=TIMED -DS1=1
	@$(VERIFY_CHECK) 3t-live pass live
	@PANFLAGS=-DCOLLAPSE $(VERIFY_CHECK) 3t-handler pass safety -DM1=INTR -DS1=2
	@$(VERIFY_CHECK) 3t-mainline-unlock pass safety -DMAINLINE_UNLOCK
	@PANFLAGS=-DCOLLAPSE PANRUN=-w26 MEMLIM=3000 $(VERIFY_CHECK) 4t pass safety -DNT=4 -DR1=1 -DSPIN=0 -DM2=PLAIN -DS2=0
	@echo "== verify: variants with known bugs (must fail with a counterexample)"
	@$(VERIFY_CHECK) bug-v410 fail safety -DV410
	@$(VERIFY_CHECK) bug-v410-live fail live -DV410 -DLIVENESS_ONLY
	@$(VERIFY_CHECK) bug-handoff-free fail safety -DBUG_HANDOFF_FREE
	@$(VERIFY_CHECK) bug-handoff-free-bypass fail safety -DBUG_HANDOFF_FREE -DNO_CHECK_FREE_FLAGS
	@$(VERIFY_CHECK) bug-keep-flags fail safety -DBUG_KEEP_FLAGS
	@$(VERIFY_CHECK) bug-signal-first fail safety -DBUG_SIGNAL_FIRST
	@$(VERIFY_CHECK) bug-signal-leak fail safety -DM1=INTR -DS1=2 -DBUG_SIGNAL_LEAK
	@echo "verify: all models behave as expected"

TESTS += verify
