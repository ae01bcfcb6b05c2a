package redisadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
)

// BenchmarkEgressManySmallRooms measures what Redis sends each receiving
// node for a workload of many small rooms: 3 receiving nodes, 3,000 rooms,
// each room's sockets on one node only, and a fourth node publishing one
// broadcast per room in turn. In classic mode every node gets every
// broadcast (PSUBSCRIBE); in room mode a node gets only the broadcasts of
// rooms it has local sockets in. Reported per receiving node and per
// broadcast: Redis egress bytes (server total_net_output_bytes delta,
// divided by the receivers) and messages read.
//
//	go test -run '^$' -bench EgressManySmallRooms -benchtime 6000x ./adapter/redisadapter/
func BenchmarkEgressManySmallRooms(b *testing.B) {
	for _, mode := range []redisadapter.Mode{redisadapter.ModeClassic, redisadapter.ModeRoom} {
		b.Run(mode.String(), func(b *testing.B) { benchEgress(b, mode) })
	}
}

func benchEgress(b *testing.B, mode redisadapter.Mode) {
	const receivers, rooms = 3, 3000
	srv := redistest.Start(b)
	ctx := context.Background()
	start := func(name string) (*redisadapter.Adapter, *adaptertest.Recorder, *redis.Client) {
		client := redis.NewClient(&redis.Options{Addr: srv.Addr})
		a, err := redisadapter.New(redisadapter.Config{Mode: mode, NodeID: name}, client, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		rec := &adaptertest.Recorder{Name: name}
		if err := a.Start(ctx, rec); err != nil {
			b.Fatal(err)
		}
		if err := a.WatchNamespace(ctx, "/"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = a.Close(ctx); _ = client.Close() })
		return a, rec, client
	}
	nodes := make([]*redisadapter.Adapter, receivers)
	recs := make([]*adaptertest.Recorder, receivers)
	for i := range nodes {
		nodes[i], recs[i], _ = start(fmt.Sprintf("r%d", i))
	}
	pub, _, admin := start("publisher")
	for r := 0; r < rooms; r++ { // room r has its sockets on node r%receivers
		nodes[r%receivers].RoomCreated("/", "room-"+strconv.Itoa(r))
	}
	for _, n := range nodes {
		if err := n.Confirm(ctx); err != nil {
			b.Fatal(err)
		}
	}
	msg := func(i int) adapter.Message {
		return adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/",
			Opts:   adapter.BroadcastOptions{Rooms: []string{"room-" + strconv.Itoa(i%rooms)}},
			Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["chat",{"from":"alice","text":"hello there"}]`), ID: -1}}
	}
	received := func() (n uint64) {
		for _, a := range nodes {
			n += a.Stats().Received
		}
		return n
	}
	before, recvBefore := netOut(b, admin), received()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pub.Publish(ctx, msg(i)); err != nil {
			b.Fatal(err)
		}
	}
	// Every receiver has its share once the last broadcasts arrived.
	want := uint64(b.N)
	if mode == redisadapter.ModeClassic {
		want = uint64(b.N * receivers)
	}
	deadline := time.Now().Add(30 * time.Second)
	for received()-recvBefore < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", received()-recvBefore, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	egress := netOut(b, admin) - before - uint64(b.N)*4 // minus the publisher's ":N\r\n" replies (approx.)
	b.ReportMetric(float64(egress)/float64(receivers)/float64(b.N), "egress-B/node/op")
	b.ReportMetric(float64(received()-recvBefore)/float64(receivers)/float64(b.N), "msgs/node/op")
}

func netOut(b *testing.B, c *redis.Client) uint64 {
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_net_output_bytes:"); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	b.Fatal("no total_net_output_bytes in INFO")
	return 0
}
