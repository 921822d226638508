#!/usr/bin/env python3
"""What observability costs (docs/observability.md); run by `make bench`.

usage: bench-observability.py KMUTEX_BENCH STAT_BENCH OUT_DIR [--rounds N] [--base KMUTEX_BENCH]

Three configurations of the same kmutex-bench binary, in interleaved rounds (this machine's
neighbours move figures a lot between runs): statistics off; KMUTEX_STAT on (the report
written to OUT_DIR, whose contention counts give the contended calls per run); and off with
scripts/kmutex-contention.bt attached (where bpftrace can attach, as root).  Each round runs the
uncontended pair (ns) and 2-thread throughput with an empty and a 1 us critical section
(kops/s).  --base adds a kmutex-bench built from an earlier commit, statistics off: "before".
Then stat_bench times the contention_begin+end events alone, per contended call (ns), off, on,
on with 2 threads sharing one class, and with bpftrace attached to the probes.
Medians [min-max] on stdout and in OUT_DIR/summary.txt.  No thresholds: figures, not tests.
"""
import csv, glob, os, shutil, statistics, subprocess, sys

args = sys.argv[1:]
if len(args) < 3:
    sys.exit(__doc__)
bench, stat_bench, out = (os.path.abspath(a) for a in args[:3])
rounds, base = 5, None
rest = args[3:]
while rest:
    opt = rest.pop(0)
    if opt == "--rounds":
        rounds = int(rest.pop(0))
    elif opt == "--base":
        base = os.path.abspath(rest.pop(0))
    else:
        sys.exit(f"unknown option {opt}")
os.makedirs(out, exist_ok=True)
script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kmutex-contention.bt")
env_off = {k: v for k, v in os.environ.items() if k != "KMUTEX_STAT"}


def bpftrace_ok():
    if os.geteuid() != 0 or not shutil.which("bpftrace"):
        return False
    r = subprocess.run(["timeout", "60", "bpftrace", "-q", "-e",
                        f"usdt:{stat_bench}:kmutex:contention_end {{ @n = count(); }}",
                        "-c", f"{stat_bench} off 1 10"], capture_output=True, text=True)
    return r.returncode == 0


traced = bpftrace_ok()


def run(cmd, binary, config, tag):
    env = dict(env_off)
    if config == "stat":
        env["KMUTEX_STAT"] = os.path.join(out, f"stat-{tag}.txt")
    if config == "bpftrace":
        cmd = ["bpftrace", "-q", script, binary, "-c", " ".join(cmd)]
    r = subprocess.run(["timeout", "300"] + cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench-observability: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def contentions(tag):
    path = os.path.join(out, f"stat-{tag}.txt.csv")
    with open(path) as f:
        return sum(int(row["contentions"]) for row in csv.DictReader(f))


results = {}  # (config, measure) -> [values]


def add(config, measure, value):
    results.setdefault((config, measure), []).append(value)


configs = [("off", bench), ("stat", bench)] + ([("bpftrace", bench)] if traced else [])
if base:
    configs.append(("before", base))
for r in range(rounds):
    for config, binary in configs:
        cfg = "off" if config == "before" else config
        d = os.path.join(out, f"{config}-{r}")
        tag = f"unc-{r}"
        run([binary, "uncontended", "--locks", "kmutex", "--trials", "1", "--pairs", "2000000",
             "--out", d, "--no-swift"], binary, cfg, tag)
        with open(os.path.join(d, "uncontended.csv")) as f:
            add(config, "uncontended ns/pair", float(next(csv.DictReader(f))["ns_per_pair"]))
        tag = f"tp-{r}"
        run([binary, "throughput", "--locks", "kmutex", "--threads", "2", "--cs", "0,1000",
             "--trials", "1", "--trial-ms", "300", "--out", d, "--no-swift"], binary, cfg, tag)
        ops = 0
        with open(os.path.join(d, "throughput.csv")) as f:
            for row in csv.DictReader(f):
                cs = "empty" if row["cs_ns"] == "0" else row["cs_ns"] + " ns"
                add(config, f"2 threads, cs {cs}: kops/s", float(row["ops_per_s"]) / 1000)
                ops += int(row["ops"])
        if cfg == "stat":
            c = contentions(tag)
            add(config, "contended calls, % of acquisitions", 100.0 * c / ops)

for config, cmd in [("off", [stat_bench, "off", "1"]), ("on", [stat_bench, "on", "1"]),
                    ("on, 2 threads, one class", [stat_bench, "on", "2"])] + \
                   ([("bpftrace attached", ["bpftrace", "-q", "-e",
                     f"usdt:{stat_bench}:kmutex:contention_begin {{ @b = count(); }} "
                     f"usdt:{stat_bench}:kmutex:contention_end {{ @e = count(); }}",
                     "-c", f"{stat_bench} off 1 200000"]),
                     ("bpftrace kmutex-contention.bt", ["bpftrace", "-q", script, stat_bench,
                      "-c", f"{stat_bench} off 1 200000"])] if traced else []):
    for r in range(rounds):
        text = subprocess.run(["timeout", "300"] + cmd, env=env_off, capture_output=True,
                              text=True).stdout
        for line in text.splitlines():
            if line.startswith("events "):
                add("events " + config, "ns per contended call", float(line.split(": ")[1].split()[0]))

lines = [f"bench-observability: {rounds} interleaved rounds; medians [min-max]"]
if not traced:
    lines.append("(bpftrace rows skipped: not root, bpftrace missing, or uprobes refused)")
for (config, measure), vals in results.items():
    lines.append(f"  {config:34s} {measure:38s} {statistics.median(vals):10.2f}"
                 f"  [{min(vals):.2f} - {max(vals):.2f}]")
text = "\n".join(lines) + "\n"
print(text, end="")
with open(os.path.join(out, "summary.txt"), "w") as f:
    f.write(text)
