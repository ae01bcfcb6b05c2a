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
//	GET  /api/v1/nodes         every node's summary (Nodes.Gather), cluster-wide
//	GET  /dashboard            the built-in dashboard (HTML, dashboard.html); GET
//	                           /dashboard/nodes is the JSON it polls
//
// Every /api/v1 route needs "Authorization: Bearer <Config.Key>" (compared
// in constant time). An empty Key refuses every /api/v1 request unless
// Config.Insecure is set, so a forgotten key fails closed. The dashboard
// signs a browser in with the key once (its form or ?key=) and then
// accepts the DashboardCookie (an HMAC of the key), on /dashboard only.
//
// GET /api/v1/nodes asks the other nodes with a server-side emit with ack
// (EventNodeStats on "/"), bounded by timeout_ms (DefaultNodesTimeout);
// New (or NewNodes) registers the answer, so every node that serves the
// API answers the others.
//
// Who calls it: package node mounts the handler on api.listen; embedders may
// mount it on any http.Server. The handler only calls the public broker
// API (Of, To, Except, Emit, EmitWithAck, FetchSockets, DisconnectSockets,
// ServerSideEmitWithAck, OnServerEvent, Stats), so it behaves exactly like
// application code on the node.
//
// Concurrency: the handler is safe for concurrent use and keeps no state
// besides its configuration. Request bodies are limited to MaxBodyBytes.
package api
