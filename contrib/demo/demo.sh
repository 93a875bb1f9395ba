#!/usr/bin/env bash
# pgrotate demo: install what is needed, build, start a throwaway
# PostgreSQL cluster, and show a real rotation: an application session on
# the old role, the drain progress, the revoke, then active and history.
# Everything is removed at the end. Run as root on Debian 12 (or as a user
# with sudo); nothing is left running. PGROTATE_BIN=/usr/bin/pgrotate runs
# an installed pgrotate instead of building one.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/pgrotate-demo.XXXXXX)
build="$work/build"
pg="$work/pg"
pgbin=$(pg_config --bindir 2>/dev/null || true)
pgpid=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
	set +e
	[ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null
	if [ -f "$pg/data/postmaster.pid" ]; then
		as_pg "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say "installing packages (Debian) and building"
"$top/.ci/install-deps"
pgbin=$(pg_config --bindir)
[ -x "$pgbin/initdb" ] || pgbin=/usr/lib/postgresql/15/bin
if [ -n "${PGROTATE_BIN:-}" ]; then
	# An installed pgrotate (e.g. the Debian package's /usr/bin/pgrotate).
	[ -x "$PGROTATE_BIN" ] || { echo "PGROTATE_BIN=$PGROTATE_BIN is not executable"; exit 1; }
	pgrotate=$PGROTATE_BIN
	echo "using $pgrotate ($("$pgrotate" --version)), not building"
else
	(cd "$top" && ./autogen.sh >/dev/null 2>&1)
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q >/dev/null && make -s -j2 src/pgrotate >/dev/null)
	pgrotate="$build/src/pgrotate"
fi

say "starting a throwaway PostgreSQL cluster in $pg"
# The cluster's folder belongs to postgres; pgrotate's configuration,
# state and sink stay in folders of our own ($work/etc, $work/state): it
# refuses a configuration that another user could replace.
sock="$pg/sock"
mkdir -p "$sock" "$work/etc" "$work/state"
chmod 755 "$work"
[ "$(id -u)" -eq 0 ] && chown postgres "$pg" "$sock"
su_pw=$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)
printf '%s\n' "$su_pw" > "$pg/pw" && chmod 600 "$pg/pw"
[ "$(id -u)" -eq 0 ] && chown postgres "$pg/pw"
as_pg "$pgbin/initdb" -D "$pg/data" -U postgres --pwfile="$pg/pw" -A scram-sha-256 >/dev/null
rm -f "$pg/pw"
port=$(( 20000 + RANDOM % 20000 ))
as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
	-o "-c listen_addresses='' -c unix_socket_directories='$sock' -c port=$port -c log_statement=all" start >/dev/null
export PGHOST="$sock" PGPORT="$port"
export PGPASSFILE="$work/pgpass"
admin_pw=$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)
printf '%s:%s:*:postgres:%s\n%s:%s:*:pgrotate_admin:%s\n' "$sock" "$port" "$su_pw" "$sock" "$port" "$admin_pw" > "$PGPASSFILE"
chmod 600 "$PGPASSFILE"
psql -X -q -U postgres -d postgres <<SQL
CREATE DATABASE appdb;
SET log_statement = 'none';
CREATE ROLE pgrotate_admin LOGIN CREATEROLE PASSWORD '$admin_pw';
GRANT CREATE ON DATABASE appdb TO pgrotate_admin;
GRANT pg_signal_backend, pg_read_all_stats TO pgrotate_admin;
SQL
echo "a non-superuser admin: pgrotate_admin (CREATEROLE)"

cat > "$work/etc/pgrotate.conf" <<CONF
state_dir = "$work/state";
defaults = {
  min_overlap   = "5s";     # the apps' credential cache TTL is shorter
  drain_timeout = "2m";
  poll_interval = "500ms";
};
targets = {
  appdb = {
    admin = "host=$sock port=$port dbname=appdb user=pgrotate_admin";
    app   = "host=$sock port=$port dbname=appdb";
    group_role = "app";
    roles = [ "app_user_a", "app_user_b" ];
    sinks = ( { type = "file"; path = "$work/etc/db.env"; format = "env"; mode = "0600"; } );
  };
};
CONF
chmod 600 "$work/etc/pgrotate.conf"
export PGROTATE_CONFIG="$work/etc/pgrotate.conf"
echo "config: $PGROTATE_CONFIG"

say "pgrotate check appdb (before init)"
"$pgrotate" check appdb || true

say "pgrotate init appdb"
"$pgrotate" init appdb
echo "the application reads $work/etc/db.env:"
sed 's/^PGPASSWORD=.*/PGPASSWORD=<hidden>/' "$work/etc/db.env"

say "an application session logs in with that credential (it stays 8 s)"
# shellcheck disable=SC1091
( set -a; . "$work/etc/db.env"; set +a
  exec psql -X -q -d appdb -v ON_ERROR_STOP=1 \
	-c "SET application_name = 'demo-app'" -c "SELECT pg_sleep(8)" >/dev/null ) &
app_pid=$!
until psql -X -At -U postgres -d appdb -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_user_a'" | grep -qx 1; do
	kill -0 "$app_pid" 2>/dev/null || { echo "the app session failed"; exit 1; }
done
psql -X -U postgres -d appdb -c "SELECT pid, usename AS session_user, application_name, backend_start::time(0) FROM pg_stat_activity WHERE usename LIKE 'app_user_%'"

say "pgrotate cycle appdb: provision B, verify, publish, drain A, revoke A"
"$pgrotate" cycle appdb
wait "$app_pid" 2>/dev/null || true
app_pid=""

say "the roles now"
psql -X -U postgres -d appdb -c "SELECT rolname, rolcanlogin, rolpassword IS NOT NULL AS has_password FROM pg_authid WHERE rolname LIKE 'app%' ORDER BY 1"

say "pgrotate active appdb (what a deploy hook reads)"
"$pgrotate" active appdb
"$pgrotate" active appdb --format=json

say "pgrotate status appdb"
"$pgrotate" status appdb || true

say "pgrotate history appdb"
"$pgrotate" history appdb

say "no password in the server log (log_statement would show it):"
pw=$(sed -n 's/^PGPASSWORD=//p' "$work/etc/db.env")
if grep -qF "$pw" "$pg/server.log"; then echo "FOUND (bug)"; exit 1; else echo "none found"; fi

say "done; cleaning up"
