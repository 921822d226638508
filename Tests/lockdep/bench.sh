#!/bin/sh
# bench-lockdep driver: cost per lock+unlock and scenarios found, for kmutex lockdep, Helgrind
# and gcc's ThreadSanitizer, on Tests/lockdep/bench.c built four ways (see mk/lockdep.mk).
# usage: bench.sh DIR   (DIR holds bench-kmutex, bench-pthread, bench-tsan)
set -u
dir=$1
iters=${LOCKDEP_BENCH_ITERS:-1000000}
hg_iters=${LOCKDEP_BENCH_HG_ITERS:-20000}
to=${LOCKDEP_BENCH_TIMEOUT:-300}
rounds=${LOCKDEP_BENCH_ROUNDS:-5}
tsan_env="TSAN_OPTIONS=detect_deadlocks=1 second_deadlock_stack=1 exitcode=0 report_signal_unsafe=0"

run() { # run WHAT COMMAND...: under timeout, with a clear message if it hangs
	what=$1; shift
	timeout "$to" "$@"; rc=$?
	if [ $rc = 124 ]; then echo "bench-lockdep: $what timed out after $to s" >&2; exit 1; fi
	return $rc
}

min() { printf '%s\n' "$@" | sort -g | head -n 1; }

cost() { # cost MODE: one row of ns per lock+unlock pair, the best of $rounds interleaved runs
	mode=$1; ds=; ls=; ps=; ts=
	for r in $(seq "$rounds"); do
		ds="$ds $(run "debug $mode" env -u KMUTEX_LOCKDEP "$dir/bench-kmutex" "$mode" "$iters")"
		ls="$ls $(run "lockdep $mode" env KMUTEX_LOCKDEP=1 "$dir/bench-kmutex" "$mode" "$iters")"
		ps="$ps $(run "pthread $mode" "$dir/bench-pthread" "$mode" "$iters")"
		ts="$ts $(run "tsan $mode" env "$tsan_env" "$dir/bench-tsan" "$mode" "$iters")"
	done
	d=$(min $ds); l=$(min $ls); p=$(min $ps); t=$(min $ts)
	h=$(run "helgrind $mode" valgrind -q --tool=helgrind "$dir/bench-pthread" "$mode" "$hg_iters")
	ratio=$(awk -v l="$l" -v d="$d" 'BEGIN { printf "%.2f", l / d }')
	echo "| $mode | $d | $l (${ratio}x) | $p | $t | $h |"
}

echo "Cost, ns per lock+unlock pair (each: median of 5 timed loops; best of $rounds interleaved runs,"
echo "Helgrind: one run; steady = 3 nested locks A,B,C in order, single = 1 lock):"
echo
echo "| loop | kmutex debug, unchecked | kmutex debug, KMUTEX_LOCKDEP=1 | pthread native | gcc TSan (detect_deadlocks=1) | Helgrind |"
echo "|---|---|---|---|---|---|"
cost steady
cost single
echo
echo "Scenarios (reports counted; expected = what the kernel's lockdep says):"
echo
echo "| scenario | expected | kmutex lockdep | gcc TSan | Helgrind |"
echo "|---|---|---|---|---|"
for s in AA ABBA ABBA-threads ABBCCA ABCDBDDA ABCDBCDA timed-ABBA nested-ok trylock-ABBA clean; do
	case $s in nested-ok|trylock-ABBA|clean) exp="none" ;; *) exp="report" ;; esac
	l=$(run "lockdep $s" env KMUTEX_LOCKDEP=1 "$dir/bench-kmutex" "$s" 2>&1 | grep -c "WARNING: possible")
	t=$(run "tsan $s" env "$tsan_env" "$dir/bench-tsan" "$s" 2>&1 | grep -c "WARNING: ThreadSanitizer: lock-order-inversion")
	h=$(run "helgrind $s" valgrind --tool=helgrind "$dir/bench-pthread" "$s" 2>&1 | grep -c "lock order .* violated")
	show() { if [ "$1" -gt 0 ]; then echo "reported ($1)"; else echo "none"; fi; }
	echo "| $s | $exp | $(show "$l") | $(show "$t") | $(show "$h") |"
done
