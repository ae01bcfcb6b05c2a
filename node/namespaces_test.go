package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/internal/redistest"
)

// Refused CONNECTs to an authenticated pattern namespace leave neither
// namespaces nor Redis subscriptions behind; an admitted socket's public
// child is subscribed, and removed with its subscriptions once empty for
// dynamic_namespaces.empty_ttl; beyond dynamic_namespaces.max a CONNECT
// gets NAMESPACE_LIMIT_EXCEEDED.
func TestDynamicNamespacesBounded(t *testing.T) {
	rs := redistest.Start(t)
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.API = APIConfig{Listen: "127.0.0.1:0", Key: "k"}
	cfg.Redis.URL = rs.URL()
	cfg.Auth.JWT.Secret = testSecret
	cfg.Namespaces = []NamespaceConfig{
		{Name: "/"},
		{Name: "/auth-*", Access: "authenticated"},
		{Name: "/pub-*"},
	}
	cfg.Limits.ConnectAttemptsPerIP = 10_000 // the test refuses 1,000 CONNECTs on purpose
	cfg.DynamicNamespaces = DynamicNamespacesConfig{EmptyTTL: Duration(200 * time.Millisecond), Max: 3}
	cfg.ShutdownTimeout = Duration(5 * time.Second)
	n := startNode(t, cfg, nil)

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	subs := func() (patterns, channels int) {
		t.Helper()
		np, err := rdb.PubSubNumPat(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		chs, err := rdb.PubSubChannels(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(np), len(chs)
	}
	namespaces := func() int { return len(n.Server().Namespaces()) }
	pat0, ch0 := subs()
	ns0 := namespaces()

	c := dialSocket(t, n, "")
	if p := c.next(); !strings.HasPrefix(p, `40{"sid":`) {
		t.Fatalf("connect /: %q", p)
	}
	for i := range 1000 {
		c.send(fmt.Sprintf("40/auth-%d,", i))
		if p := c.next(); !strings.HasPrefix(p, fmt.Sprintf(`44/auth-%d,{"message":"Authentication failed"`, i)) {
			t.Fatalf("CONNECT /auth-%d: %q", i, p)
		}
	}
	if got := namespaces(); got != ns0 {
		t.Fatalf("1000 refused CONNECTs: %d namespaces, was %d", got, ns0)
	}
	if p, ch := subs(); p != pat0 || ch != ch0 {
		t.Fatalf("1000 refused CONNECTs: %d patterns %d channels subscribed, was %d and %d", p, ch, pat0, ch0)
	}

	// An admitted socket subscribes its child ...
	c.send("40/pub-1,")
	if p := c.next(); !strings.HasPrefix(p, `40/pub-1,{"sid":`) {
		t.Fatalf("connect /pub-1: %q", p)
	}
	if p, ch := subs(); p != pat0+1 || ch <= ch0 {
		t.Fatalf("admitted: %d patterns %d channels, want %d and more than %d", p, ch, pat0+1, ch0)
	}
	// ... up to the limit: /pub-1, /pub-2, /pub-3 exist, /pub-4 is refused.
	for _, name := range []string{"/pub-2", "/pub-3"} {
		c.send("40" + name + ",")
		if p := c.next(); !strings.HasPrefix(p, "40"+name+`,{"sid":`) {
			t.Fatalf("connect %s: %q", name, p)
		}
	}
	c.send("40/pub-4,")
	if p := c.next(); !strings.HasPrefix(p, `44/pub-4,{"message":"Namespace limit exceeded","data":{`) || !strings.Contains(p, `"NAMESPACE_LIMIT_EXCEEDED"`) {
		t.Fatalf("CONNECT beyond the limit: %q", p)
	}
	if st := n.Server().Stats(); st.NamespacesRefused != 1 || st.DynamicNamespaces != 3 {
		t.Fatalf("refused %d dynamic %d", st.NamespacesRefused, st.DynamicNamespaces)
	}
	// Leaving: the children go after empty_ttl, with their subscriptions.
	for _, name := range []string{"/pub-1", "/pub-2", "/pub-3"} {
		c.send("41" + name + ",")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, ch := subs()
		if p == pat0 && ch == ch0 && namespaces() == ns0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after empty_ttl: %d patterns %d channels %d namespaces, want %d %d %d", p, ch, namespaces(), pat0, ch0, ns0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.send("40/pub-4,")
	if p := c.next(); !strings.HasPrefix(p, `40/pub-4,{"sid":`) {
		t.Fatalf("connect /pub-4 once the others are gone: %q", p)
	}
}
