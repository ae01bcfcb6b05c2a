package presence

import (
	"context"
	"sync"
	"time"
)

// batcher coalesces concurrent single calls into one round trip without a
// background goroutine or a timer (no added latency when idle):
//
//   - a caller that finds no batch in flight becomes the leader and sends
//     everything queued (up to max items, its own first);
//   - callers arriving while a batch is in flight queue up;
//   - when the leader's batch completes and more calls are queued, it hands
//     leadership to the oldest queued caller, which sends the next batch.
//
// Under load every round trip therefore carries all calls that arrived during
// the previous one. Each caller sends at most one batch. Queued callers wait
// without watching their context: a batch is bounded by opTimeout.
type batcher[In, Out any] struct {
	mu      sync.Mutex
	pending []*batchCall[In, Out]
	running bool

	max       int
	opTimeout time.Duration
	send      func(ctx context.Context, in []In) ([]Out, error)
}

type batchCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{} // closed when out/err are set
	lead chan struct{} // closed when this caller must send the next batch
}

func (b *batcher[In, Out]) do(ctx context.Context, in In) (Out, error) {
	if err := ctx.Err(); err != nil {
		var zero Out
		return zero, err
	}
	c := &batchCall[In, Out]{in: in, done: make(chan struct{}), lead: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if b.running {
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.out, c.err
		case <-c.lead:
		}
	} else {
		b.running = true
		b.mu.Unlock()
	}
	b.lead(ctx)
	<-c.done
	return c.out, c.err
}

// lead sends one batch (which contains the caller's own call: it is the
// oldest pending one) and then passes leadership on.
func (b *batcher[In, Out]) lead(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.pending), b.max)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	b.mu.Unlock()

	in := make([]In, len(batch))
	for i, c := range batch {
		in[i] = c.in
	}
	// The batch carries other callers' work: the leader's cancellation must
	// not fail it, but it stays bounded.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opTimeout)
	out, err := b.send(octx, in)
	cancel()
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.out = out[i]
		}
		close(c.done)
	}

	b.mu.Lock()
	if len(b.pending) > 0 {
		close(b.pending[0].lead)
	} else {
		b.running = false
	}
	b.mu.Unlock()
}
