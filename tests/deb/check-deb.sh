#!/usr/bin/env bash
# check-deb.sh: build the Debian package and check it the way an
# administrator will use it, on this machine.  Run as root on Debian 12
# with the build dependencies, debhelper and lintian installed; .ci/run
# runs it.  It installs, upgrades and purges the package chatd here, so it
# refuses to start when chatd is installed already.
#
#  1. dpkg-buildpackage -us -uc -b on a clean copy of the tree (the test
#     suite runs in it), and lintian on the result and on the source
#     package: no errors, no warnings.
#  2. apt-get install ./chatd_*.deb; dpkg -L chatd is the list below; the
#     config is a conffile; chatd.service is enabled, chatd.socket and
#     chatd-tls.socket not.
#  3. The installed /usr/sbin/chatd -t passes, and the installed binary,
#     started by hand on a copy of the installed config moved to a free
#     loopback port (systemd is not PID 1 in CI), relays a line from one
#     client to another, and the installed /usr/sbin/chatctl talks to it
#     over a control socket.
#  4. A second version (the changelog bumped in another copy) installed
#     over an edited /etc/chatd/chatd.conf keeps the edit.
#  5. apt-get remove keeps the config and the state directory, where the
#     installed chatd kept a ban; apt-get purge removes both, and every
#     file of the package.
#
# Every wait is for something chatd says, bounded; nothing sleeps a fixed
# time.  JOBS sets the build's parallelism (default: nproc).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
arch=$(dpkg --print-architecture)
export DEBIAN_FRONTEND=noninteractive
# apt-get without dpkg's progress bar in the log.
apt_get() { apt-get -o Dpkg::Use-Pty=0 -y -qq "$@"; }

# What dpkg -L chatd must print, sorted.
expected_files='/.
/etc
/etc/chatd
/etc/chatd/chatd.conf
/lib
/lib/systemd
/lib/systemd/system
/lib/systemd/system/chatd-tls.socket
/lib/systemd/system/chatd.service
/lib/systemd/system/chatd.socket
/usr
/usr/sbin
/usr/sbin/chatctl
/usr/sbin/chatd
/usr/share
/usr/share/doc
/usr/share/doc/chatd
/usr/share/doc/chatd/README.gz
/usr/share/doc/chatd/changelog.gz
/usr/share/doc/chatd/copyright
/usr/share/man
/usr/share/man/man5
/usr/share/man/man5/chatd.conf.5.gz
/usr/share/man/man8
/usr/share/man/man8/chatctl.8.gz
/usr/share/man/man8/chatd.8.gz'

conf=/etc/chatd/chatd.conf
wants=/etc/systemd/system/multi-user.target.wants/chatd.service
socket_wants=/etc/systemd/system/sockets.target.wants/chatd.socket
tls_wants=/etc/systemd/system/sockets.target.wants/chatd-tls.socket

say() { printf -- '--- %s\n' "$*"; }
fail() { printf 'check-deb: FAIL: %s\n' "$*" >&2; exit 1; }

for cmd in dpkg-buildpackage dh lintian apt-get; do
	command -v "$cmd" >/dev/null ||
		fail "$cmd not found (apt-get install debhelper lintian)"
done
[ "$(id -u)" -eq 0 ] || fail "run as root: this installs and purges chatd"
status=$(dpkg-query -W -f='${db:Status-Abbrev}' chatd 2>/dev/null || true)
case $status in
''|un*) ;;
*) fail "chatd is installed here already ($status): purge it first" ;;
esac

work=$(mktemp -d /tmp/chatd-deb.XXXXXX)
chatd_pid=
installed=no
made_private=no
cleanup() {
	if [ -n "$chatd_pid" ]; then
		kill "$chatd_pid" 2>/dev/null || true
		wait "$chatd_pid" 2>/dev/null || true
	fi
	if [ "$installed" = yes ]; then
		apt_get purge chatd >/dev/null 2>&1 || true
	fi
	rm -rf /var/lib/chatd /var/lib/private/chatd
	if [ "$made_private" = yes ]; then
		rmdir /var/lib/private 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Copies the source tree into $1 as a checkout would have it: the files git
# tracks or would add, none it ignores (builds, autoreconf output).  Outside
# git, all of it; the package build's clean step then removes an in-tree
# build.
copy_tree() {
	mkdir -p "$1"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$top" ls-files -z --cached --others --exclude-standard |
		    (cd "$top" && tar --null --ignore-failed-read -T - -cf -) |
		    tar -C "$1" -xf -
	else
		(cd "$top" && tar -cf - .) | tar -C "$1" -xf -
	fi
}

# Builds the package in source tree $1 with DEB_BUILD_OPTIONS $2; the
# output goes to $1.log and, on failure, its end to stderr.
build() {
	say "dpkg-buildpackage -us -uc -b in $1 (DEB_BUILD_OPTIONS=$2)"
	if ! (cd "$1" && DEB_BUILD_OPTIONS=$2 dpkg-buildpackage -us -uc -b) \
	    > "$1.log" 2>&1; then
		tail -n 100 "$1.log" >&2
		fail "dpkg-buildpackage failed in $1 (log above)"
	fi
}

# 1. build and lint -----------------------------------------------------------

version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$work/chatd-$version
copy_tree "$src"
say "source package (for lintian's source checks)"
(cd "$work" && dpkg-source -b "$src" >/dev/null)
build "$src" "parallel=$jobs"
deb=$work/chatd_${version}_$arch.deb
[ -f "$deb" ] || fail "no $deb after the build"

say "test suite in the package build"
sed -n '/^# TOTAL:/,/^# ERROR:/p' "$src.log"
grep -E '^(SKIP|FAIL|ERROR|XPASS): |: skipped' "$src.log" || true

say "lintian (errors and warnings fail; info shown)"
# lintian says on stderr that it would rather not run as root; the rest
# is its report.
if ! lintian --display-info --fail-on error,warning \
    "$work/chatd_${version}_$arch.changes" "$work/chatd_$version.dsc" \
    2> >(grep -v 'running with root privileges' >&2); then
	fail "lintian reports errors or warnings (above)"
fi
echo "lintian: no errors, no warnings"

# 2. install ------------------------------------------------------------------

say "apt-get install $deb"
installed=yes
apt_get install "$deb"

say "dpkg -L chatd"
if ! diff -u <(printf '%s\n' "$expected_files") <(dpkg -L chatd | sort); then
	fail "dpkg -L chatd differs from the expected list (- expected," \
	    "+ installed)"
fi
echo "dpkg -L chatd: the $(printf '%s\n' "$expected_files" | wc -l)" \
    "expected paths"
dpkg-query -W -f='${Conffiles}\n' chatd | grep -q "^ $conf " ||
	fail "$conf is not a conffile"
[ -L "$wants" ] || fail "chatd.service is not enabled ($wants)"
[ ! -e "$socket_wants" ] || fail "chatd.socket is enabled ($socket_wants)"
[ ! -e "$tls_wants" ] || fail "chatd-tls.socket is enabled ($tls_wants)"
grep -qx "ExecStart=/usr/sbin/chatd -c $conf" \
    /lib/systemd/system/chatd.service ||
	fail "chatd.service does not run /usr/sbin/chatd -c $conf"
echo "$conf is a conffile; chatd.service enabled, chatd.socket and" \
    "chatd-tls.socket not"

# 3. run the installed binary -------------------------------------------------

say "/usr/sbin/chatd -t"
/usr/sbin/chatd -t || fail "/usr/sbin/chatd -t"

# Starts /usr/sbin/chatd on $conf moved to 127.0.0.1 and a random high
# port, with a control socket at $ctl and [control] state = $1, and waits
# until it says it listens; a port found taken is replaced, a few times.
# Sets port and chatd_pid.
ctl=$work/control.sock
start_chatd() {
	local try
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		sed -e "s/^bind *=.*/bind = 127.0.0.1/" \
		    -e "s/^port *=.*/port = $port/" "$conf" > "$work/test.conf"
		grep -qx "port = $port" "$work/test.conf" ||
			fail "no port line in $conf to change"
		printf '\n[control]\nsocket = %s\nstate = %s\n' "$ctl" "$1" \
		    >> "$work/test.conf"
		: > "$work/chatd.log"
		/usr/sbin/chatd -c "$work/test.conf" 2> "$work/chatd.log" &
		chatd_pid=$!
		# Up to 10 s for "listening on" or an exit.
		local i
		for i in $(seq 100); do
			if grep -q "listening on 127.0.0.1:$port" \
			    "$work/chatd.log"; then
				return 0
			fi
			kill -0 "$chatd_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$chatd_pid" 2>/dev/null; then
			cat "$work/chatd.log" >&2
			fail "chatd did not say it listens within 10 s"
		fi
		wait "$chatd_pid" || true
		chatd_pid=
		grep -q 'in use' "$work/chatd.log" || {
			cat "$work/chatd.log" >&2
			fail "chatd exited at start (log above)"
		}
	done
	fail "no free port found in 8 tries"
}

# Reads lines from fd $1 until one equals $2 (CR stripped), at most 20
# lines and 10 s per line; prints the line.  Fails otherwise.
expect_line() {
	local fd=$1 want=$2 line n
	for n in $(seq 20); do
		IFS= read -r -t 10 -u "$fd" line ||
			fail "no line \"$want\" (read failed or timed out)"
		line=${line%$'\r'}
		if [ "$line" = "$want" ]; then
			echo "  got: $line"
			return 0
		fi
	done
	fail "no line \"$want\" in 20 lines"
}

# Reads the welcome line from fd $1 and prints the name it gives.
welcome_name() {
	local line
	IFS= read -r -t 10 -u "$1" line || fail "no welcome line"
	line=${line%$'\r'}
	[[ $line =~ ^\*\*\*\ Welcome\ to\ .*,\ (guest[0-9]+)\. ]] ||
		fail "not a welcome line: $line"
	echo "${BASH_REMATCH[1]}"
}

# Stops chatd with SIGTERM; it must exit 0.
stop_chatd() {
	local rc=0
	kill -TERM "$chatd_pid"
	wait "$chatd_pid" || rc=$?
	chatd_pid=
	[ "$rc" -eq 0 ] || { cat "$work/chatd.log" >&2; fail "chatd exited $rc"; }
}

say "chat through the installed chatd (installed config, test port)"
start_chatd ""
echo "$(/usr/sbin/chatd -V 2>&1) listening on 127.0.0.1:$port"
exec {a}<>"/dev/tcp/127.0.0.1/$port"
name_a=$(welcome_name "$a")
exec {b}<>"/dev/tcp/127.0.0.1/$port"
name_b=$(welcome_name "$b")
echo "  clients: $name_a and $name_b"
printf 'hello from the package check\n' >&"$a"
expect_line "$b" "<$name_a> hello from the package check"
printf 'and back\n' >&"$b"
expect_line "$a" "<$name_b> and back"

say "/usr/sbin/chatctl against it"
out=$(/usr/sbin/chatctl -s "$ctl" status) || fail "chatctl status failed"
printf '%s\n' "$out"
grep -qx 'clients 2, peak 2' <<< "$out" ||
	fail "chatctl status does not count the two clients"
out=$(/usr/sbin/chatctl -s "$ctl" --json who) || fail "chatctl who failed"
for n in "$name_a" "$name_b"; do
	grep -qF "\"name\":\"$n\"" <<< "$out" ||
		fail "chatctl --json who does not list $n: $out"
done
echo "chatctl --json who lists $name_a and $name_b"
exec {a}>&- {b}>&-
stop_chatd
echo "chatd stopped on SIGTERM, status 0"

# 4. upgrade over an edited conffile ------------------------------------------

version2=$version+check1
src2=$work/chatd-$version2
copy_tree "$src2"
{
	printf 'chatd (%s) unstable; urgency=medium\n\n' "$version2"
	printf '  * Upgrade test of tests/deb/check-deb.sh.\n\n'
	printf ' -- %s  %s\n\n' \
	    "$(dpkg-parsechangelog -l "$src2/debian/changelog" -S Maintainer)" \
	    "$(date -R)"
	cat "$src2/debian/changelog"
} > "$work/changelog"
mv "$work/changelog" "$src2/debian/changelog"
# The suite ran in the first build, on the same code.
build "$src2" "parallel=$jobs nocheck"
deb2=$work/chatd_${version2}_$arch.deb

say "edit $conf, then apt-get install $deb2"
edit="; edited by check-deb.sh before the upgrade to $version2"
echo "$edit" >> "$conf"
sed -i 's/^name *=.*/name = chatd-upgrade-check/' "$conf"
apt_get install "$deb2"
[ "$(dpkg-query -W -f='${Version}' chatd)" = "$version2" ] ||
	fail "chatd $version2 is not what is installed"
grep -qxF "$edit" "$conf" || fail "the upgrade lost the edit of $conf"
grep -qx 'name = chatd-upgrade-check' "$conf" ||
	fail "the upgrade lost the edit of $conf"
ls /etc/chatd/*.dpkg-* 2>/dev/null && fail "dpkg left files beside $conf"
[ -L "$wants" ] || fail "chatd.service is no longer enabled"
/usr/sbin/chatd -t || fail "/usr/sbin/chatd -t after the upgrade"
echo "$conf kept its edits through the upgrade to $version2"

# 5. remove, then purge -------------------------------------------------------

# StateDirectory=chatd with DynamicUser= is /var/lib/private/chatd behind
# a /var/lib/chatd symlink; systemd is not PID 1 here, so make them as it
# would, and have the installed chatd keep a ban in its database there.
if [ -e /var/lib/chatd ] || [ -e /var/lib/private/chatd ]; then
	fail "/var/lib/chatd or /var/lib/private/chatd exists already"
fi
if [ ! -d /var/lib/private ]; then
	mkdir -m 0700 /var/lib/private
	made_private=yes
fi
mkdir -m 0700 /var/lib/private/chatd
ln -s private/chatd /var/lib/chatd
say "a ban kept in /var/lib/chatd/chatd.db"
start_chatd /var/lib/chatd/chatd.db
/usr/sbin/chatctl -s "$ctl" ban 192.0.2.0/24 7d check-deb ||
	fail "chatctl ban failed"
stop_chatd
[ -s /var/lib/private/chatd/chatd.db ] ||
	fail "no database in /var/lib/private/chatd after the ban"

say "apt-get remove chatd"
apt_get remove chatd
[ ! -e /usr/sbin/chatd ] || fail "/usr/sbin/chatd is still there"
[ -f "$conf" ] || fail "remove took $conf"
[ -s /var/lib/chatd/chatd.db ] || fail "remove took the state directory"
echo "removed; $conf and the state directory are kept"

say "apt-get purge chatd"
apt_get purge chatd
installed=no
status=$(dpkg-query -W -f='${db:Status-Abbrev}' chatd 2>/dev/null || true)
case $status in
''|un*) ;;
*) fail "chatd is still known to dpkg after purge ($status)" ;;
esac
for f in $expected_files /var/lib/chatd /var/lib/private/chatd \
    "$wants" "$socket_wants"; do
	case $f in
	/.|/etc|/lib|/lib/systemd|/lib/systemd/system|/usr|/usr/sbin|\
	/usr/share|/usr/share/doc|/usr/share/man|/usr/share/man/man?) continue ;;
	esac
	if [ -e "$f" ] || [ -L "$f" ]; then
		fail "$f is still there after purge"
	fi
done
echo "purged: no file of the package, no config, no state left"

say "check-deb.sh: all checks passed"
