package redisadapter_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
	"github.com/ionbus/ionbus/internal/wire"
)

// clusterFactory builds adapters on a real Redis Cluster through
// redis.ClusterClient: sharded channels spread over several masters, so
// each hash slot in use needs its own subscriber connection, and server
// counts are summed over the masters.
func clusterFactory(addrs []string, cfg redisadapter.Config) adaptertest.Factory {
	return func(t *testing.T, n int) []adapter.Adapter {
		key := "c" + strconv.FormatInt(time.Now().UnixNano(), 36)
		out := make([]adapter.Adapter, n)
		for i := range out {
			client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
			t.Cleanup(func() { client.Close() })
			c := cfg
			c.Key = key
			a, err := redisadapter.New(c, client, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			out[i] = a
		}
		return out
	}
}

func TestConformanceClusterSharded(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	t.Run("static", func(t *testing.T) {
		adaptertest.Run(t, clusterFactory(c.Addrs, redisadapter.Config{Mode: redisadapter.ModeSharded, Subscription: redisadapter.SubscriptionStatic, RequestTimeout: 3 * time.Second}))
	})
	t.Run("dynamic", func(t *testing.T) {
		base := clusterFactory(c.Addrs, redisadapter.Config{Mode: redisadapter.ModeSharded, RequestTimeout: 3 * time.Second})
		adaptertest.RunWith(t, func(t *testing.T, n int) []adapter.Adapter {
			as := base(t, n)
			for i, a := range as {
				as[i] = &roomSubscriber{Adapter: a.(*redisadapter.Adapter)}
			}
			return as
		}, adaptertest.Options{SameChannelOrderOnly: true}) // room channels live on other masters
	})
}

func TestConformanceClusterClassic(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	// Full cross-channel order: every PUBLISH of a namespace goes through
	// one master (see publishNS).
	adaptertest.Run(t, clusterFactory(c.Addrs, redisadapter.Config{RequestTimeout: 3 * time.Second}))
}

// clusterAdapter starts a sharded, dynamically subscribing adapter on c
// through its own ClusterClient.
func clusterAdapter(t *testing.T, c *redistest.Cluster, key string, h adapter.Handler) *redisadapter.Adapter {
	t.Helper()
	cfg := redisadapter.Config{Key: key, Mode: redisadapter.ModeSharded, MaxBackoff: 100 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond, RequestTimeout: 3 * time.Second}
	a := startAdapterOn(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs}), cfg, h)
	if err := a.WatchNamespace(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	return a
}

// shardConns counts the connections holding sharded subscriptions on
// the given cluster nodes, and the subscriptions they hold.
func shardConns(t *testing.T, addrs []string) (conns, channels int) {
	t.Helper()
	for _, addr := range addrs {
		c, n, err := redistest.PubsubClients(addr, "ssub")
		if err != nil {
			t.Fatal(err)
		}
		conns, channels = conns+c, channels+n
	}
	return conns, channels
}

func roomMsg(room, data string) adapter.Message {
	m := bmsg(data)
	m.Opts.Rooms = []string{room}
	return m
}

// TestShardSubscribersPerMaster: 10,000 rooms on 3 masters take at most
// one subscriber connection per master (not one per hash slot), each room
// still receives, and deleting the rooms unsubscribes them all.
func TestShardSubscribersPerMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	c := redistest.StartCluster(t, 3)
	rec := &adaptertest.Recorder{Name: "a"}
	a := clusterAdapter(t, c, "pm", rec)
	b := clusterAdapter(t, c, "pm", &adaptertest.Recorder{Name: "b"})
	const rooms = 10000
	for i := 0; i < rooms; i++ {
		a.RoomCreated("/", "room"+strconv.Itoa(i))
	}
	ctx := context.Background()
	if err := a.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	conns, channels := shardConns(t, c.Addrs)
	t.Logf("%d rooms: %d sharded subscriptions on %d connections (2 adapters, 3 masters)", rooms, channels, conns)
	if conns > 2*3 {
		t.Errorf("%d subscriber connections, want at most one per adapter and master", conns)
	}
	if channels < rooms {
		t.Errorf("%d sharded subscriptions, want at least %d", channels, rooms)
	}
	for _, i := range []int{0, 1, 4999, 9999} {
		if err := b.Publish(ctx, roomMsg("room"+strconv.Itoa(i), `[`+strconv.Itoa(i)+`]`)); err != nil {
			t.Fatal(err)
		}
	}
	if !adaptertest.Eventually(5*time.Second, func() bool { return len(rec.Messages()) == 4 }) {
		t.Fatalf("%d of 4 room broadcasts received", len(rec.Messages()))
	}
	for i := 0; i < rooms; i++ {
		a.RoomDeleted("/", "room"+strconv.Itoa(i))
	}
	if err := a.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if _, after := shardConns(t, c.Addrs); after > channels-rooms {
		t.Errorf("%d sharded subscriptions after deleting every room, want at most %d", after, channels-rooms)
	}
}

// TestShardFailoverRestores: the master owning a room's slot is killed
// after another room on it was created and deleted (its subscription
// emptied). Once the replica takes over, the adapter resubscribes on it,
// receives that room's broadcasts again and stops reporting Degraded.
func TestShardFailoverRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node Redis Cluster")
	}
	c := redistest.StartClusterReplicas(t, 3, 1)
	const key = "fr"
	victim, err := c.MasterOf(wire.Channel(wire.ChanRoom, key, "/", "live"), nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := ""
	for i := 0; gone == ""; i++ {
		room := "gone" + strconv.Itoa(i)
		if m, err := c.MasterOf(wire.Channel(wire.ChanRoom, key, "/", room), nil); err == nil && m == victim {
			gone = room
		}
	}
	rec := &adaptertest.Recorder{Name: "a"}
	a := clusterAdapter(t, c, key, rec)
	b := clusterAdapter(t, c, key, &adaptertest.Recorder{Name: "b"})
	ctx := context.Background()
	a.RoomCreated("/", gone)
	a.RoomCreated("/", "live")
	a.RoomDeleted("/", gone)
	if err := a.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	heard := func(data string) bool {
		for _, m := range rec.Messages() {
			if string(m.Packet.Data) == data {
				return true
			}
		}
		return false
	}
	if err := b.Publish(ctx, roomMsg("live", `["before"]`)); err != nil {
		t.Fatal(err)
	}
	if !adaptertest.Eventually(5*time.Second, func() bool { return heard(`["before"]`) }) {
		t.Fatal("no delivery before the failover")
	}

	victim.Stop()
	ok, err := c.WaitOK(30*time.Second, map[string]bool{victim.Addr: true})
	if err != nil {
		t.Fatal(err)
	}
	back := adaptertest.Eventually(10*time.Second, func() bool {
		_ = b.Publish(ctx, roomMsg("live", `["after"]`))
		time.Sleep(20 * time.Millisecond)
		return heard(`["after"]`)
	})
	if !back {
		t.Fatalf("no delivery 10 s after cluster_state:ok; stats %+v", a.Stats())
	}
	t.Logf("delivery back %v after cluster_state:ok", time.Since(ok).Round(time.Millisecond))
	if !adaptertest.Eventually(10*time.Second, func() bool { return !a.Degraded() && !b.Degraded() }) {
		t.Fatalf("still degraded 10 s after delivery came back: a=%v b=%v", a.Degraded(), b.Degraded())
	}
	t.Logf("healthy %v after cluster_state:ok", time.Since(ok).Round(time.Millisecond))
	if st := a.Stats(); st.Resubscribes == 0 {
		t.Errorf("stats %+v: no resubscription counted", st)
	}
}
