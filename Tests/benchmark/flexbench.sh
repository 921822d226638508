#!/usr/bin/env bash
# Issue 21 item 6: the FlexGuard-shaped benchmark (preload/pt_flexguard.c: one lock, N threads,
# a critical section on one cache line, a short delay between sections) for four peers, all
# from the one binary:
#   glibc           pthread_mutex_t, glibc's default type
#   glibc-adaptive  PTHREAD_MUTEX_ADAPTIVE_NP
#   futex           a plain three-state futex lock, inlined (the floor the drop-in is held to)
#   kmutex-preload  the glibc-default program under LD_PRELOAD=libkmutex-pthread.so
# Trials are interleaved (every peer and thread count once per round, the peers' order rotated
# each round) so a slow spell of the shared machine lands on all of them; medians, min-max,
# ratios of medians.  Nothing about speed is asserted.  A run that fails, loses an update (the
# program checks its shared words) or has the preload wrongly in or out is dropped, loudly.
#
# usage: flexbench.sh PRELOAD_SO OUT_DIR PT_DIR [quick|smoke|full]
#   quick (make bench, ~25 s): threads 2 4 8 16 32, 5 rounds of 200 ms runs
#   smoke (test-bench-smoke, ~1 s): threads 2 32, 1 round of 40 ms runs
#   full: threads 2 4 8 16 32, 7 rounds of 1 s runs
#   FLEX_THREADS, FLEX_TRIALS, FLEX_MS and FLEX_DELAY override the profile.
# A missing PRELOAD_SO drops the kmutex-preload peer with a message (make lib builds it).
set -uo pipefail
usage="usage: flexbench.sh PRELOAD_SO OUT_DIR PT_DIR [quick|smoke|full]"
lib=${1:?$usage}
out=${2:?$usage}
ptdir=${3:?$usage}
profile=${4:-quick}
case $profile in
quick) threads="2 4 8 16 32" trials=5 ms=200 ;;
smoke) threads="2 32" trials=1 ms=40 ;;
full) threads="2 4 8 16 32" trials=7 ms=1000 ;;
*) echo "flexbench.sh: no profile '$profile' ($usage)" >&2; exit 2 ;;
esac
threads=${FLEX_THREADS:-$threads}
trials=${FLEX_TRIALS:-$trials}
ms=${FLEX_MS:-$ms}
delay=${FLEX_DELAY:-200}
prog=$ptdir/pt_flexguard
[ -x "$prog" ] || { echo "flexbench.sh: no $prog (make bench-programs builds it)" >&2; exit 2; }

mkdir -p "$out"
raw=$out/flexbench.csv
sum=$out/flexbench_summary.csv
report=$out/flexbench.txt
rm -f "$raw" "$sum" # a previous run's figures must not pass for this one's
: > "$report"
say() { echo "$*" | tee -a "$report"; }

peers="glibc glibc-adaptive futex kmutex-preload"
if [ ! -f "$lib" ]; then
	say "flexbench: no $lib (make lib builds it): the kmutex-preload peer is skipped"
	peers="glibc glibc-adaptive futex"
fi
npeers=$(echo $peers | wc -w)

# one_run PEER THREADS: the program's result line on stdout; non-zero when the run is dropped.
one_run() {
	local peer=$1 n=$2 lock=pthread want=0 line rc
	local -a env_args=()
	case $peer in
	glibc-adaptive) lock=adaptive ;;
	futex) lock=futex ;;
	kmutex-preload) want=1 env_args=(LD_PRELOAD="$lib") ;;
	esac
	line=$(timeout -k 5 60 env "${env_args[@]}" "$prog" "$lock" "$n" "$ms" "$delay" 2>&1)
	rc=$?
	if [ $rc != 0 ]; then
		say "  $peer $n threads: run failed (exit status $rc$([ $rc = 124 ] && echo ": hung, 60 s")); dropped: $(echo "$line" | tr '\n' ' ' | tail -c 300)" >&2
		return 1
	fi
	case $line in
	*" exclusive=1 preload=$want") echo "$line" ;;
	*) say "  $peer $n threads: preload or exclusion not as expected (preload=$want); dropped: $line" >&2; return 1 ;;
	esac
}

echo "peer,threads,trial,ms,delay,ops,ops_per_s" > "$raw"
say "flexbench: one lock, one shared cache line, a $delay-iteration delay between sections;"
say "rounds of $ms ms runs interleaved across peers; $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $(seq "$trials"); do
	for n in $threads; do
		# rotate the peers' order each round, so none always runs first
		set -- $peers
		for _ in $(seq $(((t - 1) % npeers))); do set -- "$@" "$1"; shift; done
		for peer in "$@"; do
			line=$(one_run "$peer" "$n") || continue
			echo "$line" | awk -v p="$peer" -v n="$n" -v t="$t" '{
				for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
				printf "%s,%s,%s,%s,%s,%s,%s\n", p, n, t, f["ms"], f["delay"], f["ops"], f["ops_per_s"] }' >> "$raw"
		done
	done
done
say "  (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"

# Summary: per peer and thread count median, min, max of ops/s, the spread (max-min)/median,
# the ratios of medians against glibc's default mutex and against the plain futex lock, and the
# paired ratios: the median over rounds of this peer's run / the other's run of the same round
# (run within a second of each other, so a slow spell of the machine that spans a round cancels;
# the finer figure on a noisy machine, the one the report shows).
awk -F, -v OFS=, -v peers="$peers" '
	NR > 1 { key = $1 SUBSEP $2; v[key, ++cnt[key]] = $7; run[key, $3] = $7; thr[$2] = 1; if ($3 > rounds) rounds = $3 }
	function sort(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	}
	function mid(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	function paired(peer, other, n,   t, r, k) {
		k = 0
		for (t = 1; t <= rounds; t++)
			if ((peer SUBSEP n, t) in run && (other SUBSEP n, t) in run && run[other SUBSEP n, t] > 0)
				r[++k] = run[peer SUBSEP n, t] / run[other SUBSEP n, t]
		if (!k) return ""
		sort(r, k)
		return sprintf("%.3f", mid(r, k))
	}
	END {
		print "peer,threads,trials,median_ops_s,min_ops_s,max_ops_s,spread,ratio_vs_glibc,ratio_vs_futex,paired_vs_glibc,paired_vs_futex"
		np = split(peers, p, " ")
		nt = 0
		for (n in thr) ts[++nt] = n + 0
		sort(ts, nt)
		for (i = 1; i <= nt; i++) {
			n = ts[i]
			for (k = 1; k <= np; k++) {
				key = p[k] SUBSEP n
				m[p[k]] = ""
				if (!cnt[key]) continue
				split("", a)
				for (j = 1; j <= cnt[key]; j++) a[j] = v[key, j]
				sort(a, cnt[key])
				m[p[k]] = mid(a, cnt[key]); lo[p[k]] = a[1]; hi[p[k]] = a[cnt[key]]
			}
			g = m["glibc"]; f = m["futex"]
			for (k = 1; k <= np; k++) {
				q = p[k]
				if (m[q] == "") continue
				printf "%s,%d,%d,%.0f,%.0f,%.0f,%.3f,%s,%s,%s,%s\n", q, n, cnt[q SUBSEP n],
					m[q], lo[q], hi[q], (m[q] > 0 ? (hi[q] - lo[q]) / m[q] : 0),
					(g > 0 ? sprintf("%.3f", m[q] / g) : ""), (f > 0 ? sprintf("%.3f", m[q] / f) : ""),
					paired(q, "glibc", n), paired(q, "futex", n)
			}
		}
	}' "$raw" > "$sum"

# The report: Mops/s median [min - max] per peer, then the paired ratios the issue asks for.
say ""
say "Mops/s, median [min - max] of $trials rounds; ratios: median over rounds of the two peers' runs"
awk -F, -v peers="$peers" '
	NR > 1 { cell[$1, $2] = sprintf("%.2f [%.2f-%.2f]", $4 / 1e6, $5 / 1e6, $6 / 1e6)
		 vs["glibc", $1, $2] = $10; vs["futex", $1, $2] = $11; thr[$2] = 1 }
	function ratio(a, b, n) { return vs[b, a, n] != "" ? sprintf("%.2fx", vs[b, a, n]) : "-" }
	END {
		np = split(peers, p, " ")
		printf "  %-7s", "threads"
		for (k = 1; k <= np; k++) printf "  %-22s", p[k]
		printf "  %-12s %-12s %-11s %s\n", "kmutex/glibc", "kmutex/futex", "futex/glibc", "adaptive/glibc"
		nt = 0
		for (n in thr) ts[++nt] = n + 0
		for (i = 2; i <= nt; i++) for (j = i; j > 1 && ts[j - 1] > ts[j]; j--) { t = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = t }
		for (i = 1; i <= nt; i++) {
			n = ts[i]
			printf "  %-7d", n
			for (k = 1; k <= np; k++) printf "  %-22s", ((p[k], n) in cell) ? cell[p[k], n] : "-"
			printf "  %-12s %-12s %-11s %s\n", ratio("kmutex-preload", "glibc", n), ratio("kmutex-preload", "futex", n),
				ratio("futex", "glibc", n), ratio("glibc-adaptive", "glibc", n)
		}
	}' "$sum" | tee -a "$report"
echo "flexbench: results in $out/ (flexbench.txt, flexbench.csv, flexbench_summary.csv)"
