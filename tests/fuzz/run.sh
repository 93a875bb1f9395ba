#!/bin/sh
# Build the libFuzzer targets of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) straight from the src/*.c files they
# need, and run each for a while on its seed corpus.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs default to all of
# duration config sink_format sink_read. Output (binaries, the growing
# corpus, crash-* artifacts, logs) goes to $FUZZ_OUT (default
# .ci/out/fuzz in the source tree); the seeds in tests/fuzz/corpus/ are
# only read. FUZZ_JOBS (2) targets run at once. Exits 1 if a target
# crashed (the artifact and the log are named), 2 if one does not build. Needs clang and Debian's
# libclang-rt-14-dev (the fuzzer runtime), libpq-dev, libssl-dev,
# libconfig-dev.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-duration config sink_format sink_read}
out=${FUZZ_OUT:-$srcdir/.ci/out/fuzz}
CC=${CC:-clang}

case $secs in
	'' | *[!0-9]*)
		echo "usage: $0 [SECONDS] [TARGET...]" >&2
		exit 2
		;;
esac

deps=$(pkg-config --cflags --libs libpq libconfig libcrypto) || {
	echo "run.sh: pkg-config cannot find libpq, libconfig and libcrypto" >&2
	exit 2
}
# shellcheck disable=SC2086
set -- -g -O1 -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$srcdir/src"

# What each target links, besides its own file.
common="util log message duration secret safefile scram transport checklist config config_keys db sink sink_format sink_file sink_command sink_output sink_pgbouncer"
sources_of() {
	case $1 in
		duration) echo duration ;;
		*) echo "$common" ;;
	esac
}

mkdir -p "$out"
# the targets write a scratch file per input: memory-backed if possible
scratch=$(mktemp -d "${SCRATCH_DIR:-/dev/shm}/pgr-fuzz.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# fuzz_one TARGET: build and run one target; prints its report. Exits 0,
# 1 (it crashed) or 2 (it does not build).
fuzz_one() {
	t=$1
	shift
	src="$srcdir/tests/fuzz/fuzz_$t.c"
	if [ ! -f "$src" ]; then
		echo "run.sh: no target $t ($src)" >&2
		return 2
	fi
	files=""
	for f in $(sources_of "$t"); do
		files="$files $srcdir/src/$f.c"
	done
	bin="$out/fuzz_$t"
	echo "== $t: building"
	# shellcheck disable=SC2086
	if ! $CC "$@" -o "$bin" "$src" $files $deps -lpthread 2> "$out/$t.build.log"; then
		cat "$out/$t.build.log" >&2
		echo "run.sh: $t does not build" >&2
		return 2
	fi
	mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
	dict=""
	[ -f "$srcdir/tests/fuzz/$t.dict" ] && dict="-dict=$srcdir/tests/fuzz/$t.dict"
	echo "== $t: fuzzing for ${secs}s"
	seeds="$srcdir/tests/fuzz/corpus/$t"
	[ -d "$seeds" ] || seeds=""
	# shellcheck disable=SC2086
	if TMPDIR="$scratch" LSAN_OPTIONS="suppressions=$srcdir/tests/fuzz/lsan.supp" \
		UBSAN_OPTIONS=print_stacktrace=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
		$dict "$out/corpus/$t" $seeds > "$out/$t.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
		cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -1)
		echo "== $t: ok, ${runs:-?} runs, $cov, corpus $(ls "$out/corpus/$t" | wc -l) files"
		return 0
	fi
	echo "== $t: CRASH; log $out/$t.log, artifact(s):"
	ls "$out/artifacts/$t/" | sed "s|^|   $out/artifacts/$t/|"
	grep -m 20 -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$out/$t.log" | head -20 || true
	return 1
}

# FUZZ_JOBS targets at once (default 2: one per CPU of a CI machine); each
# report is printed whole when its target is done.
status=0
running=""
reap() {
	for job in $running; do
		pid=${job%%:*}
		t=${job#*:}
		rc=0
		wait "$pid" || rc=$?
		cat "$out/$t.report"
		[ "$rc" -gt "$status" ] && status=$rc
	done
	running=""
}
n=0
for t in $targets; do
	fuzz_one "$t" "$@" > "$out/$t.report" 2>&1 &
	running="$running $!:$t"
	n=$((n + 1))
	if [ "$n" -ge "${FUZZ_JOBS:-2}" ]; then
		reap
		n=0
	fi
done
reap
exit $status
