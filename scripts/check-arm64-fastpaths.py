#!/usr/bin/env python3
"""Checks the ordering instructions of kmutex's fast paths in the aarch64 disassembly.

The fast paths are kmutex.h's inline lock/trylock (a compare-and-swap with ACQUIRE on success,
relaxed on failure) and unlock (a relaxed load, then a compare-and-swap with RELEASE).  On
aarch64 gcc 12 emits them three ways, and each is checked:
  default  Debian's gcc: ARMv8.0 with -moutline-atomics: a call to libgcc's helper,
           `bl __aarch64_cas8_acq` / `__aarch64_cas8_rel`, which runs `casa` / `casl` on a
           core with LSE and an `ldaxr`/`stxr` / `ldxr`/`stlxr` loop on one without;
  lse      -march=armv8.1-a: `casa` / `casl` inline;
  llsc     -mno-outline-atomics: the `ldaxr`/`stxr` / `ldxr`/`stlxr` loop inline.
For each probe function (Tests/arm64/fastpath_probe.c) the routes from its entry to a `ret`
that make no call but to those helpers are the fast routes.  One of them must carry exactly the
expected ordering instructions, in order; no fast route may carry another ordering instruction
(an `ldar`, a stronger helper such as `_acq_rel`) or any memory barrier (`dmb`, `dsb`).  The
helpers themselves must have the LSE and the LL/SC route with the same orders.  The drop-in's
pthread_mutex_lock/trylock/unlock and krwsem's lock and unlock calls (libkmutex-pthread.so,
which holds the whole library) are checked like the default probe.

Then every function of the release library and of the drop-in is scanned for barriers:
kmutex states its orders on the atomics themselves and has no fence (kmx_smp_mb and friends)
on any path, so none may contain one.  The v4.10 library (KMUTEX_V410_HANDOFF) has the seed's
smp_mb() in trylock_v410: finding exactly that one shows the scan sees a fence.  A fence that
is meant belongs in EXPECTED_BARRIERS with the reason.

Usage: scripts/check-arm64-fastpaths.py --objdump OBJDUMP --probe-dir DIR --dropin SO
                                        --release-lib LIB --v410-lib LIB
"""
import argparse
import re
import subprocess
import sys

# objdump -d --no-show-raw-insn:  "    17a0:\tldaxr\tx1, [x19]"
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*?)\s*$")
FUNCTION = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
TARGET = re.compile(r"\b([0-9a-f]+) <([^>]+)>")
HELPER = re.compile(r"^__aarch64_(cas|swp|ldadd|ldclr|ldset|ldeor)(\d+)_(relax|acq_rel|acq|rel)$")
# Instructions that order memory by themselves: LSE atomics, exclusives, acquire/release
# loads and stores.  Plain ldr/str order nothing.
ORDERING = re.compile(r"^(cas|casp|swp|ldadd|ldclr|ldset|ldeor|ldsmax|ldsmin|ldumax|ldumin|stadd|stclr|stset|steor)"
                      r"(a|l|al)?[bh]?$|^(ldxr|ldaxr|stxr|stlxr|ldxp|ldaxp|stxp|stlxp|ldar|ldapr|stlr|ldlar|stllr)[bh]?$")
# Memory barriers.  isb is not one (it orders no access): kmx_cpu_relax() spins with it.
BARRIER = re.compile(r"^(dmb|dsb)$")
CONDITIONAL = re.compile(r"^(b\.[a-z]+|cbz|cbnz|tbz|tbnz)$")
MAX_EVENTS = 10  # an LL/SC retry loop repeats its events: routes longer than this are dropped

VARIANTS = {"default": "outline atomics (Debian's default)", "lse": "-march=armv8.1-a",
            "llsc": "-mno-outline-atomics"}
# The ordering events each fast path must carry, per variant.
LOCK = {"default": ["bl __aarch64_cas8_acq"], "lse": ["casa"], "llsc": ["ldaxr", "stxr"]}
UNLOCK = {"default": ["bl __aarch64_cas8_rel"], "lse": ["casl"], "llsc": ["ldxr", "stlxr"]}
PROBES = {
    "probe_lock": LOCK,
    "probe_trylock": LOCK,
    "probe_unlock": UNLOCK,
    "probe_lock_unlock": {v: LOCK[v] + UNLOCK[v] for v in VARIANTS},
}
# In the shared library (default flags): the drop-in's exported functions, and krwsem's,
# whose fast paths are in the library rather than the header; with the internal functions
# they tail-call (followed).  krwsem: a reader's fast path is a fetch_add with ACQUIRE, its
# unlock a RELEASE cmpxchg loop; a writer's lock and unlock one cmpxchg each.
SHARED = {"pthread_mutex_lock": ((), LOCK["default"]),
          "pthread_mutex_trylock": (("pt_mutex_trylock",), LOCK["default"]),
          "pthread_mutex_unlock": (("pt_mutex_unlock",), UNLOCK["default"]),
          "krwsem_down_read": ((), ["bl __aarch64_ldadd8_acq"]),
          "krwsem_down_read_trylock": ((), LOCK["default"]),
          "krwsem_up_read": ((), UNLOCK["default"]),
          "krwsem_down_write": ((), LOCK["default"]),
          "krwsem_down_write_trylock": ((), LOCK["default"]),
          "krwsem_up_write": ((), UNLOCK["default"])}
# libgcc's helpers: the LSE route and the LL/SC route, each a route of its own.
HELPERS = {"__aarch64_cas8_acq": [["casa"], ["ldaxr", "stxr"]],
           "__aarch64_cas8_rel": [["casl"], ["ldxr", "stlxr"]],
           "__aarch64_ldadd8_acq": [["ldadda"], ["ldaxr", "stxr"]]}
# Functions allowed a barrier, with the reason.  The release build has none.
EXPECTED_BARRIERS = {}
V410_BARRIERS = {"trylock_v410": "the seed's smp_mb() after a handoff accepted from a plain load"}


def disassemble(objdump, path):
    """{function: [(address, mnemonic, operands)]} for every function in path."""
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", path], check=True,
                          capture_output=True, text=True).stdout
    functions, current = {}, None
    for line in text.splitlines():
        match = FUNCTION.match(line)
        if match:
            current = functions.setdefault(match.group(1), [])
            continue
        match = INSN.match(line)
        if match and current is not None:
            current.append((int(match.group(1), 16), match.group(2), match.group(3)))
    return functions


def event(mnemonic, operands):
    """The ordering event of one instruction: a string, or None."""
    if mnemonic == "bl":
        target = TARGET.search(operands)
        name = target.group(2) if target else ""
        return "bl " + name if HELPER.match(name) else None
    if ORDERING.match(mnemonic) or BARRIER.match(mnemonic):
        return mnemonic + (" " + operands if BARRIER.match(mnemonic) else "")
    return None


def fast_routes(functions, name, follow=()):
    """The ordering events of every route from the entry of function `name` to a ret that
    calls nothing but the outline-atomics helpers (other calls, and tail calls out of `name`
    and the functions in `follow`, are the slow paths)."""
    instructions = [insn for f in (name, *follow) for insn in functions.get(f, [])]
    function_of = [f for f in (name, *follow) for _ in functions.get(f, [])]
    index_of = {address: i for i, (address, _, _) in enumerate(instructions)}
    routes, seen = set(), set()
    stack = [(0, ())]
    while stack:
        i, events = stack.pop()
        if (i, events) in seen or i >= len(instructions) or len(events) > MAX_EVENTS:
            continue
        seen.add((i, events))
        _, mnemonic, operands = instructions[i]
        if mnemonic == "ret":
            routes.add(events)
            continue
        if mnemonic in ("blr", "br", "brk", "udf", "hlt"):
            continue
        found = event(mnemonic, operands)
        if mnemonic == "bl" and found is None:
            continue  # a call: the slow path
        if found:
            events = events + (found,)
        if mnemonic == "b" or CONDITIONAL.match(mnemonic):
            target = TARGET.search(operands)
            target_index = index_of.get(int(target.group(1), 16)) if target else None
            if target_index is not None:
                stack.append((target_index, events))
            if mnemonic == "b":
                continue  # taken always (a target not among ours: a tail call)
        if i + 1 < len(instructions) and function_of[i + 1] == function_of[i]:
            stack.append((i + 1, events))
    return routes


def listing(instructions):
    return "\n".join(f"    {a:x}:\t{m}\t{o}" for a, m, o in instructions)


def check_function(functions, where, name, expected_routes, follow=()):
    """One of the fast routes equals each expected route; no fast route has an ordering
    instruction the expected ones do not, or a barrier.  Returns the failures."""
    missing = [f for f in (name, *follow) if f not in functions]
    if missing:
        return [f"{where}: no function {', '.join(missing)}"]
    routes = fast_routes(functions, name, follow)
    allowed = {e for route in expected_routes for e in route}
    failures = []
    for route in expected_routes:
        if tuple(route) not in routes:
            failures.append(f"no fast route carries exactly {' ; '.join(route)}")
    extra = sorted({e for route in routes for e in route} - allowed)
    if extra:
        failures.append(f"a fast route carries {', '.join(extra)} (expected only {', '.join(sorted(allowed))})")
    if failures:
        for f in (name, *follow):
            print(f"{where}: {f}:\n{listing(functions[f])}")
        print("  fast routes found: " + ("; ".join(" ; ".join(r) or "(none)" for r in sorted(routes)) or "none"))
        return [f"{where}: {name}: {f}" for f in failures]
    name = " -> ".join((name, *follow))
    print(f"arm64 fastpaths: ok: {where}: {name}: {' | '.join(' ; '.join(r) for r in expected_routes)}, "
          f"no barrier, nothing stronger")
    return []


def barriers(functions):
    """{function: [barrier instructions]} over a whole library."""
    found = {}
    for name, instructions in functions.items():
        for _, mnemonic, operands in instructions:
            if BARRIER.match(mnemonic):
                found.setdefault(name, []).append(f"{mnemonic} {operands}".strip())
    return found


def check_barriers(where, functions, expected, table="EXPECTED_BARRIERS"):
    found = barriers(functions)
    if set(found) == set(expected):
        shown = ", ".join(f"{f} ({', '.join(b)}: {expected[f]})" for f, b in sorted(found.items()))
        print(f"arm64 fastpaths: ok: {where}: barriers {'only in ' + shown if found else 'none'}")
        return []
    failures = [f"{where}: {f} has {', '.join(b)}, a barrier not meant (if it is, list it in "
                f"{table} in this script with its reason)" for f, b in sorted(found.items()) if f not in expected]
    failures += [f"{where}: {f} has no barrier, expected one: {expected[f]}" for f in sorted(expected)
                 if f not in found]
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objdump", required=True)
    parser.add_argument("--probe-dir", required=True, help="holds the probe built as each variant")
    parser.add_argument("--dropin", required=True, help="libkmutex-pthread.so for aarch64")
    parser.add_argument("--release-lib", required=True, help="libkmutex.a for aarch64")
    parser.add_argument("--v410-lib", required=True, help="the KMUTEX_V410_HANDOFF libkmutex.a")
    args = parser.parse_args()

    failures = []
    for variant, description in VARIANTS.items():
        functions = disassemble(args.objdump, f"{args.probe_dir}/{variant}")
        where = f"probe {variant} ({description})"
        for name, expected in PROBES.items():
            failures += check_function(functions, where, name, [expected[variant]])
        if variant == "default":
            for name in ("__aarch64_cas8_acq", "__aarch64_cas8_rel"):
                failures += check_function(functions, where, name, HELPERS[name])
    dropin = disassemble(args.objdump, args.dropin)
    for name, (follow, expected) in SHARED.items():
        failures += check_function(dropin, "libkmutex-pthread.so", name, [expected], follow)
    for name, routes in HELPERS.items():
        failures += check_function(dropin, "libkmutex-pthread.so", name, routes)
    failures += check_barriers("libkmutex.a (release)", disassemble(args.objdump, args.release_lib),
                               EXPECTED_BARRIERS)
    failures += check_barriers("libkmutex-pthread.so", dropin, EXPECTED_BARRIERS)
    failures += check_barriers("libkmutex.a (v4.10 handoff, the control)",
                               disassemble(args.objdump, args.v410_lib), V410_BARRIERS, "V410_BARRIERS")
    for failure in failures:
        print(f"arm64 fastpaths: FAIL: {failure}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
