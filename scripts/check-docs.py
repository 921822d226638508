#!/usr/bin/env python3
"""The commands and references README.md and docs/*.md show must work.

  check-docs.py BUILD_DIR

Checked in every document:
  - every `make TARGET` (in code spans and code blocks) names a target the Makefile has;
  - every repository path in code (scripts/..., Tests/..., docs/..., man/..., ...) exists;
  - every relative link exists, but the pages other work brings (PENDING), which are said.
Run, from README.md (the checked examples):
  - the C block compiles against kmutex.h (its queue helpers declared, as a reader's would be);
  - the C++ block is Examples/cmake/queue.cpp's, which test-cxx builds and runs (compared);
  - the drop-in block runs, with /usr/local replaced by a temporary install prefix and
    ./program by a small pthread program: it must run on kmutex (the preload mapped), the
    KMUTEX_STAT line must print the lock_stat table and the KMUTEX_LOCKDEP line no report;
  - `cc app.c $(pkg-config --cflags --libs kmutex)`, with the C block as app.c plus a main.
And docs/lockdep.md's commands, on an ABBA program: reported with KMUTEX_LOCKDEP=1, reported
and aborted with =abort.  What runs elsewhere: the bpftrace and perf commands of docs/observability.md in
Tests/observability/probes.sh, the lockdep commands in mk/lockdep.mk, the man pages' examples
in scripts/check-man.py.  Exits 1 with one line per problem.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
# Pages that other branches add (the README links them and says so); reported, not failed.
PENDING = set()
PENDING_TARGETS = set()
REPO_DIRS = ("scripts", "Tests", "docs", "man", "mk", "verify", "Examples", "CShims", "pthread",
             "Sources", "Benchmarks", "cmake")
problems = []


def problem(msg):
    problems.append(msg)
    print("check-docs: FAIL: " + msg)


def code_of(text):
    """Code blocks (lang, body) and inline code spans."""
    blocks = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return blocks, spans


def make_targets():
    r = subprocess.run(["make", "-qp", "-C", ROOT], capture_output=True, text=True)
    targets = set()
    for line in r.stdout.splitlines():
        m = re.match(r"^([A-Za-z0-9][^$#\t=:%]*?):(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def check_references(targets):
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        blocks, spans = code_of(text)
        code = spans + [b for _, b in blocks]
        for chunk in code:
            for m in re.finditer(r"(?:^|[\s;(&|])make\s+((?:[A-Z_]+=\S+\s+|-\S+\s+)*)([a-z][\w.-]*)", chunk):
                t = m.group(2)
                if t in PENDING_TARGETS and t not in targets:
                    print(f"check-docs: {doc}: `make {t}`: not here yet (another branch brings it)")
                elif t not in targets:
                    problem(f"{doc}: `make {t}`: no such target")
            for m in re.finditer(r"(?<![\w./-])((?:%s)/[\w./+-]*)" % "|".join(REPO_DIRS), chunk):
                path = m.group(1).rstrip(".,:;)")
                if "*" in path or "..." in path:
                    continue
                if not os.path.exists(os.path.join(ROOT, path)):
                    problem(f"{doc}: `{path}` does not exist")
        for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            link = m.group(1)
            if re.match(r"\w+:", link):
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(doc), link))
            if os.path.exists(os.path.join(ROOT, target)):
                continue
            if target in PENDING:
                print(f"check-docs: {doc}: link to {target}: not here yet (another branch brings it)")
            else:
                problem(f"{doc}: link to {link} ({target}) is broken")


def readme_block(lang, contains):
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks, _ = code_of(text)
    for l, body in blocks:
        if l == lang and contains in body:
            return body
    problem(f"README.md: no ```{lang} block with {contains!r}")
    return None


def run(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True,
                          timeout=120, **kw)


def check_readme_examples(build):
    cc = os.environ.get("CC", "gcc")
    include = os.path.join(ROOT, "CShims", "include")
    stubs = "int queue_empty(void);\nint queue_pop(void);\nvoid queue_push(int item);\n"
    c = readme_block("c", "kcond_wait")
    cxx = readme_block("cpp", "kmx::condition_variable")
    dropin = readme_block("sh", "LD_PRELOAD=")
    with tempfile.TemporaryDirectory() as d:
        if c:
            src = os.path.join(d, "readme.c")
            open(src, "w").write("#include <errno.h>\n" + stubs + c)
            r = run([cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c", "-I", include, src,
                     "-o", os.path.join(d, "readme.o")])
            if r.returncode:
                problem(f"README.md: the C example does not compile:\n{r.stderr}")
        if cxx:
            whole = open(os.path.join(ROOT, "Examples", "cmake", "queue.cpp")).read()
            body = "\n".join(l for l in cxx.strip().splitlines() if not l.startswith("#include"))
            if body.strip() not in whole:
                problem("README.md: the C++ example is no longer Examples/cmake/queue.cpp's (which test-cxx runs)")

        prefix = os.path.join(d, "prefix")
        r = run(["make", "-C", ROOT, "--no-print-directory", "install", "PREFIX=" + prefix])
        if r.returncode:
            problem(f"make install PREFIX=... failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
            return
        # The pkg-config line, with the C block as app.c.
        if c:
            app = os.path.join(d, "app.c")
            open(app, "w").write(stubs + c + "int queue_empty(void) { return 0; }\n"
                                 "int queue_pop(void) { return 7; }\nvoid queue_push(int item) { (void)item; }\n"
                                 "int main(void) { put(7); return take() == 7 ? 0 : 1; }\n")
            env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
            r = run(f"cd {d} && cc app.c $(pkg-config --cflags --libs kmutex) -lpthread -Wl,-rpath,{prefix}/lib"
                    f" && ./a.out", env=env)
            if r.returncode:
                problem(f"README.md: `cc app.c $(pkg-config --cflags --libs kmutex)` (and run): {r.stderr}")
        if dropin:
            prog = os.path.join(d, "program")
            open(prog + ".c", "w").write(
                "#include <pthread.h>\n#include <stdio.h>\n#include <string.h>\n"
                "static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;\n"
                "static long n;\n"
                "static void *work(void *arg) { (void)arg; for (int i = 0; i < 20000; i++) {\n"
                "  pthread_mutex_lock(&a); pthread_mutex_lock(&b); n++;\n"
                "  pthread_mutex_unlock(&b); pthread_mutex_unlock(&a); } return NULL; }\n"
                "int main(void) { pthread_t t[2]; char line[512]; int on = 0; FILE *m;\n"
                "  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, work, NULL);\n"
                "  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);\n"
                "  m = fopen(\"/proc/self/maps\", \"r\");\n"
                "  while (m && fgets(line, sizeof(line), m)) on |= strstr(line, \"libkmutex-pthread\") != NULL;\n"
                "  printf(\"%s %ld\\n\", on ? \"on-kmutex\" : \"on-glibc\", n); return n == 40000 ? 0 : 1; }\n")
            r = run([cc, "-O2", "-o", prog, prog + ".c", "-lpthread"])
            if r.returncode:
                problem(f"the drop-in test program does not build: {r.stderr}")
                return
            for line in dropin.splitlines():
                cmd = line.split("#")[0].strip()
                if not cmd:
                    continue
                cmd = cmd.replace("/usr/local", prefix).replace("./program", prog)
                r = run(f"cd {d} && {cmd}")
                if r.returncode or "on-kmutex 40000" not in r.stdout:
                    problem(f"README.md: `{line.strip()}` did not run the program on kmutex:\n"
                            f"{r.stdout}{r.stderr}")
                elif "KMUTEX_STAT" in cmd and "lock_stat version" not in r.stderr:
                    problem(f"README.md: `{line.strip()}` printed no lock_stat table")
                elif "KMUTEX_LOCKDEP" in cmd and "WARNING" in r.stderr:
                    problem(f"README.md: `{line.strip()}` reported a lock-order problem in a clean program:\n{r.stderr}")
                else:
                    print(f"check-docs: README.md: ran `{line.split('#')[0].strip()}`")


def check_lockdep_block(build):
    """docs/lockdep.md's commands on an ABBA program: reported with =1, aborted with =abort."""
    text = open(os.path.join(ROOT, "docs", "lockdep.md")).read()
    blocks, _ = code_of(text)
    block = next((b for l, b in blocks if l == "sh" and "KMUTEX_LOCKDEP=abort" in b), None)
    if block is None:
        problem("docs/lockdep.md: no ```sh block with the KMUTEX_LOCKDEP commands")
        return
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "app.c"), "w").write(
            "#include <kmutex.h>\nstatic DEFINE_KMUTEX(lock_a);\nstatic DEFINE_KMUTEX(lock_b);\n"
            "int main(void) {\n  kmutex_lock(&lock_a); kmutex_lock(&lock_b); kmutex_unlock(&lock_b); kmutex_unlock(&lock_a);\n"
            "  kmutex_lock(&lock_b); kmutex_lock(&lock_a); kmutex_unlock(&lock_a); kmutex_unlock(&lock_b);\n"
            "  return 0;\n}\n")
        for line in block.splitlines():
            cmd = line.split("#")[0].strip()
            if not cmd or cmd.startswith("make "):
                continue   # make debug: built before the tests run (make test's prerequisites)
            cmd = cmd.replace("build/", os.path.join(os.path.abspath(build), "")) \
                     .replace("-ICShims/include", "-I" + os.path.join(ROOT, "CShims", "include"))
            r = run(f"cd {d} && {cmd}")
            report = "possible circular locking dependency" in r.stderr
            if cmd.startswith("cc "):
                ok = r.returncode == 0
            elif "KMUTEX_LOCKDEP=abort" in cmd:
                ok = report and r.returncode != 0
            else:
                ok = report and r.returncode == 0
            if not ok:
                problem(f"docs/lockdep.md: `{line.strip()}` (exit {r.returncode}) did not do what the page says:\n{r.stderr[-1500:]}")
            else:
                print(f"check-docs: docs/lockdep.md: ran `{line.split('#')[0].strip()}`")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    check_references(make_targets())
    check_readme_examples(build)
    check_lockdep_block(build)
    print(f"check-docs: {len(DOCS)} documents: "
          + ("every make target, path and link found, README's examples ran" if not problems
             else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
