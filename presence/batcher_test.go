package presence

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBatcherCoalescesAndIsolatesCancellation(t *testing.T) {
	var batches atomic.Int64
	release := make(chan struct{})
	var first sync.Once
	b := &batcher[int, int]{max: 100, opTimeout: time.Second, send: func(ctx context.Context, in []int) ([]int, error) {
		batches.Add(1)
		first.Do(func() { <-release }) // hold the first round trip in flight
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * 2
		}
		return out, nil
	}}
	// The leader's context is cancelled while its batch is in flight: the
	// batch (carrying other callers' work too) still completes.
	lctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan int)
	go func() {
		v, err := b.do(lctx, 1)
		if err != nil {
			t.Error(err)
		}
		leaderDone <- v
	}()
	for batches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	var wg sync.WaitGroup
	for i := 2; i <= 250; i++ {
		wg.Go(func() {
			v, err := b.do(context.Background(), i)
			if err != nil || v != 2*i {
				t.Errorf("call %d = %d, %v", i, v, err)
			}
		})
	}
	for {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n == 249 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if v := <-leaderDone; v != 2 {
		t.Fatalf("leader got %d", v)
	}
	wg.Wait()
	// 1 (leader) + 249 queued in batches of at most 100 = 3 more.
	if n := batches.Load(); n != 4 {
		t.Fatalf("%d batches, want 4", n)
	}
	if _, err := b.do(lctx, 9); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestBatcherErrorReachesEveryCaller(t *testing.T) {
	boom := errors.New("boom")
	b := &batcher[int, int]{max: 10, opTimeout: time.Second, send: func(context.Context, []int) ([]int, error) {
		time.Sleep(time.Millisecond)
		return nil, boom
	}}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if _, err := b.do(context.Background(), i); !errors.Is(err, boom) {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if b.running || len(b.pending) != 0 {
		t.Fatal("batcher not idle")
	}
}
