#!/bin/sh
# libpq applications and shell scripts following pgrotate's credential
# file (see README): read it each time a connection is opened, so there is
# no pool to retire and the next connection after a rotation uses the new
# role.
#
#   query-loop.sh env FILE      FILE is an "env" sink (PGUSER=, PGPASSWORD=)
#   query-loop.sh pgpass FILE   FILE is a "pgpass" sink: libpq reads the
#                               password itself; the user is its 4th field
#                               (both read from one open of the file, so a
#                               rotation cannot come between the two)
#
# Runs "SELECT session_user" until SIGTERM, then prints one line:
# queries=N failures=N users=role:N,...  PGHOST, PGPORT, PGDATABASE and
# PGAPPNAME say where; THINK_MS (5) is the pause between queries.
set -u
mode=$1 file=$2

# libpq reads the password of the user given from the pgpass file. The
# file is opened once, as fd 3, and the user and libpq both read that open
# file through /dev/fd/3: pgrotate replaces the file by a rename, so a
# rotation in between leaves this open file whole and consistent.
pgpass_psql()
{
	{
		PGPASSFILE=/dev/fd/3 PGUSER=$(cut -d: -f4 /dev/fd/3 | head -n 1) \
			psql -w -X -q -At -v ON_ERROR_STOP=1 -c "$1"
	} 3<"$file"
}

# One query on a new connection, with the credential of the file as it is now.
db_query()
{
	case $mode in
	env)
		# a subshell: the variables reach psql, not the rest of the script
		# shellcheck source=/dev/null
		(set -a && . "$file" && exec psql -w -X -q -At -v ON_ERROR_STOP=1 -c "$1")
		;;
	pgpass)
		pgpass_psql "$1"
		;;
	esac
}

seen=$(mktemp) || exit 1
trap 'rm -f "$seen"' EXIT
stop=
trap 'stop=1' TERM INT
queries=0 failures=0
think=$(awk "BEGIN { print ${THINK_MS:-5} / 1000 }")
while [ -z "$stop" ]; do
	queries=$((queries + 1))
	if u=$(db_query 'SELECT session_user'); then
		echo "$u" >>"$seen"
	else
		failures=$((failures + 1))
		echo "query failed" >&2
	fi
	sleep "$think"
done
users=$(sort "$seen" | uniq -c | awk '{ printf "%s%s:%s", n++ ? "," : "", $2, $1 }')
echo "queries=$queries failures=$failures users=$users"
