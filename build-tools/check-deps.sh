#!/bin/sh
# Fail on a two-way dependency between the modules of src/ (a TAP test of
# "make check").
#
#   build-tools/check-deps.sh [SRCDIR]
#
# A module is a .c and its .h: src/drain.c and src/drain.h are "drain".
# Every cycle*.c and cycle*.h (cycle_steps.h...) is the one module
# "cycle"; each cmd_*.c is its own module. A depends on B when one of A's
# files #includes B's header ("x.h" found in src/; system headers and
# generated files do not count). A and B depending on each other is a
# circle: the layering (commands on top, db.c alone speaking libpq,
# secret and util at the bottom) has one direction, and a circle means a
# declaration lives in the wrong module. Each pair found is printed with
# the includes that make it.
set -eu

srcdir=${1:-$(dirname "$0")/../src}

# Known two-way dependencies, accepted until they are taken apart: one
# "a b" pair a line (in alphabetical order), each with a comment saying
# why it is not simple. Empty: there is none.
allowed='
'

if ! ls "$srcdir"/*.c >/dev/null 2>&1; then
	echo "Bail out! no src/*.c under $srcdir"
	exit 1
fi
cd "$srcdir"
awk -v headers="$(echo *.h)" -v allowed="$allowed" '
function module(f)
{
	sub(/^\.\//, "", f)
	sub(/\.[ch]$/, "", f)
	return f ~ /^cycle/ ? "cycle" : f
}
BEGIN {
	nh = split(headers, h, " ")
	for (i = 1; i <= nh; i++)
		is_header[h[i]] = 1
	na = split(allowed, a, "\n")
	for (i = 1; i <= na; i++)
	{
		sub(/[ \t]*#.*/, "", a[i])
		if (split(a[i], pair, " ") == 2)
			allow[pair[1] " " pair[2]] = 1
	}
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
	inc = $0
	sub(/^[^"]*"/, "", inc)
	sub(/".*/, "", inc)
	if (!(inc in is_header))
		next
	file = FILENAME
	sub(/^\.\//, "", file)
	from = module(file)
	to = module(inc)
	if (from == to)
		next
	edge = from " " to
	if (edge in why)
		why[edge] = why[edge] ", " file " includes " inc
	else
		why[edge] = file " includes " inc
}
END {
	bad = 0
	for (edge in why)
	{
		split(edge, m, " ")
		back = m[2] " " m[1]
		if (m[1] > m[2] || !(back in why))
			continue
		line = m[1] " <-> " m[2] ": " why[edge] "; " why[back]
		if (edge in allow)
		{
			print "# allowed: " line
			used[edge] = 1
		}
		else
		{
			print "# two-way dependency " line
			bad++
		}
	}
	for (edge in allow)
		if (!(edge in used))
			print "# the allowed pair \"" edge "\" is no longer two-way: take it off the list"
	print "1..1"
	if (bad == 0)
		printf "ok 1 - no two-way dependency between the modules of src/ (%d files)\n", ARGC - 1
	else
		printf "not ok 1 - %d two-way dependenc%s between the modules of src/\n", bad,
			bad == 1 ? "y" : "ies"
	exit bad > 0
}
' ./*.c ./*.h
