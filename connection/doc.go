// Package connection is the Engine.IO v4 server of ionbus: sockets on the
// wire. It owns the HTTP long-polling transport, the websocket transport
// (gobwas/ws, hijacked from net/http), the polling -> websocket upgrade
// ("2probe"/"3probe", "6" to the pending GET, "5"), the Engine.IO packet and
// payload codecs, the heartbeat, CORS for polling, and each session's bounded
// outbound queue. What it exposes is a session (Conn): "a message pipe with a
// heartbeat". Nothing above it sees frames, fds or transports; gobwas types
// never leave the package.
//
// Who calls it: broker builds a Server with New(cfg, handler), mounts it on
// Config.Path (it is an http.Handler) and calls Shutdown when stopping.
// Handler receives OnOpen / OnMessage / OnClose per session.
//
// # Goroutine safety
//
//   - New: call once. Server.ServeHTTP, Len, Stats, Shutdown: safe for
//     concurrent use. Shutdown blocks until every OnClose returned and
//     internal goroutines ended, or ctx ends; it is idempotent.
//   - Conn (all methods): safe for concurrent use, never block on the
//     network. Send only enqueues; Close only starts the close.
//   - Handler: calls for one session are serialized (OnOpen, then OnMessage
//     in arrival order, then exactly one OnClose); calls for different
//     sessions run concurrently. Callbacks run on the goroutine that read
//     the data (a poller worker or the websocket's reader goroutine, the
//     POST request, the handshake request for OnOpen) or, when one is
//     already running or the event comes from elsewhere (close by the
//     heartbeat, a failed write, Shutdown), on a short-lived tracked
//     goroutine. A
//     handler may call Send and Close on any Conn, including its own,
//     from inside a callback. A panic in a callback is
//     recovered, logged and counted (Stats.HandlerPanics), and closes that
//     session with CloseServerClose.
//   - Message: a *Message may be sent to many sessions at once; its wire
//     forms (websocket frame, polling form, and the permessage-deflate
//     frame once a socket that negotiated it is sent the message) are built
//     once on first use (compare-and-swap) and shared. Do not modify it
//     after the first Send.
//
// # Compression
//
// Polling responses of at least HTTPCompression.Threshold bytes are sent
// gzip- or deflate-encoded as the request's Accept-Encoding allows, with
// pooled compressors. PerMessageDeflate (off by default) accepts the
// websocket extension without context takeover either way: compressed
// frames are stateless, so a broadcast is compressed once for all its
// sockets, inbound messages are inflated with pooled readers (bounded by
// MaxPayload after decompression), and an idle socket holds no
// compressor or buffer.
//
// # Mounting
//
// A polling GET is held open until there is something to send (at most
// PingInterval, when the ping goes out); each response sets its own write
// deadline (Config.WriteTimeout), so an http.Server WriteTimeout shorter
// than PingInterval is overridden for these responses. Websockets are
// hijacked: HTTP/2 cannot carry them (use HTTP/1.1 for upgrades).
//
// # Buffer ownership
//
//   - OnMessage's m.Data is valid only during the call: it aliases the
//     reader's reusable buffer (websocket) or the request body (polling).
//     Copy it to keep it.
//   - Send keeps a reference to each *Message and its Data until the frame
//     is written; the caller must not modify them afterwards.
//   - Server frames are unmasked, so one frame slice serves every
//     websocket; a flush hands the queued frames to one writev
//     (net.Buffers).
//
// # Outbound queue
//
// Each session's queue is bounded by Config.MaxQueueBytes (message data
// bytes). A Send of several messages is enqueued atomically. Past the bound
// the session closes with CloseSlowConsumer (ErrQueueFull); a volatile
// message is dropped (ErrDropped) when the session is congested: something
// is already queued or being written, or polling has no pending GET. Bytes
// taken by the writer but not yet on the wire still count against the
// bound, so a stalled peer holds at most MaxQueueBytes.
//
// Writing (flusher.go): a Send to an idle poller-owned websocket sets
// session.flushing and pushes the session on one ready queue, drained by
// GOMAXPROCS flusher workers; a Send to a session already scheduled only
// appends. A worker takes everything the session has queued and writes it
// with one non-blocking writev, so frames that piled up while the session
// waited its turn leave together (Stats.FlushWrites counts the writes). On
// EAGAIN the remainder stays with the session, EPOLLOUT is armed and the
// worker moves on; the writable event pushes the session back, and a timer
// ends it (CloseTransportError) if the socket stays full for WriteTimeout
// (Stats.WritesBlocked). No worker waits on a socket, and a broadcast to N
// idle websockets costs N queue pushes, not N goroutines. Websockets read
// by goroutines (TLS in process, DisablePoller, non-Linux) keep a flush
// goroutine started when something is queued, writing with a blocking
// writev under WriteTimeout. Idle sessions hold no writer and no write
// buffer.
//
// # Heartbeat
//
// One hashed timing wheel (heartbeat.go) with one goroutine serves every
// session: ping every PingInterval, close with ClosePingTimeout when no
// packet arrived within PingTimeout after a ping; the next ping is
// PingInterval after the pong, as in the reference. Inbound packets only
// flip an atomic flag. Config.Now injects the clock. The pong deadline
// counts from when the ping was due (the wheel sends it up to two ticks
// later), and a request for a session past its deadline closes it at once
// (ClosePingTimeout, "Session ID unknown") rather than waiting for the next
// tick, so timeouts are as exact as the reference's timers.
//
// # Reading
//
// Both readers feed bytes to the same incremental frameParser (frame.go),
// which keeps per-socket partial state (header bytes, frame remainder,
// fragmented message), and hand complete messages to onWSMessage (or
// onProbeMessage during an upgrade). Only the readiness part differs:
//
//   - Linux, plain TCP (poller_linux.go): after the websocket handshake the
//     fd is duplicated, made non-blocking and registered with epoll
//     (EPOLLIN|EPOLLRDHUP|EPOLLONESHOT); the Go net.Conn is closed. One loop
//     goroutine waits in epoll_wait and hands ready fds to Config.Workers
//     workers, which read into a pooled 32 KiB buffer, parse, run the
//     handler callbacks, and re-arm. A half frame sent slowly only leaves
//     state in the parser: it pins no worker and no goroutine. Idle
//     websockets hold no goroutine and no read buffer. Writes go through
//     the flusher pool (see Outbound queue). A polling request
//     for a session being upgraded first drains, on its own goroutine,
//     what the probe websocket already received ("2probe", "5"), so it is
//     answered in arrival order even when no worker is free.
//   - Elsewhere, with TLS terminated in this process, or with
//     Config.DisablePoller (poller_other.go / readLoop): one goroutine per
//     websocket blocks in read on the hijacked bufio.Reader.
//
// # Close order
//
// closeWith marks the session closing (once), unregisters it, cancels its
// heartbeat and posts OnClose behind any in-flight OnMessage (OnClose runs
// right away; it does not wait for the peer). A websocket then gets its
// queued frames plus a close frame (1001 on shutdown, 1009 too large, 1007
// invalid UTF-8, 1002 protocol error, 1008 slow consumer, 1000 otherwise)
// before the TCP connection is closed. On polling, as in the reference:
// queued messages go out alone on the next GET and "1" on the GET after it
// (the JS client dispatches Socket.IO packets a tick late, so a "1" in the
// same payload would overtake a final DISCONNECT); with nothing queued the
// GET gets "1" ("6" when the client closed). Until then the closed session
// "lingers": it is not counted by Len, POSTs get "ok" and are ignored, and
// it is dropped after PingTimeout at the latest. Engine-side closes with
// nothing to deliver (ping timeout, parse error, overlapping GET, aborted
// GET) drop the session at once, so the next request gets 400 "Session ID
// unknown". Slow consumers and broken transports drop their queue. A POST
// over MaxPayload gets 413 and the session lives (reference behaviour); a
// websocket message over MaxPayload closes it (CloseTooLarge, 1009). A
// websocket for a session already upgraded or being probed is accepted and
// closed at once with 1000, as in the reference; the session is unaffected.
//
// # Lock order
//
// Server.mu (registry) -> nothing else held. session.mu and session.cbMu
// are never held together and never while calling the Handler. wheel.mu is
// a leaf (session.mu is never taken under it). Poller: wsConn.readMu (one
// reader at a time; held while the worker runs callbacks) may be followed
// by session locks; pollConn.evMu -> pollConn.fdMu (R); poller.mu is a
// leaf. session.mu -> flusher.mu (Send and closeWith push under
// session.mu); flusher.mu is a leaf, and workers run sessions with it
// released. pollConn.evMu is released before a writable event pushes a
// session. fdMu is held (R) across a single non-blocking
// syscall on the fd and (W) to close it, so a closed fd number is never
// reused under a reader. No lock is held across blocking network I/O; the
// single writer per websocket (the flusher worker holding
// session.flushing, or the flush goroutine) is the only writer after the
// upgrade (the probe reader writes before it, with short poll(2) waits).
package connection
