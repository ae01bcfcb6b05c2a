// Package metrics is the Prometheus side of an ionbus node: one registry
// per node, served as GET /metrics on api.listen by package node.
//
// What it owns: the registry (Go runtime and process collectors, a
// collector that reads the node's existing counters at scrape time, and
// the latency histograms) and the names of every metric. It is the only
// package that imports client_golang; the packages it observes expose
// plain hooks instead (broker.Config.ObserveConnect/ObserveBroadcast,
// redisadapter.Config.ObservePublish/ObserveRequest,
// bridge.Config.ObserveHook), which package node wires to the Observe
// methods here.
//
// Counters are not double-counted: the collector turns the snapshots the
// components already keep for GET /api/v1/stats (broker.Server.Stats,
// connection.Server.Stats, access.Guard.Stats, redisadapter.Adapter.Stats,
// bridge.Bridge.Stats, online.Online.Stats, the listener's) into const
// metrics on each scrape, so the hot paths pay nothing for them. Gauges
// that need a walk over the sockets (sockets by transport, queued bytes)
// are computed at scrape time too, linear in the number of sessions.
// Histograms are observed on the hot path, once per operation, without
// allocation (label values are resolved to observers once, in New).
//
// Labels are of bounded cardinality only: namespace, transport, reason,
// code, hook, kind, result. Never a room, user or socket id.
//
// Who calls it: package node (New, then Register once the components
// exist; Handler on api.listen). Embedders may add their own collectors
// to Registry.
//
// Concurrency: every method is safe for concurrent use. Collect holds no
// lock of its own; it calls the Stats methods, which take the components'
// locks briefly.
package metrics
