// Package api is the HTTP server API of an ionbus node: a JSON interface
// for backends and operators, served on its own listener (never on the
// public Socket.IO listener).
//
// Routes (all JSON; errors are {"error":{"code":"…","message":"…"}}):
//
//	GET  /healthz              200 ok; 503 degraded (adapter lost Redis) or draining; no key
//	GET  /readyz               200 once serving, 503 while starting or draining; no key
//	POST /api/v1/emit          broadcast an event (optionally with acks)
//	GET  /api/v1/stats         broker and Engine.IO counters, runtime (goroutines, heap, RSS) of this node
//	GET  /api/v1/sockets       sockets of a namespace/rooms, cluster-wide
//	POST /api/v1/disconnect    disconnect the sockets of a namespace/rooms
//
// Every /api/v1 route needs "Authorization: Bearer <Config.Key>" (compared
// in constant time). An empty Key refuses every /api/v1 request unless
// Config.Insecure is set, so a forgotten key fails closed.
//
// Who calls it: package node mounts the handler on api.listen; embedders may
// mount it on any http.Server. The handler only calls the public broker
// API (Of, To, Except, Emit, EmitWithAck, FetchSockets, DisconnectSockets,
// Stats), so it behaves exactly like application code on the node.
//
// Concurrency: the handler is safe for concurrent use and keeps no state
// besides its configuration. Request bodies are limited to MaxBodyBytes.
package api
