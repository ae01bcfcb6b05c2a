package adminui

import (
	"os"
	"slices"
	"time"

	"github.com/ionbus/ionbus/connection"
)

// counters are the Engine.IO totals the aggregated events are deltas of.
type counters struct {
	opened   uint64
	closed   []uint64 // by connection.CloseReason
	received uint64
}

func (a *AdminUI) readCounters() counters {
	st := a.srv.Engine().Stats()
	return counters{opened: st.SessionsOpened, received: st.MessagesReceived, closed: slices.Clone(st.SessionsClosed[:])}
}

// aggregatedEvent is upstream's NamespaceEvent: a count per second and
// type, which the dashboard's histograms sum over the servers.
type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"` // ms, truncated to the second
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     uint64 `json:"count"`
}

// namespaceDetails is upstream's NamespaceDetails.
type namespaceDetails struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// serverStats is upstream's ServerStats, one node's entry in the UI.
type serverStats struct {
	ServerID            string             `json:"serverId"`
	Hostname            string             `json:"hostname"`
	PID                 int                `json:"pid"`
	Uptime              float64            `json:"uptime"` // seconds
	ClientsCount        int                `json:"clientsCount"`
	PollingClientsCount int                `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent  `json:"aggregatedEvents"`
	Namespaces          []namespaceDetails `json:"namespaces"`
}

// serverStats builds this node's entry. Counts of connections and
// disconnections (by reason) and of packets received since the previous
// call become aggregated events stamped with the current second;
// upstream's bytesIn/bytesOut are not counted by ionbus. It walks the
// local sockets once (polling sessions), so it runs at the stats rate
// only.
func (a *AdminUI) serverStats() serverStats {
	now := a.cfg.Now()
	cur := a.readCounters()
	a.mu.Lock()
	prev := a.last
	a.last = cur
	a.mu.Unlock()
	second := now.Truncate(time.Second).UnixMilli()
	events := []aggregatedEvent{}
	add := func(typ, sub string, n uint64) {
		if n > 0 {
			events = append(events, aggregatedEvent{Timestamp: second, Type: typ, SubType: sub, Count: n})
		}
	}
	add("rawConnection", "", cur.opened-prev.opened)
	for r, n := range cur.closed {
		if r < len(prev.closed) {
			n -= prev.closed[r]
		}
		add("rawDisconnection", connection.CloseReason(r).String(), n)
	}
	add("packetsIn", "", cur.received-prev.received)

	st := serverStats{
		ServerID:         a.cfg.ServerID,
		Hostname:         a.cfg.Hostname,
		PID:              os.Getpid(),
		Uptime:           now.Sub(a.startsAt).Seconds(),
		ClientsCount:     a.srv.Engine().Len(),
		AggregatedEvents: events,
		Namespaces:       []namespaceDetails{},
	}
	polling := map[string]struct{}{}
	for _, ns := range a.srv.Namespaces() {
		socks := ns.Sockets()
		st.Namespaces = append(st.Namespaces, namespaceDetails{Name: ns.Name(), SocketsCount: len(socks)})
		for _, s := range socks {
			if s.Transport() == "polling" {
				polling[s.Conn().ID()] = struct{}{}
			}
		}
	}
	slices.SortFunc(st.Namespaces, func(x, y namespaceDetails) int {
		switch {
		case x.Name < y.Name:
			return -1
		case x.Name > y.Name:
			return 1
		}
		return 0
	})
	st.PollingClientsCount = len(polling)
	return st
}
