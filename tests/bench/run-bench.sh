#!/bin/sh
#
# run-bench.sh: runs chatd-bench against a freshly started chatd and, when
# Debian's ncat is installed, against "ncat -l --chat" in the same run, and
# prints a table of chatd's figures, ncat's and their ratio, with a verdict
# against each target of the benchmark.
#
# Every scenario gets a server of its own (started here, on a free loopback
# port, in a temporary directory), so CPU and RSS figures are not muddied by
# the previous scenario's teardown.  chatd runs in raw mode with every
# protection at its default (output limits, sanitising) except rate_lines,
# which is 0: the default 10 lines/s per client would throttle the senders.
# ncat is skipped for scenarios past its ~1,024-connection select() limit.
#
# usage: run-bench.sh [--smoke] [--quick] [--no-ncat]
#   --smoke    the make check test: a small exact run against chatd only
#   --quick    fewer lines per sender (a rough run in about a minute)
#   --no-ncat  do not compare with ncat
#
# Environment: CHATD_BIN (default ../../src/chatd from this script, or
# src/chatd in the current directory), CHATD_BENCH (default chatd-bench next
# to this script, or tests/bench/chatd-bench in the current directory),
# NCAT (default ncat), BENCH_KEEP=1 to keep the temporary directory.
#
# Exit status: 0 all runs completed (targets may be missed: see the table),
# 1 a run failed (lost lines, a server died), 77 skipped, 99 set-up error.

set -u

here=$(cd "$(dirname "$0")" && pwd)
smoke=0
quick=0
use_ncat=1
for arg; do
	case $arg in
	--smoke) smoke=1 ;;
	--quick) quick=1 ;;
	--no-ncat) use_ncat=0 ;;
	*) echo "usage: $0 [--smoke] [--quick] [--no-ncat]" >&2; exit 99 ;;
	esac
done

find_bin() {
	# $1: environment value, then candidates
	for f; do
		if [ -n "$f" ] && [ -x "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

chatd=$(find_bin "${CHATD_BIN:-}" "$here/../../src/chatd" "./src/chatd") || {
	echo "run-bench: chatd not found; build it or set CHATD_BIN" >&2
	exit 99
}
bench=$(find_bin "${CHATD_BENCH:-}" "$here/chatd-bench" \
    "./tests/bench/chatd-bench") || {
	echo "run-bench: chatd-bench not found; run \"make bench\"" \
	    "or set CHATD_BENCH" >&2
	exit 99
}
ncat=${NCAT:-ncat}
if [ $smoke = 1 ] || [ $use_ncat = 0 ] || ! command -v "$ncat" >/dev/null
then
	ncat=
fi

# Descriptors: both the server and the generator hold one per client.
# (ulimit -n and -H are not POSIX but dash, bash and ksh have them.)
# shellcheck disable=SC3045
ulimit -n "$(ulimit -H -n)" 2>/dev/null
# shellcheck disable=SC3045
nofile=$(ulimit -n)
if [ "$nofile" = unlimited ]; then
	nofile=1048576
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatd-bench.XXXXXX") || exit 99
server_pid=
cluster_pids=
# shellcheck disable=SC2317
cleanup() {
	for p in $server_pid $cluster_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "run-bench: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

random_port() {
	if command -v shuf >/dev/null; then
		shuf -i 20000-59999 -n 1
	else
		echo $((20000 + ($$ * 7919 + $(date +%S) * 131) % 40000))
	fi
}

listening() {
	# $1: port.  Without ss(8), give the server a second.
	if command -v ss >/dev/null; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		sleep 1
	fi
}

# start_server KIND: starts chatd or ncat on a free port; sets server_pid
# and port, or fails.
start_server() {
	tries=0
	while [ $tries -lt 5 ]; do
		tries=$((tries + 1))
		port=$(random_port)
		if command -v ss >/dev/null && listening "$port"; then
			continue
		fi
		case $1 in
		chatd)
			cat > "$tmp/chatd.conf" <<EOF
[server]
bind = 127.0.0.1
port = $port
mode = raw
log_level = warning
[limits]
max_clients = 0
max_clients_per_address = 0
rate_lines = 0
[chat]
history = 0
EOF
			"$chatd" -c "$tmp/chatd.conf" >> "$tmp/chatd.log" 2>&1 &
			;;
		ncat)
			"$ncat" -l --chat -m 1016 127.0.0.1 "$port" \
			    < /dev/null > /dev/null 2>> "$tmp/ncat.log" &
			;;
		esac
		server_pid=$!
		waited=0
		while [ $waited -lt 50 ]; do
			if ! kill -0 "$server_pid" 2>/dev/null; then
				break
			fi
			if listening "$port"; then
				return 0
			fi
			sleep 0.1
			waited=$((waited + 1))
		done
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
	done
	echo "run-bench: could not start $1; see $tmp/$1.log" >&2
	cat "$tmp/$1.log" >&2 2>/dev/null
	return 1
}

stop_server() {
	if [ -n "$server_pid" ]; then
		if ! kill "$server_pid" 2>/dev/null; then
			echo "run-bench: the server died during the run" >&2
			failed=1
		fi
		wait "$server_pid" 2>/dev/null
		server_pid=
	fi
}

failed=0

# run KIND NAME ARGS...: one scenario against one server; the bench's
# result line goes to $tmp/NAME.KIND.
run() {
	kind=$1
	name=$2
	shift 2
	start_server "$kind" || { failed=1; return 1; }
	extra=
	if [ "$kind" = ncat ]; then
		extra="-a 8"	# ncat's listen backlog is 10
	fi
	# shellcheck disable=SC2086
	"$bench" -p "$port" -P "$server_pid" -L "$name/$kind" $extra "$@" \
	    > "$tmp/$name.$kind.out" 2> "$tmp/$name.$kind.err"
	status=$?
	stop_server
	sed 's/^/  /' "$tmp/$name.$kind.out" | grep -v '^  result:' >&2
	sed 's/^/  /' "$tmp/$name.$kind.err" >&2
	grep '^result:' "$tmp/$name.$kind.out" | tail -n 1 > "$tmp/$name.$kind"
	if [ $status -ne 0 ]; then
		failed=1
	fi
	return $status
}

# Smoke test (make check): counts exact, nothing lost, duplicated,
# reordered or echoed.
if [ $smoke = 1 ]; then
	echo "chatd-bench smoke test: 20 clients, 4 senders x 500 lines" >&2
	if run chatd smoke -n 20 -s 4 -m 500 -w 16 -t 10 --expect-exact &&
	    run chatd smoke-batch -n 20 -s 4 -m 500 -w 64 -b 8 -t 10 \
	    --expect-exact; then
		echo "PASS: chatd-bench smoke test"
		exit 0
	fi
	echo "FAIL: chatd-bench smoke test (see above)"
	exit 1
fi

if [ $quick = 1 ]; then
	m_fan=5000
	m_big=1000
	m_lat=400
else
	m_fan=20000
	m_big=5000
	m_lat=1000
fi
n_idle=5000
n_bcast=10000
if [ $((n_bcast + 64)) -gt "$nofile" ]; then
	n_bcast=$((nofile - 64))
	echo "run-bench: open file limit $nofile: broadcast to $n_bcast" >&2
fi
if [ $((n_idle + 64)) -gt "$nofile" ]; then
	n_idle=$((nofile - 64))
	echo "run-bench: open file limit $nofile: $n_idle idle clients" >&2
fi

echo "chatd: $chatd (raw mode; rate_lines = 0 so senders are not" \
    "throttled; output limits and sanitising at their defaults)" >&2
if [ -n "$ncat" ]; then
	echo "ncat: $(command -v "$ncat") (-l --chat)" >&2
else
	echo "ncat: not compared" >&2
fi
echo "cores: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo ?)" \
    "(the generator and the server share them)" >&2
echo >&2

scenario() {
	# scenario NAME NCAT(yes/no) ARGS...
	name=$1
	with_ncat=$2
	shift 2
	run chatd "$name" "$@"
	if [ -n "$ncat" ] && [ "$with_ncat" = yes ]; then
		run ncat "$name" "$@"
	fi
}

scenario fanout-100x10 yes -n 100 -s 10 -m $m_fan
scenario fanout-1000x2 yes -n 1000 -s 2 -m $m_big
scenario latency-50x5 yes -n 50 -s 5 -m $m_lat -r 200
scenario idle-$n_idle no --idle -n $n_idle --hold 1
scenario broadcast-$n_bcast no --broadcast -n $n_bcast -m 20

# run_cluster NAME ARGS...: the same room on two chatd nodes linked by a
# redis-server of its own; senders on node a, receivers alternating
# between a and b.  Node a's CPU is measured.  Skipped without Redis.
run_cluster() {
	name=$1
	shift
	if ! command -v redis-server >/dev/null; then
		echo "run-bench: redis-server not installed: no two-node" \
		    "figures" >&2
		return 0
	fi
	tries=0
	while [ $tries -lt 5 ]; do
		tries=$((tries + 1))
		rport=$(random_port)
		redis-server --port "$rport" --bind 127.0.0.1 --save "" \
		    --appendonly no --dir "$tmp" > "$tmp/redis.log" 2>&1 &
		cluster_pids=$!
		waited=0
		while [ $waited -lt 50 ] && kill -0 "$cluster_pids" 2>/dev/null &&
		    ! listening "$rport"; do
			sleep 0.1
			waited=$((waited + 1))
		done
		if kill -0 "$cluster_pids" 2>/dev/null; then
			break
		fi
		wait "$cluster_pids" 2>/dev/null
		cluster_pids=
	done
	for node in a b; do
		tries=0
		while [ $tries -lt 5 ]; do
			tries=$((tries + 1))
			nport=$(random_port)
			cat > "$tmp/node-$node.conf" <<EOF
[server]
bind = 127.0.0.1
port = $nport
mode = raw
log_level = notice
[limits]
max_clients = 0
max_clients_per_address = 0
rate_lines = 0
[chat]
history = 0
[cluster]
redis = 127.0.0.1:$rport
node = bench-$node
EOF
			"$chatd" -c "$tmp/node-$node.conf" \
			    > "$tmp/node-$node.log" 2>&1 &
			npid=$!
			waited=0
			while [ $waited -lt 50 ] && kill -0 "$npid" 2>/dev/null &&
			    ! listening "$nport"; do
				sleep 0.1
				waited=$((waited + 1))
			done
			if kill -0 "$npid" 2>/dev/null; then
				break
			fi
			wait "$npid" 2>/dev/null
		done
		cluster_pids="$cluster_pids $npid"
		eval "port_$node=$nport pid_$node=$npid"
	done
	waited=0
	until grep -q "linked to Redis" "$tmp/node-a.log" &&
	    grep -q "linked to Redis" "$tmp/node-b.log"; do
		if [ $waited -ge 150 ]; then
			echo "run-bench: the two nodes did not link through" \
			    "Redis; see $tmp" >&2
			failed=1
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	# shellcheck disable=SC2154
	"$bench" -p "$port_a" --port2 "$port_b" -P "$pid_a" -a 65535 \
	    -L "$name/two-nodes" "$@" > "$tmp/$name.chatd.out" \
	    2> "$tmp/$name.chatd.err"
	status=$?
	for p in $cluster_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	cluster_pids=
	sed 's/^/  /' "$tmp/$name.chatd.err" >&2
	grep '^result:' "$tmp/$name.chatd.out" | tail -n 1 > "$tmp/$name.chatd"
	[ $status -eq 0 ] || failed=1
}

run_cluster cluster-100x10 -n 100 -s 10 -m $m_fan

# The table.  get FILE KEY prints a value from a result line, or "-".
get() {
	if [ -s "$1" ]; then
		tr ' ' '\n' < "$1" | sed -n "s/^$2=//p"
	fi | grep . || echo -
}

# row SCENARIO LABEL KEY SCALE DIRECTION TARGET: DIRECTION "max" means
# chatd's figure must be at most TARGET, "min" at least TARGET,
# "ratio" chatd/ncat at least TARGET, "zero" must be 0, "info" no target.
row() {
	c=$(get "$tmp/$1.chatd" "$3")
	n=$(get "$tmp/$1.ncat" "$3")
	awk -v s="$1" -v l="$2" -v c="$c" -v n="$n" -v scale="$4" \
	    -v dir="$5" -v t="$6" 'BEGIN {
		fc = (c == "-" || c < 0) ? "-" : sprintf("%.*f", scale, c)
		fn = (n == "-" || n < 0) ? "-" : sprintf("%.*f", scale, n)
		r = (fc != "-" && fn != "-" && n + 0 > 0) ? \
		    sprintf("%.2fx", c / n) : "-"
		v = "-"; tt = ""
		if (dir == "max") { tt = "<= " t; if (fc != "-") \
		    v = (c + 0 <= t + 0) ? "PASS" : "MISS" }
		if (dir == "min") { tt = ">= " t; if (fc != "-") \
		    v = (c + 0 >= t + 0) ? "PASS" : "MISS" }
		if (dir == "zero") { tt = "0"; if (fc != "-") \
		    v = (c + 0 == 0) ? "PASS" : "MISS" }
		if (dir == "ratio") { tt = ">= " t "x ncat"; if (r != "-") \
		    v = (c / n >= t + 0) ? "PASS" : "MISS" }
		printf "%-18s %-22s %12s %12s %8s %16s  %s\n", \
		    s, l, fc, fn, r, tt, v
	}'
}

echo
printf '%-18s %-22s %12s %12s %8s %16s  %s\n' scenario metric chatd ncat \
    ratio target verdict
rule=--------------------------------------------------
printf '%.101s\n' "$rule$rule$rule"
for s in fanout-100x10 fanout-1000x2; do
	if [ $s = fanout-100x10 ]; then
		row $s deliveries/s per_sec 0 ratio 3.5
	else
		row $s deliveries/s per_sec 0 info 0
	fi
	row $s lost lost 0 zero 0
	row $s duplicated dup 0 zero 0
	row $s reordered reordered 0 zero 0
	row $s echoed echoed 0 zero 0
	if [ $s = fanout-100x10 ]; then
		row $s "cpu s/M deliveries" cpu_s_per_m 4 max 0.1
	else
		row $s "cpu s/M deliveries" cpu_s_per_m 4 info 0
	fi
	row $s "latency p50 us" p50_us 0 info 0
	row $s "latency p99 us" p99_us 0 info 0
	row $s "server RSS KiB" server_rss_kb 0 info 0
	row $s "server busy %" server_busy_pct 0 info 0
	row $s "generator busy %" gen_busy_pct 0 info 0
done
s=latency-50x5
row $s deliveries/s per_sec 0 info 0
row $s lost lost 0 zero 0
row $s "latency p50 us" p50_us 0 info 0
row $s "latency p99 us" p99_us 0 max 1000
row $s "latency max us" max_us 0 max 5000
row $s "cpu s/M deliveries" cpu_s_per_m 4 info 0
s=idle-$n_idle
row $s "RSS bytes/conn" rss_per_conn_b 0 max 1024
row $s "server RSS KiB" rss1_kb 0 info 0
s=broadcast-$n_bcast
row $s "broadcast p50 us" bcast_p50_us 0 info 0
row $s "broadcast max us" bcast_max_us 0 info 0
row $s lost lost 0 zero 0
row $s "cpu s/M deliveries" cpu_s_per_m 4 info 0

if [ -s "$tmp/cluster-100x10.chatd" ]; then
	# The two-node figures beside the single node's, in the same table:
	# the "ncat" column holds the one-node run of the same scenario.
	cp "$tmp/fanout-100x10.chatd" "$tmp/cluster-100x10.ncat"
	echo
	echo "two chatd nodes through Redis (chatd column) beside one node" \
	    "(ncat column):"
	s=cluster-100x10
	row $s deliveries/s per_sec 0 info 0
	row $s lost lost 0 zero 0
	row $s duplicated dup 0 zero 0
	row $s reordered reordered 0 zero 0
	row $s echoed echoed 0 zero 0
	row $s "latency p50 us" p50_us 0 info 0
	row $s "latency p99 us" p99_us 0 info 0
	row $s "node a cpu s/M" cpu_s_per_m 4 info 0
fi

echo
echo "ratio = chatd / ncat: higher is better for deliveries/s, lower for"
echo "CPU, latency and RSS.  \"busy %\" is CPU time over the run's wall"
echo "time; a generator near 100% means the figure is the generator's limit."

if [ $failed = 1 ]; then
	echo "run-bench: some runs failed (see above)" >&2
	exit 1
fi
exit 0
