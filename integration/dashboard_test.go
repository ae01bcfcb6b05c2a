package integration

// GET /api/v1/nodes and the built-in dashboard (GET /dashboard) on two
// `ionbus serve` nodes sharing a real redis-server, with real
// socket.io-client sockets (js/swarm.js) in rooms on both; the dashboard
// is read in headless Chromium (js/dashboard.js, js/browser.js).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

// nodesAnswer is the part of GET /api/v1/nodes the tests read.
type nodesAnswer struct {
	Nodes []struct {
		Node       string `json:"node"`
		Hostname   string `json:"hostname"`
		Sockets    int    `json:"sockets"`
		Clients    int    `json:"clients"`
		Namespaces []struct {
			Name      string `json:"name"`
			Sockets   int    `json:"sockets"`
			Polling   int    `json:"polling"`
			Websocket int    `json:"websocket"`
			Rooms     int    `json:"rooms"`
		} `json:"namespaces"`
		Traffic struct {
			Deliveries int64 `json:"deliveries_total"`
		} `json:"traffic"`
		Cluster struct {
			Adapter   string `json:"adapter"`
			Status    string `json:"status"`
			Published uint64 `json:"published_total"`
		} `json:"cluster"`
	} `json:"nodes"`
	Count    int  `json:"count"`
	Complete bool `json:"complete"`
	Totals   struct {
		Sockets    int            `json:"sockets"`
		Namespaces map[string]int `json:"namespaces"`
	} `json:"totals"`
	Error string `json:"error"`
}

// nodeLayout is what each node holds in these tests.
type nodeLayout struct{ sockets, websocket, polling, rooms int }

// openDashboardLayout connects, on node a: a1, a2 (websocket) in chat:1,
// a3 (polling) in chat:2; on node b: b1 (websocket) in chat:1, b2
// (polling) in no room.
func openDashboardLayout(t *testing.T, sw *swarm, a, b *ionbusNode) map[string]nodeLayout {
	t.Helper()
	sw.connectVia("a1", a.url(), "", "websocket")
	sw.connectVia("a2", a.url(), "", "websocket")
	sw.connectVia("a3", a.url(), "", "polling")
	sw.connectVia("b1", b.url(), "", "websocket")
	sw.connectVia("b2", b.url(), "", "polling")
	sw.join("a1", "chat:1")
	sw.join("a2", "chat:1")
	sw.join("a3", "chat:2")
	sw.join("b1", "chat:1")
	return map[string]nodeLayout{"a": {3, 2, 1, 2}, "b": {2, 1, 1, 1}}
}

func getNodes(t *testing.T, n *ionbusNode, query string) nodesAnswer {
	t.Helper()
	var out nodesAnswer
	if code := n.do(t, http.MethodGet, "/api/v1/nodes"+query, nil, &out); code != http.StatusOK {
		t.Fatalf("GET /api/v1/nodes on %s: %d", n.spec.ID, code)
	}
	return out
}

// TestClusterNodes: either node's GET /api/v1/nodes lists both nodes
// with the sockets, transports, rooms and deliveries each really has;
// a node that stops drops out of the answer.
func TestClusterNodes(t *testing.T) {
	requireClusterTools(t)
	rs := redistest.Start(t)
	nodes := clusterNodes(t, 2, nodeSpec{RedisURL: rs.URL(), Key: keyFor(t)})
	sw := startSwarm(t)
	want := openDashboardLayout(t, sw, nodes[0], nodes[1])
	nodes[0].mustEmit(t, []string{"chat:1"}, nil, "news", "hello")
	for _, id := range []string{"a1", "a2", "b1"} {
		sw.waitEvent(id, "news", 10*time.Second)
	}

	for _, n := range nodes {
		var got nodesAnswer
		poll(t, 10*time.Second, func() string { return fmt.Sprintf("node %s: %+v", n.spec.ID, got) }, func() bool {
			got = getNodes(t, n, "")
			return got.Complete && got.Count == 2 && got.Totals.Sockets == 5
		})
		if got.Totals.Namespaces["/"] != 5 {
			t.Errorf("node %s totals %+v", n.spec.ID, got.Totals)
		}
		for _, ns := range got.Nodes {
			w, ok := want[ns.Node]
			if !ok {
				t.Fatalf("node %s lists unknown node %q", n.spec.ID, ns.Node)
			}
			if len(ns.Namespaces) != 1 || ns.Namespaces[0].Name != "/" {
				t.Fatalf("node %s: namespaces of %s %+v", n.spec.ID, ns.Node, ns.Namespaces)
			}
			root := ns.Namespaces[0]
			if ns.Sockets != w.sockets || ns.Clients != w.sockets || root.Websocket != w.websocket || root.Polling != w.polling || root.Rooms != w.rooms {
				t.Errorf("node %s says %s has %d sockets (%d websocket, %d polling) in %d rooms, %d clients; want %+v",
					n.spec.ID, ns.Node, ns.Sockets, root.Websocket, root.Polling, root.Rooms, ns.Clients, w)
			}
			if ns.Cluster.Adapter != "redis" || ns.Cluster.Status != "ok" || ns.Hostname == "" {
				t.Errorf("node %s says %s: %+v", n.spec.ID, ns.Node, ns.Cluster)
			}
			// The emit to chat:1 reached a1, a2 on a and b1 on b.
			if wantDeliveries := map[string]int64{"a": 2, "b": 1}[ns.Node]; ns.Traffic.Deliveries < wantDeliveries {
				t.Errorf("%s delivered %d, want at least %d", ns.Node, ns.Traffic.Deliveries, wantDeliveries)
			}
		}
	}
	if nodes[0].do(t, http.MethodGet, "/api/v1/nodes?timeout_ms=0", nil, nil) != http.StatusBadRequest {
		t.Error("timeout_ms=0 accepted")
	}

	nodes[1].p.stop(5 * time.Second)
	var got nodesAnswer
	poll(t, 10*time.Second, func() string { return fmt.Sprintf("node b gone from node a's answer: %+v", got) }, func() bool {
		got = getNodes(t, nodes[0], "?timeout_ms=1000")
		return got.Count == 1 && got.Complete && got.Nodes[0].Node == "a" && got.Totals.Sockets == 3
	})
}

// requireChromium finds the browser and playwright-core; it skips when
// either is missing outside CI.
func requireChromium(t *testing.T) {
	t.Helper()
	found := os.Getenv("CHROMIUM")
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if found == "" {
			if _, err := os.Stat(p); err == nil {
				found = p
			}
		}
	}
	if found == "" {
		if os.Getenv("CI") == "" {
			t.Skip("chromium not found (set CHROMIUM, or CI=1 to make this a failure)")
		}
		t.Fatal("chromium not found: install Debian's chromium (.ci/deps does) or set CHROMIUM")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("integration/node_modules/playwright-core is missing: run `npm ci` in integration/ (%v)", err)
	}
}

// TestDashboard: the dashboard of node a, in headless Chromium, signs in
// with the API key through its form and shows both nodes with the
// sockets and transports each holds, without a console error, a page
// error or a failed request. The screenshot goes to a temporary
// directory; with UPDATE_SCREENSHOTS=1 it replaces docs/dashboard.png.
func TestDashboard(t *testing.T) {
	requireClusterTools(t)
	requireChromium(t)
	rs := redistest.Start(t)
	nodes := clusterNodes(t, 2, nodeSpec{RedisURL: rs.URL(), Key: keyFor(t)})
	sw := startSwarm(t)
	want := openDashboardLayout(t, sw, nodes[0], nodes[1])
	// A message over limits.max_message_bytes (10 KiB): one refusal on a.
	sw.send(map[string]any{"cmd": "emit", "id": "a1", "event": "hello", "args": []any{strings.Repeat("x", 20000)}})
	// Some traffic for the deliveries/s chart, while the page watches.
	stopTraffic := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 300; i++ { // bounded: at most 60 s
			select {
			case <-stopTraffic:
				return
			case <-tick.C:
				// Not n.emit: t.Fatal belongs to the test's goroutine.
				body := fmt.Sprintf(`{"event":"tick","rooms":["chat:1"],"data":[%d]}`, i)
				req, _ := http.NewRequest(http.MethodPost, nodes[i%2].apiURL()+"/api/v1/emit", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+clusterAPIKey)
				if resp, err := nodes[i%2].http.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	defer func() { close(stopTraffic); <-trafficDone }()

	expect := map[string]map[string]int{}
	for id, l := range want {
		expect[id] = map[string]int{"sockets": l.sockets, "websocket": l.websocket, "polling": l.polling}
	}
	expectJSON, _ := json.Marshal(expect)
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	polls := "3"
	if os.Getenv("UPDATE_SCREENSHOTS") != "" {
		polls = "12" // about 25 s of history in the charts
	}
	r := startNode(t, "dashboard.js", []string{
		"URL=" + nodes[0].apiURL(), "KEY=" + clusterAPIKey, "SHOT=" + shot,
		"EXPECT=" + string(expectJSON), "POLLS=" + polls, "TIMEOUT_MS=42000",
	}, "dashboard")
	lines := r.wait()
	var res map[string]any
	for _, m := range lines {
		if v, ok := m["result"].(map[string]any); ok {
			res = v
		}
	}
	if res == nil {
		t.Fatalf("no result\n%s", r.transcript())
	}
	if problems, _ := res["problems"].([]any); len(problems) > 0 {
		t.Fatalf("the page had problems: %v", problems)
	}
	rows, _ := res["nodes"].(map[string]any)
	for id, l := range want {
		row, _ := rows[id].(map[string]any)
		if row == nil {
			t.Fatalf("node %s not shown: %v", id, rows)
		}
		if row["Sockets"] != fmt.Sprint(l.sockets) || row["WebSocket"] != fmt.Sprint(l.websocket) ||
			row["Polling"] != fmt.Sprint(l.polling) || row["Rooms"] != fmt.Sprint(l.rooms) || row["Redis"] != "connected" {
			t.Errorf("node %s shown as %v, want %+v and Redis connected", id, row, l)
		}
	}
	if row, _ := rows["a"].(map[string]any); row["Refusals"] != "1" {
		t.Errorf("node a shows %v refusals, want the oversized message's 1", row["Refusals"])
	}
	cards, _ := res["cards"].(map[string]any)
	if cards["Nodes"] != "2" || cards["Sockets"] != "5" || cards["Clients"] != "5" || cards["status"] != "healthy" {
		t.Errorf("cards %v", cards)
	}
	if dps, _ := cards["Deliveries/s"].(string); dps == "" || dps == "0" || dps == "–" {
		t.Errorf("deliveries/s %q while the test emits 5/s to 3 sockets", dps)
	}
	if n, _ := res["chartPaths"].(float64); n < 2 {
		t.Errorf("sockets chart has %v lines, want one per node (and the total)", n)
	}
	ns, _ := res["namespaces"].([]any)
	if len(ns) != 1 || !strings.HasPrefix(fmt.Sprint(ns[0]), "[/ 5 ") {
		t.Errorf("namespaces table %v", ns)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if os.Getenv("UPDATE_SCREENSHOTS") != "" {
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "dashboard.png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
