package metrics

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/connection"
	"github.com/ionbus/ionbus/limits"
)

// def is one metric the collector produces on each scrape.
type def struct {
	name   string
	help   string
	gauge  bool
	labels []string
}

// defs are the counters and gauges read from the components' snapshots.
// Counter names end in _total; every one of GET /api/v1/stats has one.
var defs = []def{
	{name: "ionbus_node_info", help: "Always 1; the node_id label is this process's cluster node id.", gauge: true, labels: []string{"node_id"}},
	{name: "ionbus_uptime_seconds", help: "Seconds since the broker was built.", gauge: true},

	// broker (GET /api/v1/stats broker.*)
	{name: "ionbus_clients", help: "Engine.IO sessions with a Socket.IO client on this node.", gauge: true},
	{name: "ionbus_sockets", help: "Connected sockets on this node by namespace and current transport.", gauge: true, labels: []string{"namespace", "transport"}},
	{name: "ionbus_rooms", help: "Named rooms with local members by namespace (socket id rooms not counted), as GET /api/v1/stats namespaces[].rooms.", gauge: true, labels: []string{"namespace"}},
	{name: "ionbus_connects_total", help: "Sockets connected to a namespace."},
	{name: "ionbus_disconnects_total", help: "Sockets disconnected from a namespace."},
	{name: "ionbus_connect_errors_total", help: "CONNECT_ERROR answers (refused namespace connections)."},
	{name: "ionbus_parse_errors_total", help: "Malformed Socket.IO packets."},
	{name: "ionbus_events_received_total", help: "Client events received."},
	{name: "ionbus_events_refused_total", help: "Client events refused by an event middleware (limits, access)."},
	{name: "ionbus_deliveries_total", help: "Packets enqueued to local sockets by broadcasts (one per recipient)."},
	{name: "ionbus_volatile_drops_total", help: "Volatile packets dropped for congested sockets by broadcasts."},
	{name: "ionbus_slow_consumers_total", help: "Broadcast sends refused because the socket's queue was full."},
	{name: "ionbus_publish_errors_total", help: "Broadcasts delivered locally whose publish to the cluster failed."},
	{name: "ionbus_dynamic_namespaces", help: "Namespaces created for pattern names (dynamic_namespaces) that exist on this node.", gauge: true},
	{name: "ionbus_namespaces_refused_total", help: "CONNECTs refused because dynamic_namespaces.max namespaces existed."},

	// engine (GET /api/v1/stats engine.*)
	{name: "ionbus_engine_sessions", help: "Open Engine.IO sessions.", gauge: true},
	{name: "ionbus_engine_queued_bytes", help: "Outbound bytes queued or being written, summed over the open sessions.", gauge: true},
	{name: "ionbus_engine_sessions_opened_total", help: "Engine.IO sessions opened."},
	{name: "ionbus_engine_sessions_closed_total", help: "Engine.IO sessions closed, by close reason.", labels: []string{"reason"}},
	{name: "ionbus_engine_handshake_errors_total", help: "Refused Engine.IO requests by error name (transport_unknown … shutdown).", labels: []string{"code"}},
	{name: "ionbus_engine_slow_consumers_total", help: "Sessions closed because their outbound queue overflowed."},
	{name: "ionbus_engine_volatile_drops_total", help: "Volatile messages dropped on congested sessions."},
	{name: "ionbus_engine_parse_errors_total", help: "Malformed Engine.IO packets, payloads or frames."},
	{name: "ionbus_engine_upgrades_total", help: "Completed polling to websocket upgrades."},
	{name: "ionbus_engine_upgrades_failed_total", help: "Upgrade probes that never completed."},
	{name: "ionbus_engine_messages_received_total", help: "Engine.IO messages received."},
	{name: "ionbus_engine_poller_adopted_total", help: "Websockets handed to the epoll loop."},
	{name: "ionbus_engine_posts_too_large_total", help: "Polling POSTs refused with 413."},
	{name: "ionbus_engine_posts_cut_total", help: "Polling POST bodies not read within engine.body_timeout, or cut by their session's close."},
	{name: "ionbus_engine_polls_compressed_total", help: "Polling responses sent gzip- or deflate-encoded (engine.http_compression)."},
	{name: "ionbus_engine_poll_bytes_saved_total", help: "Polling response bytes saved by compression."},
	{name: "ionbus_engine_ws_deflated_total", help: "Websocket messages sent compressed (engine.per_message_deflate)."},
	{name: "ionbus_engine_ws_inflated_total", help: "Websocket messages received compressed."},
	{name: "ionbus_engine_handler_panics_total", help: "Recovered panics in Engine.IO handler callbacks."},
	{name: "ionbus_engine_flush_writes_total", help: "Writes (writev) made by the flusher pool to poller-owned websockets."},
	{name: "ionbus_engine_writes_blocked_total", help: "Flushes that found the socket full and waited for EPOLLOUT."},

	// listener (extra.listener)
	{name: "ionbus_listener_accept_errors_total", help: "Failed accepts on the public listener."},
	{name: "ionbus_listener_accept_fd_exhausted_total", help: "Failed accepts for lack of file descriptors (EMFILE/ENFILE)."},

	// access and limits (extra.access)
	{name: "ionbus_access_refused_total", help: "Refusals by the access guard, by error code (connections, events, rooms).", labels: []string{"code"}},
	{name: "ionbus_limits_refused_total", help: "Refusals by the limiter, by reason.", labels: []string{"reason"}},
	{name: "ionbus_limits_backend_errors_total", help: "Failed limits backend (Redis) calls; the decision then failed open or closed as configured."},
	{name: "ionbus_limits_sessions_with_slots", help: "Sessions holding connection slots.", gauge: true},

	// adapter (extra.adapter)
	{name: "ionbus_adapter_connected", help: "1 when the Redis adapter's subscriber is up (the node receives the cluster's broadcasts), else 0.", gauge: true},
	{name: "ionbus_adapter_messages_received_total", help: "Pub/sub messages read from Redis."},
	{name: "ionbus_adapter_messages_published_total", help: "Messages published to Redis."},
	{name: "ionbus_adapter_publish_errors_total", help: "Failed publishes to Redis."},
	{name: "ionbus_adapter_partial_broadcasts_total", help: "Broadcasts that reached fewer nodes than were alive (classic mode on one Redis)."},
	{name: "ionbus_adapter_live_nodes", help: "Live ionbus nodes the last heartbeat counted.", gauge: true},
	{name: "ionbus_adapter_dropped_total", help: "Inbound messages dropped on queue overflow."},
	{name: "ionbus_adapter_malformed_total", help: "Undecodable or foreign inbound messages."},
	{name: "ionbus_adapter_ignored_total", help: "Inbound messages ignored (own echoes, other namespaces, unknown request ids)."},
	{name: "ionbus_adapter_receive_errors_total", help: "Subscriber read errors (connection loss)."},
	{name: "ionbus_adapter_resubscribes_total", help: "Subscriber recoveries."},
	{name: "ionbus_adapter_queue_length", help: "Inbound messages waiting for the broker.", gauge: true},

	// backend bridge (extra.bridge)
	{name: "ionbus_backend_requests_total", help: "Backend webhook requests sent, by hook type.", labels: []string{"hook"}},
	{name: "ionbus_backend_failures_total", help: "Failed backend calls and stream writes, by kind.", labels: []string{"kind"}},
	{name: "ionbus_backend_inflight", help: "Backend webhook requests in flight.", gauge: true},
	{name: "ionbus_backend_cache_hits_total", help: "Connect answers served from the cache."},
	{name: "ionbus_backend_cache_misses_total", help: "Connect answers that needed a request."},
	{name: "ionbus_backend_cache_coalesced_total", help: "Connect answers that waited for an identical request in flight."},
	{name: "ionbus_backend_cache_entries", help: "Cached connect answers.", gauge: true},
	{name: "ionbus_backend_connects_total", help: "Backend connect verdicts by result (admitted, refused, unavailable).", labels: []string{"result"}},
	{name: "ionbus_backend_events_forwarded_total", help: "Client events forwarded to the backend, by route (http, stream).", labels: []string{"via"}},
	{name: "ionbus_backend_events_refused_busy_total", help: "Client events refused with BACKEND_BUSY."},
	{name: "ionbus_backend_event_errors_total", help: "Forwarded events answered with an error."},
	{name: "ionbus_backend_refreshes_total", help: "Refresh hook calls."},
	{name: "ionbus_backend_refresh_disconnects_total", help: "Sockets the backend ended on refresh."},
	{name: "ionbus_backend_lifecycle_events_total", help: "Lifecycle events by result (written, dropped, swept, webhook_sent, webhook_dropped).", labels: []string{"result"}},
	{name: "ionbus_backend_lifecycle_resyncs_total", help: "Re-registrations of this node's sockets after its heartbeat lapsed."},
	{name: "ionbus_backend_lifecycle_queued", help: "Lifecycle events waiting to be written.", gauge: true},

	// presence (extra.presence)
	{name: "ionbus_presence_events_sent_total", help: "Presence events broadcast."},
	{name: "ionbus_presence_events_dropped_total", help: "Presence events dropped (full queue, shutdown, unconfigured namespace)."},
	{name: "ionbus_presence_emit_errors_total", help: "Presence broadcasts that failed."},
	{name: "ionbus_presence_store_errors_total", help: "Failed presence store calls from socket hooks."},
	{name: "ionbus_presence_client_errors_total", help: "presence:* requests refused with an error event."},
	{name: "ionbus_presence_resyncs_total", help: "Re-registrations of this node's connections with the presence store."},
	{name: "ionbus_presence_resynced_entries_total", help: "Room entries sent by presence re-registrations."},
	{name: "ionbus_presence_queue_length", help: "Presence events waiting to be broadcast.", gauge: true},
}

// Names lists the names of every ionbus metric (counters, gauges and
// histograms), for tests and documentation.
func Names() []string {
	out := make([]string, 0, len(defs)+5)
	for _, d := range defs {
		out = append(out, d.name)
	}
	return append(out, NameConnectDuration, NameBroadcastFanout, NameRedisPublish, NameClusterRequest, NameBackendHook)
}

// Label values computed once.
var (
	closeReasonLabels [closeReasonLabelCount]string
	handshakeCodes    = [...]string{"0", "1", "2", "3", "4", "5", "shutdown"}
)

const closeReasonLabelCount = len(connection.Stats{}.SessionsClosed)

func init() {
	for i := range closeReasonLabels {
		closeReasonLabels[i] = strings.ReplaceAll(connection.CloseReason(i).String(), " ", "_")
	}
}

type collector struct {
	src   Sources
	descs map[string]*prometheus.Desc
	types map[string]prometheus.ValueType
}

func newCollector(src Sources) *collector {
	c := &collector{src: src, descs: make(map[string]*prometheus.Desc, len(defs)), types: make(map[string]prometheus.ValueType, len(defs))}
	for _, d := range defs {
		c.descs[d.name] = prometheus.NewDesc(d.name, d.help, d.labels, nil)
		c.types[d.name] = prometheus.CounterValue
		if d.gauge {
			c.types[d.name] = prometheus.GaugeValue
		}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot of each source.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	put := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], c.types[name], v, labels...)
	}
	srv := c.src.Broker
	st := srv.Stats()
	put("ionbus_node_info", 1, st.Node)
	put("ionbus_uptime_seconds", st.Uptime)
	put("ionbus_clients", float64(st.Clients))
	put("ionbus_connects_total", float64(st.Connects))
	put("ionbus_disconnects_total", float64(st.Disconnects))
	put("ionbus_connect_errors_total", float64(st.ConnectErrors))
	put("ionbus_parse_errors_total", float64(st.ParseErrors))
	put("ionbus_events_received_total", float64(st.EventsIn))
	put("ionbus_events_refused_total", float64(st.EventsRefused))
	put("ionbus_deliveries_total", float64(st.Deliveries))
	put("ionbus_volatile_drops_total", float64(st.VolatileDrops))
	put("ionbus_slow_consumers_total", float64(st.SlowConsumers))
	put("ionbus_publish_errors_total", float64(st.PublishErrors))
	rooms := map[string]int{} // dynamic namespaces summed under their pattern
	for _, ns := range st.Namespaces {
		name := ns.Name
		if ns.Pattern != "" {
			name = ns.Pattern
		}
		rooms[name] += ns.Rooms
	}
	for name, n := range rooms {
		put("ionbus_rooms", float64(n), name)
	}
	put("ionbus_dynamic_namespaces", float64(st.DynamicNamespaces))
	put("ionbus_namespaces_refused_total", float64(st.NamespacesRefused))
	for _, tc := range srv.SocketsByTransport() {
		put("ionbus_sockets", float64(tc.Sockets), tc.Namespace, tc.Transport)
	}

	eng := srv.Engine()
	es := eng.Stats()
	put("ionbus_engine_sessions", float64(es.Open))
	put("ionbus_engine_queued_bytes", float64(eng.QueuedBytes()))
	put("ionbus_engine_sessions_opened_total", float64(es.SessionsOpened))
	for i, n := range es.SessionsClosed {
		if i != int(connection.CloseNone) {
			put("ionbus_engine_sessions_closed_total", float64(n), closeReasonLabels[i])
		}
	}
	for i, n := range es.HandshakeErrors {
		put("ionbus_engine_handshake_errors_total", float64(n), handshakeCodes[i])
	}
	put("ionbus_engine_slow_consumers_total", float64(es.SlowConsumers))
	put("ionbus_engine_volatile_drops_total", float64(es.VolatileDrops))
	put("ionbus_engine_parse_errors_total", float64(es.ParseErrors))
	put("ionbus_engine_upgrades_total", float64(es.Upgrades))
	put("ionbus_engine_upgrades_failed_total", float64(es.UpgradesFailed))
	put("ionbus_engine_messages_received_total", float64(es.MessagesReceived))
	put("ionbus_engine_poller_adopted_total", float64(es.PollerAdopted))
	put("ionbus_engine_posts_too_large_total", float64(es.PostsTooLarge))
	put("ionbus_engine_posts_cut_total", float64(es.PostsCut))
	put("ionbus_engine_polls_compressed_total", float64(es.PollsCompressed))
	put("ionbus_engine_poll_bytes_saved_total", float64(es.PollBytesSaved))
	put("ionbus_engine_ws_deflated_total", float64(es.FramesDeflated))
	put("ionbus_engine_ws_inflated_total", float64(es.FramesInflated))
	put("ionbus_engine_handler_panics_total", float64(es.HandlerPanics))
	put("ionbus_engine_flush_writes_total", float64(es.FlushWrites))
	put("ionbus_engine_writes_blocked_total", float64(es.WritesBlocked))

	if f := c.src.Listener; f != nil {
		ls := f()
		put("ionbus_listener_accept_errors_total", float64(ls.AcceptErrors))
		put("ionbus_listener_accept_fd_exhausted_total", float64(ls.FDExhausted))
	}
	if f := c.src.Guard; f != nil {
		gs := f()
		// Every known code, zero included, so rate() and alerts see the
		// series from the first scrape.
		for _, code := range access.Codes {
			put("ionbus_access_refused_total", float64(gs.Refused[code]), code)
		}
		for code, n := range gs.Refused {
			if !access.KnownCode(code) {
				put("ionbus_access_refused_total", float64(n), code)
			}
		}
		put("ionbus_limits_sessions_with_slots", float64(gs.Slots))
		if ls := gs.Limits; ls != nil {
			for r, n := range ls.Refused {
				put("ionbus_limits_refused_total", float64(n), r.String())
			}
			put("ionbus_limits_backend_errors_total", float64(ls.BackendErrors))
		} else {
			// No limiter: zeros, so dashboards and alerts see the series.
			for r := limits.ReasonUserConnections; r <= limits.ReasonRooms; r++ {
				put("ionbus_limits_refused_total", 0, r.String())
			}
			put("ionbus_limits_backend_errors_total", 0)
		}
	}
	c.collectAdapter(put)
	c.collectBridge(put)
	if f := c.src.Presence; f != nil {
		ps := f()
		put("ionbus_presence_events_sent_total", float64(ps.EventsSent))
		put("ionbus_presence_events_dropped_total", float64(ps.EventsDropped))
		put("ionbus_presence_emit_errors_total", float64(ps.EmitErrors))
		put("ionbus_presence_store_errors_total", float64(ps.StoreErrors))
		put("ionbus_presence_client_errors_total", float64(ps.ClientErrors))
		put("ionbus_presence_resyncs_total", float64(ps.Resyncs))
		put("ionbus_presence_resynced_entries_total", float64(ps.Resynced))
		put("ionbus_presence_queue_length", float64(ps.QueueLength))
	}
}

func (c *collector) collectAdapter(put func(string, float64, ...string)) {
	if f := c.src.Connected; f != nil {
		v := 0.0
		if f() {
			v = 1
		}
		put("ionbus_adapter_connected", v)
	}
	f := c.src.Adapter
	if f == nil {
		return
	}
	as := f()
	put("ionbus_adapter_messages_received_total", float64(as.Received))
	put("ionbus_adapter_messages_published_total", float64(as.Published))
	put("ionbus_adapter_publish_errors_total", float64(as.PublishErrors))
	put("ionbus_adapter_dropped_total", float64(as.Dropped))
	put("ionbus_adapter_malformed_total", float64(as.Malformed))
	put("ionbus_adapter_ignored_total", float64(as.Ignored))
	put("ionbus_adapter_receive_errors_total", float64(as.ReceiveErrors))
	put("ionbus_adapter_resubscribes_total", float64(as.Resubscribes))
	put("ionbus_adapter_queue_length", float64(as.QueueLen))
	put("ionbus_adapter_partial_broadcasts_total", float64(as.Partial))
	put("ionbus_adapter_live_nodes", float64(as.ExpectedNodes))
}

func (c *collector) collectBridge(put func(string, float64, ...string)) {
	f := c.src.Bridge
	if f == nil {
		return
	}
	bs := f()
	putAll("ionbus_backend_requests_total", hookTypes, bs.Requests, put)
	putAll("ionbus_backend_failures_total", backendFailureKinds, bs.Failures, put)
	put("ionbus_backend_inflight", float64(bs.Inflight))
	put("ionbus_backend_cache_hits_total", float64(bs.Cache.Hits))
	put("ionbus_backend_cache_misses_total", float64(bs.Cache.Misses))
	put("ionbus_backend_cache_coalesced_total", float64(bs.Cache.Coalesced))
	put("ionbus_backend_cache_entries", float64(bs.Cache.Size))
	put("ionbus_backend_connects_total", float64(bs.Connect.Admitted), "admitted")
	put("ionbus_backend_connects_total", float64(bs.Connect.Refused), "refused")
	put("ionbus_backend_connects_total", float64(bs.Connect.Unavailable), "unavailable")
	put("ionbus_backend_events_forwarded_total", float64(bs.Events.ForwardedHTTP), "http")
	put("ionbus_backend_events_forwarded_total", float64(bs.Events.ForwardedStream), "stream")
	put("ionbus_backend_events_refused_busy_total", float64(bs.Events.RefusedBusy))
	put("ionbus_backend_event_errors_total", float64(bs.Events.Errors))
	put("ionbus_backend_refreshes_total", float64(bs.Refresh.Calls))
	put("ionbus_backend_refresh_disconnects_total", float64(bs.Refresh.Disconnects))
	put("ionbus_backend_lifecycle_events_total", float64(bs.Life.Written), "written")
	put("ionbus_backend_lifecycle_events_total", float64(bs.Life.Dropped), "dropped")
	put("ionbus_backend_lifecycle_events_total", float64(bs.Life.Swept), "swept")
	put("ionbus_backend_lifecycle_events_total", float64(bs.Life.WebhookSent), "webhook_sent")
	put("ionbus_backend_lifecycle_events_total", float64(bs.Life.WebhookDropped), "webhook_dropped")
	put("ionbus_backend_lifecycle_resyncs_total", float64(bs.Life.Resyncs))
	put("ionbus_backend_lifecycle_queued", float64(bs.Life.Queued))
}

// handshakeCodes must cover connection.Stats.HandshakeErrors.
var _ = [1]struct{}{}[len(handshakeCodes)-len(connection.Stats{}.HandshakeErrors)]

// backendFailureKinds are the failure kinds bridge.Stats documents,
// exported at zero before the first failure; a kind added there later
// still appears once counted.
var backendFailureKinds = []string{"unreachable", "timeout", "bad_status", "response_too_large",
	"request_too_large", "invalid_answer", "saturated", "canceled", "redis"}

// putAll exports counts by label value: every expected value (zero
// included, so the series exist from the first scrape), then any other
// value counts has.
func putAll(name string, expected []string, counts map[string]uint64, put func(string, float64, ...string)) {
	for _, v := range expected {
		put(name, float64(counts[v]), v)
	}
	for v, n := range counts {
		if !slices.Contains(expected, v) {
			put(name, float64(n), v)
		}
	}
}
