// Package bench is `ionbus bench`: a load generator for any Socket.IO v4
// server (Engine.IO v4 + Socket.IO v5), ionbus or Node's socket.io, so both
// can be measured with one client. cmd/ionbus calls Main; nothing else
// imports this package, and it does not import broker or connection: it
// speaks the protocol itself (codec.go) so it measures the wire, not our code.
//
// # Modes
//
//   - idle: open N sockets at --rate, hold them, report connect latency,
//     failures by reason, heartbeats answered, server RSS per socket and CPU
//     during the hold (--server-pid).
//   - fanout: N receivers join a room (--join-event, default join_room with
//     {"room_name":..}, acked or answered with room_joined) and K broadcasts
//     are triggered through the HTTP API (POST /api/v1/emit) or a client event.
//     Each broadcast carries {"seq":k,"t":<unix ns>}; receivers measure
//     delivery latency against t, and a per-receiver bitset finds missing and
//     duplicate seqs. Per round: all-delivered time (send → last receiver).
//   - echo: closed-loop emit-with-ack round trips (--inflight per socket).
//   - churn: connect → hold → disconnect cycles at a rate, capped concurrency.
//
// # Client cost
//
// Each socket is a websocket (gobwas/ws Dialer, hand-rolled masked frames;
// with --deflate it offers permessage-deflate without context takeover and
// inflates compressed messages, sending its own uncompressed)
// or an HTTP long-polling session, plus one read goroutine with a 512-byte
// bufio.Reader. The read goroutine answers Engine.IO pings ("2" → "3") and
// websocket pings, decodes only what the mode needs (the fanout stamp is
// found without a JSON decode) and, in echo mode, sends the next emit, so
// no mode needs a second goroutine per socket. Measured (19,000 idle
// websockets, against ionbus and the Node peer): the bench grows by
// 139–144 MiB RSS, ≈7.7–8.0 KiB per socket, of which ≈6.3 KiB is Go heap
// and goroutine stacks — 20,000 sockets fit in one process with room to
// spare. A polling socket costs more: an HTTP request in flight, a second
// keep-alive connection for POSTs (two file descriptors) and net/http's
// per-connection goroutines.
//
// # Concurrency and bounds
//
// Writes to one socket are serialised by the transport's mutex (pong from
// the read goroutine, emits from the driver). Counters are atomics;
// histograms are lock-free. Every loop is bounded: the ramp by N and
// --timeout per dial, holds and runs by --hold/--duration, the fanout drain
// by --drain, the close of all sockets by a 15 s guard; the overall run by
// --duration (idle/fanout: a 10-minute cap by default). Cancelling the ctx
// passed to Main ends the run early and still reports.
//
// # Histograms
//
// Histogram is log-bucketed (8 significant bits, ≤0.4% error, fixed 58 KiB)
// and is serialised into the report as sparse buckets, so percentiles of
// merged shards are exact merges, not averages of percentiles.
//
// # Sharding and merging
//
// Several bench processes (or machines sharing a clock, e.g. one host with
// many source IPs) can share a run: give each the same flags plus
// --shard i/n. Shard i takes its share of --clients, --rate, --concurrency
// and every n-th --source-ips address. For fanout, only shard 0 triggers;
// the others listen (--trigger none) for K×--interval+--drain. Start the
// shards together and give shard 0 a --start-delay long enough for the
// other shards to finish joining. Then
//
//	ionbus bench merge --json all.json --expect 'missing=0,p99<250ms' s0.json s1.json ...
//
// adds the counts and rates, merges histograms bucket by bucket and fanout
// rounds by seq (a round's all-delivered time is the latest receive over all
// shards against the embedded send time), and applies --expect to the whole.
//
// # Exit status
//
// 0 ok, 1 an --expect threshold failed, 2 usage error, 3 run error (no
// socket connected, or the report could not be written).
package bench
