#!/bin/sh
# verify/weak/mutate.sh DIR: mutation of the orders (make verify-weak-mutate, issue 23 item 3).
# 1. Runs every scenario once with KMX_SITES to list the ordering sites (an order other than
#    relaxed) the scenarios execute, and greps the core for ordering sites they never reach.
# 2. Weakens each site in turn, one step at a time (ACQ_REL to ACQUIRE and to RELEASE; ACQUIRE
#    and RELEASE to relaxed; a fence dropped), and runs the scenarios until one catches it.
# Prints one line per weakening and writes the table to DIR/mutations.md.
# WEAK_ITER: iterations per scenario run (default 100000, as make test-weak).
set -u
dir=$1
iter=${WEAK_ITER:-100000}
scenarios="lock-unlock trylock timed interruptible handoff owed-handoff osq osq-unqueue kcond-signal kcond-broadcast kcond-destroy rwsem"
sites=$dir/sites.txt
table=$dir/mutations.md
rm -f "$sites.raw"
for s in $scenarios; do
	KMX_SINK=kmx_osq_lock KMX_SITES=$sites.raw "$dir/weak" "$s" 20000 > /dev/null || exit 1
done
sort -u "$sites.raw" > "$sites"

# scenario env: osq runs with the OSQ node's stores sunk as late as C11 allows.
scen_env() { case $1 in osq*) echo KMX_SINK=kmx_osq_lock ;; *) echo KMX_UNUSED=1 ;; esac; }

# try SITE ORDER: the first scenario that catches KMX_WEAKEN=SITE=ORDER, or "survives".
try() {
	for s in $scenarios; do
		out=$(env $(scen_env "$s") KMX_WEAKEN="$1=$2" timeout 900 "$dir/weak" "$s" "$iter" 2>&1)
		case $? in
		0) ;;
		124) echo "caught by $s: hung (timeout)"; return ;;
		*) echo "caught by $s: ${out#*FAILED: }"; return ;;
		esac
	done
	echo "SURVIVES ($iter iterations of each scenario)"
}

{
	echo "| site (function/operation/order) | where | weakened to | result |"
	echo "|---|---|---|---|"
} > "$table"
echo "== verify-weak-mutate: each ordering site weakened in turn, $iter iterations per scenario"
while read -r site where; do
	case $site in
	*/acq_rel*) weaker="acquire release" ;;
	*/fence/*) weaker="none" ;;
	*) weaker="relaxed" ;;
	esac
	for w in $weaker; do
		r=$(try "$site" "$w")
		echo "mutate $site ($where) -> $w: $r"
		echo "| \`$site\` | $where | $w | $r |" >> "$table"
	done
done < "$sites"

# Ordering sites of the core that no scenario executed (so no weakening of them was tried).
echo "== verify-weak-mutate: ordering sites no scenario reaches"
grep -nE 'kmx_(load|store|xchg|add_return|fetch_or|fetch_and|try_cmpxchg|cmpxchg)\(.*KMX_(ACQUIRE|RELEASE|ACQ_REL|SEQ_CST)|kmx_smp_[rw]?mb\(\)' \
	CShims/kmutex.c CShims/osq.c CShims/wait_lock.c CShims/kcond.c CShims/krwsem.c CShims/krwsem_fast.h CShims/wait_lock.h |
while IFS=: read -r file line rest; do
	base=${file##*/}
	grep -q " $base:$line\$" "$sites" || echo "not reached: $base:$line: $(echo "$rest" | sed 's/^[[:space:]]*//' | cut -c1-90)"
done | tee "$dir/unreached.txt"
echo "table: $table"
