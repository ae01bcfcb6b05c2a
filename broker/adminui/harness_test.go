package adminui

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/internal/leakcheck"
	"github.com/ionbus/ionbus/internal/wstest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const (
	testUser     = "admin"
	testPassword = "s3cret-passw0rd"
)

// testHash is testPassword at bcrypt's minimum cost (fast tests).
var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// node is one broker with the Admin UI, on a loopback httptest server.
type node struct {
	srv *broker.Server
	ui  *AdminUI
	ts  *httptest.Server
}

// startNode builds a broker on the bus (nil: single node) with the app
// events of appEvents on "/" and /chat, and the Admin UI of cfg (auth
// from testUser/testHash unless cfg disables it).
func startNode(t *testing.T, id string, bus *adapter.MemoryBus, cfg Config) *node {
	t.Helper()
	bc := broker.Config{NodeID: id}
	if bus != nil {
		bc.Adapter = bus.Node(id)
	}
	srv, err := broker.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	appEvents(srv.Of("/"))
	appEvents(srv.Of("/chat"))
	if !cfg.DisableAuth && cfg.Username == "" {
		cfg.Username, cfg.PasswordHash = testUser, testHash
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = 100 * time.Millisecond
	}
	ui, err := New(cfg, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ui.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv.OnDrained(ui.Shutdown)
	n := &node{srv: srv, ui: ui, ts: httptest.NewServer(srv)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		n.ts.Close()
	})
	return n
}

// appEvents: "join" room (acked), "echo" (emits "echoed" back to the
// socket, then acks).
func appEvents(ns *broker.Namespace) {
	ns.On("join", func(e *broker.Event) {
		args, _ := e.Args()
		room, _ := args[0].(string)
		e.Socket.Join(room)
		_ = e.Ack(true)
	})
	ns.On("echo", func(e *broker.Event) {
		args, _ := e.Args()
		_ = e.Socket.Emit("echoed", args...)
		_ = e.Ack(true)
	})
}

// client is a minimal Socket.IO v5 client on one namespace over a raw
// Engine.IO websocket.
type client struct {
	t      *testing.T
	conn   net.Conn
	sid    string
	prefix string // "" for "/", else the namespace and a comma

	wmu    sync.Mutex
	nextID int

	mu     sync.Mutex
	events []frame
	acks   map[int]chan string
	closed bool // a DISCONNECT packet or the end of the connection
	wake   chan struct{}
	done   chan struct{}
}

type frame struct {
	name string
	args []json.RawMessage // the arguments after the name
}

// dial connects to nsp with auth (nil: none) and fails the test unless
// the namespace admits it.
func dial(t *testing.T, n *node, nsp string, auth map[string]any, headers ...string) *client {
	t.Helper()
	c, refusal := tryDial(t, n, nsp, auth, headers...)
	if c == nil {
		t.Fatalf("connect to %s refused: %s", nsp, refusal)
	}
	return c
}

// tryDial connects to nsp; on a CONNECT_ERROR it returns nil and the
// error packet's payload. headers are "Name: value" lines.
func tryDial(t *testing.T, n *node, nsp string, auth map[string]any, headers ...string) (*client, string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(n.ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hdr := map[string][]string{}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		hdr[k] = []string{strings.TrimSpace(v)}
	}
	conn, err := wstest.Dial(ctx, u, hdr)
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
	if strings.HasPrefix(ok, "44"+c.prefix) {
		conn.Close()
		return nil, ok[2+len(c.prefix):]
	}
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
	return c, ""
}

func (c *client) write(text string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = wsutil.WriteClientText(c.conn, []byte(text))
}

func (c *client) readLoop() {
	defer close(c.done)
	defer c.setClosed()
	for {
		data, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			return
		}
		msg := string(data)
		switch {
		case msg == "2":
			c.write("3")
		case msg == "41"+strings.TrimSuffix(c.prefix, ","):
			c.setClosed()
		case strings.HasPrefix(msg, "42"+c.prefix):
			var arr []json.RawMessage
			if json.Unmarshal([]byte(msg[2+len(c.prefix):]), &arr) != nil || len(arr) == 0 {
				continue
			}
			var name string
			_ = json.Unmarshal(arr[0], &name)
			c.mu.Lock()
			c.events = append(c.events, frame{name: name, args: arr[1:]})
			c.mu.Unlock()
			c.poke()
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

func (c *client) setClosed() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.poke()
}

func (c *client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *client) close() {
	c.conn.Close()
	<-c.done
}

// call sends [event, args...] with an ack id and waits for the ack.
func (c *client) call(event string, args ...any) {
	c.t.Helper()
	b, _ := json.Marshal(append([]any{event}, args...))
	c.wmu.Lock()
	c.nextID++
	id := c.nextID
	c.wmu.Unlock()
	ch := make(chan string, 1)
	c.mu.Lock()
	c.acks[id] = ch
	c.mu.Unlock()
	c.write("42" + c.prefix + strconv.Itoa(id) + string(b))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no ack for %s %v", event, args)
	}
}

// emit sends [event, args...] without ack.
func (c *client) emit(event string, args ...any) {
	b, _ := json.Marshal(append([]any{event}, args...))
	c.write("42" + c.prefix + string(b))
}

// waitEvent waits for the first event called name whose arguments
// satisfy match (nil: any), and consumes it.
func (c *client) waitEvent(name string, match func(args []json.RawMessage) bool) []json.RawMessage {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		for i, f := range c.events {
			if f.name == name && (match == nil || match(f.args)) {
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				c.mu.Unlock()
				return f.args
			}
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("client %s: no %s event matching; got %v", c.sid, name, c.names())
			return nil
		}
	}
}

// count is the number of events called name received so far.
func (c *client) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.events {
		if f.name == name {
			n++
		}
	}
	return n
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *client) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, f := range c.events {
		out = append(out, f.name)
	}
	return out
}

// waitFor polls cond until it holds or 5 s pass.
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

func str(t *testing.T, raw json.RawMessage) string { return decode[string](t, raw) }

// admin logs a UI in on n.
func admin(t *testing.T, n *node) *client {
	t.Helper()
	return dial(t, n, "/admin", map[string]any{"username": testUser, "password": testPassword})
}
