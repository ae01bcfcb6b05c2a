package system

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/broker"
)

func newBroker(t *testing.T) *broker.Server {
	t.Helper()
	srv, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

func local() ClusterCounts { return ClusterCounts{Nodes: 1, Clients: 2, Sockets: 3, Sessions: 4} }

func newSystem(t *testing.T, cfg Config, rdb redis.UniversalClient) *System {
	t.Helper()
	if cfg.Local == nil {
		cfg.Local = local
	}
	s, err := New(cfg, newBroker(t), rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func TestNewRefuses(t *testing.T) {
	ok := Event{Name: "system:health", Kind: KindHealth, Interval: time.Second}
	for name, events := range map[string][]Event{
		"unknown kind":   {{Name: "x", Kind: 9, Interval: time.Second}},
		"short interval": {{Name: "x", Kind: KindHealth, Interval: time.Millisecond}},
		"reserved":       {{Name: "connect", Kind: KindHealth, Interval: time.Second}},
		"twice":          {ok, ok},
	} {
		if _, err := New(Config{Events: events, Local: local}, newBroker(t), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLeaseOneEmitter: two nodes on one Redis tick the same event; only
// the lease holder emits, and once it stops (releasing the lease) the
// other takes over.
func TestLeaseOneEmitter(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	ev := []Event{{Name: "system:health", Kind: KindHealth, Interval: 100 * time.Millisecond}}
	a := newSystem(t, Config{Events: ev, NodeID: "a", KeyPrefix: "t:system"}, rdb)
	b := newSystem(t, Config{Events: ev, NodeID: "b", KeyPrefix: "t:system"}, rdb)
	a.Start()
	b.Start()
	waitFor(t, "an emitter", func() bool { return a.Emitted()+b.Emitted() >= 5 })
	first, second := a, b
	if b.Emitted() > a.Emitted() {
		first, second = b, a
	}
	if second.Emitted() != 0 {
		t.Fatalf("both nodes emitted: %d and %d", first.Emitted(), second.Emitted())
	}
	if holder, _ := mr.Get("t:system:lease:/#system:health"); holder != first.cfg.NodeID {
		t.Fatalf("lease held by %q, want %q", holder, first.cfg.NodeID)
	}
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := first.Emitted()
	waitFor(t, "the other node taking over", func() bool { return second.Emitted() >= 3 })
	if first.Emitted() != n {
		t.Fatal("a stopped node emitted")
	}
	// A holder that dies (no release): the lease lapses, then the
	// survivor takes over.
	mr.Set("t:system:lease:/#system:health", "dead")
	mr.SetTTL("t:system:lease:/#system:health", time.Second)
	m := second.Emitted()
	time.Sleep(300 * time.Millisecond)
	if second.Emitted() != m {
		t.Fatal("emitted while another node held the lease")
	}
	mr.FastForward(2 * time.Second)
	waitFor(t, "takeover after the lease lapsed", func() bool { return second.Emitted() > m })
}

// TestRedisDownLocal: with the lease unreachable each node emits to its
// own clients (no broadcast crosses nodes then anyway), and health says
// redis offline.
func TestRedisDownLocal(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	s := newSystem(t, Config{Events: []Event{{Name: "h", Kind: KindHealth, Interval: 100 * time.Millisecond}},
		NodeID: "a", KeyPrefix: "t", RedisUp: func() bool { return false }}, rdb)
	mr.Close()
	s.Start()
	waitFor(t, "local emits", func() bool { return s.Emitted() >= 2 })
	p := s.health(context.Background(), time.Now(), true)
	if p["status"] != StatusDegraded || p["services"].(map[string]any)["redis"] != "offline" {
		t.Fatalf("health with Redis down: %v", p)
	}
}

// TestPayloads: the documented shapes, ISO 8601 UTC timestamps.
func TestPayloads(t *testing.T) {
	s := newSystem(t, Config{Events: []Event{{Name: "h", Kind: KindHealth, Interval: time.Second}}, RedisUp: func() bool { return true }}, nil)
	if _, err := s.SetService(context.Background(), "database", "online", time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(kind Kind, want string) map[string]any {
		t.Helper()
		raw, err := json.Marshal(s.payload(ctx, Event{Kind: kind, Component: DefaultComponent}, false))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		ts, _ := m["timestamp"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", ts); err != nil {
			t.Errorf("%v timestamp %q: %v", kind, ts, err)
		}
		if got := shape(m); got != want {
			t.Errorf("%v shape\n got %s\nwant %s", kind, got, want)
		}
		return m
	}
	h := check(KindHealth, "{metrics:{connections,cpu,memory,nodes,uptime},services:{database,redis},status,timestamp}")
	if h["status"] != StatusHealthy || h["services"].(map[string]any)["database"] != "online" || h["metrics"].(map[string]any)["connections"] != 2.0 {
		t.Errorf("health %v", h)
	}
	check(KindMetrics, "{cpu:{cores,loadAverage,usage},disk:{free,percentage,total,used},memory:{free,percentage,total,used},network:{bytesReceived,bytesSent,packetsReceived,packetsSent},timestamp}")
	st := check(KindStatus, "{component,metrics:{active_connections,cpu_usage,memory_usage,total_connections},status,timestamp}")
	if st["component"] != "websocket_server" || st["status"] != "online" || st["metrics"].(map[string]any)["total_connections"] != 4.0 {
		t.Errorf("status %v", st)
	}
	// A service that is not up degrades the health status.
	if _, err := s.SetService(ctx, "cache", "offline", time.Minute); err != nil {
		t.Fatal(err)
	}
	if h := s.health(ctx, time.Now(), false); h["status"] != StatusDegraded {
		t.Errorf("with a service offline: %v", h)
	}
}

// shape lists the keys of nested objects, sorted, for comparison.
func shape(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if sub := shape(m[k]); sub != "" {
			parts = append(parts, k+":"+sub)
		} else {
			parts = append(parts, k)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestServicesStores: both stores keep, expire, bound and validate.
func TestServicesStores(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	for name, store := range map[string]serviceStore{"memory": &memoryServices{}, "redis": &redisServices{rdb: rdb, key: "t:services"}} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			if err := store.set(ctx, Service{Name: "db", Status: "online", ExpiresAt: now.Add(time.Minute)}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := store.set(ctx, Service{Name: "old", Status: "online", ExpiresAt: now.Add(time.Second)}, time.Second); err != nil {
				t.Fatal(err)
			}
			list, err := store.list(ctx, now.Add(2*time.Second))
			if err != nil || len(list) != 1 || list[0].Name != "db" {
				t.Fatalf("list after one expired: %+v %v", list, err)
			}
			for i := 0; i < MaxServices-1; i++ {
				if err := store.set(ctx, Service{Name: "s" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Status: "ok", ExpiresAt: now.Add(time.Minute)}, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.set(ctx, Service{Name: "one-too-many", Status: "ok", ExpiresAt: now.Add(time.Minute)}, time.Minute); !errors.Is(err, ErrTooManyServices) {
				t.Fatalf("over the bound: %v", err)
			}
			if err := store.set(ctx, Service{Name: "db", Status: "offline", ExpiresAt: now.Add(time.Minute)}, time.Minute); err != nil {
				t.Fatalf("updating an existing one when full: %v", err)
			}
			if err := store.remove(ctx, "db"); err != nil {
				t.Fatal(err)
			}
			list, _ = store.list(ctx, now)
			if len(list) != MaxServices-1 {
				t.Fatalf("%d after remove", len(list))
			}
		})
	}
	if ttl := mr.TTL("t:services"); ttl <= 0 {
		t.Fatalf("the services hash has no expiry: %v", ttl)
	}
}

func TestServicesHandler(t *testing.T) {
	s := newSystem(t, Config{Events: []Event{{Name: "h", Kind: KindHealth, Interval: time.Second}}}, nil)
	h := s.Handler()
	call := func(method, target, body string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	if code, body := call("POST", PathServices, `{"name":"database","status":"online","ttl_ms":5000}`); code != 200 || !strings.Contains(body, `"expires_at":"`) {
		t.Fatalf("post: %d %s", code, body)
	}
	for _, bad := range []string{`{"name":"redis","status":"online"}`, `{"name":"","status":"x"}`, `{"name":"a b","status":"x"}`,
		`{"name":"x","status":""}`, `{"name":"x","status":"ok","ttl_ms":10}`, `{"name":"x","status":"ok","bogus":1}`, `{} {}`} {
		if code, body := call("POST", PathServices, bad); code != http.StatusBadRequest || !strings.Contains(body, "BAD_REQUEST") {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	if code, body := call("GET", PathServices, ""); code != 200 || !strings.Contains(body, `"name":"database","status":"online"`) {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, _ := call("DELETE", PathServices+"?name=database", ""); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if _, body := call("GET", PathServices, ""); strings.Contains(body, "database") {
		t.Fatalf("after delete: %s", body)
	}
	if code, _ := call("PUT", PathServices, ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("put: %d", code)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
