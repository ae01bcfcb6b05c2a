package broker

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/ionbus/ionbus/connection"
	"github.com/ionbus/ionbus/internal/wstest"
)

// wsSocket is a raw Socket.IO client on a real websocket.
type wsSocket struct {
	t    *testing.T
	conn net.Conn
}

func dialWS(t *testing.T, url string) *wsSocket {
	t.Helper()
	conn, err := wstest.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsSocket{t: t, conn: conn}
	if p := c.next(); !strings.HasPrefix(p, "0{") {
		t.Fatalf("open %q", p)
	}
	return c
}

func (c *wsSocket) send(p string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(p)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsSocket) next() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := wsutil.ReadServerText(c.conn)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(msg)
}

// TestBlockingMiddleware: a CONNECT held by a blocking middleware does
// not hold the Engine.IO worker (one worker here): another session is
// served meanwhile. The answer then comes on the session's callback; a
// second CONNECT while pending closes the session; a session that closes
// while pending never connects, and the disconnect handlers its
// middleware registered run.
func TestBlockingMiddleware(t *testing.T) {
	srv, err := New(Config{Engine: connection.Config{Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var entered, gaveBack atomic.Int32
	var reasons atomic.Value
	srv.Of("/slow").UseBlocking(func(s *Socket) error {
		entered.Add(1)
		s.OnDisconnect(func(_ *Socket, reason string) { gaveBack.Add(1); reasons.Store(reason) })
		<-release
		if s.Handshake().Auth["refuse"] == true {
			return errors.New("no")
		}
		return nil
	})
	srv.Of("/").On("ping", func(e *Event) { _ = e.Ack("pong") })
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	waitEntered := func(n int32) {
		for deadline := time.Now().Add(5 * time.Second); entered.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("middleware entered %d times, want %d", entered.Load(), n)
			}
		}
	}

	slow := dialWS(t, ts.URL)
	slow.send("40/slow,")
	waitEntered(1)
	fast := dialWS(t, ts.URL)
	fast.send("40")
	if p := fast.next(); !strings.HasPrefix(p, `40{"sid":`) {
		t.Fatalf("fast connect %q", p)
	}
	fast.send(`421["ping"]`)
	if p := fast.next(); p != `431["pong"]` {
		t.Fatalf("fast ack %q while a CONNECT is held", p)
	}
	release <- struct{}{}
	if p := slow.next(); !strings.HasPrefix(p, `40/slow,{"sid":`) {
		t.Fatalf("held connect answered %q", p)
	}

	refused := dialWS(t, ts.URL)
	refused.send(`40/slow,{"refuse":true}`)
	waitEntered(2)
	release <- struct{}{}
	if p := refused.next(); p != `44/slow,{"message":"no"}` {
		t.Fatalf("refusal %q", p)
	}
	if gaveBack.Load() != 1 || reasons.Load() != ReasonServerNamespaceDisconnect {
		t.Fatalf("refused socket: disconnect handlers ran %d times (%v)", gaveBack.Load(), reasons.Load())
	}

	dup := dialWS(t, ts.URL)
	dup.send("40/slow,")
	waitEntered(3)
	dup.send("40/slow,") // a second CONNECT while the first is pending
	_ = dup.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := wsutil.ReadServerText(dup.conn); err == nil {
		t.Fatal("the session survived a second CONNECT")
	}
	release <- struct{}{}
	for deadline := time.Now().Add(5 * time.Second); gaveBack.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the closed session's socket did not give back what its middleware took")
		}
	}
	// The middleware may return before or after the engine has run the
	// session's close: the socket is then dropped (transport close) or
	// admitted and closed with its session (forced server close).
	if r := reasons.Load(); (r != ReasonTransportClose && r != ReasonForcedServerClose) || len(srv.Of("/slow").Sockets()) != 1 {
		t.Fatalf("reason %v, sockets %d (only the first connect stays)", reasons.Load(), len(srv.Of("/slow").Sockets()))
	}
}
