#!/bin/bash
# glibc's own thread tests on glibc and under libkmutex-pthread (issue 21 item 3).
#
# usage: glibc-tests.sh PRELOAD_SO OUT_DIR [TEST...]
#
# At test time, from Debian's glibc-source (/usr/src/glibc/glibc-*.tar.xz; scripts/deps.sh
# installs it), extract into OUT_DIR only what the tests need: nptl/ and sysdeps/pthread/
# tst-{mutex,cond,mtx,cnd,robust,once,rwlock}*, support/ (glibc's test harness), test-skeleton.c and
# three self-contained internal headers.  Nothing of glibc is committed: the project holds this
# script, the stand-ins in Tests/pthread/glibc-shim/ for internal headers, and the list of
# exclusions.  The harness is built from support/ as far as it compiles against the installed
# glibc; the tests are built against the installed glibc too (the static-link variants are
# skipped: a preload cannot reach a static binary).  Built once (a stamp per glibc version and
# script), then each test runs on glibc and under the preload, two at a time, each under a
# timeout.
#
# Passes if every test that passes on glibc passes under the preload, except those listed in
# Tests/pthread/glibc-tests.exclude (tests of glibc's internal layout or counters, each with
# its reason; docs/pthread-dropin.md).  An excluded test that passes is reported, so the list
# stays true.  Tests that fail or do not build on glibc alone are listed and not counted.
set -u
so=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
shim=$here/glibc-shim
exclude_file=$here/glibc-tests.exclude
jobs=2
timeout_s=120 # per test and run; glibc's own driver times out first (TIMEOUTFACTOR below)

tarball=$(ls /usr/src/glibc/glibc-*.tar.xz 2>/dev/null | sort -V | tail -1)
[ -n "$tarball" ] || { echo "glibc-tests: no /usr/src/glibc/glibc-*.tar.xz (package glibc-source: make deps)" >&2; exit 1; }
[ -f "$so" ] || { echo "glibc-tests: no preload at $so" >&2; exit 1; }
ver=$(basename "$tarball" .tar.xz)
src=$out/$ver
bin=$out/bin-$ver
stamp=$out/.built-$ver
mkdir -p "$out"

# ---- build, once ---------------------------------------------------------------------------

patterns=()
for d in nptl sysdeps/pthread; do
	for t in mutex cond mtx cnd robust once rwlock; do
		patterns+=("$ver/$d/tst-$t*")
	done
	patterns+=("$ver/$d/tst-tpp.h")
done
patterns+=("$ver/support/*" "$ver/test-skeleton.c" "$ver/include/intprops.h"
	   "$ver/include/array_length.h" "$ver/include/libc-diag.h")

# Flags: quote includes find the tests' siblings ("tst-mutex5.c", "../test-skeleton.c") and
# <support/...>; the shims and the extracted internal headers come before the system's only for
# names the system lacks.  -w: glibc's tests are not written for this project's warnings.
CFLAGS_T=(-O1 -g -D_GNU_SOURCE -w -pthread -I"$src" -I"$src/support" -I"$shim" -I"$src/include-subset"
	  -iquote "$src/nptl" -iquote "$src/sysdeps/pthread" -DTIMEOUTFACTOR=1 -include limits.h
	  -DSRCDIR_PATH=\"$src\" -DOBJDIR_PATH=\"$bin\" -DOBJDIR_ELF_LDSO_PATH=\"/lib64/ld-linux-x86-64.so.2\"
	  -DINSTDIR_PATH=\"/usr\" -DLIBDIR_PATH=\"/usr/lib\" -DBINDIR_PATH=\"/usr/bin\"
	  -DSBINDIR_PATH=\"/usr/sbin\" -DSLIBDIR_PATH=\"/lib\" -DROOTSBINDIR_PATH=\"/sbin\"
	  -DCOMPLOCALEDIR_PATH=\"/usr/lib/locale\")

# The harness: every support/ file that compiles against the installed glibc (the rest need
# glibc's internals: DNS, containers, dynarrays; the thread tests do not use them).
build_support() {
	local objs=$bin/support-obj f b
	mkdir -p "$objs"
	for f in "$src"/support/*.c; do
		b=$(basename "$f" .c)
		case $b in tst-*|*container*|links-dso-*|test-driver|README-testing|test-run-command) continue ;; esac
		echo "$f"
	done | xargs -P "$jobs" -I{} sh -c 'gcc "$@" -c {} -o "'"$objs"'/$(basename {} .c).o" 2>/dev/null || true' _ "${CFLAGS_T[@]}"
	rm -f "$bin/libsupport.a"
	ar rcs "$bin/libsupport.a" "$objs"/*.o
	echo "glibc-tests: support/ harness: $(ls "$objs"/*.o | wc -l) objects"
}

build_tests() {
	local f name
	for f in "$src"/nptl/tst-* "$src"/sysdeps/pthread/tst-*; do
		case $f in *.c|*.cc) ;; *) continue ;; esac
		name=$(basename "$f"); name=${name%.*}
		case $name in *-static) continue ;; esac # a preload cannot reach a static binary
		echo "$f"
	done | xargs -P "$jobs" -I{} sh -c '
		f={}; name=$(basename "$f"); name=${name%.*}
		cc=gcc; case $f in *.cc) cc=g++ ;; esac
		$cc "$@" -o "'"$bin"'/$name" "$f" "'"$bin"'/libsupport.a" -lpthread -lrt -ldl \
			> "'"$bin"'/$name.build.log" 2>&1 || rm -f "'"$bin"'/$name"' _ "${CFLAGS_T[@]}"
}

if [ ! -f "$stamp" ] || [ "$0" -nt "$stamp" ] || [ -n "$(find "$shim" -newer "$stamp" 2>/dev/null)" ]; then
	start=$(date +%s)
	rm -rf "$src" "$bin"
	mkdir -p "$bin"
	tar -xJf "$tarball" -C "$out" --wildcards "${patterns[@]}" 2>/dev/null
	[ -f "$src/support/check.h" ] || { echo "glibc-tests: extracting $tarball failed" >&2; exit 1; }
	mkdir -p "$src/include-subset"
	mv "$src"/include/*.h "$src/include-subset/" && rmdir "$src/include"
	build_support
	build_tests
	touch "$stamp"
	echo "glibc-tests: built $(find "$bin" -maxdepth 1 -type f -executable | wc -l) tests from $ver in $(( $(date +%s) - start )) s"
fi

# ---- run ------------------------------------------------------------------------------------

run_one() { # run_one NAME MODE(glibc|preload) -> writes $bin/NAME.MODE.{log,rc}
	local name=$1 mode=$2 rc
	local env_pre=()
	[ "$mode" = preload ] && env_pre=(env LD_PRELOAD="$so")
	(cd "$bin" && TIMEOUTFACTOR=3 timeout -k 5 "$timeout_s" "${env_pre[@]}" "./$name" > "$name.$mode.log" 2>&1)
	rc=$?
	[ $rc -eq 124 ] && echo "TIMEOUT: glibc test $name ($mode) ran longer than $timeout_s s" >> "$bin/$name.$mode.log"
	echo $rc > "$bin/$name.$mode.rc"
}
export -f run_one
export bin so timeout_s

if [ $# -gt 0 ]; then tests=("$@"); else
	mapfile -t tests < <(cd "$bin" && find . -maxdepth 1 -type f -executable -printf '%f\n' | sort)
fi
declare -A excluded
while read -r name reason; do
	case $name in ''|'#'*) continue ;; esac
	excluded[$name]=$reason
done < "$exclude_file"

# An excluded test is run under the preload only when GLIBC_TESTS_EXCLUDED=1 (tst-rwlock16
# would deadlock to glibc's 60 s timeout on every make test run); its verdict is then checked.
start=$(date +%s)
for t in "${tests[@]}"; do
	echo "$t glibc"
	if [ -n "${excluded[$t]+x}" ] && [ "${GLIBC_TESTS_EXCLUDED:-0}" != 1 ]; then
		echo 124 > "$bin/$t.preload.rc"; echo "not run: excluded" > "$bin/$t.preload.log"
	else
		echo "$t preload"
	fi
done | xargs -P "$jobs" -n 2 bash -c 'run_one "$0" "$1"'

# glibc's tests were written for an idle machine: some check how long a wait took.  One that
# passes on glibc and fails under the preload is run again, alone, before it counts as failed
# (and the retry is reported, so an intermittent failure is seen, not hidden).
retried=()
for t in "${tests[@]}"; do
	[ -n "${excluded[$t]+x}" ] && continue
	if [ "$(cat "$bin/$t.glibc.rc")" = 0 ] && [ "$(cat "$bin/$t.preload.rc")" != 0 ]; then
		cp "$bin/$t.preload.log" "$bin/$t.preload.first.log"
		run_one "$t" preload
		retried+=("$t: first run $(cat "$bin/$t.preload.first.log" | tail -1 | head -c 120); again: rc $(cat "$bin/$t.preload.rc")")
	fi
done

verdict() { # rc -> word
	case $1 in 0) echo pass ;; 77) echo unsupported ;; 124) echo timeout ;; *) echo "fail($1)" ;; esac
}

pass=0 fail=0 excl=0 glibc_bad=0
failed=() not_glibc=() stale=()
for t in "${tests[@]}"; do
	g=$(verdict "$(cat "$bin/$t.glibc.rc")"); p=$(verdict "$(cat "$bin/$t.preload.rc")")
	if [ "$g" != pass ]; then
		glibc_bad=$((glibc_bad + 1)); not_glibc+=("$t: glibc $g, preload $p")
	elif [ "$p" = pass ]; then
		pass=$((pass + 1))
		[ -n "${excluded[$t]+x}" ] && stale+=("$t")
	elif [ -n "${excluded[$t]+x}" ]; then
		excl=$((excl + 1)); echo "excluded: $t (preload $p): ${excluded[$t]}"
	else
		fail=$((fail + 1)); failed+=("$t")
	fi
done
not_built=$(cd "$bin" && ls *.build.log | sed 's/\.build\.log$//' | while read -r n; do [ -x "$n" ] || echo "$n"; done)

for n in "${not_glibc[@]}"; do echo "not counted (does not pass on glibc alone): $n"; done
for n in $not_built; do echo "not built against the installed glibc: $n ($(grep -m1 -o 'error: .*\|fatal error: .*' "$bin/$n.build.log" | head -c 100))"; done
for n in "${retried[@]}"; do echo "NOTE: retried alone after a failure under the preload: $n"; done
for t in "${stale[@]}"; do echo "NOTE: excluded test $t passes under the preload: take it off Tests/pthread/glibc-tests.exclude"; done
for t in "${failed[@]}"; do
	echo "FAIL: glibc test $t passes on glibc, fails under the preload ($(verdict "$(cat "$bin/$t.preload.rc")")); its output:"
	tail -15 "$bin/$t.preload.log" | sed 's/^/    /'
done
echo "glibc-tests ($ver): ${#tests[@]} run, $pass pass on both, $excl excluded, $fail failed under the preload only, $glibc_bad not passing on glibc; $(echo $not_built | wc -w) not built; run time $(( $(date +%s) - start )) s"
[ $fail -eq 0 ]
