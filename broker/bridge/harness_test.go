package bridge

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/connection"
	"github.com/ionbus/ionbus/internal/wstest"
)

// backend is a fake application backend: it records every hook request
// and answers with handle.
type backend struct {
	t      *testing.T
	ts     *httptest.Server
	handle func(r *hookRequest) (status int, body string)

	mu   sync.Mutex
	reqs []*hookRequest
}

type hookRequest struct {
	Type   string
	Body   map[string]any
	Raw    []byte
	Header http.Header
}

func newBackend(t *testing.T, handle func(r *hookRequest) (int, string)) *backend {
	t.Helper()
	bk := &backend{t: t, handle: handle}
	bk.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := &hookRequest{Type: r.Header.Get("X-Ionbus-Type"), Raw: raw, Header: r.Header.Clone()}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		_ = dec.Decode(&req.Body)
		bk.mu.Lock()
		bk.reqs = append(bk.reqs, req)
		h := bk.handle
		bk.mu.Unlock()
		status, body := h(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(bk.ts.Close)
	return bk
}

func (bk *backend) setHandler(h func(r *hookRequest) (int, string)) {
	bk.mu.Lock()
	bk.handle = h
	bk.mu.Unlock()
}

// requests returns the recorded requests of type typ ("" for all).
func (bk *backend) requests(typ string) []*hookRequest {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	var out []*hookRequest
	for _, r := range bk.reqs {
		if typ == "" || r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// admitAll admits every connect as user "u1" and acks events with
// {"ok":true}.
func admitAll(r *hookRequest) (int, string) {
	if r.Type == HookConnect {
		return 200, `{"user":{"id":"u1","name":"Ada","roles":["staff"]}}`
	}
	return 200, `{"ack":[{"ok":true}]}`
}

// testNode is one broker guarded by access with a bridge on "/" and
// "/pub" (public), served on a loopback httptest server.
type testNode struct {
	srv    *broker.Server
	guard  *access.Guard
	bridge *Bridge
	ts     *httptest.Server
}

type nodeOptions struct {
	cfg     Config // URL and NodeID are filled in when empty
	rdb     redis.UniversalClient
	adapter adapter.Adapter
	rules   NamespaceRules // for "/" and "/pub"
	access  access.Rules   // for "/"; "/pub" is public with backend auth
	noStart bool           // do not Start the bridge
}

func startNode(t *testing.T, bk *backend, o nodeOptions) *testNode {
	t.Helper()
	if o.cfg.URL == "" {
		o.cfg.URL = bk.ts.URL + "/ionbus"
	}
	if o.cfg.NodeID == "" {
		o.cfg.NodeID = "n1"
	}
	b, err := New(o.cfg, o.rdb)
	if err != nil {
		t.Fatal(err)
	}
	// One Engine.IO worker: connects that wait for the backend must not
	// hold it (the guard runs the hook as a blocking middleware).
	srv, err := broker.New(broker.Config{NodeID: o.cfg.NodeID, Adapter: o.adapter, Engine: connection.Config{Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := access.New(access.Config{Authenticator: b})
	if err != nil {
		t.Fatal(err)
	}
	if o.access.Access.Level == access.Public && o.access.Authenticate == access.AuthJWT {
		o.access = access.Rules{Access: access.Access{Level: access.Authenticated}, Authenticate: access.AuthBackend}
	}
	for name, r := range map[string]access.Rules{
		"/":    o.access,
		"/pub": {Authenticate: access.AuthBackend},
	} {
		ns := srv.Of(name)
		addTestEvents(ns)
		if err := b.Attach(ns, o.rules); err != nil {
			t.Fatal(err)
		}
		g.Attach(ns, r)
	}
	srv.OnDrained(b.Shutdown)
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !o.noStart {
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := &testNode{srv: srv, guard: g, bridge: b, ts: httptest.NewServer(srv)}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop shuts the node down (broker, then the bridge through OnDrained).
func (n *testNode) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	_ = n.bridge.Shutdown(ctx) // no-op when OnDrained ran it
	n.ts.Close()
}

// addTestEvents registers test-only events: whoami acks the identity and
// the socket's data, rooms acks the socket's rooms.
func addTestEvents(ns *broker.Namespace) {
	ns.On("whoami", func(e *broker.Event) {
		id := access.Identity(e.Socket)
		if id == nil {
			_ = e.Ack(nil, e.Socket.Data())
			return
		}
		_ = e.Ack(map[string]any{"id": id.UserID, "name": id.Name, "roles": id.Roles}, e.Socket.Data())
	})
	ns.On("rooms", func(e *broker.Event) { _ = e.Ack(e.Socket.Rooms()) })
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

	mu       sync.Mutex
	events   []frame
	acks     map[int]chan string
	binaries [][]byte // binary frames received, in order
	closed   bool     // the server sent DISCONNECT
	wake     chan struct{}
	done     chan struct{}
}

type frame struct {
	name string
	data json.RawMessage // the first argument
}

// dial connects to nsp with header (nil: none) and fails the test when
// the namespace refuses it.
func dial(t *testing.T, n *testNode, nsp string, header http.Header) *client {
	t.Helper()
	c, refusal := open(t, n, nsp, nil, header)
	if c == nil {
		t.Fatalf("connect %s refused: %s", nsp, refusal)
	}
	return c
}

// open connects to nsp; on refusal it returns nil and the CONNECT_ERROR
// payload.
func open(t *testing.T, n *testNode, nsp string, auth map[string]any, header http.Header) (*client, string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(n.ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket&room=lobby"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := wstest.Dial(ctx, u, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, conn: conn, acks: make(map[int]chan string), wake: make(chan struct{}, 1), done: make(chan struct{})}
	if nsp != "/" {
		c.prefix = nsp + ","
	}
	read := func() string {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			data, err := wsutil.ReadServerText(c.conn)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(data) == "2" {
				c.write("3")
				continue
			}
			return string(data)
		}
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
	ans := read()
	if strings.HasPrefix(ans, "44"+c.prefix) {
		conn.Close()
		return nil, ans[2+len(c.prefix):]
	}
	if !strings.HasPrefix(ans, "40"+c.prefix+"{") {
		t.Fatalf("connect answer %q", ans)
	}
	var sid struct{ SID string }
	if err := json.Unmarshal([]byte(ans[2+len(c.prefix):]), &sid); err != nil {
		t.Fatal(err)
	}
	c.sid = sid.SID
	_ = conn.SetReadDeadline(time.Time{})
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
	for {
		data, op, err := wsutil.ReadServerData(c.conn)
		if err != nil {
			return
		}
		if op == ws.OpBinary {
			c.mu.Lock()
			c.binaries = append(c.binaries, data)
			c.mu.Unlock()
			c.notify()
			continue
		}
		msg := string(data)
		switch {
		case msg == "2":
			c.write("3")
		case strings.HasPrefix(msg, "41"+c.prefix) || (c.prefix == "" && msg == "41"):
			c.mu.Lock()
			c.closed = true
			c.mu.Unlock()
			c.notify()
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
			c.notify()
		case strings.HasPrefix(msg, "43"+c.prefix), strings.HasPrefix(msg, "46"):
			rest := msg[2:]
			if msg[1] == '6' { // binary ack: 46<n>-<nsp>,<id>[...]
				rest = rest[strings.IndexByte(rest, '-')+1:]
			}
			rest = strings.TrimPrefix(rest, c.prefix)
			i := strings.IndexByte(rest, '[')
			if i < 0 {
				continue
			}
			id, err := strconv.Atoi(rest[:i])
			if err != nil {
				continue
			}
			c.mu.Lock()
			ch := c.acks[id]
			delete(c.acks, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- rest[i:]
			}
		}
	}
}

func (c *client) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *client) close() {
	c.conn.Close()
	<-c.done
}

// emit sends an event without ack.
func (c *client) emit(event string, args ...any) {
	b, _ := json.Marshal(append([]any{event}, args...))
	c.write("42" + c.prefix + string(b))
}

// send writes an event with an ack id and returns the channel its ack
// arguments (a JSON array) arrive on.
func (c *client) send(event string, args ...any) chan string {
	b, _ := json.Marshal(append([]any{event}, args...))
	return c.sendRaw("2", string(b), nil)
}

// sendRaw writes a packet of type typ ("2" or "5<n>-") with the next ack
// id, then the binary attachments.
func (c *client) sendRaw(typ, arrayJSON string, attachments [][]byte) chan string {
	c.wmu.Lock()
	c.nextID++
	id := c.nextID
	c.wmu.Unlock()
	ch := make(chan string, 1)
	c.mu.Lock()
	c.acks[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	_ = wsutil.WriteClientText(c.conn, []byte("4"+typ+c.prefix+strconv.Itoa(id)+arrayJSON))
	for _, a := range attachments {
		_ = wsutil.WriteClientBinary(c.conn, a)
	}
	c.wmu.Unlock()
	return ch
}

// call sends an event with an ack and returns the ack's arguments.
func (c *client) call(event string, args ...any) []json.RawMessage {
	c.t.Helper()
	return c.wait(c.send(event, args...), event)
}

func (c *client) wait(ch chan string, what string) []json.RawMessage {
	c.t.Helper()
	select {
	case a := <-ch:
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(a), &arr); err != nil {
			c.t.Fatalf("ack %q: %v", a, err)
		}
		return arr
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no ack for %s", what)
		return nil
	}
}

// waitEvent waits for the next event called name and consumes it.
func (c *client) waitEvent(name string) json.RawMessage {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for i, f := range c.events {
			if f.name == name {
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

// takeEvents returns the events received so far, in order, and forgets them.
func (c *client) takeEvents() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.events
	c.events = nil
	return out
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

// waitDisconnected waits for the server's DISCONNECT.
func (c *client) waitDisconnected() {
	c.t.Helper()
	waitFor(c.t, "server disconnect", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closed
	})
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
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

// errorPayload is access.ErrorEvent as the client reads it.
type errorPayload struct {
	Code    string         `json:"error_code"`
	Message string         `json:"error_message"`
	Details map[string]any `json:"error_details"`
	Retry   bool           `json:"retry_possible"`
}

// connectError is a CONNECT_ERROR payload.
type connectError struct {
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

func cookieHeader(v string) http.Header {
	h := http.Header{}
	h.Set("Cookie", v)
	return h
}
