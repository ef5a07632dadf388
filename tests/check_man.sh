#!/bin/sh
# check_man.sh: the manual pages are clean and complete.
#
#  1. `mandoc -Tlint -W warning` has nothing to say about man/chatd.8,
#     man/chatd.conf.5 and man/chatctl.8.
#  2. Every key of the config parser's table (the K("section", "key", ...)
#     lines of src/config.c) is documented in chatd.conf(5) under its
#     section and appears, set or commented out, in the shipped
#     conf/chatd.conf, also under its section; and neither names a key the
#     parser does not know.
#  3. The shipped conf/chatd.conf passes `chatd -t`.
#  4. chatd(8) documents every long option of src/main.c, and chatctl(8)
#     every long option of src/chatctl.c.
#  5. chatctl(8) documents, under COMMANDS, every command of the control
#     grammar (the names table of src/ctlreq.c).
#
# Exit status: 0 pass, 1 fail, 77 skip (no mandoc, or no CHATD_BIN, and
# nothing else failed).  Under CI=true a skip is a failure: exit 1.

set -u

top_srcdir=${CHATD_SRCDIR:-${srcdir:-.}}
man8=$top_srcdir/man/chatd.8
man5=$top_srcdir/man/chatd.conf.5
man8ctl=$top_srcdir/man/chatctl.8
conf=$top_srcdir/conf/chatd.conf
configc=$top_srcdir/src/config.c
mainc=$top_srcdir/src/main.c
chatctlc=$top_srcdir/src/chatctl.c
ctlreqc=$top_srcdir/src/ctlreq.c
failed=0
skipped=0

fail() {
	echo "FAIL: $*"
	failed=1
}

# A part that cannot run here: SKIP, or under CI=true a failure.
skip() {
	if test "${CI:-}" = true; then
		fail "skipped under CI=true: $*"
	else
		echo "SKIP: $*"
		skipped=1
	fi
}

for f in "$man8" "$man5" "$man8ctl" "$conf" "$configc" "$mainc" \
    "$chatctlc" "$ctlreqc"; do
	if ! test -f "$f"; then
		echo "FAIL: $f does not exist (set CHATD_SRCDIR)"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatd-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# 1. mandoc lint ------------------------------------------------------------

if command -v mandoc >/dev/null 2>&1; then
	mandoc -Tlint -W warning "$man8" "$man5" "$man8ctl" > "$tmp/lint" 2>&1
	rc=$?
	if test -s "$tmp/lint" || test $rc -ne 0; then
		cat "$tmp/lint"
		fail "mandoc -Tlint -W warning: status $rc, messages above"
	else
		echo "mandoc -Tlint -W warning: clean"
	fi
else
	skip "mandoc not found; pages not linted"
fi

# 2. keys ----------------------------------------------------------------------

# section.key for each entry of the parser's table.
sed -n 's/^[[:space:]]*K("\([a-z_]*\)",[[:space:]]*"\([a-z_]*\)".*/\1.\2/p' \
    "$configc" | sort -u > "$tmp/parser"
# section.key for each ".It Cm key Ns = ..." item (the form every key is
# described with; a nested list of values is not taken for keys) under
# ".Ss The [section] section".
awk '
	/^\.S[hs]/ { sec = "" }
	/^\.Ss The \[[a-z_]+\] section/ {
		sec = $3; gsub(/[][]/, "", sec)
	}
	sec != "" && /^\.It Cm [a-z_]+ Ns =/ { print sec "." $3 }
' "$man5" | sort -u > "$tmp/man"
# section.key for each "key =" or ";key =" line of the example.
awk '
	/^\[[a-z_]+\]/ { sec = $1; gsub(/[][]/, "", sec); next }
	/^[;#]?[a-z_]+[ \t]*=/ {
		key = $0; sub(/^[;#]/, "", key); sub(/[ \t]*=.*/, "", key)
		print sec "." key
	}
' "$conf" | sort -u > "$tmp/conf"

n=$(wc -l < "$tmp/parser")
if test "$n" -lt 10; then
	fail "found only $n keys in $configc: has the K(...) table changed?"
fi
echo "config keys: $n in the parser, $(wc -l < "$tmp/man") in chatd.conf.5," \
    "$(wc -l < "$tmp/conf") in conf/chatd.conf"

# Lists of section.key, one a line, joined with blanks for the messages.
missing=$(comm -23 "$tmp/parser" "$tmp/man" | tr '\n' ' ')
test -z "$missing" || fail "keys not documented in man/chatd.conf.5: $missing"
missing=$(comm -23 "$tmp/parser" "$tmp/conf" | tr '\n' ' ')
test -z "$missing" || fail "keys missing from conf/chatd.conf: $missing"
unknown=$(comm -13 "$tmp/parser" "$tmp/man" | tr '\n' ' ')
test -z "$unknown" || fail "man/chatd.conf.5 documents unknown keys: $unknown"
unknown=$(comm -13 "$tmp/parser" "$tmp/conf" | tr '\n' ' ')
test -z "$unknown" || fail "conf/chatd.conf has unknown keys: $unknown"

# 3. the example is valid ----------------------------------------------------

if test -n "${CHATD_BIN:-}" && test -x "$CHATD_BIN"; then
	if out=$("$CHATD_BIN" -t -c "$conf" 2>&1); then
		echo "$out"
	else
		echo "$out"
		fail "chatd -t -c conf/chatd.conf fails"
	fi
else
	skip "CHATD_BIN not set; conf/chatd.conf not checked with chatd -t"
fi

# 4. long options --------------------------------------------------------------

# Each long option of the program in $1 is an ".It ... Fl -option" of the
# page in $2.
check_options() {
	opts=$(sed -n \
	    's/^[[:space:]]*{ "\([a-z-]*\)",[[:space:]]*[a-z_]*argument.*/\1/p' \
	    "$1")
	test -n "$opts" || fail "no long options found in $1"
	for o in $opts; do
		grep -Eq "^\.It .*Fl -$o( |$)" "$2" ||
			fail "$(basename "$2"): --$o is not documented under" \
			    "OPTIONS"
	done
}
check_options "$mainc" "$man8"
check_options "$chatctlc" "$man8ctl"

# 5. chatctl's commands ---------------------------------------------------------

# Each name of ctlreq.c's table ([CTL_X] = "name",) is an ".It Cm name"
# under ".Sh COMMANDS".
cmds=$(sed -n 's/^[[:space:]]*\[CTL_[A-Z]*\] = "\([a-z]*\)",.*/\1/p' \
    "$ctlreqc")
n=$(echo $cmds | wc -w)
test "$n" -ge 10 || fail "found only $n commands in $ctlreqc"
awk '/^\.Sh/ { on = ($2 == "COMMANDS") } on && /^\.It Cm / { print $3 }' \
    "$man8ctl" > "$tmp/commands"
missing=
for c in $cmds; do
	grep -qx "$c" "$tmp/commands" || missing="$missing $c"
done
if test -n "$missing"; then
	fail "man/chatctl.8: commands not documented under COMMANDS:$missing"
else
	echo "chatctl commands: $n in src/ctlreq.c, all in chatctl.8"
fi

if test $failed -ne 0; then
	exit 1
fi
if test $skipped -ne 0; then
	exit 77
fi
exit 0
