package connection

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Handler that records events; echo makes it send every
// message back.
type recorder struct {
	mu        sync.Mutex
	opened    []Conn
	msgs      map[string][]Message
	closes    map[string]CloseReason
	nClose    map[string]int
	changed   chan struct{}
	echo      bool
	onOpen    func(Conn, *Handshake) error
	onMessage func(Conn, Message)
}

func newRecorder() *recorder {
	return &recorder{msgs: map[string][]Message{}, closes: map[string]CloseReason{}, nClose: map[string]int{},
		changed: make(chan struct{}, 1)}
}

func (h *recorder) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *recorder) OnOpen(c Conn, hs *Handshake) error {
	if h.onOpen != nil {
		if err := h.onOpen(c, hs); err != nil {
			return err
		}
	}
	h.mu.Lock()
	h.opened = append(h.opened, c)
	h.mu.Unlock()
	h.notify()
	return nil
}

func (h *recorder) OnMessage(c Conn, m Message) {
	m.Data = append([]byte(nil), m.Data...)
	h.mu.Lock()
	h.msgs[c.ID()] = append(h.msgs[c.ID()], m)
	h.mu.Unlock()
	if h.echo {
		_ = c.Send(NewMessage(m.Binary, m.Data))
	}
	if h.onMessage != nil {
		h.onMessage(c, m)
	}
	h.notify()
}

func (h *recorder) OnClose(c Conn, r CloseReason) {
	h.mu.Lock()
	h.closes[c.ID()] = r
	h.nClose[c.ID()]++
	h.mu.Unlock()
	h.notify()
}

// waitFor polls cond until it holds or the deadline passes (no fixed sleeps).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *recorder) waitClose(t *testing.T, c Conn) CloseReason {
	t.Helper()
	var r CloseReason
	waitFor(t, "OnClose", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		var ok bool
		r, ok = h.closes[c.ID()]
		return ok
	})
	return r
}

func (h *recorder) closeReason(sid string) (CloseReason, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.closes[sid]
	return r, ok
}

func (h *recorder) waitCloseSid(t *testing.T, sid string) CloseReason {
	t.Helper()
	var r CloseReason
	waitFor(t, "OnClose of "+sid, func() bool {
		var ok bool
		r, ok = h.closeReason(sid)
		return ok
	})
	return r
}

func (h *recorder) messages(sid string) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.msgs[sid]...)
}

func (h *recorder) conn(sid string) Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.opened {
		if c.ID() == sid {
			return c
		}
	}
	return nil
}

// testServer is an ionbus connection.Server on a loopback httptest server.
type testServer struct {
	t      *testing.T
	srv    *Server
	h      *recorder
	ts     *httptest.Server
	client *http.Client
	base   string // http://host/engine.io/
}

func newTestServer(t *testing.T, cfg Config, h *recorder) *testServer {
	t.Helper()
	if h == nil {
		h = newRecorder()
	}
	if testDisablePoller {
		cfg.DisablePoller = true
	}
	srv, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return newTestServerWith(t, srv, h)
}

// newTestServerWith serves srv (h may be nil for a custom Handler).
func newTestServerWith(t *testing.T, srv *Server, h *recorder) *testServer {
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	ts := httptest.NewServer(mux)
	tr := &http.Transport{}
	x := &testServer{t: t, srv: srv, h: h, ts: ts, client: &http.Client{Transport: tr}, base: ts.URL + "/engine.io/"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		tr.CloseIdleConnections()
		ts.CloseClientConnections()
		ts.Close()
	})
	return x
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (x *testServer) do(method, query, body string, hdr ...string) resp {
	x.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, x.base+"?"+query, rd)
	if err != nil {
		x.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := x.client.Do(req)
	if err != nil {
		x.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

// open starts a polling session and returns its sid.
func (x *testServer) open() string {
	x.t.Helper()
	r := x.do("GET", "EIO=4&transport=polling", "")
	if r.status != 200 || !strings.HasPrefix(r.body, "0{") {
		x.t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	i := strings.Index(r.body, `"sid":"`)
	return r.body[i+7 : i+27]
}

// wsClient is a gobwas client connection.
type wsClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func (x *testServer) dial(query string, hdr http.Header) (*wsClient, error) {
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(hdr)}
	conn, br, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(x.base, "http")+"?"+query)
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	c := &wsClient{t: x.t, conn: conn, br: br}
	x.t.Cleanup(func() { conn.Close() })
	return c, nil
}

func (c *wsClient) send(op ws.OpCode, s string) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.conn, op, []byte(s)); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

// read returns the next data frame, or the close frame (op close, payload).
func (c *wsClient) read() (ws.OpCode, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			c.t.Fatalf("ws read: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			c.t.Fatalf("ws read payload: %v", err)
		}
		if h.Masked {
			c.t.Fatal("server frame is masked")
		}
		if h.OpCode == ws.OpPong {
			continue
		}
		return h.OpCode, string(p)
	}
}

func (c *wsClient) expect(want string) {
	c.t.Helper()
	op, got := c.read()
	if op != ws.OpText || got != want {
		c.t.Fatalf("ws got op %v %q, want text %q", op, got, want)
	}
}

func (c *wsClient) expectClose(code int) {
	c.t.Helper()
	for {
		op, p := c.read()
		if op == ws.OpClose {
			if len(p) < 2 || int(p[0])<<8|int(p[1]) != code {
				c.t.Fatalf("close frame %x, want code %d", p, code)
			}
			return
		}
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// testDisablePoller makes newTestServer use the portable reader path.
var testDisablePoller bool
