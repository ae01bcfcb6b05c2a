package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/ionbus/ionbus/internal/wstest"
)

// Hostile input from raw Go clients (gobwas/ws and net/http). The
// expected answers are the reference server's (socket.io@4.8.1, measured
// with js/raw-probe.js and curl against js/reference-server.js); where
// ionbus deliberately differs the comment says so. After each case the
// server must still serve a fresh client, and the goroutine count must
// return to its baseline.

// rawWS is a websocket Engine.IO client that speaks only what it is told.
type rawWS struct {
	t    *testing.T
	conn net.Conn
	open map[string]any // the Engine.IO open packet
}

func dialWS(t *testing.T, url, query string) *rawWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(url, "http") + "/socket.io/?" + query
	conn, err := wstest.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	c := &rawWS{t: t, conn: conn}
	t.Cleanup(func() { _ = conn.Close() })
	first := c.readText(5 * time.Second)
	if !strings.HasPrefix(first, "0{") {
		t.Fatalf("first message %q, want an Engine.IO open packet", first)
	}
	if err := json.Unmarshal([]byte(first[1:]), &c.open); err != nil {
		t.Fatalf("open packet %q: %v", first, err)
	}
	return c
}

func (c *rawWS) send(op ws.OpCode, data []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientMessage(c.conn, op, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawWS) sendText(s string) { c.t.Helper(); c.send(ws.OpText, []byte(s)) }

// read returns the next data message; err is a wsutil.ClosedError when
// the server sent a close frame (code 1005 when the frame has none). It
// reads frames itself and never answers a close, so a server that resets
// the connection right after its close frame still shows its code.
func (c *rawWS) read(d time.Duration) (string, ws.OpCode, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	var msg []byte
	var op ws.OpCode
	for {
		f, err := ws.ReadFrame(c.conn)
		if err != nil {
			return "", 0, err
		}
		switch f.Header.OpCode {
		case ws.OpClose:
			code := ws.StatusNoStatusRcvd
			if len(f.Payload) >= 2 {
				code = ws.StatusCode(uint16(f.Payload[0])<<8 | uint16(f.Payload[1]))
			}
			return "", ws.OpClose, wsutil.ClosedError{Code: code}
		case ws.OpPing, ws.OpPong:
			continue
		case ws.OpContinuation:
		default:
			op = f.Header.OpCode
		}
		msg = append(msg, f.Payload...)
		if f.Header.Fin {
			return string(msg), op, nil
		}
	}
}

func (c *rawWS) readText(d time.Duration) string {
	c.t.Helper()
	s, op, err := c.read(d)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		c.t.Fatalf("got a %v message, want text", op)
	}
	return s
}

// connect joins the default namespace.
func (c *rawWS) connect() {
	c.t.Helper()
	c.sendText("40")
	if got := c.readText(5 * time.Second); !strings.HasPrefix(got, `40{"sid":"`) {
		c.t.Fatalf("CONNECT answer %q", got)
	}
}

// expectClosed reads until the server closes the websocket and returns
// the close code (1005 for a close frame without one, 1006 for a bare TCP
// close). Any data message before the close fails the test: the reference
// sends nothing.
func (c *rawWS) expectClosed() ws.StatusCode {
	c.t.Helper()
	for {
		msg, _, err := c.read(3 * time.Second)
		var closed wsutil.ClosedError
		switch {
		case errors.As(err, &closed):
			return closed.Code
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
			return ws.StatusAbnormalClosure
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("the server did not close the websocket within 3s")
			}
			c.t.Logf("read error instead of a close frame: %v", err)
			return ws.StatusAbnormalClosure // connection reset
		default:
			c.t.Fatalf("got %q before the close; the reference sends nothing", msg)
		}
	}
}

// checkFreshClient proves the server still works: a new websocket
// session joins "/" and gets an ack through the test application.
func checkFreshClient(t *testing.T, url string) {
	t.Helper()
	c := dialWS(t, url, "EIO=4&transport=websocket")
	c.connect()
	c.sendText(`421["echo","alive"]`)
	if got := c.readText(5 * time.Second); got != `431["alive"]` {
		t.Fatalf("echo answer %q, want %q", got, `431["alive"]`)
	}
	_ = c.conn.Close()
}

// badTarget is the server under test: ionbus (ts set) or the Node
// reference (ts nil: only the answers are checked).
type badTarget struct {
	url string
	ts  *testServer
}

// badInputCase runs one hostile exchange: warm up, take the goroutine
// baseline, run fn, then check the server still serves and settles back.
func badInputCase(t *testing.T, target badTarget, fn func(t *testing.T, url string)) {
	t.Helper()
	checkFreshClient(t, target.url) // warm-up: worker pool, heartbeat wheel, ...
	if target.ts == nil {
		fn(t, target.url)
		checkFreshClient(t, target.url)
		return
	}
	ts := target.ts
	ts.waitIdle(t)
	base := runtime.NumGoroutine()
	fn(t, target.url)
	ts.waitIdle(t)
	checkFreshClient(t, target.url)
	ts.waitIdle(t)
	goroutinesSettle(t, base)
}

// badMaxPayload is the maxPayload of the servers under test.
const badMaxPayload = 30000

func TestBadInputWebsocket(t *testing.T) {
	ts := startServer(t, serverOptions{maxPayload: badMaxPayload})
	badInputWebsocket(t, badTarget{url: ts.url, ts: ts})
}

func TestBadInputPolling(t *testing.T) {
	ts := startServer(t, serverOptions{maxPayload: badMaxPayload})
	badInputPolling(t, badTarget{url: ts.url, ts: ts})
}

// TestReferenceBadInput runs the same exchanges against socket.io@4.8.1:
// the expected answers above are the reference's.
func TestReferenceBadInput(t *testing.T) {
	url := startReference(t, fmt.Sprintf("MAX_PAYLOAD=%d", badMaxPayload))
	target := badTarget{url: url}
	t.Run("websocket", func(t *testing.T) { badInputWebsocket(t, target) })
	t.Run("polling", func(t *testing.T) { badInputPolling(t, target) })
}

func badInputWebsocket(t *testing.T, target badTarget) {
	reference := target.ts == nil
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

	for _, tc := range []struct {
		name string
		// connect first
		connect bool
		input   []string
		binary  bool // send input[last] as a binary message
		// acceptable close codes; the reference sends a close frame
		// without a code (1005) for Socket.IO and Engine.IO parse errors.
		codes []ws.StatusCode
		// ionbusOnly: ionbus deliberately answers differently from the
		// reference; not run against it.
		ionbusOnly bool
		// stays: the reference ignores the input and the session stays
		// open; checked with a CONNECT to an unknown namespace, which must
		// still get its CONNECT_ERROR.
		stays bool
	}{
		// Socket.IO: a JSON syntax error in an EVENT. Reference: 1005.
		// ionbus sends 1007 (invalid data) by design (broker/codes.go).
		{name: "malformed event JSON", connect: true, input: []string{`42["ev",`}, codes: []ws.StatusCode{1005, 1007}},
		// Socket.IO packet type 9 does not exist. Reference: 1005.
		{name: "unknown Socket.IO type", connect: true, input: []string{`49`}, codes: []ws.StatusCode{1005, 1007}},
		// Engine.IO packet type 9 does not exist. Reference: 1005.
		// ionbus: 1002 (protocol error) by design.
		{name: "unknown Engine.IO type", input: []string{"9hello"}, codes: []ws.StatusCode{1005, 1002}},
		// An EVENT for a namespace the client never joined. Reference:
		// "invalid state", the client is closed (socket.io client.ts
		// ondecoded; "forced server close"), a close frame without a code
		// (1005). ionbus: a normal close, 1000.
		{name: "event before CONNECT", input: []string{`42["ev"]`}, codes: []ws.StatusCode{1005, 1000}},
		// A second CONNECT for a joined namespace: same invalid state.
		{name: "duplicate CONNECT", connect: true, input: []string{"40"}, codes: []ws.StatusCode{1005, 1000}},
		// An attachment nobody announced. Reference: 1005.
		{name: "binary without BINARY_EVENT", connect: true, input: []string{"\x01\x02\x03"}, binary: true, codes: []ws.StatusCode{1005, 1007}},
		// A client-sent DISCONNECT for a namespace it never joined:
		// invalid state, closed. Reference: 1005.
		{name: "DISCONNECT for an unjoined namespace", input: []string{"41/a,"}, codes: []ws.StatusCode{1005, 1000}},
		// CONNECT_ERROR is server-to-client only. Reference: 1005.
		{name: "CONNECT_ERROR from the client", connect: true, input: []string{`44{"message":"x"}`}, codes: []ws.StatusCode{1005, 1002, 1007}},
		// A reserved event name is an invalid payload (socket.io-parser
		// isPayloadValid). Reference: 1005.
		{name: "reserved event name", connect: true, input: []string{`42["disconnect"]`}, codes: []ws.StatusCode{1005, 1007}},
		// A namespace without its leading slash: "nope," is read as the
		// payload, which is not JSON. Reference: 1005.
		{name: "namespace without slash", input: []string{"40nope,"}, codes: []ws.StatusCode{1005, 1007}},
		// An ACK for an id the server never used: ignored by the reference.
		{name: "ACK with an unknown id", connect: true, input: []string{`4399["x"]`}, stays: true},
		// An EVENT whose first element is a number is valid Socket.IO
		// (isPayloadValid accepts typeof payload[0] === "number"); the
		// reference dispatches it and keeps the session.
		{name: "numeric event name", connect: true, input: []string{`42[1,"x"]`}, stays: true},
		// JSON nesting bomb. The reference (V8 JSON.parse) accepts and
		// dispatches it; ionbus refuses nesting past MaxJSONDepth (32) as
		// a parse error, by design (DESIGN.md failure model: deep JSON).
		{name: "JSON nesting bomb", connect: true, input: []string{`42["ev",` + nest(10000) + `]`}, codes: []ws.StatusCode{1005, 1007}, ionbusOnly: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if reference && tc.ionbusOnly {
				t.Skip("ionbus differs from the reference by design")
			}
			badInputCase(t, target, func(t *testing.T, url string) {
				c := dialWS(t, url, "EIO=4&transport=websocket")
				if tc.connect {
					c.connect()
				}
				for i, in := range tc.input {
					if tc.binary && i == len(tc.input)-1 {
						c.send(ws.OpBinary, []byte(in))
					} else {
						c.sendText(in)
					}
				}
				if tc.stays {
					c.sendText("40/nope,")
					msg, _, err := c.read(3 * time.Second)
					if want := `44/nope,{"message":"Invalid namespace"}`; err != nil || msg != want {
						t.Errorf("after the input: got %q, %v; want the session open and %q", msg, err, want)
					}
					_ = c.conn.Close()
					return
				}
				code := c.expectClosed()
				ok := false
				for _, want := range tc.codes {
					ok = ok || code == want
				}
				if !ok {
					t.Errorf("close code %d, want one of %v", code, tc.codes)
				}
			})
		})
	}

	t.Run("non-UTF-8 text", func(t *testing.T) {
		badInputCase(t, target, func(t *testing.T, url string) {
			c := dialWS(t, url, "EIO=4&transport=websocket")
			c.connect()
			c.send(ws.OpText, []byte{'4', '2', 0xff, 0xfe})
			// Reference (ws library): 1007 Invalid frame payload data.
			if code := c.expectClosed(); code != ws.StatusInvalidFramePayloadData {
				t.Errorf("close code %d, want 1007", code)
			}
		})
	})

	t.Run("oversized message", func(t *testing.T) {
		badInputCase(t, target, func(t *testing.T, url string) {
			c := dialWS(t, url, "EIO=4&transport=websocket")
			if got := c.open["maxPayload"]; got != float64(badMaxPayload) {
				t.Errorf("open packet maxPayload %v, want %d", got, badMaxPayload)
			}
			c.connect()
			c.sendText(`42["ev","` + strings.Repeat("x", 40000) + `"]`)
			// Reference (ws maxPayload): 1009 Message too big.
			if code := c.expectClosed(); code != ws.StatusMessageTooBig {
				t.Errorf("close code %d, want 1009", code)
			}
		})
	})
}

// pollClient speaks Engine.IO long-polling with net/http, without
// keep-alive so no idle connection outlives a case.
type pollClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newPollClient(t *testing.T, url string) *pollClient {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &pollClient{t: t, base: url + "/socket.io/", http: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

func (p *pollClient) do(method, query, body string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+"?"+query, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatalf("%s ?%s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// handshake opens a polling session and returns its sid.
func (p *pollClient) handshake() string {
	p.t.Helper()
	code, body := p.do(http.MethodGet, "EIO=4&transport=polling", "")
	if code != http.StatusOK || !strings.HasPrefix(body, "0{") {
		p.t.Fatalf("handshake: %d %q", code, body)
	}
	var open struct{ Sid string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		p.t.Fatalf("open packet %q: %v", body, err)
	}
	return open.Sid
}

func badInputPolling(t *testing.T, target badTarget) {

	for _, tc := range []struct {
		name, query  string
		status       int
		body         string
		method, data string
	}{
		{name: "unknown sid", query: "EIO=4&transport=polling&sid=nope", status: 400, body: `{"code":1,"message":"Session ID unknown"}`},
		{name: "EIO=3", query: "EIO=3&transport=polling", status: 400, body: `{"code":5,"message":"Unsupported protocol version"}`},
		{name: "unknown transport", query: "EIO=4&transport=carrier-pigeon", status: 400, body: `{"code":0,"message":"Transport unknown"}`},
		{name: "POST with unknown sid", query: "EIO=4&transport=polling&sid=nope", method: http.MethodPost, data: "40", status: 400, body: `{"code":1,"message":"Session ID unknown"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			badInputCase(t, target, func(t *testing.T, url string) {
				p := newPollClient(t, url)
				method := tc.method
				if method == "" {
					method = http.MethodGet
				}
				code, body := p.do(method, tc.query, tc.data)
				if code != tc.status || body != tc.body {
					t.Errorf("got %d %s, want %d %s", code, body, tc.status, tc.body)
				}
			})
		})
	}

	t.Run("malformed packet over polling", func(t *testing.T) {
		badInputCase(t, target, func(t *testing.T, url string) {
			p := newPollClient(t, url)
			sid := p.handshake()
			q := "EIO=4&transport=polling&sid=" + sid
			if code, body := p.do(http.MethodPost, q, "40"); code != 200 || body != "ok" {
				t.Fatalf("POST CONNECT: %d %q", code, body)
			}
			if code, body := p.do(http.MethodGet, q, ""); code != 200 || !strings.HasPrefix(body, `40{"sid":"`) {
				t.Fatalf("GET CONNECT answer: %d %q", code, body)
			}
			// Reference: the POST is accepted ("ok"), the session closes
			// (parse error), and the next GET gets noop + close ("6\x1e1").
			if code, body := p.do(http.MethodPost, q, `42["ev",`); code != 200 || body != "ok" {
				t.Errorf("POST malformed: %d %q, want 200 ok", code, body)
			}
			code, body := p.do(http.MethodGet, q, "")
			packets := strings.Split(body, "\x1e")
			if code != 200 || packets[len(packets)-1] != "1" {
				t.Errorf("GET after a parse error: %d %q, want 200 ending in the close packet (reference: %q)", code, body, "6\x1e1")
			}
		})
	})

	t.Run("oversized POST", func(t *testing.T) {
		badInputCase(t, target, func(t *testing.T, url string) {
			p := newPollClient(t, url)
			sid := p.handshake()
			q := "EIO=4&transport=polling&sid=" + sid
			if code, body := p.do(http.MethodPost, q, "40"); code != 200 || body != "ok" {
				t.Fatalf("POST CONNECT: %d %q", code, body)
			}
			if code, body := p.do(http.MethodGet, q, ""); code != 200 || !strings.HasPrefix(body, `40{"sid":"`) {
				t.Fatalf("GET CONNECT answer: %d %q", code, body)
			}
			big := `42["ev","` + strings.Repeat("x", 40000) + `"]`
			if code, _ := p.do(http.MethodPost, q, big); code != http.StatusRequestEntityTooLarge {
				t.Errorf("POST over maxPayload: %d, want 413", code)
			}
			// Reference (engine.io 6.6 polling.ts onDataRequest): only the
			// request is refused; the session lives on.
			if code, body := p.do(http.MethodPost, q, `421["echo","after"]`); code != 200 || body != "ok" {
				t.Errorf("POST after the 413: %d %q, want 200 ok (the reference keeps the session)", code, body)
				return
			}
			if code, body := p.do(http.MethodGet, q, ""); code != 200 || body != `431["after"]` {
				t.Errorf("GET after the 413: %d %q, want 200 %q", code, body, `431["after"]`)
			}
			// Leave cleanly so the session does not wait for a ping timeout.
			p.do(http.MethodPost, q, "1")
		})
	})
}
