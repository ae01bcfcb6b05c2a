// Package broker implements Socket.IO v5 semantics on top of the Engine.IO
// sessions of package connection: namespaces (static and pattern-matched),
// sockets, rooms, acknowledgements in both directions, the middleware
// chain, connection state recovery, and the broadcast API
// (srv.To("room").Except("other").Emit(...)).
//
// Who calls it: package node builds a Server from its configuration and
// mounts it on the public HTTP listener; embedders do the same. The
// Engine.IO layer calls it through connection.Handler; the adapter calls it
// through adapter.Handler with what other nodes publish.
//
// The path of a broadcast: Broadcast.Emit encodes the packet once
// (protocol.Encode), namespace.match copies the target sockets under the
// namespace read lock, the lock is released, and the same
// connection.Message values are queued on every target session (their
// wire frames are built once and shared). Then the adapter publishes the
// packet once to the other nodes, which run the same local delivery.
//
// Concurrency: every exported method is safe for concurrent use. Handler
// callbacks for one socket (middlewares, connection handlers, event
// handlers, disconnect handlers) run one at a time on the Engine.IO
// session's callback; handlers of different sockets run in parallel.
// Nothing in this package blocks on a socket: Conn.Send only enqueues. A
// CONNECT whose middleware chain holds a blocking middleware
// (Namespace.UseBlocking: a network call) runs the chain on a goroutine
// of its own and comes back to the session's callback through Conn.Do,
// so it holds no Engine.IO worker.
//
// Lock order (never take an earlier lock while holding a later one):
//
//	Server.mu -> Namespace.hmu -> client.mu -> Socket.mu -> Namespace.mu -> recovery.mu
//
// Socket.mu is never held while calling into Namespace room index
// methods; no lock is held while sending, publishing, or running user
// handlers.
//
// Shutdown order (Server.Shutdown): refuse new sessions, close every
// Engine.IO session (websocket close 1001 so clients reconnect elsewhere;
// handlers see "server shutting down"), wait for the closes within ctx,
// then close the adapter (its subscriptions and Redis connections).
package broker
