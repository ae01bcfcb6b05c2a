package integration

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

// threeNodesWithClients starts three nodes on one Redis with a client on
// each and waits until node 0's fetchSockets lists all three.
func threeNodesWithClients(t *testing.T) []*ionbusNode {
	t.Helper()
	requireClusterTools(t)
	rs := redistest.Start(t)
	nodes := clusterNodes(t, 3, nodeSpec{RedisURL: rs.URL(), Key: keyFor(t)})
	sw := startSwarm(t)
	for i, id := range []string{"a1", "b1", "c1"} {
		sw.connect(id, nodes[i].url(), "")
	}
	var resp socketList
	poll(t, 10*time.Second, func() string { return "fetchSockets listing all three nodes" }, func() bool {
		code := nodes[0].do(t, http.MethodGet, "/api/v1/sockets?namespace=/", nil, &resp)
		return code == http.StatusOK && len(resp.Sockets) == 3 && resp.Complete
	})
	return nodes
}

// TestClusterRequestSkipsDeadNode: a node killed with SIGKILL must not make
// cluster requests wait for request_timeout (2s here): its Redis
// connection drops, it leaves the count of live nodes, and fetchSockets
// completes with the survivors' answers. (The reference adapter keeps
// waiting for the count it read when the request started.)
func TestClusterRequestSkipsDeadNode(t *testing.T) {
	nodes := threeNodesWithClients(t)
	var resp socketList
	nodes[2].p.kill()
	// Give Redis a moment to notice the closed connection: poll until a
	// request completes with the two survivors, each answer bounded.
	var took time.Duration
	poll(t, 10*time.Second, func() string { return "fetchSockets without the dead node" }, func() bool {
		start := time.Now()
		code := nodes[0].do(t, http.MethodGet, "/api/v1/sockets?namespace=/", nil, &resp)
		took = time.Since(start)
		return code == http.StatusOK && resp.Complete && len(resp.Sockets) == 2
	})
	// A request that waited for the dead node would end in a timeout
	// (Complete=false), which the poll above does not accept.
	t.Logf("fetchSockets across the surviving nodes took %v (request_timeout 2s)", took)
}

// TestClusterRequestSkipsHungNode: a node stopped with SIGSTOP keeps its
// Redis connection, so it still counts as subscribed, but it answers
// nothing. Once its liveness lapses (three heartbeats, 6 s by default)
// requests stop waiting for it: fetchSockets returns the other nodes'
// sockets at once, marked incomplete and naming the node it gave up on,
// instead of each request ending in request_timeout. After SIGCONT the
// node beats again and answers again (its client may have been dropped
// meanwhile by the 1 s ping timeout, so only completeness is checked).
func TestClusterRequestSkipsHungNode(t *testing.T) {
	nodes := threeNodesWithClients(t)
	var resp socketList
	fetch := func() int {
		resp = socketList{}
		return nodes[0].do(t, http.MethodGet, "/api/v1/sockets?namespace=/", nil, &resp)
	}

	hung := nodes[2].p.cmd.Process
	if err := hung.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hung.Signal(syscall.SIGCONT) })
	stopped := time.Now()
	// Until the liveness lapses, requests time out (request_timeout 2s);
	// afterwards they give up on the stopped node at once.
	poll(t, 20*time.Second, func() string { return "fetchSockets giving up on the stopped node: " + resp.Error }, func() bool {
		return fetch() == http.StatusOK && !resp.Complete && len(resp.Sockets) == 2 &&
			strings.Contains(resp.Error, "1 node(s) subscribed but not answering")
	})
	t.Logf("requests stopped waiting for the stopped node %v after SIGSTOP", time.Since(stopped).Round(100*time.Millisecond))

	if err := hung.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	poll(t, 15*time.Second, func() string { return "a complete fetchSockets after SIGCONT: " + resp.Error }, func() bool {
		return fetch() == http.StatusOK && resp.Complete && resp.Error == ""
	})
}
