package connection

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// openWS dials a direct websocket session and returns the client and sid.
func (x *testServer) openWS() (*wsClient, string) {
	x.t.Helper()
	c, err := x.dial("EIO=4&transport=websocket", nil)
	if err != nil {
		x.t.Fatal(err)
	}
	op, open := c.read()
	if op != ws.OpText || !strings.HasPrefix(open, `0{"sid":"`) || !strings.Contains(open, `"upgrades":[]`) {
		x.t.Fatalf("open packet %q", open)
	}
	return c, open[9:29]
}

func TestWebsocketDirect(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{}, h)
	c, sid := x.openWS()
	c.send(ws.OpText, "4hello")
	c.expect("4hello")
	c.send(ws.OpBinary, "\x01\x02\x03\x04")
	if op, p := c.read(); op != ws.OpBinary || p != "\x01\x02\x03\x04" {
		t.Fatalf("binary echo %v %q", op, p)
	}
	if h.conn(sid).Transport() != "websocket" {
		t.Fatal("transport")
	}
	// Fragmented text message with an interleaved ping control frame.
	frag := func(op ws.OpCode, fin bool, p string) {
		f := ws.NewFrame(op, fin, []byte(p))
		f = ws.MaskFrameInPlace(f)
		if err := ws.WriteFrame(c.conn, f); err != nil {
			t.Fatal(err)
		}
	}
	frag(ws.OpText, false, "4fr")
	frag(ws.OpPing, true, "hb")
	frag(ws.OpContinuation, false, "ag")
	frag(ws.OpContinuation, true, "ment")
	// The pong comes first (read() skips pongs), then the echo.
	c.expect("4fragment")
	// Client close "1": session closed with CloseClientClose.
	c.send(ws.OpText, "1")
	if r := h.waitCloseSid(t, sid); r != CloseClientClose {
		t.Fatalf("reason %v", r)
	}
	c.expectClose(1000)
}

func TestWebsocketPeerCloseFrame(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	c, sid := x.openWS()
	if err := ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "")))); err != nil {
		t.Fatal(err)
	}
	c.expectClose(1000)
	if r := h.waitCloseSid(t, sid); r != CloseTransportClose {
		t.Fatalf("reason %v", r)
	}
}

func TestWebsocketErrors(t *testing.T) {
	tests := []struct {
		name   string
		op     ws.OpCode
		data   string
		code   int
		reason CloseReason
	}{
		{"invalid utf8", ws.OpText, "4\xff\xfe", 1007, CloseParseError},
		{"bad packet", ws.OpText, "abc", 1002, CloseParseError},
		{"client ping packet", ws.OpText, "2", 1002, CloseParseError},
		{"too large", ws.OpText, "4" + strings.Repeat("x", 100), 1009, CloseTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			x := newTestServer(t, Config{MaxPayload: 100}, h)
			c, sid := x.openWS()
			c.send(tt.op, tt.data)
			c.expectClose(tt.code)
			if r := h.waitCloseSid(t, sid); r != tt.reason {
				t.Fatalf("reason %v", r)
			}
		})
	}
	t.Run("unmasked frame", func(t *testing.T) {
		h := newRecorder()
		x := newTestServer(t, Config{}, h)
		c, sid := x.openWS()
		if err := ws.WriteFrame(c.conn, ws.NewTextFrame([]byte("4x"))); err != nil {
			t.Fatal(err)
		}
		c.expectClose(1002)
		if r := h.waitCloseSid(t, sid); r != CloseParseError {
			t.Fatalf("reason %v", r)
		}
	})
	t.Run("max payload exactly", func(t *testing.T) {
		h := newRecorder()
		h.echo = true
		x := newTestServer(t, Config{MaxPayload: 100}, h)
		c, _ := x.openWS()
		c.send(ws.OpText, "4"+strings.Repeat("x", 99))
		c.expect("4" + strings.Repeat("x", 99))
	})
}

func TestWebsocketPingPongAndTimeout(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond}, h)
	c, sid := x.openWS()
	for range 3 {
		c.expect("2")
		c.send(ws.OpText, "3")
	}
	if _, closed := h.closeReason(sid); closed {
		t.Fatal("closed despite pongs")
	}
	c.expect("2")
	if r := h.waitCloseSid(t, sid); r != ClosePingTimeout {
		t.Fatalf("reason %v", r)
	}
	c.expectClose(1000)
}

func TestUpgrade(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{}, h)
	sid := x.open()
	conn := h.conn(sid)
	// Queued on polling, delivered on the websocket after the upgrade.
	if err := conn.Send(NewMessage(false, []byte("queued"))); err != nil {
		t.Fatal(err)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.body != "4queued" {
		t.Fatalf("poll %q", r.body)
	}
	// A GET is pending when the probe arrives: it must get "6".
	pending := make(chan resp, 1)
	go func() { pending <- x.do("GET", "EIO=4&transport=polling&sid="+sid, "") }()
	s := conn.(*session)
	waitFor(t, "GET pending", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pollGet != nil
	})
	c, err := x.dial("EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpText, "2probe")
	c.expect("3probe")
	if r := <-pending; r.status != 200 || r.body != "6" {
		t.Fatalf("pending GET %d %q", r.status, r.body)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.body != "6" {
		t.Fatalf("GET during upgrade %q", r.body)
	}
	if err := conn.Send(NewMessage(false, []byte("during"))); err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpText, "5")
	c.expect("4during")
	c.send(ws.OpText, "4hello")
	c.expect("4hello")
	if conn.Transport() != "websocket" || x.srv.Stats().Upgrades != 1 {
		t.Fatal("not upgraded")
	}
	// Polling requests after the upgrade are refused.
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("GET after upgrade %d", r.status)
	}
	// A second websocket with the same sid is accepted then closed at once,
	// as in the reference (not refused with 400: the protocol suite's
	// client waits for a close event); the session carries on.
	c2, err := x.dial("EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatalf("second websocket: %v", err)
	}
	c2.expectClose(1000)
	c.send(ws.OpText, "4still")
	c.expect("4still")
}

// TestSecondWebsocketDuringProbe: a websocket for a session whose upgrade
// is in progress is accepted then closed (reference "has already been
// trying to upgrade"); the probe completes the upgrade undisturbed.
func TestSecondWebsocketDuringProbe(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{}, h)
	sid := x.open()
	c, err := x.dial("EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpText, "2probe")
	c.expect("3probe")
	c2, err := x.dial("EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatalf("second websocket: %v", err)
	}
	c2.expectClose(1000)
	c.send(ws.OpText, "5")
	c.send(ws.OpText, "4hello")
	c.expect("4hello")
	if h.conn(sid).Transport() != "websocket" {
		t.Fatal("not upgraded")
	}
	if _, closed := h.closeReason(sid); closed {
		t.Fatal("session closed")
	}
}

// TestPollingRequestAfterProbeMessages: a polling GET sent after the probe
// websocket's "2probe" and "5" is answered after them, even when no poller
// worker is free to read the websocket: it is refused (the session is on
// websocket now), never answered "6" as if the upgrade were still pending.
func TestPollingRequestAfterProbeMessages(t *testing.T) {
	h := newRecorder()
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	h.onMessage = func(c Conn, m Message) {
		if string(m.Data) == "block" {
			<-release // holds the only poller worker
		}
	}
	x := newTestServer(t, Config{Workers: 1}, h)
	if x.srv.poller == nil {
		t.Skip("no poller")
	}
	t.Cleanup(unblock) // before Shutdown (cleanups run last-in first-out)
	blocker, bsid := x.openWS()
	blocker.send(ws.OpText, "4block")
	waitFor(t, "worker blocked", func() bool { return len(h.messages(bsid)) == 1 })

	sid := x.open()
	c, err := x.dial("EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpText, "2probe")
	c.send(ws.OpText, "5")
	x.client.Timeout = 5 * time.Second
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("GET after 2probe+5: %d %q", r.status, r.body)
	}
	c.expect("3probe")
	if tr := h.conn(sid).Transport(); tr != "websocket" {
		t.Fatalf("transport %q", tr)
	}
	unblock()
}

func TestUpgradeAbandonedProbe(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	sid := x.open()
	c, err := x.dial("EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpText, "2probe")
	c.expect("3probe")
	c.conn.Close()
	waitFor(t, "probe failure", func() bool { return x.srv.Stats().UpgradesFailed == 1 })
	// The session continues on polling.
	if err := h.conn(sid).Send(NewMessage(false, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.body != "4x" {
		t.Fatalf("%q", r.body)
	}
}

// TestWebsocketSlowConsumer fills the queue of a client that never reads.
func TestWebsocketSlowConsumer(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{MaxQueueBytes: 64 << 10, WriteTimeout: time.Second}, h)
	c, sid := x.openWS()
	_ = c
	conn := h.conn(sid)
	big := NewMessage(true, make([]byte, 16<<10))
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = conn.Send(big)
	}
	if err != ErrQueueFull {
		t.Fatalf("err %v", err)
	}
	if r := h.waitCloseSid(t, sid); r != CloseSlowConsumer {
		t.Fatalf("reason %v", r)
	}
}

func TestWebsocketVolatileWhileFlushing(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	_, sid := x.openWS()
	conn := h.conn(sid)
	s := conn.(*session)
	waitFor(t, "idle", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.flushing && len(s.queue) == 0
	})
	v := NewMessage(false, []byte("v"))
	v.Volatile = true
	if err := conn.Send(v); err != nil {
		t.Fatalf("volatile on an idle websocket: %v", err)
	}
	s.mu.Lock()
	s.flushing = true // pretend a write is in progress
	s.mu.Unlock()
	if err := conn.Send(v); err != ErrDropped {
		t.Fatalf("volatile while congested: %v", err)
	}
	s.mu.Lock()
	s.flushing = false
	s.kickLocked()
	s.mu.Unlock()
}

func TestWebsocketHandshakeErrors(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	for _, q := range []string{"transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc", "EIO=4&transport=websocket&sid=nope"} {
		if _, err := x.dial(q, nil); err == nil {
			t.Fatalf("%s accepted", q)
		}
	}
	y := newTestServer(t, Config{Transports: []string{"polling"}}, nil)
	if _, err := y.dial("EIO=4&transport=websocket", nil); err == nil {
		t.Fatal("websocket accepted when not allowed")
	}
	sid := y.open()
	if _, err := y.dial("EIO=4&transport=websocket&sid="+sid, http.Header{}); err == nil {
		t.Fatal("upgrade accepted when websocket not allowed")
	}
}

// TestWebsocketEarlyFrames sends frames in the same packet as the handshake
// request: they sit in the hijacked bufio.Reader and must not be lost.
func TestWebsocketLargeFrames(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{}, h)
	c, _ := x.openWS()
	for _, n := range []int{125, 126, 65535, 65536, 300000} {
		p := bytes.Repeat([]byte{'z'}, n)
		if err := wsutil.WriteClientMessage(c.conn, ws.OpBinary, p); err != nil {
			t.Fatal(err)
		}
		op, got := c.read()
		if op != ws.OpBinary || got != string(p) {
			t.Fatalf("n=%d: op %v len %d", n, op, len(got))
		}
	}
	_ = binary.BigEndian
}

// TestWebsocketWriteResumes: a peer that stops reading fills the socket
// buffers (EAGAIN on the poller path); once it reads again every queued
// message arrives, in order.
func TestWebsocketWriteResumes(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{MaxQueueBytes: 64 << 20}, h)
	c, sid := x.openWS()
	conn := h.conn(sid)
	const n, size = 256, 64 << 10
	for i := range n {
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, uint32(i))
		if err := conn.Send(NewMessage(true, p)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for i := range n {
		op, p := c.read()
		if op != ws.OpBinary || len(p) != size || binary.BigEndian.Uint32([]byte(p)) != uint32(i) {
			t.Fatalf("message %d: op %v len %d", i, op, len(p))
		}
	}
}

// TestShutdownDeadline: a peer that never reads cannot hold Shutdown past
// its context; the remaining websockets are closed abruptly.
func TestShutdownDeadline(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{MaxQueueBytes: 64 << 20, WriteTimeout: time.Minute}, h)
	_, sid := x.openWS()
	conn := h.conn(sid)
	for range 256 {
		if err := conn.Send(NewMessage(true, make([]byte, 64<<10))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := x.srv.Shutdown(ctx)
	if err == nil {
		t.Skip("kernel buffers absorbed everything")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Shutdown took %v", time.Since(start))
	}
	waitFor(t, "OnClose", func() bool { _, ok := h.closeReason(sid); return ok })
	waitFor(t, "goroutines", func() bool {
		x.srv.goroutines.mu.Lock()
		defer x.srv.goroutines.mu.Unlock()
		return x.srv.goroutines.n == 0
	})
}

// TestHandlerSerialized: callbacks of one session never overlap and OnClose
// comes last, even when Close is called from inside OnMessage.
func TestHandlerSerialized(t *testing.T) {
	h := &serialHandler{t: t, closed: make(chan struct{})}
	srv, err := New(Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	y := newTestServerWith(t, srv, nil)
	c, _ := y.openWS()
	for i := range 200 {
		c.send(ws.OpText, "4m"+strings.Repeat("x", i%7))
	}
	c.send(ws.OpText, "4close")
	<-h.closed
}

type serialHandler struct {
	t      *testing.T
	mu     sync.Mutex
	busy   bool
	done   bool
	closed chan struct{}
}

func (h *serialHandler) enter() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy || h.done {
		h.t.Error("overlapping or post-close callback")
	}
	h.busy = true
}

func (h *serialHandler) leave() {
	h.mu.Lock()
	h.busy = false
	h.mu.Unlock()
}

func (h *serialHandler) OnOpen(c Conn, hs *Handshake) error { h.enter(); defer h.leave(); return nil }
func (h *serialHandler) OnMessage(c Conn, m Message) {
	h.enter()
	defer h.leave()
	if string(m.Data) == "close" {
		_ = c.Close(CloseServerClose)
		time.Sleep(5 * time.Millisecond) // OnClose must wait for us
	}
}
func (h *serialHandler) OnClose(c Conn, r CloseReason) {
	h.enter()
	h.mu.Lock()
	h.done = true
	h.busy = false
	h.mu.Unlock()
	close(h.closed)
}

// TestBroadcastShared sends the same *Message values to many websockets
// from several goroutines; every client gets every message of each sender
// in order, and each frame was built once.
func TestBroadcastShared(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	const clients, senders, perSender = 20, 4, 200
	cs := make([]*wsClient, clients)
	conns := make([]Conn, clients)
	for i := range cs {
		var sid string
		cs[i], sid = x.openWS()
		conns[i] = h.conn(sid)
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				m := NewMessage(false, []byte(fmt.Sprintf("%d:%d", s, i)))
				for _, c := range conns {
					if err := c.Send(m); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			}
		}()
	}
	var rg sync.WaitGroup
	for _, c := range cs {
		rg.Add(1)
		go func() {
			defer rg.Done()
			next := make([]int, senders)
			for range senders * perSender {
				_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				hd, err := ws.ReadHeader(c.br)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				p := make([]byte, hd.Length)
				if _, err := io.ReadFull(c.br, p); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				var s, i int
				if _, err := fmt.Sscanf(string(p), "4%d:%d", &s, &i); err != nil || i != next[s] {
					t.Errorf("got %q, want sender %d message %d", p, s, next[s])
					return
				}
				next[s]++
			}
		}()
	}
	wg.Wait()
	rg.Wait()
}

func TestHandlerPanicClosesSession(t *testing.T) {
	h := newRecorder()
	h.onMessage = func(c Conn, m Message) {
		if string(m.Data) == "boom" {
			panic("boom")
		}
		_ = c.Send(NewMessage(false, m.Data))
	}
	x := newTestServer(t, Config{}, h)
	c, sid := x.openWS()
	c.send(ws.OpText, "4boom")
	if r := h.waitCloseSid(t, sid); r != CloseServerClose {
		t.Fatalf("reason %v", r)
	}
	c.expectClose(1000)
	if x.srv.Stats().HandlerPanics != 1 {
		t.Fatal("panic not counted")
	}
	// The server still works.
	c2, _ := x.openWS()
	c2.send(ws.OpText, "4ok")
	c2.expect("4ok")
}

func TestWSConnList(t *testing.T) {
	srv := &Server{}
	list := func() (ids []int) {
		for c := srv.wsConns; c != nil; c = c.next {
			if c.next != nil && c.next.prev != c {
				t.Fatal("broken prev link")
			}
			ids = append(ids, int(c.early[0]))
		}
		return ids
	}
	cs := make([]*wsConn, 5)
	for i := range cs {
		cs[i] = &wsConn{early: []byte{byte(i)}}
		srv.linkWS(cs[i])
	}
	for _, step := range []struct {
		unlink int
		want   []int
	}{
		{2, []int{4, 3, 1, 0}}, // middle
		{4, []int{3, 1, 0}},    // head
		{0, []int{3, 1}},       // tail
		{3, []int{1}},
		{1, nil},
	} {
		srv.unlinkWS(cs[step.unlink])
		if got := list(); !slices.Equal(got, step.want) {
			t.Fatalf("after unlinking %d: %v, want %v", step.unlink, got, step.want)
		}
	}
}
