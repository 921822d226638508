#!/usr/bin/env bash
# Issue 9's benchmark of programs nobody here wrote: each runs on glibc's pthread and under
# LD_PRELOAD=libkmutex-pthread.so, trials interleaved (glibc, kmutex, glibc, kmutex, ...) so
# a slow spell of this shared machine lands on both; medians, min-max and the ratio
# kmutex/glibc.  Nothing is asserted: a missing program is skipped with a message, and the
# targets are reported as measured.
#
# usage: programs.sh PRELOAD_SO OUT_DIR PT_DIR
#   PT_DIR holds pt_uncontended and pt_lockskew (Tests/benchmark/preload/, built by bench.mk).
#   PROGRAMS_TRIALS=N sets the trials per program (default 5; 3 for the long ones, 11 for
#   pt-uncontended);
#   PROGRAMS_ONLY="sysbench-mutex db_bench ..." runs only those.
#
# Every run checks the preload was really in effect: the program's /proc/PID/maps must (or,
# on glibc, must not) hold libkmutex-pthread; a run where that fails is dropped, loudly.  Once
# per program, LD_DEBUG=bindings also shows its pthread_mutex_lock bound to the preload, not
# merely loaded next to it.
set -uo pipefail
lib=${1:?usage: programs.sh PRELOAD_SO OUT_DIR PT_DIR}
out=${2:?usage: programs.sh PRELOAD_SO OUT_DIR PT_DIR}
ptdir=${3:?usage: programs.sh PRELOAD_SO OUT_DIR PT_DIR}
trials_short=${PROGRAMS_TRIALS:-5}
trials_long=${PROGRAMS_TRIALS:-3}
# uncontended runs take a tenth of a second: more of them, since one preemption spoils one
trials_unc=${PROGRAMS_TRIALS:-11}
only=${PROGRAMS_ONLY:-}

mkdir -p "$out"
work=$(mktemp -d /tmp/kmutex-programs.XXXXXX)
raw=$out/programs.csv
report=$out/programs.txt
server_pid=
cleanup() {
	# the memcached server, if a run was interrupted while it was up (ours, by pid)
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$*" | tee -a "$report"; }
# A progress line on stderr, rewritten in place, only when stderr is a terminal.
progress() { [ -t 2 ] && printf '\r%-70s\r%s' '' "$*" >&2; return 0; }

# ---- running one trial ---------------------------------------------------------------------

# The pid timeout started: the program itself once env has exec'd it (exe is no longer env).
program_pid() {
	local parent=$1 child
	for _ in $(seq 40); do
		child=$(pgrep -P "$parent" | head -1)
		if [ -n "$child" ] && [ "$(readlink "/proc/$child/exe" 2>/dev/null)" != "$(command -v env)" ]; then
			echo "$child"
			return 0
		fi
		kill -0 "$parent" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# 1 if libkmutex-pthread is mapped in pid, 0 if not, "?" if the process was gone first.
preload_mapped() {
	local maps
	maps=$(cat "/proc/$1/maps" 2>/dev/null) || { echo "?"; return; }
	[ -n "$maps" ] || { echo "?"; return; }
	case $maps in *libkmutex-pthread*) echo 1 ;; *) echo 0 ;; esac
}

# start MODE LOG LIMIT CMD...: CMD in the background under `timeout`, preloaded when MODE is
# kmutex (env sets LD_PRELOAD for CMD alone, not for timeout).  Sets RUN_TPID (timeout's pid)
# and RUN_PID (the program's), and SEEN (preload_mapped of the program).
start() {
	local mode=$1 log=$2 limit=$3
	shift 3
	if [ "$mode" = kmutex ]; then
		timeout -k 5 "$limit" env LD_PRELOAD="$lib" "$@" > "$log" 2>&1 &
	else
		timeout -k 5 "$limit" env "$@" > "$log" 2>&1 &
	fi
	RUN_TPID=$!
	RUN_PID=$(program_pid "$RUN_TPID") || RUN_PID=
	SEEN=?
	[ -n "$RUN_PID" ] && SEEN=$(preload_mapped "$RUN_PID")
}

# run MODE LOG LIMIT CMD...: start, then wait for the end; the exit status is the program's.
run() {
	start "$@"
	wait "$RUN_TPID"
}

# ---- the programs: each runner takes MODE LOG, runs one trial, and leaves SEEN set; each
# parser reads LOG and prints "METRIC VALUE higher|lower" lines (which way is better) ----

run_sysbench_mutex() {
	# 8 threads on sysbench's 4096 mutexes; fewer locks and loops than the defaults, so a
	# trial takes about a second instead of ten
	run "$1" "$2" 60 sysbench mutex --threads=8 --mutex-locks=20000 --mutex-loops=2000 run
}
parse_sysbench_mutex() {
	awk '/total time:/ { sub(/s$/, "", $3); print "total_time_s", $3, "lower" }' "$1"
}

run_sysbench_threads() {
	# 8 threads taking 8 mutexes with a sched_yield inside each, for 2 s
	run "$1" "$2" 60 sysbench threads --threads=8 --time=2 run
}
parse_sysbench_threads() {
	awk '/total time:/ { sub(/s$/, "", $3); t = $3 } /total number of events:/ { n = $5 }
	     END { if (t > 0) print "events_per_s", n / t, "higher" }' "$1"
}

run_stress_ng_mutex() {
	# 2 workers of 2 threads each on one mutex, with SCHED_FIFO priority changes (as root)
	run "$1" "$2" 60 stress-ng --mutex 2 --timeout 2s --metrics
}
parse_stress_ng_mutex() {
	# "stress-ng: metrc: [pid] mutex BOGO-OPS REAL USR SYS OPS/S(real) OPS/S(cpu) ..."
	awk '$2 == "metrc:" && $4 == "mutex" && $5 ~ /^[0-9]+$/ { print "bogo_ops_per_s", $9, "higher" }' "$1"
}

run_db_bench() {
	# 8 threads, 10000 keys each, written then read back, in a fresh DB per trial
	local db=$work/db
	rm -rf "$db"
	run "$1" "$2" 120 db_bench --db="$db" --benchmarks=fillrandom,readrandom --threads=8 \
		--num=10000 --value_size=100 --compression_type=none --statistics=0
	local rc=$?
	rm -rf "$db"
	return $rc
}
parse_db_bench() {
	awk '$1 ~ /^(fillrandom|readrandom)$/ && $2 == ":" { print $1 "_ops_per_s", $5, "higher" }' "$1"
}

# A free loopback port, picked at random among 20000-39999.
free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 20000))
		(echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null || { echo "$port"; return 0; }
	done
	return 1
}

wait_listening() {
	for _ in $(seq 100); do
		(echo > "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

run_memcached() {
	# memcached (4 worker threads, loopback only) under memcaslap: 2 client threads, 16
	# connections, a bounded 60000 requests (90% get, 10% set); the server stopped after
	local mode=$1 log=$2 port rc
	port=$(free_port) || { echo "no free port" > "$log"; return 1; }
	start "$mode" "$log.server" 120 memcached $([ "$(id -u)" = 0 ] && echo "-u root") -l 127.0.0.1 -p "$port" -U 0 -t 4 -m 64
	server_pid=$RUN_PID
	local server_tpid=$RUN_TPID
	if [ -z "$server_pid" ] || ! wait_listening "$port" "$server_pid"; then
		cat "$log.server" > "$log"
		kill "$server_pid" 2>/dev/null
		wait "$server_tpid"
		server_pid=
		return 1
	fi
	SEEN=$(preload_mapped "$server_pid")
	timeout -k 5 60 memcaslap -s "127.0.0.1:$port" -T 2 -c 16 -x 60000 > "$log" 2>&1
	rc=$?
	kill "$server_pid" 2>/dev/null
	wait "$server_tpid"
	server_pid=
	return $rc
}
parse_memcached() {
	awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "TPS:") print "tps", $(i + 1), "higher" }' "$1"
}

run_pt_uncontended() {
	run "$1" "$2" 60 "$ptdir/pt_uncontended" 2000000
	# the program reports its own maps: it may end before the probe above looks
	SEEN=$(sed -n 's/.* preload=\([01]\)$/\1/p' "$2")
}
parse_pt_uncontended() {
	sed -n 's/.* ns_per_pair=\([0-9.]*\) .*/ns_per_pair \1 lower/p' "$1"
}

run_pt_lockskew() {
	# one busy thread per CPU as background load, as kmutex-bench lockskew's headline figure
	run "$1" "$2" 60 "$ptdir/pt_lockskew" 1000 "$(nproc)"
	SEEN=$(sed -n 's/.* preload=\([01]\)$/\1/p' "$2")
}
parse_pt_lockskew() {
	sed -n 's/.* victim_max_wait_us=\([0-9.]*\) .*/victim_max_wait_us \1 lower/p' "$1"
}

# ---- pthread_rwlock (krwsem under the preload) ----

run_pt_rw_read() {
	run "$1" "$2" 60 "$ptdir/pt_rw_uncontended" read 2000000
	SEEN=$(sed -n 's/.* preload=\([01]\)$/\1/p' "$2")
}
parse_pt_rw_read() {
	sed -n 's/.* ns_per_pair=\([0-9.]*\) .*/ns_per_pair \1 lower/p' "$1"
}
run_pt_rw_write() {
	run "$1" "$2" 60 "$ptdir/pt_rw_uncontended" write 2000000
	SEEN=$(sed -n 's/.* preload=\([01]\)$/\1/p' "$2")
}
parse_pt_rw_write() { parse_pt_rw_read "$@"; }

run_pt_rwskew() {
	# four readers with overlapping 200 us holds, a writer asking every ms, for 1 s
	run "$1" "$2" 60 "$ptdir/pt_rwskew"
	SEEN=$(sed -n 's/.* preload=\([01]\)$/\1/p' "$2")
}
parse_pt_rwskew() {
	sed -n 's/^rwskew writes=\([0-9]*\) worst_wait_us=\([0-9]*\) .*/writer_entries_per_s \1 higher\nwriter_worst_wait_us \2 lower/p' "$1"
}

run_unbound() {
	# unbound (2 threads) answering from its local zones on loopback, two pthread_rwlock_rdlock
	# per query (Tests/pthread/rwprograms.sh checks the answers); dnsperf, 4 clients, 3 s flat out
	local mode=$1 log=$2 port rc dir=$work/unbound
	port=$(free_port) || { echo "no free port" > "$log"; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir"
	printf '%s\n' "server:" "    interface: 127.0.0.1@$port" "    port: $port" "    do-daemonize: no" \
		'    username: ""' '    chroot: ""' "    directory: \"$dir\"" '    pidfile: ""' "    use-syslog: no" \
		"    num-threads: 2" "    access-control: 127.0.0.0/8 allow" "    do-ip6: no" \
		'    module-config: "iterator"' '    local-zone: "kmutex.test." static' \
		'    local-data: "a.kmutex.test. 3600 IN A 192.0.2.1"' \
		'    local-data: "b.kmutex.test. 3600 IN A 192.0.2.2"' \
		"remote-control:" "    control-enable: no" > "$dir/unbound.conf"
	for i in $(seq 1 100); do printf 'a.kmutex.test A\nb.kmutex.test A\nnx%d.kmutex.test A\n' "$i"; done > "$dir/queries"
	start "$mode" "$log.server" 120 unbound -d -c "$dir/unbound.conf"
	server_pid=$RUN_PID
	local server_tpid=$RUN_TPID
	# up when it answers: dnsperf's own one-query run
	for _ in $(seq 100); do
		timeout 5 dnsperf -s 127.0.0.1 -p "$port" -d "$dir/queries" -n 1 -t 1 2>&1 | grep -q "Queries completed: *[1-9]" && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.05
	done
	SEEN=$(preload_mapped "$server_pid")
	timeout -k 5 60 dnsperf -s 127.0.0.1 -p "$port" -d "$dir/queries" -l 3 -c 4 > "$log" 2>&1
	rc=$?
	grep -q "Queries lost: *0 " "$log" || rc=1
	kill "$server_pid" 2>/dev/null
	wait "$server_tpid"
	server_pid=
	return $rc
}
parse_unbound() {
	awk '/Queries per second:/ { print "queries_per_s", $4, "higher" }
	     /Average Latency/ { print "avg_latency_s", $4, "lower" }' "$1"
}

# ---- the checks around a program -------------------------------------------------------------

# Once per program: with every symbol bound at start, some object's pthread_mutex_lock (or
# BIND_SYMBOL) must be bound to the preload.  CMD is a cheap invocation (--version, --help).
check_binding() {
	local name=$1 n
	shift
	local sym=${BIND_SYMBOL:-pthread_mutex_lock}
	n=$(LD_DEBUG=bindings LD_BIND_NOW=1 LD_PRELOAD="$lib" timeout 30 "$@" 2>&1 > /dev/null |
		grep -cE " to [^ ]*libkmutex-pthread[^ ]* .*symbol \`$sym'")
	if [ "${n:-0}" -ge 1 ]; then
		echo "  $name: $sym bound to the preload in $n object(s)"
	else
		say "  $name: WARNING: LD_DEBUG=bindings shows no $sym bound to the preload"
	fi
}

wanted() {
	[ -z "$only" ] && return 0
	case " $only " in *" $1 "*) return 0 ;; esac
	return 1
}

# measure NAME TRIALS BINARY -- BINDING-CMD...: trials of run_NAME, glibc then kmutex each
# trial, every metric appended to the raw CSV.  BINARY missing: skipped with a message.
measure() {
	local name=$1 trials=$2 binary=$3 fn=${1//-/_}
	shift 4
	wanted "$name" || return 0
	if ! command -v "$binary" > /dev/null; then
		say "  $name: SKIPPED: $binary not installed (make bench-deps installs it)"
		return 0
	fi
	[ $# -gt 0 ] && check_binding "$name" "$@"
	for t in $(seq "$trials"); do
		for mode in glibc kmutex; do
			local log=$work/$name.$mode.$t.log want=0
			[ "$mode" = kmutex ] && want=1
			progress "  $name: trial $t/$trials $mode"
			SEEN=?
			if ! "run_$fn" "$mode" "$log"; then
				say "  $name: trial $t on $mode failed (exit status or timeout); dropped: $(tail -c 300 "$log" | tr '\n' ' ')"
				continue
			fi
			if [ "$SEEN" != "$want" ]; then
				say "  $name: trial $t on $mode: preload mapped=$SEEN, expected $want; dropped"
				continue
			fi
			local lines
			lines=$("parse_$fn" "$log")
			[ -n "$lines" ] || { say "  $name: trial $t on $mode: no figure in the output; dropped"; continue; }
			echo "$lines" | while read -r metric value better; do
				echo "$name,$metric,$better,$mode,$t,$value,$SEEN" >> "$raw"
			done
		done
	done
	progress ""
}

# ---- the report ------------------------------------------------------------------------------

# One row per program and metric: median [min - max] on each side, the ratio kmutex/glibc of
# the medians, and whether the two ranges overlap (then the difference is within the noise).
summarize() {
	local sum=$out/programs_summary.csv
	echo "program,metric,better,glibc_median,glibc_min,glibc_max,kmutex_median,kmutex_min,kmutex_max,ratio_kmutex_glibc,verdict" > "$sum"
	tail -n +2 "$raw" | cut -d, -f1-3 | awk '!seen[$0]++' | while IFS=, read -r prog metric better; do
		local g k
		g=$(spread "$prog" "$metric" glibc)
		k=$(spread "$prog" "$metric" kmutex)
		[ -n "$g" ] && [ -n "$k" ] || { say "  $prog $metric: not enough runs on both sides"; continue; }
		# fields: 4-6 glibc median,min,max, 7 its count, 8-10 kmutex, 11 its count
		echo "$prog,$metric,$better,$g,$k" | awk -F, -v OFS=, '{
			r = $4 > 0 ? $8 / $4 : 0
			faster = ($3 == "higher") ? ($9 > $6) : ($10 < $5)   # kmutex worst beats glibc best
			slower = ($3 == "higher") ? ($10 < $5) : ($9 > $6)
			v = ($7 < 3 || $11 < 3) ? "too few trials to judge" : faster ? "kmutex faster" : \
			    slower ? "kmutex SLOWER" : "within noise (ranges overlap)"
			print $1, $2, $3, $4, $5, $6, $8, $9, $10, sprintf("%.3f", r), v }' >> "$sum"
	done
	awk -F, 'NR > 1 { printf "  %-18s %-22s %-6s glibc %12s [%s - %s]  kmutex %12s [%s - %s]  %6.2fx  %s\n",
		$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$sum" | tee -a "$report"
}

# median,min,max of one program/metric/mode, or nothing
spread() {
	awk -F, -v p="$1" -v m="$2" -v mode="$3" '$1 == p && $2 == m && $4 == mode { print $6 }' "$raw" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) exit
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%g,%g,%g,%d\n", med, v[1], v[NR], NR }'
}

# The issue's two pthread-API targets, read off the summary; C-API lockskew from the same
# make bench run when kmutex-bench left its CSV in OUT_DIR.
targets() {
	local sum=$out/programs_summary.csv line
	say ""
	say "Issue 9 targets through the pthread API (measured, not asserted):"
	line=$(grep '^pt-uncontended,ns_per_pair,' "$sum")
	if [ -n "$line" ]; then
		echo "$line" | awk -F, '{ printf "  uncontended pthread_mutex_lock+unlock within 1.2x of glibc: %s ns vs %s ns = %.2fx: %s\n",
			$7, $4, $10, $10 <= 1.2 ? "met" : "MISSED" }' | tee -a "$report"
	fi
	line=$(grep '^pt-lockskew,victim_max_wait_us,' "$sum")
	if [ -n "$line" ]; then
		local capi=
		[ -f "$out/lockskew.csv" ] &&
			capi=$(awk -F, '$1 == "kmutex" { print $6 }' "$out/lockskew.csv" | sort -g |
				awk '{ v[NR] = $1 } END { if (NR) printf "%g", v[int((NR + 1) / 2)] }')
		echo "$line" | awk -F, -v capi="$capi" '{
			printf "  lockskew victim worst wait: kmutex %.3f ms [%.3f - %.3f], glibc %.3f ms [%.3f - %.3f]",
				$7 / 1e3, $8 / 1e3, $9 / 1e3, $4 / 1e3, $5 / 1e3, $6 / 1e3
			if (capi != "") printf "; C API (kmutex-bench lockskew, same run) %.3f ms", capi / 1e3
			printf "\n" }' | tee -a "$report"
	fi
	local slower
	slower=$(awk -F, 'NR > 1 && $1 !~ /^pt-/ && $11 ~ /SLOWER/ { printf "%s%s %s", sep, $1, $2; sep = ", " }' "$sum")
	local n
	n=$(awk -F, 'NR > 1 && $1 !~ /^pt-/' "$sum" | wc -l)
	if [ "$n" -gt 0 ]; then
		say "  no real program slower than on glibc by more than noise: $([ -z "$slower" ] && echo "met ($n figures)" || echo "MISSED: $slower")"
	fi
}

# ---- main ------------------------------------------------------------------------------------

: > "$report"
rm -f "$raw" "$out/programs_summary.csv" # a previous run's figures must not pass for this one's
say ""
if [ ! -f "$lib" ]; then
	say "programs: SKIPPED: no $lib (make lib builds it; or make bench-preload BENCH_PRELOAD=PATH)"
	exit 0
fi
echo "program,metric,better,mode,trial,value,preload_mapped" > "$raw"
say "programs on kmutex: LD_PRELOAD=$lib vs glibc, interleaved trials, median [min - max];"
say "ratio = kmutex/glibc of the medians (read with 'better'); $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
measure pt-uncontended "$trials_unc" "$ptdir/pt_uncontended" --
measure pt-lockskew "$trials_long" "$ptdir/pt_lockskew" --
measure sysbench-mutex "$trials_short" sysbench -- sysbench --version
measure sysbench-threads "$trials_short" sysbench -- sysbench --version
measure stress-ng-mutex "$trials_short" stress-ng -- stress-ng --version
measure db_bench "$trials_long" db_bench -- db_bench --help
if command -v memcaslap > /dev/null || ! wanted memcached; then
	measure memcached "$trials_long" memcached -- memcached -V
else
	say "  memcached: SKIPPED: no load generator (memcaslap, from libmemcached-tools)"
fi
measure pt-rw-read "$trials_unc" "$ptdir/pt_rw_uncontended" --
measure pt-rw-write "$trials_unc" "$ptdir/pt_rw_uncontended" --
measure pt-rwskew "$trials_short" "$ptdir/pt_rwskew" --
if command -v dnsperf > /dev/null || ! wanted unbound; then
	BIND_SYMBOL=pthread_rwlock_rdlock measure unbound "$trials_short" unbound -- unbound -V
else
	say "  unbound: SKIPPED: no load generator (dnsperf)"
fi
say "  (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
say ""
summarize
targets
echo "programs: results in $out/ (programs.txt, programs.csv, programs_summary.csv)"
