# Exhaustive model checking of the protocol with spin (issue 6): verify/kmutex.pml, see
# verify/README.md.  Passing models must pass; each buggy variant must fail with a trail.
# Outputs (pan binaries, trails, condensed counterexamples) go to $(BUILD)/verify.
VERIFY_DIR := $(BUILD)/verify
VERIFY_CHECK = CC="$(CC)" verify/check.sh $(VERIFY_DIR)

.PHONY: verify
KCOND_CHECK = MODEL=$(CURDIR)/verify/kcond.pml TRAIL_AWK=$(CURDIR)/verify/kcond-trail.awk $(VERIFY_CHECK)

verify: verify/kmutex.pml verify/kcond.pml verify/check.sh verify/trail.awk verify/kcond-trail.awk verify-krwsem
	@echo "== verify: the model as kmutex.c implements it (must pass)"
	@$(VERIFY_CHECK) 3t pass safety
	@$(VERIFY_CHECK) 3t-spin2 pass safety -DSPIN=2
	@PANFLAGS=-DCOLLAPSE MEMLIM=3000 $(VERIFY_CHECK) 3t-timed pass safety -DM3=TIMED -DS1=1 -DR1=1
	@PANFLAGS=-DCOLLAPSE MEMLIM=3000 $(VERIFY_CHECK) 3t-live pass live
	@PANFLAGS=-DCOLLAPSE MEMLIM=3000 $(VERIFY_CHECK) 3t-handler pass safety -DM1=INTR -DS1=2 -DYIELDER=0
	@$(VERIFY_CHECK) 3t-mainline-unlock pass safety -DMAINLINE_UNLOCK
	@$(VERIFY_CHECK) 3t-time0 pass safety -DHANDOFF_TIME0
	@PANFLAGS=-DCOLLAPSE PANRUN=-w26 MEMLIM=3000 $(VERIFY_CHECK) 4t pass safety -DNT=4 -DR1=1 -DSPIN=0 -DM2=PLAIN -DS2=0 -DS3=0
	@echo "== verify: variants with known bugs (must fail with a counterexample)"
	@$(VERIFY_CHECK) bug-v410 fail safety -DV410
	@$(VERIFY_CHECK) bug-v410-live fail live -DV410 -DLIVENESS_ONLY
	@$(VERIFY_CHECK) bug-handoff-free fail safety -DBUG_HANDOFF_FREE
	@$(VERIFY_CHECK) bug-handoff-free-bypass fail safety -DBUG_HANDOFF_FREE -DNO_CHECK_FREE_FLAGS
	@$(VERIFY_CHECK) bug-keep-flags fail safety -DBUG_KEEP_FLAGS
	@$(VERIFY_CHECK) bug-signal-first fail safety -DBUG_SIGNAL_FIRST
	@$(VERIFY_CHECK) bug-signal-leak fail safety -DM1=INTR -DS1=2 -DBUG_SIGNAL_LEAK
	@$(VERIFY_CHECK) bug-awake-no-clear fail safety -DBUG_AWAKE_NO_CLEAR
	@$(VERIFY_CHECK) bug-awake-keep-on-dequeue fail safety -DBUG_AWAKE_KEEP_ON_DEQUEUE
	@echo "== verify: kcond with wait morphing (verify/kcond.pml; must pass)"
	@$(KCOND_CHECK) kcond-signal pass safety
	@$(KCOND_CHECK) kcond-broadcast pass safety -DK3=P_BC
	@$(KCOND_CHECK) kcond-broadcast-unlocked pass safety -DK3=P_BCU -DK2=C_PLAIN
	@$(KCOND_CHECK) kcond-intr pass safety -DK1=C_INTR -DK3=P_BC
	@$(KCOND_CHECK) kcond-destroy pass safety -DK3=P_BC -DN3=1 -DA3=2 -DDESTROY
	@$(KCOND_CHECK) kcond-live pass live -DK3=P_BC
	@echo "== verify: kcond variants with known bugs (must fail with a counterexample)"
	@$(KCOND_CHECK) bug-kcond-append-after-unlock fail safety -DBUG_APPEND_AFTER_UNLOCK
	@$(KCOND_CHECK) bug-kcond-wake-then-move fail safety -DK3=P_BCU -DK2=C_PLAIN -DN3=1 -DA3=2 -DBUG_WAKE_THEN_MOVE
	@$(KCOND_CHECK) bug-kcond-no-wake-moved-head fail safety -DK3=P_BCU -DK2=C_PLAIN -DBUG_NO_WAKE_MOVED_HEAD
	@$(KCOND_CHECK) bug-kcond-timeout-loses-signal fail safety -DBUG_TIMEOUT_LOSES_SIGNAL
	@$(KCOND_CHECK) bug-kcond-mover-drops-ref fail safety -DK3=P_BC -DK2=C_PLAIN -DN3=1 -DA3=2 -DDESTROY -DBUG_MOVER_ALWAYS_DROPS_REF
	@echo "verify: all models behave as expected"

# krwsem (verify/krwsem.pml, verify/README.md section krwsem): the runs that cover every part
# of the model and every must-fail variant, part of `verify` and so of `make test`: 48 s of
# CPU (2 min 14 s wall on the 2-CPU machine under a load of 12-14).  pan is built with -O0: the
# models are small, and gcc -O2 of pan.c costs more than most runs.  verify-krwsem-long: the
# larger configurations, by hand.
KRWSEM_ENV = MODEL=$(CURDIR)/verify/krwsem.pml TRAIL_AWK=$(CURDIR)/verify/krwsem-trail.awk
KRWSEM_CHECK = $(KRWSEM_ENV) PANFLAGS=-O0 $(VERIFY_CHECK)
KRWSEM_CHECK_BIG = $(KRWSEM_ENV) PANFLAGS=-DCOLLAPSE MEMLIM=3000 $(VERIFY_CHECK)
KRWSEM_STRAND = -DROLE1=LONGREAD -DROLE2=WRITE -DROLE3=READ
KRWSEM_RECUR = -DROLE1=RECUR -DR1=1 -DROLE2=WRITE -DROLE3=READ

.PHONY: verify-krwsem verify-krwsem-long
verify-krwsem: verify/krwsem.pml verify/check.sh verify/krwsem-trail.awk
	@echo "== verify: krwsem as krwsem.c implements it (verify/krwsem.pml; must pass)"
	@$(KRWSEM_CHECK) rw pass safety
	@$(KRWSEM_CHECK) rw-time0 pass safety -DHANDOFF_TIME0
	@$(KRWSEM_CHECK) rw-intr pass safety -DM1=INTR -DS1=1 -DR1=1 -DM2=TIMED -DROLE3=WRITE
	@$(KRWSEM_CHECK) rw-strand pass safety $(KRWSEM_STRAND) -DM2=TIMED
	@$(KRWSEM_CHECK) rw-strand-intr pass safety $(KRWSEM_STRAND) -DM2=INTR -DS2=1 -DM3=TIMED
	@$(KRWSEM_CHECK) rw-recursive pass safety $(KRWSEM_RECUR)
	@$(KRWSEM_CHECK) rw-recursive-time0 pass safety $(KRWSEM_RECUR) -DM2=TIMED -DHANDOFF_TIME0
	@$(KRWSEM_CHECK) rw-downgrade pass safety -DROLE1=DOWNGRADE -DR1=1 -DROLE3=WRITE
	@$(KRWSEM_CHECK) rw-live pass live
	@echo "== verify: krwsem with the kernel's bugs put back (must fail with a counterexample)"
	@$(KRWSEM_CHECK) bug-rw-bias-late fail safety -DBUG_BIAS_LATE
	@$(KRWSEM_CHECK) bug-rw-handoff-left fail safety -DM1=INTR -DS1=1 -DR1=1 -DM2=TIMED -DROLE3=WRITE -DBUG_HANDOFF_LEFT
	@$(KRWSEM_CHECK) bug-rw-no-wake-next fail safety $(KRWSEM_STRAND) -DM2=TIMED -DBUG_NO_WAKE_NEXT
	@$(KRWSEM_CHECK) bug-rw-no-cond-wake fail safety -DBUG_NO_COND_WAKE
	@$(KRWSEM_CHECK) bug-rw-no-recursion fail safety $(KRWSEM_RECUR) -DBUG_NO_RECURSION
	@$(KRWSEM_CHECK) bug-rw-no-recursion-deadlock fail safety $(KRWSEM_RECUR) -DBUG_NO_RECURSION -DLIVENESS_ONLY
	@$(KRWSEM_CHECK) bug-rw-handoff-ignored fail safety -DM1=INTR -DS1=1 -DR1=1 -DM2=TIMED -DROLE3=WRITE -DBUG_HANDOFF_IGNORED
	@$(KRWSEM_CHECK) bug-rw-woken-kept fail safety -DBUG_WOKEN_KEPT
	@$(KRWSEM_CHECK) bug-rw-woken-kept-lost-wakeup fail safety -DBUG_WOKEN_KEPT -DLIVENESS_ONLY

verify-krwsem-long: verify/krwsem.pml verify/check.sh verify/krwsem-trail.awk
	@echo "== verify: krwsem, larger configurations (must pass)"
	@$(KRWSEM_CHECK_BIG) rw-spin2 pass safety -DSPIN=2
	@$(KRWSEM_CHECK_BIG) rw-read-intr pass safety -DM2=INTR -DS2=1 -DM3=TIMED -DS3=2 -DR1=1
	@PANRUN=-w26 $(KRWSEM_CHECK_BIG) rw-4t pass safety -DNT=4 -DR1=1 -DSPIN=0
	@$(KRWSEM_ENV) PANFLAGS=-DBITSTATE PANRUN=-w31 $(VERIFY_CHECK) rw-4t-bitstate pass safety -DNT=4 -DR1=1 -DROLE4=WRITE -DM4=TIMED

TESTS += verify
