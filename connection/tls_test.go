package connection

import (
	"context"
	"crypto/tls"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

type openOnly struct{}

func (openOnly) OnOpen(Conn, *Handshake) error { return nil }
func (openOnly) OnMessage(Conn, Message)       {}
func (openOnly) OnClose(Conn, CloseReason)     {}

// TestTLSAndPlainReaders: a TLS websocket stays on the goroutine reader (a
// TLS stream cannot be read on socket readiness: records may sit inside
// crypto/tls), a plain TCP one is adopted by the epoll loop on Linux. Both
// get their open packet and a ping answered.
func TestTLSAndPlainReaders(t *testing.T) {
	for _, secure := range []bool{true, false} {
		srv, err := New(Config{Path: "/engine.io/", PingInterval: 50 * time.Millisecond, PingTimeout: time.Second}, openOnly{})
		if err != nil {
			t.Fatal(err)
		}
		var ts *httptest.Server
		url := ""
		dialer := ws.Dialer{}
		if secure {
			ts = httptest.NewTLSServer(srv)
			url = strings.Replace(ts.URL, "https://", "wss://", 1)
			dialer.TLSConfig = &tls.Config{InsecureSkipVerify: true}
		} else {
			ts = httptest.NewServer(srv)
			url = strings.Replace(ts.URL, "http://", "ws://", 1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, br, _, err := dialer.Dial(ctx, url+"/engine.io/?EIO=4&transport=websocket")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// Frames that came with the 101 response sit in br.
		var r io.Reader = conn
		if br != nil {
			r = io.MultiReader(br, conn)
		}
		rw := struct {
			io.Reader
			io.Writer
		}{r, conn}
		open, err := wsutil.ReadServerText(rw)
		if err != nil || !strings.HasPrefix(string(open), "0{") {
			t.Fatalf("secure=%v: open %q, %v", secure, open, err)
		}
		ping, err := wsutil.ReadServerText(rw)
		if err != nil || string(ping) != "2" {
			t.Fatalf("secure=%v: ping %q, %v", secure, ping, err)
		}
		adopted := srv.Stats().PollerAdopted
		switch {
		case secure && adopted != 0:
			t.Fatalf("a TLS websocket was adopted by the epoll loop")
		case !secure && runtime.GOOS == "linux" && adopted != 1:
			t.Fatalf("a plain websocket was not adopted by the epoll loop (%d)", adopted)
		}
		conn.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
		ts.Close()
	}
}
