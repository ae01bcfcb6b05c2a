package node

import (
	"github.com/ionbus/ionbus/broker/api"
)

// Nodes gathers every node's summary (GET /api/v1/nodes, the dashboard,
// the system events' cluster-wide counts).
func (n *Node) Nodes() *api.Nodes { return n.nodes }

// fillNodeStats adds to this node's summary what the broker does not
// know: the guard's refusals by code, the limiter's by reason, and the
// Redis adapter's counters. The snapshots are the ones GET
// /api/v1/stats and /metrics read.
func (n *Node) fillNodeStats(st *api.NodeStats) {
	gs := n.comp.Guard.Stats()
	for code, v := range gs.Refused {
		st.Refused[code] = v
	}
	if ls := gs.Limits; ls != nil {
		for r, v := range ls.Refused {
			st.Limits[r.String()] = int64(v)
		}
	}
	if a := n.comp.Adapter; a != nil {
		as := a.Stats()
		st.Cluster.Published, st.Cluster.Received = as.Published, as.Received
		st.Cluster.PublishErrors, st.Cluster.Dropped = as.PublishErrors, as.Dropped
		st.Cluster.QueueLength, st.Cluster.Resubscribes = as.QueueLen, as.Resubscribes
	}
}
