package redisadapter_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// factory builds n adapters sharing addr, each with its own client.
func factory(addr string, cfg redisadapter.Config) adaptertest.Factory {
	return func(t *testing.T, n int) []adapter.Adapter {
		out := make([]adapter.Adapter, n)
		for i := range out {
			client := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { client.Close() })
			c := cfg
			c.Key = "t" + strconv.FormatInt(time.Now().UnixNano(), 36) // isolate subtests
			if i > 0 {
				c.Key = out[0].(*redisadapter.Adapter).Key()
			}
			a, err := redisadapter.New(c, client, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			out[i] = a
		}
		return out
	}
}

func TestConformanceMiniredis(t *testing.T) {
	s := miniredis.RunT(t)
	adaptertest.RunWith(t, factory(s.Addr(), redisadapter.Config{RequestTimeout: 3 * time.Second}),
		adaptertest.Options{SameChannelOrderOnly: true})
}

func TestConformanceRedisClassic(t *testing.T) {
	s := redistest.Start(t)
	adaptertest.Run(t, factory(s.Addr, redisadapter.Config{RequestTimeout: 3 * time.Second}))
}

func TestConformanceRedisRoomMode(t *testing.T) {
	s := redistest.Start(t)
	adaptertest.Run(t, roomFactory(s.Addr, redisadapter.Config{Mode: redisadapter.ModeRoom, RequestTimeout: 3 * time.Second}))
}

func TestConformanceRedisShardedStatic(t *testing.T) {
	s := redistest.Start(t)
	adaptertest.Run(t, factory(s.Addr, redisadapter.Config{Mode: redisadapter.ModeSharded, Subscription: redisadapter.SubscriptionStatic, RequestTimeout: 3 * time.Second}))
}

func TestConformanceRedisShardedDynamic(t *testing.T) {
	s := redistest.Start(t)
	adaptertest.Run(t, roomFactory(s.Addr, redisadapter.Config{Mode: redisadapter.ModeSharded, RequestTimeout: 3 * time.Second}))
}

// roomFactory subscribes every room the suite targets, as the broker
// would through RoomWatcher when local sockets join them.
func roomFactory(addr string, cfg redisadapter.Config) adaptertest.Factory {
	base := factory(addr, cfg)
	return func(t *testing.T, n int) []adapter.Adapter {
		as := base(t, n)
		for i, a := range as {
			as[i] = &roomSubscriber{Adapter: a.(*redisadapter.Adapter)}
		}
		return as
	}
}

type roomSubscriber struct{ *redisadapter.Adapter }

func (r *roomSubscriber) Start(ctx context.Context, h adapter.Handler) error {
	if err := r.Adapter.Start(ctx, h); err != nil {
		return err
	}
	for _, ns := range adaptertest.Namespaces {
		_ = r.Adapter.WatchNamespace(ctx, ns)
		for _, room := range []string{"only", "r1", "r2", "room0", "room1", "room2", "room3", "room4", "room5", "room6"} {
			r.Adapter.RoomCreated(ns, room)
		}
	}
	return r.Adapter.Confirm(ctx)
}
