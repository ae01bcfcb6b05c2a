package limits

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func newMiniSlots(t *testing.T, mr *miniredis.Miniredis, cfg Config) (*RedisSlots, *Limiter) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	s, err := NewRedisSlots(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DisableConnectAttempts, cfg.DisableMessageRate = true, true
	l, err := New(cfg, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

// Redis restarted without its data: the next heartbeat reports ErrLapsed,
// even when an acquire recreated the heartbeat key in between.
func TestRedisSlotsHeartbeatDetectsDataLoss(t *testing.T) {
	mr := miniredis.RunT(t)
	s, l := newMiniSlots(t, mr, Config{NodeID: "node-a", NodeTTL: time.Second})
	ctx := context.Background()
	ip := netip.MustParseAddr("10.0.0.1")
	// An acquire before the first heartbeat (startup) is not a lapse.
	if d, err := l.AcquireConnection(ctx, "u1", ip, "s1"); err != nil || !d.Allowed {
		t.Fatal(d, err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	for _, reacquire := range []bool{false, true} {
		mr.FlushAll()
		if reacquire {
			if d, err := l.AcquireConnection(ctx, "u2", ip, "s2"); err != nil || !d.Allowed {
				t.Fatal(d, err)
			}
		}
		if err := s.Heartbeat(ctx); !errors.Is(err, ErrLapsed) {
			t.Fatalf("heartbeat after flush (reacquire %v): %v, want ErrLapsed", reacquire, err)
		}
		if err := s.Heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat after the lapse was reported: %v", err)
		}
	}
	mr.FastForward(2 * time.Second)
	if err := s.Heartbeat(ctx); !errors.Is(err, ErrLapsed) {
		t.Fatalf("heartbeat after expiry: %v, want ErrLapsed", err)
	}
	if st := s.Stats(); st.Lapses != 3 {
		t.Fatalf("Lapses = %d, want 3", st.Lapses)
	}
	// After a graceful ReleaseAll the next start is not a lapse.
	if err := s.ReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat after ReleaseAll: %v", err)
	}
}

// RestoreConnections puts the live slots back (above the limit if need
// be), so the limit holds again; restoring twice changes nothing; a dead
// node's sweep does not take restored slots.
func TestLimiterRestoreConnections(t *testing.T) {
	mr := miniredis.RunT(t)
	cfg := Config{NodeID: "node-a", NodeTTL: time.Second, MaxConnectionsPerUser: 2, MaxConnectionsPerIP: 3}
	s, l := newMiniSlots(t, mr, cfg)
	ctx := context.Background()
	ip := netip.MustParseAddr("10.0.0.1")
	acquire := func(user, sid string) bool {
		t.Helper()
		d, err := l.AcquireConnection(ctx, user, ip, sid)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	if !acquire("u1", "s1") || !acquire("u1", "s2") {
		t.Fatal("first two refused")
	}
	if acquire("u1", "s3") {
		t.Fatal("third admitted before the flush")
	}
	mr.FlushAll()
	// The bug: with the slots gone a third connection is admitted.
	if !acquire("u1", "s3") {
		t.Fatal("third refused on an empty Redis?")
	}
	live := []Connection{{"u1", ip, "s1"}, {"u1", ip, "s2"}, {"u1", ip, "s3"}}
	n, err := l.RestoreConnections(ctx, live)
	// s1, s2: user and ip slots; s3 was acquired after the flush.
	if err != nil || n != 4 {
		t.Fatalf("RestoreConnections = %d, %v; want 4", n, err)
	}
	if n, err := l.RestoreConnections(ctx, live); err != nil || n != 0 {
		t.Fatalf("second restore = %d, %v; want 0", n, err)
	}
	// Forced above the limit: u1 holds 3 of 2; nobody else gets in.
	if acquire("u1", "s4") {
		t.Fatal("fourth admitted after restore")
	}
	if acquire("u2", "s5") {
		t.Fatal("per-IP limit (3) not restored")
	}
	if err := l.ReleaseConnection(ctx, "u1", ip, "s3"); err != nil {
		t.Fatal(err)
	}
	if acquire("u1", "s4") {
		t.Fatal("admitted at the limit")
	}
	if err := l.ReleaseConnection(ctx, "u1", ip, "s2"); err != nil {
		t.Fatal(err)
	}
	if !acquire("u1", "s4") {
		t.Fatal("refused below the limit")
	}
	// Restored slots belong to a live node: sweeps leave them.
	if err := s.Heartbeat(ctx); err != nil && !errors.Is(err, ErrLapsed) {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if st := s.Stats(); st.Restored != 4 {
		t.Fatalf("Restored = %d", st.Restored)
	}
	// MemorySlots never loses slots: nothing to restore.
	ml, err := New(Config{DisableConnectAttempts: true, DisableMessageRate: true}, NewMemorySlots(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ml.RestoreConnections(ctx, live); err != nil || n != 0 {
		t.Fatalf("memory restore = %d, %v", n, err)
	}
}

// Run notices the empty Redis at its next heartbeat and calls the
// SetOnLapsed function, retrying after a failure, so the limit holds again.
func TestRedisSlotsRunRestoresAfterFlush(t *testing.T) {
	mr := miniredis.RunT(t)
	cfg := Config{NodeID: "node-a", NodeTTL: 150 * time.Millisecond, MaxConnectionsPerUser: 2, DisableConnectionsPerIP: true}
	s, l := newMiniSlots(t, mr, cfg)
	ip := netip.MustParseAddr("10.0.0.1")
	live := []Connection{{"u1", ip, "s1"}, {"u1", ip, "s2"}}
	var calls atomic.Int32
	s.SetOnLapsed(func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			return errors.New("first attempt fails")
		}
		_, err := l.RestoreConnections(ctx, live)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	for _, c := range live {
		if d, err := l.AcquireConnection(ctx, c.UserID, c.IP, c.SlotID); err != nil || !d.Allowed {
			t.Fatal(d, err)
		}
	}
	time.Sleep(cfg.NodeTTL)
	if calls.Load() != 0 {
		t.Fatal("OnLapsed called without a lapse")
	}
	mr.FlushAll()
	start := time.Now()
	if !eventually(t, 2*time.Second, func() bool {
		d, err := l.AcquireConnection(ctx, "u1", ip, "probe")
		if err == nil && d.Allowed {
			_ = l.ReleaseConnection(ctx, "u1", ip, "probe")
		}
		return err == nil && !d.Allowed
	}) {
		t.Fatalf("limit not restored (OnLapsed calls %d)", calls.Load())
	}
	healed := time.Since(start)
	if c := calls.Load(); c != 2 {
		t.Fatalf("OnLapsed calls = %d, want 2", c)
	}
	if healed > 3*cfg.NodeTTL/3+200*time.Millisecond {
		t.Fatalf("restored in %v", healed)
	}
	t.Logf("limit holds again %v after the flush (heartbeat every %v, one failed attempt)", healed, cfg.NodeTTL/3)
}

// An Acquire that finds the heartbeat gone makes Run check at once, long
// before its next tick.
func TestRedisSlotsAcquireKicksRun(t *testing.T) {
	mr := miniredis.RunT(t)
	cfg := Config{NodeID: "node-a", NodeTTL: time.Minute, MaxConnectionsPerUser: 2, DisableConnectionsPerIP: true}
	s, l := newMiniSlots(t, mr, cfg)
	ip := netip.MustParseAddr("10.0.0.1")
	live := []Connection{{"u1", ip, "s1"}, {"u1", ip, "s2"}}
	var calls atomic.Int32
	s.SetOnLapsed(func(ctx context.Context) error {
		calls.Add(1)
		_, err := l.RestoreConnections(ctx, live)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	for _, c := range live {
		if d, err := l.AcquireConnection(ctx, c.UserID, c.IP, c.SlotID); err != nil || !d.Allowed {
			t.Fatal(d, err)
		}
	}
	if !eventually(t, time.Second, func() bool { return s.beaten.Load() }) {
		t.Fatal("Run did not beat")
	}
	mr.FlushAll()
	// The first connection after the loss gets in (and reveals it)...
	if d, err := l.AcquireConnection(ctx, "u2", ip, "s3"); err != nil || !d.Allowed {
		t.Fatal(d, err)
	}
	// ...and the lost slots are back well before the next tick (20 s).
	if !eventually(t, 2*time.Second, func() bool {
		d, err := l.AcquireConnection(ctx, "u1", ip, "probe")
		if err == nil && d.Allowed {
			_ = l.ReleaseConnection(ctx, "u1", ip, "probe")
		}
		return err == nil && !d.Allowed
	}) {
		t.Fatalf("limit not restored by the kick (OnLapsed calls %d)", calls.Load())
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("OnLapsed calls = %d", c)
	}
}
