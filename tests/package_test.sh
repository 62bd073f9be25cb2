#!/usr/bin/env bash
# The Debian package and the install tree (docs/packaging.md): builds the .deb
# with CPack from the build directory, checks its dependencies are Debian 12
# runtime packages, unpacks it into a fresh root (dpkg -x), and then uses only
# what the package holds: the journey with the installed binary (pack, lose a
# drive, verify, repair, restore bit-exact), the installed Python module
# reading the set, every man page rendered without warnings and naming every
# option its --help names, the bash completion completing commands, options
# and choices, and a C++ program built against the installed headers and
# libraries with find_package(valise) and with pkg-config.
# Usage: tests/package_test.sh BUILD_DIR
set -u
B=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$SRC/tests/lib.sh"
T=$(mktemp -d /tmp/valise-package-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T VALISE_STATE_DIR=$T/state HOME=$T/home
mkdir -p "$T/home"

# ---- build and inspect the .deb ---------------------------------------------
if (cd "$T" && cpack --config "$B/CPackConfig.cmake" -B "$T/pkg" >cpack.log 2>&1); then pass "cpack -G DEB built a package"
else fail "cpack failed: $(tail -5 "$T/cpack.log")"; finish; exit 1; fi
DEB=$(ls "$T"/pkg/valise_*.deb 2>/dev/null | head -1)
check "the package is named valise_<version>_<arch>.deb ($(basename "${DEB:-none}"))" test -f "$DEB"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "     Depends: $DEPENDS"
for lib in libsodium23 libgfshare2 libisal2 libzstd1 libsqlite3-0 libssl3 libfuse3-3 libqrencode4 libpng16-16 python3 fuse3; do
  check "Depends names the Debian package $lib" grep -q "\b$lib\b" <<<"$DEPENDS"
done
R=$T/root
dpkg -x "$DEB" "$R"
for f in usr/bin/valise usr/share/man/man1/valise.1 usr/share/man/man1/valise-pack.1 \
         usr/share/man/man1/valise-trust-add.1 usr/share/man/man1/valise-label.1 usr/share/man/man1/valise-erase.1 \
         usr/share/bash-completion/completions/valise \
         usr/include/valise/valise.h usr/lib/cmake/valise/valiseConfig.cmake usr/lib/pkgconfig/valise.pc \
         usr/lib/valise/libvalise_core.a usr/lib/python3/dist-packages/valise/__init__.py; do
  check "the package holds /$f" test -e "$R/$f"
done
check "the package holds the Python extension" bash -c "compgen -G '$R/usr/lib/python3/dist-packages/valise/_valise*.so' >/dev/null"
check "the binary and the Python module are stripped (no build paths in them)" \
  bash -c "! grep -lF '$B' '$R/usr/bin/valise' '$R'/usr/lib/python3/dist-packages/valise/_valise*.so"

# ---- the journey with the installed binary only -------------------------------
V=$R/usr/bin/valise
VALISE=$V
cd "$T"
/usr/bin/python3 "$SRC/scripts/make_sample.py" src 4 --seed 7 >/dev/null
hashes() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
expect_rc 0 keygen -o id
expect_rc 0 pack src --to d1 d2 d3 d4 --parity 1 --identity id --progress never
rm -rf d2
expect_rc 1 verify d1 d3 d4
expect_rc 0 repair d1 d3 d4 --replace 2=n2
expect_rc 0 verify d1 n2 d3 d4
expect_rc 0 restore d1 n2 d3 d4 --identity id --to restored
check "the installed binary restores the tree bit-exact" test "$(hashes src)" == "$(hashes restored)"
check "the installed binary links only system libraries" bash -c "! ldd '$V' | grep -q 'not found'"

# ---- the installed Python module ------------------------------------------------
PYDIR=$R/usr/lib/python3/dist-packages
cat >py_check.py <<'PY'
import hashlib, os
import valise
assert valise.__file__.startswith(os.environ["ROOT"]), valise.__file__
drives = ["d1", "n2", "d3", "d4"]
assert valise.verify(drives)["verdict"] == "intact"
valise.restore(drives, "pyout", identity="id")
def tree(top):
    out = {}
    for dp, _, fs in os.walk(top):
        for f in fs:
            p = os.path.join(dp, f)
            out[os.path.relpath(p, top)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out
got, want = tree("pyout"), tree("src")
assert got == want, (len(got), len(want))
s = valise.Set(drives, identity="id", samples="file")
assert len(s) > 0
print("verified and restored", len(got), "files with", valise.__file__)
PY
if ROOT=$R PYTHONPATH=$PYDIR /usr/bin/python3 py_check.py >py.out 2>&1; then pass "the installed Python module reads every file bit-exact ($(cat py.out))"
else fail "the installed Python module: $(tail -3 py.out)"; fi

# ---- man pages -----------------------------------------------------------------
MAN=$R/usr/share/man/man1
COMMANDS=$("$V" --help | sed -n '/^Subcommands:/,$p' | awk 'NR>1 && /^  [a-z]/ {print $1}')
for c in $COMMANDS; do
  check "a man page for valise $c" test -f "$MAN/valise-$c.1"
done
for p in "$MAN"/*.1; do
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -l "$p" 2>&1 >/dev/null)
  [[ -z $warn ]] || fail "$(basename "$p") renders with warnings: $warn"
done
pass "every man page renders ($(ls "$MAN" | wc -l) pages)"
missing=""
for o in $("$V" pack --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MAN/valise-pack.1" 2>/dev/null | grep -q -- "$o" || missing+=" $o"
done
check "valise-pack(1) names every option 'valise pack --help' names${missing:+ (missing:$missing)}" test -z "$missing"

# ---- bash completion -------------------------------------------------------------
complete_words() {  # complete_words WORD... : what the completion offers for the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _valise; echo "${COMPREPLY[*]}"' _ \
    "$R/usr/share/bash-completion/completions/valise" "$@"
}
check "completion: 'valise ver' -> verify" test "$(complete_words valise ver)" == "verify"
check "completion: 'valise lab' -> label" test "$(complete_words valise lab)" == "label"
check "completion: 'valise era' -> erase" test "$(complete_words valise era)" == "erase"
check "completion: 'valise erase --pattern ' -> random zeros" test "$(complete_words valise erase d1 --pattern '')" == "random zeros"
check "completion: 'valise trust ' -> add rm ls" test "$(complete_words valise trust '')" == "add rm ls"
check "completion: 'valise pack --skip' -> --skip-unreadable" test "$(complete_words valise pack --skip)" == "--skip-unreadable"
check "completion: 'valise restore --overwrite ' -> the three policies" \
  test "$(complete_words valise restore d1 --overwrite '')" == "always if-changed never"
check "'valise completion bash' is the installed script" cmp -s <("$V" completion bash) "$R/usr/share/bash-completion/completions/valise"
expect_rc 2 completion zsh

# ---- building against the installed library ----------------------------------------
mkdir -p consumer
cat >consumer/main.cc <<'CC'
#include <valise/valise.h>
#include <cstdio>
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto r = valise::RecipientOf(argv[1]);
  if (!r.ok()) { std::fprintf(stderr, "%s\n", r.status().message().c_str()); return 1; }
  std::printf("%s %s\n", valise::kVersion, r->c_str());
  return 0;
}
CC
cat >consumer/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.22)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(valise 0.1 REQUIRED)
add_executable(consumer main.cc)
target_link_libraries(consumer PRIVATE valise::valise)
CM
WANT="$("$V" --version | awk '{print $2}') $("$V" pubkey id)"
if cmake -S consumer -B consumer/build -DCMAKE_PREFIX_PATH="$R/usr" >consumer.log 2>&1 &&
   cmake --build consumer/build >>consumer.log 2>&1; then
  check "find_package(valise): the program built against the package prints the recipient valise pubkey prints" \
    test "$(consumer/build/consumer id)" == "$WANT"
else fail "find_package(valise) build failed: $(tail -5 consumer.log)"; fi
if FLAGS=$(PKG_CONFIG_PATH=$R/usr/lib/pkgconfig pkg-config --define-prefix --cflags --libs valise 2>pc.err) &&
   g++ -std=c++20 consumer/main.cc -o pc_consumer $FLAGS >>consumer.log 2>&1; then
  check "pkg-config valise: the program built with its flags prints the same" test "$(./pc_consumer id)" == "$WANT"
else fail "pkg-config build failed: $(cat pc.err; tail -5 consumer.log)"; fi
finish
