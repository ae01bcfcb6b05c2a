package redisadapter_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
)

var benchMsg = adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"room1", "room2"}, Except: []string{"sid"}},
	Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["chat",{"from":"alice","text":"hello there","ts":1700000000000,"tags":["a","b"]}]`), ID: -1}}

// BenchmarkEncodeBroadcast is the CPU cost of Publish without I/O.
func BenchmarkEncodeBroadcast(b *testing.B) {
	s := miniredis.RunT(b)
	client := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer client.Close()
	a, _ := redisadapter.New(redisadapter.Config{}, client, zerolog.Nop())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := a.EncodeMessage(benchMsg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish publishes to a real redis-server (one round trip each).
func BenchmarkPublish(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	a, _ := redisadapter.New(redisadapter.Config{}, client, zerolog.Nop())
	ctx := context.Background()
	if err := a.Start(ctx, &adaptertest.Recorder{}); err != nil {
		b.Fatal(err)
	}
	defer a.Close(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Publish(ctx, benchMsg); err != nil {
			b.Fatal(err)
		}
	}
}
