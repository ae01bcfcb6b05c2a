package integration

// Presence across three `ionbus serve` nodes on one Redis: joins and
// leaves are produced once cluster-wide and delivered to room members on
// every node, several tabs of one user count once, the grace period hides
// a reconnect, and a crashed node's users leave within presence.node_ttl.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

// presenceEvents returns the presence:<kind> events socket id received
// for user in room, with their line index in the swarm's output.
func presenceEvents(sw *swarm, id, kind, room, user string) ([]map[string]any, []int) {
	return sw.find(func(m map[string]any) bool {
		if m["ev"] != "event" || m["id"] != id || m["name"] != "presence:"+kind {
			return false
		}
		a, _ := m["args"].([]any)
		if len(a) == 0 {
			return false
		}
		p, _ := a[0].(map[string]any)
		u, _ := p["user"].(map[string]any)
		return p["room"] == room && u["id"] == user
	})
}

func waitPresence(t *testing.T, sw *swarm, ids []string, kind, room, user string, n int, d time.Duration) {
	t.Helper()
	for _, id := range ids {
		poll(t, d, func() string {
			return fmt.Sprintf("%d presence:%s of %s in %q on %s\n%s", n, kind, user, room, id, sw.transcript())
		}, func() bool {
			got, _ := presenceEvents(sw, id, kind, room, user)
			return len(got) >= n
		})
	}
}

// expectPresenceCount checks that each watcher saw exactly n events.
func expectPresenceCount(t *testing.T, sw *swarm, ids []string, kind, room, user string, n int, when string) {
	t.Helper()
	for _, id := range ids {
		if got, _ := presenceEvents(sw, id, kind, room, user); len(got) != n {
			t.Fatalf("%s: %s saw %d presence:%s of %s in %q, want %d: %v\n%s", when, id, len(got), kind, user, room, n, got, sw.transcript())
		}
	}
}

// listMember returns user's entry in presence:list {room} asked by id.
func listMember(t *testing.T, sw *swarm, id, room, user string) map[string]any {
	t.Helper()
	ack, _ := sw.call(id, "presence:list", map[string]any{"room": room}).(map[string]any)
	if ack == nil || ack["success"] == false {
		t.Fatalf("presence:list %q from %s: %v", room, id, ack)
	}
	members, _ := ack["members"].([]any)
	for _, m := range members {
		if mm, _ := m.(map[string]any); mm["id"] == user {
			return mm
		}
	}
	return nil
}

// settle connects user on node, joins room, waits for its join and then
// its leave on every watcher: presence events produced before it (with the
// same grace) have been delivered once its leave has.
func settle(t *testing.T, sw *swarm, watchers []string, n *ionbusNode, user, room string) {
	t.Helper()
	sw.connect(user, n.url(), token(t, user))
	sw.join(user, room)
	waitPresence(t, sw, watchers, "join", room, user, 1, 10*time.Second)
	sw.disconnect(user)
	waitPresence(t, sw, watchers, "leave", room, user, 1, 10*time.Second)
}

func TestClusterPresence(t *testing.T) {
	requireClusterTools(t)
	rs := redistest.Start(t)
	nodes := clusterNodes(t, 3, nodeSpec{RedisURL: rs.URL(), Key: keyFor(t), Access: "authenticated", Presence: true})
	a, b, c := nodes[0], nodes[1], nodes[2]
	sw := startSwarm(t)
	const room = "chat:1"
	watchers := []string{"wa", "wb", "wc"}
	for i, w := range watchers {
		sw.connect(w, nodes[i].url(), token(t, w))
		sw.join(w, room)
	}

	// A user joining on node a: one presence:join on every node, and
	// listed by presence:list on node c.
	sw.connect("alice-1", a.url(), token(t, "alice"))
	sw.join("alice-1", room)
	waitPresence(t, sw, watchers, "join", room, "alice", 1, 10*time.Second)
	waitPresence(t, sw, watchers, "join", "", "alice", 1, 10*time.Second) // namespace presence
	ev, _ := presenceEvents(sw, "wc", "join", room, "alice")
	p := ev[0]["args"].([]any)[0].(map[string]any)
	if u := p["user"].(map[string]any); u["name"] != "N-alice" || p["connections"] != float64(1) {
		t.Errorf("presence:join payload on wc = %v, want user.name N-alice, connections 1", p)
	}
	if m := listMember(t, sw, "wc", room, "alice"); m == nil || m["connections"] != float64(1) || m["name"] != "N-alice" {
		t.Fatalf("presence:list %s on node c: alice = %v, want connections 1 name N-alice", room, m)
	}
	// The HTTP API of node b and presence:count on node c agree: wa, wb,
	// wc and alice.
	var list struct {
		Members []struct {
			ID          string `json:"id"`
			Connections int    `json:"connections"`
		} `json:"members"`
	}
	if code := b.do(t, http.MethodGet, "/api/v1/presence?namespace=/&room=chat:1", nil, &list); code != http.StatusOK {
		t.Fatalf("GET /api/v1/presence on b: status %d", code)
	}
	var ids []string
	for _, m := range list.Members {
		ids = append(ids, m.ID)
	}
	if !sameSet(ids, []string{"wa", "wb", "wc", "alice"}) {
		t.Errorf("GET /api/v1/presence room chat:1 on node b = %v, want wa wb wc alice", list.Members)
	}
	if cnt, _ := sw.call("wc", "presence:count", map[string]any{"room": room}).(map[string]any); cnt["count"] != float64(4) {
		t.Errorf("presence:count %s on node c = %v, want 4", room, cnt)
	}

	// Second tab on node b: no second join; connections 2.
	sw.connect("alice-2", b.url(), token(t, "alice"))
	sw.join("alice-2", room)
	poll(t, 10*time.Second, func() string { return "alice listed with 2 connections" }, func() bool {
		m := listMember(t, sw, "wa", room, "alice")
		return m != nil && m["connections"] == float64(2)
	})
	// First tab closes: still online, no leave (checked after a settle,
	// which outlasts the grace period).
	sw.disconnect("alice-1")
	poll(t, 10*time.Second, func() string { return "alice listed with 1 connection" }, func() bool {
		m := listMember(t, sw, "wb", room, "alice")
		return m != nil && m["connections"] == float64(1)
	})
	settle(t, sw, watchers, a, "bob", room)
	for _, r := range []string{room, ""} {
		expectPresenceCount(t, sw, watchers, "join", r, "alice", 1, "two tabs open, then tab 1 closed")
		expectPresenceCount(t, sw, watchers, "leave", r, "alice", 0, "tab 2 still open")
	}
	// Last tab closes: one leave, after grace.
	sw.disconnect("alice-2")
	waitPresence(t, sw, watchers, "leave", room, "alice", 1, 10*time.Second)
	waitPresence(t, sw, watchers, "leave", "", "alice", 1, 10*time.Second)
	if m := listMember(t, sw, "wa", room, "alice"); m != nil {
		t.Errorf("alice still listed after both tabs closed: %v", m)
	}

	// Reconnect within grace (500ms) on another node: no leave/join flap.
	sw.connect("alice-3", a.url(), token(t, "alice"))
	sw.join("alice-3", room)
	waitPresence(t, sw, watchers, "join", room, "alice", 2, 10*time.Second)
	waitPresence(t, sw, watchers, "join", "", "alice", 2, 10*time.Second)
	sw.disconnect("alice-3")
	start := time.Now()
	sw.connect("alice-4", b.url(), token(t, "alice"))
	sw.join("alice-4", room)
	rejoin := time.Since(start)
	t.Logf("reconnected and rejoined within %v (grace 500ms)", rejoin.Round(time.Millisecond))
	settle(t, sw, watchers, a, "bob2", room)
	if rejoin < 400*time.Millisecond {
		for _, r := range []string{room, ""} {
			expectPresenceCount(t, sw, watchers, "join", r, "alice", 2, "reconnect within grace")
			expectPresenceCount(t, sw, watchers, "leave", r, "alice", 1, "reconnect within grace")
		}
	} else {
		t.Logf("rejoin took %v, too close to the 500ms grace on this machine: flap check skipped", rejoin)
	}

	// A node killed with SIGKILL: its users leave, announced to the
	// members on the surviving nodes within node_ttl + slack.
	sw.connect("carol", c.url(), token(t, "carol"))
	sw.join("carol", room)
	waitPresence(t, sw, []string{"wa", "wb"}, "join", room, "carol", 1, 10*time.Second)
	c.p.kill()
	killed := time.Now()
	const nodeTTL = 3 * time.Second
	waitPresence(t, sw, []string{"wa", "wb"}, "leave", room, "carol", 1, nodeTTL+5*time.Second)
	waitPresence(t, sw, []string{"wa", "wb"}, "leave", room, "wc", 1, 5*time.Second)
	t.Logf("crashed node's users left %v after SIGKILL (node_ttl %v, grace 500ms)", time.Since(killed).Round(10*time.Millisecond), nodeTTL)
	expectPresenceCount(t, sw, []string{"wa", "wb"}, "leave", room, "carol", 1, "after the crash")
	if m := listMember(t, sw, "wa", room, "carol"); m != nil {
		t.Errorf("carol still listed after her node crashed: %v", m)
	}
}

// TestClusterPresenceDynamicNamespace: presence rules configured on a
// pattern namespace (/tenant-*) apply to each child, each child is its own
// scope across the cluster, and a node without any socket of a child
// answers the HTTP API for it.
func TestClusterPresenceDynamicNamespace(t *testing.T) {
	requireClusterTools(t)
	rs := redistest.Start(t)
	nodes := clusterNodes(t, 3, nodeSpec{RedisURL: rs.URL(), Key: keyFor(t), Access: "authenticated", Presence: true})
	a, b, c := nodes[0], nodes[1], nodes[2]
	sw := startSwarm(t)
	const room = "doc:1"

	sw.connect("alice", a.url()+"/tenant-1", token(t, "alice"))
	sw.join("alice", room)
	sw.connect("bob", b.url()+"/tenant-1", token(t, "bob"))
	sw.join("bob", room)
	waitPresence(t, sw, []string{"alice"}, "join", room, "bob", 1, 10*time.Second)
	waitPresence(t, sw, []string{"alice"}, "join", "", "bob", 1, 10*time.Second) // namespace presence of /tenant-1
	if m := listMember(t, sw, "bob", room, "alice"); m == nil || m["connections"] != float64(1) {
		t.Fatalf("presence:list %s in /tenant-1 on node b: alice = %v", room, m)
	}

	// carol in /tenant-2, same room name: bob's tenant never hears of her.
	sw.connect("carol", b.url()+"/tenant-2", token(t, "carol"))
	sw.join("carol", room)
	waitPresence(t, sw, []string{"carol"}, "join", room, "carol", 1, 10*time.Second)
	// A later event in /tenant-1 (dave's join) arriving at bob first shows
	// carol's would have arrived by now, had it been sent to /tenant-1.
	sw.connect("dave", c.url()+"/tenant-1", token(t, "dave"))
	sw.join("dave", room)
	waitPresence(t, sw, []string{"bob"}, "join", room, "dave", 1, 10*time.Second)
	expectPresenceCount(t, sw, []string{"alice", "bob"}, "join", room, "carol", 0, "after carol joined /tenant-2")

	// Node a has no socket in /tenant-2 and still lists it.
	var list struct {
		Members []struct {
			ID string `json:"id"`
		} `json:"members"`
	}
	if code := a.do(t, http.MethodGet, "/api/v1/presence?namespace=/tenant-2&room=doc:1", nil, &list); code != http.StatusOK ||
		len(list.Members) != 1 || list.Members[0].ID != "carol" {
		t.Fatalf("GET /api/v1/presence /tenant-2 on node a: status %d, %v", code, list.Members)
	}

	sw.disconnect("bob")
	waitPresence(t, sw, []string{"alice"}, "leave", room, "bob", 1, 10*time.Second)
}
