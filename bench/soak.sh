#!/usr/bin/env bash
# Soak: N websockets held on one `ionbus serve` for DURATION with the
# default heartbeat (25 s pings), a broadcast to all of them every
# INTERVAL, and CHURN_PCT % of N connecting and disconnecting per minute
# beside them. Reports spurious disconnects (`dropped`), missing and
# duplicate deliveries, and the server's RSS at start and end.
#
#   bench/soak.sh                      # 19000 sockets, 30 min
#   N=2000 DURATION=2m bench/soak.sh   # a quick look
#
# Environment (defaults):
#   N            19000   receivers (one process; under the 20,000-file limit)
#   DURATION     30m     how long broadcasts flow
#   INTERVAL     5s      between broadcasts
#   CHURN_PCT    1       % of N churned per minute (connect, hold 60 s, close)
#   PORT/API     4000/4001
#   SOURCE_IPS   127.0.0.1,127.0.0.2
#   OUT          a new temp dir (soak.json, churn.json, rss.tsv, logs)
#
# Everything is bounded by `timeout`; the server gets SIGTERM then SIGKILL.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${N:-19000}
DURATION=${DURATION:-30m}
INTERVAL=${INTERVAL:-5s}
CHURN_PCT=${CHURN_PCT:-1}
PORT=${PORT:-4000}
API=${API:-4001}
SOURCE_IPS=${SOURCE_IPS:-127.0.0.1,127.0.0.2}
OUT=${OUT:-$(mktemp -d /tmp/ionbus-soak.XXXXXX)}
mkdir -p "$OUT"

secs() { # 30m | 90s | 2h → seconds
	local v=$1
	case $v in *h) echo $((${v%h} * 3600)) ;; *m) echo $((${v%m} * 60)) ;; *s) echo "${v%s}" ;; *) echo "$v" ;; esac
}
DUR_S=$(secs "$DURATION")
INT_S=$(secs "$INTERVAL")
ROUNDS=$((DUR_S / INT_S))
CHURN_PER_MIN=$((N * CHURN_PCT / 100))
log() { printf '%s soak: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

BIN="$OUT/ionbus"
(cd "$ROOT" && go build -o "$BIN" ./cmd/ionbus)

SERVER_PID="" CHURN_PID="" RSS_PID=""
cleanup() {
	for p in $CHURN_PID $RSS_PID; do kill "$p" 2>/dev/null || true; done
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" serve --profile bench --listen "127.0.0.1:$PORT" --api-listen "127.0.0.1:$API" >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	curl -fsS -m 1 "http://127.0.0.1:$PORT/socket.io/?EIO=4&transport=polling" 2>/dev/null | grep -q '^0{' && break
	sleep 0.1
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
{ # server RSS (KiB) and open sockets once a minute
	printf 'elapsed_s\trss_kib\tsockets\n'
	start=$SECONDS
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		socks=$(curl -fsS -m 2 "http://127.0.0.1:$API/api/v1/stats" 2>/dev/null | grep -o '"sockets":[0-9]*' | head -1 | cut -d: -f2)
		printf '%s\t%s\t%s\n' $((SECONDS - start)) "$(rss_kib)" "${socks:-?}"
		sleep 60
	done
} >"$OUT/rss.tsv" &
RSS_PID=$!

log "server pid $SERVER_PID, $N receivers, $ROUNDS broadcasts every $INTERVAL, churn $CHURN_PER_MIN/min, out $OUT"
if [ "$CHURN_PER_MIN" -gt 0 ]; then
	# Each cycle holds its socket 60 s, so about CHURN_PER_MIN are open at once.
	rate=$(awk -v c="$CHURN_PER_MIN" 'BEGIN { printf "%.3f", c / 60 }')
	timeout $((DUR_S + 300)) "$BIN" bench churn --url "http://127.0.0.1:$PORT" --source-ips 127.0.0.3 \
		--rate "$rate" --concurrency $((CHURN_PER_MIN + 20)) --hold 60s --duration "${DUR_S}s" \
		--progress off --json "$OUT/churn.json" >"$OUT/churn.txt" 2>&1 &
	CHURN_PID=$!
fi

set +e
timeout $((DUR_S + 600)) "$BIN" bench fanout --url "http://127.0.0.1:$PORT" --api "http://127.0.0.1:$API" \
	--source-ips "$SOURCE_IPS" -n "$N" --rate 2000 --broadcasts "$ROUNDS" --interval "$INTERVAL" \
	--server-pid "$SERVER_PID" --duration "$((DUR_S + 500))s" --progress off \
	--json "$OUT/soak.json" --expect 'dropped=0,missing=0,duplicates=0' >"$OUT/soak.txt" 2>&1
rc=$?
set -e
[ -z "$CHURN_PID" ] || wait "$CHURN_PID" || true
printf '%s\t%s\tend\n' "-" "$(rss_kib)" >>"$OUT/rss.tsv"
cat "$OUT/soak.txt"
[ -z "$CHURN_PID" ] || tail -n 15 "$OUT/churn.txt"
cat "$OUT/rss.tsv"
log "fanout exit $rc (0: dropped=0, missing=0, duplicates=0)"
exit $rc
