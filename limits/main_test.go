package limits

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/internal/leakcheck"
	"github.com/ionbus/ionbus/internal/redistest"
)

func TestMain(m *testing.M) { leakcheck.Main(m, realRedis.Stop) }

// fakeClock is an injected clock tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one backend under test.
type env struct {
	clock *fakeClock
	// slots returns the Slots of node; memory returns one shared instance.
	slots func(node string) Slots
	rate  Rate // GCRA
	// window returns the sliding-window Rate of node, on the fake clock;
	// memory returns one shared instance.
	window func(node string) Rate
	// cluster is set for Redis backends: crash safety applies.
	cluster *clusterEnv
}

type clusterEnv struct {
	client  redis.UniversalClient
	nodeTTL time.Duration
	prefix  string
	// lapse makes every heartbeat key older than NodeTTL: miniredis
	// fast-forwards, real Redis waits.
	lapse func()
	// realTime is set when TTLs pass in real time (real redis-server).
	realTime bool
}

type factory struct {
	name string
	new  func(t testing.TB) *env
}

func factories() []factory {
	return []factory{
		{"memory", newMemoryEnv},
		{"miniredis", newMiniredisEnv},
		{"redis-server", newRealRedisEnv},
	}
}

func newMemoryEnv(t testing.TB) *env {
	clock := newFakeClock()
	s := NewMemorySlots()
	w := NewMemoryWindowRate(clock.Now)
	return &env{clock: clock, slots: func(string) Slots { return s }, rate: NewMemoryRate(clock.Now), window: func(string) Rate { return w }}
}

// redisEnv builds a Redis env; every node gets its own client (its own
// connection pool), like separate processes.
func redisEnv(t testing.TB, addr string, nodeTTL time.Duration, lapse func(), realTime bool) *env {
	newClient := func() redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	client := newClient()
	clock := newFakeClock()
	prefix := "test:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":" + strconv.Itoa(int(prefixSeq.Add(1)))
	cfg := Config{KeyPrefix: prefix, NodeTTL: nodeTTL, Now: clock.Now}
	rate, err := NewRedisRate(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	nodes := map[string]*RedisSlots{}
	windows := map[string]*RedisWindowRate{}
	return &env{
		clock: clock,
		rate:  rate,
		window: func(node string) Rate {
			mu.Lock()
			defer mu.Unlock()
			if w, ok := windows[node]; ok {
				return w
			}
			w, err := NewRedisWindowRate(newClient(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			w.callerClock = true
			windows[node] = w
			return w
		},
		slots: func(node string) Slots {
			mu.Lock()
			defer mu.Unlock()
			if s, ok := nodes[node]; ok {
				return s
			}
			c := cfg
			c.NodeID = node
			s, err := NewRedisSlots(newClient(), c)
			if err != nil {
				t.Fatal(err)
			}
			nodes[node] = s
			return s
		},
		cluster: &clusterEnv{client: client, nodeTTL: nodeTTL, prefix: prefix, lapse: lapse, realTime: realTime},
	}
}

var prefixSeq atomic.Int32

func newMiniredisEnv(t testing.TB) *env {
	mr := miniredis.RunT(t)
	const ttl = 300 * time.Millisecond
	return redisEnv(t, mr.Addr(), ttl, func() { mr.FastForward(ttl + time.Millisecond) }, false)
}

// realRedis is one redis-server per test binary, started on first use,
// stopped by TestMain.
var realRedis redistest.Shared

func newRealRedisEnv(t testing.TB) *env {
	addr := realRedis.Addr(t)
	const ttl = 300 * time.Millisecond
	return redisEnv(t, addr, ttl, func() { time.Sleep(ttl + 50*time.Millisecond) }, true)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errBackend = errors.New("backend down")
