// Package system emits built-in system events to clients: the periodic
// events the API documents of the served applications describe
// (system:health, system:metrics, system_status_update), configured in
// node's system_events.
//
// Each event is emitted by one node per interval for the whole cluster:
// every node ticks, and the one holding the event's Redis lease (SET NX
// PX, renewed each tick, lua/lease.lua) emits; a node that stops releases
// its leases, one that dies is replaced within about three intervals.
// With Redis unreachable no broadcast crosses nodes anyway, so each node
// emits to its own clients. In memory mode (no Redis) the single node
// emits.
//
// The figures come from the node and the cluster (Config.Cluster: the
// sockets of every node, gathered with a server-side emit; Config.RedisUp:
// the adapter's state), the host (host.go: /proc/stat deltas, loadavg,
// meminfo, net/dev, statfs), and the backend: services posted to
// PathServices (Handler) are merged into system:health's "services",
// kept cluster-wide in one Redis hash with expiry (memory without Redis).
//
// Who calls it: package node builds it from system_events, starts it
// after the broker and stops it during its shutdown (step 2), then the
// Redis client closes. Nothing runs when no event is configured.
//
// Concurrency: one goroutine per event (a ticker); every Redis call is
// bounded by half the interval. System's methods are safe for concurrent
// use. No lock is held while emitting or calling Redis.
package system
