#!/usr/bin/env bash
# Mutation testing: apply each one-line mutant of scripts/mutants.txt to a
# copy of this tree, rebuild, run the tests that guard it, and report which
# mutants the tests caught (KILLED) and which they did not (SURVIVED).
# A mutant whose `from` text no longer occurs exactly once is STALE: the code
# moved and the mutant must be rewritten, so the run fails as for a survivor.
#
#   scripts/mutate.sh                 every mutant (about 1-3 min each on 2 cores)
#   scripts/mutate.sh NAME...         only these (names as in mutants.txt)
#   scripts/mutate.sh --list          the names, one per line
#
# The copy lives in ${MUTATE_DIR:-/tmp/valise-mutate-<checkout's directory
# name>}/src, its build in src/build, and both are reused across runs (only
# what a mutant touches is rebuilt; with ccache, the file put back after a
# mutant comes from the cache). MUTATE_CMAKE_ARGS adds options to the first
# configure (-DVALISE_PYTHON=OFF: no Python module to relink per mutant, for
# runs whose tests are not the Python ones). Exit 0 when
# every mutant run was killed; 1 otherwise. Runs outside CI (docs/guarantees.md
# has the command and the last result).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${MUTATE_DIR:-/tmp/valise-mutate-$(basename "$ROOT")}  # one copy per checkout: worktrees can mutate at once
PY=/usr/bin/python3

if [[ ${1:-} == --list ]]; then
  exec "$PY" - "$ROOT/scripts/mutants.txt" <<'EOF'
import sys
for line in open(sys.argv[1]):
    if line.startswith("## "): print(line[3:].strip())
EOF
fi

echo "== copying the tree to $WORK/src"
mkdir -p "$WORK/src"
# Tracked and untracked-but-not-ignored files, as they are now (uncommitted edits included).
git ls-files -co --exclude-standard -z | rsync -a --checksum --from0 --files-from=- ./ "$WORK/src/"
echo "== building the unmutated copy"
# The build sits inside the copy, as build/ does in a checkout: with ccache and
# CCACHE_BASEDIR, the copy's compiles then hit the cache of your own build
# (the same options: e.g. MUTATE_CMAKE_ARGS=-DVALISE_WERROR=ON as on CI).
B=$WORK/src/build
if [[ ! -f $B/CMakeCache.txt ]]; then
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  # With ccache, a file put back after its mutant recompiles from the cache.
  CC_LAUNCH=(); command -v ccache >/dev/null && CC_LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  # MUTATE_CMAKE_ARGS: more configure options, e.g. -DVALISE_PYTHON=OFF when no
  # mutant run needs the Python tests (the module is the slowest to relink).
  # shellcheck disable=SC2086
  cmake -S "$WORK/src" -B "$B" "${GEN[@]}" "${CC_LAUNCH[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVALISE_TESTS=ON \
    ${MUTATE_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$B" -j"$(nproc)" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; echo "the unmutated tree does not build"; exit 2; }

exec "$PY" - "$ROOT/scripts/mutants.txt" "$WORK" "$@" <<'EOF'
import os, subprocess, sys, time

spec, work, only = sys.argv[1], sys.argv[2], set(sys.argv[3:])
src = os.path.join(work, "src")
build = os.path.join(src, "build")

def parse(path):
    muts, cur = [], None
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.startswith("## "):
            cur = {"name": line[3:].strip()}
            muts.append(cur)
        elif cur is not None and ": " in line and line.split(": ", 1)[0] in ("file", "from", "to", "tests", "claim"):
            k, v = line.split(": ", 1)
            cur[k] = v
    for m in muts:
        missing = [k for k in ("file", "from", "to", "tests") if k not in m]
        if missing:
            sys.exit(f"mutants.txt: mutant {m['name']} lacks {', '.join(missing)}")
    return muts

muts = [m for m in parse(spec) if not only or m["name"] in only]
unknown = only - {m["name"] for m in muts}
if unknown:
    sys.exit("no such mutant: " + ", ".join(sorted(unknown)) + " (scripts/mutate.sh --list)")

results = []
for i, m in enumerate(muts, 1):
    path = os.path.join(src, m["file"])
    original = open(path, encoding="utf-8").read()
    frm = m["from"]
    to = m["to"].replace("<empty>", "")
    count = original.count(frm)
    head = f"[{i}/{len(muts)}] {m['name']}"
    if count != 1:
        print(f"{head}: STALE ({m['file']} holds the text {count} times, not once)", flush=True)
        results.append((m, "STALE", ""))
        continue
    t0 = time.time()
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(original.replace(frm, to, 1))
        b = subprocess.run(["cmake", "--build", build, f"-j{os.cpu_count()}"], capture_output=True, text=True)
        if b.returncode != 0:
            print(f"{head}: DOES NOT BUILD (rewrite the mutant)\n{b.stdout[-1500:]}", flush=True)
            results.append((m, "NOBUILD", ""))
            continue
        t = subprocess.run(["ctest", "--test-dir", build, "--no-tests=error", "-j2", "--timeout", "600",
                            "-R", m["tests"]], capture_output=True, text=True)
        failed = [l.strip() for l in t.stdout.splitlines() if "***Failed" in l or "***Timeout" in l or "***Exception" in l]
        verdict = "KILLED" if t.returncode != 0 else "SURVIVED"
        detail = "; ".join(l.split(" - ")[-1] if " - " in l else l for l in failed[:4])
        print(f"{head}: {verdict} in {time.time() - t0:.0f}s {('by ' + detail) if detail else ''}", flush=True)
        results.append((m, verdict, detail))
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(original)

print()
print("| mutant | file | tests | result |")
print("|---|---|---|---|")
for m, v, d in results:
    print(f"| {m['name']} | {m['file']} | `{m['tests']}` | {v} |")
bad = [m["name"] for m, v, _ in results if v != "KILLED"]
print(f"\n{len(results) - len(bad)} of {len(results)} mutants killed" + (f"; not killed: {', '.join(bad)}" if bad else ""))
# Leave the copy's build unmutated for the next run.
subprocess.run(["cmake", "--build", build, f"-j{os.cpu_count()}"], capture_output=True)
sys.exit(1 if bad else 0)
EOF
