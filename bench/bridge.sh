#!/usr/bin/env bash
# bridge.sh — the backend bridge's costs on one node, measured with
# `ionbus bench` against `ionbus serve` and bench/bridge-backend.js (Node,
# signature checked on every request):
#
#   1. added latency per forwarded event: echo acks answered in process
#      (the bench profile's "echo"), by the backend over HTTP ("fwd_http",
#      via: http) and by the enqueue ("fwd_stream", via: stream, XADD);
#   2. forwarded events per second per node, many senders;
#   3. the connect hook per connection: a storm of N connects to a public
#      namespace (no hook), then to one that authenticates through the
#      backend, each socket with its own session cookie, with the cache
#      off, cold and warm (the same sessions again within cache_ttl).
#
#   bench/bridge.sh                 # defaults below
#   STORM_N=10000 bench/bridge.sh
#
# Knobs (env):  ECHO_N 20 (senders), ECHO_DURATION 10s, TPUT_N 200,
#               TPUT_INFLIGHT 8, STORM_N 10000, STORM_RATE 10000,
#               OUT (reports: $OUT/<scenario>.json; default a new temp dir)
# Needs go, node >= 18, redis-server. Starts its own redis-server, backend
# and ionbus on free loopback ports; stops them by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ECHO_N=${ECHO_N:-20}
ECHO_DURATION=${ECHO_DURATION:-10s}
TPUT_N=${TPUT_N:-200}
TPUT_INFLIGHT=${TPUT_INFLIGHT:-8}
STORM_N=${STORM_N:-10000}
STORM_RATE=${STORM_RATE:-10000}
OUT=${OUT:-$(mktemp -d -t ionbus-bridge-XXXXXX)}
SECRET=bench-bridge-secret

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

BIN="$OUT/ionbus"
(cd "$ROOT" && go build -o "$BIN" ./cmd/ionbus)
ulimit -n 20000 2>/dev/null || true

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT"

BACKEND_PORT=$(free_port)
PORT=$BACKEND_PORT IONBUS_BACKEND_SECRET=$SECRET node "$HERE/bridge-backend.js" >"$OUT/backend.out" 2>"$OUT/backend.log" &
PIDS+=($!)
BACKEND_PID=$!
wait_port "$BACKEND_PORT"

PORT=$(free_port)
API_PORT=$(free_port)
# start_ionbus CACHE_TTL: a fresh node with the bridge, the bench profile's echo
start_ionbus() {
  cat >"$OUT/ionbus.yaml" <<YAML
listen: "127.0.0.1:$PORT"
api: {listen: "127.0.0.1:$API_PORT", insecure: true}
redis: {url: "redis://127.0.0.1:$REDIS_PORT", key: bridge-bench}
backend:
  url: "http://127.0.0.1:$BACKEND_PORT/ionbus"
  cache_ttl: $1
namespaces:
  - name: /
    rooms: {allow: ["*"]}
    events:
      - {match: [fwd_http], via: http}
      - {match: [fwd_stream], via: stream}
  - name: /auth
    access: authenticated
    authenticate: backend
YAML
  IONBUS_BACKEND_SECRET=$SECRET "$BIN" serve --profile bench --config "$OUT/ionbus.yaml" 2>"$OUT/ionbus.log" &
  IONBUS_PID=$!
  PIDS+=($IONBUS_PID)
  wait_port "$PORT"
}
stop_ionbus() { kill -TERM "$IONBUS_PID"; wait "$IONBUS_PID" 2>/dev/null || true; }
bench() { # name, args...
  local name=$1; shift
  echo "== $name: ionbus bench $*"
  timeout 300 "$BIN" bench "$@" --url "http://127.0.0.1:$PORT" --server-pid "$IONBUS_PID" \
    --progress off --json "$OUT/$name.json" | tee "$OUT/$name.txt"
}
connects() { curl -s "http://127.0.0.1:$BACKEND_PORT/counts"; echo; }

start_ionbus 10s
for ev in echo fwd_http fwd_stream; do
  bench "latency-$ev" echo -n "$ECHO_N" --duration "$ECHO_DURATION" --echo-event "$ev"
done
for ev in echo fwd_http fwd_stream; do
  bench "throughput-$ev" echo -n "$TPUT_N" --inflight "$TPUT_INFLIGHT" --duration "$ECHO_DURATION" --echo-event "$ev"
done
echo "backend counts: $(connects)"
stop_ionbus

# cpu_ms PID: user+system CPU time of the process so far, in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }
storm() { # name, namespace
  local i0 b0
  i0=$(cpu_ms "$IONBUS_PID"); b0=$(cpu_ms "$BACKEND_PID")
  bench "$1" idle -n "$STORM_N" --rate "$STORM_RATE" --hold 1s --namespace "$2" \
    --header 'Cookie: session=s{i}' --source-ips 127.0.0.1,127.0.0.2
  local di=$(( $(cpu_ms "$IONBUS_PID") - i0 )) db=$(( $(cpu_ms "$BACKEND_PID") - b0 ))
  echo "CPU during $1 (connects, 1s hold, disconnects): ionbus ${di} ms = $(( di * 1000 / STORM_N )) µs/connection, backend ${db} ms = $(( db * 1000 / STORM_N )) µs/connection"
  echo "backend counts after $1: $(connects)"
}
start_ionbus 0
storm storm-public /
storm storm-hook-nocache /auth
stop_ionbus
start_ionbus 1m
storm storm-hook-cache-cold /auth
storm storm-hook-cache-warm /auth
stop_ionbus
echo "reports in $OUT"
