#!/bin/sh
# verify/check.sh OUTDIR NAME pass|fail safety|live [spin -D options...]
# Builds and runs one pan verification of verify/kmutex.pml (or MODEL) in OUTDIR/NAME.
#  pass: pan must report "errors: 0" on a complete search (no memory or depth bound hit).
#  fail: pan must report errors and write a .trail; the condensed counterexample is saved in
#        OUTDIR/NAME/trail.txt (verify/trail.awk) and its last lines are shown.
# Bounds: MEMLIM (MB, default 2048) and depth 200000; each pan run is capped at 600 s.
# Environment: MODEL (another .pml, e.g. a mutant or verify/kcond.pml); TRAIL_AWK (the
# condenser for that model's trails, default verify/trail.awk); CC; PANFLAGS (extra gcc -D for pan, e.g. -DCOLLAPSE); PANRUN (extra pan options).
set -eu
out=$1 name=$2 expect=$3 kind=$4
shift 4
model=${MODEL:-$(cd "$(dirname "$0")" && pwd)/kmutex.pml}
trail=$(basename "$model").trail
awkf=${TRAIL_AWK:-$(cd "$(dirname "$0")" && pwd)/trail.awk}
dir=$out/$name
# The checkout is shared: two `make verify` at once must not clobber each other's run.
mkdir -p "$out"
exec 9> "$out/.$name.lock"
flock 9
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
spin "$@" -a "$model" > spin.log
case $kind in
safety) ccflags="-DSAFETY -DNOCLAIM"; panflags="" ;;
live)   ccflags="-DNFAIR=3"; panflags="-a -f -N live" ;;
*) echo "check.sh: unknown kind $kind (safety|live)" >&2; exit 2 ;;
esac
${CC:-gcc} -w -O2 $ccflags ${PANFLAGS:-} -DMEMLIM=${MEMLIM:-2048} -o pan pan.c
start=$(date +%s)
timeout 600 ./pan -m200000 $panflags ${PANRUN:-} > pan.out 2>&1 || true
secs=$(( $(date +%s) - start ))
errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | head -1)
summary="verify $name ($*): $kind, ${states:-?} states, ${secs}s"
if [ -z "$errors" ]; then
	echo "$summary: pan did not finish"; tail -5 pan.out; exit 1
fi
case $expect in
pass)
	if [ "$errors" != 0 ] || grep -q -e "reached -DMEMLIM" -e "max search depth too small" pan.out; then
		echo "$summary: FAILED (errors: $errors, or the search was cut short)"
		grep -e "^pan:" pan.out | head -5
		[ -f "$trail" ] && spin "$@" -t -p -g -k "$trail" "$model" 2>&1 |
			awk -f "$awkf" | tail -40
		exit 1
	fi
	echo "$summary: passed (errors: 0)" ;;
fail)
	if [ "$errors" = 0 ] || [ ! -s "$trail" ]; then
		echo "$summary: FAILED: this buggy variant must produce a counterexample, and did not"
		exit 1
	fi
	spin "$@" -t -p -g -k "$trail" "$model" > replay.txt 2>&1 || true
	awk -f "$awkf" replay.txt > trail.txt
	echo "$summary: failed as it must: $(grep -m1 '^pan:1:' pan.out | cut -c1-120)"
	echo "  counterexample: $dir/trail.txt (full replay: replay.txt; spin -t -p)" ;;
*) echo "check.sh: expect pass|fail" >&2; exit 2 ;;
esac
