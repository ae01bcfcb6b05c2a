package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"time"

	"github.com/ionbus/ionbus/broker"
)

// EventNodeStats is the server-side event (on namespace "/") by which a
// node asks the others for their NodeStats; each answers with its own
// through the ack. A node without the handler (a Node.js peer, an older
// ionbus) answers nothing or an empty ack and is left out.
const EventNodeStats = "ionbus:node-stats"

// DefaultNodesTimeout bounds GET /api/v1/nodes when the caller names no
// timeout_ms: a dashboard polls it every few seconds, so a node that does
// not answer must not hold the answer for the whole request_timeout.
const DefaultNodesTimeout = 2 * time.Second

// NodeStats is one node's summary in GET /api/v1/nodes: the figures of
// GET /api/v1/stats an operator compares across nodes, read from the
// same counters. Timestamps are ISO 8601 UTC.
type NodeStats struct {
	Node       string           `json:"node"`
	Hostname   string           `json:"hostname"`
	PID        int              `json:"pid"`
	StartedAt  string           `json:"started_at"`
	Uptime     float64          `json:"uptime_seconds"`
	Timestamp  string           `json:"timestamp"` // when the snapshot was taken
	Clients    int64            `json:"clients"`   // Engine.IO sessions with a Socket.IO client
	Sockets    int              `json:"sockets"`   // over every namespace
	Namespaces []NodeNamespace  `json:"namespaces"`
	Traffic    NodeTraffic      `json:"traffic"`
	Engine     NodeEngine       `json:"engine"`
	Cluster    NodeCluster      `json:"cluster"`
	Refused    map[string]int64 `json:"refused"`        // access refusals by error code (limits, origins, access)
	Limits     map[string]int64 `json:"limits_refused"` // limiter refusals by reason; empty without limits
	Process    NodeProcess      `json:"process"`
}

// NodeNamespace is one namespace on one node.
type NodeNamespace struct {
	Name      string `json:"name"`
	Sockets   int    `json:"sockets"`
	Polling   int    `json:"polling"`   // sockets whose transport is polling
	Websocket int    `json:"websocket"` // sockets on a websocket
	Rooms     int    `json:"rooms"`     // named rooms with local members
}

// NodeTraffic are the broker's counters since the node started.
type NodeTraffic struct {
	Connects      int64 `json:"connects_total"`
	Disconnects   int64 `json:"disconnects_total"`
	ConnectErrors int64 `json:"connect_errors_total"`
	EventsIn      int64 `json:"events_in_total"`
	EventsRefused int64 `json:"events_refused_total"`
	Deliveries    int64 `json:"deliveries_total"`
	VolatileDrops int64 `json:"volatile_drops_total"`
	SlowConsumers int64 `json:"slow_consumers_total"` // broadcast sends refused on a full queue
	PublishErrors int64 `json:"publish_errors_total"`
}

// NodeEngine is the Engine.IO side: sessions and their queues.
type NodeEngine struct {
	Sessions       int    `json:"open_sessions"`
	SessionsOpened uint64 `json:"sessions_opened_total"`
	QueuedBytes    int64  `json:"queued_bytes"`
	SlowConsumers  uint64 `json:"slow_consumers_total"` // sessions closed on queue overflow
	VolatileDrops  uint64 `json:"volatile_drops_total"` // volatile messages dropped on congested sessions
	Upgrades       uint64 `json:"upgrades_total"`
}

// NodeCluster is the node's view of the cluster backend.
type NodeCluster struct {
	Adapter string `json:"adapter"` // "memory" (single node) or "redis"
	// Status is "ok", or "degraded" while the adapter lost Redis (the
	// node serves its own sockets only).
	Status        string `json:"status"`
	Reason        string `json:"reason,omitempty"`
	Published     uint64 `json:"published_total"`
	Received      uint64 `json:"received_total"`
	PublishErrors uint64 `json:"publish_errors_total"`
	Dropped       uint64 `json:"dropped_total"` // inbound messages dropped on queue overflow
	QueueLength   int    `json:"queue_length"`
	Resubscribes  uint64 `json:"resubscribes_total"`
}

// NodeProcess is the Go process.
type NodeProcess struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`   // live and unswept heap objects
	TotalBytes uint64 `json:"memory_bytes"` // memory mapped by the Go runtime
}

// NodesResponse answers GET /api/v1/nodes.
type NodesResponse struct {
	Nodes  []NodeStats `json:"nodes"` // sorted by node id
	Count  int         `json:"count"`
	Totals NodeTotals  `json:"totals"`
	// Complete is false when some nodes did not answer in time.
	Complete  bool   `json:"complete"`
	Error     string `json:"error,omitempty"`
	Timestamp string `json:"timestamp"`
}

// NodeTotals sums the nodes that answered. Rooms are not summed: a room
// with members on two nodes would count twice.
type NodeTotals struct {
	Clients    int            `json:"clients"`
	Sockets    int            `json:"sockets"`
	Namespaces map[string]int `json:"namespaces"` // sockets by namespace
	Deliveries int64          `json:"deliveries_total"`
	Connects   int64          `json:"connects_total"`
	Sessions   uint64         `json:"sessions_opened_total"`
}

// Nodes gathers the NodeStats of every node of the cluster. NewNodes
// registers the handler that answers the other nodes' requests, so every
// node that builds one is seen by the others. Safe for concurrent use.
type Nodes struct {
	srv      *broker.Server
	fill     func(*NodeStats)
	hostname string
}

// NewNodes builds the gatherer of srv and registers its answer to the
// other nodes' requests (EventNodeStats on "/"). fill, when set, adds
// what the broker does not know to this node's summary (package node
// adds the access refusals, the limits and the Redis adapter counters).
func NewNodes(srv *broker.Server, fill func(*NodeStats)) *Nodes {
	host, _ := os.Hostname()
	n := &Nodes{srv: srv, fill: fill, hostname: host}
	srv.Of("/").OnServerEvent(EventNodeStats, func(_ []any, ack func(...any)) {
		if ack != nil {
			ack(n.Local())
		}
	})
	return n
}

// Local is this node's summary. Its cost is linear in the number of
// local sockets (the transport of each is read), so call it at polling
// rate, not per message.
func (n *Nodes) Local() NodeStats {
	srv := n.srv
	st := srv.Stats()
	now := time.Now().UTC()
	out := NodeStats{
		Node:      st.Node,
		Hostname:  n.hostname,
		PID:       os.Getpid(),
		StartedAt: formatTime(now.Add(-time.Duration(st.Uptime * float64(time.Second)))),
		Uptime:    st.Uptime,
		Timestamp: formatTime(now),
		Clients:   st.Clients,
		Traffic: NodeTraffic{
			Connects: st.Connects, Disconnects: st.Disconnects, ConnectErrors: st.ConnectErrors,
			EventsIn: st.EventsIn, EventsRefused: st.EventsRefused, Deliveries: st.Deliveries,
			VolatileDrops: st.VolatileDrops, SlowConsumers: st.SlowConsumers, PublishErrors: st.PublishErrors,
		},
		Cluster:    NodeCluster{Adapter: "memory", Status: StatusOK},
		Refused:    map[string]int64{},
		Limits:     map[string]int64{},
		Namespaces: make([]NodeNamespace, 0, len(st.Namespaces)),
	}
	byName := make(map[string]int, len(st.Namespaces))
	for _, ns := range st.Namespaces {
		byName[ns.Name] = len(out.Namespaces)
		out.Namespaces = append(out.Namespaces, NodeNamespace{Name: ns.Name, Sockets: ns.Sockets, Rooms: ns.Rooms})
		out.Sockets += ns.Sockets
	}
	for _, tc := range srv.SocketsByTransport() {
		i, ok := byName[tc.Namespace]
		if !ok {
			continue // created between the two snapshots
		}
		if tc.Transport == "websocket" {
			out.Namespaces[i].Websocket = tc.Sockets
		} else {
			out.Namespaces[i].Polling = tc.Sockets
		}
	}
	eng := srv.Engine()
	es := eng.Stats()
	out.Engine = NodeEngine{
		Sessions: es.Open, SessionsOpened: es.SessionsOpened, QueuedBytes: eng.QueuedBytes(),
		SlowConsumers: es.SlowConsumers, VolatileDrops: es.VolatileDrops, Upgrades: es.Upgrades,
	}
	if a, ok := srv.Adapter().(healthReporter); ok {
		out.Cluster.Adapter = "redis"
		if a.Degraded() {
			out.Cluster.Status = StatusDegraded
			if d, ok := a.(degradedReasoner); ok {
				out.Cluster.Reason = d.DegradedReason()
			}
		}
	}
	out.Process = processStats()
	if n.fill != nil {
		n.fill(&out)
	}
	return out
}

// processMetrics are read with runtime/metrics, which does not stop the
// world (runtime.ReadMemStats does).
var processMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/total:bytes"}

func processStats() NodeProcess {
	samples := make([]metrics.Sample, len(processMetrics))
	for i, name := range processMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	out := NodeProcess{Goroutines: runtime.NumGoroutine()}
	if samples[0].Value.Kind() == metrics.KindUint64 {
		out.HeapBytes = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		out.TotalBytes = samples[1].Value.Uint64()
	}
	return out
}

// Gather asks every node for its summary and waits for the answers
// within ctx (DefaultNodesTimeout when ctx has no deadline). The result
// holds this node and every node that answered; err (also in the
// response's Error, with Complete false) says some did not.
func (n *Nodes) Gather(ctx context.Context) (NodesResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultNodesTimeout)
		defer cancel()
	}
	local := n.Local()
	answers, err := n.srv.Of("/").ServerSideEmitWithAck(ctx, EventNodeStats)
	out := NodesResponse{Nodes: []NodeStats{local}, Complete: err == nil}
	if err != nil {
		out.Error = err.Error()
	}
	seen := map[string]bool{local.Node: true}
	for _, args := range answers {
		if len(args) == 0 {
			continue // a node without the handler
		}
		raw, merr := json.Marshal(args[0])
		if merr != nil {
			continue
		}
		var ns NodeStats
		if json.Unmarshal(raw, &ns) != nil || ns.Node == "" || seen[ns.Node] {
			continue
		}
		seen[ns.Node] = true
		out.Nodes = append(out.Nodes, ns)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	out.Count = len(out.Nodes)
	out.Totals = totals(out.Nodes)
	out.Timestamp = formatTime(time.Now())
	return out, err
}

func totals(nodes []NodeStats) NodeTotals {
	t := NodeTotals{Namespaces: map[string]int{}}
	for _, n := range nodes {
		t.Clients += int(n.Clients)
		t.Sockets += n.Sockets
		t.Deliveries += n.Traffic.Deliveries
		t.Connects += n.Traffic.Connects
		t.Sessions += n.Engine.SessionsOpened
		for _, ns := range n.Namespaces {
			t.Namespaces[ns.Name] += ns.Sockets
		}
	}
	return t
}

// formatTime is ISO 8601 UTC with milliseconds, like every timestamp
// ionbus sends.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// nodes serves GET /api/v1/nodes[?timeout_ms=n].
func (h *handler) nodes(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, ok := h.nodesContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	out, _ := h.cluster.Gather(ctx)
	writeJSON(w, http.StatusOK, out)
}

// nodesContext bounds a gathering by timeout_ms (1..MaxAckTimeout),
// DefaultNodesTimeout without it. On a bad value it answers 400.
func (h *handler) nodesContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc, bool) {
	d := DefaultNodesTimeout
	if v := r.URL.Query().Get("timeout_ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 1 || ms > h.cfg.MaxAckTimeout.Milliseconds() {
			writeError(w, http.StatusBadRequest, CodeBadRequest,
				`"timeout_ms" must be between 1 and `+strconv.FormatInt(h.cfg.MaxAckTimeout.Milliseconds(), 10))
			return nil, nil, false
		}
		d = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, true
}
