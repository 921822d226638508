#!/bin/sh
# Usage: scripts/run-timed.sh SECONDS WHAT COMMAND [ARGS...]
# Runs COMMAND with a time limit (make test-arm64).  On success it prints how long COMMAND
# took; past the limit it says which test hung, prints what each of its threads was doing
# (state, wait channel, system call: under qemu-user every guest thread is a host thread of
# the qemu process, so /proc shows them), kills it and exits 124, as timeout(1) does.
# COMMAND may start with env(1), which execs: the process waited for is COMMAND itself.
limit=$1 what=$2
shift 2
expired=$(mktemp)
rm -f "$expired"
start=$(date +%s%N)
"$@" &
pid=$!
(
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$limit" &
	sleeper=$!
	wait "$sleeper"
	kill -0 "$pid" 2>/dev/null || exit 0
	echo "TIMEOUT: $what ran longer than $limit s (a hang?); its threads:" >&2
	for task in /proc/"$pid"/task/*; do
		echo "  thread ${task##*/}: state $(cut -d' ' -f3 "$task"/stat 2>/dev/null)," \
			"waiting in $(cat "$task"/wchan 2>/dev/null)," \
			"syscall $(cut -d' ' -f1-3 "$task"/syscall 2>/dev/null)" >&2
	done
	: > "$expired"
	kill -TERM "$pid" 2>/dev/null
	sleep 5
	kill -KILL "$pid" 2>/dev/null
) &
watcher=$!
wait "$pid"
rc=$?
if [ -e "$expired" ]; then
	rm -f "$expired"
	exit 124
fi
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
hundredths=$((($(date +%s%N) - start) / 10000000))
echo "   ($what: exit $rc, $((hundredths / 100)).$((hundredths / 10 % 10))$((hundredths % 10)) s)"
exit "$rc"
