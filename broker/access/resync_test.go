package access

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/limits"
)

// TestGuardResync: after Redis lost the slots, Resync restores those of
// the guard's live sessions, so the per-user limit holds again.
func TestGuardResync(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	lcfg := limits.Config{NodeID: "g", NodeTTL: time.Second, MaxConnectionsPerUser: 2,
		DisableConnectAttempts: true, DisableMessageRate: true}
	slots, err := limits.NewRedisSlots(rdb, lcfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := limits.New(lcfg, slots, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Limiter: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ip := netip.MustParseAddr("10.1.2.3")
	for _, sid := range []string{"s1", "s2"} {
		if d, err := l.AcquireConnection(ctx, "u1", ip, sid); err != nil || !d.Allowed {
			t.Fatal(d, err)
		}
		g.slots[sid] = &slot{user: "u1", ip: ip, sockets: 1}
	}
	admitted := func() bool {
		d, err := l.AcquireConnection(ctx, "u1", ip, "probe")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			_ = l.ReleaseConnection(ctx, "u1", ip, "probe")
		}
		return d.Allowed
	}
	if admitted() {
		t.Fatal("third admitted before the flush")
	}
	mr.FlushAll()
	if !admitted() {
		t.Fatal("third refused on an empty Redis")
	}
	if err := g.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if admitted() {
		t.Fatal("third admitted after Resync")
	}
	// A released session frees its slot as usual.
	g.release("s1")
	if !admitted() {
		t.Fatal("refused after a release")
	}
	// Without a limiter Resync is a no-op.
	if g2, _ := New(Config{}); g2.Resync(ctx) != nil {
		t.Fatal("Resync without a limiter failed")
	}
}
