package connection

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// slowPost opens a raw connection and starts a polling POST that declares
// a large body and sends one byte; trickle keeps sending a byte every
// 50ms until the connection fails. It returns the response (nil when the
// server closed the connection without one) and when it came.
func slowPost(t *testing.T, x *testServer, sid string) (*http.Response, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(x.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	start := time.Now()
	fmt.Fprintf(conn, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 999999\r\n\r\n4", sid)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, time.Since(start)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, time.Since(start)
}

// A POST whose body trickles in is ended at BodyTimeout, its session
// closed, and counted.
func TestSlowPostBodyCut(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{BodyTimeout: 300 * time.Millisecond}, h)
	sid := x.open()
	res, took := slowPost(t, x, sid)
	if res != nil && res.StatusCode != http.StatusBadRequest {
		t.Fatalf("slow POST answered %d", res.StatusCode)
	}
	if took > 3*time.Second {
		t.Fatalf("slow POST held %v with BodyTimeout 300ms", took)
	}
	if r := x.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("session after a cut POST: GET %d %q, want 400 (closed)", r.status, r.body)
	}
	if n := x.srv.Stats().PostsCut; n != 1 {
		t.Fatalf("PostsCut %d", n)
	}
}

// A POST still reading its body when its session closes ends at once,
// long before BodyTimeout.
func TestPostEndsWithSession(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{BodyTimeout: time.Minute}, h)
	sid := x.open()
	done := make(chan time.Duration, 1)
	go func() {
		_, took := slowPost(t, x, sid)
		done <- took
	}()
	waitFor(t, "the POST is reading", func() bool {
		x.srv.mu.RLock()
		s := x.srv.sessions[sid]
		x.srv.mu.RUnlock()
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.postActive
	})
	closedAt := time.Now()
	x.srv.mu.RLock()
	s := x.srv.sessions[sid]
	x.srv.mu.RUnlock()
	s.close(CloseServerClose)
	select {
	case <-done:
		if since := time.Since(closedAt); since > 3*time.Second {
			t.Fatalf("POST ended %v after its session closed", since)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("POST still reading 5s after its session closed (BodyTimeout 1m)")
	}
}
