package connection

import (
	"testing"
	"time"
)

func TestWheelFakeClock(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	w := newWheel(10*time.Millisecond, base)
	a := &session{wheelSlot: -1}
	b := &session{wheelSlot: -1}
	c := &session{wheelSlot: -1}
	w.schedule(a, base.Add(25*time.Millisecond))
	w.schedule(b, base.Add(40*time.Second)) // several turns ahead (512 slots * 10ms = 5.12s)
	w.schedule(c, base.Add(25*time.Millisecond))
	w.cancel(c)

	if got := w.advance(base.Add(20*time.Millisecond), nil); len(got) != 0 {
		t.Fatalf("fired early: %d", len(got))
	}
	got := w.advance(base.Add(30*time.Millisecond), nil)
	if len(got) != 1 || got[0] != a {
		t.Fatalf("want a at 30ms, got %v", got)
	}
	if a.wheelSlot != -1 {
		t.Fatal("expired session still has a slot")
	}
	// Advance in steps across several turns: b must not fire before 40s.
	now := base.Add(30 * time.Millisecond)
	for now.Before(base.Add(39 * time.Second)) {
		now = now.Add(time.Second)
		if got := w.advance(now, nil); len(got) != 0 {
			t.Fatalf("b fired at %v", now.Sub(base))
		}
	}
	if got := w.advance(base.Add(41*time.Second), nil); len(got) != 1 || got[0] != b {
		t.Fatalf("b did not fire: %v", got)
	}
	// Rescheduling moves, never duplicates.
	w.schedule(a, base.Add(42*time.Second))
	w.schedule(a, base.Add(43*time.Second))
	if got := w.advance(base.Add(42500*time.Millisecond), nil); len(got) != 0 {
		t.Fatal("old schedule fired")
	}
	if got := w.advance(base.Add(43*time.Second), nil); len(got) != 1 {
		t.Fatalf("got %d", len(got))
	}
	// A clock jump far ahead still fires everything due.
	w.schedule(a, base.Add(50*time.Second))
	if got := w.advance(base.Add(time.Hour), nil); len(got) != 1 {
		t.Fatalf("jump: got %d", len(got))
	}
}

// TestHeartbeatStateMachine drives onTimer with a fake clock.
func TestHeartbeatStateMachine(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	h := newRecorder()
	srv := newServer(Config{PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, Now: clock}.withDefaults(), h)
	defer srv.Shutdown(t.Context())
	s := &session{srv: srv, id: "x", hs: &Handshake{}, wheelSlot: -1, transport: transportPolling}
	srv.openSessions.add()
	s.startHeartbeat(now)

	// Ping due at +25s.
	now = now.Add(25 * time.Second)
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if len(s.queue) != 1 || s.queue[0] != pingMessage {
		t.Fatalf("no ping queued: %v", s.queue)
	}
	// Pong 1s later.
	now = now.Add(time.Second)
	s.alive()
	// At the pong deadline the session is alive; next ping at pong+25s.
	now = now.Add(19 * time.Second)
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if s.state != stateOpen || len(s.queue) != 1 {
		t.Fatalf("state %d queue %d", s.state, len(s.queue))
	}
	now = now.Add(6 * time.Second) // pong+25s
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if len(s.queue) != 2 {
		t.Fatalf("second ping not sent: %d", len(s.queue))
	}
	// No pong: closed at +20s.
	now = now.Add(20 * time.Second)
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if s.state == stateOpen {
		t.Fatal("not closed on ping timeout")
	}
	if r := h.waitClose(t, s); r != ClosePingTimeout {
		t.Fatalf("reason %v", r)
	}
}

// TestPongDeadlineFromDueTime: a ping sent a little late (within three
// ticks) keeps the deadline PingInterval+PingTimeout after the last sign of
// life; one sent much later gives the client its full PingTimeout.
func TestPongDeadlineFromDueTime(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	h := newRecorder()
	srv := newServer(Config{PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, Now: func() time.Time { return now }}.withDefaults(), h)
	defer srv.Shutdown(t.Context())
	s := &session{srv: srv, id: "x", hs: &Handshake{}, wheelSlot: -1, transport: transportPolling}
	srv.openSessions.add()
	s.startHeartbeat(now)

	now = t0.Add(25*time.Second + 300*time.Millisecond) // tick is 250ms
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if got, want := time.Unix(0, s.pongDeadline.Load()), t0.Add(45*time.Second); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	if s.pingExpired(t0.Add(45*time.Second-time.Nanosecond)) || !s.pingExpired(t0.Add(45*time.Second)) {
		t.Fatal("pingExpired around the deadline")
	}
	s.alive()
	if s.pingExpired(t0.Add(time.Hour)) {
		t.Fatal("expired after the pong")
	}
	// Next ping due at pong+25s = t0+50.3s; sent 5s late (a stalled
	// scheduler): the deadline counts from the send.
	now = t0.Add(55*time.Second + 300*time.Millisecond)
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if got, want := time.Unix(0, s.pongDeadline.Load()), now.Add(20*time.Second); !got.Equal(want) {
		t.Fatalf("late ping deadline %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	now = now.Add(20*time.Second + 250*time.Millisecond) // the first tick at or after the deadline
	for _, e := range srv.wheel.advance(now, nil) {
		e.onTimer(now)
	}
	if r := h.waitClose(t, s); r != ClosePingTimeout {
		t.Fatalf("reason %v", r)
	}
}
