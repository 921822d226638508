#!/bin/sh
# liburcu's test_mutex benchmark shape, kmutex against pthread_mutex side by side.
#
#   Tests/urcu/compare-test-mutex.sh [-b BIN] [-t TRIALS] [-l LOCK,LOCK...] \
#       [nr_readers nr_writers duration [-c rdur] [-e wdur] [-d wdelay]]
#
# Runs `BIN test_mutex --lock LOCK ARGS` for every lock, TRIALS times, interleaved (each trial
# runs every lock once, starting from a different lock each time, so drift in the machine's
# load falls on all of them alike), then prints the median of nr_reads / nr_writes / nr_ops per
# lock and each lock's median ops relative to the first lock.  Every raw SUMMARY line is kept
# in the output.  A benchmark, not a test: it asserts nothing about speed.
# Defaults: BIN=build/bench/kmutex-bench, TRIALS=5, LOCKS=kmutex,pthread-normal, ARGS=2 2 3.
set -eu

bin=build/bench/kmutex-bench
trials=5
locks=kmutex,pthread-normal

die() { echo "compare-test-mutex: $*" >&2; exit 2; }

while getopts b:t:l:h opt; do
	case $opt in
	b) bin=$OPTARG ;;
	t) trials=$OPTARG ;;
	l) locks=$OPTARG ;;
	*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- 2 2 3

[ -x "$bin" ] || die "$bin not found: build it with 'make $bin' (or pass -b)"
case $trials in '' | *[!0-9]* | 0) die "-t wants a positive trial count, got '$trials'" ;; esac
locks=$(echo "$locks" | tr ',' ' ')
nlocks=$(echo $locks | wc -w)

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

# One run; appends "lock reads writes ops" to $raw and echoes the SUMMARY line.
run_one() {
	lock=$1
	shift
	line=$("$bin" test_mutex --lock "$lock" "$@" | grep '^SUMMARY') ||
		die "$bin test_mutex --lock $lock printed no SUMMARY line (or failed)"
	echo "$line"
	echo "$line" | awk -v lock="$lock" '{
		for (i = 1; i < NF; i++) f[$i] = $(i + 1)
		if (f["nr_reads"] == "" || f["nr_writes"] == "" || f["nr_ops"] == "")
			exit 1
		print lock, f["nr_reads"], f["nr_writes"], f["nr_ops"]
	}' >>"$raw" || die "cannot parse: $line"
}

echo "test_mutex $*: $trials trials of: $locks (interleaved)"
t=0
while [ "$t" -lt "$trials" ]; do
	# Rotate the starting lock: trial t starts with lock number t mod nlocks.
	order=$(echo $locks | awk -v s=$((t % nlocks)) '{
		for (i = 0; i < NF; i++) printf "%s ", $(((i + s) % NF) + 1) }')
	for lock in $order; do
		run_one "$lock" "$@"
	done
	t=$((t + 1))
done

duration=$3
echo
printf '%-18s %14s %14s %14s %12s %16s %8s\n' lock "nr_reads" "nr_writes" "nr_ops" "ops/s" \
	"ops min..max" "vs first"
first=
for lock in $locks; do
	med() { awk -v l="$lock" -v c="$1" '$1 == l { print $c }' "$raw" | sort -n |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
	reads=$(med 2) writes=$(med 3) ops=$(med 4)
	range=$(awk -v l="$lock" '$1 == l { print $4 }' "$raw" | sort -n |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2g..%.2g", lo, hi }')
	[ -n "$first" ] || first=$ops
	printf '%-18s %14s %14s %14s %12s %16s %8s\n' "$lock" "$reads" "$writes" "$ops" \
		"$(awk -v o="$ops" -v d="$duration" 'BEGIN { printf "%.3g", o / d }')" "$range" \
		"$(awk -v o="$ops" -v f="$first" 'BEGIN { printf "%.2fx", f ? o / f : 0 }')"
done
echo "(medians of $trials trials; ops = reads + writes, all of them lock acquisitions)"
