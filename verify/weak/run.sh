#!/bin/sh
# verify/weak/run.sh DIR: the weak-memory check (make verify-weak, make test-weak).
# Runs every scenario of DIR/weak (the real core under Relacy, verify/weak/scenarios.cpp), which
# must pass, then the historical ordering bugs put back, which must fail ("failed as it must"),
# one line each.  WEAK_ITER: iterations of Relacy's random scheduler per run (seeds 0..N-1:
# the same run gives the same result).  Histories of failures (the last 400 events of the
# failing execution): DIR/history/NAME.txt.
set -u
dir=$1
iter=${WEAK_ITER:-100000}
mkdir -p "$dir/history"
status=0

# run NAME EXPECT BINARY SCENARIO [VAR=VALUE...]: one line; EXPECT is pass or fail.
run() {
	name=$1 expect=$2 bin=$3 scen=$4
	shift 4
	hist=$dir/history/$name.txt
	out=$(env "$@" timeout 900 "$dir/$bin" "$scen" "$iter" "$hist" 2>&1)
	rc=$?
	[ $rc = 124 ] && out="$scen: HUNG: timed out after 900 s"
	result=${out#"$scen: "}
	label="weak $name"
	[ "$bin $scen" != "weak $name" ] && label="$label ($bin $scen${*:+, $*})"
	case $expect,$rc in
	*,1) [ -f "$hist" ] && tail -n 400 "$hist" > "$hist.tmp" && mv "$hist.tmp" "$hist" ;;
	esac
	case $expect,$rc in
	pass,0) echo "$label: $result" ;;
	fail,1) echo "$label: failed as it must: ${result#FAILED: }"
		echo "  history: $hist" ;;
	pass,*) echo "$label: FAILED: $result"; echo "  history: $hist"; status=1 ;;
	fail,*) echo "$label: FAILED: this buggy variant must be caught, and was not ($result)"; status=1 ;;
	esac
}

echo "== verify-weak: the core (kmutex.c, osq.c, wait_lock.c, kcond.c, krwsem.c, sched_view.c) under Relacy, $iter iterations per run (must pass)"
for s in lock-unlock trylock timed interruptible handoff owed-handoff kcond-signal kcond-broadcast kcond-destroy rwsem last-cpu; do
	run "$s" pass weak "$s"
done
# The node's relaxed initializing stores become visible as late as C11 allows (store sinking).
run osq pass weak osq KMX_SINK=kmx_osq_lock
run osq-unqueue pass weak osq-unqueue KMX_SINK=kmx_osq_lock
run v410-handoff pass weak-v410 handoff

echo "== verify-weak: historical ordering bugs put back (must fail)"
# The unlock's RELEASE made relaxed: the next owner's reads race with the critical section.
run bug-unlock-relaxed fail weak lock-unlock \
	KMX_WEAKEN=kmutex__release_fast_as/cmpxchg/release=relaxed,release_if_no_waiters/cmpxchg/release=relaxed,release_or_hand_over/cmpxchg/release=relaxed
# rtmutex 1c0908d8e441 ("Add acquire semantics for rtmutex lock acquisition slow path"): the
# acquisition of a lock with sleepers (a word with WAITERS) without ACQUIRE.
run bug-slowpath-acquire-relaxed fail weak owed-handoff \
	KMX_WEAKEN=trylock_common/cmpxchg/acquire@waiters=relaxed
# qspinlock 95bcade33a8a ("Ensure node is initialised before updating prev->next"), DPDK
# 021b698eb56e: the OSQ node linked into the queue (tail exchange, prev->next) without RELEASE,
# so its locked = 0 lands after the predecessor's locked = 1 and the turn is lost.
run bug-osq-publish-before-init fail weak osq KMX_SINK=kmx_osq_lock \
	KMX_WEAKEN=kmx_osq_lock/xchg/acq_rel=acquire,kmx_osq_lock/store/release=relaxed
# wake_q 4c4e3731564c ("Fix wakeup ordering for wake_q"): the waker's marking no longer ordered
# after the waiter's arming of its wake word (mark_wakeup() relies on wait_lock's ACQUIRE); it
# reads a stale KMX_WAKE_UP, skips the wake, and the waiter sleeps forever.
run bug-wake-mark-unordered fail weak handoff \
	KMX_WEAKEN=kmx_wait_lock/cmpxchg/acquire=relaxed,kmx_wait_lock_contended/cmpxchg/acquire=relaxed,kmx_wait_lock_contended/xchg/acquire=relaxed
# rwsem e1b98fa31664 ("Add missing ACQUIRE to read_slowpath exit when queue is empty", found
# by LTP on a 224-CPU arm64 machine): a reader that finds no waiter and no writer under
# wait_lock takes its bias as a read lock from a relaxed load of the count.
run bug-rwsem-read-slowpath-acquire fail weak rwsem KMX_WEAKEN=read_slow/load/acquire=relaxed
# The seed thread's last message: the v4.10 rule leaves HANDOFF after an -EINTR, hands the lock
# to a waiter that decides it is not first and leaves too (a protocol bug, found here on the C
# code as the SPIN model finds it: a lock owned by a thread that left, then a deadlock).
run bug-v410-interruptible fail weak-v410 interruptible
# sched_view.c's rseq-area protocol (a Dekker pair) with either side's SEQ_CST pair weakened to
# release/acquire: the exiting thread frees its area while a spinner still reads it.
run bug-last-cpu-retract-release fail weak last-cpu \
	KMX_WEAKEN=kmx_last_cpu_retract/store/seq_cst=release,kmx_last_cpu_retract/load/seq_cst=acquire
run bug-last-cpu-reader-acquire fail weak last-cpu \
	KMX_WEAKEN=kmx_last_cpu_of/add/seq_cst=acq_rel,kmx_last_cpu_of/load/seq_cst=acquire
exit $status
