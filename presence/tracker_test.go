package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// take returns and clears the events as "type room user conns".
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.events))
	for i, e := range l.events {
		out[i] = fmt.Sprintf("%s %s %s %d", e.Type, e.Room, e.User.ID, e.Connections)
	}
	l.events = nil
	return out
}

func expectEvents(t *testing.T, l *eventLog, want ...string) {
	t.Helper()
	got := l.take()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func newTracker(t *testing.T, h *harness, node string, mod func(*Config)) (*Tracker, *eventLog) {
	t.Helper()
	log := &eventLog{}
	cfg := h.config(node)
	cfg.Grace = 5 * time.Second
	cfg.OnEvent = log.add
	if mod != nil {
		mod(&cfg)
	}
	tr, err := NewTracker(h.newStore(t, cfg), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr, log
}

func TestTrackerGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		tr, log := newTracker(t, h, "node-a", nil)
		e := func(conn string) Entry {
			return Entry{Namespace: ns, Room: "r", UserID: "u1", Name: "Ann", ConnID: conn}
		}
		if _, err := tr.Connect(ctx, e("c1")); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, log, "presence:join r u1 1")
		tr.Connect(ctx, e("c2"))
		expectEvents(t, log) // second tab: no event
		tr.Disconnect(ctx, ns, "r", "u1", "c1")
		tr.Disconnect(ctx, ns, "r", "u1", "c2")
		expectEvents(t, log) // last tab closed: leave is delayed
		if n, _ := tr.Count(ctx, ns, "r"); n != 1 {
			t.Fatalf("member gone during grace: %d", n)
		}
		h.clock.Advance(5*time.Second - time.Millisecond)
		expectEvents(t, log)
		// Quick reconnect (page reload): no leave, no join.
		tr.Connect(ctx, e("c3"))
		expectEvents(t, log)
		ms, _, _ := tr.List(ctx, ns, "r", "", 0)
		if len(ms) != 1 || ms[0].Connections != 1 {
			t.Fatalf("after reconnect the kept connection should be gone: %+v", ms)
		}
		h.clock.Advance(time.Hour)
		expectEvents(t, log)

		// Real departure: leave after the grace period, exactly once.
		tr.Disconnect(ctx, ns, "r", "u1", "c3")
		h.clock.Advance(5*time.Second - time.Millisecond)
		expectEvents(t, log)
		h.clock.Advance(time.Millisecond)
		expectEvents(t, log, "presence:leave r u1 0")
		if n, _ := tr.Count(ctx, ns, "r"); n != 0 {
			t.Fatalf("count after leave = %d", n)
		}
		h.clock.Advance(time.Hour)
		expectEvents(t, log)
	})
}

func TestTrackerGraceAcrossNodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		a, logA := newTracker(t, h, "node-a", nil)
		b, logB := newTracker(t, h, "node-b", nil)
		a.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c1"})
		expectEvents(t, logA, "presence:join r u1 1")
		a.Disconnect(ctx, ns, "r", "u1", "c1")
		h.clock.Advance(2 * time.Second)
		// The user reconnects through another node within the grace period.
		b.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c2"})
		h.clock.Advance(10 * time.Second)
		expectEvents(t, logA)
		expectEvents(t, logB)
		ms, _, _ := b.List(ctx, ns, "r", "", 0)
		if len(ms) != 1 || ms[0].Connections != 1 {
			t.Fatalf("members: %+v", ms)
		}
		// Leaves on b after its grace period.
		b.Disconnect(ctx, ns, "r", "u1", "c2")
		h.clock.Advance(5 * time.Second)
		expectEvents(t, logA)
		expectEvents(t, logB, "presence:leave r u1 0")
	})
}

func TestTrackerDisableGraceRulesUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		tr, log := newTracker(t, h, "node-a", func(c *Config) {
			c.DisableGrace = true
			c.Rules = map[string]Rules{ns: {Namespace: true, Rooms: []string{"chat:*", "user_{user}_*"}}}
		})
		for _, room := range []string{"", "chat:1", "user_u1_inbox", "user_u2_inbox", "other"} {
			tr.Connect(ctx, Entry{Namespace: ns, Room: room, UserID: "u1", ConnID: "c1", Meta: json.RawMessage(`{"a":1}`)})
		}
		tr.Connect(ctx, Entry{Namespace: "/untracked", Room: "chat:1", UserID: "u1", ConnID: "c1"})
		expectEvents(t, log, "presence:join  u1 1", "presence:join chat:1 u1 1", "presence:join user_u1_inbox u1 1")
		for _, room := range []string{"user_u2_inbox", "other"} {
			if n, _ := tr.Count(ctx, ns, room); n != 0 {
				t.Fatalf("untracked room %q stored", room)
			}
		}
		m, err := tr.Update(ctx, ns, "chat:1", "u1", json.RawMessage(`{"a":2}`))
		if err != nil || string(m.Meta) != `{"a":2}` {
			t.Fatalf("update: %+v %v", m, err)
		}
		if _, err := tr.Update(ctx, ns, "chat:1", "u1", json.RawMessage(`[]`)); !errors.Is(err, ErrInvalidMeta) {
			t.Fatalf("bad update: %v", err)
		}
		expectEvents(t, log, "presence:update chat:1 u1 1")
		tr.Disconnect(ctx, ns, "chat:1", "u1", "c1")
		expectEvents(t, log, "presence:leave chat:1 u1 0") // immediate
		// Anonymous sockets are members by socket id.
		tr.Connect(ctx, Entry{Namespace: ns, Room: "chat:2", ConnID: "sock-9"})
		expectEvents(t, log, "presence:join chat:2 sock-9 1")
		tr.Disconnect(ctx, ns, "chat:2", "", "sock-9")
		expectEvents(t, log, "presence:leave chat:2 sock-9 0")
	})
}

func TestTrackerSweepAndShutdown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		a, logA := newTracker(t, h, "node-a", nil)
		b, logB := newTracker(t, h, "node-b", nil)
		c, logC := newTracker(t, h, "node-c", nil)
		a.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u1", ConnID: "a1"})
		b.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u2", ConnID: "b1"})
		b.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u3", ConnID: "b2"})
		b.Disconnect(ctx, ns, "r", "u3", "b2") // in grace when b "crashes"
		c.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u2", ConnID: "c1"})
		logA.take()
		logB.take()
		logC.take()
		// b crashes: never heartbeats again. a and c do.
		h.advance(h.nodeTTL - h.sweepInterval)
		a.store.Heartbeat(ctx)
		c.store.Heartbeat(ctx)
		h.advance(h.sweepInterval / 2)
		na, _ := a.Sweep(ctx)
		nc, _ := c.Sweep(ctx)
		if na+nc != 1 {
			t.Fatalf("sweeps announced %d+%d leaves, want 1 (u3)", na, nc)
		}
		all := append(logA.take(), logC.take()...)
		if fmt.Sprint(all) != "[presence:leave r u3 0]" {
			t.Fatalf("sweep events %v", all)
		}
		// Graceful shutdown of a with a user in grace: leave announced now.
		a.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u4", ConnID: "a2"})
		a.Disconnect(ctx, ns, "r", "u4", "a2")
		logA.take()
		if err := a.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if got := logA.take(); len(got) != 2 || !slices.Contains(got, "presence:leave r u1 0") || !slices.Contains(got, "presence:leave r u4 0") {
			t.Fatalf("shutdown events %q", got) // eviction order is unspecified
		}
		if _, err := a.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u5", ConnID: "a3"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("connect after shutdown: %v", err)
		}
		h.clock.Advance(time.Hour) // stopped timers stay stopped
		expectEvents(t, logA)
		if ms, _, _ := c.List(ctx, ns, "r", "", 0); len(ms) != 1 || ms[0].UserID != "u2" {
			t.Fatalf("members after shutdown: %+v", ms)
		}
	})
}

// TestTrackerRun drives the real-time loop briefly: heartbeats keep the node
// alive and Run returns when its context ends.
func TestTrackerRun(t *testing.T) {
	h := memoryHarness(t)
	cfg := h.config("node-a")
	cfg.Clock = nil
	cfg.NodeTTL, cfg.SweepInterval, cfg.HeartbeatInterval = 60*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	s := h.newStore(t, cfg)
	tr, err := NewTracker(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tr.Run(ctx) }()
	tr.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u", ConnID: "c"})
	time.Sleep(200 * time.Millisecond)
	if n, _ := tr.Count(context.Background(), ns, "r"); n != 1 {
		t.Fatalf("a running node's entry was swept")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tr.Shutdown(context.Background())
}

// TestTrackerRedisDown: with Redis gone, calls fail fast with an error (the
// broker logs and carries on) and Run keeps running until its context ends.
func TestTrackerRedisDown(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer client.Close()
	cfg := Config{NodeID: "node-a", NodeTTL: 60 * time.Millisecond, SweepInterval: 20 * time.Millisecond, HeartbeatInterval: 10 * time.Millisecond, OpTimeout: time.Second}
	s, err := NewRedis(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTracker(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tr.Run(ctx) }()
	mr.Close()
	start := time.Now()
	if _, err := tr.Connect(ctx, Entry{Namespace: ns, Room: "r", UserID: "u", ConnID: "c"}); err == nil {
		t.Fatal("connect without Redis succeeded")
	}
	if err := tr.Disconnect(ctx, ns, "r", "u", "c"); err == nil {
		t.Fatal("disconnect without Redis succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("failing calls took %v", d)
	}
	time.Sleep(50 * time.Millisecond) // a few failing heartbeats and sweeps
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(context.Background()); err == nil {
		t.Fatal("shutdown evict without Redis reported success")
	}
}
