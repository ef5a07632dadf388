#!/bin/sh
# check_units.sh: the systemd units pass `systemd-analyze verify`, and
# chatd.service's exposure score from `systemd-analyze security` is at most
# MAX_EXPOSURE.
#
# Run by make check from the top build directory: the built unit is
# ./systemd/chatd.service (made from chatd.service.in), the socket units are
# $CHATD_SRCDIR/systemd/chatd.socket and chatd-tls.socket.  The service names
# the installed binary, which need not exist yet, so verify runs on a copy in
# a temporary directory whose ExecStart names $CHATD_BIN instead; nothing
# else changes.
#
# Exit status: 0 pass, 1 fail, 77 skip (no systemd-analyze, or one without
# security --offline, and nothing failed).  Under CI=true a skip is a
# failure: exit 1.

set -u

# The score at the start of the control issue: new directories and
# features must not raise it.
MAX_EXPOSURE=1.2

top_builddir=${builddir:-.}
top_srcdir=${CHATD_SRCDIR:-${srcdir:-.}}
service=$top_builddir/systemd/chatd.service
socket=$top_srcdir/systemd/chatd.socket
tls_socket=$top_srcdir/systemd/chatd-tls.socket
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

# The exit status: failures first, then skips.
finish() {
	if test $failed -ne 0; then
		exit 1
	fi
	if test $skipped -ne 0; then
		exit 77
	fi
	exit 0
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip "systemd-analyze not found"
	finish
fi
systemd-analyze --version | head -n 1

for f in "$service" "$socket" "$tls_socket"; do
	if ! test -f "$f"; then
		echo "FAIL: $f does not exist (run make first)"
		exit 1
	fi
done
bin=${CHATD_BIN:-$top_builddir/src/chatd}
case $bin in
/*) ;;
*) bin=$(pwd)/$bin ;;
esac
if ! test -x "$bin"; then
	echo "FAIL: $bin is not an executable (set CHATD_BIN)"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatd-units.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The built unit has every @var@ substituted.
if grep -n '@[A-Za-z_]*@' "$service"; then
	fail "$service: unsubstituted @variables@ (above)"
fi

# ExecStart is "<sbindir>/chatd -c <sysconfdir>/chatd/chatd.conf".
exec_start=$(sed -n 's/^ExecStart=//p' "$service")
case $exec_start in
/*/chatd\ -c\ /*/chatd/chatd.conf) ;;
*) fail "ExecStart=$exec_start: not" \
    "'<sbindir>/chatd -c <sysconfdir>/chatd/chatd.conf'" ;;
esac

# chatd tells the TLS socket by its name, and it feeds chatd.service.
grep -qx 'FileDescriptorName=tls' "$tls_socket" ||
	fail "chatd-tls.socket: FileDescriptorName= is not tls"
grep -qx 'Service=chatd.service' "$tls_socket" ||
	fail "chatd-tls.socket: Service= is not chatd.service"

# The daemon speaks sd_notify and reloads on SIGHUP.
grep -qx 'Type=notify' "$service" || fail "chatd.service: Type= is not notify"
grep -q '^ExecReload=.*kill -HUP [$]MAINPID' "$service" ||
	fail "chatd.service: ExecReload= does not send SIGHUP to \$MAINPID"

# A restart hands over through the fd store (handover.c): SIGUSR2, a store
# as large as FDSTORE= says, and exit status 75 counted as success and
# restarted after.
grep -qx 'RestartKillSignal=SIGUSR2' "$service" ||
	fail "chatd.service: RestartKillSignal= is not SIGUSR2"
store=$(sed -n 's/^FileDescriptorStoreMax=//p' "$service")
told=$(sed -n 's/^Environment=FDSTORE=//p' "$service")
if test -z "$store" || test "$store" != "$told"; then
	fail "chatd.service: FileDescriptorStoreMax=$store and" \
	    "Environment=FDSTORE=$told differ"
elif test "$store" -lt 10003; then
	fail "chatd.service: FileDescriptorStoreMax=$store cannot hold" \
	    "max_clients (10000), a listener and the state"
fi
grep -qx 'SuccessExitStatus=75' "$service" ||
	fail "chatd.service: SuccessExitStatus= is not 75"
grep -qx 'RestartForceExitStatus=75' "$service" ||
	fail "chatd.service: RestartForceExitStatus= is not 75"

sed "s|^ExecStart=[^ ]*|ExecStart=$bin|" "$service" > "$tmp/chatd.service"
cp "$socket" "$tmp/chatd.socket"
cp "$tls_socket" "$tmp/chatd-tls.socket"

# verify reports most mistakes (unknown keys, bad values) as warnings with
# exit status 0: any message about our units is a failure.
echo "systemd-analyze verify --man=no chatd.service chatd.socket" \
    "chatd-tls.socket"
(cd "$tmp" && systemd-analyze verify --man=no "$tmp/chatd.service" \
    "$tmp/chatd.socket" "$tmp/chatd-tls.socket") > "$tmp/verify.out" 2>&1
rc=$?
cat "$tmp/verify.out"
if test $rc -ne 0; then
	fail "systemd-analyze verify exited with status $rc"
fi
if grep -q 'chatd' "$tmp/verify.out"; then
	fail "systemd-analyze verify has complaints about the units (above)"
fi

if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
	echo "systemd-analyze security --offline=true chatd.service"
	(cd "$tmp" && systemd-analyze security --offline=true \
	    "$tmp/chatd.service") > "$tmp/security.out" 2>&1
	rc=$?
	level=$(sed -n 's/.*Overall exposure level for chatd\.service: //p' \
	    "$tmp/security.out" | sed -n 's/^\([0-9][0-9]*\.[0-9]*\).*/\1/p')
	if test -z "$level"; then
		cat "$tmp/security.out"
		fail "systemd-analyze security (status $rc):" \
		    "no overall exposure level"
	elif awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l > m) }'
	then
		grep -v '^✓' "$tmp/security.out"
		fail "chatd.service exposure $level is above $MAX_EXPOSURE" \
		    "(findings above)"
	else
		echo "chatd.service exposure level: $level (at most $MAX_EXPOSURE)"
	fi
else
	skip "this systemd-analyze has no security --offline;" \
	    "exposure not checked"
fi

finish
