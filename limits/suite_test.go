package limits

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBehaviour runs one behaviour suite against every backend.
func TestBehaviour(t *testing.T) {
	for _, f := range factories() {
		t.Run(f.name, func(t *testing.T) {
			t.Run("SlotsLimit", func(t *testing.T) { testSlotsLimit(t, f.new(t)) })
			t.Run("SlotsAtomicAcrossKeys", func(t *testing.T) { testSlotsAtomic(t, f.new(t)) })
			t.Run("SlotsInvalid", func(t *testing.T) { testSlotsInvalid(t, f.new(t)) })
			t.Run("SlotsConcurrentNeverOver", func(t *testing.T) { testSlotsConcurrent(t, f.new(t)) })
			t.Run("RateBurstThenSteady", func(t *testing.T) { testRateBurst(t, f.new(t)) })
			t.Run("RateKeysIndependent", func(t *testing.T) { testRateKeys(t, f.new(t).rate) })
			t.Run("RateInvalid", func(t *testing.T) { testRateInvalid(t, f.new(t).rate) })
			t.Run("RateConcurrentExact", func(t *testing.T) { testRateConcurrent(t, f.new(t).rate) })
			t.Run("RateHighRate", func(t *testing.T) { testRateHighRate(t, f.new(t)) })
			t.Run("RateFirstWindow", func(t *testing.T) { testRateFirstWindow(t, f.new(t)) })
			t.Run("WindowBurstRefusedUntilWindowPasses", func(t *testing.T) { testWindowBurst(t, f.new(t)) })
			t.Run("WindowAnyInterval", func(t *testing.T) { testWindowAnyInterval(t, f.new(t)) })
			t.Run("WindowRetryAfterExact", func(t *testing.T) { testWindowRetryAfter(t, f.new(t)) })
			t.Run("WindowNodesShareState", func(t *testing.T) { testWindowNodes(t, f.new(t)) })
			t.Run("WindowChangedNoUndercount", func(t *testing.T) { testWindowChanged(t, f.new(t)) })
			t.Run("WindowStateBounded", func(t *testing.T) { testWindowBounded(t, f.new(t)) })
			t.Run("WindowKeysIndependent", func(t *testing.T) { testRateKeys(t, f.new(t).window("a")) })
			t.Run("WindowInvalid", func(t *testing.T) { testRateInvalid(t, f.new(t).window("a")) })
			t.Run("WindowConcurrentExact", func(t *testing.T) { testRateConcurrent(t, f.new(t).window("a")) })
			t.Run("LimiterPolicy", func(t *testing.T) { e := f.new(t); testLimiterPolicy(t, e, e.rate) })
			t.Run("LimiterPolicyWindow", func(t *testing.T) { e := f.new(t); testLimiterPolicy(t, e, e.window("a")) })
			t.Run("CrashSafety", func(t *testing.T) { testCrashSafety(t, f.new(t)) })
			t.Run("HeartbeatKeepsSlots", func(t *testing.T) { testHeartbeatKeepsSlots(t, f.new(t)) })
			t.Run("RunSweepsLapsedNodes", func(t *testing.T) { testRunSweeps(t, f.new(t)) })
			t.Run("ReleaseAll", func(t *testing.T) { testReleaseAll(t, f.new(t)) })
		})
	}
}

func mustAcquire(t *testing.T, s Slots, keys []SlotKey, slot string) Decision {
	t.Helper()
	d, err := s.Acquire(context.Background(), keys, slot)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", slot, err)
	}
	return d
}

func testSlotsLimit(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.slots("a")
	k := []SlotKey{{Key: "user:1", Limit: 3}}
	for i := range 3 {
		d := mustAcquire(t, s, k, fmt.Sprint("s", i))
		if !d.Allowed || d.Remaining != 2-i || d.Key != "user:1" || d.Limit != 3 {
			t.Fatalf("acquire %d: %+v", i, d)
		}
	}
	d := mustAcquire(t, s, k, "s3")
	if d.Allowed || d.Key != "user:1" || d.Limit != 3 {
		t.Fatalf("4th acquire: %+v", d)
	}
	// Re-acquiring a held slot is allowed and takes nothing.
	if d := mustAcquire(t, s, k, "s1"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("re-acquire: %+v", d)
	}
	if err := s.Release(ctx, k, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, k, "s1"); err != nil { // twice: no-op
		t.Fatal(err)
	}
	if d := mustAcquire(t, s, k, "s3"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after release: %+v", d)
	}
	if d := mustAcquire(t, s, k, "s4"); d.Allowed {
		t.Fatalf("over limit after release: %+v", d)
	}
	// Limit <= 0: not limited.
	for i := range 5 {
		if d := mustAcquire(t, s, []SlotKey{{Key: "free", Limit: 0}}, fmt.Sprint("f", i)); !d.Allowed {
			t.Fatalf("unlimited key refused: %+v", d)
		}
	}
}

func testSlotsAtomic(t *testing.T, e *env) {
	s := e.slots("a")
	user := SlotKey{Key: "user:1", Limit: 2}
	ip := SlotKey{Key: "ip:10.0.0.1", Limit: 5}
	both := []SlotKey{user, ip}
	for i := range 2 {
		if d := mustAcquire(t, s, both, fmt.Sprint("s", i)); !d.Allowed {
			t.Fatalf("acquire %d: %+v", i, d)
		}
	}
	d := mustAcquire(t, s, both, "s2")
	if d.Allowed || d.Key != "user:1" || d.Limit != 2 {
		t.Fatalf("refusal must name the user key: %+v", d)
	}
	// The refused call took no IP slot: exactly 3 more fit.
	for i := range 3 {
		if d := mustAcquire(t, s, []SlotKey{ip}, fmt.Sprint("ip", i)); !d.Allowed {
			t.Fatalf("ip acquire %d: %+v (a refused Acquire leaked a slot)", i, d)
		}
	}
	if d := mustAcquire(t, s, []SlotKey{ip}, "ip3"); d.Allowed || d.Key != ip.Key {
		t.Fatalf("ip over limit: %+v", d)
	}
	// Now the IP key refuses even with user room.
	if err := s.Release(context.Background(), both, "s0"); err != nil {
		t.Fatal(err)
	}
	if d := mustAcquire(t, s, both, "s9"); !d.Allowed {
		t.Fatalf("after releasing both: %+v", d)
	} else if d.Remaining != 0 {
		t.Fatalf("both keys are full now: %+v", d)
	}
}

func testSlotsInvalid(t *testing.T, e *env) {
	s := e.slots("a")
	for _, tc := range []struct {
		keys []SlotKey
		slot string
	}{
		{[]SlotKey{{Key: "k", Limit: 1}}, ""},
		{[]SlotKey{{Key: "", Limit: 1}}, "s"},
		{[]SlotKey{{Key: "a\nb", Limit: 1}}, "s"},
		{[]SlotKey{{Key: "k", Limit: 1}}, "s\n1"},
	} {
		if _, err := s.Acquire(context.Background(), tc.keys, tc.slot); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Acquire(%v, %q) err = %v", tc.keys, tc.slot, err)
		}
	}
}

// testSlotsConcurrent: goroutines on two nodes churn acquire/release;
// the number of holders observed never exceeds the limit, and a burst
// of acquires admits exactly the limit.
func testSlotsConcurrent(t *testing.T, e *env) {
	ctx := context.Background()
	nodes := []Slots{e.slots("a"), e.slots("b")}
	const limit = 7
	keys := []SlotKey{{Key: "user:hot", Limit: limit}, {Key: "ip:1.2.3.4", Limit: limit + 3}}

	// Burst: 40 distinct slots at once, exactly `limit` admitted.
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			d, err := nodes[i%2].Acquire(ctx, keys, fmt.Sprint("burst", i))
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != limit {
		t.Fatalf("burst admitted %d, want %d", got, limit)
	}
	for i := range 40 {
		if err := nodes[i%2].Release(ctx, keys, fmt.Sprint("burst", i)); err != nil {
			t.Fatal(err)
		}
	}

	// Churn: holders are counted after Acquire returns and before Release
	// is called, so the observed count is at most the true one.
	var holders, peak atomic.Int32
	for g := range 16 {
		wg.Go(func() {
			for i := range 30 {
				slot := fmt.Sprintf("g%d-%d", g, i)
				n := nodes[g%2]
				d, err := n.Acquire(ctx, keys, slot)
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Allowed {
					continue
				}
				h := holders.Add(1)
				for {
					p := peak.Load()
					if h <= p || peak.CompareAndSwap(p, h) {
						break
					}
				}
				if h > limit {
					t.Errorf("%d holders, limit %d", h, limit)
				}
				holders.Add(-1)
				if err := n.Release(ctx, keys, slot); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if peak.Load() == 0 {
		t.Fatal("no acquire succeeded during churn")
	}
}

func testRateBurst(t *testing.T, e *env) {
	ctx := context.Background()
	const limit, window = 5, 10 * time.Second // one event every 2 s after the burst
	start := e.clock.Now()
	for i := range limit {
		d, err := e.rate.Allow(ctx, "ip:1", limit, window)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Remaining != limit-1-i || d.Limit != limit || d.Key != "ip:1" {
			t.Fatalf("event %d: %+v", i, d)
		}
		if want := start.Add(time.Duration(i+1) * 2 * time.Second); !d.ResetAt.Equal(want) {
			t.Fatalf("event %d ResetAt = %v, want %v", i, d.ResetAt, want)
		}
	}
	d, err := e.rate.Allow(ctx, "ip:1", limit, window)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != 2*time.Second || !d.ResetAt.Equal(start.Add(window)) {
		t.Fatalf("over limit: %+v", d)
	}
	e.clock.Advance(1999 * time.Millisecond)
	if d, _ := e.rate.Allow(ctx, "ip:1", limit, window); d.Allowed || d.RetryAfter != time.Millisecond {
		t.Fatalf("1 ms early: %+v", d)
	}
	e.clock.Advance(time.Millisecond)
	if d, _ := e.rate.Allow(ctx, "ip:1", limit, window); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one interval: %+v", d)
	}
	if d, _ := e.rate.Allow(ctx, "ip:1", limit, window); d.Allowed {
		t.Fatalf("second event in the interval: %+v", d)
	}
	// A whole idle window restores the full burst (no fixed-window edge).
	e.clock.Advance(window)
	for i := range limit {
		if d, _ := e.rate.Allow(ctx, "ip:1", limit, window); !d.Allowed {
			t.Fatalf("after idle window, event %d refused: %+v", i, d)
		}
	}
	if d, _ := e.rate.Allow(ctx, "ip:1", limit, window); d.Allowed {
		t.Fatalf("burst exceeded after idle window: %+v", d)
	}
	// Steady state at exactly the rate never refuses.
	e.clock.Advance(window)
	for i := range 3 * limit {
		if d, _ := e.rate.Allow(ctx, "steady", limit, window); !d.Allowed {
			t.Fatalf("steady event %d refused: %+v", i, d)
		}
		e.clock.Advance(2 * time.Second)
	}
}

func testRateKeys(t *testing.T, r Rate) {
	ctx := context.Background()
	for range 3 {
		if d, _ := r.Allow(ctx, "a", 3, time.Minute); !d.Allowed {
			t.Fatal("a refused")
		}
	}
	if d, _ := r.Allow(ctx, "a", 3, time.Minute); d.Allowed {
		t.Fatal("a over limit allowed")
	}
	if d, _ := r.Allow(ctx, "b", 3, time.Minute); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("b shares a's budget: %+v", d)
	}
}

func testRateInvalid(t *testing.T, r Rate) {
	ctx := context.Background()
	for _, tc := range []struct {
		key    string
		limit  int
		window time.Duration
		want   error
	}{
		{"", 1, time.Second, ErrInvalidKey},
		{"a\nb", 1, time.Second, ErrInvalidKey},
		{"k", 0, time.Second, ErrInvalidLimit},
		{"k", -1, time.Second, ErrInvalidLimit},
		{"k", 1, 0, ErrInvalidLimit},
		{"k", 1, -time.Second, ErrInvalidLimit},
	} {
		if _, err := r.Allow(ctx, tc.key, tc.limit, tc.window); !errors.Is(err, tc.want) {
			t.Errorf("Allow(%q, %d, %v) err = %v, want %v", tc.key, tc.limit, tc.window, err, tc.want)
		}
	}
}

func testRateConcurrent(t *testing.T, r Rate) {
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			d, err := r.Allow(context.Background(), "hot", 20, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 20 {
		t.Fatalf("allowed %d of 100, want 20", got)
	}
}

// testRateHighRate: limits finer than a millisecond per event keep their
// precision (the Redis script works in µs). The caller's clock stands
// still while real time passes between events, as for a caller whose
// clock is behind Redis's: the state must outlive that (Redis expires
// keys by its own clock; the first event's key would expire after 1 ms).
func testRateHighRate(t *testing.T, e *env) {
	ctx := context.Background()
	for i := range 1000 {
		if d, _ := e.rate.Allow(ctx, "fast", 1000, time.Second); !d.Allowed {
			t.Fatalf("event %d refused", i)
		}
		if i == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if d, _ := e.rate.Allow(ctx, "fast", 1000, time.Second); d.Allowed || d.RetryAfter != time.Millisecond {
		t.Fatalf("event 1001: %+v", d)
	}
	e.clock.Advance(500 * time.Millisecond)
	n := 0
	for {
		d, _ := e.rate.Allow(ctx, "fast", 1000, time.Second)
		if !d.Allowed {
			break
		}
		n++
	}
	if n != 500 {
		t.Fatalf("after 500 ms, %d allowed, want 500", n)
	}
}

func testLimiterPolicy(t *testing.T, e *env, rate Rate) {
	ctx := context.Background()
	l, err := New(Config{MaxConnectionsPerUser: 2, MaxConnectionsPerIP: 3, ConnectAttemptsPerIP: 4, MessagesPerUser: 2, MaxRoomsPerSocket: 2, Now: e.clock.Now}, e.slots("a"), rate)
	if err != nil {
		t.Fatal(err)
	}
	ip := mustAddr("198.51.100.7")
	for i := range 2 {
		if d, err := l.AcquireConnection(ctx, "u1", ip, fmt.Sprint("sid", i)); err != nil || !d.Allowed {
			t.Fatalf("conn %d: %+v %v", i, d, err)
		}
	}
	if d, _ := l.AcquireConnection(ctx, "u1", ip, "sid2"); d.Allowed || d.Reason != ReasonUserConnections {
		t.Fatalf("user limit: %+v", d)
	}
	if d, _ := l.AcquireConnection(ctx, "u2", ip, "sid3"); !d.Allowed {
		t.Fatalf("u2: %+v", d)
	}
	if d, _ := l.AcquireConnection(ctx, "u3", ip, "sid4"); d.Allowed || d.Reason != ReasonIPConnections {
		t.Fatalf("ip limit: %+v", d)
	}
	if err := l.ReleaseConnection(ctx, "u1", ip, "sid0"); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.AcquireConnection(ctx, "u3", ip, "sid4"); !d.Allowed {
		t.Fatalf("after release: %+v", d)
	}
	for i := range 4 {
		if d, _ := l.AllowConnectAttempt(ctx, ip); !d.Allowed {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if d, _ := l.AllowConnectAttempt(ctx, ip); d.Allowed || d.Reason != ReasonConnectRate {
		t.Fatalf("attempt 5: %+v", d)
	}
	if d, _ := l.AllowMessage(ctx, "u1", 10<<10+1); d.Allowed || d.Reason != ReasonMessageSize {
		t.Fatalf("oversized message: %+v", d)
	}
	for range 2 {
		if d, _ := l.AllowMessage(ctx, "u1", 10); !d.Allowed {
			t.Fatal("message refused")
		}
	}
	if d, _ := l.AllowMessage(ctx, "u1", 10); d.Allowed || d.Reason != ReasonMessageRate {
		t.Fatalf("message rate: %+v", d)
	}
	if d := l.AllowJoin(1); !d.Allowed {
		t.Fatal("join refused")
	}
	if d := l.AllowJoin(2); d.Allowed || d.Reason != ReasonRooms {
		t.Fatalf("room limit: %+v", d)
	}
	want := map[Reason]uint64{ReasonUserConnections: 1, ReasonIPConnections: 1, ReasonConnectRate: 1, ReasonMessageRate: 1, ReasonMessageSize: 1, ReasonRooms: 1}
	st := l.Stats()
	for r, n := range want {
		if st.Refused[r] != n {
			t.Errorf("Refused[%v] = %d, want %d", r, st.Refused[r], n)
		}
	}
	if st.BackendErrors != 0 {
		t.Errorf("BackendErrors = %d", st.BackendErrors)
	}
}

// testCrashSafety: node A takes every slot and dies without releasing
// (its Run is cancelled, as SIGKILL would); node B gets them back within
// NodeTTL of A's last heartbeat, by lazy reclaim in Acquire and by sweep.
func testCrashSafety(t *testing.T, e *env) {
	if e.cluster == nil {
		t.Skip("single-node backend")
	}
	ctx := context.Background()
	a := e.slots("node-a").(*RedisSlots)
	b := e.slots("node-b").(*RedisSlots)
	runA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = a.Run(runA) }()
	// B does not Run, so that reclaiming is deterministic: lazily in
	// Acquire for the user key, by the explicit Sweep for the ip key.

	user := []SlotKey{{Key: "user:1", Limit: 3}}
	ip := []SlotKey{{Key: "ip:9.9.9.9", Limit: 2}}
	for i := range 3 {
		if d := mustAcquire(t, a, user, fmt.Sprint("a", i)); !d.Allowed {
			t.Fatalf("A acquire: %+v", d)
		}
	}
	for i := range 2 {
		if d := mustAcquire(t, a, ip, fmt.Sprint("aip", i)); !d.Allowed {
			t.Fatalf("A acquire ip: %+v", d)
		}
	}
	if d := mustAcquire(t, b, user, "b0"); d.Allowed {
		t.Fatalf("B acquired while A alive: %+v", d)
	}
	stopA() // crash: no more heartbeats, nothing released
	<-doneA
	crashed := time.Now()

	e.cluster.lapse()
	// Lazy reclaim in Acquire (user key).
	var got Decision
	ok := eventually(t, 3*e.cluster.nodeTTL, func() bool {
		got = mustAcquire(t, b, user, "b0")
		return got.Allowed
	})
	if !ok {
		t.Fatalf("B never got A's slots back: %+v", got)
	}
	if e.cluster.realTime {
		if elapsed := time.Since(crashed); elapsed > e.cluster.nodeTTL+200*time.Millisecond {
			t.Fatalf("reclaimed after %v, bound is NodeTTL %v", elapsed, e.cluster.nodeTTL)
		}
	}
	for i := 1; i < 3; i++ {
		if d := mustAcquire(t, b, user, fmt.Sprint("b", i)); !d.Allowed {
			t.Fatalf("B acquire %d: %+v", i, d)
		}
	}
	if d := mustAcquire(t, b, user, "b3"); d.Allowed {
		t.Fatalf("over limit after reclaim: %+v", d)
	}
	// Sweep (ip key: never touched by Acquire since the crash).
	if n, err := b.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep reclaimed %d (%v), want the 2 ip slots", n, err)
	}
	names := newRedisNames(e.cluster.prefix)
	if c := e.cluster.client.HLen(ctx, names.slots("ip:9.9.9.9")).Val(); c != 0 {
		t.Fatalf("ip hash still holds %d", c)
	}
	if ex := e.cluster.client.Exists(ctx, names.nodeSlotsPrefix()+"node-a").Val(); ex != 0 {
		t.Fatal("A's slot set survived the sweep")
	}
	if m, _ := e.cluster.client.SIsMember(ctx, names.nodes(), "node-a").Result(); m {
		t.Fatal("A still registered")
	}
	// A late Release from the dead node does not free B's slots.
	if err := a.Release(ctx, user, "b0"); err != nil {
		t.Fatal(err)
	}
	if d := mustAcquire(t, b, user, "b9"); d.Allowed {
		t.Fatalf("A's release freed B's slot: %+v", d)
	}
}

// testHeartbeatKeepsSlots: while Run heartbeats, slots outlive NodeTTL.
func testHeartbeatKeepsSlots(t *testing.T, e *env) {
	if e.cluster == nil || !e.cluster.realTime {
		t.Skip("needs TTLs passing in real time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := e.slots("node-a").(*RedisSlots)
	b := e.slots("node-b").(*RedisSlots)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	keys := []SlotKey{{Key: "user:1", Limit: 1}}
	if d := mustAcquire(t, a, keys, "a0"); !d.Allowed {
		t.Fatal(d)
	}
	time.Sleep(3 * e.cluster.nodeTTL)
	if _, err := b.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := mustAcquire(t, b, keys, "b0"); d.Allowed {
		t.Fatalf("live node's slot was reclaimed: %+v", d)
	}
}

func testReleaseAll(t *testing.T, e *env) {
	if e.cluster == nil {
		t.Skip("single-node backend")
	}
	ctx := context.Background()
	a := e.slots("node-a").(*RedisSlots)
	b := e.slots("node-b").(*RedisSlots)
	keys := []SlotKey{{Key: "user:1", Limit: 2}, {Key: "ip:1", Limit: 5}}
	for i := range 2 {
		if d := mustAcquire(t, a, keys, fmt.Sprint("a", i)); !d.Allowed {
			t.Fatal(d)
		}
	}
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if d := mustAcquire(t, b, keys, fmt.Sprint("b", i)); !d.Allowed {
			t.Fatalf("after ReleaseAll: %+v", d)
		}
	}
}

// testRunSweeps: a live node's Run reclaims a crashed node's slots on
// its own, within NodeTTL (heartbeat lapse) + NodeTTL (sweep period).
func testRunSweeps(t *testing.T, e *env) {
	if e.cluster == nil || !e.cluster.realTime {
		t.Skip("needs TTLs passing in real time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := e.slots("node-a").(*RedisSlots)
	b := e.slots("node-b").(*RedisSlots)
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	keys := []SlotKey{{Key: "ip:5.5.5.5", Limit: 4}}
	for i := range 4 {
		if d := mustAcquire(t, a, keys, fmt.Sprint("a", i)); !d.Allowed {
			t.Fatal(d)
		}
	}
	// A never heartbeats again (it never ran): its key expires NodeTTL
	// after its last Acquire.
	names := newRedisNames(e.cluster.prefix)
	start := time.Now()
	if !eventually(t, 4*e.cluster.nodeTTL, func() bool {
		return e.cluster.client.HLen(context.Background(), names.slots("ip:5.5.5.5")).Val() == 0
	}) {
		t.Fatal("Run never swept the lapsed node's slots")
	}
	if el := time.Since(start); el > 2*e.cluster.nodeTTL+200*time.Millisecond {
		t.Fatalf("swept after %v, bound 2×NodeTTL", el)
	}
	if b.Stats().Reclaimed != 4 {
		t.Fatalf("Reclaimed = %d", b.Stats().Reclaimed)
	}
}
