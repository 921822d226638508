#!/usr/bin/env bash
# The USDT probes: present in the library (readelf -n shows their stapsdt notes), and, where
# bpftrace may attach uprobes, firing once per event: on a contended run, contention_end fires
# once per contention the statistics count, the first contention_begin of each call too, and
# contention_begin fires again (flags MUTEX) once per call that slept.  Skipped, with a
# message, where <sys/sdt.h> was missing at build time or bpftrace cannot attach.
# usage: probes.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=$1 out=$2
mkdir -p "$out"

notes() { readelf -n "$1" 2>/dev/null | awk '/Provider: kmutex/ { p = 1; next } p && /Name:/ { print $2; p = 0 }' | sort -u | tr '\n' ' '; }

if ! echo '#include <sys/sdt.h>' | ${CC:-gcc} -E -x c - >/dev/null 2>&1; then
	echo "probes: SKIP: <sys/sdt.h> not found (Debian: systemtap-sdt-dev), so the library has no probes"
	exit 0
fi

fail=0
check_notes() { # FILE WANT...
	local file=$1; shift
	local have; have=$(notes "$file")
	for p in "$@"; do
		case " $have" in
		*" $p "*) ;;
		*) echo "probes: FAIL: $file has no kmutex:$p probe (has: ${have:-none})"; fail=1 ;;
		esac
	done
	echo "probes: $file: kmutex probes: $have"
}
rw_probes="rdlock_acquire_read wrlock_acquire_write rwlock_unlock"
check_notes "$build/libkmutex.so" contention_begin contention_end handoff acquired released $rw_probes
check_notes "$build/debug/libkmutex.a" contention_begin contention_end handoff acquired released $rw_probes
check_notes "$out/contended" contention_begin contention_end handoff

# krwsem (issue 22) shares the contention probes with kmutex (flags READ 0x2 / WRITE 0x4, as
# the kernel's rwsem fires lock:contention_begin): contention_begin and handoff must have a
# site in krwsem.c itself (addr2line -i: the probe sits in an inline helper that krwsem.c
# expands); contention_end has one site for both (lock_stat.c), which perf needs.
sites_in() { # FILE PROBE SOURCE: the number of PROBE's sites that addr2line places in SOURCE
	readelf -n "$1" 2>/dev/null |
		awk -v p="$2" '/Provider: kmutex/ { k = 1; next } k && /Name:/ { n = $2; k = 0; next }
			n == p && /Location:/ { sub(",", "", $2); print $2; n = "" }' |
		while read -r addr; do
			addr2line -i -e "$1" "$addr" | grep -q "/$3:" && echo "$addr"
		done | grep -c . || true
}
if command -v addr2line >/dev/null; then
	for p in contention_begin handoff; do
		n=$(sites_in "$build/libkmutex.so" $p krwsem.c)
		if [ "${n:-0}" -ge 1 ]; then echo "probes: $p: $n site(s) in krwsem.c"
		else echo "probes: FAIL: $build/libkmutex.so: no $p site in krwsem.c"; fail=1; fi
	done
else
	echo "probes: no addr2line: krwsem's contention sites not located"
fi
[ $fail -eq 0 ] || exit 1

# bpftrace: only as root (or with CAP_BPF and CAP_PERFMON) and where the kernel has uprobes.
bin=$(realpath "$out/contended")
if ! command -v bpftrace >/dev/null; then
	echo "probes: SKIP bpftrace test: bpftrace not installed (Debian: bpftrace)"; exit 0
fi
if ! timeout 60 bpftrace -q -e "usdt:$bin:kmutex:contention_end { @n = count(); }" -c "$bin 10" \
	> "$out/bpftrace-probe.log" 2>&1; then
	echo "probes: SKIP bpftrace test: bpftrace cannot attach a uprobe here (not root, or no"
	echo "        uprobes in this kernel); its output:"; sed 's/^/        /' "$out/bpftrace-probe.log" | head -5
	exit 0
fi

timeout 120 bpftrace -q -e "
usdt:$bin:kmutex:contention_begin /@in[tid] == 0/ { @in[tid] = 1; @first = count(); }
usdt:$bin:kmutex:contention_begin { @begin = count(); }
usdt:$bin:kmutex:contention_end { delete(@in[tid]); @end = count(); }
END { clear(@in); }" -c "$bin 100000" > "$out/bpftrace.log" 2>&1
status=$?
if [ $status -ne 0 ]; then
	echo "probes: FAIL: bpftrace exited $status"; cat "$out/bpftrace.log"; exit 1
fi
get() { awk -v k="$1" '$1 == k { print $2 }' "$out/bpftrace.log"; }
read -r _ contentions _ spin _ slept < <(grep '^contentions ' "$out/bpftrace.log")
first=$(get '@first:') begin=$(get '@begin:') end=$(get '@end:')
echo "probes: statistics: contentions $contentions (spin $spin, slept $slept);" \
     "bpftrace: contention_end $end, first contention_begin $first, contention_begin $begin"
if [ -z "$contentions" ] || [ "${contentions:-0}" -eq 0 ]; then
	echo "probes: FAIL: the run was not contended"; cat "$out/bpftrace.log"; exit 1
fi
[ "${end:-0}" -eq "$contentions" ] || { echo "probes: FAIL: contention_end events != contentions"; fail=1; }
[ "${first:-0}" -eq "$contentions" ] || { echo "probes: FAIL: first contention_begin events != contentions"; fail=1; }
[ "${begin:-0}" -eq $((contentions + slept)) ] || { echo "probes: FAIL: contention_begin events != contentions + slept"; fail=1; }
[ $fail -eq 0 ] && echo "probes: events match the statistics"
[ $fail -eq 0 ] || exit 1

# The documented one-liner, on a program linked with libkmutex.a, as the page writes it.
(cd "$out" && timeout 60 bpftrace -e 'usdt:./contended:kmutex:contention_end /arg1 != 0/ { @gave_up[arg1] = count(); }' \
	-c './contended 1000') > "$out/oneliner.log" 2>&1 && grep -q '^Attaching 1 probe' "$out/oneliner.log" \
	|| { echo "probes: FAIL: the documented bpftrace one-liner"; cat "$out/oneliner.log"; exit 1; }
echo "probes: the documented one-liner runs"

# The documented contention script on a program linked with libkmutex.so, which bpftrace 0.17
# cannot start with -c: scripts/kmutex-contention starts it, and attaches to a running process
# with -p.  Its count of contentions must equal the program's own statistics.  For -p, the
# program waits on a fifo (libraries mapped, nothing contended yet) until the tracer is ready.
shared=$(realpath "$out/contended-shared")
wrapper=$(dirname "$0")/../../scripts/kmutex-contention
counted() { awk '/^@contended\[/ { sub(/.*: /, ""); n += $0 } END { print n + 0 }' "$1"; }
check_wrapper() { # LOG FORM
	local have want
	want=$(awk '/^contentions [0-9]+ spin/ { print $2 }' "$1") have=$(counted "$1")
	echo "probes: kmutex-contention $2: statistics $want contentions, script $have"
	if [ -z "$want" ]; then echo "probes: FAIL: $2: the program's statistics are missing"; cat "$1"; fail=1
	elif [ "$want" -eq 0 ]; then echo "probes: $2: this run was not contended (a loaded machine can do that): nothing to compare"
	elif [ "$have" -ne "$want" ]; then echo "probes: FAIL: $2: the script's contentions != the statistics"; cat "$1"; fail=1; fi
}
timeout 300 "$wrapper" "$shared" 300000 > "$out/contention-run.log" 2>&1 \
	|| { echo "probes: FAIL: kmutex-contention PROGRAM exited $?"; cat "$out/contention-run.log"; exit 1; }
check_wrapper "$out/contention-run.log" "PROGRAM"

rm -f "$out/go"; mkfifo "$out/go"
# Not under timeout here, so that $! is the program (make's timeout covers this script).
"$shared" 300000 wait < "$out/go" > "$out/contention-pid.out" &
prog=$!
exec 3> "$out/go" # the program's stdin stays open until we write the line
until grep -q libkmutex "/proc/$prog/maps" 2>/dev/null; do # until it has exec'd and mapped the library
	kill -0 $prog 2>/dev/null || break
	sleep 0.05
done
timeout 300 "$wrapper" -p "$prog" > "$out/contention-pid.log" 2>&1 &
tracer=$!
# Until the tracer has attached (bpftrace prints its BEGIN line then), however long a loaded
# machine makes that: starting the program before would leave its contentions untraced.
until grep -q '^Tracing kmutex contention' "$out/contention-pid.log"; do
	kill -0 $tracer 2>/dev/null || break
	sleep 0.1
done
echo go >&3; exec 3>&-
wait $prog; wait $tracer; status=$?
cat "$out/contention-pid.out" >> "$out/contention-pid.log"
[ $status -eq 0 ] || { echo "probes: FAIL: kmutex-contention -p exited $status"; cat "$out/contention-pid.log"; exit 1; }
check_wrapper "$out/contention-pid.log" "-p PID"
[ $fail -eq 0 ] || exit 1

# perf, as docs/observability.md shows it: the probes added as events, perf stat counting
# contention_end (one site) and contention_begin's first site once per contended call, perf
# record and report, and the events deleted again.
if ! command -v perf >/dev/null || ! perf version >/dev/null 2>&1; then
	echo "probes: SKIP perf test: perf not installed (Debian: linux-perf)"; exit 0
fi
so=$(realpath "$(dirname "$shared")/../libkmutex.so")
# perf's probe events are the machine's, not this process's: two runs at once (two checkouts'
# make test) would add and delete each other's.  One at a time, then.
exec 9> "${TMPDIR:-/tmp}/kmutex-probes-perf.lock"
flock 9
perf probe -q -d 'sdt_kmutex:*' >/dev/null 2>&1 # left over from an interrupted run
perf buildid-cache --add "$so" > "$out/perf.log" 2>&1
trap "perf probe -q -d 'sdt_kmutex:*' >/dev/null 2>&1" EXIT
# contention_begin has two sites: perf 6.1 adds the first and fails on the second with
# "File exists", as the page says; what counts is that the event is there.
perf probe -x "$so" -a %sdt_kmutex:contention_begin >> "$out/perf.log" 2>&1
if ! perf probe -l 2>/dev/null | grep -q 'sdt_kmutex:contention_begin'; then
	echo "probes: SKIP perf test: perf probe cannot add a uprobe event here; its output:"
	sed 's/^/        /' "$out/perf.log" | tail -5; exit 0
fi
perf probe -x "$so" -a %sdt_kmutex:contention_end >> "$out/perf.log" 2>&1 \
	|| { echo "probes: FAIL: perf probe -a contention_end"; cat "$out/perf.log"; exit 1; }
timeout 120 perf stat -x, -o "$out/perf-stat.csv" -e sdt_kmutex:contention_begin -e sdt_kmutex:contention_end \
	"$shared" 300000 > "$out/perf-stat.out" 2>&1
status=$?
timeout 120 perf record -q -o "$out/perf.data" -e sdt_kmutex:contention_end -g "$shared" 300000 > /dev/null 2>&1 \
	&& perf report -i "$out/perf.data" --stdio > "$out/perf-report.txt" 2>&1
rstatus=$?
perf probe -d 'sdt_kmutex:*' >> "$out/perf.log" 2>&1 || { echo "probes: FAIL: perf probe -d"; fail=1; }
trap - EXIT
want=$(awk '/^contentions [0-9]+ spin/ { print $2 }' "$out/perf-stat.out")
end=$(awk -F, '$3 == "sdt_kmutex:contention_end" { print $1 }' "$out/perf-stat.csv")
begin=$(awk -F, '$3 == "sdt_kmutex:contention_begin" { print $1 }' "$out/perf-stat.csv")
echo "probes: perf stat: statistics $want contentions; contention_begin $begin, contention_end $end"
[ $status -eq 0 ] && [ -n "$want" ] || { echo "probes: FAIL: perf stat"; cat "$out/perf-stat.out" "$out/perf-stat.csv"; exit 1; }
[ "$end" = "$want" ] || { echo "probes: FAIL: perf stat's contention_end != contentions"; fail=1; }
[ "$begin" = "$want" ] || { echo "probes: FAIL: perf stat's contention_begin (first site) != contentions"; fail=1; }
[ $rstatus -eq 0 ] || { echo "probes: FAIL: perf record/report"; cat "$out/perf-report.txt"; fail=1; }
[ $fail -eq 0 ] && echo "probes: perf's counts match the statistics; perf record and report ran"
exit $fail
