package limits

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Sliding-window cases of the behaviour suite (registered in TestBehaviour),
// plus the server-clock test that needs a Redis of its own.

// windowEnd is the end (exclusive) of the bucket holding t.
func windowEnd(t time.Time, window time.Duration) time.Time {
	_, bucket := windowSpan(window)
	return time.UnixMicro((t.UnixMicro()/bucket + 1) * bucket)
}

func mustAllow(t *testing.T, r Rate, key string, limit int, window time.Duration) Decision {
	t.Helper()
	d, err := r.Allow(context.Background(), key, limit, window)
	if err != nil {
		t.Fatalf("Allow(%s): %v", key, err)
	}
	return d
}

// testRateFirstWindow pins what each algorithm means by "100 per minute"
// for a client trying every 100 ms for one minute: the window admits
// exactly 100, GCRA its burst of 100 plus one every 600 ms (about 200).
func testRateFirstWindow(t *testing.T, e *env) {
	const limit, window = 100, time.Minute
	count := func(r Rate, key string) int {
		start := e.clock.Now()
		n := 0
		for i := range 600 { // the last try is at 59.9 s: all inside one window
			e.clock.Advance(start.Add(time.Duration(i) * 100 * time.Millisecond).Sub(e.clock.Now()))
			if mustAllow(t, r, key, limit, window).Allowed {
				n++
			}
		}
		return n
	}
	if n := count(e.window("a"), "msg:w"); n != limit {
		t.Errorf("window admitted %d in one window, want %d", n, limit)
	}
	if n := count(e.rate, "msg:g"); n < 190 || n > 2*limit {
		t.Errorf("gcra admitted %d in one window, want about %d (burst + refill)", n, 2*limit)
	}
}

// testWindowBurst: exactly limit pass, the next is refused, a pause
// shorter than the window does not help (GCRA would admit after
// window/limit), and once the burst's bucket leaves the window the full
// limit is back.
func testWindowBurst(t *testing.T, e *env) {
	const limit, window = 5, 10 * time.Second
	r := e.window("a")
	start := e.clock.Now()
	_, bucketUS := windowSpan(window)
	bucket := usDuration(bucketUS)
	reset := windowEnd(start, window).Add(window)
	if got := reset.Sub(start); got < window || got > window+bucket {
		t.Fatalf("reset after %v: want within one bucket (%v) past the window", got, bucket)
	}
	for i := range limit {
		d := mustAllow(t, r, "ip:1", limit, window)
		if !d.Allowed || d.Remaining != limit-1-i || d.Limit != limit || d.Key != "ip:1" || d.RetryAfter != 0 {
			t.Fatalf("event %d: %+v", i, d)
		}
		if !d.ResetAt.Equal(reset) {
			t.Fatalf("event %d ResetAt = %v, want %v", i, d.ResetAt, reset)
		}
	}
	d := mustAllow(t, r, "ip:1", limit, window)
	if d.Allowed || d.Remaining != 0 || d.Key != "ip:1" || d.Limit != limit || !d.ResetAt.Equal(reset) || d.RetryAfter != reset.Sub(start) {
		t.Fatalf("over limit: %+v (want ResetAt %v)", d, reset)
	}
	// GCRA refills one event every 2 s; the window does not.
	e.clock.Advance(3 * time.Second)
	if d := mustAllow(t, r, "ip:1", limit, window); d.Allowed || d.RetryAfter != reset.Sub(e.clock.Now()) {
		t.Fatalf("after a 3 s pause: %+v", d)
	}
	e.clock.Advance(reset.Sub(e.clock.Now()) - time.Microsecond)
	if d := mustAllow(t, r, "ip:1", limit, window); d.Allowed || d.RetryAfter != time.Microsecond {
		t.Fatalf("1 µs before reset: %+v", d)
	}
	e.clock.Advance(time.Microsecond)
	now := e.clock.Now()
	for i := range limit {
		if d := mustAllow(t, r, "ip:1", limit, window); !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("after the window, event %d: %+v", i, d)
		}
	}
	if d := mustAllow(t, r, "ip:1", limit, window); d.Allowed || !d.ResetAt.Equal(windowEnd(now, window).Add(window)) {
		t.Fatalf("second burst exceeded: %+v", d)
	}
}

// testWindowRetryAfter: with events spread over buckets, RetryAfter is
// when the oldest bucket leaves and ResetAt when the newest does.
func testWindowRetryAfter(t *testing.T, e *env) {
	const limit, window = 3, 10 * time.Second
	r := e.window("a")
	t0 := e.clock.Now()
	mustAllow(t, r, "k", limit, window)
	e.clock.Advance(4 * time.Second)
	t1 := e.clock.Now()
	mustAllow(t, r, "k", limit, window)
	if d := mustAllow(t, r, "k", limit, window); !d.Allowed || d.Remaining != 0 || !d.ResetAt.Equal(windowEnd(t1, window).Add(window)) {
		t.Fatalf("third event: %+v", d)
	}
	e.clock.Advance(time.Second)
	firstOut := windowEnd(t0, window).Add(window)
	d := mustAllow(t, r, "k", limit, window)
	if d.Allowed || d.RetryAfter != firstOut.Sub(e.clock.Now()) || !d.ResetAt.Equal(windowEnd(t1, window).Add(window)) {
		t.Fatalf("refused: %+v, want RetryAfter %v", d, firstOut.Sub(e.clock.Now()))
	}
	e.clock.Advance(d.RetryAfter)
	t2 := e.clock.Now()
	if d := mustAllow(t, r, "k", limit, window); !d.Allowed || d.Remaining != 0 || !d.ResetAt.Equal(windowEnd(t2, window).Add(window)) {
		t.Fatalf("at RetryAfter: %+v", d)
	}
	// Now t1's two events are the oldest: both must leave to admit one.
	d = mustAllow(t, r, "k", limit, window)
	if want := windowEnd(t1, window).Add(window).Sub(t2); d.Allowed || d.RetryAfter != want {
		t.Fatalf("refused again: %+v, want RetryAfter %v", d, want)
	}
	e.clock.Advance(d.ResetAt.Sub(t2))
	for i := range limit {
		if d := mustAllow(t, r, "k", limit, window); !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("at ResetAt, event %d: %+v", i, d)
		}
	}
}

// testWindowAnyInterval drives a key with random gaps (bursts at one
// instant, sub-bucket steps, long pauses, probes at RetryAfter) and
// checks on the record: (1) no closed interval of length window holds
// more than limit admitted events; (2) a refusal only happens when at
// least limit events were admitted within window plus one bucket; (3)
// each Decision is consistent; (4) RetryAfter is exact.
func testWindowAnyInterval(t *testing.T, e *env) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	r := e.window("a")
	for ci, c := range []struct {
		limit  int
		window time.Duration
	}{{7, time.Second}, {3, 50 * time.Millisecond}, {100, time.Minute}, {1, 90 * time.Millisecond}} {
		key := fmt.Sprint("any:", ci)
		windowUS, bucketUS := windowSpan(c.window)
		var allowed []int64 // µs
		var refused []int64
		check := func(d Decision, now time.Time) {
			t.Helper()
			if d.Allowed {
				allowed = append(allowed, now.UnixMicro())
				after := d.ResetAt.Sub(now)
				if d.Remaining < 0 || d.Remaining >= c.limit || d.RetryAfter != 0 || after <= c.window || after > c.window+usDuration(bucketUS) {
					t.Fatalf("%v: bad allowed decision %+v (ResetAt in %v)", c, d, after)
				}
				return
			}
			refused = append(refused, now.UnixMicro())
			if d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > c.window+usDuration(bucketUS) || d.ResetAt.Before(now.Add(d.RetryAfter)) {
				t.Fatalf("%v: bad refused decision %+v", c, d)
			}
		}
		for range 1200 {
			// Gaps scaled to the limit's pace so that refusals happen:
			// bursts at one instant, sub-bucket and sub-pace steps, and
			// now and then a pause of a quarter or a whole window.
			pace := windowUS / int64(c.limit)
			var gap int64
			switch p := rng.Float64(); {
			case p < 1/(4*float64(c.limit)):
				gap = windowUS/2 + rng.Int64N(windowUS+1)
			case p < 3/(4*float64(c.limit)):
				gap = rng.Int64N(windowUS/4 + 1)
			case p < 0.45: // same instant
			case p < 0.70:
				gap = rng.Int64N(min(2*bucketUS, pace) + 1)
			default:
				gap = rng.Int64N(pace + 1)
			}
			e.clock.Advance(usDuration(gap))
			now := e.clock.Now()
			d := mustAllow(t, r, key, c.limit, c.window)
			check(d, now)
			if d.Allowed || rng.IntN(5) != 0 {
				continue
			}
			// Probe RetryAfter: 1 µs early refused, on time admitted.
			e.clock.Advance(d.RetryAfter - time.Microsecond)
			now = e.clock.Now()
			early := mustAllow(t, r, key, c.limit, c.window)
			check(early, now)
			if early.Allowed {
				t.Fatalf("%v: admitted 1 µs before RetryAfter %v", c, d.RetryAfter)
			}
			e.clock.Advance(time.Microsecond)
			now = e.clock.Now()
			onTime := mustAllow(t, r, key, c.limit, c.window)
			check(onTime, now)
			if !onTime.Allowed {
				t.Fatalf("%v: refused at RetryAfter: %+v", c, onTime)
			}
		}
		// (1) Safety, by a sliding pointer over the sorted admissions.
		j := 0
		for i := range allowed {
			for j < len(allowed) && allowed[j]-allowed[i] <= windowUS {
				j++
			}
			if j-i > c.limit {
				t.Fatalf("%v: %d events admitted in [%d, %d] µs", c, j-i, allowed[i], allowed[i]+windowUS)
			}
		}
		// (2) Conservative by at most one bucket.
		for _, at := range refused {
			lo := sort.Search(len(allowed), func(k int) bool { return allowed[k] > at-windowUS-bucketUS })
			hi := sort.Search(len(allowed), func(k int) bool { return allowed[k] > at })
			if hi-lo < c.limit {
				t.Fatalf("%v: refused at %d µs with only %d admitted in the window plus one bucket", c, at, hi-lo)
			}
		}
		if len(allowed) < c.limit || len(refused) == 0 {
			t.Fatalf("%v: degenerate run: %d admitted, %d refused", c, len(allowed), len(refused))
		}
	}
}

// testWindowNodes: two nodes (two Redis clients) count into one window.
func testWindowNodes(t *testing.T, e *env) {
	const limit, window = 10, time.Minute
	nodes := []Rate{e.window("a"), e.window("b")}
	for i := range limit {
		d := mustAllow(t, nodes[i%2], "msg:u1", limit, window)
		if !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("event %d on node %d: %+v", i, i%2, d)
		}
	}
	da := mustAllow(t, nodes[0], "msg:u1", limit, window)
	db := mustAllow(t, nodes[1], "msg:u1", limit, window)
	if da.Allowed || db.Allowed || da.RetryAfter != db.RetryAfter || !da.ResetAt.Equal(db.ResetAt) {
		t.Fatalf("nodes disagree or over limit: %+v / %+v", da, db)
	}
	// A concurrent burst over both nodes admits exactly the limit.
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			d, err := nodes[i%2].Allow(context.Background(), "msg:hot", 20, window)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 20 {
		t.Fatalf("burst over two nodes admitted %d, want 20", got)
	}
}

// testWindowBounded: a key's state never holds more buckets than overlap
// the window, however long it is used.
func testWindowBounded(t *testing.T, e *env) {
	const window = time.Second
	windowUS, bucketUS := windowSpan(window)
	maxBuckets := int(windowUS/bucketUS) + 2
	r := e.window("a")
	size := func() int {
		if e.cluster != nil {
			// Minus the bookkeeping fields b, n, o and e.
			return int(e.cluster.client.HLen(context.Background(), newRedisNames(e.cluster.prefix).window("steady")).Val()) - 4
		}
		m := r.(*MemoryWindowRate)
		s := &m.shards[maphashKey(m, "steady")]
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.keys["steady"].buckets)
	}
	for i := range 5 * windowBuckets * 2 { // five windows, two events per bucket
		if d := mustAllow(t, r, "steady", 1<<20, window); !d.Allowed {
			t.Fatalf("event %d refused: %+v", i, d)
		}
		e.clock.Advance(usDuration(bucketUS / 2))
		if n := size(); n > maxBuckets {
			t.Fatalf("after %d events the key holds %d buckets, bound %d", i, n, maxBuckets)
		}
	}
	if n := size(); n < windowBuckets {
		t.Fatalf("steady key holds %d buckets, want about %d (is it counting?)", n, windowBuckets)
	}
}

// TestRedisWindowServerClock: in production the window follows the Redis
// server's clock, so two nodes whose own clocks are an hour apart share
// one window, and keys expire once idle.
func TestRedisWindowServerClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"miniredis", func(t *testing.T) string { return miniredis.RunT(t).Addr() }},
		{"redis-server", func(t *testing.T) string { return realRedis.Addr(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			prefix := fmt.Sprint("test:clock:", time.Now().UnixNano(), ":", prefixSeq.Add(1))
			node := func(skew time.Duration) *RedisWindowRate {
				c := redis.NewClient(&redis.Options{Addr: addr})
				t.Cleanup(func() { _ = c.Close() })
				r, err := NewRedisWindowRate(c, Config{KeyPrefix: prefix, Now: func() time.Time { return time.Now().Add(skew) }})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			a, b := node(0), node(time.Hour)
			const limit, window = 6, 300 * time.Millisecond
			start := time.Now()
			for i := range limit {
				n := a
				if i%2 == 1 {
					n = b
				}
				if d := mustAllow(t, n, "msg:u1", limit, window); !d.Allowed || d.Remaining != limit-1-i {
					t.Fatalf("event %d: %+v", i, d)
				}
			}
			d := mustAllow(t, b, "msg:u1", limit, window)
			if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > window+usDuration(5000) {
				t.Fatalf("over limit: %+v", d)
			}
			client := redis.NewClient(&redis.Options{Addr: addr})
			defer client.Close()
			key := newRedisNames(prefix).window("msg:u1")
			if ttl := client.PTTL(context.Background(), key).Val(); ttl <= 0 || ttl > window+10*time.Millisecond {
				t.Fatalf("PTTL %v, want within the window plus a bucket", ttl)
			}
			if !eventually(t, 3*window, func() bool { return mustAllow(t, a, "msg:u1", limit, window).Allowed }) {
				t.Fatal("never admitted again")
			}
			if el := time.Since(start); el < window {
				t.Fatalf("admitted again after %v, before the window %v passed", el, window)
			}
		})
	}
}

func maphashKey(m *MemoryWindowRate, key string) uint64 {
	return maphash.String(m.seed, key) % memoryShards
}

// testWindowChanged: when a key's window changes (a rolling deploy with a
// new config), its past events still count under the new window for as
// long as they are inside it: no undercount, so no burst at the switch.
func testWindowChanged(t *testing.T, e *env) {
	const limit = 5
	r := e.window("a")
	start := e.clock.Now()
	for range limit {
		if d := mustAllow(t, r, "k", limit, time.Minute); !d.Allowed {
			t.Fatalf("refused: %+v", d)
		}
	}
	const short = 10 * time.Second
	inWindow := windowEnd(start, time.Minute).Add(short) // the events' bucket end + the new window
	e.clock.Advance(inWindow.Sub(start) - time.Microsecond)
	if d := mustAllow(t, r, "k", limit, short); d.Allowed {
		t.Fatalf("events still inside the new window were forgotten: %+v", d)
	}
	e.clock.Advance(2 * time.Second) // past it by more than one new bucket
	for i := range limit {
		if d := mustAllow(t, r, "k", limit, short); !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("after the new window, event %d: %+v", i, d)
		}
	}
	if d := mustAllow(t, r, "k", limit, short); d.Allowed {
		t.Fatalf("over limit under the new window: %+v", d)
	}
}
