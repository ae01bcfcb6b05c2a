package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/broker/access"
)

// testRedis returns a client of the shared redis-server and a key prefix
// of the test's own.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: sharedRedis.Addr(t)})
	t.Cleanup(func() { rdb.Close() }) // registered first: runs after the nodes stopped
	prefix := "test:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + time.Now().Format("150405.000000")
	return rdb, prefix
}

func entries(t *testing.T, rdb *redis.Client, key string) []map[string]string {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]string, len(msgs))
	for i, m := range msgs {
		f := map[string]string{"_id": m.ID}
		for k, v := range m.Values {
			f[k] = v.(string)
		}
		out[i] = f
	}
	return out
}

// summary is "type sid-or-user room reason" per entry, for comparisons.
func summary(es []map[string]string, sids map[string]string) []string {
	var out []string
	for _, e := range es {
		who := sids[e["sid"]]
		if who == "" {
			who = e["sid"]
		}
		s := e["type"] + " " + who
		if e["room"] != "" {
			s += " " + e["room"]
		}
		if e["reason"] != "" {
			s += " (" + e["reason"] + ")"
		}
		out = append(out, s)
	}
	return out
}

// TestStreamEvents: events routed via stream are XADDed in order with
// their fields, the ack confirms the entry id, MAXLEN ~ caps the stream,
// and a failed XADD answers BACKEND_UNAVAILABLE.
func TestStreamEvents(t *testing.T) {
	rdb, prefix := testRedis(t)
	bk := newBackend(t, admitAll)
	key := prefix + ":events"
	rules := NamespaceRules{Events: []EventRule{{Match: []string{"track_*"}, Via: ViaStream}, {Match: []string{"*"}, Via: ViaHTTP}}}
	at := time.Date(2025, 11, 25, 1, 2, 3, 456000000, time.FixedZone("X", 3600))
	n := startNode(t, bk, nodeOptions{rdb: rdb, rules: rules, cfg: Config{MaxInflightPerSocket: 2000, Stream: StreamConfig{Key: key, MaxLen: 100}, Now: func() time.Time { return at }}})
	c := dial(t, n, "/", nil)
	ack := decode[map[string]any](t, c.wait(c.sendRaw("51-", `["track_click",{"x":1},{"_placeholder":true,"num":0}]`, [][]byte{[]byte("raw")}), "track_click")[0])
	es := entries(t, rdb, key)
	if len(es) != 1 || ack["ok"] != true || ack["id"] != es[0]["_id"] {
		t.Fatalf("ack %v entries %v", ack, es)
	}
	e := es[0]
	want := map[string]string{
		"_id": e["_id"], "type": "event", "namespace": "/", "event": "track_click",
		"args": `[{"x":1},{"_binary":true,"base64":"cmF3"}]`, "ack": "true", "node": "n1", "time": "2025-11-25T00:02:03.456Z",
		"socket": `{"id":"` + c.sid + `","user":{"id":"u1","name":"Ada","roles":["staff"]},"rooms":["` + c.sid + `"],"data":null}`,
	}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Fatalf("entry\n got %v\nwant %v", e, want)
	}
	// The HTTP rule takes what the stream rule does not.
	c.call("other")
	if len(bk.requests(HookEvent)) != 1 {
		t.Fatal("fallback rule not used")
	}
	// Order and MAXLEN.
	for i := range 1000 {
		c.emit("track_n", i)
	}
	c.call("track_n", 1000)
	es = entries(t, rdb, key)
	if len(es) >= 1002 || len(es) < 100 {
		t.Fatalf("%d entries: MAXLEN ~ 100 not applied", len(es))
	}
	last := -1
	for _, e := range es[1:] {
		var args []int
		_ = json.Unmarshal([]byte(e["args"]), &args)
		if args[0] <= last {
			t.Fatalf("out of order: %d after %d", args[0], last)
		}
		last = args[0]
	}
	if last != 1000 || n.bridge.Stats().Events.ForwardedStream != 1002 {
		t.Fatalf("last %d stats %+v", last, n.bridge.Stats().Events)
	}

	// Redis down.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	n2 := startNode(t, bk, nodeOptions{rdb: dead, rules: rules, cfg: Config{NodeID: "n2", Timeout: 500 * time.Millisecond}})
	c2 := dial(t, n2, "/", nil)
	if e := decode[errorPayload](t, c2.call("track_x")[0]); e.Code != access.CodeBackendUnavailable {
		t.Fatalf("down: %+v", e)
	}
	if n2.bridge.Stats().Failures[kindRedis] != 1 {
		t.Fatalf("failures %v", n2.bridge.Stats().Failures)
	}
}

func hasEntry(t *testing.T, rdb *redis.Client, stream, typ, sid string) bool {
	for _, e := range entries(t, rdb, stream) {
		if e["type"] == typ && e["sid"] == sid {
			return true
		}
	}
	return false
}

func lifecycleConfig(prefix string) Config {
	return Config{
		KeyPrefix: prefix, NodeTTL: 300 * time.Millisecond,
		Lifecycle: LifecycleConfig{Stream: prefix + ":lifecycle", FlushInterval: 5 * time.Millisecond, BatchSize: 3},
	}
}

// TestLifecycle: connect, join, leave, disconnect and per-user
// online/offline across two nodes, in order, also POSTed to the webhook
// (retried after failures); a clean shutdown leaves no state behind.
func TestLifecycle(t *testing.T) {
	rdb, prefix := testRedis(t)
	var fails atomic.Int32
	fails.Store(2)
	var mu sync.Mutex
	var posted []LifeEvent
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		switch r.Type {
		case HookConnect:
			user := r.Body["headers"].(map[string]any)["cookie"].(string)
			return 200, fmt.Sprintf(`{"user":{"id":%q},"rooms":["home"]}`, user)
		case HookLifecycle:
			if fails.Add(-1) >= 0 {
				return 500, ``
			}
			var body struct {
				Type   string      `json:"type"`
				Events []LifeEvent `json:"events"`
			}
			_ = json.Unmarshal(r.Raw, &body)
			mu.Lock()
			posted = append(posted, body.Events...)
			mu.Unlock()
		}
		return 200, `{}`
	})
	cfg := lifecycleConfig(prefix)
	cfg.Lifecycle.Webhook = true
	cfg.NodeID = "na"
	a := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})
	cfg.NodeID = "nb"
	b := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})
	stream := cfg.Lifecycle.Stream

	a1 := dial(t, a, "/", cookieHeader("alice"))
	a1.call("join", "chat")
	a1.call("leave", "chat")
	b1 := dial(t, b, "/", cookieHeader("alice"))
	anon := dial(t, b, "/pub", cookieHeader("bob"))
	a1.close()
	waitFor(t, "a1's disconnect", func() bool { return hasEntry(t, rdb, stream, LifeDisconnect, a1.sid) })
	b1.close()
	anon.close()
	sids := map[string]string{a1.sid: "a1", b1.sid: "b1", anon.sid: "bob"}
	want := []string{
		"connect a1", "online a1", "join a1 home", "join a1 chat", "leave a1 chat",
		"connect b1", "join b1 home", "connect bob", "online bob", "join bob home",
		"disconnect a1 (transport close)",
		"disconnect b1 (transport close)", "offline b1 (transport close)",
		"disconnect bob (transport close)", "offline bob (transport close)",
	}
	waitFor(t, "every event", func() bool { return len(entries(t, rdb, stream)) >= len(want) })
	es := entries(t, rdb, stream)
	// Per socket the order is exact; across nodes it depends on timing.
	for _, sock := range []string{"a1", "b1", "bob"} {
		var got, exp []string
		for _, s := range summary(es, sids) {
			if strings.Contains(s, " "+sock) {
				got = append(got, s)
			}
		}
		for _, s := range want {
			if strings.Contains(s, " "+sock) {
				exp = append(exp, s)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Fatalf("%s:\n got %v\nwant %v\n all %v", sock, got, exp, summary(es, sids))
		}
	}
	if len(es) != len(want) {
		t.Fatalf("entries %v", summary(es, sids))
	}
	ids := map[string]bool{}
	for _, e := range es {
		if e["id"] == "" || ids[e["id"]] || e["time"] == "" || (e["node"] != "na" && e["node"] != "nb") {
			t.Fatalf("entry %v", e)
		}
		ids[e["id"]] = true
		if e["sid"] == a1.sid && e["node"] != "na" || e["sid"] == b1.sid && e["node"] != "nb" {
			t.Fatalf("node of %v", e)
		}
		if e["user"] != "alice" && e["user"] != "bob" {
			t.Fatalf("user of %v", e)
		}
	}
	// The webhook got the same events once each, after its failures.
	waitFor(t, "the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posted) == len(es)
	})
	mu.Lock()
	for _, p := range posted {
		if !ids[p.ID] {
			t.Fatalf("webhook event %+v not in the stream", p)
		}
		delete(ids, p.ID)
	}
	mu.Unlock()
	if r := bk.requests(HookLifecycle); len(r) < 3 {
		t.Fatalf("%d webhook requests: no retry", len(r))
	}

	for _, n := range []*testNode{a, b} {
		n.stop(t)
		st := n.bridge.Stats().Life
		if st.Dropped != 0 || st.WebhookDropped != 0 || st.Written == 0 {
			t.Fatalf("stats %+v", st)
		}
	}
	ctx := context.Background()
	left, err := rdb.Keys(ctx, prefix+":{*").Result()
	if err != nil || len(left) != 0 {
		t.Fatalf("keys left after a clean shutdown: %v %v", left, err)
	}
}

// TestShutdownWritesDisconnects: the sockets open when the node shuts
// down get their disconnects ("server shutting down") and offline.
func TestShutdownWritesDisconnects(t *testing.T) {
	rdb, prefix := testRedis(t)
	bk := newBackend(t, admitAll)
	cfg := lifecycleConfig(prefix)
	cfg.Lifecycle.FlushInterval = time.Hour // only Shutdown flushes
	cfg.Lifecycle.BatchSize = 1000
	n := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})
	for range 3 {
		dial(t, n, "/", nil)
	}
	// A client sees its CONNECT before the connection handlers ran (as
	// with Node's server), so the last connect may not be recorded yet.
	waitFor(t, "3 connects recorded", func() bool {
		recorded := 0
		for _, s := range n.srv.Of("/").Sockets() {
			if st := existingState(s); st != nil {
				st.mu.Lock()
				if st.recorded {
					recorded++
				}
				st.mu.Unlock()
			}
		}
		return recorded == 3
	})
	n.stop(t)
	got := summary(entries(t, rdb, cfg.Lifecycle.Stream), nil)
	count := map[string]int{}
	for _, s := range got {
		count[strings.Fields(s)[0]]++
		if strings.HasPrefix(s, "disconnect") && !strings.HasSuffix(s, "(server shutting down)") {
			t.Fatalf("reason: %s", s)
		}
	}
	if count["connect"] != 3 || count["disconnect"] != 3 || count["online"] != 1 || count["offline"] != 1 {
		t.Fatalf("entries %v", got)
	}
	if keys, _ := rdb.Keys(context.Background(), prefix+":{*").Result(); len(keys) != 0 {
		t.Fatalf("keys left: %v", keys)
	}
}

// TestSweepExactlyOnce: two survivors sweeping a dead node at once emit
// exactly one disconnect per socket of it, and an offline only for the
// users that have no socket left anywhere.
func TestSweepExactlyOnce(t *testing.T) {
	rdb, prefix := testRedis(t)
	bk := newBackend(t, admitAll)
	cfg := lifecycleConfig(prefix)
	cfg.NodeTTL = time.Hour // the loops stay out of the way: the test sweeps
	cfg.URL = bk.ts.URL
	cfg.NodeID = "dead"
	dead, err := New(cfg, rdb)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NodeID = "a"
	a := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})
	cfg.NodeID = "b"
	b := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})

	// The dead node's 1500 sockets of 500 users (three each), written as
	// it would have, and one socket of user "u0" alive on node a.
	const sockets, users = 1500, 500
	var batch []LifeEvent
	for i := range sockets {
		st := &socketState{user: fmt.Sprintf("u%d", i%users), tag: dead.life.newTag()}
		ev := LifeEvent{Type: LifeConnect, Namespace: "/", SID: fmt.Sprintf("s%d", i), User: st.user, Node: "dead", Time: dead.life.now(), ID: st.tag + ":connect", tag: st.tag}
		info, _ := json.Marshal(map[string]string{"namespace": "/", "sid": ev.SID, "user": ev.User, "tag": st.tag})
		ev.socket = string(info)
		batch = append(batch, ev)
	}
	if _, err := dead.life.record(batch); err != nil {
		t.Fatal(err)
	}
	alive := dial(t, a, "/", nil) // admitAll: user "u1"
	_ = alive
	ctx := context.Background()
	waitFor(t, "a's connect", func() bool {
		n, _ := rdb.HLen(ctx, a.bridge.life.keys.sockets).Result()
		return n == 1
	})
	before := len(entries(t, rdb, cfg.Lifecycle.Stream))

	// The dead node's heartbeat is gone; both survivors sweep at once,
	// from several goroutines each.
	if err := rdb.Del(ctx, dead.life.keys.hb).Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var total atomic.Int64
	for i := range 8 {
		wg.Add(1)
		n := []*testNode{a, b}[i%2]
		go func() {
			defer wg.Done()
			evs, err := n.bridge.life.sweep(ctx)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(len(evs)))
		}()
	}
	wg.Wait()

	es := entries(t, rdb, cfg.Lifecycle.Stream)[before:]
	disc := map[string]int{}
	off := map[string]int{}
	for _, e := range es {
		if e["node"] != "dead" || e["reason"] != ReasonNodeDead {
			t.Fatalf("swept entry %v", e)
		}
		switch e["type"] {
		case LifeDisconnect:
			disc[e["sid"]]++
			if !strings.HasSuffix(e["id"], ":disconnect") || !strings.HasPrefix(e["id"], "dead:") {
				t.Fatalf("id %v", e)
			}
		case LifeOffline:
			off[e["user"]]++
		default:
			t.Fatalf("entry %v", e)
		}
	}
	if len(disc) != sockets {
		t.Fatalf("%d sockets disconnected, want %d", len(disc), sockets)
	}
	for sid, n := range disc {
		if n != 1 {
			t.Fatalf("socket %s disconnected %d times", sid, n)
		}
	}
	if len(off) != users-1 || off["u1"] != 0 {
		t.Fatalf("%d offline (u1: %d), want %d without u1", len(off), off["u1"], users-1)
	}
	for u, n := range off {
		if n != 1 {
			t.Fatalf("user %s offline %d times", u, n)
		}
	}
	if got := total.Load(); got != int64(len(es)) {
		t.Fatalf("sweepers report %d events, stream has %d", got, len(es))
	}
	if sw := a.bridge.Stats().Life.Swept + b.bridge.Stats().Life.Swept; sw != uint64(len(es)) {
		t.Fatalf("swept stats %d", sw)
	}
	if n, _ := rdb.Exists(ctx, dead.life.keys.sockets).Result(); n != 0 {
		t.Fatal("dead node's hash left")
	}
	if ok, _ := rdb.SIsMember(ctx, dead.life.keys.nodes, "dead").Result(); ok {
		t.Fatal("dead node still listed")
	}
	if c, _ := rdb.HGet(ctx, a.bridge.life.keys.users, "1:/:u1").Result(); c != "1" {
		t.Fatalf("u1's count %q", c)
	}
	ctxS, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dead.Shutdown(ctxS); err != nil {
		t.Fatal(err)
	}
}

// TestLapseResync: a node whose heartbeat lapsed and whose sockets were
// swept registers them again under new ids; its later real disconnect is
// written too (not deduplicated against the swept one).
func TestLapseResync(t *testing.T) {
	rdb, prefix := testRedis(t)
	bk := newBackend(t, admitAll)
	cfg := lifecycleConfig(prefix)
	cfg.NodeTTL = time.Hour
	cfg.NodeID = "a"
	a := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})
	cfg.NodeID = "b"
	b := startNode(t, bk, nodeOptions{rdb: rdb, cfg: cfg})
	c := dial(t, a, "/", nil)
	c.call("join", "r")
	stream := cfg.Lifecycle.Stream
	waitFor(t, "the join", func() bool { return len(entries(t, rdb, stream)) == 3 }) // connect, online, join
	ctx := context.Background()
	_ = rdb.Del(ctx, a.bridge.life.keys.hb).Err()
	if _, err := b.bridge.life.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	a.bridge.life.heartbeat(ctx) // finds its heartbeat gone
	c.close()
	waitFor(t, "the disconnect", func() bool {
		es := entries(t, rdb, stream)
		return len(es) > 0 && es[len(es)-1]["type"] == LifeOffline && es[len(es)-1]["reason"] != ReasonNodeDead
	})
	got := summary(entries(t, rdb, stream), map[string]string{c.sid: "c"})
	want := []string{
		"connect c", "online c", "join c r",
		"disconnect c (node dead)", "offline c (node dead)",
		"connect c", "online c", "join c r",
		"disconnect c (transport close)", "offline c (transport close)",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries\n got %v\nwant %v", got, want)
	}
	if a.bridge.Stats().Life.Resyncs != 1 {
		t.Fatalf("stats %+v", a.bridge.Stats().Life)
	}
}

// pipelineCounter counts the pipelines and the commands a client sends.
type pipelineCounter struct{ pipelines, cmds atomic.Int64 }

func (p *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (p *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		p.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (p *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.pipelines.Add(1)
		p.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestStreamGroupCommit: XADDs of many sockets at once share pipelines,
// and each socket's entries keep the order it sent them.
func TestStreamGroupCommit(t *testing.T) {
	rdb, prefix := testRedis(t)
	var pc pipelineCounter
	rdb.AddHook(&pc)
	key := prefix + ":events"
	rules := NamespaceRules{Events: []EventRule{{Match: []string{"track_*"}, Via: ViaStream}}}
	n := startNode(t, newBackend(t, admitAll), nodeOptions{rdb: rdb, rules: rules, cfg: Config{MaxInflightPerSocket: 1000, Stream: StreamConfig{Key: key, MaxLen: 1 << 20}}})
	const sockets, each = 20, 200
	clients := make([]*client, sockets)
	for i := range clients {
		clients[i] = dial(t, n, "/", nil)
	}
	pc.pipelines.Store(0)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				c.emit("track_n", i, k)
			}
			c.call("track_n", i, each)
		}()
	}
	wg.Wait()
	es := entries(t, rdb, key)
	if len(es) != sockets*(each+1) {
		t.Fatalf("%d entries, want %d", len(es), sockets*(each+1))
	}
	next := make([]int, sockets)
	for _, e := range es {
		var args [2]int
		if err := json.Unmarshal([]byte(e["args"]), &args); err != nil {
			t.Fatal(err)
		}
		if args[1] != next[args[0]] {
			t.Fatalf("socket %d: entry %d after %d", args[0], args[1], next[args[0]]-1)
		}
		next[args[0]]++
	}
	if p := pc.pipelines.Load(); p >= int64(len(es)) {
		t.Fatalf("%d pipelines for %d entries: no group commit", p, len(es))
	} else {
		t.Logf("%d entries in %d pipelines", len(es), p)
	}
}
