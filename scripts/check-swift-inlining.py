#!/usr/bin/env python3
"""Checks that the kmutex fast path is inlined into a Swift caller in a release build.

Builds the KMutexInlineProbe executable with `swift build -c release`, disassembles its
`incrementUnderLock` and `incrementBoxed` (functions that call KMutex.withLock and
KMutexBox.withLock) with objdump, and asserts for each:
  - the function contains `lock cmpxchg` (the header's inline fast paths reached Swift);
  - there is a route from its entry to a `ret` that goes through two `lock cmpxchg` (lock and
    unlock) and makes no call.  Calls are allowed only off that route (the slow paths).
Without @inlinable wrappers every route calls KMutex.withLock or kmutex_lock; with the
header's debug mode leaking into Swift, every route calls the slow path; both fail here.

Usage: scripts/check-swift-inlining.py [--scratch-path DIR]
"""
import argparse
import re
import subprocess
import sys

PROBE = "KMutexInlineProbe"
FUNCTIONS = ["incrementUnderLock", "incrementBoxed"]
# objdump -d --no-show-raw-insn:  "    3213:\tlock cmpxchg %rcx,(%rbx)"
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(.*?)\s*$")
BRANCH = re.compile(r"^(j[a-z]+)\s+([0-9a-f]+)\s*(?:<(.+)>)?")
CALL = re.compile(r"^call[a-z]*\s")


def run(command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def build_probe(scratch):
    extra = ["--scratch-path", scratch] if scratch else []
    subprocess.run(["swift", "build", "-c", "release", "--product", PROBE] + extra, check=True)
    return run(["swift", "build", "-c", "release", "--show-bin-path"] + extra).strip() + "/" + PROBE


def probe_symbol(binary, function):
    for line in run(["nm", binary]).splitlines():
        name = line.split()[-1]
        # The function itself, not its closures: a closure's mangled name has "fU_" after
        # the enclosing function's; the function's own ends with its signature ("...F").
        mangled_identifier = f"{len(function)}{function}"
        if mangled_identifier in name and name.endswith("F") and "fU_" not in name:
            return name
    sys.exit(f"inlining check: no {function} symbol in {binary}")


def disassemble(binary, symbol):
    text = run(["objdump", "-d", "--no-show-raw-insn", f"--disassemble={symbol}", binary])
    instructions = []
    for line in text.splitlines():
        match = INSN.match(line)
        if match:
            instructions.append((int(match.group(1), 16), match.group(2)))
    if not instructions:
        sys.exit(f"inlining check: objdump found no instructions for {symbol}")
    return text, instructions


def call_free_fast_path(instructions):
    """True if some route from entry to ret passes two `lock cmpxchg` and makes no call."""
    index_of = {address: i for i, (address, _) in enumerate(instructions)}
    seen = set()
    stack = [(0, 0)]  # (instruction index, cmpxchg count so far, capped at 2)
    while stack:
        i, cmpxchgs = stack.pop()
        if (i, cmpxchgs) in seen or i >= len(instructions):
            continue
        seen.add((i, cmpxchgs))
        text = instructions[i][1]
        if text.startswith("lock cmpxchg"):
            cmpxchgs = min(cmpxchgs + 1, 2)
        if text.startswith("ret"):
            if cmpxchgs == 2:
                return True
            continue
        if CALL.match(text) or text.startswith("ud2"):
            continue  # a call (or a trap) is off the fast path by definition
        branch = BRANCH.match(text)
        if branch:
            target = index_of.get(int(branch.group(2), 16))
            if target is None:
                continue  # a tail call out of the function
            stack.append((target, cmpxchgs))
            if branch.group(1) == "jmp":
                continue
        elif text.startswith("jmp"):
            continue  # indirect jump: not a fast path we can follow
        stack.append((i + 1, cmpxchgs))
    return False


def check(binary, function):
    """Returns the failures for one probe function (empty when it passes)."""
    symbol = probe_symbol(binary, function)
    listing, instructions = disassemble(binary, symbol)
    cmpxchgs = sum(1 for _, text in instructions if text.startswith("lock cmpxchg"))
    calls = sorted({text.split("<")[-1].rstrip(">") for _, text in instructions if CALL.match(text)})
    failures = []
    if cmpxchgs < 2:
        failures.append(f"expected the lock and unlock `lock cmpxchg` inlined, found {cmpxchgs}")
    if not call_free_fast_path(instructions):
        failures.append("no call-free route from entry through lock and unlock cmpxchg to ret")
    if failures:
        print(listing)
        return [f"{function}: {failure}" for failure in failures]
    print(f"inlining check: ok: {function} has {cmpxchgs} inlined `lock cmpxchg`, a call-free "
          f"fast path, and calls only off it: {', '.join(calls)}")
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch-path", help="SwiftPM scratch path (default .build)")
    args = parser.parse_args()

    binary = build_probe(args.scratch_path)
    failures = [failure for function in FUNCTIONS for failure in check(binary, function)]
    for failure in failures:
        print(f"inlining check: FAIL: {failure}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
