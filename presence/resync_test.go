package presence

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Redis restarted without its data: the next heartbeat reports ErrLapsed,
// even when a join recreated the heartbeat key in between.
func TestRedisHeartbeatDetectsDataLoss(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	cfg := Config{NodeID: "node-a", KeyPrefix: uniquePrefix(t)}
	s, err := NewRedis(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Joins before the first heartbeat (startup) are not a lapse.
	mustJoin(t, s, Entry{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c1"})
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatalf("first heartbeat: %v", err)
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatalf("second heartbeat: %v", err)
	}
	for _, rejoin := range []bool{false, true} {
		mr.FlushAll()
		if rejoin { // a new socket joined after the restart, before the heartbeat
			mustJoin(t, s, Entry{Namespace: ns, Room: "r", UserID: "u2", ConnID: "c2"})
		}
		if err := s.Heartbeat(ctx); !errors.Is(err, ErrLapsed) {
			t.Fatalf("heartbeat after flush (rejoin %v): %v, want ErrLapsed", rejoin, err)
		}
		if err := s.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat after the lapse was reported: %v", err)
		}
	}
	// Expiry (miniredis time) is still a lapse.
	mr.FastForward(time.Hour)
	if err := s.Heartbeat(ctx); !errors.Is(err, ErrLapsed) {
		t.Fatalf("heartbeat after expiry: %v, want ErrLapsed", err)
	}
}

// Resync re-adds tracked entries without announcing anything, skips
// untracked rooms, and is a no-op for entries still present.
func TestTrackerResync(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		tr, log := newTracker(t, h, "node-a", func(c *Config) {
			c.Rules = map[string]Rules{ns: {Namespace: true, Rooms: []string{"r*"}}}
		})
		if _, err := tr.Connect(ctx, Entry{Namespace: ns, Room: "r1", UserID: "u1", Name: "Ann", ConnID: "c1"}); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, log, "presence:join r1 u1 1")
		es := []Entry{
			{Namespace: ns, Room: "r1", UserID: "u1", Name: "Ann", ConnID: "c1"}, // still present
			{Namespace: ns, Room: "r2", UserID: "u2", Name: "Bob", ConnID: "c2"},
			{Namespace: ns, Room: NamespaceRoom, ConnID: "c3"},         // anonymous
			{Namespace: ns, Room: "other", UserID: "u1", ConnID: "c1"}, // not tracked
		}
		n, err := tr.Resync(ctx, es)
		if err != nil || n != 3 {
			t.Fatalf("Resync = %d, %v; want 3 entries", n, err)
		}
		expectEvents(t, log)
		for room, want := range map[string]string{"r1": "u1", "r2": "u2", NamespaceRoom: "c3"} {
			ms, _, err := tr.List(ctx, ns, room, "", 0)
			if err != nil || len(ms) != 1 || ms[0].UserID != want || ms[0].Connections != 1 {
				t.Fatalf("room %q after resync: %+v, %v", room, ms, err)
			}
		}
		if c, _ := tr.Count(ctx, ns, "other"); c != 0 {
			t.Fatalf("untracked room recorded: %d", c)
		}
		// Re-registered members leave normally.
		if err := tr.Disconnect(ctx, ns, "r2", "u2", "c2"); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(5 * time.Second)
		expectEvents(t, log, "presence:leave r2 u2 0")
	})
}

// Tracker.Run notices the empty Redis at its next heartbeat and calls
// OnLapsed, retrying after a failure; the listing heals and no join is
// announced for members already present.
func TestTrackerRunResyncsAfterRedisFlush(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	prefix := uniquePrefix(t)
	var tr *Tracker
	var calls atomic.Int32
	live := []Entry{
		{Namespace: ns, Room: "r", UserID: "u1", Name: "Ann", ConnID: "c1"},
		{Namespace: ns, Room: "r", UserID: "u2", Name: "Bob", ConnID: "c2"},
	}
	log := &eventLog{}
	cfg := Config{
		NodeID: "node-a", KeyPrefix: prefix,
		NodeTTL: 600 * time.Millisecond, SweepInterval: 200 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond,
		DisableGrace: true,
		OnEvent:      log.add,
		OnLapsed: func(ctx context.Context) error {
			if calls.Add(1) == 1 {
				return errors.New("first attempt fails")
			}
			_, err := tr.Resync(ctx, live)
			return err
		},
	}
	store, err := NewRedis(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr, err = NewTracker(store, cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		tr.Shutdown(context.Background())
	}()
	for _, e := range live {
		if _, err := tr.Connect(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	expectEvents(t, log, "presence:join r u1 1", "presence:join r u2 1")
	time.Sleep(3 * cfg.HeartbeatInterval)
	if calls.Load() != 0 {
		t.Fatalf("OnLapsed called without a lapse")
	}

	mr.FlushAll()
	start := time.Now()
	for {
		n, err := tr.Count(ctx, ns, "r")
		if err == nil && n == 2 {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("listing did not heal: count %d, %v", n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	healed := time.Since(start)
	if c := calls.Load(); c != 2 {
		t.Fatalf("OnLapsed calls = %d, want 2 (one failure, one retry)", c)
	}
	// Two heartbeats: the one that reported the lapse (failed resync) and
	// the retry after the next one.
	if healed > 4*cfg.HeartbeatInterval+200*time.Millisecond {
		t.Fatalf("healed in %v", healed)
	}
	t.Logf("healed %v after the flush (heartbeat interval %v, one failed attempt)", healed, cfg.HeartbeatInterval)
	time.Sleep(3 * cfg.HeartbeatInterval)
	if c := calls.Load(); c != 2 {
		t.Fatalf("OnLapsed called again after success: %d", c)
	}
	expectEvents(t, log) // no flap
	ms, _, _ := tr.List(ctx, ns, "r", "", 0)
	if len(ms) != 2 || ms[0].Name != "Ann" || ms[1].Name != "Bob" {
		t.Fatalf("members after resync: %+v", ms)
	}
}
