#!/usr/bin/env bash
# peers.sh — measure ionbus and the Node socket.io@4.8 peer with the same
# client (`ionbus bench`) and the same scenarios, one server at a time, and
# print the results side by side with the ionbus/node ratio.
#
#   bench/peers.sh                      # N=2000, both servers
#   N=19000 bench/peers.sh              # the big run
#   TARGETS=node bench/peers.sh         # only the Node peer
#   IONBUS_URL=http://10.0.0.5:4000 ... # not supported: loopback only
#
# Knobs (env):          default
#   N                   2000     sockets for idle and fanout
#   RATE                1000     connects per second
#   HOLD                10s      idle hold
#   K                   10       fanout broadcasts
#   INTERVAL            500ms    between broadcasts
#   ECHO_N              100      concurrent echo senders
#   ECHO_DURATION       5s
#   CHURN_RATE          200      connect+disconnect cycles per second
#   CHURN_CONCURRENCY   100
#   CHURN_DURATION      5s
#   FANOUT_ROOM         bench    room joined with join_room; "" = namespace-wide
#                                broadcast, no join (for servers without join_room)
#   ECHO_EVENT          echo     event the server acks with its arguments
#   SCENARIOS           "idle fanout echo churn"
#   TARGETS             "ionbus node"
#   SOURCE_IPS          127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4
#   OUT                 a new temp dir (reports: $OUT/<target>-<scenario>.json)
#   IONBUS_SERVE        "$BIN serve --listen 127.0.0.1:4000 --api-listen 127.0.0.1:4001
#                       --log-level warn" (command line that starts ionbus; it must
#                       serve socket.io on IONBUS_URL and the HTTP API on IONBUS_API)
#   IONBUS_URL          http://127.0.0.1:4000
#   IONBUS_API          http://127.0.0.1:4001
#   IONBUS_API_KEY      bench-key (also exported to the server's environment)
#   NODE_PORT/NODE_API_PORT  3000/3001
#   RUN_TIMEOUT         bound on each bench run (default: derived from the scenario)
#
# Every step is bounded by `timeout`; servers get SIGTERM then SIGKILL.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

N=${N:-2000}
RATE=${RATE:-1000}
HOLD=${HOLD:-10s}
K=${K:-10}
INTERVAL=${INTERVAL:-500ms}
ECHO_N=${ECHO_N:-100}
ECHO_DURATION=${ECHO_DURATION:-5s}
CHURN_RATE=${CHURN_RATE:-200}
CHURN_CONCURRENCY=${CHURN_CONCURRENCY:-100}
CHURN_DURATION=${CHURN_DURATION:-5s}
FANOUT_ROOM=${FANOUT_ROOM-bench}
ECHO_EVENT=${ECHO_EVENT:-echo}
SCENARIOS=${SCENARIOS:-"idle fanout echo churn"}
TARGETS=${TARGETS:-"ionbus node"}
SOURCE_IPS=${SOURCE_IPS:-127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4}
IONBUS_URL=${IONBUS_URL:-http://127.0.0.1:4000}
IONBUS_API=${IONBUS_API:-http://127.0.0.1:4001}
IONBUS_API_KEY=${IONBUS_API_KEY:-bench-key}
NODE_PORT=${NODE_PORT:-3000}
NODE_API_PORT=${NODE_API_PORT:-3001}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ionbus-peers.XXXXXX")}
mkdir -p "$OUT"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for ip in ${SOURCE_IPS//,/ } ${IONBUS_URL#*//} ${IONBUS_API#*//}; do
	case "$ip" in 127.*) ;; *) die "loopback only: $ip" ;; esac
done

# --- file descriptors: each process needs N + slack --------------------------
hard=$(ulimit -Hn)
want=20000
[ "$hard" = unlimited ] || [ "$hard" -ge "$want" ] || want=$hard
ulimit -n "$want" 2>/dev/null || log "could not raise ulimit -n to $want"
log "ulimit -n $(ulimit -n)"
if [ "$N" -gt $(( $(ulimit -n) - 200 )) ]; then
	die "N=$N needs more than ulimit -n $(ulimit -n) allows"
fi

# --- build -------------------------------------------------------------------
BIN_DIR="$OUT/bin"
mkdir -p "$BIN_DIR"
cd "$ROOT"
IONBUS_BIN=""
BENCH=()
if timeout 300 go build -o "$BIN_DIR/ionbus" ./cmd/ionbus 2>"$OUT/build.log"; then
	IONBUS_BIN="$BIN_DIR/ionbus"
	help=$("$IONBUS_BIN" bench --help 2>&1 || true)
	if [[ $help == *"usage: ionbus bench"* ]]; then
		BENCH=("$IONBUS_BIN" bench)
	fi
else
	log "go build ./cmd/ionbus failed (see $OUT/build.log); ionbus column will be empty"
fi
if [ ${#BENCH[@]} -eq 0 ]; then
	# `ionbus bench` not registered yet: build a stand-in main around the package.
	runner="$HERE/.runner-$$"
	mkdir -p "$runner"
	trap 'rm -rf "$runner"' EXIT
	cat >"$runner/main.go" <<'EOF'
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ionbus/ionbus/cmd/ionbus/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
EOF
	timeout 300 go build -o "$BIN_DIR/ionbus-bench" "./bench/$(basename "$runner")" || die "cannot build the bench"
	rm -rf "$runner"
	BENCH=("$BIN_DIR/ionbus-bench")
	log "using stand-in bench binary (cmd/ionbus does not register 'bench' yet)"
fi

# --- node peer dependencies --------------------------------------------------
NODE_MODULES="$ROOT/integration/node_modules"
if [[ " $TARGETS " == *" node "* ]]; then
	command -v node >/dev/null || die "node not installed"
	if [ ! -d "$NODE_MODULES/socket.io" ]; then
		NODE_MODULES="$OUT/npm/node_modules"
		log "installing socket.io@4.8.1 into $OUT/npm"
		mkdir -p "$OUT/npm"
		(cd "$OUT/npm" && timeout 300 npm install --no-audit --no-fund --silent socket.io@4.8.1) || die "npm install failed"
	fi
fi

# --- server lifecycle --------------------------------------------------------
SERVER_PID=""
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}
trap 'stop_server; rm -rf "$HERE/.runner-$$"' EXIT
trap 'exit 130' INT TERM

wait_ready() { # url, seconds
	local url=$1 deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		if curl -fsS -m 2 "$url/socket.io/?EIO=4&transport=polling" 2>/dev/null | grep -q '^0{'; then
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

port_busy() { # url
	curl -fsS -m 2 -o /dev/null "$1/socket.io/?EIO=4&transport=polling" 2>/dev/null
}

start_server() { # target
	local u
	case $1 in node) u="http://127.0.0.1:$NODE_PORT" ;; *) u="$IONBUS_URL" ;; esac
	if port_busy "$u"; then
		log "something already serves $u: stop it first (results would measure the wrong process)"
		return 1
	fi
	case $1 in
	node)
		NODE_PATH="$NODE_MODULES" API_KEY="$IONBUS_API_KEY" \
			node "$HERE/node-peer/server.js" --port "$NODE_PORT" --api-port "$NODE_API_PORT" \
			>"$OUT/node-server.log" 2>&1 &
		SERVER_PID=$!
		URL="http://127.0.0.1:$NODE_PORT"
		API="http://127.0.0.1:$NODE_API_PORT"
		;;
	ionbus)
		[ -n "$IONBUS_BIN" ] || return 1
		local cmd=${IONBUS_SERVE:-"$IONBUS_BIN serve --listen ${IONBUS_URL#*//} --api-listen ${IONBUS_API#*//} --log-level warn"}
		# shellcheck disable=SC2086 # the command line is meant to split
		IONBUS_API_KEY="$IONBUS_API_KEY" $cmd >"$OUT/ionbus-server.log" 2>&1 &
		SERVER_PID=$!
		URL="$IONBUS_URL"
		API="$IONBUS_API"
		;;
	esac
	if ! wait_ready "$URL" 30; then
		log "$1 did not come up on $URL (log: $OUT/$1-server.log)"
		tail -5 "$OUT/$1-server.log" >&2 || true
		stop_server
		return 1
	fi
	log "$1 up on $URL (pid $SERVER_PID)"
}

secs() { # duration like 10s/500ms/2m → whole seconds, rounded up
	local d=$1
	case $d in
	*ms) echo $(( (${d%ms} + 999) / 1000 )) ;;
	*s) echo "${d%s}" | awk '{printf "%d\n", ($1 == int($1)) ? $1 : int($1) + 1}' ;;
	*m) echo $(( ${d%m} * 60 )) ;;
	*) echo 60 ;;
	esac
}

run_scenario() { # target scenario
	local t=$1 s=$2 ramp=$(( N / RATE + 1 )) args=() bound
	case $s in
	idle)
		args=(idle -n "$N" --rate "$RATE" --hold "$HOLD")
		bound=$(( ramp + $(secs "$HOLD") + 60 )) ;;
	fanout)
		args=(fanout -n "$N" --rate "$RATE" --broadcasts "$K" --interval "$INTERVAL" --drain 10s
			--room "$FANOUT_ROOM" --api "$API" --api-key "$IONBUS_API_KEY")
		bound=$(( ramp + K * $(secs "$INTERVAL") + 90 )) ;;
	echo)
		args=(echo -n "$ECHO_N" --rate "$RATE" --duration "$ECHO_DURATION" --echo-event "$ECHO_EVENT")
		bound=$(( $(secs "$ECHO_DURATION") + 60 )) ;;
	churn)
		args=(churn --rate "$CHURN_RATE" --concurrency "$CHURN_CONCURRENCY" --duration "$CHURN_DURATION")
		bound=$(( $(secs "$CHURN_DURATION") + 60 )) ;;
	*) die "unknown scenario $s" ;;
	esac
	bound=${RUN_TIMEOUT:-$bound}
	log "$t $s: ${BENCH[*]} ${args[*]} (bounded ${bound}s)"
	local rc=0
	timeout -s INT -k 10 "$bound" "${BENCH[@]}" "${args[@]}" --url "$URL" --source-ips "$SOURCE_IPS" \
		--server-pid "$SERVER_PID" --progress off --json "$OUT/$t-$s.json" >"$OUT/$t-$s.txt" 2>&1 || rc=$?
	sed 's/^/    /' "$OUT/$t-$s.txt" >&2
	[ $rc -le 1 ] || log "$t $s exited $rc"
	# let sockets in TIME_WAIT and the server's GC settle between scenarios
	sleep 2
}

for t in $TARGETS; do
	if ! start_server "$t"; then
		log "skipping $t"
		continue
	fi
	for s in $SCENARIOS; do
		kill -0 "$SERVER_PID" 2>/dev/null || { log "$t died"; break; }
		run_scenario "$t" "$s"
	done
	stop_server
done

# --- side by side ------------------------------------------------------------
table() {
	local s=$1 label=$2 path=$3 unit=$4 better=$5
	local a b
	a=$(jq -r "$path // empty" "$OUT/ionbus-$s.json" 2>/dev/null || true)
	b=$(jq -r "$path // empty" "$OUT/node-$s.json" 2>/dev/null || true)
	awk -v l="$s $label" -v a="$a" -v b="$b" -v u="$unit" -v better="$better" 'BEGIN {
		fa = (a == "") ? "-" : sprintf("%.2f", a); fb = (b == "") ? "-" : sprintf("%.2f", b)
		r = "-"; if (a != "" && b != "" && b + 0 != 0) r = sprintf("%.2fx", a / b)
		printf "%-34s %14s %14s %9s  %s\n", l " (" u ")", fa, fb, r, better
	}'
}
{
	echo
	echo "N=$N rate=$RATE hold=$HOLD K=$K interval=$INTERVAL room='$FANOUT_ROOM' echo=$ECHO_EVENT×$ECHO_N/$ECHO_DURATION churn=$CHURN_RATE/s c=$CHURN_CONCURRENCY  reports: $OUT"
	printf '%-34s %14s %14s %9s  %s\n' metric ionbus node "ionbus/node" ""
	for s in $SCENARIOS; do
		case $s in
		idle)
			table idle connected '.sockets.connected' n "higher better"
			table idle failures '.sockets.failed' n "lower better"
			table idle "connect p50" '.connect_latency.p50_ms' ms "lower better"
			table idle "connect p99" '.connect_latency.p99_ms' ms "lower better"
			table idle "connect max" '.connect_latency.max_ms' ms "lower better"
			table idle "server RSS/socket" '.server.rss_per_socket_bytes' B "lower better"
			table idle "server CPU in hold" '.server.cpu_percent' % "lower better"
			;;
		fanout)
			table fanout receivers '.fanout.receivers' n ""
			table fanout missing '.fanout.missing' n "lower better"
			table fanout duplicates '.fanout.duplicates' n "lower better"
			table fanout "delivery p50" '.fanout.delivery_latency.p50_ms' ms "lower better"
			table fanout "delivery p99" '.fanout.delivery_latency.p99_ms' ms "lower better"
			table fanout "all-delivered p50" '.fanout.all_delivered.p50_ms' ms "lower better"
			table fanout "all-delivered max" '.fanout.all_delivered.max_ms' ms "lower better"
			table fanout "deliveries/s" '.fanout.deliveries_per_sec' "1/s" "higher better"
			table fanout "burst deliveries/s" '.fanout.burst_deliveries_per_sec' "1/s" "higher better"
			table fanout "server CPU" '.server.cpu_percent' % "lower better"
			;;
		echo)
			table echo "acks/s" '.echo.acks_per_sec' "1/s" "higher better"
			table echo "rtt p50" 'if .echo.acks > 0 then .echo.rtt.p50_ms else empty end' ms "lower better"
			table echo "rtt p99" 'if .echo.acks > 0 then .echo.rtt.p99_ms else empty end' ms "lower better"
			table echo "server CPU" 'if .echo.acks > 0 then .server.cpu_percent else empty end' % "lower better"
			;;
		churn)
			table churn "cycles/s" '.churn.cycles_per_sec' "1/s" "higher better"
			table churn failures '.sockets.failed' n "lower better"
			table churn "connect p99" '.connect_latency.p99_ms' ms "lower better"
			table churn "server CPU" '.server.cpu_percent' % "lower better"
			;;
		esac
	done
	for t in $TARGETS; do
		f="$OUT/$t-echo.json"
		if [ -f "$f" ] && [ "$(jq -r '.echo.acks' "$f")" = 0 ]; then
			echo "note: $t acked no '$ECHO_EVENT' event (no handler?): set ECHO_EVENT to an event it acks"
		fi
		f="$OUT/$t-fanout.json"
		if [ -f "$f" ] && [ "$(jq -r '.fanout.receivers' "$f")" = 0 ]; then
			echo "note: no $t receiver joined '$FANOUT_ROOM' (join_room not enabled?): try FANOUT_ROOM=''"
		fi
	done
} | tee "$OUT/summary.txt"
