#!/usr/bin/env bash
# The uncontended pthread_mutex_lock+unlock through two builds of the preload (say, before and
# after a fast-path change), runs interleaved so both see the same machine, medians printed.
# usage: fastpath_cost.sh LOCKLOOP BEFORE_SO AFTER_SO [RUNS] [N]
set -euo pipefail
loop=$1 before=$2 after=$3 runs=${4:-15} n=${5:-10000000}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
b=() a=() g=()
for ((i = 0; i < runs; i++)); do
	b+=("$(LD_PRELOAD=$before "$loop" "$n")")
	a+=("$(LD_PRELOAD=$after "$loop" "$n")")
	g+=("$("$loop" "$n")")
done
mb=$(printf '%s\n' "${b[@]}" | median) ma=$(printf '%s\n' "${a[@]}" | median)
mg=$(printf '%s\n' "${g[@]}" | median)
echo "lock+unlock, ns per pair, median of $runs interleaved runs (each the best of 5 x $n):"
echo "  before: $mb   (runs: ${b[*]})"
echo "  after:  $ma   (runs: ${a[*]})"
echo "  glibc:  $mg"
awk -v b="$mb" -v a="$ma" 'BEGIN { printf "  after - before: %+.3f ns (%+.1f%%)\n", a - b, (a - b) / b * 100 }'
