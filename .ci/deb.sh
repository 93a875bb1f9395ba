#!/usr/bin/env bash
# .ci/deb.sh: the Debian package, end to end, on this machine (as root on
# Debian 12; .ci/run calls it). From the release tarball ("make dist" of
# the checkout) it builds the package with "dpkg-buildpackage -us -uc -b",
# runs lintian, installs the .deb with apt-get, checks the installed files,
# the user, the units, runs the installed pgrotate ("check", "init" and a
# cycle against a throwaway cluster, as the user pgrotate with the unit's
# CAP_CHOWN; then the demo), removes and purges the package and checks
# what is left.
#
# Every check is a TAP line on stdout and a ":test-result:" line in
# $DEB_OUT/deb.trs, which .ci/run counts. Exit status 0 only if all passed.
# Everything happens under $DEB_OUT (default .ci/out/deb); the checkout is
# written to only to make ./configure (autogen.sh) when it has none. The package pgrotate must not be installed on
# this machine by anything else: the script purges it at the start and end.
set -u
set -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${DEB_OUT:-$ROOT/.ci/out/deb}
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TRS="$OUT/deb.trs"
: >"$TRS"
exec > >(tee "$OUT/deb.log") 2>&1

n=0
nfail=0
nskip=0
pgbin=/usr/lib/postgresql/15/bin
pgdata="$OUT/pg/data"
UNITS=/lib/systemd/system

# t DESCRIPTION COMMAND...: one test; the command's output goes to the log.
t()
{
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
		echo ":test-result: PASS $desc" >>"$TRS"
	else
		echo "not ok $n - $desc"
		echo ":test-result: FAIL $desc" >>"$TRS"
		nfail=$((nfail + 1))
	fi
}

# skip DESCRIPTION REASON: a test that cannot run here.
skip()
{
	n=$((n + 1))
	nskip=$((nskip + 1))
	echo "ok $n - $1 # SKIP $2"
	echo ":test-result: SKIP $1" >>"$TRS"
}

# Helpers for t: each returns non-zero with a message on a mismatch.
expect_eq()
{
	[ "$1" = "$2" ] && return 0
	echo "# expected \"$2\", got \"$1\""
	return 1
}
stat_is()
{
	expect_eq "$(stat -c '%a %U %G' "$1" 2>&1)" "$2"
}
absent()
{
	local p
	for p in "$@"; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			echo "# still there: $p"
			return 1
		fi
	done
}
pkg_status()
{
	dpkg-query -W -f='${db:Status-Abbrev}' pgrotate 2>/dev/null | tr -d ' '
}

purge_quietly()
{
	if dpkg-query -W pgrotate >/dev/null 2>&1; then
		dpkg --purge pgrotate >/dev/null 2>&1
	fi
}

stop_cluster()
{
	if [ -f "$pgdata/postmaster.pid" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1
	fi
}
trap 'stop_cluster; purge_quietly' EXIT

finish()
{
	echo "1..$n"
	echo "# deb: $((n - nfail - nskip)) passed, $nfail failed, $nskip skipped"
	[ "$nfail" = 0 ]
	exit $?
}

# ---- build: the tarball, then the package from it -------------------------
if [ "$(id -u)" != 0 ]; then
	t "running as root (apt-get install, users, setpriv)" false
	finish
fi
purge_quietly
t0=$(date +%s)
build_tarball()
{
	[ -x "$ROOT/configure" ] || (cd "$ROOT" && ./autogen.sh) || return 1
	mkdir -p "$OUT/dist" && cd "$OUT/dist" &&
		"$ROOT/configure" -q >configure.log 2>&1 &&
		make -s dist >dist.log 2>&1 || { tail -20 configure.log dist.log; return 1; }
	tarball=$(ls "$OUT"/dist/pgrotate-*.tar.gz) && [ -f "$tarball" ]
}
t "make dist makes the tarball the package builds from" build_tarball
tarball=${tarball:-}
[ -f "$tarball" ] || finish

version=$(basename "$tarball" .tar.gz)
version=${version#pgrotate-}
mkdir -p "$OUT/src"
tar -C "$OUT/src" -xzf "$tarball" || finish
srcdir="$OUT/src/pgrotate-$version"
t "debian/changelog's version is the tarball's ($version)" \
	expect_eq "$(cd "$srcdir" && dpkg-parsechangelog -S Version)" "$version"

build_deb()
{
	(cd "$srcdir" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 ||
		{ tail -40 "$OUT/build.log"; return 1; }
	deb=$(ls "$OUT"/src/pgrotate_"$version"_*.deb) && [ -f "$deb" ]
}
t "dpkg-buildpackage -us -uc -b builds the package" build_deb
deb=${deb:-}
echo "# package build: $(($(date +%s) - t0))s (tarball and dpkg-buildpackage)"
[ -f "$deb" ] || finish

# The same from a clean clone of the checkout's HEAD (no configure: dh's
# autoreconf makes it), as a packager working from git would.
build_from_clone()
{
	git clone -q "$ROOT" "$OUT/clone/pgrotate" &&
		(cd "$OUT/clone/pgrotate" && dpkg-buildpackage -us -uc -b) >"$OUT/clone-build.log" 2>&1 ||
		{ tail -40 "$OUT/clone-build.log"; return 1; }
	ls "$OUT"/clone/pgrotate_"$version"_*.deb
}
if [ -d "$ROOT/.git" ] || [ -f "$ROOT/.git" ]; then
	t "dpkg-buildpackage -us -uc -b builds the package from a clean git clone" build_from_clone
else
	skip "dpkg-buildpackage from a clean git clone" "the checkout is not a git repository"
fi

# make distcheck: the tarball configures, builds, passes the unit tests
# and installs/uninstalls cleanly in a fresh tree (the integration suite
# runs in the build step).
distcheck()
{
	(cd "$OUT/dist" && make -s distcheck TESTS='$(UNIT_TESTS)') >"$OUT/distcheck.log" 2>&1 ||
		{ tail -40 "$OUT/distcheck.log"; return 1; }
}
t "make distcheck (unit tests) passes" distcheck

dpkg-deb -c "$deb" >"$OUT/dpkg-c.txt"
echo "# dpkg -c $(basename "$deb") (also in $OUT/dpkg-c.txt):"
sed 's/^/#   /' "$OUT/dpkg-c.txt"

run_lintian()
{
	lintian --fail-on error,warning --display-info "$deb" >"$OUT/lintian.txt" 2>&1
	local rc=$?
	sed 's/^/#   lintian: /' "$OUT/lintian.txt"
	return "$rc"
}
t "lintian: no error, no warning that debian/*lintian-overrides does not list" run_lintian
overrides_commented()
{
	# Each override follows a comment that says why.
	awk 'FNR == 1 { prev = "" }
		/^[^#[:space:]]/ && prev !~ /^#/ { print FILENAME ": no comment before: " $0; bad = 1 }
		{ prev = $0 }
		END { exit bad }' "$srcdir"/debian/*lintian-overrides
}
t "every lintian override has a comment with its reason" overrides_commented

depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
has_deps()
{
	local d
	for d in libpq5 libconfig9 libssl3 adduser; do
		echo "$depends" | grep -qE "(^|, )$d( |,|$)" || { echo "# no $d"; return 1; }
	done
}
t "Depends (\${shlibs:Depends}) names libpq5, libconfig9, libssl3 and adduser" has_deps

# ---- install ---------------------------------------------------------------
install_deb()
{
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" \
		>"$OUT/install.log" 2>&1 || { tail -30 "$OUT/install.log"; return 1; }
	expect_eq "$(pkg_status)" ii
}
t "apt-get install ./$(basename "$deb") (the dependencies resolve)" install_deb
[ "$(pkg_status)" = ii ] || finish

t "pgrotate --version is $version" \
	expect_eq "$(/usr/bin/pgrotate --version 2>&1 | grep -o '[0-9][0-9.]*' | head -1)" "$version"
t "man -w pgrotate finds the installed page" \
	expect_eq "$(man -w pgrotate 2>&1)" /usr/share/man/man1/pgrotate.1.gz
t "man -w 5 pgrotate.conf finds the installed page" \
	expect_eq "$(man -w 5 pgrotate.conf 2>&1)" /usr/share/man/man5/pgrotate.conf.5.gz
renders()
{
	MANWIDTH=80 MANPAGER=cat man pgrotate 2>"$OUT/man.err" | grep -q 'DEBIAN PACKAGE' &&
		! grep -v '^$' "$OUT/man.err"
}
t "man pgrotate renders without warnings and has the DEBIAN PACKAGE section" renders
completes()
{
	bash -c '. /usr/share/bash-completion/completions/pgrotate && complete -p pgrotate' |
		grep -q 'pgrotate$'
}
t "the bash completion is installed and registers pgrotate" completes

t "the conffile is 0640 root:pgrotate" stat_is /etc/pgrotate/pgrotate.conf "640 root pgrotate"
t "dpkg lists /etc/pgrotate/pgrotate.conf as a conffile" \
	bash -c "dpkg-query -W -f='\${Conffiles}' pgrotate | grep -q '^ /etc/pgrotate/pgrotate.conf '"
t "the conffile's header asks to fill it in" grep -q '^# FILL THIS IN' /etc/pgrotate/pgrotate.conf
t "the conffile as shipped is a valid configuration (check appdb: config valid)" \
	bash -c "timeout 60 /usr/bin/pgrotate -c /etc/pgrotate/pgrotate.conf check appdb 2>&1 |
		tee '$OUT/check-sample.log' | grep -q '^  ok    config valid'"
t "/var/lib/pgrotate is 0700 pgrotate:pgrotate" stat_is /var/lib/pgrotate "700 pgrotate pgrotate"
sysuser()
{
	local ent uid
	ent=$(getent passwd pgrotate) || { echo "# no user pgrotate"; return 1; }
	uid=$(echo "$ent" | cut -d: -f3)
	[ "$uid" -lt 1000 ] || { echo "# not a system uid: $ent"; return 1; }
	expect_eq "$(echo "$ent" | cut -d: -f6-7)" "/var/lib/pgrotate:/usr/sbin/nologin" &&
		expect_eq "$(id -gn pgrotate)" pgrotate
}
t "the system user pgrotate exists (home /var/lib/pgrotate, nologin, group pgrotate)" sysuser
t "the SQL is in /usr/share/pgrotate" test -s /usr/share/pgrotate/pgrotate--1.sql
hooks_ok()
{
	local h
	for h in vault-kv kubernetes-secret docker-swarm-secret systemctl-reload; do
		[ -x "/usr/share/pgrotate/hooks/$h" ] || { echo "# no hook $h"; return 1; }
	done
}
t "the four hooks are executable in /usr/share/pgrotate/hooks" hooks_ok
t "the Kubernetes manifests are among the examples" \
	test -f /usr/share/doc/pgrotate/examples/kubernetes/cronjob.yaml
t "the service and the timer are installed" \
	test -f "$UNITS/pgrotate-due.service" -a -f "$UNITS/pgrotate-due.timer"
not_enabled()
{
	absent /etc/systemd/system/timers.target.wants/pgrotate-due.timer \
		/etc/systemd/system/multi-user.target.wants/pgrotate-due.service || return 1
	if ! command -v systemctl >/dev/null 2>&1; then
		echo "# (no systemctl: checked the .wants links only)"
		return 0
	fi
	expect_eq "$(systemctl is-enabled pgrotate-due.timer 2>&1)" disabled &&
		expect_eq "$(systemctl is-enabled pgrotate-due.service 2>&1)" static
}
t "neither unit is enabled (is-enabled: timer disabled, service static)" not_enabled
if [ -d /run/systemd/system ]; then
	t "neither unit is started" bash -c "! systemctl is-active -q pgrotate-due.timer &&
		! systemctl is-active -q pgrotate-due.service"
else
	skip "neither unit is started" "no systemd runs here as PID 1"
fi
t "the service runs /usr/bin/pgrotate cycle --all --due as pgrotate with CAP_CHOWN only" \
	bash -c "grep -qx 'ExecStart=/usr/bin/pgrotate cycle --all --due' $UNITS/pgrotate-due.service &&
		grep -qx 'User=pgrotate' $UNITS/pgrotate-due.service &&
		grep -qx 'CapabilityBoundingSet=CAP_CHOWN' $UNITS/pgrotate-due.service &&
		grep -qx 'AmbientCapabilities=CAP_CHOWN' $UNITS/pgrotate-due.service"
verify_units()
{
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify \
		"$UNITS/pgrotate-due.service" "$UNITS/pgrotate-due.timer" >"$OUT/verify.log" 2>&1
	local rc=$?
	sed 's/^/#   /' "$OUT/verify.log"
	[ "$rc" = 0 ] && ! grep -q pgrotate-due "$OUT/verify.log"
}
if command -v systemd-analyze >/dev/null 2>&1; then
	t "systemd-analyze verify accepts the installed units" verify_units
else
	skip "systemd-analyze verify accepts the installed units" "systemd is not installed"
fi

# ---- the installed binary against a throwaway cluster ----------------------
# As the user pgrotate, with the installed configuration path and state
# folder, and with the credentials the service gets (setpriv: uid and gid
# pgrotate, CAP_CHOWN inheritable, ambient and bounding, nothing else).
start_cluster()
{
	local pw
	mkdir -p "$OUT/pg/sock" && chown -R postgres "$OUT/pg" || return 1
	port=$((20000 + RANDOM % 20000))
	admin_pw=$(head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9)
	runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -U postgres -A trust >"$OUT/pg/initdb.log" 2>&1 &&
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$OUT/pg/server.log" -w -o \
			"-c listen_addresses='' -c unix_socket_directories='$OUT/pg/sock' -c port=$port" start \
			>/dev/null || return 1
	# trust for postgres only; the admin logs in with its password.
	printf 'local all postgres trust\nlocal all all scram-sha-256\n' >"$pgdata/pg_hba.conf"
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" reload >/dev/null || return 1
	pw="$(printf '%s' "$admin_pw")"
	runuser -u postgres -- psql -X -q -h "$OUT/pg/sock" -p "$port" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -v pw="$pw" <<'SQL'
CREATE DATABASE appdb;
SET log_statement = 'none';
CREATE ROLE pgrotate_admin LOGIN CREATEROLE PASSWORD :'pw';
GRANT CREATE ON DATABASE appdb TO pgrotate_admin;
GRANT pg_signal_backend, pg_read_all_stats TO pgrotate_admin;
SQL
}
configure_installed()
{
	local sock="$OUT/pg/sock"
	mkdir -p "$OUT/sink" && chown pgrotate:pgrotate "$OUT/sink" && chmod 0755 "$OUT/sink" || return 1
	# The conffile keeps its mode and owner: rewrite it in place.
	cat >/etc/pgrotate/pgrotate.conf <<CONF || return 1
state_dir = "/var/lib/pgrotate";
defaults = { min_overlap = "1s"; drain_timeout = "1m"; poll_interval = "200ms"; };
targets = {
  appdb = {
    admin = "host=$sock port=$port dbname=appdb user=pgrotate_admin";
    app   = "host=$sock port=$port dbname=appdb";
    group_role = "app";
    roles = [ "app_user_a", "app_user_b" ];
    sinks = ( { type = "file"; path = "$OUT/sink/db.env"; format = "env";
                mode = "0640"; owner = "nobody"; group = "nogroup"; } );
  };
};
CONF
	printf '%s:%s:*:pgrotate_admin:%s\n' "$sock" "$port" "$admin_pw" >/var/lib/pgrotate/.pgpass &&
		chown pgrotate:pgrotate /var/lib/pgrotate/.pgpass && chmod 0600 /var/lib/pgrotate/.pgpass
}
# as_service COMMAND...: the installed pgrotate as pgrotate-due.service runs it.
as_service()
{
	setpriv --reuid=pgrotate --regid=pgrotate --init-groups \
		--inh-caps=-all,+chown --ambient-caps=-all,+chown --bounding-set=-all,+chown \
		env -i PATH=/usr/bin:/bin PGROTATE_CONFIG=/etc/pgrotate/pgrotate.conf \
		PGPASSFILE=/var/lib/pgrotate/.pgpass /usr/bin/pgrotate "$@"
}
run_logged()
{
	local name=$1
	shift
	"$@" >"$OUT/$name.log" 2>&1
	local rc=$?
	sed 's/^/#   /' "$OUT/$name.log"
	return "$rc"
}
port=""
admin_pw=""
if t "a throwaway PostgreSQL 15 cluster starts" start_cluster; then
	t "the installed config and .pgpass are written for it" configure_installed
	t "pgrotate check appdb (before init) names what init will create" \
		bash -c "! runuser -u pgrotate -- /usr/bin/pgrotate check appdb >'$OUT/check0.log' 2>&1 &&
			grep -q app_user_a '$OUT/check0.log'"
	t "pgrotate init appdb as the service runs it" run_logged init as_service init appdb
	t "pgrotate check appdb passes as the service runs it (CAP_CHOWN counts)" \
		run_logged check as_service check appdb
	t "pgrotate check appdb as plain pgrotate (no capability) fails on the sink's owner only" \
		bash -c "! runuser -u pgrotate -- /usr/bin/pgrotate check appdb >'$OUT/check-nocap.log' 2>&1 &&
			grep -q '^appdb: .*, 1 failed' '$OUT/check-nocap.log' &&
			grep -q 'FAIL  file sink .*owner \"nobody\": only root or CAP_CHOWN' '$OUT/check-nocap.log'"
	t "pgrotate cycle --all --due: nothing due yet, exit 0" run_logged due as_service cycle --all --due
	t "pgrotate cycle appdb as the service runs it (CAP_CHOWN for the sink's owner)" \
		run_logged cycle as_service cycle appdb
	t "the sink file is 0640 nobody:nogroup and holds the new role" \
		bash -c "[ \"\$(stat -c '%a %U %G' '$OUT/sink/db.env')\" = '640 nobody nogroup' ] &&
			grep -qx 'PGUSER=app_user_b' '$OUT/sink/db.env'"
	no_cap_fails()
	{
		! setpriv --reuid=pgrotate --regid=pgrotate --init-groups --inh-caps=-all \
			--bounding-set=-all env -i PATH=/usr/bin:/bin PGPASSFILE=/var/lib/pgrotate/.pgpass \
			/usr/bin/pgrotate cycle appdb >"$OUT/nocap.log" 2>&1 &&
			grep -q 'cannot give sink file .* owner "nobody"' "$OUT/nocap.log"
	}
	t "without CAP_CHOWN a cycle fails at the sink and says why (the capability is needed)" no_cap_fails
	t "after remove, the pending file of that failed publish will be kept (it exists now)" \
		bash -c "ls /var/lib/pgrotate | grep -q . && find /var/lib/pgrotate -type f ! -name .pgpass | grep -q ."
	stop_cluster
fi

t "the demo runs against the installed binary (PGROTATE_BIN=/usr/bin/pgrotate)" \
	run_logged demo env PGROTATE_BIN=/usr/bin/pgrotate bash "$ROOT/contrib/demo/demo.sh"

# ---- remove, then purge ----------------------------------------------------
t "apt-get remove pgrotate" \
	bash -c "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q pgrotate >'$OUT/remove.log' 2>&1"
t "after remove: the package is in state rc" expect_eq "$(pkg_status)" rc
t "after remove: the binary, the units, the hooks are gone" \
	absent /usr/bin/pgrotate "$UNITS/pgrotate-due.service" "$UNITS/pgrotate-due.timer" /usr/share/pgrotate
t "after remove: the state (with the pending files and .pgpass) stays" \
	bash -c "test -f /var/lib/pgrotate/.pgpass &&
		find /var/lib/pgrotate -type f ! -name .pgpass | grep -q ."
t "after remove: the user, the group and the conffile stay" \
	bash -c "getent passwd pgrotate >/dev/null && getent group pgrotate >/dev/null &&
		test -f /etc/pgrotate/pgrotate.conf"
t "dpkg --purge pgrotate" bash -c "dpkg --purge pgrotate >'$OUT/purge.log' 2>&1"
t "after purge: dpkg knows no pgrotate" bash -c "! dpkg-query -W pgrotate >/dev/null 2>&1"
t "after purge: /var/lib/pgrotate and /etc/pgrotate are gone" absent /var/lib/pgrotate /etc/pgrotate
t "after purge: the user and the group are gone" \
	bash -c "! getent passwd pgrotate && ! getent group pgrotate"
left_over()
{
	local f
	# (/usr/local is not the package's: a "make install" may live there)
	f=$(find /usr /etc /var/lib /lib -path /usr/local -prune -o -name '*pgrotate*' -print \
		2>/dev/null | grep -v '^/var/lib/dpkg/' || true)
	[ -z "$f" ] && return 0
	echo "# left over:"
	echo "$f" | sed 's/^/#   /'
	return 1
}
t "after purge: no file named *pgrotate* under /usr (not /usr/local), /etc, /lib, /var/lib" left_over

finish
