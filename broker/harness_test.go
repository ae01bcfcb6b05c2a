package broker

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/connection"
)

// fakeConn is a connection.Conn that records what the broker sends, so the
// Socket.IO rules can be tested without a transport. Close calls the
// broker's OnClose like the Engine.IO layer does.
type fakeConn struct {
	id     string
	srv    *Server
	mu     sync.Mutex
	sent   []*connection.Message
	closed connection.CloseReason
	full   bool // Send fails with ErrQueueFull
	value  any
}

func (c *fakeConn) ID() string         { return c.id }
func (c *fakeConn) RemoteAddr() string { return "127.0.0.1:5555" }
func (c *fakeConn) Transport() string  { return "websocket" }
func (c *fakeConn) SetValue(v any)     { c.value = v }
func (c *fakeConn) Value() any         { return c.value }

func (c *fakeConn) Send(msgs ...*connection.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != connection.CloseNone {
		return connection.ErrClosed
	}
	if c.full {
		return connection.ErrQueueFull
	}
	c.sent = append(c.sent, msgs...)
	return nil
}

// Do runs fn at once on the caller's goroutine (the harness drives
// callbacks from the test goroutine), unless the conn closed.
func (c *fakeConn) Do(fn func()) bool {
	if c.closeReason() != connection.CloseNone {
		return false
	}
	fn()
	return true
}

func (c *fakeConn) Close(r connection.CloseReason) error {
	c.mu.Lock()
	if c.closed != connection.CloseNone {
		c.mu.Unlock()
		return connection.ErrClosed
	}
	c.closed = r
	c.mu.Unlock()
	(*engineHandler)(c.srv).OnClose(c, r)
	return nil
}

// texts returns the text messages sent so far and forgets them.
func (c *fakeConn) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.sent {
		if m.Binary {
			out = append(out, "<bin:"+string(m.Data)+">")
		} else {
			out = append(out, string(m.Data))
		}
	}
	c.sent = nil
	return out
}

func (c *fakeConn) closeReason() connection.CloseReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

type harness struct {
	t   *testing.T
	srv *Server
	n   int
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &harness{t: t, srv: srv}
}

// open starts an Engine.IO session without joining a namespace.
func (h *harness) open() *fakeConn {
	h.t.Helper()
	h.n++
	c := &fakeConn{id: "sid" + string(rune('a'+h.n%26)) + strings.Repeat("x", h.n/26), srv: h.srv}
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("User-Agent", "test")
	hs := connection.NewHandshake(req, "websocket", time.Now())
	if err := (*engineHandler)(h.srv).OnOpen(c, hs); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) text(c *fakeConn, s string) {
	(*engineHandler)(h.srv).OnMessage(c, connection.Message{Data: []byte(s)})
}

func (h *harness) binary(c *fakeConn, b []byte) {
	(*engineHandler)(h.srv).OnMessage(c, connection.Message{Binary: true, Data: b})
}

// connect opens a session and joins nsp, returning the conn and the
// socket id from the CONNECT answer.
func (h *harness) connect(nsp, auth string) (*fakeConn, *Socket) {
	h.t.Helper()
	c := h.open()
	prefix := "0"
	if nsp != "/" {
		prefix += nsp + ","
	}
	h.text(c, prefix+auth)
	out := c.take()
	if len(out) == 0 || !strings.HasPrefix(out[0], prefix+`{"sid":"`) {
		h.t.Fatalf("connect %s: got %q", nsp, out)
	}
	id := strings.TrimPrefix(out[0], prefix+`{"sid":"`)
	id = id[:strings.IndexByte(id, '"')]
	s := h.srv.Of(nsp).Socket(id)
	if s == nil {
		h.t.Fatalf("socket %s not registered", id)
	}
	return c, s
}

func (c *fakeConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}
