package presence

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/internal/leakcheck"
	"github.com/ionbus/ionbus/internal/redistest"
)

// realRedis is the redis-server shared by the real-Redis tests, started
// on first use and stopped by TestMain.
var realRedis redistest.Shared

func TestMain(m *testing.M) { leakcheck.Main(m, realRedis.Stop) }

// fakeClock fires timers synchronously inside Advance, in deadline order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool // fired or stopped
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case !t.at.After(c.now):
			t.done = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

// harness is one backend under test. Stores made by newStore share state
// (same Redis keyspace or same memory state) and differ by Config.NodeID.
type harness struct {
	name     string
	clock    *fakeClock
	newStore func(t testing.TB, cfg Config) Store
	// advance moves backend time forward (heartbeat expiry) and the clock.
	advance func(d time.Duration)
	// client is the Redis client, nil for memory.
	client redis.UniversalClient
	// timing of the node-liveness tests; real Redis cannot fast-forward.
	nodeTTL, sweepInterval time.Duration
}

// testConfig is the Config every suite store starts from.
func (h *harness) config(node string) Config {
	return Config{
		NodeID:            node,
		NodeTTL:           h.nodeTTL,
		SweepInterval:     h.sweepInterval,
		HeartbeatInterval: (h.nodeTTL - h.sweepInterval) / 4,
		SweepBatch:        50,
		MaxBatch:          64,
		Clock:             h.clock,
	}
}

type factory func(t testing.TB) *harness

func memoryHarness(t testing.TB) *harness {
	clock := newFakeClock()
	var mu sync.Mutex
	var base *Memory
	return &harness{
		name:  "memory",
		clock: clock,
		newStore: func(t testing.TB, cfg Config) Store {
			mu.Lock()
			defer mu.Unlock()
			if base == nil {
				m, err := NewMemory(cfg)
				if err != nil {
					t.Fatal(err)
				}
				base = m
				return m
			}
			return base.Node(cfg.NodeID)
		},
		advance:       clock.Advance,
		nodeTTL:       3 * time.Second,
		sweepInterval: time.Second,
	}
}

var prefixSeq atomic.Int64

func uniquePrefix(t testing.TB) string {
	return "test:" + strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + ":" + strconv.FormatInt(prefixSeq.Add(1), 10)
}

func redisHarness(t testing.TB, name string, client redis.UniversalClient, advance func(time.Duration), nodeTTL, sweep time.Duration) *harness {
	clock := newFakeClock()
	prefix := uniquePrefix(t)
	return &harness{
		name:   name,
		clock:  clock,
		client: client,
		newStore: func(t testing.TB, cfg Config) Store {
			cfg.KeyPrefix = prefix
			s, err := NewRedis(client, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		advance:       func(d time.Duration) { advance(d); clock.Advance(d) },
		nodeTTL:       nodeTTL,
		sweepInterval: sweep,
	}
}

func miniredisHarness(t testing.TB) *harness {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	return redisHarness(t, "miniredis", client, mr.FastForward, 3*time.Second, time.Second)
}

func realRedisHarness(t testing.TB) *harness {
	client := redis.NewClient(&redis.Options{Addr: realRedis.Addr(t), PoolSize: 64})
	t.Cleanup(func() { client.Close() })
	// Real time: keep the TTLs short so the liveness tests stay fast.
	return redisHarness(t, "redis", client, time.Sleep, 600*time.Millisecond, 200*time.Millisecond)
}

var factories = []struct {
	name string
	new  factory
}{
	{"memory", memoryHarness},
	{"miniredis", miniredisHarness},
	{"redis", realRedisHarness},
}

// forEachBackend runs one behaviour test against every backend.
func forEachBackend(t *testing.T, test func(t *testing.T, h *harness)) {
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			test(t, f.new(t))
		})
	}
}
