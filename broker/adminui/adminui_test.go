package adminui

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
)

func TestConfigValidate(t *testing.T) {
	srv, err := broker.New(broker.Config{NodeID: "v"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"auth", Config{Username: "u", PasswordHash: testHash}, ""},
		{"no auth", Config{DisableAuth: true}, ""},
		{"no username", Config{PasswordHash: testHash}, "username required"},
		{"no hash", Config{Username: "u"}, "password_hash required"},
		{"plain password", Config{Username: "u", PasswordHash: "secret"}, "not a bcrypt hash"},
		{"root namespace", Config{DisableAuth: true, Namespace: "/"}, `namespace "/"`},
		{"relative namespace", Config{DisableAuth: true, Namespace: "admin"}, "must start with '/'"},
		{"pattern namespace", Config{DisableAuth: true, Namespace: "/adm*"}, "plain name"},
		{"bad mode", Config{DisableAuth: true, Mode: 9}, "unknown mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, srv, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig)):
				t.Fatalf("New: %v, want an ErrConfig containing %q", err, tc.want)
			case tc.want != "" && strings.Contains(err.Error(), "secret"):
				t.Fatalf("the error echoes the configured hash: %v", err)
			}
		})
	}
	if _, err := ParseMode("staging"); err == nil {
		t.Error(`ParseMode("staging") accepted`)
	}
}

// TestLogin: the UI's basic auth. Wrong credentials get upstream's
// "invalid credentials"; right ones a "session" id, accepted alone on the
// next visit; then the config event.
func TestLogin(t *testing.T) {
	n := startNode(t, "a", nil, Config{})
	for _, auth := range []map[string]any{
		nil,
		{"username": testUser, "password": "wrong"},
		{"username": "other", "password": testPassword},
		{"sessionId": "forged"},
	} {
		c, refusal := tryDial(t, n, "/admin", auth)
		if c != nil {
			t.Fatalf("auth %v admitted", auth)
		}
		if got := decode[struct{ Message string }](t, json.RawMessage(refusal)); got.Message != MessageInvalidCredentials {
			t.Errorf("auth %v: CONNECT_ERROR %s", auth, refusal)
		}
	}
	ui := admin(t, n)
	sid := str(t, ui.waitEvent(EventSession, nil)[0])
	if len(sid) < 20 {
		t.Fatalf("session id %q", sid)
	}
	cfg := decode[struct{ SupportedFeatures []string }](t, ui.waitEvent(EventConfig, nil)[0])
	if !slices.Contains(cfg.SupportedFeatures, "MJOIN") || !slices.Contains(cfg.SupportedFeatures, "AGGREGATED_EVENTS") ||
		slices.Contains(cfg.SupportedFeatures, "ALL_EVENTS") {
		t.Errorf("production features %v", cfg.SupportedFeatures)
	}
	again := dial(t, n, "/admin", map[string]any{"sessionId": sid})
	again.waitEvent(EventConfig, nil)
	if again.count(EventSession) != 0 {
		t.Error("a session login got a new session id")
	}
	// Production mode: no socket list.
	time.Sleep(150 * time.Millisecond)
	if again.count(EventAllSockets) != 0 {
		t.Error("all_sockets in production mode")
	}
}

// serverEntry is what the UI reads of server_stats.
type serverEntry struct {
	ServerID            string `json:"serverId"`
	Hostname            string `json:"hostname"`
	PID                 int    `json:"pid"`
	Uptime              float64
	ClientsCount        int `json:"clientsCount"`
	PollingClientsCount int `json:"pollingClientsCount"`
	AggregatedEvents    []struct {
		Timestamp int64  `json:"timestamp"`
		Type      string `json:"type"`
		SubType   string `json:"subType"`
		Count     int    `json:"count"`
	} `json:"aggregatedEvents"`
	Namespaces []struct {
		Name         string `json:"name"`
		SocketsCount int    `json:"socketsCount"`
	} `json:"namespaces"`
}

// TestServerStatsCluster: a UI on node a gets the server_stats of both
// nodes, each counting its own sockets and sessions, with the sessions
// opened and closed as aggregated events.
func TestServerStatsCluster(t *testing.T) {
	bus := adapter.NewMemoryBus()
	a := startNode(t, "node-a", bus, Config{})
	b := startNode(t, "node-b", bus, Config{})
	ui := admin(t, a)
	// Once each node's first stats arrived, every later delta reaches the
	// UI, and none counts its own session.
	for _, id := range []string{"node-a", "node-b"} {
		ui.waitEvent(EventServerStats, func(args []json.RawMessage) bool {
			return decode[serverEntry](t, args[0]).ServerID == id
		})
	}
	talker := dial(t, b, "/", nil)
	gone := dial(t, b, "/chat", nil)
	talker.call("join", "r")
	talker.call("echo", "x")
	dial(t, a, "/chat", nil)
	seen := map[string]serverEntry{}
	opened := map[string]int{}
	closed := map[string]int{}
	collect := func() {
		for ui.count(EventServerStats) > 0 {
			e := decode[serverEntry](t, ui.waitEvent(EventServerStats, nil)[0])
			seen[e.ServerID] = e
			for _, ev := range e.AggregatedEvents {
				if ev.Timestamp%1000 != 0 || ev.Count < 1 {
					t.Errorf("aggregated event %+v", ev)
				}
				switch ev.Type {
				case "rawConnection":
					opened[e.ServerID] += ev.Count
				case "rawDisconnection":
					closed[e.ServerID+" "+ev.SubType] += ev.Count
				}
			}
		}
	}
	waitFor(t, "stats of both nodes with their sockets", func() bool {
		collect()
		sa, sb := seen["node-a"], seen["node-b"]
		return sockets(sa, "/chat") == 1 && sockets(sa, "/admin") == 1 && sockets(sb, "/") == 1 && sockets(sb, "/chat") == 1 &&
			opened["node-b"] == 2 && opened["node-a"] == 1
	})
	for id, e := range seen {
		if e.PID == 0 || e.Hostname == "" || e.Uptime <= 0 || e.PollingClientsCount != 0 {
			t.Errorf("%s: %+v", id, e)
		}
	}
	if seen["node-b"].ClientsCount != 2 {
		t.Errorf("node-b clientsCount %d, want 2", seen["node-b"].ClientsCount)
	}
	// Production mode: nothing per socket or per event.
	for _, ev := range []string{EventSocketConnected, EventRoomJoined, EventReceived, EventSent, EventAllSockets} {
		if ui.count(ev) != 0 {
			t.Errorf("%s in production mode", ev)
		}
	}
	gone.close()
	waitFor(t, "the closed session as a rawDisconnection of node-b", func() bool {
		collect()
		return closed["node-b transport close"] == 1 && sockets(seen["node-b"], "/chat") == 0
	})
	if opened["node-a"] != 1 {
		t.Errorf("node-a opened %d sessions after the UI, want 1", opened["node-a"])
	}
}

func sockets(e serverEntry, nsp string) int {
	for _, ns := range e.Namespaces {
		if ns.Name == nsp {
			return ns.SocketsCount
		}
	}
	return -1
}

// socketEntry is what the UI reads of a serialized socket.
type socketEntry struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"clientId"`
	Transport string   `json:"transport"`
	NSP       string   `json:"nsp"`
	Rooms     []string `json:"rooms"`
	Data      map[string]any
	Handshake struct {
		Address string            `json:"address"`
		Headers map[string]string `json:"headers"`
		Issued  int64             `json:"issued"`
		Time    string            `json:"time"`
	} `json:"handshake"`
}

// TestDevelopmentEvents: in development mode a UI on node a sees, for a
// socket of node b, its connection, room changes, the events it sends and
// receives, its disconnection; a UI connecting later gets every socket of
// both nodes in all_sockets.
func TestDevelopmentEvents(t *testing.T) {
	bus := adapter.NewMemoryBus()
	a := startNode(t, "node-a", bus, Config{Mode: ModeDevelopment})
	b := startNode(t, "node-b", bus, Config{Mode: ModeDevelopment})
	ui := admin(t, a)
	cfg := decode[struct{ SupportedFeatures []string }](t, ui.waitEvent(EventConfig, nil)[0])
	if !slices.Contains(cfg.SupportedFeatures, "ALL_EVENTS") {
		t.Errorf("development features %v", cfg.SupportedFeatures)
	}
	ui.waitEvent(EventAllSockets, nil)

	c := dial(t, b, "/chat", nil, "Cookie: session=hunter2", "X-Test: yes")
	args := ui.waitEvent(EventSocketConnected, func(args []json.RawMessage) bool {
		return decode[socketEntry](t, args[0]).ID == c.sid
	})
	s := decode[socketEntry](t, args[0])
	if s.NSP != "/chat" || s.Transport != "websocket" || len(s.ClientID) != 12 || !slices.Equal(s.Rooms, []string{c.sid}) ||
		s.Handshake.Address != "127.0.0.1" || s.Handshake.Issued == 0 || !strings.Contains(s.Handshake.Time, "GMT") {
		t.Errorf("socket_connected %s", args[0])
	}
	if s.Handshake.Headers["x-test"] != "yes" || s.Handshake.Headers["cookie"] != "" {
		t.Errorf("headers %v: want x-test and no cookie", s.Handshake.Headers)
	}
	if ts := str(t, args[1]); !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp %q", ts)
	}

	c.call("join", "lobby")
	ui.waitEvent(EventRoomJoined, func(args []json.RawMessage) bool {
		return str(t, args[0]) == "/chat" && str(t, args[1]) == "lobby" && str(t, args[2]) == c.sid
	})
	c.call("echo", "hi", 42)
	ui.waitEvent(EventReceived, func(args []json.RawMessage) bool {
		return str(t, args[0]) == "/chat" && str(t, args[1]) == c.sid && string(args[2]) == `["echo","hi",42]`
	})
	ui.waitEvent(EventSent, func(args []json.RawMessage) bool {
		return str(t, args[0]) == "/chat" && str(t, args[1]) == c.sid && string(args[2]) == `["echoed","hi",42]`
	})

	// A second UI, on node b: every socket of both nodes.
	late := admin(t, b)
	list := decode[[]socketEntry](t, late.waitEvent(EventAllSockets, nil)[0])
	var got []string
	for _, e := range list {
		got = append(got, e.NSP+" "+strings.Join(e.Rooms, ","))
	}
	want := []string{"/chat " + c.sid + ",lobby", "/admin " + ui.sid, "/admin " + late.sid}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("all_sockets %v lacks %q", got, w)
		}
	}
	if len(list) != 3 {
		t.Errorf("all_sockets has %d sockets, want 3: %v", len(list), got)
	}

	c.close()
	ui.waitEvent(EventRoomLeft, func(args []json.RawMessage) bool {
		return str(t, args[1]) == "lobby" && str(t, args[2]) == c.sid
	})
	ui.waitEvent(EventSocketDisconnected, func(args []json.RawMessage) bool {
		return str(t, args[0]) == "/chat" && str(t, args[1]) == c.sid && str(t, args[2]) == "transport close"
	})
	// The UI's own traffic is never reported as events.
	for _, f := range []string{EventReceived, EventSent} {
		ui.mu.Lock()
		for _, e := range ui.events {
			if e.name == f && str(t, e.args[0]) == "/admin" {
				t.Errorf("%s about the admin namespace: %s", f, e.args)
			}
		}
		ui.mu.Unlock()
	}
}

// TestCommands: the UI's emit, join, leave and _disconnect, sent to
// node a, reach a socket of node b, selected by its id or a room.
func TestCommands(t *testing.T) {
	bus := adapter.NewMemoryBus()
	a := startNode(t, "node-a", bus, Config{})
	b := startNode(t, "node-b", bus, Config{})
	ui := admin(t, a)
	c := dial(t, b, "/", nil)
	other := dial(t, b, "/", nil)
	inRoom := func(sid, room string) bool {
		s := b.srv.Of("/").Socket(sid)
		return s != nil && s.InRoom(room)
	}
	ui.call(CommandJoin, "/", "vip", c.sid)
	waitFor(t, "join on node b", func() bool { return inRoom(c.sid, "vip") })
	if inRoom(other.sid, "vip") {
		t.Fatal("join with a filter moved another socket")
	}
	ui.call(CommandEmit, "/", "vip", "hello", map[string]any{"n": 1})
	args := c.waitEvent("hello", nil)
	if string(args[0]) != `{"n":1}` {
		t.Errorf("hello args %s", args)
	}
	ui.call(CommandJoin, "/", "everyone", nil) // no filter: every socket
	waitFor(t, "join of every socket", func() bool { return inRoom(c.sid, "everyone") && inRoom(other.sid, "everyone") })
	ui.call(CommandLeave, "/", "vip", c.sid)
	waitFor(t, "leave on node b", func() bool { return !inRoom(c.sid, "vip") })
	// Malformed commands are dropped without harm.
	ui.emit(CommandJoin, 42, "x")
	ui.emit(CommandEmit, "/", nil, "connect")
	ui.emit(CommandDisconnect, "/nope", false, nil)
	ui.call(CommandDisconnect, "/", false, "vip") // nobody in vip any more
	ui.call(CommandDisconnect, "/", false, c.sid)
	waitFor(t, "disconnect of the socket", c.isClosed)
	if other.isClosed() || other.count("connect") != 0 {
		t.Fatal("the other socket was disconnected")
	}
	if b.srv.Of("/").Socket(other.sid) == nil {
		t.Fatal("other socket gone")
	}

	// Read-only: no command is advertised or applied.
	ro := startNode(t, "ro", nil, Config{ReadOnly: true})
	rui := admin(t, ro)
	feats := decode[struct{ SupportedFeatures []string }](t, rui.waitEvent(EventConfig, nil)[0])
	if !slices.Equal(feats.SupportedFeatures, []string{"AGGREGATED_EVENTS"}) {
		t.Errorf("read-only features %v", feats.SupportedFeatures)
	}
	victim := dial(t, ro, "/", nil)
	rui.emit(CommandDisconnect, "/", true, nil)
	rui.emit(CommandJoin, "/", "r", nil)
	time.Sleep(200 * time.Millisecond)
	if victim.isClosed() || ro.srv.Of("/").Socket(victim.sid).InRoom("r") {
		t.Fatal("a read-only UI's command was applied")
	}
}

// TestNoAuth: with DisableAuth any UI connects, without a session event.
func TestNoAuth(t *testing.T) {
	n := startNode(t, "open", nil, Config{DisableAuth: true})
	ui := dial(t, n, "/admin", nil)
	ui.waitEvent(EventConfig, nil)
	if ui.count(EventSession) != 0 {
		t.Error("session id without authentication")
	}
}
