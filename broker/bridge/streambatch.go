package bridge

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxStreamBatch bounds the XADDs of one pipeline.
const maxStreamBatch = 512

// streamAdd is one XADD waiting for its batch.
type streamAdd struct {
	values []any
	id     string
	err    error
	done   chan struct{}
}

// streamBatcher writes the client events routed ViaStream with group
// commit: every XADD that arrives while a pipeline is in flight goes out
// in the next one, so a node's stream throughput is bounded by Redis and
// its CPU, not by one round trip per event. One flusher goroutine exists
// while XADDs wait and exits when none do. The adds of one socket are
// submitted one at a time by its worker, and a batch keeps submission
// order, so a socket's entries stay in the order it sent them.
type streamBatcher struct {
	b       *Bridge
	mu      sync.Mutex
	pending []*streamAdd
	running bool // a flusher owns the queue
}

// add queues one XADD of values and waits for its entry id, for at most
// ctx. An add abandoned by ctx may still be written (delivery is at least
// once).
func (q *streamBatcher) add(ctx context.Context, values []any) (string, error) {
	r := &streamAdd{values: values, done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, r)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start && !q.b.goroutine(&q.b.workers, q.flush) {
		q.fail(ErrClosed)
	}
	select {
	case <-r.done:
		return r.id, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// flush sends pipelines until no XADD waits.
func (q *streamBatcher) flush() {
	for {
		q.mu.Lock()
		batch := q.pending
		if len(batch) > maxStreamBatch {
			batch = batch[:maxStreamBatch:maxStreamBatch]
		}
		q.pending = q.pending[len(batch):]
		if len(batch) == 0 {
			q.pending, q.running = nil, false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		q.write(batch)
	}
}

func (q *streamBatcher) write(batch []*streamAdd) {
	cfg := &q.b.cfg
	ctx, cancel := q.b.callCtx(context.Background())
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, cfg.Timeout)
	defer cancelT()
	pipe := q.b.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(batch))
	for i, r := range batch {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: cfg.Stream.Key, MaxLen: cfg.Stream.MaxLen, Approx: true, Values: r.values})
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, r := range batch {
		r.id, r.err = cmds[i].Result()
		close(r.done)
	}
}

// fail ends every waiting XADD with err (no flusher could start).
func (q *streamBatcher) fail(err error) {
	q.mu.Lock()
	batch := q.pending
	q.pending, q.running = nil, false
	q.mu.Unlock()
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}
