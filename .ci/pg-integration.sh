#!/usr/bin/env bash
# The integration suite (tests/t/*.pl) against one PostgreSQL server of
# .ci/pg-versions, installed by .ci/install-deps:
#
#   bash .ci/pg-integration.sh MAJOR     (e.g. 17; from anywhere)
#
# Builds out of tree in .ci/out/pg-MAJOR (--enable-werror
# --enable-fault-injection, as the main build) and runs
# "make -k check TESTS='$(INTEGRATION_TESTS)' PG_BINDIR=$CACHE/pg-MAJOR/bin"
# there: the servers come from that folder, psql from Debian's 15.  The
# results are automake .trs files (counted by .ci/run), the logs next to
# them.  Prints the summary and the elapsed time; exits non-zero if the
# server is missing, the build or any test failed.
set -u
set -o pipefail

major=${1:?usage: pg-integration.sh MAJOR}
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
CACHE=${PGROTATE_PG_CACHE:-/var/cache/pgrotate-ci}
BINDIR=$CACHE/pg-$major/bin
OUT=$ROOT/.ci/out/pg-$major
JOBS=${CI_JOBS:-2}
t0=$(date +%s)

if [ ! -x "$BINDIR/postgres" ]; then
	echo "pg-integration: no PostgreSQL $major in $BINDIR (run .ci/install-deps)"
	exit 2
fi
echo "pg-integration: $("$BINDIR/postgres" --version) from $BINDIR"
if [ ! -x "$ROOT/configure" ]; then
	./autogen.sh || { echo "pg-integration: autogen failed"; exit 2; }
fi
rm -rf "$OUT"
mkdir -p "$OUT" && cd "$OUT" || exit 2
if ! "$ROOT/configure" -q --enable-werror --enable-fault-injection; then
	echo "pg-integration: configure failed (see $OUT/config.log)"
	exit 2
fi
if ! make -s -j"$JOBS" src/pgrotate; then
	echo "pg-integration: build failed"
	exit 2
fi

make -k -j"$JOBS" check TESTS='$(INTEGRATION_TESTS)' PG_BINDIR="$BINDIR"
rc=$?

echo
echo "==== pg-integration $major: summary ===="
grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' test-suite.log 2>/dev/null ||
	echo "(no test-suite.log: the suite did not run)"
echo "pg-integration $major: $(($(date +%s) - t0))s, exit $rc"
exit "$rc"
