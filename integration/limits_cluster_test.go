package integration

// Cluster-wide connection limits: max_connections_per_user is enforced
// across nodes through Redis slots, and a crashed node's slots come back
// within limits.node_ttl.

import (
	"fmt"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

// TestClusterConnectionLimit: limit 3 per user over three nodes.
func TestClusterConnectionLimit(t *testing.T) {
	requireClusterTools(t)
	rs := redistest.Start(t)
	nodes := clusterNodes(t, 3, nodeSpec{RedisURL: rs.URL(), Key: keyFor(t), Access: "authenticated", Limits: true, MaxConnsUser: 3})
	sw := startSwarm(t)
	tok := token(t, "ulimit")

	// Ten concurrent connections, round robin over the nodes.
	from := sw.mark()
	var ids []string
	for i := range 10 {
		id := fmt.Sprintf("u%d", i)
		ids = append(ids, id)
		sw.open(id, nodes[i%3].url(), tok)
	}
	var ok []string
	refused := 0
	for _, id := range ids {
		m := sw.outcome(id, from)
		switch m["ev"] {
		case "connect":
			ok = append(ok, id)
		case "connect_error":
			data, _ := m["data"].(map[string]any)
			if data["code"] != "CONNECTION_LIMIT_EXCEEDED" {
				t.Errorf("%s: connect_error %v, want data.code CONNECTION_LIMIT_EXCEEDED", id, m)
			}
			refused++
		}
	}
	if len(ok) != 3 || refused != 7 {
		t.Fatalf("10 concurrent connections with limit 3: %d connected (%v), %d refused; want 3 and 7\n%s", len(ok), ok, refused, sw.transcript())
	}

	// Release one: a new connection (on another node) is admitted.
	sw.disconnect(ok[0])
	k := 0
	poll(t, 10*time.Second, func() string { return "a connection admitted after one disconnected\n" + sw.transcript() }, func() bool {
		k++
		id := fmt.Sprintf("again%d", k)
		at := sw.mark()
		sw.open(id, nodes[(k+1)%3].url(), tok)
		return sw.outcome(id, at)["ev"] == "connect"
	})
	at := sw.mark()
	sw.open("over", nodes[0].url(), tok)
	if m := sw.outcome("over", at); m["ev"] != "connect_error" {
		t.Fatalf("4th live connection admitted: %v", m)
	}

	// A second user holds 2 slots on node c and 1 on node a; node c is
	// SIGKILLed: its slots are usable again within node_ttl + slack.
	tok2 := token(t, "ucrash")
	sw.connect("c-1", nodes[2].url(), tok2)
	sw.connect("c-2", nodes[2].url(), tok2)
	sw.connect("c-3", nodes[0].url(), tok2)
	at = sw.mark()
	sw.open("c-4", nodes[1].url(), tok2)
	if m := sw.outcome("c-4", at); m["ev"] != "connect_error" {
		t.Fatalf("ucrash 4th connection admitted before the crash: %v", m)
	}
	nodes[2].p.kill()
	killed := time.Now()
	const nodeTTL = 3 * time.Second
	admitted := 0
	k = 0
	poll(t, nodeTTL+5*time.Second, func() string {
		return fmt.Sprintf("the crashed node's 2 slots to be reusable (admitted %d)\n%s", admitted, sw.transcript())
	}, func() bool {
		k++
		id := fmt.Sprintf("after%d", k)
		at := sw.mark()
		sw.open(id, nodes[k%2].url(), tok2)
		if sw.outcome(id, at)["ev"] == "connect" {
			admitted++
		}
		return admitted == 2
	})
	t.Logf("crashed node's slots reusable %v after SIGKILL (node_ttl %v)", time.Since(killed).Round(10*time.Millisecond), nodeTTL)
	at = sw.mark()
	sw.open("c-over", nodes[0].url(), tok2)
	if m := sw.outcome("c-over", at); m["ev"] != "connect_error" {
		t.Fatalf("ucrash: a 4th live connection admitted after the crash recovery: %v", m)
	}
}
