#!/usr/bin/env bash
# Installs what the tests and benchmarks need, only when missing (CI starts from a fresh
# machine).  Debian packages through apt-get, as root; a non-root user gets the command to run.
set -euo pipefail

packages=(gcc g++ make pkg-config cmake groff man-db libtsan2 libasan8 libubsan1 liburcu-dev spin libck-dev libabsl-dev gnuplot-nox
	python3.11 libpython3.11-testsuite stress-ng
	systemtap-sdt-dev bpftrace linux-perf # the USDT probes (<sys/sdt.h>) and the probe test
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu qemu-user # make test-arm64
	relacy-dev # verify/weak: the core under Relacy, the C++11 relaxed-memory checker
	glibc-source xz-utils) # glibc's own thread tests, built at test time (test-pthread-glibc)
# BENCH=1 (make bench-deps): the programs make bench runs on kmutex, which no test needs;
# rocksdb-tools and memcached are large, so make test on a fresh CI machine does not pay for them.
if [ "${BENCH:-0}" = 1 ]; then
	packages+=(sysbench stress-ng rocksdb-tools memcached libmemcached-tools)
fi
# test-pthread-rwprograms: a DNS resolver on pthread rwlocks, under load
packages+=(unbound dnsperf)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; run: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
