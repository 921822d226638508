#!/usr/bin/env python3
"""The man pages (man/): every function of the public headers has one, and each renders clean.

  check-man.py [--cc CC] [--out DIR]

1. The functions: every public header CShims/include/*.h is compiled alone with gcc's
   -aux-info, which lists each function it declares or defines (inline ones too); names with a
   double underscore are internal.  Each must have man/man3/NAME.3, a page or a `.so` link to
   the page of its family, and that page's NAME section must list it.  So a function added to
   a header without a page fails here.  Pages for functions no header declares yet are
   allowed (krwsem's were written from its API before it landed).
2. Every page renders without a warning: `groff -ww -z -man` (all of groff's warnings) and
   `man --warnings -l` (what man-db's users see), run from man/ so `.so` links resolve.
3. Section 3 pages have NAME, SYNOPSIS, DESCRIPTION, RETURN VALUE, ERRORS, NOTES, EXAMPLES and
   SEE ALSO; section 7 pages NAME, DESCRIPTION, ENVIRONMENT, EXAMPLES.
4. Each section 3 page's EXAMPLES compiles (-Wall -Wextra -Werror) against the headers, unless
   it includes a header that does not exist yet, which is said.
Exits 1 with one line per problem.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAN = os.path.join(ROOT, "man")
INCLUDE = os.path.join(ROOT, "CShims", "include")
SECTIONS = {
    "3": ["NAME", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS", "NOTES", "EXAMPLES", "SEE ALSO"],
    "7": ["NAME", "DESCRIPTION", "ENVIRONMENT", "EXAMPLES"],
}
problems = []


def problem(msg):
    problems.append(msg)
    print("check-man: FAIL: " + msg)


def public_functions(cc):
    """{name: header} for every function the public headers declare."""
    funcs = {}
    for header in sorted(glob.glob(os.path.join(INCLUDE, "*.h"))):
        with tempfile.NamedTemporaryFile(suffix=".aux") as aux:
            r = subprocess.run([cc, "-x", "c", "-std=gnu11", "-D_GNU_SOURCE", "-fsyntax-only",
                                "-I", INCLUDE, "-aux-info", aux.name, header],
                               capture_output=True, text=True)
            if r.returncode != 0:
                problem(f"{os.path.relpath(header, ROOT)} does not compile alone:\n{r.stderr}")
                continue
            for line in open(aux.name):
                m = re.match(r"/\* (\S+):\d+:\w+ \*/ .*?\b(\w+) \(", line)
                if not m or os.path.realpath(os.path.join(ROOT, m.group(1))) != os.path.realpath(header) \
                        and not os.path.realpath(m.group(1)).startswith(os.path.realpath(INCLUDE)):
                    continue
                if "__" in m.group(2):
                    continue
                funcs.setdefault(m.group(2), os.path.relpath(header, ROOT))
    return funcs


def read_page(path, depth=0):
    """The page's text and file, following one `.so` link."""
    text = open(path).read()
    m = re.match(r"\.so\s+(\S+)\s*$", text)
    if m:
        target = os.path.join(MAN, m.group(1))
        if depth or not os.path.exists(target):
            problem(f"{os.path.relpath(path, ROOT)}: .so link to missing {m.group(1)}")
            return None, None
        return read_page(target, depth + 1)
    return text, path


def sections(text):
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r'\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            cur = m.group(1).strip()
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def unroff(lines):
    """The text of an .EX/.EE block as a C source file."""
    s = "\n".join(lines)
    s = s.replace(r"\-", "-").replace(r"\e", "\\").replace(r"\(aq", "'").replace(r"\(dq", '"')
    s = s.replace(r"\&", "")
    return s + "\n"


def check_example(page, text, cc):
    ex = sections(text).get("EXAMPLES", [])
    try:
        code = ex[ex.index(".EX") + 1:ex.index(".EE")]
    except ValueError:
        problem(f"{page}: EXAMPLES has no .EX/.EE block")
        return
    src = unroff(code)
    for inc in re.findall(r'#include <(k\w+\.h)>', src):
        if not os.path.exists(os.path.join(INCLUDE, inc)):
            print(f"check-man: {page}: example not compiled: <{inc}> does not exist yet")
            return
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "example.c")
        open(c, "w").write(src)
        r = subprocess.run([cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c", "-I", INCLUDE,
                            c, "-o", os.path.join(d, "example.o")], capture_output=True, text=True)
        if r.returncode != 0:
            problem(f"{page}: EXAMPLES does not compile:\n{r.stderr}")


def check_render(page):
    rel = os.path.relpath(page, MAN)
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MAN_KEEP_FORMATTING="0")
    for cmd in (["groff", "-ww", "-z", "-man", rel], ["man", "--warnings", "-l", rel]):
        r = subprocess.run(cmd, cwd=MAN, capture_output=True, text=True, env=env)
        if r.returncode != 0 or r.stderr.strip():
            problem(f"{os.path.relpath(page, ROOT)}: `{' '.join(cmd)}` warned:\n{r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()

    pages = sorted(glob.glob(os.path.join(MAN, "man[0-9]", "*.[0-9]")))
    funcs = public_functions(args.cc)
    for name, header in sorted(funcs.items()):
        page = os.path.join(MAN, "man3", name + ".3")
        if not os.path.exists(page):
            problem(f"{name}() ({header}) has no man page: add man/man3/{name}.3 "
                    f"(a page, or `.so man3/FAMILY.3` with {name} in FAMILY's NAME)")
            continue
        text, _ = read_page(page)
        if text is not None and not re.search(r"\b%s\b" % re.escape(name),
                                             "\n".join(sections(text).get("NAME", []))):
            problem(f"man/man3/{name}.3: its page's NAME section does not list {name}")

    full = 0
    for page in pages:
        check_render(page)
        text = open(page).read()
        if text.startswith(".so"):
            read_page(page)
            continue
        full += 1
        sec = page.rsplit(".", 1)[1]
        have = sections(text)
        for want in SECTIONS.get(sec, ["NAME", "DESCRIPTION"]):
            if want not in have:
                problem(f"{os.path.relpath(page, ROOT)}: no {want} section")
        own = os.path.basename(page).rsplit(".", 1)[0].replace("-", r"\-")
        if own not in "\n".join(have.get("NAME", [])):
            problem(f"{os.path.relpath(page, ROOT)}: NAME does not list {own}")
        if sec == "3":
            check_example(os.path.relpath(page, ROOT), text, args.cc)

    print(f"check-man: {len(funcs)} public functions in {INCLUDE and 'CShims/include/*.h'}, "
          f"{len(pages)} pages ({full} pages, {len(pages) - full} .so links): "
          + ("all rendered clean, every function has its page" if not problems
             else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
