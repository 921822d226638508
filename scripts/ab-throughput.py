#!/usr/bin/env python3
"""A/B of kmutex policies: alternating runs of kmutex-bench throughput, one per variant.

Each variant is a label and either a kmutex-bench binary or an environment setting for the
same binary (LABEL=path/to/kmutex-bench, or LABEL:VAR=VALUE[,VAR=VALUE] with --bin).  Runs
alternate A, B, A, B, ... so that a slow spell of a shared machine lands on every variant;
each run is one `throughput` invocation whose trials interleave kmutex with the peers, so the
figure reported per cell is kmutex / peer in the *same* run, then the median over runs.

  scripts/ab-throughput.py --bin build/bench/kmutex-bench --runs 4 \\
      base: yield:KMUTEX_X=1 -- --threads 2,16,32 --cs 0,100

Prints, per cell and variant: kmutex x each peer (median over runs [range]), the share of the
two CPUs the benchmark used, CPU ns per acquisition, voluntary switches per 1000 acquisitions.
"""
import argparse, csv, os, shutil, statistics, subprocess, sys, tempfile

def parse_variant(spec, default_bin):
    if '=' in spec.split(':')[0]:
        label, path = spec.split('=', 1)
        return label, path, {}
    label, _, envs = spec.partition(':')
    env = dict(kv.split('=', 1) for kv in envs.split(',') if kv)
    return label, default_bin, env

def run_once(binary, env, args, peers):
    out = tempfile.mkdtemp(prefix='ab-')
    locks = ','.join(['kmutex'] + peers)
    cmd = [binary, 'throughput', '--locks', locks, '--no-swift', '--out', out] + args
    subprocess.run(cmd, env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, 'throughput.csv')) as f:
        rows = list(csv.DictReader(f))
    shutil.rmtree(out)
    cells = {}
    for r in rows:
        key = (int(r['threads']), int(r['cs_ns']))
        cells.setdefault(key, {}).setdefault(r['lock'], []).append(r)
    res = {}
    for key, by_lock in cells.items():
        med = lambda lk, f: statistics.median(f(r) for r in by_lock[lk])
        ops = lambda r: float(r['ops']) * 1e9 / float(r['elapsed_ns'])
        share = lambda r: float(r['cpu_ns']) / float(r['elapsed_ns']) / os.cpu_count()
        cpu = lambda r: float(r['cpu_ns']) / float(r['ops'])
        vcsw = lambda r: float(r['vcsw']) * 1000 / float(r['ops'])
        d = {'kops': med('kmutex', ops) / 1e3, 'share': med('kmutex', share),
             'cpu': med('kmutex', cpu), 'vcsw': med('kmutex', vcsw)}
        for p in peers:
            d['x ' + p] = med('kmutex', ops) / med(p, ops)
            d['share ' + p] = med(p, share)
        res[key] = d
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', default='build/bench/kmutex-bench')
    ap.add_argument('--runs', type=int, default=4)
    ap.add_argument('--peers', default='pthread-adaptive')
    ap.add_argument('variants', nargs='+')
    argv = sys.argv[1:]
    rest = []
    if '--' in argv:
        i = argv.index('--'); argv, rest = argv[:i], argv[i + 1:]
    a = ap.parse_args(argv)
    if not rest:
        rest = ['--threads', '2,16,32', '--cs', '0,100', '--trials', '5', '--trial-ms', '200']
    peers = a.peers.split(',')
    variants = [parse_variant(v, a.bin) for v in a.variants]
    results = {v[0]: [] for v in variants}
    for run in range(a.runs):
        for label, binary, env in variants:
            print(f'run {run + 1}/{a.runs}: {label}', file=sys.stderr, flush=True)
            results[label].append(run_once(binary, env, rest, peers))
    keys = sorted(results[variants[0][0]][0])
    cols = ['x ' + p for p in peers] + ['share', 'share ' + peers[0], 'cpu', 'vcsw', 'kops']
    print(f"{'cell':>12} {'variant':>12} " + ' '.join(f'{c:>24}' for c in cols))
    for key in keys:
        for label, _, _ in variants:
            vals = []
            for c in cols:
                xs = [r[key][c] for r in results[label]]
                fmt = '{:.3f}' if c.startswith(('x', 'share')) else '{:.1f}'
                if c == 'vcsw':
                    fmt = '{:.3f}'
                vals.append((fmt + ' [' + fmt + '-' + fmt + ']').format(statistics.median(xs), min(xs), max(xs)))
            print(f'{key[0]:>4}t {key[1]:>4}ns {label:>12} ' + ' '.join(f'{v:>24}' for v in vals))

if __name__ == '__main__':
    main()
