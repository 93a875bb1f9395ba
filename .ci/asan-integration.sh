#!/usr/bin/env bash
# The integration suite (tests/t/*.pl) once more, against a pgrotate built
# with AddressSanitizer + UndefinedBehaviorSanitizer (and the test-only
# fault points the crash and fault tests need).
#
#   bash .ci/asan-integration.sh        (from anywhere; after ./autogen.sh,
#                                        which it runs if configure is missing)
#
# Builds out of tree in .ci/out/asan-int (ASAN_INT_OUT overrides) and runs
# "make -k check TESTS='$(INTEGRATION_TESTS)'" there, so the results are
# automake .trs files (counted by .ci/run) and the logs are next to them.
# A sanitizer finding aborts the pgrotate process with a report on its
# stderr (which the test shows), so the test fails. Leak checking is on.
# Prints the make check summary and the elapsed time; exits non-zero if
# the build or any test failed.
set -u
set -o pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUT=${ASAN_INT_OUT:-$ROOT/.ci/out/asan-int}
JOBS=${CI_JOBS:-2}
t0=$(date +%s)

if [ ! -x "$ROOT/configure" ]; then
	./autogen.sh || { echo "asan-integration: autogen failed"; exit 2; }
fi
rm -rf "$OUT"
mkdir -p "$OUT" && cd "$OUT" || exit 2
if ! "$ROOT/configure" -q --enable-sanitizers --enable-fault-injection --enable-werror; then
	echo "asan-integration: configure failed (see $OUT/config.log)"
	exit 2
fi
if ! make -s -j"$JOBS" src/pgrotate; then
	echo "asan-integration: build failed"
	exit 2
fi

# detect_leaks: a leak at exit is a finding too. abort_on_error makes a
# finding look like a crash (exit by SIGABRT) rather than an exit code a
# test might expect; the report is on stderr either way.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:disable_coredump=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
export LSAN_OPTIONS=exitcode=23

make -k -j"$JOBS" check TESTS='$(INTEGRATION_TESTS)'
rc=$?

echo
echo "==== asan-integration: summary ===="
grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' test-suite.log 2>/dev/null ||
	echo "(no test-suite.log: the suite did not run)"
# Name any sanitizer report, wherever a test printed it.
if grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' tests/t/*.log 2>/dev/null; then
	echo "asan-integration: sanitizer reports in the logs above"
	rc=1
fi
echo "asan-integration: $(($(date +%s) - t0))s, exit $rc"
exit "$rc"
