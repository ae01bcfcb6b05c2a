package broker

import (
	"sync/atomic"
	"time"
)

type serverStats struct {
	clients       atomic.Int64
	connects      atomic.Int64
	disconnects   atomic.Int64
	connectErrors atomic.Int64
	parseErrors   atomic.Int64
	eventsIn      atomic.Int64
	eventsRefused atomic.Int64
	deliveries    atomic.Int64
	volatileDrops atomic.Int64
	slowConsumers atomic.Int64
	publishErrors atomic.Int64
	// namespacesRefused: CONNECTs refused by MaxDynamicNamespaces.
	namespacesRefused atomic.Int64
}

// Stats is a snapshot of the server's counters and gauges.
type Stats struct {
	Node          string  `json:"node"`
	Uptime        float64 `json:"uptime_seconds"`
	Clients       int64   `json:"clients"` // Engine.IO sessions with a socket.io client
	Connects      int64   `json:"connects_total"`
	Disconnects   int64   `json:"disconnects_total"`
	ConnectErrors int64   `json:"connect_errors_total"`
	ParseErrors   int64   `json:"parse_errors_total"`
	EventsIn      int64   `json:"events_in_total"`
	EventsRefused int64   `json:"events_refused_total"`
	Deliveries    int64   `json:"deliveries_total"`
	VolatileDrops int64   `json:"volatile_drops_total"`
	SlowConsumers int64   `json:"slow_consumers_total"`
	PublishErrors int64   `json:"publish_errors_total"`
	// DynamicNamespaces is the number of children of pattern namespaces
	// that exist now; NamespacesRefused counts CONNECTs refused because
	// MaxDynamicNamespaces of them existed.
	DynamicNamespaces int              `json:"dynamic_namespaces"`
	NamespacesRefused int64            `json:"namespaces_refused_total"`
	Namespaces        []NamespaceStats `json:"namespaces"`
	// Extra holds the snapshots of the providers added with AddStats
	// (limits, access, presence, adapter), by name.
	Extra map[string]any `json:"extra,omitempty"`
}

// AddStats registers a provider whose snapshot Stats reports under name.
// fn must be safe for concurrent use and cheap.
func (s *Server) AddStats(name string, fn func() any) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.statsProviders == nil {
		s.statsProviders = make(map[string]func() any)
	}
	s.statsProviders[name] = fn
}

// NamespaceStats describes one namespace on this node.
type NamespaceStats struct {
	Name    string `json:"name"`
	Sockets int    `json:"sockets"`
	Rooms   int    `json:"rooms"`
	// Pattern is the pattern parent's name for a dynamic namespace: the
	// label metrics aggregate them under, so tenants do not each make a
	// series.
	Pattern string `json:"pattern,omitempty"`
}

// Stats returns a snapshot of this node's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Node:          s.cfg.NodeID,
		Uptime:        s.cfg.Now().Sub(s.start).Round(time.Millisecond).Seconds(),
		Clients:       s.stats.clients.Load(),
		Connects:      s.stats.connects.Load(),
		Disconnects:   s.stats.disconnects.Load(),
		ConnectErrors: s.stats.connectErrors.Load(),
		ParseErrors:   s.stats.parseErrors.Load(),
		EventsIn:      s.stats.eventsIn.Load(),
		EventsRefused: s.stats.eventsRefused.Load(),
		Deliveries:    s.stats.deliveries.Load(),
		VolatileDrops: s.stats.volatileDrops.Load(),
		SlowConsumers: s.stats.slowConsumers.Load(),
		PublishErrors: s.stats.publishErrors.Load(),

		NamespacesRefused: s.stats.namespacesRefused.Load(),
	}
	s.statsMu.Lock()
	if len(s.statsProviders) > 0 {
		st.Extra = make(map[string]any, len(s.statsProviders))
		for name, fn := range s.statsProviders {
			st.Extra[name] = fn()
		}
	}
	s.statsMu.Unlock()
	s.mu.RLock()
	st.DynamicNamespaces = s.dynamic
	s.mu.RUnlock()
	for _, ns := range s.Namespaces() {
		ns.mu.RLock()
		nst := NamespaceStats{Name: ns.name, Sockets: len(ns.sockets), Rooms: len(ns.rooms)}
		if ns.parent != nil {
			nst.Pattern = ns.parent.name
		}
		st.Namespaces = append(st.Namespaces, nst)
		ns.mu.RUnlock()
	}
	return st
}

// TransportCount is the number of local sockets of one namespace on one
// Engine.IO transport ("polling" or "websocket").
type TransportCount struct {
	Namespace string
	Transport string
	Sockets   int
}

// SocketsByTransport counts this node's sockets by namespace and current
// transport, for metrics; the dynamic children of a pattern count
// together under the pattern's name (one series per pattern, not per
// tenant). It copies each namespace's socket list under
// its read lock and asks the sessions for their transport after
// releasing it; the cost is linear in the number of sockets, so call it
// at scrape rate, not per message.
func (s *Server) SocketsByTransport() []TransportCount {
	type counts struct{ polling, websocket int }
	by := map[string]*counts{}
	var order []string
	for _, ns := range s.Namespaces() {
		ns.mu.RLock()
		socks := make([]*Socket, 0, len(ns.sockets))
		for _, sock := range ns.sockets {
			socks = append(socks, sock)
		}
		ns.mu.RUnlock()
		name := ns.name
		if ns.parent != nil {
			name = ns.parent.name
		}
		c := by[name]
		if c == nil {
			c = &counts{}
			by[name] = c
			order = append(order, name)
		}
		for _, sock := range socks {
			if sock.client.conn.Transport() == "websocket" {
				c.websocket++
			} else {
				c.polling++
			}
		}
	}
	out := make([]TransportCount, 0, 2*len(order))
	for _, name := range order {
		c := by[name]
		out = append(out,
			TransportCount{Namespace: name, Transport: "polling", Sockets: c.polling},
			TransportCount{Namespace: name, Transport: "websocket", Sockets: c.websocket})
	}
	return out
}
