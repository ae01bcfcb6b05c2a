package online

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/presence"
)

// TestResyncAfterRedisFlush: Redis loses every key (restart without
// persistence). The tracker's next heartbeat notices, Online re-registers
// its sockets' tracked rooms, the listing heals, and nobody is told that
// members who never left joined again.
func TestResyncAfterRedisFlush(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	pcfg := presence.Config{NodeID: "rs", DisableGrace: true,
		NodeTTL: 600 * time.Millisecond, SweepInterval: 200 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}
	store, err := presence.NewRedis(rdb, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() }) // after the node's cleanup
	n := startNode(t, "rs", nil, store, pcfg, nil)

	watcher := dial(t, n, user("w"))
	watcher.join("chat:1")
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "w"))
	u1 := dial(t, n, user("u1"))
	u1.join("chat:1")
	u1.join("untracked")
	u1.call(EventUpdate, map[string]any{"room": "chat:1", "meta": map[string]any{"mood": "ok"}})
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "u1"))
	anon := dial(t, n, nil)
	anon.join("chat:2")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := func() (ns, chat1, chat2 int) {
		ns, _ = n.on.Count(ctx, "/", "")
		chat1, _ = n.on.Count(ctx, "/", "chat:1")
		chat2, _ = n.on.Count(ctx, "/", "chat:2")
		return
	}
	waitFor(t, "counts before the flush", func() bool {
		a, b, c := counts()
		return a == 3 && b == 2 && c == 1
	})

	mr.FlushAll()
	start := time.Now()
	waitFor(t, "listing heals after the flush", func() bool {
		a, b, c := counts()
		return a == 3 && b == 2 && c == 1
	})
	t.Logf("healed %v after the flush (heartbeat every %v)", time.Since(start), pcfg.HeartbeatInterval)

	ms, _, err := n.on.Tracker().List(ctx, "/", "chat:1", "", 0)
	if err != nil || len(ms) != 2 || ms[0].UserID != "u1" || ms[0].Name != "name-u1" || string(ms[0].Meta) != `{"mood":"ok"}` {
		t.Fatalf("chat:1 after resync: %+v %v", ms, err)
	}
	if c, _ := n.on.Count(ctx, "/", "untracked"); c != 0 {
		t.Fatalf("untracked room recorded: %d", c)
	}
	noMatch(t, watcher, presence.EventJoin, isEvent("chat:1", "u1"), 200*time.Millisecond)
	if st := n.on.Stats(); st.Resyncs == 0 || st.Resynced < 6 {
		t.Fatalf("stats %+v", st)
	}

	// Life goes on: leaves after the resync are announced.
	u1.close()
	watcher.waitEvent(presence.EventLeave, isEvent("chat:1", "u1"))
	anon.close()
}
