package integration

// The Admin UI protocol (package broker/adminui) on two `ionbus serve`
// nodes sharing a real redis-server: the official UI from
// @socket.io/admin-ui 0.5 (its ui/dist, served by this test from another
// origin) in headless Chromium (js/admin-ui.js, js/browser.js), and a
// socket.io-client acting as the UI (js/swarm.js) for the events and the
// commands, each applied across the cluster.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

const (
	adminUser     = "admin"
	adminPassword = "correct horse battery staple"
)

// adminHash runs `ionbus hash-password` (at bcrypt's minimum cost, for
// speed) as the README tells users to.
func adminHash(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(ionbusBinary(t), "hash-password", "--cost", "4")
	cmd.Env = append(os.Environ(), "IONBUS_ADMIN_UI_PASSWORD="+adminPassword)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ionbus hash-password: %v", err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$2a$04$") || len(hash) != 60 {
		t.Fatalf("ionbus hash-password printed %q", hash)
	}
	return hash
}

// adminNodes starts nodes ionbus-a and ionbus-b on redis with the Admin
// UI in development mode; origin is the page the browser loads the UI
// from.
func adminNodes(t *testing.T, redisURL, key, origin string) []*ionbusNode {
	t.Helper()
	hash := adminHash(t)
	var nodes []*ionbusNode
	for _, id := range []string{"ionbus-a", "ionbus-b"} {
		nodes = append(nodes, launchIonbus(t, id, func(port, apiPort int) string {
			return fmt.Sprintf(`listen: "127.0.0.1:%d"
node_id: %q
api: {listen: "127.0.0.1:%d", key: %q}
engine: {ping_interval: 2s, ping_timeout: 2s}
shutdown_timeout: 3s
redis: {url: %q, key: %q, request_timeout: 2s}
namespaces:
  - name: /
    rooms: {allow: ["*"]}
  - name: /chat
admin_ui:
  enabled: true
  mode: development
  username: %q
  password_hash: %q
  allow_origins: [%q]
`, port, id, apiPort, clusterAPIKey, redisURL, key, adminUser, hash, origin)
		}))
	}
	return waitIonbus(t, nodes)
}

// adminEvents returns the events called name the swarm socket id got.
func adminEvents(sw *swarm, id, name string) [][]any {
	var out [][]any
	for _, m := range sw.received(id, name) {
		a, _ := m["args"].([]any)
		out = append(out, a)
	}
	return out
}

// waitAdmin waits until socket id got an event called name whose
// arguments satisfy pred.
func waitAdmin(t *testing.T, sw *swarm, id, name string, pred func(args []any) bool) []any {
	t.Helper()
	m, _ := sw.waitLine(15*time.Second, name+" on "+id, 0, func(m map[string]any) bool {
		if m["ev"] != "event" || m["id"] != id || m["name"] != name {
			return false
		}
		a, _ := m["args"].([]any)
		return pred(a)
	})
	a, _ := m["args"].([]any)
	return a
}

// roomMembers is GET /api/v1/sockets?room= on node n: the socket ids.
func roomMembers(t *testing.T, n *ionbusNode, room string) []string {
	t.Helper()
	var resp socketList
	if code := n.do(t, http.MethodGet, "/api/v1/sockets?namespace=/&room="+room, nil, &resp); code != http.StatusOK || !resp.Complete {
		t.Fatalf("GET /api/v1/sockets room %s: %d %+v", room, code, resp)
	}
	var ids []string
	for _, s := range resp.Sockets {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return ids
}

// TestAdminUI: two nodes, sockets in rooms on both; the official Admin
// UI in Chromium logs in (a wrong password first) and lists every socket,
// room and both servers, with no console error, page error or failed
// request; a socket.io-client logged in as the UI gets the server stats
// of both nodes, every socket, the live events of both nodes, and its
// commands (join, leave, emit, _disconnect) reach sockets on either node.
// The screenshots go to a temporary directory; with UPDATE_SCREENSHOTS=1
// they replace docs/admin-ui.png, docs/admin-ui-rooms.png and
// docs/admin-ui-servers.png.
func TestAdminUI(t *testing.T) {
	requireClusterTools(t)
	requireChromium(t)
	dist := filepath.Join("node_modules", "@socket.io", "admin-ui", "ui", "dist")
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatalf("%s is missing: run `npm ci` in integration/ (%v)", dist, err)
	}
	page := httptest.NewServer(http.FileServer(http.Dir(dist)))
	t.Cleanup(page.Close)
	rs := redistest.Start(t)
	nodes := adminNodes(t, rs.URL(), keyFor(t), page.URL)
	a, b := nodes[0], nodes[1]

	sw := startSwarm(t)
	sids := map[string]string{
		"a1": sw.connectVia("a1", a.url(), "", "websocket"),
		"a2": sw.connectVia("a2", a.url(), "", "polling"),
		"b1": sw.connectVia("b1", b.url(), "", "upgrade"),
	}
	from := sw.mark()
	sw.send(map[string]any{"cmd": "connect", "id": "b2", "url": b.url(), "nsp": "/chat"})
	m, _ := sw.waitLine(10*time.Second, "connect of b2", from, func(m map[string]any) bool { return m["id"] == "b2" && m["ev"] == "connect" })
	sids["b2"] = m["sid"].(string)
	sw.join("a1", "lobby")
	sw.join("b1", "lobby")
	sw.join("a2", "vip")

	// The official UI, in Chromium.
	dir := t.TempDir()
	shot, shotRooms, shotServers := filepath.Join(dir, "admin-ui.png"), filepath.Join(dir, "admin-ui-rooms.png"), filepath.Join(dir, "admin-ui-servers.png")
	expect, _ := json.Marshal(map[string]any{
		"sockets": []string{sids["a1"], sids["a2"], sids["b1"]},
		"rooms":   []string{"lobby", "vip"},
		"servers": []string{"ionbus-a", "ionbus-b"},
	})
	r := startNode(t, "admin-ui.js", []string{
		"URL=" + page.URL, "SERVER=" + a.url(), "USER=" + adminUser, "PASS=" + adminPassword,
		"SHOT=" + shot, "SHOT_ROOMS=" + shotRooms, "SHOT_SERVERS=" + shotServers, "EXPECT=" + string(expect), "TIMEOUT_MS=60000",
	}, "login")
	var res map[string]any
	for _, m := range r.wait() {
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
	// Transports as the sockets really are: a2 long-polling only.
	if sockets, _ := res["sockets"].(string); !strings.Contains(sockets, "HTTP long-polling") || !strings.Contains(sockets, "WebSocket") {
		t.Errorf("sockets view %q: want both transports", sockets)
	}
	for _, p := range []string{shot, shotRooms, shotServers} {
		if st, err := os.Stat(p); err != nil || st.Size() < 20000 {
			t.Fatalf("screenshot %s: %v", p, err)
		}
	}
	if os.Getenv("UPDATE_SCREENSHOTS") != "" {
		for src, dst := range map[string]string{shot: "admin-ui.png", shotRooms: "admin-ui-rooms.png", shotServers: "admin-ui-servers.png"} {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "docs", dst), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A socket.io-client as the UI, on node b: a wrong password is
	// refused; the right one gets a session, the config, every socket of
	// both nodes and the stats of both.
	from = sw.mark()
	sw.send(map[string]any{"cmd": "connect", "id": "bad", "url": b.url(), "nsp": "/admin", "auth": map[string]any{"username": adminUser, "password": "nope"}})
	if m := sw.outcome("bad", from); m["ev"] != "connect_error" || m["message"] != "invalid credentials" {
		t.Fatalf("wrong password: %v", m)
	}
	from = sw.mark()
	sw.send(map[string]any{"cmd": "connect", "id": "ui", "url": b.url(), "nsp": "/admin", "auth": map[string]any{"username": adminUser, "password": adminPassword}})
	if m := sw.outcome("ui", from); m["ev"] != "connect" {
		t.Fatalf("login: %v", m)
	}
	session := waitAdmin(t, sw, "ui", "session", func(a []any) bool { return len(a) == 1 })
	waitAdmin(t, sw, "ui", "config", func(a []any) bool {
		cfg, _ := a[0].(map[string]any)
		f, _ := cfg["supportedFeatures"].([]any)
		return slices.Contains(f, any("ALL_EVENTS")) && slices.Contains(f, any("MJOIN"))
	})
	all := waitAdmin(t, sw, "ui", "all_sockets", func(a []any) bool { return len(a) == 1 })
	got := map[string]string{} // id -> "nsp transport rooms"
	for _, s := range all[0].([]any) {
		e := s.(map[string]any)
		var rooms []string
		for _, r := range e["rooms"].([]any) {
			if r != e["id"] {
				rooms = append(rooms, r.(string))
			}
		}
		got[e["id"].(string)] = fmt.Sprintf("%s %s %s", e["nsp"], e["transport"], strings.Join(rooms, ","))
	}
	for name, want := range map[string]string{"a1": "/ websocket lobby", "a2": "/ polling vip", "b1": "/ websocket lobby", "b2": "/chat websocket "} {
		if got[sids[name]] != want {
			t.Errorf("all_sockets: %s is %q, want %q (all: %v)", name, got[sids[name]], want, got)
		}
	}
	for _, id := range []string{"ionbus-a", "ionbus-b"} {
		waitAdmin(t, sw, "ui", "server_stats", func(a []any) bool {
			st, _ := a[0].(map[string]any)
			return st["serverId"] == id && st["hostname"] != "" && st["pid"].(float64) > 0 && st["clientsCount"].(float64) >= 1
		})
	}
	// The session alone logs in on the other node (kept in Redis).
	from = sw.mark()
	sw.send(map[string]any{"cmd": "connect", "id": "again", "url": a.url(), "nsp": "/admin", "auth": map[string]any{"sessionId": session[0]}})
	if m := sw.outcome("again", from); m["ev"] != "connect" {
		t.Fatalf("session login on node a: %v", m)
	}

	// Live events of node a's sockets reach the UI on node b.
	sw.send(map[string]any{"cmd": "emit", "id": "a1", "event": "hello-admin", "args": []any{"x", 1}})
	waitAdmin(t, sw, "ui", "event_received", func(a []any) bool {
		return len(a) == 4 && a[0] == "/" && a[1] == sids["a1"] && fmt.Sprint(a[2]) == "[hello-admin x 1]"
	})

	// Commands, sent to node b, applied on both nodes.
	sw.send(map[string]any{"cmd": "emit", "id": "ui", "event": "join", "args": []any{"/", "vip", sids["a1"]}})
	waitAdmin(t, sw, "ui", "room_joined", func(a []any) bool { return a[0] == "/" && a[1] == "vip" && a[2] == sids["a1"] })
	want := []string{sids["a1"], sids["a2"]}
	sort.Strings(want)
	poll(t, 10*time.Second, func() string { return "a1 in vip" }, func() bool { return slices.Equal(roomMembers(t, b, "vip"), want) })

	sw.send(map[string]any{"cmd": "emit", "id": "ui", "event": "leave", "args": []any{"/", "lobby", sids["a1"]}})
	waitAdmin(t, sw, "ui", "room_left", func(a []any) bool { return a[1] == "lobby" && a[2] == sids["a1"] })
	poll(t, 10*time.Second, func() string { return "a1 out of lobby" }, func() bool {
		return slices.Equal(roomMembers(t, a, "lobby"), []string{sids["b1"]})
	})

	sw.send(map[string]any{"cmd": "emit", "id": "ui", "event": "emit", "args": []any{"/", "lobby", "news", map[string]any{"n": 1}}})
	sw.waitEvent("b1", "news", 10*time.Second)
	sw.barrier(t, a, []string{"a1", "a2", "b1"})
	if n := len(sw.received("a1", "news")) + len(sw.received("a2", "news")); n != 0 {
		t.Errorf("emit to lobby reached %d sockets outside it", n)
	}
	if got := adminEvents(sw, "ui", "event_sent"); len(got) != 0 {
		t.Errorf("broadcasts reported as event_sent: %v", got) // upstream reports direct emits only
	}

	sw.send(map[string]any{"cmd": "emit", "id": "ui", "event": "_disconnect", "args": []any{"/", false, sids["a2"]}})
	sw.waitLine(10*time.Second, "a2 disconnected", 0, func(m map[string]any) bool {
		return m["id"] == "a2" && m["ev"] == "disconnect" && m["reason"] == "io server disconnect"
	})
	waitAdmin(t, sw, "ui", "socket_disconnected", func(a []any) bool { return a[0] == "/" && a[1] == sids["a2"] })
	if gone, _ := sw.find(func(m map[string]any) bool { return m["ev"] == "disconnect" && m["id"] != "a2" }); len(gone) != 0 {
		t.Fatalf("other sockets disconnected too: %v", gone)
	}
	// A new socket on node a is announced to the UI on node b; it starts
	// on polling, and its upgrade is reported (unless it was done before
	// the CONNECT was read).
	sids["a3"] = sw.connectVia("a3", a.url(), "", "upgrade")
	conn := waitAdmin(t, sw, "ui", "socket_connected", func(a []any) bool {
		s, _ := a[0].(map[string]any)
		return s["id"] == sids["a3"] && s["nsp"] == "/"
	})
	t.Logf("a3 announced on %v", conn[0].(map[string]any)["transport"])
	if conn[0].(map[string]any)["transport"] == "polling" {
		waitAdmin(t, sw, "ui", "socket_updated", func(a []any) bool {
			s, _ := a[0].(map[string]any)
			return s["id"] == sids["a3"] && s["nsp"] == "/" && s["transport"] == "websocket"
		})
	}
}
