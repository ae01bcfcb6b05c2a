package connection

import (
	"sync"
	"time"
)

// wheel is the one heartbeat scheduler for all sessions: a hashed timing
// wheel advanced by a single goroutine (Server.runWheel). A session is in at
// most one slot; scheduling, cancelling and expiry are O(1). Expired sessions
// are returned to the caller, which runs their timer outside the lock.
//
// Tests drive advance directly with a fake clock.
type wheel struct {
	mu    sync.Mutex
	tick  time.Duration
	slots []map[*session]int64 // session -> due tick number
	last  int64                // last tick number processed
}

const wheelSlots = 512

func newWheel(tick time.Duration, now time.Time) *wheel {
	w := &wheel{tick: tick, slots: make([]map[*session]int64, wheelSlots)}
	for i := range w.slots {
		w.slots[i] = make(map[*session]int64)
	}
	w.last = w.tickOf(now)
	return w
}

func (w *wheel) tickOf(t time.Time) int64 { return t.UnixNano() / int64(w.tick) }

// schedule (re)arms s to fire at the first tick at or after at.
// Guarded by w.mu; s.wheelSlot is owned by the wheel.
func (w *wheel) schedule(s *session, at time.Time) {
	due := (at.UnixNano() + int64(w.tick) - 1) / int64(w.tick)
	w.mu.Lock()
	if s.wheelSlot >= 0 {
		delete(w.slots[s.wheelSlot], s)
	}
	if due <= w.last {
		due = w.last + 1
	}
	slot := int(due % wheelSlots)
	w.slots[slot][s] = due
	s.wheelSlot = slot
	w.mu.Unlock()
}

func (w *wheel) cancel(s *session) {
	w.mu.Lock()
	if s.wheelSlot >= 0 {
		delete(w.slots[s.wheelSlot], s)
		s.wheelSlot = -1
	}
	w.mu.Unlock()
}

// advance processes every tick up to now and appends the sessions whose
// time came to expired, unscheduling them.
func (w *wheel) advance(now time.Time, expired []*session) []*session {
	cur := w.tickOf(now)
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur-w.last > wheelSlots { // clock jumped: one full turn visits every slot
		w.last = cur - wheelSlots
	}
	for t := w.last + 1; t <= cur; t++ {
		slot := int(t % wheelSlots)
		for s, due := range w.slots[slot] {
			if due <= cur {
				delete(w.slots[slot], s)
				s.wheelSlot = -1
				expired = append(expired, s)
			}
		}
	}
	if cur > w.last {
		w.last = cur
	}
	return expired
}

// heartbeatTick picks the wheel granularity: fine enough for short test
// intervals, coarse (≤250ms) for production ones.
func heartbeatTick(interval, timeout time.Duration) time.Duration {
	d := min(interval, timeout) / 10
	return max(time.Millisecond, min(d, 250*time.Millisecond))
}

// runWheel is the scheduler goroutine, started by New and stopped by
// Shutdown (after every session is closed).
func (srv *Server) runWheel() {
	defer srv.goroutines.done()
	t := time.NewTicker(srv.wheel.tick)
	defer t.Stop()
	var expired []*session
	for {
		select {
		case <-srv.stopWheel:
			return
		case <-t.C:
		}
		now := srv.cfg.Now()
		expired = srv.wheel.advance(now, expired[:0])
		for i, s := range expired {
			s.onTimer(now)
			expired[i] = nil
		}
	}
}

// Heartbeat state machine, run only on the scheduler goroutine (hbPhase is
// owned by it): phase ping-wait sleeps until the next ping; phase pong-wait
// has sent a ping and sleeps until the pong deadline. Inbound packets only
// flip the atomic s.awaitingPong, so reads never touch the wheel lock.
const (
	hbWaitPing = 0
	hbWaitPong = 1
)

func (s *session) startHeartbeat(now time.Time) {
	s.hbPhase = hbWaitPing
	due := now.Add(s.srv.cfg.PingInterval)
	s.hbDue = due.UnixNano()
	s.srv.wheel.schedule(s, due)
}

func (s *session) onTimer(now time.Time) {
	s.mu.Lock()
	lingering := s.lingering
	s.mu.Unlock()
	if lingering {
		s.endLinger()
		return
	}
	cfg := &s.srv.cfg
	if s.hbPhase == hbWaitPong {
		if s.awaitingPong.Load() {
			s.close(ClosePingTimeout)
			return
		}
		next := time.Unix(0, s.pongAt.Load()).Add(cfg.PingInterval)
		s.hbDue = next.UnixNano()
		if next.After(now) {
			s.hbPhase = hbWaitPing
			s.srv.wheel.schedule(s, next)
			return
		}
	}
	// Time to ping. The pong deadline counts from when the ping was due,
	// not from the tick that sends it (up to two ticks later), so a silent
	// session ends PingInterval+PingTimeout after its last sign of life as
	// with the reference's exact timers; a ping much later than due (a
	// stalled scheduler) still gives the client its full PingTimeout.
	sent := time.Unix(0, s.hbDue)
	if late := now.Sub(sent); late < 0 || late > 3*s.srv.wheel.tick {
		sent = now
	}
	deadline := sent.Add(cfg.PingTimeout)
	s.pongDeadline.Store(deadline.UnixNano())
	s.awaitingPong.Store(true)
	if s.sendControl(pingMessage) != nil {
		return // closed
	}
	s.hbPhase = hbWaitPong
	s.hbDue = deadline.UnixNano()
	s.srv.wheel.schedule(s, deadline)
}

// pingExpired reports whether the last ping is unanswered past its pong
// deadline. Requests check it because the scheduler closes such a session
// only at its next tick.
func (s *session) pingExpired(now time.Time) bool {
	return s.awaitingPong.Load() && now.UnixNano() >= s.pongDeadline.Load()
}

// alive records inbound traffic: the first packet after a ping counts as
// its pong (the reference counts only "3"; any packet proves liveness).
func (s *session) alive() {
	if s.awaitingPong.Load() && s.awaitingPong.CompareAndSwap(true, false) {
		s.pongAt.Store(s.srv.cfg.Now().UnixNano())
	}
}
