#!/usr/bin/env bash
# Programs nobody here wrote whose hot paths take pthread rwlocks, on glibc and under the
# preload (pthread_rwlock on krwsem), each with its own correctness check.
#
# unbound (Debian's DNS resolver) answering from its local zones on loopback under dnsperf:
# every query takes unbound's local-zones rwlock and the zone's for read (about two
# pthread_rwlock_rdlock per query, measured with Tests/pthread/callcount.c), on two worker
# threads.  Checked on both: every query answered, the response codes exactly those of the
# query mix (3/4 NOERROR, 1/4 NXDOMAIN), and the records' contents right after the load; under
# the preload, LD_DEBUG=bindings must show unbound's pthread_rwlock_rdlock and _unlock bound
# to libkmutex-pthread (loaded and used, not merely loaded).  dnsperf's rate is capped so
# that the run is a correctness check, not a benchmark (make bench measures it).
# usage: rwprograms.sh PRELOAD_SO OUTDIR
set -uo pipefail
so=$1 out=$2
mkdir -p "$out"
out=$(cd "$out" && pwd) # unbound chdirs to its directory
fail=0
server_tpid=

for tool in unbound dnsperf python3; do
	command -v "$tool" > /dev/null || { echo "FAIL: $tool not installed (make deps installs it)"; exit 1; }
done
cleanup() { [ -n "$server_tpid" ] && kill "$server_tpid" 2> /dev/null; }
trap cleanup EXIT

# A free loopback port (UDP and TCP), as the kernel picks one.
free_port() {
	python3 -c 'import socket
u, t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
u.bind(("127.0.0.1", 0)); t.bind(("127.0.0.1", u.getsockname()[1])); print(u.getsockname()[1])'
}

# query PORT NAME TYPE: the answer's first record as text, with python's stdlib (no dig here).
query() {
	python3 - "$@" << 'EOF'
import socket, struct, sys
port, name, qtype = int(sys.argv[1]), sys.argv[2], {"A": 1, "TXT": 16}[sys.argv[3]]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
q += struct.pack(">HH", qtype, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("127.0.0.1", port))
r = s.recv(4096)
rcode, ancount = r[3] & 0xF, struct.unpack(">H", r[6:8])[0]
if rcode or not ancount:
    print("rcode=%d answers=%d" % (rcode, ancount)); sys.exit(0)
i = len(q)
i += 2 if r[i] & 0xC0 == 0xC0 else len(name) + 2   # the answer's owner name
rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
rdata = r[i + 10:i + 10 + rdlen]
print(".".join(map(str, rdata)) if rtype == 1 else rdata[1:].decode().strip('"'))
EOF
}

# unbound_run MODE: one run; its logs in $out/unbound.MODE.*
unbound_run() {
	local mode=$1 port env=()
	local dir=$out/unbound.$mode
	rm -rf "$dir"
	mkdir -p "$dir"
	port=$(free_port) || { echo "FAIL unbound: no free port"; fail=1; return; }
	cat > "$dir/unbound.conf" << EOF
server:
    interface: 127.0.0.1@$port
    port: $port
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 2
    access-control: 127.0.0.0/8 allow
    do-ip6: no
    module-config: "iterator"
    local-zone: "kmutex.test." static
    local-data: "a.kmutex.test. 3600 IN A 192.0.2.1"
    local-data: "b.kmutex.test. 3600 IN A 192.0.2.2"
    local-data: "c.kmutex.test. 3600 IN TXT \"krwsem\""
remote-control:
    control-enable: no
EOF
	for i in $(seq 1 250); do
		printf 'a.kmutex.test A\nb.kmutex.test A\nc.kmutex.test TXT\nnx%d.kmutex.test A\n' "$i"
	done > "$dir/queries.txt"
	[ "$mode" = kmutex ] && env=(LD_PRELOAD="$so" LD_DEBUG=bindings LD_BIND_NOW=1 LD_DEBUG_OUTPUT="$dir/bindings")
	timeout -k 5 60 env "${env[@]}" unbound -d -c "$dir/unbound.conf" > "$dir/server.log" 2>&1 &
	server_tpid=$!
	local up=
	for _ in $(seq 100); do
		kill -0 "$server_tpid" 2> /dev/null || break
		[ "$(query "$port" a.kmutex.test A 2> /dev/null)" = 192.0.2.1 ] && { up=1; break; }
		sleep 0.05
	done
	if [ -z "$up" ]; then
		echo "FAIL unbound on $mode: the server did not answer"; cat "$dir/server.log"; fail=1
		kill "$server_tpid" 2> /dev/null; wait "$server_tpid"; server_tpid=; return
	fi
	# 40000 queries at most 10000 a second, from 4 clients
	timeout -k 5 40 dnsperf -s 127.0.0.1 -p "$port" -d "$dir/queries.txt" -n 40 -c 4 -Q 10000 \
		> "$dir/dnsperf.log" 2>&1
	local rc=$? a b c
	a=$(query "$port" a.kmutex.test A) b=$(query "$port" b.kmutex.test A) c=$(query "$port" c.kmutex.test TXT)
	kill "$server_tpid" 2> /dev/null
	wait "$server_tpid"
	server_tpid=
	local sent completed noerror nxdomain
	sent=$(awk '/Queries sent:/ { print $3 }' "$dir/dnsperf.log")
	completed=$(awk '/Queries completed:/ { print $3 }' "$dir/dnsperf.log")
	noerror=$(grep -o 'NOERROR [0-9]*' "$dir/dnsperf.log" | awk '{ print $2 }')
	nxdomain=$(grep -o 'NXDOMAIN [0-9]*' "$dir/dnsperf.log" | awk '{ print $2 }')
	local why=
	[ "$rc" = 0 ] || why="dnsperf exit $rc"
	[ "$sent" = 40000 ] && [ "$completed" = 40000 ] || why="$why; $completed of $sent queries answered (want 40000 of 40000)"
	[ "$noerror" = 30000 ] && [ "$nxdomain" = 10000 ] || why="$why; NOERROR $noerror NXDOMAIN $nxdomain (want 30000, 10000)"
	[ "$a $b $c" = "192.0.2.1 192.0.2.2 krwsem" ] || why="$why; records after the load: $a $b $c"
	if [ "$mode" = kmutex ]; then
		local sym
		for sym in pthread_rwlock_rdlock pthread_rwlock_unlock; do
			grep -qE "binding file ([^ ]*/)?unbound \[[0-9]+\] to [^ ]*libkmutex-pthread[^ ]* .*symbol \`$sym'" "$dir"/bindings.* ||
				why="$why; LD_DEBUG shows unbound's $sym not bound to the preload"
		done
	fi
	if [ -n "$why" ]; then
		echo "FAIL unbound on $mode: ${why#; }"
		tail -5 "$dir/server.log"
		fail=1
	else
		echo "ok   unbound on $mode: 40000 of 40000 queries answered (30000 NOERROR, 10000 NXDOMAIN), records right after the load$([ "$mode" = kmutex ] && echo ", rwlock calls bound to the preload"); $(awk '/Queries per second:/ { printf "%.0f queries/s (capped at 10000)", $4 }' "$dir/dnsperf.log")"
	fi
}

unbound_run glibc
unbound_run kmutex
exit $fail
