// Package online wires presence (package presence) into the broker: who is
// online per namespace and room, across the nodes of a cluster.
//
// # What it owns
//
//   - Hooks on each configured namespace (for Config.Patterns, on the
//     pattern parent, whose children inherit them; each child is its own
//     presence scope): OnConnection records the socket
//     in the namespace room (presence.NamespaceRoom, "") when
//     NamespaceRules.Track.Namespace is set; OnJoin/OnLeave record the rooms
//     matching NamespaceRules.Track.Rooms; the socket's OnDisconnect removes
//     the namespace room (the broker's OnLeave already fires for every room
//     on disconnect). A recovered socket's rooms are recorded in
//     OnConnection, since the broker restores them without OnJoin.
//   - The event queue: the tracker's OnEvent hands presence:join/leave/update
//     to a bounded queue drained by one goroutine, which broadcasts each to
//     the room on every node (srv.Resolve(ns).To(room).Emit, or the whole
//     namespace for namespace presence). Overflow drops and counts.
//   - Client events, on every socket of the configured namespaces:
//     presence:list, presence:count, presence:update (see codes.go for the
//     error event and ack shapes).
//   - Handler: GET /api/v1/presence and /api/v1/presence/count; List and
//     Count for embedders.
//
// # Why Online builds the tracker
//
// presence.Tracker fixes its Rules and OnEvent at construction. Both must
// agree with Online: the rules with the hooks attached per namespace, and
// OnEvent with Online's queue. Building the tracker inside New from
// Config.Presence and Config.Namespaces removes the construction cycle
// (tracker needs Online's queue, Online needs the tracker) and the chance
// of a tracker whose rules differ from the attached namespaces.
//
// # Usage
//
//	store, _ := presence.NewRedis(rdb, pcfg)  // or presence.NewMemory(pcfg)
//	on, _ := online.New(online.Config{Presence: pcfg, Namespaces: ..., Identify: ...}, store, srv)
//	on.Start(ctx)
//	apiMux.Handle("/api/v1/presence", on.Handler()) // and /api/v1/presence/count
//	srv.OnDrained(on.Shutdown) // runs after sessions close, before the adapter closes
//	...
//	srv.Shutdown(ctx)
//
// # Blocking and goroutines
//
// Hooks and client events call the store on the socket's callback,
// bounded by Config.CallTimeout; concurrent calls share Redis round trips
// (presence batches). A store failure is logged and counted
// (Stats.StoreErrors) and never refuses or disconnects the socket. Online
// runs two goroutines between Start and Shutdown: the event drain and
// presence.Tracker.Run (heartbeat and sweep). All methods are safe for
// concurrent use. Online's only lock orders goroutine starts against
// Shutdown and is never held during I/O; per-socket state lives
// in Socket.Set under the key stateKey{}.
//
// # Identity
//
// Config.Identify runs once per socket, after the namespace middlewares
// (so it can read what an auth middleware stored with Socket.Set). An empty
// user id is anonymous: the socket is counted by its id, like presence does.
package online
