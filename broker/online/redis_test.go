package online

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
	"github.com/ionbus/ionbus/presence"
)

// TestRedisCluster runs two nodes against a real redis-server: presence
// in the Redis store, broadcasts through the Redis adapter, so nothing is
// shared in process.
func TestRedisCluster(t *testing.T) {
	srv := redistest.Start(t)
	prefix := "test:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + time.Now().Format("150405.000000")
	var nodes []*node
	for _, id := range []string{"ra", "rb"} {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		pcfg := presence.Config{NodeID: id, KeyPrefix: prefix, DisableGrace: true}
		store, err := presence.NewRedis(rdb, pcfg)
		if err != nil {
			t.Fatal(err)
		}
		ad, err := redisadapter.New(redisadapter.Config{NodeID: id, Key: prefix}, rdb, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		// Registered first, so it runs after the node's own cleanup.
		t.Cleanup(func() { rdb.Close() })
		nodes = append(nodes, startNode(t, id, ad, store, pcfg, nil))
	}
	a, b := nodes[0], nodes[1]

	watcher := dial(t, a, user("w"))
	watcher.join("chat:1")
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "w"))
	tab1 := dial(t, b, user("u1"))
	tab1.join("chat:1")
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "u1"))
	tab2 := dial(t, a, user("u1"))
	tab2.join("chat:1")

	page := decode[listAck](t, watcher.call(EventList, map[string]any{"room": "chat:1", "limit": 1}))
	if !page.Success || len(page.Members) != 1 || page.Members[0].ID != "u1" || page.Members[0].Connections != 2 || page.NextCursor != "u1" {
		t.Fatalf("page 1 %+v", page)
	}
	page = decode[listAck](t, watcher.call(EventList, map[string]any{"room": "chat:1", "limit": 1, "cursor": "u1"}))
	if len(page.Members) != 1 || page.Members[0].ID != "w" || page.NextCursor != "" {
		t.Fatalf("page 2 %+v", page)
	}
	if got := decode[CountResponse](t, tab1.call(EventCount, map[string]any{"room": ""})); got.Count != 2 {
		t.Fatalf("namespace count %+v", got)
	}

	tab2.call(EventUpdate, map[string]any{"room": "chat:1", "meta": map[string]any{"typing": true}})
	d := watcher.waitEvent(presence.EventUpdate, isEvent("chat:1", "u1"))
	if e := decode[presenceEvent](t, d); string(e.User.Meta) != `{"typing":true}` || e.Connections != 2 {
		t.Fatalf("update %s", d)
	}

	tab1.close()
	noMatch(t, watcher, presence.EventLeave, isEvent("chat:1", "u1"), 100*time.Millisecond)
	tab2.close()
	watcher.waitEvent(presence.EventLeave, isEvent("chat:1", "u1"))
	watcher.waitEvent(presence.EventLeave, isEvent("", "u1"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := b.on.Count(ctx, "/", "chat:1"); err != nil || n != 1 {
		t.Fatalf("count %d %v", n, err)
	}
	for _, n := range nodes {
		if st := n.on.Stats(); st.StoreErrors != 0 || st.EmitErrors != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// TestStoreDownKeepsSockets: with the presence store unreachable, sockets
// still connect, join and get refusals as PRESENCE_UNAVAILABLE; failures
// are counted, never fatal.
func TestStoreDownKeepsSockets(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	pcfg := presence.Config{NodeID: "down", DisableGrace: true, OpTimeout: 200 * time.Millisecond}
	store, err := presence.NewRedis(rdb, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newTestServer("down")
	if err != nil {
		t.Fatal(err)
	}
	on, err := New(Config{Presence: pcfg, Namespaces: testRules, Identify: identifyFromAuth, CallTimeout: 300 * time.Millisecond}, store, srv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := on.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n := &node{srv: srv, on: on, ts: newHTTPServer(srv)}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := on.Shutdown(ctx); err == nil {
			t.Error("shutdown with the store down reported no error")
		}
		_ = srv.Shutdown(ctx)
		n.ts.Close()
	}()
	c := dial(t, n, user("u1"))
	c.join("chat:1")
	expectAckError(t, c.call(EventCount, map[string]any{"room": "chat:1"}), CodeUnavailable)
	if e := decode[ErrorEvent](t, c.waitEvent(EventError, nil)); e.Code != CodeUnavailable || !e.Retry {
		t.Fatalf("error event %+v", e)
	}
	if st := on.Stats(); st.StoreErrors < 2 {
		t.Fatalf("store errors %+v", st)
	}
	c.close()
}
