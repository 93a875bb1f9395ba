#!/bin/sh
# pgrotate-textfile.sh: write "pgrotate status --format=prometheus" into
# node_exporter's textfile collector directory, atomically, for the alert
# rules in alerts.yml.
#
# Usage: pgrotate-textfile.sh [DIR]
#   DIR defaults to $TEXTFILE_DIR, else /var/lib/prometheus/node-exporter
#   (Debian's prometheus-node-exporter; start node_exporter with
#   --collector.textfile.directory=DIR).
# Environment: PGROTATE (the binary, default "pgrotate" in PATH),
#   PGROTATE_CONFIG (the configuration, see pgrotate(1)).
#
# Run it as the pgrotate user every few minutes, e.g. from cron:
#   */5 * * * * pgrotate /usr/local/share/pgrotate/pgrotate-textfile.sh
# or from a systemd timer. The file DIR/pgrotate.prom is replaced by a
# rename within DIR, so node_exporter never reads half of it. Besides the
# status metrics it holds pgrotate_textfile_success (1 if "pgrotate status"
# printed metrics, 0 if it failed as a program: a configuration error, a
# crash), pgrotate_textfile_status_exit_code (0 OK, 1 WARNING, 2 CRITICAL,
# 3 UNKNOWN, else a failure) and pgrotate_textfile_timestamp_seconds. No
# secret is ever part of the output.
set -eu

me=pgrotate-textfile.sh
dir=${1:-${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}}
bin=${PGROTATE:-pgrotate}
[ -d "$dir" ] || {
	printf '%s: %s is not a directory\n' "$me" "$dir" >&2
	exit 1
}

tmp=$(mktemp "$dir/.pgrotate.prom.XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

rc=0
"$bin" -q status --format=prometheus >"$tmp" || rc=$?
success=0
case $rc in
0 | 1 | 2 | 3) grep -q '^pgrotate_up{' "$tmp" && success=1 ;;
esac
if [ "$success" -eq 0 ]; then
	# Publish only the failure, so that its alert fires (not stale data).
	: >"$tmp"
fi
{
	printf '# HELP pgrotate_textfile_success Whether pgrotate status printed metrics.\n'
	printf '# TYPE pgrotate_textfile_success gauge\n'
	printf 'pgrotate_textfile_success %d\n' "$success"
	printf '# HELP pgrotate_textfile_status_exit_code Exit code of pgrotate status.\n'
	printf '# TYPE pgrotate_textfile_status_exit_code gauge\n'
	printf 'pgrotate_textfile_status_exit_code %d\n' "$rc"
	printf '# HELP pgrotate_textfile_timestamp_seconds When this file was written.\n'
	printf '# TYPE pgrotate_textfile_timestamp_seconds gauge\n'
	printf 'pgrotate_textfile_timestamp_seconds %s\n' "$(date +%s)"
} >>"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$dir/pgrotate.prom"
trap - EXIT
exit 0
