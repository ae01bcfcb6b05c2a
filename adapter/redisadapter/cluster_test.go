package redisadapter_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
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
