package redisadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
)

func startAdapter(t *testing.T, addr string, cfg redisadapter.Config, h adapter.Handler) *redisadapter.Adapter {
	t.Helper()
	return startAdapterOn(t, redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond}), cfg, h)
}

// startAdapterOn starts an adapter on client; the test's cleanup closes
// both.
func startAdapterOn(t *testing.T, client redis.UniversalClient, cfg redisadapter.Config, h adapter.Handler) *redisadapter.Adapter {
	t.Helper()
	a, err := redisadapter.New(cfg, client, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = a.Close(context.Background())
		_ = client.Close()
	})
	return a
}

func bmsg(data string) adapter.Message {
	return adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/", Packet: adapter.Packet{Type: 2, Data: json.RawMessage(data), ID: -1}}
}

// TestRedisRestartResubscribes kills redis-server and starts it again on
// the same port: the node reports Degraded meanwhile, then resubscribes
// and receives again without any call from the broker.
func TestRedisRestartResubscribes(t *testing.T) {
	srv := redistest.Start(t)
	cfg := redisadapter.Config{MaxBackoff: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond}
	recA, recB := &adaptertest.Recorder{Name: "a"}, &adaptertest.Recorder{Name: "b"}
	a := startAdapter(t, srv.Addr, cfg, recA)
	b := startAdapter(t, srv.Addr, cfg, recB)
	ctx := context.Background()
	if err := b.Publish(ctx, bmsg(`["before"]`)); err != nil {
		t.Fatal(err)
	}
	if !adaptertest.Eventually(5*time.Second, func() bool { return len(recA.Messages()) == 1 }) {
		t.Fatal("no delivery before restart")
	}

	srv.Stop()
	if !adaptertest.Eventually(5*time.Second, a.Degraded) {
		t.Fatal("adapter did not report Degraded after Redis died")
	}
	if err := b.Publish(ctx, bmsg(`["lost"]`)); err == nil {
		t.Fatal("Publish succeeded with Redis down")
	}
	srv.Restart()
	if !adaptertest.Eventually(10*time.Second, func() bool { return !a.Degraded() && !b.Degraded() }) {
		t.Fatalf("still degraded after restart: a=%v b=%v", a.Degraded(), b.Degraded())
	}
	// Resubscription is asynchronous to the heartbeat: publish until heard.
	ok := adaptertest.Eventually(10*time.Second, func() bool {
		_ = b.Publish(ctx, bmsg(`["after"]`))
		time.Sleep(20 * time.Millisecond)
		for _, m := range recA.Messages() {
			if string(m.Packet.Data) == `["after"]` {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no delivery after restart; stats %+v", a.Stats())
	}
	if st := a.Stats(); st.Resubscribes == 0 || st.ReceiveErrors == 0 {
		t.Fatalf("stats %+v", st)
	}
	// Requests work again too.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var n int
	if err := b.Request(rctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, func(adapter.Reply) { n++ }); err != nil || n != 1 {
		t.Fatalf("request after restart: %v, %d replies", err, n)
	}
}

// TestMalformedCountedAndDropped: foreign or broken payloads on every
// subscribed channel are counted; the loop keeps delivering.
func TestMalformedCountedAndDropped(t *testing.T) {
	s := miniredis.RunT(t)
	rec := &adaptertest.Recorder{Name: "a"}
	a := startAdapter(t, s.Addr(), redisadapter.Config{}, rec)
	garbage := map[string][]string{
		"socket.io#/#":           {"", "\xc1", "\x93\xa1x", "{}", "\x93\xa3uid\xc0\xc0", "\x91\x91\x91"},
		"socket.io#/#room#":      {"not msgpack at all \xff"},
		"socket.io-request#/#":   {"{bad json", `{"type":99}`, `[1,2]`, "\xc1", `{"type":7,"packet":5}`},
		"socket.io-response#/#":  {"{", "\xc1", `{"requestId":"unknown"}`},
		"socket.io-request#/x#":  {`{"type":2}`}, // unwatched namespace
		"socket.io#/#\xff\xfe#":  {"\x00"},
		"socket.io-request#/#  ": {"{}"},
	}
	for ch, payloads := range garbage {
		for _, p := range payloads {
			s.Publish(ch, p)
		}
	}
	s.Publish("socket.io#/#", string(mustEncode(t, s.Addr())))
	if !adaptertest.Eventually(5*time.Second, func() bool { return len(rec.Messages()) == 1 }) {
		t.Fatalf("valid message after garbage not delivered; stats %+v", a.Stats())
	}
	if st := a.Stats(); st.Malformed < 10 {
		t.Fatalf("malformed = %d, want >= 10 (%+v)", st.Malformed, st)
	}
}

// mustEncode returns a valid classic broadcast from another node.
func mustEncode(t *testing.T, addr string) []byte {
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	other, err := redisadapter.New(redisadapter.Config{NodeID: "other"}, client, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := other.EncodeMessage(bmsg(`["valid"]`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type blockingRecorder struct {
	adaptertest.Recorder
	release chan struct{}
	calls   atomic.Int32
}

func (b *blockingRecorder) HandleMessage(ctx context.Context, m adapter.Message) {
	if b.calls.Add(1) == 1 {
		<-b.release
	}
	b.Recorder.HandleMessage(ctx, m)
}

// TestQueueOverflowDropsAndCounts: a stuck handler never blocks the
// receive loop; overflow is dropped and counted, responses still flow.
func TestQueueOverflowDropsAndCounts(t *testing.T) {
	s := miniredis.RunT(t)
	slow := &blockingRecorder{release: make(chan struct{})}
	a := startAdapter(t, s.Addr(), redisadapter.Config{QueueSize: 4}, slow)
	peer := startAdapter(t, s.Addr(), redisadapter.Config{}, &adaptertest.Recorder{Name: "peer"})
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if err := peer.Publish(ctx, bmsg(`[1]`)); err != nil {
			t.Fatal(err)
		}
	}
	if !adaptertest.Eventually(5*time.Second, func() bool { return a.Stats().Dropped >= 40 }) {
		t.Fatalf("stats %+v", a.Stats())
	}
	// The blocked node can still complete its own requests: responses do
	// not wait behind the queue.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := a.Request(rctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, nil); err != nil {
		t.Fatalf("request while handler blocked: %v", err)
	}
	close(slow.release)
	if !adaptertest.Eventually(5*time.Second, func() bool { return len(slow.Messages()) == 5 }) {
		t.Fatalf("delivered %d after release, want 1 in handler + 4 queued", len(slow.Messages()))
	}
}

func TestConfigValidation(t *testing.T) {
	s := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer client.Close()
	for _, cfg := range []redisadapter.Config{{Mode: 9}, {Subscription: 9}, {RequestTimeout: -1}, {QueueSize: -1}} {
		if _, err := redisadapter.New(cfg, client, testLogger(t)); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := redisadapter.New(redisadapter.Config{}, nil, testLogger(t)); err == nil {
		t.Error("nil client accepted")
	}
}

// TestRequestStopsWaitingForVanishedPeer: a peer that counted in NUMSUB
// but never answers (a hung or crashed server) stops being waited for as
// soon as its subscription disappears, well before RequestTimeout.
func TestRequestStopsWaitingForVanishedPeer(t *testing.T) {
	srv := redistest.Start(t)
	a := startAdapter(t, srv.Addr, redisadapter.Config{RequestTimeout: 20 * time.Second}, &adaptertest.Recorder{Name: "a"})
	mute := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer mute.Close()
	ctx := context.Background()
	ps := mute.Subscribe(ctx, "socket.io-request#/#")
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.ServerCount(ctx); n != 2 {
		t.Fatalf("ServerCount = %d, want 2", n)
	}
	time.AfterFunc(300*time.Millisecond, func() { ps.Close() })
	begin := time.Now()
	if err := a.Request(ctx, adapter.Request{Kind: adapter.RequestFetchSockets, Namespace: "/"}, nil); err != nil {
		t.Fatalf("Request: %v", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("request waited %v for a vanished peer", d)
	}
}

// TestRequestSkipsHungNode: a node that keeps its Redis subscriptions but
// stopped answering and let its liveness lapse (a stopped, starved or
// deadlocked process) is not waited for: the request completes with the
// live nodes' answers and says how many nodes it gave up on.
func TestRequestSkipsHungNode(t *testing.T) {
	for _, mode := range []redisadapter.Mode{redisadapter.ModeClassic, redisadapter.ModeRoom, redisadapter.ModeSharded} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := redistest.Start(t)
			ctx := context.Background()
			cfg := redisadapter.Config{Mode: mode, RequestTimeout: 20 * time.Second}
			a := startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "a"})
			startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "b"})
			hungCfg := cfg
			hungCfg.HeartbeatInterval = time.Hour // beats once, at Start
			hung := startAdapter(t, srv.Addr, hungCfg, &adaptertest.Recorder{Name: "hung", Silent: true})

			rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer rc.Close()
			score, err := rc.ZScore(ctx, "socket.io-nodes", hung.ID()).Result()
			if err != nil || score < float64(time.Now().Add(time.Hour).UnixMilli()) {
				t.Fatalf("hung node's liveness entry = %v, %v; want ~3h ahead", score, err)
			}
			if n, _ := a.ServerCount(ctx); n != 3 {
				t.Fatalf("ServerCount = %d, want 3", n)
			}
			// Its liveness lapses while it stays subscribed.
			rc.ZAdd(ctx, "socket.io-nodes", redis.Z{Score: float64(time.Now().Add(-time.Second).UnixMilli()), Member: hung.ID()})

			var from []string
			begin := time.Now()
			err = a.Request(ctx, adapter.Request{Kind: adapter.RequestFetchSockets, Namespace: "/"}, func(r adapter.Reply) {
				for _, s := range r.Sockets {
					from = append(from, s.ID)
				}
			})
			if !errors.Is(err, adapter.ErrTimeout) || !strings.Contains(err.Error(), "1 node(s)") {
				t.Fatalf("Request err = %v, want ErrTimeout naming 1 node", err)
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Fatalf("request waited %v for a hung node", d)
			}
			if len(from) != 1 || from[0] != "sock-b" {
				t.Fatalf("sockets = %v, want b's", from)
			}
		})
	}
}

// TestRequestWaitsForSilentLiveNode: only a lapsed liveness lets a request
// stop waiting. A silent node whose liveness is current, or a Node.js peer
// (no liveness entry), is waited for until the timeout, and a lapsed entry
// without a subscription (a node that is gone) changes nothing.
func TestRequestWaitsForSilentLiveNode(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	cfg := redisadapter.Config{RequestTimeout: time.Second}
	a := startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "a"})
	startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "silent", Silent: true})
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	rc.ZAdd(ctx, "socket.io-nodes", redis.Z{Score: float64(time.Now().Add(-time.Second).UnixMilli()), Member: "gone"})

	begin := time.Now()
	err := a.Request(ctx, adapter.Request{Kind: adapter.RequestFetchSockets, Namespace: "/"}, nil)
	if err != adapter.ErrTimeout {
		t.Fatalf("Request err = %v, want ErrTimeout", err)
	}
	if d := time.Since(begin); d < 900*time.Millisecond {
		t.Fatalf("request gave up after %v on a live node", d)
	}
}

// TestCloseLeavesNodeSet: a node that shuts down removes its liveness
// entry, so the set holds only running or lapsed nodes.
func TestCloseLeavesNodeSet(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	a, err := redisadapter.New(redisadapter.Config{}, client, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx, &adaptertest.Recorder{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := client.ZCard(ctx, "socket.io-nodes").Result(); n != 1 {
		t.Fatalf("node set has %d entries after Start, want 1", n)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := client.ZCard(ctx, "socket.io-nodes").Result(); n != 0 {
		t.Fatalf("node set has %d entries after Close, want 0", n)
	}
}
