package online

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/internal/wstest"
	"github.com/ionbus/ionbus/presence"
)

// node is one broker with Online, served on a loopback httptest server.
type node struct {
	srv     *broker.Server
	on      *Online
	ts      *httptest.Server
	tenants *broker.Namespace // pattern parent of /tenant-<n> (tenantRules)
}

// testRules tracks namespace presence and chat:* rooms in "/", lets anyone
// see public:* rooms and their own user_{user} room.
var testRules = map[string]NamespaceRules{
	"/": {
		Track:   presence.Rules{Namespace: true, Rooms: []string{"chat:*", "public:*", "user_{user}"}},
		Visible: []string{"public:*", "user_{user}"},
	},
}

// tenantRules apply to every dynamic namespace /tenant-<n>.
var tenantRules = NamespaceRules{
	Track:   presence.Rules{Namespace: true, Rooms: []string{"doc:*"}},
	Visible: []string{"doc:*"},
}

// identifyFromAuth reads {"user":…,"name":…} from the CONNECT payload.
func identifyFromAuth(s *broker.Socket) (string, string) {
	auth := s.Handshake().Auth
	user, _ := auth["user"].(string)
	name, _ := auth["name"].(string)
	return user, name
}

// startNode builds and starts a node. mutate adjusts the Online config.
func startNode(t *testing.T, id string, ad adapter.Adapter, store presence.Store, pcfg presence.Config, mutate func(*Config)) *node {
	t.Helper()
	srv, err := broker.New(broker.Config{NodeID: id, Adapter: ad})
	if err != nil {
		t.Fatal(err)
	}
	tenants := srv.OfPattern(regexp.MustCompile(`^/tenant-[0-9]+$`))
	addRoomEvents(srv.Of("/"))
	addRoomEvents(tenants)
	pcfg.NodeID = id
	cfg := Config{Presence: pcfg, Namespaces: testRules, Identify: identifyFromAuth,
		Patterns: []PatternRules{{Parent: tenants, Rules: tenantRules}}}
	if mutate != nil {
		mutate(&cfg)
	}
	on, err := New(cfg, store, srv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := on.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n := &node{srv: srv, on: on, ts: httptest.NewServer(srv), tenants: tenants}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := on.Shutdown(ctx); err != nil {
			t.Errorf("online shutdown: %v", err)
		}
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		n.ts.Close()
	})
	return n
}

// addRoomEvents registers test-only events to move sockets between rooms;
// each acks once the change is applied.
func addRoomEvents(ns *broker.Namespace) {
	ns.On("join", func(e *broker.Event) {
		args, _ := e.Args()
		room, _ := args[0].(string)
		e.Socket.Join(room)
		_ = e.Ack(true)
	})
	ns.On("leave", func(e *broker.Event) {
		args, _ := e.Args()
		room, _ := args[0].(string)
		e.Socket.Leave(room)
		_ = e.Ack(true)
	})
}

// client is a minimal Socket.IO v5 client over a raw Engine.IO websocket.
type client struct {
	t      *testing.T
	conn   net.Conn
	sid    string
	prefix string // "" for "/", else the namespace and a comma

	wmu    sync.Mutex
	nextID int

	mu     sync.Mutex
	events []frame // events received, in order
	acks   map[int]chan string
	wake   chan struct{}
	done   chan struct{}
}

type frame struct {
	name string
	data json.RawMessage // the first argument
}

// dial connects to the node's default namespace with auth (nil: none).
func dial(t *testing.T, n *node, auth map[string]any) *client {
	t.Helper()
	return dialNS(t, n, "/", auth)
}

// dialNS connects to namespace nsp with auth (nil: none).
func dialNS(t *testing.T, n *node, nsp string, auth map[string]any) *client {
	t.Helper()
	u := "ws" + strings.TrimPrefix(n.ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := wstest.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, conn: conn, acks: make(map[int]chan string), wake: make(chan struct{}, 1), done: make(chan struct{})}
	if nsp != "/" {
		c.prefix = nsp + ","
	}
	read := func() string {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		data, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(data)
	}
	if open := read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	connect := "40" + c.prefix
	if auth != nil {
		b, _ := json.Marshal(auth)
		connect += string(b)
	}
	c.write(connect)
	ok := read()
	if !strings.HasPrefix(ok, "40"+c.prefix+"{") {
		t.Fatalf("connect answer %q", ok)
	}
	var sid struct{ SID string }
	if err := json.Unmarshal([]byte(ok[2+len(c.prefix):]), &sid); err != nil {
		t.Fatal(err)
	}
	c.sid = sid.SID
	conn.SetReadDeadline(time.Time{})
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *client) write(text string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = wsutil.WriteClientText(c.conn, []byte(text))
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		data, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			return
		}
		msg := string(data)
		switch {
		case msg == "2":
			c.write("3")
		case strings.HasPrefix(msg, "42"+c.prefix):
			var arr []json.RawMessage
			if json.Unmarshal([]byte(msg[2+len(c.prefix):]), &arr) != nil || len(arr) == 0 {
				continue
			}
			var name string
			_ = json.Unmarshal(arr[0], &name)
			f := frame{name: name}
			if len(arr) > 1 {
				f.data = arr[1]
			}
			c.mu.Lock()
			c.events = append(c.events, f)
			c.mu.Unlock()
			select {
			case c.wake <- struct{}{}:
			default:
			}
		case strings.HasPrefix(msg, "43"+c.prefix):
			i := strings.IndexByte(msg, '[')
			id, err := strconv.Atoi(msg[2+len(c.prefix) : max(i, 2+len(c.prefix))])
			if i < 0 || err != nil {
				continue
			}
			c.mu.Lock()
			ch := c.acks[id]
			delete(c.acks, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- msg[i:]
			}
		}
	}
}

func (c *client) close() {
	c.conn.Close()
	<-c.done
}

// emit sends an event without ack.
func (c *client) emit(event string, arg any) {
	b, _ := json.Marshal([]any{event, arg})
	c.write("42" + c.prefix + string(b))
}

// call sends an event with an ack and returns the ack's first argument.
func (c *client) call(event string, arg any) json.RawMessage {
	c.t.Helper()
	b, _ := json.Marshal([]any{event, arg})
	a, ok := c.sendWithAck(string(b))
	if !ok {
		c.t.Fatalf("no ack for %s %v", event, arg)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(a), &arr); err != nil || len(arr) == 0 {
		c.t.Fatalf("ack %q", a)
	}
	return arr[0]
}

// callRaw sends a raw event array (for malformed input) with an ack.
func (c *client) callRaw(arrayJSON string) json.RawMessage {
	c.t.Helper()
	a, ok := c.sendWithAck(arrayJSON)
	if !ok {
		c.t.Fatalf("no ack for %s", arrayJSON)
	}
	var arr []json.RawMessage
	_ = json.Unmarshal([]byte(a), &arr)
	return arr[0]
}

// sendWithAck writes an EVENT packet (arrayJSON: the event name and its
// arguments) with the next ack id and returns the ack's arguments as a
// JSON array, or ok false when none came within 5s.
func (c *client) sendWithAck(arrayJSON string) (ack string, ok bool) {
	c.t.Helper()
	c.wmu.Lock()
	c.nextID++
	id := c.nextID
	c.wmu.Unlock()
	ch := make(chan string, 1)
	c.mu.Lock()
	c.acks[id] = ch
	c.mu.Unlock()
	c.write("42" + c.prefix + strconv.Itoa(id) + arrayJSON)
	select {
	case a := <-ch:
		return a, true
	case <-time.After(5 * time.Second):
		return "", false
	}
}

// waitEvent waits for the next event called name that satisfies match
// (nil: any), and consumes it.
func (c *client) waitEvent(name string, match func(json.RawMessage) bool) json.RawMessage {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		for i, f := range c.events {
			if f.name == name && (match == nil || match(f.data)) {
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				c.mu.Unlock()
				return f.data
			}
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("client %s: no %s event; got %v", c.sid, name, c.names())
			return nil
		}
	}
}

// noEvent asserts that no event called name arrives within d.
func (c *client) noEvent(name string, d time.Duration) {
	c.t.Helper()
	time.Sleep(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.events {
		if f.name == name {
			c.t.Fatalf("client %s: unexpected %s %s", c.sid, name, f.data)
		}
	}
}

func (c *client) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, f := range c.events {
		out = append(out, f.name+" "+string(f.data))
	}
	return out
}

// join makes the socket join room and waits until the server applied it.
func (c *client) join(room string) { c.call("join", room) }

func (c *client) leave(room string) { c.call("leave", room) }

// presenceEvent is the payload of presence:join/leave/update.
type presenceEvent struct {
	Room string `json:"room"`
	User struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Meta json.RawMessage `json:"meta"`
	} `json:"user"`
	Connections int    `json:"connections"`
	Timestamp   string `json:"timestamp"` // ISO 8601 UTC, milliseconds
}

func isEvent(room, user string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var e presenceEvent
		return json.Unmarshal(d, &e) == nil && e.Room == room && e.User.ID == user
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}
