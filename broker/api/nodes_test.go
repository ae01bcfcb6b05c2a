package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker/api"
)

// TestNodes: GET /api/v1/nodes on one node lists every node of the
// cluster with its own sockets, and sums them.
func TestNodes(t *testing.T) {
	bus := adapter.NewMemoryBus()
	filled := func(st *api.NodeStats) { st.Refused["TEST_CODE"] = 3 }
	a := newEnv(t, api.Config{Key: testKey}, bus.Node("a"))
	b := newEnv(t, api.Config{Key: testKey}, bus.Node("b"))
	// Node b reports what its owner adds (package node: refusals, Redis).
	b.api = api.New(api.Config{Key: testKey, Nodes: api.NewNodes(b.srv, filled)}, b.srv)

	dialPolling(t, a.engine.URL).connect("/", `{"room":"r1"}`)
	dialPolling(t, b.engine.URL).connect("/", `{"room":"r1"}`)
	dialPolling(t, b.engine.URL).connect("/admin", "")

	for _, e := range []*env{a, b} {
		res, body := e.call(t, "GET", "/api/v1/nodes", testKey, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("nodes: %d %s", res.StatusCode, body)
		}
		var out api.NodesResponse
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if !out.Complete || out.Count != 2 || len(out.Nodes) != 2 {
			t.Fatalf("want both nodes, complete: %s", body)
		}
		want := map[string]*env{a.srv.NodeID(): a, b.srv.NodeID(): b}
		for _, n := range out.Nodes {
			owner := want[n.Node]
			if owner == nil {
				t.Fatalf("unknown node %q in %s", n.Node, body)
			}
			delete(want, n.Node)
			sockets := map[string]api.NodeNamespace{}
			for _, ns := range n.Namespaces {
				sockets[ns.Name] = ns
			}
			root := sockets["/"]
			if root.Sockets != 1 || root.Polling != 1 || root.Websocket != 0 || root.Rooms != 1 {
				t.Errorf("node %s namespace /: %+v, want 1 polling socket in 1 room", n.Node, root)
			}
			wantAdmin := 0
			if owner == b {
				wantAdmin = 1
				if n.Refused["TEST_CODE"] != 3 {
					t.Errorf("node b's summary lacks what its fill added: %+v", n.Refused)
				}
			}
			if sockets["/admin"].Sockets != wantAdmin || n.Sockets != 1+wantAdmin || n.Clients != int64(1+wantAdmin) {
				t.Errorf("node %s: %d sockets (/admin %d), %d clients", n.Node, n.Sockets, sockets["/admin"].Sockets, n.Clients)
			}
			if n.Hostname == "" || n.PID == 0 || n.Cluster.Adapter != "memory" || n.Cluster.Status != "ok" || n.Process.Goroutines == 0 {
				t.Errorf("node %s: identity or process figures missing: %+v", n.Node, n)
			}
			if n.StartedAt == "" || n.Timestamp[len(n.Timestamp)-1] != 'Z' {
				t.Errorf("node %s: timestamps %q %q, want ISO 8601 UTC", n.Node, n.StartedAt, n.Timestamp)
			}
		}
		if out.Totals.Sockets != 3 || out.Totals.Clients != 3 || out.Totals.Namespaces["/"] != 2 || out.Totals.Namespaces["/admin"] != 1 {
			t.Errorf("totals %+v", out.Totals)
		}
	}

	if res, _ := a.call(t, "GET", "/api/v1/nodes", "", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the key: %d", res.StatusCode)
	}
	for _, q := range []string{"0", "x", "60001"} {
		if res, body := a.call(t, "GET", "/api/v1/nodes?timeout_ms="+q, testKey, ""); res.StatusCode != http.StatusBadRequest {
			t.Errorf("timeout_ms=%s: %d %s", q, res.StatusCode, body)
		}
	}
	if res, _ := a.call(t, "POST", "/api/v1/nodes", testKey, ""); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

// TestNodesSingle: in memory mode (no other node) the answer is this
// node alone, at once and complete.
func TestNodesSingle(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	res, body := e.call(t, "GET", "/api/v1/nodes?timeout_ms=500", testKey, "")
	var out api.NodesResponse
	if err := json.Unmarshal(body, &out); err != nil || res.StatusCode != 200 {
		t.Fatalf("%d %s %v", res.StatusCode, body, err)
	}
	if !out.Complete || out.Count != 1 || out.Nodes[0].Node != e.srv.NodeID() {
		t.Fatalf("%s", body)
	}
}
