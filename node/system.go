package node

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"time"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/system"
)

// defaultSystemInterval is a system event's period when it names none
// (the API documents' 30 s).
const defaultSystemInterval = 30 * time.Second

// validateSystemEvents checks system_events: known kinds, intervals in
// bounds, configured namespaces, no event twice in one namespace.
func (c *Config) validateSystemEvents(bad func(string, ...any)) {
	if len(c.SystemEvents) > system.MaxEvents {
		bad("system_events: %d entries, at most %d", len(c.SystemEvents), system.MaxEvents)
	}
	declared := map[string]bool{"/": true}
	for _, ns := range c.Namespaces {
		if _, pattern := namespacePattern(ns.Name); !pattern {
			declared[ns.Name] = true
		}
	}
	seen := map[string]bool{}
	for i, e := range c.SystemEvents {
		where := "system_events[" + strconv.Itoa(i) + "]"
		ns := e.Namespace
		if ns == "" {
			ns = "/"
		}
		if !declared[ns] {
			bad("%s.namespace: %q is not a configured namespace (patterns are not allowed)", where, ns)
		}
		switch {
		case e.Event == "":
			bad("%s.event: required", where)
		case broker.IsReservedEvent(e.Event):
			bad("%s.event: %q is reserved by Socket.IO", where, e.Event)
		}
		kind, err := system.ParseKind(e.Kind)
		if err != nil {
			bad("%s.kind: %v", where, err)
		}
		if d := e.Interval.D(); d != 0 && (d < system.MinInterval || d > system.MaxInterval) {
			bad("%s.interval: %v outside %v..%v", where, d, system.MinInterval, system.MaxInterval)
		}
		if e.Component != "" && kind != system.KindStatus {
			bad("%s.component: only for kind status", where)
		}
		id := ns + "#" + e.Event
		if seen[id] {
			bad("%s: %q in %s twice", where, e.Event, ns)
		}
		seen[id] = true
	}
}

// systemEvents maps system_events (validated) to the package's events.
func systemEvents(list []SystemEventConfig) []system.Event {
	out := make([]system.Event, 0, len(list))
	for _, e := range list {
		kind, _ := system.ParseKind(e.Kind)
		d := e.Interval.D()
		if d == 0 {
			d = defaultSystemInterval
		}
		out = append(out, system.Event{Namespace: e.Namespace, Name: e.Event, Kind: kind, Interval: d, Room: e.Room, Component: e.Component})
	}
	return out
}

// buildSystem makes the system events of system_events, or nothing when
// none is configured. Their counts are the cluster's (GET /api/v1/nodes,
// gathered within half an interval, at most 2 s); their leases and
// services live in Redis when the node has it.
func (n *Node) buildSystem() error {
	if len(n.cfg.SystemEvents) == 0 {
		return nil
	}
	cfg := system.Config{
		Events:    systemEvents(n.cfg.SystemEvents),
		NodeID:    n.comp.NodeID,
		KeyPrefix: keyPrefix(n.cfg.Redis.Key, "system"),
		Local: func() system.ClusterCounts {
			return clusterCounts([]nodeFigures{localFigures(n.broker)})
		},
		Cluster: func(ctx context.Context) (system.ClusterCounts, error) {
			res, err := n.nodes.Gather(ctx)
			c := system.ClusterCounts{
				Nodes: res.Count, Clients: res.Totals.Clients, Sockets: res.Totals.Sockets,
				Sessions: res.Totals.Sessions, Complete: res.Complete,
			}
			return c, err
		},
		Logger: n.log,
	}
	if a := n.comp.Adapter; a != nil {
		cfg.RedisUp = func() bool { return !a.Degraded() }
	}
	s, err := system.New(cfg, n.broker, n.comp.Redis)
	if err != nil {
		return err
	}
	n.system = s
	// Beside the broker's drain (Shutdown step 2), before Redis closes:
	// the leases are released for the other nodes.
	n.onShutdown = append(n.onShutdown, s.Shutdown)
	return nil
}

// nodeFigures are this node's counts when the cluster is not asked.
type nodeFigures struct {
	clients, sockets int
	sessions         uint64
}

func localFigures(srv *broker.Server) nodeFigures {
	st := srv.Stats()
	f := nodeFigures{clients: int(st.Clients), sessions: srv.Engine().Stats().SessionsOpened}
	for _, ns := range st.Namespaces {
		f.sockets += ns.Sockets
	}
	return f
}

func clusterCounts(nodes []nodeFigures) system.ClusterCounts {
	c := system.ClusterCounts{Nodes: len(nodes)}
	for _, f := range nodes {
		c.Clients += f.clients
		c.Sockets += f.sockets
		c.Sessions += f.sessions
	}
	return c
}

// withSystem serves the backend-supplied services (system.PathServices)
// behind the API key in front of next, when system events are
// configured; otherwise the path is an unknown API route.
func (n *Node) withSystem(next http.Handler) http.Handler {
	if n.system == nil {
		return next
	}
	services := n.system.Handler()
	keySum := sha256.Sum256([]byte(n.cfg.API.Key))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != system.PathServices {
			next.ServeHTTP(w, r)
			return
		}
		if !n.cfg.API.Insecure && !bearerOK(r, n.cfg.API.Key, keySum) {
			unauthorized(w)
			return
		}
		services.ServeHTTP(w, r)
	})
}

// startSystem starts the system events once the broker serves.
func (n *Node) startSystem() {
	if n.system != nil {
		n.system.Start()
	}
}
