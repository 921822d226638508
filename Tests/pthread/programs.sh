#!/usr/bin/env bash
# Programs nobody here wrote, on glibc and on kmutex (under the preload), compared: CPython's
# threading tests, stress-ng's mutex and pthread (condvar) stressors with --verify, and a C++
# std::mutex/std::condition_variable program.  Each must end the same way on both, and
# succeed on kmutex.  The two CPython runs go side by side (they take most of the time).
# usage: programs.sh PRELOAD_SO CXX_PROGRAM OUTDIR
set -uo pipefail
so=$1 cxx=$2 out=$3
mkdir -p "$out"
py=/usr/bin/python3.11 # Debian's, whose test suite libpython3.11-testsuite installs
fail=0

# run NAME SECONDS MODE CMD...: MODE glibc or kmutex; output in $out/NAME.MODE.log, status in .rc
run() {
	local name=$1 secs=$2 mode=$3; shift 3
	local env=()
	[ "$mode" = kmutex ] && env=(env LD_PRELOAD="$so")
	timeout -k 5 "$secs" "${env[@]}" "$@" > "$out/$name.$mode.log" 2>&1
	local rc=$?
	[ $rc -eq 124 ] && echo "TIMEOUT: $name on $mode ran longer than $secs s" >> "$out/$name.$mode.log"
	echo $rc > "$out/$name.$mode.rc"
}

# compare NAME SUMMARY_REGEX: same status, same summary lines; and success on kmutex.
compare() {
	local name=$1 re=$2 g k
	g=$(cat "$out/$name.glibc.rc") k=$(cat "$out/$name.kmutex.rc")
	local gs ks
	gs=$(grep -E "$re" "$out/$name.glibc.log" | sed -E 's/\[[0-9]+\]//g; s/[0-9.]+ ?s(ec)?\b//g')
	ks=$(grep -E "$re" "$out/$name.kmutex.log" | sed -E 's/\[[0-9]+\]//g; s/[0-9.]+ ?s(ec)?\b//g')
	if [ "$k" != 0 ] || [ "$g" != "$k" ] || [ "$gs" != "$ks" ]; then
		echo "FAIL $name: glibc exit $g, kmutex exit $k"
		echo "  glibc:  $gs" | head -5
		echo "  kmutex: $ks" | head -5
		tail -20 "$out/$name.kmutex.log"
		fail=1
	else
		echo "ok   $name: exit 0 on both; $(echo "$ks" | tr '\n' ' ' | cut -c1-150)"
	fi
}

# The preload must really be in use, or the comparison says nothing: a pthread mutex locked
# from Python through ctypes holds kmutex's owner word (a pointer), not glibc's __lock = 1.
probe='import ctypes; libc = ctypes.CDLL(None); m = ctypes.create_string_buffer(40)
assert libc.pthread_mutex_lock(m) == 0
print("kmutex" if int.from_bytes(m.raw[:8], "little") > 0xffff else "glibc")'
if [ "$(LD_PRELOAD="$so" $py -c "$probe")" != kmutex ]; then
	echo "FAIL: python3.11 under LD_PRELOAD=$so does not run on kmutex"; exit 1
fi

pytests=(-m test test_threading test_thread test_queue)
run cpython 170 glibc $py "${pytests[@]}" &
run cpython 170 kmutex $py "${pytests[@]}" &
wait
compare cpython '^(Tests result|All [0-9]+ tests OK|[0-9]+ tests? (skipped|failed))'

for s in mutex pthread; do
	for mode in glibc kmutex; do
		run stress-ng-$s 40 $mode stress-ng --$s 2 -t 3 --verify --metrics-brief
	done
	compare stress-ng-$s 'successful run completed|fail|passed'
	grep -hE "metrc: .* $s +[0-9]" "$out/stress-ng-$s.glibc.log" | sed 's/^/  glibc  /'
	grep -hE "metrc: .* $s +[0-9]" "$out/stress-ng-$s.kmutex.log" | sed 's/^/  kmutex /'
done

run cxx 60 glibc "$cxx"
run cxx 60 kmutex "$cxx" --expect-kmutex
compare cxx '^cxx_program'

exit $fail
