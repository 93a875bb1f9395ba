#!/usr/bin/env bash
# Every unit test binary under valgrind (memcheck): invalid accesses,
# uninitialised values and leaks are errors.
#
#   bash .ci/valgrind-unit.sh           (from anywhere; after ./autogen.sh,
#                                        which it runs if configure is missing)
#
# Builds out of tree in .ci/out/valgrind-unit (VALGRIND_OUT overrides), a
# plain build with -O0 -g (valgrind and the sanitizers do not mix), and runs
# "make -k check TESTS='$(UNIT_TESTS)'" with valgrind as LOG_COMPILER, so
# the results are automake .trs files (counted by .ci/run) and valgrind's
# report is in each test's .log. valgrind --error-exitcode=1 turns any
# finding into a failed test. Prints the summary and the elapsed time;
# exits non-zero if the build or any test failed.
set -u
set -o pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUT=${VALGRIND_OUT:-$ROOT/.ci/out/valgrind-unit}
JOBS=${CI_JOBS:-2}
t0=$(date +%s)

command -v valgrind >/dev/null || { echo "valgrind-unit: valgrind is not installed"; exit 2; }
if [ ! -x "$ROOT/configure" ]; then
	./autogen.sh || { echo "valgrind-unit: autogen failed"; exit 2; }
fi
rm -rf "$OUT"
mkdir -p "$OUT" && cd "$OUT" || exit 2
if ! "$ROOT/configure" -q --enable-werror CFLAGS="-O0 -g"; then
	echo "valgrind-unit: configure failed (see $OUT/config.log)"
	exit 2
fi

# --child-silent-after-fork: the tests fork command sinks; only the test
# process itself is checked (the children exec other programs).
VG="valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible"
VG="$VG --show-leak-kinds=definite,possible --track-origins=yes --child-silent-after-fork=yes"
VG="$VG --trace-children=no --num-callers=30"
make -k -j"$JOBS" check TESTS='$(UNIT_TESTS)' LOG_COMPILER="$VG"
rc=$?

echo
echo "==== valgrind-unit: summary ===="
grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' test-suite.log 2>/dev/null ||
	echo "(no test-suite.log: the suite did not run)"
if grep -lE '^==[0-9]+== [A-Z]' tests/unit/*.log 2>/dev/null; then
	echo "valgrind-unit: valgrind reports in the logs above"
fi
echo "valgrind-unit: $(($(date +%s) - t0))s, exit $rc"
exit "$rc"
