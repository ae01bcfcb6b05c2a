package presence

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// countHook counts Redis commands and round trips (a pipeline is one trip).
type countHook struct{ cmds, trips atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		h.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		h.trips.Add(1)
		return next(ctx, cmds)
	}
}

func (h *countHook) reset() { h.cmds.Store(0); h.trips.Store(0) }

// TestTenThousandConnectsCoalesce: 10,000 sockets connecting at once must not
// cost 10,000 sequential round trips.
func TestTenThousandConnectsCoalesce(t *testing.T) {
	for _, f := range []struct {
		name string
		new  factory
	}{{"miniredis", miniredisHarness}, {"redis", realRedisHarness}} {
		t.Run(f.name, func(t *testing.T) {
			h := f.new(t)
			hook := &countHook{}
			h.client.AddHook(hook)
			cfg := h.config("node-a")
			cfg.MaxBatch = 0 // default 256
			cfg.DisableGrace = true
			var joins atomic.Int64
			cfg.OnEvent = func(e Event) {
				if e.Type == EventJoin {
					joins.Add(1)
				}
			}
			tr, err := NewTracker(h.newStore(t, cfg), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			// Load the scripts so the count is the steady state.
			tr.Connect(t.Context(), Entry{Namespace: ns, Room: "warm", ConnID: "w"})
			tr.Disconnect(t.Context(), ns, "warm", "", "w")
			hook.reset()
			joins.Store(0)

			const n = 10000
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					if _, err := tr.Connect(context.Background(), Entry{Namespace: ns, Room: "hot", UserID: fmt.Sprintf("u%d", i), ConnID: fmt.Sprintf("c%d", i)}); err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			cmds, trips := hook.cmds.Load(), hook.trips.Load()
			t.Logf("%d connects: %d round trips, %d commands (%.4f commands/connect)", n, trips, cmds, float64(cmds)/n)
			if joins.Load() != n {
				t.Fatalf("%d join events", joins.Load())
			}
			if trips > n/10 {
				t.Fatalf("%d round trips for %d connects: not coalesced", trips, n)
			}
			if c, _ := tr.Count(t.Context(), ns, "hot"); c != n {
				t.Fatalf("count = %d", c)
			}
		})
	}
}

func benchStore(b *testing.B, backend string) (Store, *countHook) {
	var h *harness
	switch backend {
	case "memory":
		h = memoryHarness(b)
	case "redis":
		h = realRedisHarness(b)
	}
	cfg := h.config("node-a")
	cfg.MaxBatch = 0
	s := h.newStore(b, cfg)
	if h.client == nil {
		return s, nil
	}
	hook := &countHook{}
	h.client.AddHook(hook)
	return s, hook
}

func reportCmds(b *testing.B, hook *countHook, per string) {
	if hook != nil {
		b.ReportMetric(float64(hook.cmds.Load())/float64(b.N), "cmds/"+per)
		b.ReportMetric(float64(hook.trips.Load())/float64(b.N), "trips/"+per)
	}
}

// BenchmarkJoinLeave: one Join and one Leave per op, sequential (latency
// bound) and parallel (coalesced by the batcher).
func BenchmarkJoinLeave(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		b.Run(backend+"/serial", func(b *testing.B) {
			s, hook := benchStore(b, backend)
			ctx := context.Background()
			s.Join(ctx, Entry{Namespace: ns, Room: "r", ConnID: "warm"})
			if hook != nil {
				hook.reset()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c := fmt.Sprintf("c%d", i)
				if _, err := s.Join(ctx, Entry{Namespace: ns, Room: "r", UserID: "u", ConnID: c}); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Leave(ctx, Ref{Namespace: ns, Room: "r", UserID: "u", ConnID: c}); err != nil {
					b.Fatal(err)
				}
			}
			reportCmds(b, hook, "op")
		})
		b.Run(backend+"/parallel", func(b *testing.B) {
			s, hook := benchStore(b, backend)
			ctx := context.Background()
			s.Join(ctx, Entry{Namespace: ns, Room: "r", ConnID: "warm"})
			s.Leave(ctx, Ref{Namespace: ns, Room: "r", ConnID: "warm"})
			if hook != nil {
				hook.reset()
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					c := fmt.Sprintf("c%d", i)
					u := fmt.Sprintf("u%d", i%1000)
					if _, err := s.Join(ctx, Entry{Namespace: ns, Room: "r", UserID: u, ConnID: c}); err != nil {
						b.Error(err)
						return
					}
					if _, err := s.Leave(ctx, Ref{Namespace: ns, Room: "r", UserID: u, ConnID: c}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCmds(b, hook, "op")
		})
	}
}

// BenchmarkList: reading a whole room of 1,000 and of 10,000 members in
// pages of 1,000 (one op = the whole room).
func BenchmarkList(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/members=%d", backend, n), func(b *testing.B) {
				s, hook := benchStore(b, backend)
				es := make([]Entry, n)
				for i := range es {
					es[i] = Entry{Namespace: ns, Room: "r", UserID: fmt.Sprintf("user-%05d", i), Name: "name", ConnID: fmt.Sprintf("c%d", i), Meta: []byte(`{"status":"online"}`)}
				}
				if _, err := s.JoinBatch(context.Background(), es); err != nil {
					b.Fatal(err)
				}
				if hook != nil {
					hook.reset()
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if got := len(listAll(b, s, "r", 1000)); got != n {
						b.Fatalf("listed %d", got)
					}
				}
				reportCmds(b, hook, "list")
			})
		}
	}
}

// BenchmarkConnect10k: one op = 10,000 concurrent Tracker.Connect calls of
// distinct users into one room, then the room is cleared.
func BenchmarkConnect10k(b *testing.B) {
	h := realRedisHarness(b)
	hook := &countHook{}
	h.client.AddHook(hook)
	cfg := h.config("node-a")
	cfg.MaxBatch = 0
	cfg.DisableGrace = true
	tr, err := NewTracker(h.newStore(b, cfg), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	const n = 10000
	var cmds, trips int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		hook.reset()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				tr.Connect(context.Background(), Entry{Namespace: ns, Room: "hot", UserID: fmt.Sprintf("u%d", i), ConnID: fmt.Sprintf("c%d", i)})
			})
		}
		b.StartTimer()
		close(start)
		wg.Wait()
		b.StopTimer()
		cmds += hook.cmds.Load()
		trips += hook.trips.Load()
		tr.store.Evict(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(cmds)/float64(b.N*n), "cmds/connect")
	b.ReportMetric(float64(trips)/float64(b.N*n), "trips/connect")
}
