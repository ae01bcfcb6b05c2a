package connection

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestHandshakeErrors(t *testing.T) {
	h := newRecorder()
	h.onOpen = func(c Conn, hs *Handshake) error {
		switch hs.Query().Get("refuse") {
		case "plain":
			return errors.New("nope")
		case "custom":
			return &Error{Code: 4, Message: "Not authorized", Status: http.StatusForbidden, Context: map[string]any{"why": "token"}}
		}
		return nil
	}
	x := newTestServer(t, Config{
		AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Get("deny") != "" {
				return errors.New("denied")
			}
			return nil
		},
	}, h)
	tests := []struct {
		name, method, query string
		status              int
		body                string
	}{
		{"no transport", "GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"bad transport", "GET", "EIO=4&transport=abc", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"post handshake", "POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"put handshake", "PUT", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"allow request", "GET", "EIO=4&transport=polling&deny=1", 403, `{"code":4,"message":"Forbidden"}`},
		{"onopen plain error", "GET", "EIO=4&transport=polling&refuse=plain", 403, `{"code":4,"message":"Forbidden"}`},
		{"onopen *Error", "GET", "EIO=4&transport=polling&refuse=custom", 403, `{"code":4,"context":{"why":"token"},"message":"Not authorized"}`},
		{"no EIO", "GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO=3", "GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO=abc", "GET", "EIO=abc&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := x.do(tt.method, tt.query, "")
			if r.status != tt.status || r.body != tt.body {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content-type %q", ct)
			}
		})
	}
	if n := x.srv.Len(); n != 0 {
		t.Fatalf("refused handshakes left %d sessions", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.closes) != 0 {
		t.Fatal("OnClose called for a refused session")
	}
}

func TestOpenPacket(t *testing.T) {
	x := newTestServer(t, Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, nil)
	r := x.do("GET", "EIO=4&transport=polling", "")
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	var v struct {
		Sid          string
		Upgrades     []string
		PingInterval int
		PingTimeout  int
		MaxPayload   int
	}
	if r.body[0] != '0' || json.Unmarshal([]byte(r.body[1:]), &v) != nil {
		t.Fatalf("body %q", r.body)
	}
	if len(v.Sid) != 20 || strings.Trim(v.Sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("sid %q", v.Sid)
	}
	if fmt.Sprint(v.Upgrades) != "[websocket]" || v.PingInterval != 300 || v.PingTimeout != 200 || v.MaxPayload != 1000000 {
		t.Fatalf("open %+v", v)
	}

	y := newTestServer(t, Config{DisableUpgrades: true}, nil)
	r = y.do("GET", "EIO=4&transport=polling", "")
	if !strings.Contains(r.body, `"upgrades":[]`) {
		t.Fatalf("upgrades not empty: %q", r.body)
	}
}

func TestPollingRoundTrip(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{}, h)
	cases := []string{"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "4héllo €"}
	for _, body := range cases {
		sid := x.open()
		r := x.do("POST", "EIO=4&transport=polling&sid="+sid, body)
		if r.status != 200 || r.body != "ok" || r.header.Get("Content-Type") != "text/html" {
			t.Fatalf("POST: %d %q %v", r.status, r.body, r.header)
		}
		r = x.do("GET", "EIO=4&transport=polling&sid="+sid, "")
		if r.status != 200 || r.body != body {
			t.Fatalf("GET: %d %q, want %q", r.status, r.body, body)
		}
		if x.h.conn(sid).Transport() != "polling" {
			t.Fatal("transport")
		}
	}
	// A binary message arrives as raw bytes.
	sid := x.open()
	x.do("POST", "EIO=4&transport=polling&sid="+sid, "bAQIDBA==")
	m := h.messages(sid)
	if len(m) != 1 || !m[0].Binary || string(m[0].Data) != "\x01\x02\x03\x04" {
		t.Fatalf("binary message %+v", m)
	}
}

func TestPollingSendBatchAndWake(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	sid := x.open()
	c := x.h.conn(sid)
	// A GET waits until something is queued.
	got := make(chan resp, 1)
	go func() { got <- x.do("GET", "EIO=4&transport=polling&sid="+sid, "") }()
	waitFor(t, "GET pending", func() bool {
		s := c.(*session)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pollGet != nil
	})
	// An atomic multi-message send (event + binary attachment).
	if err := c.Send(NewMessage(false, []byte(`51-["ev",{"_placeholder":true,"num":0}]`)), NewMessage(true, []byte{1, 2})); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.body != "451-[\"ev\",{\"_placeholder\":true,\"num\":0}]\x1ebAQI=" {
		t.Fatalf("GET %q", r.body)
	}
}

func TestPollingInvalidPacketCloses(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	for _, body := range []string{"abc", "4\xff\xfe"} {
		sid := x.open()
		r := x.do("POST", "EIO=4&transport=polling&sid="+sid, body)
		if r.status != 400 {
			t.Fatalf("POST %q: %d", body, r.status)
		}
		if r := x.h.waitCloseSid(t, sid); r != CloseParseError {
			t.Fatalf("reason %v", r)
		}
		if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
			t.Fatalf("GET after close: %d", r.status)
		}
	}
	if x.srv.Stats().ParseErrors != 2 {
		t.Fatalf("parse errors %d", x.srv.Stats().ParseErrors)
	}
}

func TestPollingDoubleGet(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	sid := x.open()
	first := make(chan resp, 1)
	go func() { first <- x.do("GET", "EIO=4&transport=polling&sid="+sid, "") }()
	s := x.h.conn(sid).(*session)
	waitFor(t, "first GET pending", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pollGet != nil
	})
	second := x.do("GET", "EIO=4&transport=polling&sid="+sid, "")
	if second.status != 400 {
		t.Fatalf("second GET %d", second.status)
	}
	if r := <-first; r.status != 200 || r.body != "1" {
		t.Fatalf("first GET %d %q", r.status, r.body)
	}
	if r := x.h.waitCloseSid(t, sid); r != CloseDoubleGet {
		t.Fatalf("reason %v", r)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("third GET %d", r.status)
	}
}

func TestPollingClientClose(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	sid := x.open()
	first := make(chan resp, 1)
	go func() { first <- x.do("GET", "EIO=4&transport=polling&sid="+sid, "") }()
	s := x.h.conn(sid).(*session)
	waitFor(t, "GET pending", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pollGet != nil
	})
	if r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "1"); r.status != 200 {
		t.Fatalf("POST %d", r.status)
	}
	if r := <-first; r.body != "6" {
		t.Fatalf("pending GET %q", r.body)
	}
	if r := x.h.waitCloseSid(t, sid); r != CloseClientClose {
		t.Fatalf("reason %v", r)
	}
}

// TestPollingClientCloseBeforeGet: the close POST is handled before the
// GET the client sent alongside it; that GET still gets "6", the next one
// 400 (the protocol suite's "forcefully closes the session" races them).
func TestPollingClientCloseBeforeGet(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	sid := x.open()
	if r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "1"); r.status != 200 || r.body != "ok" {
		t.Fatalf("POST %d %q", r.status, r.body)
	}
	if r := x.h.waitCloseSid(t, sid); r != CloseClientClose {
		t.Fatalf("reason %v", r)
	}
	if x.srv.Len() != 0 {
		t.Fatal("closed session counted as open")
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 200 || r.body != "6" {
		t.Fatalf("GET after close: %d %q", r.status, r.body)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("second GET after close: %d", r.status)
	}
}

// TestPollingPingExpiredBeforeTick: a request arriving at the pong deadline
// finds the session closed even though the scheduler has not run; the
// deadline counts from when the ping was due, not when the tick sent it.
func TestPollingPingExpiredBeforeTick(t *testing.T) {
	var clock atomic.Int64
	t0 := time.Unix(1_700_000_000, 7_000_000) // not tick-aligned
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	h := newRecorder()
	// No scheduler goroutine: the test runs the wheel by hand.
	srv := newServer(Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, Now: now}.withDefaults(), h)
	x := newTestServerWith(t, srv, h)
	x.client.Timeout = 5 * time.Second // an open session would hold the GET
	sid := x.open()
	tick := func(at time.Time) {
		clock.Store(at.UnixNano())
		for _, s := range srv.wheel.advance(at, nil) {
			s.onTimer(at)
		}
	}
	tick(t0.Add(315 * time.Millisecond)) // the ping goes out 15ms late
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 200 || r.body != "2" {
		t.Fatalf("GET %d %q", r.status, r.body)
	}
	clock.Store(t0.Add(500*time.Millisecond - time.Nanosecond).UnixNano())
	if _, closed := h.closeReason(sid); closed {
		t.Fatal("closed early")
	}
	clock.Store(t0.Add(500 * time.Millisecond).UnixNano())
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("GET at the pong deadline: %d %q", r.status, r.body)
	}
	if r := h.waitCloseSid(t, sid); r != ClosePingTimeout {
		t.Fatalf("reason %v", r)
	}
}

func TestPollingAbortedGetCloses(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	sid := x.open()
	req, _ := http.NewRequest("GET", x.base+"?EIO=4&transport=polling&sid="+sid, nil)
	ctx, cancel := contextWithCancel(t)
	req = req.WithContext(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := x.client.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	s := x.h.conn(sid).(*session)
	waitFor(t, "GET pending", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pollGet != nil
	})
	cancel()
	<-done
	if r := x.h.waitCloseSid(t, sid); r != CloseTransportError {
		t.Fatalf("reason %v", r)
	}
}

func TestPollingOversizedPost(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{MaxPayload: 100}, h)
	sid := x.open()
	r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "4"+strings.Repeat("a", 100))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", r.status)
	}
	// As in the reference, only the request is refused: the session lives.
	if r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "4"+strings.Repeat("a", 99)); r.status != 200 {
		t.Fatalf("POST of exactly MaxPayload after the 413: %d", r.status)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.body != "4"+strings.Repeat("a", 99) {
		t.Fatalf("GET %q", r.body)
	}
	if _, closed := h.closeReason(sid); closed || x.srv.Stats().PostsTooLarge != 1 {
		t.Fatal("session closed or 413 not counted")
	}
}

// TestPollingCloseLingers: Conn.Close with no pending GET keeps the session
// until the next GET, which gets the queue and "1" (reference socket.close()).
func TestPollingCloseLingers(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	sid := x.open()
	c := h.conn(sid)
	if err := c.Send(NewMessage(false, []byte("last"))); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(CloseParseError); err != nil {
		t.Fatal(err)
	}
	if r := h.waitCloseSid(t, sid); r != CloseParseError {
		t.Fatalf("reason %v", r)
	}
	if x.srv.Len() != 0 {
		t.Fatal("lingering session counted as open")
	}
	if r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "4ignored"); r.status != 200 || r.body != "ok" {
		t.Fatalf("POST while lingering: %d %q", r.status, r.body)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 200 || r.body != "4last" {
		t.Fatalf("GET after Close: %d %q", r.status, r.body)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 200 || r.body != "1" {
		t.Fatalf("second GET after Close: %d %q", r.status, r.body)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("third GET after Close: %d", r.status)
	}
	if len(h.messages(sid)) != 0 {
		t.Fatal("message delivered after close")
	}
}

func TestPollingLingerExpires(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{PingInterval: time.Second, PingTimeout: 50 * time.Millisecond}, h)
	sid := x.open()
	_ = h.conn(sid).Close(CloseServerClose)
	waitFor(t, "linger end", func() bool {
		x.srv.mu.RLock()
		defer x.srv.mu.RUnlock()
		return len(x.srv.lingering) == 0
	})
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("GET after linger: %d", r.status)
	}
}

func TestPollingPingPong(t *testing.T) {
	x := newTestServer(t, Config{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond}, nil)
	sid := x.open()
	for range 3 {
		r := x.do("GET", "EIO=4&transport=polling&sid="+sid, "")
		if r.status != 200 || r.body != "2" {
			t.Fatalf("GET %d %q", r.status, r.body)
		}
		if r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "3"); r.status != 200 {
			t.Fatalf("POST %d", r.status)
		}
	}
	if _, closed := x.h.closeReason(sid); closed {
		t.Fatal("closed despite pongs")
	}
	// Now stop answering: closed with ping timeout, GET then 400.
	if r := x.h.waitCloseSid(t, sid); r != ClosePingTimeout {
		t.Fatalf("reason %v", r)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("GET after timeout %d", r.status)
	}
}

func TestCORS(t *testing.T) {
	x := newTestServer(t, Config{CORS: CORSConfig{Origins: []string{"https://app.example"}, Credentials: true, AllowHeaders: []string{"Authorization"}}}, nil)
	r := x.do("OPTIONS", "EIO=4&transport=polling", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if r.status != 204 {
		t.Fatalf("preflight %d", r.status)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers":     "Content-Type, Authorization",
	}
	for k, v := range want {
		if r.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	r = x.do("GET", "EIO=4&transport=polling", "", "Origin", "https://app.example")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("GET %d %v", r.status, r.header)
	}
	r = x.do("GET", "EIO=4&transport=polling", "", "Origin", "https://evil.example")
	if r.status != 403 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin %d %v", r.status, r.header)
	}
	// No Origin (non-browser client): allowed.
	if r := x.do("GET", "EIO=4&transport=polling", ""); r.status != 200 {
		t.Fatalf("no origin %d", r.status)
	}
	// Websocket from a foreign origin is refused before the upgrade.
	if _, err := x.dial("EIO=4&transport=websocket", http.Header{"Origin": {"https://evil.example"}}); err == nil {
		t.Fatal("foreign websocket accepted")
	} else if se, ok := err.(ws.StatusError); !ok || int(se) != 403 {
		t.Fatalf("dial err %v", err)
	}
}

// CORSConfig.Refused answers every request from a foreign Origin:
// preflight, handshake, polling with a sid and the websocket upgrade.
func TestOriginRefusedHook(t *testing.T) {
	var seen []string
	refusal := &Error{Code: 4, Message: "Forbidden", Status: 403, Context: map[string]any{"code": "ORIGIN"}}
	x := newTestServer(t, Config{CORS: CORSConfig{Origins: []string{"https://app.example"}, Refused: func(origin string) *Error {
		seen = append(seen, origin)
		return refusal
	}}}, nil)
	sid := x.open()
	for _, req := range [][2]string{
		{"OPTIONS", "EIO=4&transport=polling"},
		{"GET", "EIO=4&transport=polling"},
		{"GET", "EIO=4&transport=polling&sid=" + sid},
		{"POST", "EIO=4&transport=polling&sid=" + sid},
	} {
		r := x.do(req[0], req[1], "", "Origin", "https://evil.example")
		if r.status != 403 || r.body != `{"code":4,"context":{"code":"ORIGIN"},"message":"Forbidden"}` {
			t.Fatalf("%s %s: %d %s", req[0], req[1], r.status, r.body)
		}
	}
	if _, err := x.dial("EIO=4&transport=websocket", http.Header{"Origin": {"https://evil.example"}}); err == nil {
		t.Fatal("foreign websocket accepted")
	}
	if len(seen) != 5 || seen[0] != "https://evil.example" {
		t.Fatalf("hook saw %q, want 5 refusals", seen)
	}
}

func TestVolatileDropAndSlowConsumer(t *testing.T) {
	x := newTestServer(t, Config{MaxQueueBytes: 100}, nil)
	sid := x.open()
	c := x.h.conn(sid)
	// Polling with no pending GET is congested: volatile dropped.
	v := NewMessage(false, []byte("v"))
	v.Volatile = true
	if err := c.Send(v); !errors.Is(err, ErrDropped) {
		t.Fatalf("volatile: %v", err)
	}
	if x.srv.Stats().VolatileDrops != 1 {
		t.Fatal("volatile drop not counted")
	}
	if err := c.Send(NewMessage(false, make([]byte, 60))); err != nil {
		t.Fatal(err)
	}
	// 61 + 61 > 100: the whole send is refused and the session closed.
	if err := c.Send(NewMessage(false, make([]byte, 60))); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("overflow: %v", err)
	}
	if r := x.h.waitCloseSid(t, sid); r != CloseSlowConsumer {
		t.Fatalf("reason %v", r)
	}
	if err := c.Send(NewMessage(false, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	st := x.srv.Stats()
	if st.SlowConsumers != 1 || st.SessionsClosed[CloseSlowConsumer] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShutdownClosesEverything(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	psid := x.open()
	pending := make(chan resp, 1)
	go func() { pending <- x.do("GET", "EIO=4&transport=polling&sid="+psid, "") }()
	ps := h.conn(psid).(*session)
	waitFor(t, "GET pending", func() bool {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		return ps.pollGet != nil
	})
	wc, err := x.dial("EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	op, open := wc.read()
	if op != ws.OpText || open[0] != '0' {
		t.Fatal(open)
	}
	wsid := open[9:29]
	wconn := h.conn(wsid)
	// Queued before shutdown: delivered before the close frame.
	if err := wconn.Send(NewMessage(false, []byte("bye"))); err != nil {
		t.Fatal(err)
	}
	idle := x.open()

	if err := x.srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := x.srv.Shutdown(t.Context()); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, sid := range []string{psid, wsid, idle} {
		if r, ok := h.closeReason(sid); !ok || r != CloseServerShutdown {
			t.Fatalf("%s: %v %v", sid, r, ok)
		}
	}
	if r := <-pending; r.body != "1" {
		t.Fatalf("pending GET %q", r.body)
	}
	wc.expect("4bye")
	wc.expectClose(1001)
	if x.srv.Len() != 0 {
		t.Fatal("sessions left")
	}
	if r := x.do("GET", "EIO=4&transport=polling", ""); r.status != 503 {
		t.Fatalf("handshake after shutdown %d", r.status)
	}
	if err := wconn.Send(NewMessage(false, nil)); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestCloseFromHandlerAndOnce(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	sid := x.open()
	c := h.conn(sid)
	if err := c.Close(CloseServerClose); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(CloseServerClose); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if r := h.waitCloseSid(t, sid); r != CloseServerClose {
		t.Fatal(r)
	}
	h.mu.Lock()
	n := h.nClose[sid]
	h.mu.Unlock()
	if n != 1 {
		t.Fatalf("OnClose %d times", n)
	}
}

// TestPollingSendThenCloseInHandler: a handler that sends a last message
// and closes (Socket.IO disconnect(true)) delivers the message before "1".
func TestPollingSendThenCloseInHandler(t *testing.T) {
	h := newRecorder()
	h.onMessage = func(c Conn, m Message) {
		if string(m.Data) == "bye" {
			_ = c.Send(NewMessage(false, []byte("1")))
			_ = c.Close(CloseServerClose)
		}
	}
	x := newTestServer(t, Config{}, h)
	for range 20 {
		sid := x.open()
		got := make(chan resp, 1)
		go func() { got <- x.do("GET", "EIO=4&transport=polling&sid="+sid, "") }()
		s := h.conn(sid).(*session)
		waitFor(t, "GET pending", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.pollGet != nil
		})
		if r := x.do("POST", "EIO=4&transport=polling&sid="+sid, "4bye"); r.body != "ok" {
			t.Fatalf("POST %q", r.body)
		}
		// The last message comes alone; "1" on the next GET.
		if body := (<-got).body; body != "41" {
			t.Fatalf("got %q", body)
		}
		if body := x.do("GET", "EIO=4&transport=polling&sid="+sid, "").body; body != "1" {
			t.Fatalf("then %q", body)
		}
	}
}
