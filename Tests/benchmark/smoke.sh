#!/usr/bin/env bash
# make test's check of kmutex-bench (and of krwsem-bench, when given; and of flexbench.sh,
# under the preload when PRELOAD_SO is given): every mode and every lock runs for a fraction of
# a second and the output is well formed.  No timing is judged: the machine is shared and noisy.
set -euo pipefail
bench=${1:?usage: smoke.sh KMUTEX_BENCH OUT_DIR [KRWSEM_BENCH [PRELOAD_SO]]}
out=${2:?usage: smoke.sh KMUTEX_BENCH OUT_DIR [KRWSEM_BENCH [PRELOAD_SO]]}
rwbench=${3:-}
preload_so=${4:-}
here=$(dirname "$0")
fails=0
fail() { echo "test-bench-smoke: FAIL: $*" >&2; fails=$((fails + 1)); }

rm -rf "$out" && mkdir -p "$out"
"$bench" all --smoke --out "$out" > "$out/stdout.txt" 2> "$out/stderr.txt" ||
	{ cat "$out/stderr.txt" >&2; fail "kmutex-bench all --smoke exited non-zero"; }

# The locks each mode must have covered.
all_locks=$("$bench" list | awk '{print $1}')
contended=$(echo "$all_locks" | grep -v '^bare-cmpxchg$')
in_process=$(echo "$contended" | grep -v '^swift-mutex$')
if [ ! -x "$(dirname "$bench")/swift-mutex-peer" ]; then
	echo "test-bench-smoke: no swift-mutex-peer: the Swift column is not checked"
	all_locks=$(echo "$all_locks" | grep -v '^swift-mutex$')
	contended=$in_process
fi

# check_csv FILE HEADER ROW_REGEX LOCKS MIN_ROWS_PER_LOCK
check_csv() {
	local file=$out/$1 header=$2 row=$3 locks=$4 per=$5
	[ -f "$file" ] || { fail "$1 missing"; return; }
	[ "$(head -1 "$file")" = "$header" ] || fail "$1: header is '$(head -1 "$file")'"
	local bad
	bad=$(tail -n +2 "$file" | grep -Evc "$row" || true)
	[ "$bad" = 0 ] || fail "$1: $bad malformed rows, e.g. '$(tail -n +2 "$file" | grep -Ev "$row" | head -1)'"
	for l in $locks; do
		local n
		n=$(grep -c "^$l," "$file" || true)
		[ "$n" -ge "$per" ] || fail "$1: $n rows for $l, expected at least $per"
	done
}
num='[0-9]+(\.[0-9]+)?'
name='[a-z0-9-]+'
check_csv uncontended.csv "lock,trial,pairs,ns_per_pair" "^$name,[0-9]+,[0-9]+,$num\$" "$all_locks" 1
# smoke profile: threads 1,2,32 x cs 0,1000 = 6 cells per lock
# Costs: CPU ns, voluntary and involuntary switches, futex waits and wakes (kmutex only: empty
# for the others), other processes' CPU (empty for the Swift peer, which runs in its own).
check_csv throughput.csv \
	"lock,threads,cs_ns,trial,ops,elapsed_ns,ops_per_s,cpu_ns,vcsw,ivcsw,futex_waits,futex_wakes,others_ns" \
	"^$name,(1|2|32),(0|1000),1,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,([0-9]+)?,([0-9]+)?,([0-9]+)?\$" \
	"$contended" 6
g='[0-9.e+-]+' # %g: per-acquisition figures are often below 0.001
check_csv throughput_summary.csv \
	"lock,threads,cs_ns,median_ops_s,min_ops_s,max_ops_s,ratio_vs_pthread_normal,spread,ratio_spread,quiet_trials,cpu_ns_per_op,vcsw_per_op,ivcsw_per_op,futex_waits_per_op,futex_wakes_per_op,others_share" \
	"^$name,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,$num,$num,$num,[0-9]+,$g,$g,$g,($g)?,($g)?,($g)?\$" "$contended" 6
# kmutex counts its futex calls and the others leave the columns empty; glibc's are CPU-only.
for l in $(echo "$contended" | grep '^kmutex'); do
	grep -Eq "^$l,([^,]*,){12}$g,$g," "$out/throughput_summary.csv" ||
		fail "throughput_summary.csv: no futex counts for $l"
done
grep -Eq "^pthread-normal,([^,]*,){12},," "$out/throughput_summary.csv" ||
	fail "throughput_summary.csv: futex columns of pthread-normal are not empty"
check_csv locktorture.csv "lock,trial,writers,duration_ms,total,max,min,fail,flag" \
	"^$name,1,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,0,(\?\?\?)?\$" "$in_process" 1
check_csv lockskew.csv \
	"lock,trial,duration_ms,hog_rounds,victim_rounds,victim_max_wait_us,victim_mean_wait_us,victim_oversleep_max_us" \
	"^$name,1,[0-9]+,[0-9]+,[0-9]+,$num,$num,$num\$" "$in_process" 1
check_csv waittime.csv "lock,threads,acquisitions,p50_ns,p99_ns,p999_ns,max_ns,acq_mean,acq_stddev" \
	"^$name,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+,$num,$num\$" "$in_process" 1
# condvar (issue 9): both implementations, both variants, threads 4, 16, 32.
cv_num='[0-9]+(\.[0-9]+)?'
check_csv condvar.csv "variant,impl,threads,trial,duration_ms,rounds_per_s,cpu_us_per_round,vcsw_per_round" \
	"^(broadcast|prodcons),(kcond|pthread-cond),(4|16|32),1,[0-9]+,[0-9]+,$cv_num,$cv_num\$" "" 0
check_csv condvar_summary.csv \
	"variant,impl,threads,median_rounds_s,min_rounds_s,max_rounds_s,median_cpu_us,min_cpu_us,max_cpu_us,median_vcsw,min_vcsw,max_vcsw,ratio_rounds_vs_pthread_cond" \
	"^(broadcast|prodcons),(kcond|pthread-cond),(4|16|32)(,$cv_num){10}\$" "" 0
for v in broadcast prodcons; do
	for i in kcond pthread-cond; do
		n=$(grep -c "^$v,$i," "$out/condvar_summary.csv" 2>/dev/null || true)
		[ "$n" = 3 ] || fail "condvar_summary.csv: $n rows for $v/$i, expected 3 (threads 4, 16, 32)"
		grep -Eq "^  $v +(4|16|32)  $i +[0-9]+ \[" "$out/stdout.txt" || fail "no condvar table line for $v/$i"
	done
done

# The terminal report: locktorture's line for every lock, and the target summary.
for l in $in_process; do
	grep -Eq "^  $l +Writes:  Total: [0-9]+  Max/Min: [0-9]+/[0-9]+ (\?\?\?)?  Fail: 0 \$" "$out/stdout.txt" ||
		fail "no well-formed locktorture line for $l"
	[ -s "$out/cdf_$l.dat" ] || fail "cdf_$l.dat missing or empty"
done
for l in $contended; do [ -s "$out/tp_$l.dat" ] || fail "tp_$l.dat missing"; done
grep -q "^Issue 4 targets for kmutex" "$out/stdout.txt" || fail "no target summary in the report"
grep -q "^  cost, medians: CPU ns per acquisition" "$out/stdout.txt" || fail "no cost table in the report"
# one cost row per contended lock and critical section: three fields per thread count
for l in $contended; do
	n=$(grep -Ec "^  $l +( +[0-9]+(ms)? +[0-9.]+ +([0-9.]+|-)){3}\$" "$out/stdout.txt" || true)
	[ "$n" -ge 2 ] || fail "report: $n well-formed cost rows for $l, expected 2"
done
cmp -s "$out/stdout.txt" <(cat "$out/report.txt"; printf '\nresults: %s/ (report.txt, *.csv, plot data)\n' "$out") ||
	fail "report.txt differs from the terminal tables"

# test_mutex keeps liburcu's interface and SUMMARY line (another area's script parses it).
summary='^SUMMARY [a-z0-9-]+ +testdur +[0-9]+ nr_readers +2 rdur +[0-9]+ wdur +[0-9]+ nr_writers +2 wdelay +[0-9]+ nr_reads +[0-9]+ nr_writes +[0-9]+ nr_ops +[0-9]+$'
line=$("$bench" test_mutex --lock kmutex 2 2 1 -c 10 -e 10 -d 10 | tail -1) || fail "test_mutex kmutex exited non-zero"
echo "$line" | grep -Eq "$summary" || fail "test_mutex SUMMARY line malformed: $line"
ops=$(echo "$line" | awk '{print $NF}')
[ "${ops:-0}" -gt 0 ] || fail "test_mutex kmutex: no operations in 1 s"
for l in $in_process; do
	line=$("$bench" test_mutex 2 2 0 --lock "$l" | tail -1) || fail "test_mutex $l exited non-zero"
	echo "$line" | grep -Eq "$summary" || fail "test_mutex $l: SUMMARY line malformed: $line"
done

# The pthread-API programs programs.sh runs with and without the preload: here on glibc
# alone (the preload may not be built), for the form of their result line.
pt=$(dirname "$bench")/preload
line=$("$pt/pt_uncontended" 100000) || fail "pt_uncontended exited non-zero"
echo "$line" | grep -Eq "^pt_uncontended pairs=100000 ns_per_pair=$num preload=0\$" ||
	fail "pt_uncontended line malformed: $line"
line=$("$pt/pt_lockskew" 100 0) || fail "pt_lockskew exited non-zero"
echo "$line" | grep -Eq "^pt_lockskew ms=100 load=0 hog_rounds=[0-9]+ victim_rounds=[0-9]+ victim_max_wait_us=$num victim_mean_wait_us=$num oversleep_max_us=$num preload=0\$" ||
	fail "pt_lockskew line malformed: $line"
for mode in read write; do
	line=$("$pt/pt_rw_uncontended" $mode 100000) || fail "pt_rw_uncontended $mode exited non-zero"
	echo "$line" | grep -Eq "^pt_rw_uncontended mode=$mode pairs=100000 ns_per_pair=$num preload=0\$" ||
		fail "pt_rw_uncontended line malformed: $line"
done
line=$("$pt/pt_rwskew" | tail -1) || fail "pt_rwskew exited non-zero" # 1 s
echo "$line" | grep -Eq "^rwskew writes=[0-9]+ worst_wait_us=[0-9]+ reads=[0-9]+ preload=0\$" ||
	fail "pt_rwskew line malformed: $line"

# Issue 21's FlexGuard-shaped benchmark (flexbench.sh, smoke profile: threads 2 and 32, one
# 40 ms run each, about a second): every peer ran both thread counts, none lost an update
# (pt_flexguard checks its shared words and flexbench.sh drops such a run, so a row would be
# missing), the preload was in the kmutex-preload runs only, and the CSVs and report are well
# formed.  Without PRELOAD_SO (or without the file) the kmutex-preload peer is not expected.
flex_peers="glibc glibc-adaptive futex"
if [ -n "$preload_so" ] && [ -f "$preload_so" ]; then
	flex_peers="$flex_peers kmutex-preload"
else
	echo "test-bench-smoke: no preload library: flexbench's kmutex-preload peer is not checked"
fi
if ! timeout 120 "$here/flexbench.sh" "${preload_so:-/nonexistent}" "$out/flexbench" "$pt" smoke \
	> "$out/flex_stdout.txt" 2>&1; then
	cat "$out/flex_stdout.txt" >&2
	fail "flexbench.sh smoke exited non-zero (or hung: 120 s)"
fi
grep -q "dropped" "$out/flex_stdout.txt" && fail "flexbench.sh dropped runs: $(grep dropped "$out/flex_stdout.txt" | head -2)"
flex_re="(glibc|glibc-adaptive|futex|kmutex-preload)"
check_csv flexbench/flexbench.csv "peer,threads,trial,ms,delay,ops,ops_per_s" \
	"^$flex_re,(2|32),1,40,200,[0-9]+,[0-9]+\$" "$flex_peers" 2
check_csv flexbench/flexbench_summary.csv \
	"peer,threads,trials,median_ops_s,min_ops_s,max_ops_s,spread,ratio_vs_glibc,ratio_vs_futex,paired_vs_glibc,paired_vs_futex" \
	"^$flex_re,(2|32),1,[0-9]+,[0-9]+,[0-9]+,$num,$num,$num,$num,$num\$" "$flex_peers" 2
# the ratios are against the right rows: glibc's own is 1 against glibc, the futex lock's against futex
[ "$(grep -Ec '^glibc,(2|32),([^,]*,){5}1\.000,[^,]*,1\.000,' "$out/flexbench/flexbench_summary.csv" || true)" = 2 ] ||
	fail "flexbench_summary.csv: glibc's ratios against glibc are not 1.000 in both rows"
[ "$(grep -Ec '^futex,(2|32),([^,]*,){6}1\.000,[^,]*,1\.000$' "$out/flexbench/flexbench_summary.csv" || true)" = 2 ] ||
	fail "flexbench_summary.csv: futex's ratios against futex are not 1.000 in both rows"
for n in 2 32; do
	grep -Eq "^  $n +( +[0-9.]+ \[[0-9.]+-[0-9.]+\]){$(echo $flex_peers | wc -w)} " "$out/flexbench/flexbench.txt" ||
		fail "flexbench.txt: no well-formed row for $n threads"
done
cmp -s "$out/flex_stdout.txt" <(cat "$out/flexbench/flexbench.txt"; printf 'flexbench: results in %s/ (flexbench.txt, flexbench.csv, flexbench_summary.csv)\n' "$out/flexbench") ||
	fail "flexbench.txt differs from the terminal report"
for args in "nosuch 2" "futex 0" "futex" "futex 2 0"; do
	# shellcheck disable=SC2086 # the arguments split on purpose
	if err=$("$pt/pt_flexguard" $args 2>&1 >/dev/null); then fail "pt_flexguard $args succeeded"
	elif [ "$(echo "$err" | grep -c .)" != 1 ]; then fail "pt_flexguard $args: error is not one line: $err"; fi
done

# Misuse gets a one-line error and a non-zero exit.
expect_error() {
	local err
	if err=$("$bench" "$@" 2>&1 >/dev/null); then fail "kmutex-bench $* succeeded"; return; fi
	[ "$(echo "$err" | grep -c .)" = 1 ] || fail "kmutex-bench $*: error is not one line: $err"
}
expect_error throughput --locks nosuch
expect_error test_mutex --lock swift-mutex 1 1 1
expect_error test_mutex 1 1
expect_error nosuchmode
expect_error throughput --threads 0
expect_error condvar --trials 0x

# Plots, when gnuplot is there.
if command -v gnuplot >/dev/null; then
	"$here/plot.sh" "$out" >/dev/null || fail "plot.sh failed"
	for p in throughput waitcdf perthread; do
		[ "$(head -c 4 "$out/$p.png" 2>/dev/null | tail -c 3)" = PNG ] || fail "$p.png is not a PNG"
	done
fi

# krwsem-bench (issue 22): every mode, every lock, every share of writes; the target lines.
if [ -n "$rwbench" ]; then
	rwout=$out/rwlock
	if ! timeout 300 "$rwbench" all --smoke --out "$rwout" > "$out/rw_stdout.txt" 2> "$out/rw_stderr.txt"; then
		cat "$out/rw_stderr.txt" >&2
		fail "krwsem-bench all --smoke exited non-zero (or hung: 300 s)"
	fi
	rw_all=$("$rwbench" list | awk '{print $1}')
	rw_locks=$(echo "$rw_all" | grep -v '^krwsem-layered$') # the others run every mode
	[ "$(echo "$rw_locks" | wc -l)" = 5 ] || fail "krwsem-bench list: $(echo "$rw_locks" | wc -l) contended locks, expected 5"
	check_csv rwlock/rw_uncontended.csv "lock,op,trial,pairs,ns_per_pair" \
		"^$name,(read|write),1,[0-9]+,$num\$" "$rw_all" 2
	check_csv rwlock/rw_uncontended_summary.csv "lock,op,median_ns,min_ns,max_ns,ratio_vs_glibc_rw" \
		"^$name,(read|write),$num,$num,$num,$num\$" "$rw_all" 2
	# smoke profile: threads 1,2,8 x writes 0,10,100,500,1000 per mille = 15 cells per lock
	check_csv rwlock/rw_throughput.csv "lock,threads,write_permille,trial,ops,elapsed_ns,ops_per_s" \
		"^$name,(1|2|8),(0|10|100|500|1000),1,[0-9]+,[0-9]+,[0-9]+\$" "$rw_locks" 15
	check_csv rwlock/rw_throughput_summary.csv \
		"lock,threads,write_permille,median_ops_s,min_ops_s,max_ops_s,ratio_vs_glibc_rw,ratio_vs_glibc_rw_writer,ratio_vs_kmutex" \
		"^$name,(1|2|8),(0|10|100|500|1000),[0-9]+,[0-9]+,[0-9]+,$num,$num,$num\$" "$rw_locks" 15
	check_csv rwlock/rw_waits.csv "lock,scenario,trial,asks,p50_ns,p99_ns,max_ns,starved,oversleep_max_ns" \
		"^$name,(writer|reader)-wait,1,[0-9]+,[0-9]+,[0-9]+,[0-9]+,(0|1),[0-9]+\$" "$rw_locks" 2
	check_csv rwlock/rw_waits_summary.csv \
		"lock,scenario,median_max_ns,min_max_ns,max_max_ns,median_p99_ns,starved_trials,max_oversleep_ns" \
		"^$name,(writer|reader)-wait,[0-9]+,[0-9]+,[0-9]+,[0-9]+,(0|1),[0-9]+\$" "$rw_locks" 2
	for l in $rw_locks; do [ -s "$rwout/rwtp_$l.dat" ] || fail "rwtp_$l.dat missing"; done
	grep -q "^Issue 22 targets for krwsem" "$out/rw_stdout.txt" || fail "krwsem-bench: no target summary"
	n=$(grep -Ec ": (met|MISSED)\$" "$out/rw_stdout.txt" || true)
	[ "$n" = 7 ] || fail "krwsem-bench: $n target lines, expected 7"
	cmp -s "$out/rw_stdout.txt" <(cat "$rwout/rw_report.txt"; printf '\nresults: %s/ (rw_report.txt, rw_*.csv, rwtp_*.dat)\n' "$rwout") ||
		fail "rw_report.txt differs from the terminal tables"
	if "$rwbench" nosuchmode > /dev/null 2>&1; then fail "krwsem-bench nosuchmode succeeded"; fi
	if command -v gnuplot >/dev/null; then
		"$here/plot.sh" "$rwout" > /dev/null || fail "plot.sh $rwout failed"
		[ "$(head -c 4 "$rwout/rw_throughput.png" 2>/dev/null | tail -c 3)" = PNG ] ||
			fail "rw_throughput.png is not a PNG"
	fi
fi

[ "$fails" = 0 ] || { echo "test-bench-smoke: $fails failures (output in $out)" >&2; exit 1; }
echo "test-bench-smoke: passed (every mode and lock ran; output well formed)"
