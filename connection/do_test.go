package connection

import (
	"slices"
	"sync"
	"testing"

	"github.com/gobwas/ws"
)

// TestConnDo: Do runs after the callback in progress, never beside it,
// runs at once on a goroutine of its own when the session is idle, and is
// refused once the session closed.
func TestConnDo(t *testing.T) {
	h := newRecorder()
	hold, held := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	h.onMessage = func(c Conn, m Message) {
		record("msg " + string(m.Data))
		if string(m.Data) == "hold" {
			close(held)
			<-hold
		}
	}
	x := newTestServer(t, Config{}, h)
	c, sid := x.openWS()
	c.send(ws.OpText, "4hold")
	<-held
	conn := h.conn(sid)
	ran := make(chan struct{})
	if !conn.Do(func() { record("do"); close(ran) }) {
		t.Fatal("Do refused on an open session")
	}
	waitFor(t, "Do queued behind the running callback", func() bool {
		s := conn.(*session)
		s.cbMu.Lock()
		defer s.cbMu.Unlock()
		return len(s.cbEvents) == 1
	})
	c.send(ws.OpText, "4after") // read once the reader is free again
	close(hold)
	<-ran
	waitFor(t, "all callbacks", func() bool { return len(h.messages(sid)) == 2 })
	mu.Lock()
	got := slices.Clone(order)
	mu.Unlock()
	if want := []string{"msg hold", "do", "msg after"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}

	idle := make(chan struct{})
	if !conn.Do(func() { close(idle) }) {
		t.Fatal("Do refused on an idle session")
	}
	<-idle

	_ = conn.Close(CloseServerClose)
	h.waitClose(t, conn)
	if conn.Do(func() { t.Error("Do ran after OnClose") }) {
		t.Fatal("Do accepted after OnClose")
	}
}
