// Package bridge is the backend bridge: it carries session-cookie
// authentication, client events and connection lifecycle events from the
// broker to the application backend, written in any language, over one
// HTTP webhook URL and Redis Streams.
//
// # Who calls it
//
// The node builds one Bridge (New) from its backend configuration on the
// shared go-redis client, hands it to access.Config.Authenticator, calls
// Attach for every namespace that authenticates with the backend or
// forwards events (before access.Guard.Attach, which must stay last), then
// Start; it registers Shutdown with broker.Server.OnDrained and Stats with
// broker.Server.AddStats:
//
//	b, _ := bridge.New(cfg, rdb)
//	guard, _ := access.New(access.Config{Verifier: v, Limiter: l, Authenticator: b})
//	for each namespace: b.Attach(ns, rules); guard.Attach(ns, accessRules) // Authenticate: AuthBackend…
//	b.Start(ctx)
//	srv.OnDrained(b.Shutdown)
//	srv.AddStats("bridge", func() any { return b.Stats() })
//
// # Hooks (one URL, JSON POST)
//
// Every request carries Content-Type: application/json, X-Ionbus-Node,
// X-Ionbus-Type (the body's "type") and, when Config.Secret is set,
// X-Ionbus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// t + "." + body)> (Sign, Verify). Only a 2xx answer counts; redirects
// are not followed. Request and answer bodies are bounded by
// MaxBodyBytes, answers must be one JSON object nested at most
// MaxJSONDepth deep. Anything else (down, Timeout, non-2xx, too big,
// not JSON, wrong types) is a failure: the client sees
// BACKEND_UNAVAILABLE with retry_possible true, Stats.Failures counts it
// by kind, and a warning is logged at most once per 10 s per kind
// (backend host, hook, kind, status — never bodies, cookies or tokens).
// MaxInflight bounds the requests in flight on the node, all hooks
// together; the wait for a slot counts against Timeout.
//
// connect — access.Guard calls Authenticate from its admission
// middleware, where a JWT would be verified (access.AuthBackend, or
// access.AuthJWTOrBackend without a valid JWT):
//
//	{"type":"connect","namespace":"/","sid":"<socket id>","node":"n1","transport":"polling",
//	 "address":"203.0.113.7","headers":{"cookie":"session=…"},"auth":{…},"query":{"room":"x"}}
//
// headers are the ForwardHeaders present, lower-case, repeated values
// joined (", ", cookies "; "); auth is the CONNECT payload without pid
// and offset (connection state recovery's); query is the first value of
// each parameter except Engine.IO's own (EIO, transport, t, sid, j, b64).
// The answer admits, {"user":{"id","name","roles":[…], …},"data":…,
// "rooms":[…]}, or refuses, {"error":{"code","message","data"}}. The
// user becomes the socket's *auth.Identity (Claims: the whole user
// object, shared read-only by the sockets of one cached answer), stored
// under access.IdentityKey like a JWT's, so access levels, roles, limits,
// presence and {user} templates apply unchanged; data becomes the
// socket's data (Socket.SetData) and rooms are joined once the socket is
// connected. A refusal reaches the client through the guard: CONNECT_ERROR
// "Authentication failed" {code, message, details}, or the auth_error
// compatibility event. A user without an id is garbage.
//
// Identical connects (same namespace, forwarded header values, auth and
// query; SHA-256 of them) share one answer: requests in flight are
// coalesced, and answers, refusals included, are cached for CacheTTL
// (at most CacheSize, least recently used evicted). Failures are never
// cached.
//
// refresh — every RefreshInterval (0: off) for each socket the backend
// admitted: {"type":"refresh","namespace","sid","user":{"id","name",
// "roles"},"headers","auth"}. An error answer emits the standard error
// event and disconnects the socket; a user (same id) replaces the
// identity and data the socket data; an unusable answer keeps the
// socket. To end a user's sessions at once, use the HTTP API's disconnect
// of room user:<id> (with auto_join user:{user}).
//
// event — client events matching an EventRule routed ViaHTTP:
//
//	{"type":"event","namespace":"/","event":"pause_job","args":[…],"ack":true,
//	 "socket":{"id":"…","user":{"id","name","roles"}|null,"rooms":["<sid>",…],"data":…}}
//
// The answer may hold "join" and "leave" (room lists, applied directly:
// the backend is trusted), "emit" ([{"event","args"}], sent to the calling
// socket in order) and "ack" (the ack's arguments), applied in that order,
// the ack last; or "error" {"code","message","data"} alone, which the
// client receives as the standard error event (access.ErrorPayload:
// error_code, error_message, error_details {event, data}, retry_possible,
// timestamp) and, when it asked for an ack, as the ack's first argument.
// An acked event is always acked (with no arguments when "ack" is absent).
//
// lifecycle — with Lifecycle.Webhook, every written batch:
// {"type":"lifecycle","events":[LifeEvent…]}, retried with exponential
// backoff (100 ms to 10 s) for at most RetryFor.
//
// # Client events
//
// Attach registers each rule with broker.Namespace.OnMatch: an event is
// forwarded only when nothing else handles it (a socket or namespace
// handler, built-in events such as join_room, presence:list or
// auth:refresh), by the first rule one of whose Match entries (a name,
// or a glob where '*' matches any run of characters) matches it. Event
// middlewares (the guard's rate and size limits) run first.
//
// The events of one socket reach the backend in the order sent, both
// routes mixed: the broker handler only appends the event to the socket's
// FIFO and returns; one worker goroutine per socket, started when the
// queue becomes non-empty and gone when it empties (an idle socket has
// none), sends them one at a time. A socket with MaxInflightPerSocket
// events queued or in flight gets BACKEND_BUSY (retry_possible true) for
// the next one at once; nothing queues without bound. An event too large
// for MaxBodyBytes gets MESSAGE_TOO_LARGE.
//
// ViaStream events are added with XADD <Stream.Key> MAXLEN ~ <MaxLen> *
// and the fields type ("event"), namespace, event, args (JSON text),
// ack ("true"/"false"), socket (JSON text, as above), node, time
// (RFC 3339 with nanoseconds, UTC): at least once. The ack, when asked,
// confirms the enqueue: [{"ok":true,"id":"<entry id>"}]; a failed XADD
// answers BACKEND_UNAVAILABLE. XADDs are group-committed (streambatch.go):
// those of all sockets that arrive while a pipeline is in flight go out
// together in the next one (at most 512), in submission order.
//
// Binary arguments travel in JSON as {"_binary":true,"base64":"<standard
// base64>"}, in requests and stream entries; the same objects in an
// answer's emit and ack arguments are sent to the client as binary
// attachments.
//
// # Lifecycle events (Lifecycle.Stream set; Redis required)
//
// connect, disconnect (reason: the broker's, e.g. "transport close",
// "server shutting down", or "node dead"), join and leave (room
// changes, those made at connect included: auto_join, the connect
// answer's rooms; a disconnect implies leaving every room), online and
// offline (the first socket of a user in a namespace on the cluster, the
// last one gone; anonymous sockets have none; an offline a sweep writes
// carries reason "node dead" too) are XADDed to the stream
// (MAXLEN ~ Lifecycle.MaxLen) with the fields of LifeEvent: type,
// namespace, sid, user, room, reason, node, time, id. Per socket they are
// in order. Delivery is at least once: dedupe on id. A socket's ids are
// "<node>:<boot>:<n>:<type>" ("…:join:<k>" for rooms), so the disconnect
// (and offline) written by a sweep carries the same id as one its own node
// writes late.
//
// The hooks only buffer (BufferSize; a full buffer drops and counts,
// Stats.Lifecycle.Dropped); one goroutine writes batches of BatchSize (or
// what FlushInterval gathered) with one Lua script (lua/record.lua), which
// also keeps this node's live sockets in the hash <prefix>:{<tag>}:sockets:<node>
// (sid -> {"namespace","sid","user","tag"}) and the users' cluster-wide
// socket counts in <prefix>:{<tag>}:users, from which online and offline
// follow atomically across nodes. A failed write is retried with backoff.
//
// Node death: every NodeTTL/3 a node refreshes its heartbeat
// (<prefix>:{<tag>}:hb:<node>, PX NodeTTL) and runs lua/sweep.lua, which, for
// every node of <prefix>:{<tag>}:nodes whose heartbeat is gone, takes each
// socket from its hash and adds its disconnect (reason "node dead") and
// the offline due — each socket exactly once however many nodes sweep at
// the same time. A node that finds its own heartbeat lapsed registers its
// live sockets again under new ids (connect and joins again: a consumer
// may see a connect twice). Shutdown writes the buffered events (the
// disconnects of the sockets the broker just closed), deletes the
// heartbeat and, when every disconnect was written, the hash; sockets
// left over are swept by the other nodes.
//
// Keys share one Redis Cluster slot with the lifecycle stream: <tag> is
// the stream key's hash tag, or the whole key when it has none (which
// Redis hashes the same), so the scripts work on Redis Cluster.
//
// # Goroutines, blocking, locks
//
// All methods are safe for concurrent use. Authenticate blocks its
// caller for at most Timeout; the guard runs it as a blocking middleware
// (broker.Namespace.UseBlocking), off the Engine.IO worker, so a slow
// backend delays only the connects that wait for it, and other sessions
// are served meanwhile. Event hooks never block the session callback. Goroutines: one worker per socket with queued events,
// one stream flusher while XADDs wait,
// one per refresh call, and between Start and Shutdown the lifecycle
// writer, the webhook sender and the heartbeat/sweep loop; all are
// counted and waited for by Shutdown.
//
// Lock order: Bridge.stateMu -> socketState.mu -> broker locks (Socket
// methods). The connect cache's mutex and the hook semaphore are leaves.
// No lock is held during HTTP or Redis I/O; buffering a lifecycle event
// under socketState.mu never blocks.
package bridge
