package redisadapter_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
)

// A broadcast that fewer nodes received than are alive says so: here a
// live node (a heartbeat in the node set) that is not subscribed.
func TestPartialBroadcastReported(t *testing.T) {
	srv := redistest.Start(t)
	cfg := redisadapter.Config{HeartbeatInterval: 100 * time.Millisecond}
	startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "a"})
	b := startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "b"})
	if !adaptertest.Eventually(5*time.Second, func() bool { return b.Stats().ExpectedNodes == 2 }) {
		t.Fatalf("expected nodes %d, want 2", b.Stats().ExpectedNodes)
	}
	ctx := context.Background()
	if err := b.Publish(ctx, bmsg(`["all"]`)); err != nil {
		t.Fatalf("both nodes subscribed: %v", err)
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	ghost := redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: "ghost"}
	if err := admin.ZAdd(ctx, "socket.io-nodes", ghost).Err(); err != nil {
		t.Fatal(err)
	}
	if !adaptertest.Eventually(5*time.Second, func() bool { return b.Stats().ExpectedNodes == 3 }) {
		t.Fatalf("expected nodes %d, want 3", b.Stats().ExpectedNodes)
	}
	err := b.Publish(ctx, bmsg(`["partial"]`))
	var pe *adapter.PartialError
	if !errors.As(err, &pe) || pe.Reached != 2 || pe.Expected != 3 {
		t.Fatalf("publish with an unsubscribed live node: %v", err)
	}
	if b.Stats().Partial != 1 {
		t.Fatalf("partial counted %d", b.Stats().Partial)
	}
}

// Through a Redis restart every broadcast that Publish accepted without
// an error is received by the other node: the others failed or said they
// were partial.
func TestRestartAcceptedBroadcastsDelivered(t *testing.T) {
	srv := redistest.Start(t)
	// The default MaxBackoff: the heartbeat's success ends the wait.
	cfg := redisadapter.Config{HeartbeatInterval: 100 * time.Millisecond}
	recA := &adaptertest.Recorder{Name: "a"}
	startAdapter(t, srv.Addr, cfg, recA)
	b := startAdapter(t, srv.Addr, cfg, &adaptertest.Recorder{Name: "b"})
	if !adaptertest.Eventually(5*time.Second, func() bool { return b.Stats().ExpectedNodes == 2 }) {
		t.Fatal("nodes not seen")
	}
	ctx := context.Background()
	accepted := map[string]bool{}
	var failed, partial int
	restarted := false
	for i := 0; i < 300; i++ {
		if i == 50 {
			srv.Stop()
		}
		if i == 80 {
			srv.Restart()
			restarted = true
		}
		data := fmt.Sprintf(`["m%d"]`, i)
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := b.Publish(pctx, bmsg(data))
		cancel()
		var pe *adapter.PartialError
		switch {
		case err == nil:
			accepted[data] = true
		case errors.As(err, &pe):
			partial++
		default:
			failed++
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !restarted || failed == 0 || len(accepted) < 100 {
		t.Fatalf("%d accepted, %d failed, %d partial: the restart did not happen as planned", len(accepted), failed, partial)
	}
	ok := adaptertest.Eventually(5*time.Second, func() bool {
		got := map[string]bool{}
		for _, m := range recA.Messages() {
			got[string(m.Packet.Data)] = true
		}
		for d := range accepted {
			if !got[d] {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("a broadcast accepted without an error never reached the other node (%d accepted, %d partial)", len(accepted), partial)
	}
	t.Logf("%d accepted, %d failed while Redis was down, %d reported partial", len(accepted), failed, partial)
}
