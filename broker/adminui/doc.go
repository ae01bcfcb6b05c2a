// Package adminui is the server side of the @socket.io/admin-ui protocol
// (the official Admin UI, version 0.5): a namespace ("/admin" by
// default) where the UI connects with an ordinary socket.io-client and
// receives, cluster-wide, what the Node instrument() sends:
//
//   - "config" {supportedFeatures} on connect;
//   - "server_stats" every StatsInterval (2 s) from every node, each with
//     its own serverId, so the UI lists one server per ionbus node;
//   - in development mode: "all_sockets" on connect (every node's sockets,
//     gathered with a server-side emit with ack on the admin namespace),
//     then "socket_connected", "socket_updated" (transport upgrades),
//     "socket_disconnected", "room_joined", "room_left",
//     "event_received" and "event_sent" as they happen on any node;
//
// and it executes the UI's commands "emit", "join", "leave" and
// "_disconnect" (nsp, …, filter) through the broadcast API
// (Namespace.In(filter).SocketsJoin and so on), so they reach the
// sockets of every node. Authentication is the UI's basic auth: the
// CONNECT auth payload {username, password} checked against a bcrypt
// hash, answered with a "session" id the UI presents on its next visit
// (kept in Redis when the node has one, so any node accepts it).
//
// Who calls it: package node builds it from admin_ui.* (New after the
// namespaces are registered, Attach for pattern parents, Start after the
// broker started, Shutdown from broker.Server.OnDrained). It uses only
// the public broker API, and one hook (Server.OnSocketEmit) in
// development mode.
//
// Cost: in production mode nothing runs per socket or per message; the
// stats ticker reads counters and walks the local sockets once per
// interval (to count polling sessions). Development mode adds one
// broadcast to the admin namespace (one Redis PUBLISH in a cluster) per
// connect, disconnect, join, leave, client event and direct emit: meant
// for development and staging, as upstream's mode name says.
//
// Concurrency: every method is safe for concurrent use. Hooks run on the
// goroutines the broker calls them on and never block on a socket; no
// lock of this package is held while emitting. Lock order: AdminUI.mu
// only, never held across a call into broker.
package adminui
