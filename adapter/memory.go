package adapter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrStarted is returned by Start when the adapter was already started.
var ErrStarted = errors.New("adapter: already started")

// MemoryBus connects several in-process nodes. It is the single-node
// default (NewMemory) and the multi-node fixture of tests.
//
// Each node has one delivery goroutine and an unbounded FIFO queue, so a
// publisher never blocks on a slow handler; the queue length is visible
// in MemoryStats. Handlers are never called while a bus or node lock is
// held.
type MemoryBus struct {
	mu       sync.Mutex
	nodes    map[string]*Memory
	order    []*Memory // creation order, for deterministic fan-out
	requests map[*memoryRequest]struct{}
}

// NewMemoryBus returns an empty bus.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{
		nodes:    make(map[string]*Memory),
		requests: make(map[*memoryRequest]struct{}),
	}
}

// NewMemory returns the adapter of a single-node deployment: Publish is a
// no-op and Request returns nil at once, since there is no other node.
func NewMemory() *Memory {
	return NewMemoryBus().Node("memory")
}

// Node returns the node called id, creating it on first use. A node that
// was closed is replaced by a fresh one.
func (b *MemoryBus) Node(id string) *Memory {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.nodes[id]; ok && !m.closed.Load() {
		return m
	}
	m := &Memory{bus: b, id: id, wake: make(chan struct{}, 1), done: make(chan struct{}), closing: make(chan struct{})}
	b.nodes[id] = m
	b.order = append(b.order, m)
	return m
}

// others returns the started, unclosed nodes other than self.
func (b *MemoryBus) others(self *Memory) []*Memory {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*Memory, 0, len(b.order))
	for _, m := range b.order {
		if m != self && m.started.Load() && !m.closed.Load() {
			out = append(out, m)
		}
	}
	return out
}

func (b *MemoryBus) remove(m *Memory) []*memoryRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nodes[m.id] == m {
		delete(b.nodes, m.id)
	}
	for i, n := range b.order {
		if n == m {
			b.order = append(b.order[:i:i], b.order[i+1:]...)
			break
		}
	}
	reqs := make([]*memoryRequest, 0, len(b.requests))
	for r := range b.requests {
		reqs = append(reqs, r)
	}
	return reqs
}

// Memory is one node of a MemoryBus. It implements Adapter and
// ServerCounter and is safe for concurrent use.
//
// Messages and requests are delivered by reference: every receiving node
// sees the same slices, which handlers must treat as read-only.
type Memory struct {
	bus *MemoryBus
	id  string

	starting atomic.Bool
	started  atomic.Bool
	closed   atomic.Bool
	handler  Handler
	ctx      context.Context // handed to the handler; cancelled by Close
	cancel   context.CancelFunc

	qmu   sync.Mutex
	queue []func() // pending deliveries, FIFO
	wake  chan struct{}
	done  chan struct{} // closed when the delivery goroutine exits

	closing chan struct{} // closed by Close; ends this node's own Requests

	delivered atomic.Uint64
	queued    atomic.Int64 // enqueued, not yet delivered
	maxQueued atomic.Int64
}

// MemoryStats are counters of one memory node.
type MemoryStats struct {
	Delivered uint64 // messages and requests handed to the handler
	Queued    int    // deliveries waiting now
	MaxQueued int    // high-water mark of Queued
}

var (
	_ Adapter       = (*Memory)(nil)
	_ ServerCounter = (*Memory)(nil)
)

// ID returns the node id, which is the Origin of what it publishes.
func (m *Memory) ID() string { return m.id }

// Start begins delivering to h. It never blocks.
func (m *Memory) Start(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("adapter: nil handler")
	}
	if m.closed.Load() {
		return ErrClosed
	}
	if !m.starting.CompareAndSwap(false, true) {
		return ErrStarted
	}
	m.handler = h
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go m.deliverLoop()
	m.started.Store(true)
	return nil
}

// Publish queues m for every other started node and returns at once.
func (m *Memory) Publish(ctx context.Context, msg Message) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if msg.Opts.Local {
		return nil
	}
	msg.Origin = m.id
	for _, n := range m.bus.others(m) {
		n.enqueue(func() { n.handler.HandleMessage(n.ctx, msg) })
	}
	return nil
}

// Request fans r out to every other started node; see Adapter.Request.
func (m *Memory) Request(ctx context.Context, r Request, onReply func(Reply)) error {
	if m.closed.Load() {
		return ErrClosed
	}
	r.Origin = m.id
	peers := m.bus.others(m)
	if len(peers) == 0 {
		return nil
	}
	req := &memoryRequest{kind: r.Kind, wake: make(chan struct{}, 1), nodes: make(map[string]*memoryPending, len(peers))}
	for _, p := range peers {
		req.nodes[p.id] = &memoryPending{acks: -1}
	}
	m.bus.mu.Lock()
	m.bus.requests[req] = struct{}{}
	m.bus.mu.Unlock()
	for _, p := range peers {
		if p.closed.Load() { // closed before the request was registered
			req.gone(p.id)
		}
	}
	defer func() {
		m.bus.mu.Lock()
		delete(m.bus.requests, req)
		m.bus.mu.Unlock()
		req.finish()
	}()
	for _, p := range peers {
		p := p
		p.enqueue(func() {
			p.handler.HandleRequest(p.ctx, r, func(rep Reply) { req.add(p.id, rep) })
		})
	}
	for {
		replies, complete := req.take()
		for _, rep := range replies {
			if onReply != nil {
				onReply(rep)
			}
		}
		if complete {
			return nil
		}
		select {
		case <-req.wake:
		case <-ctx.Done():
			return ErrTimeout
		case <-m.closing:
			return ErrClosed
		}
	}
}

// ServerCount returns the number of unclosed nodes of the bus (at least
// one: this node).
func (m *Memory) ServerCount(ctx context.Context) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	return len(m.bus.others(m)) + 1, nil
}

// Stats returns the node's counters.
func (m *Memory) Stats() MemoryStats {
	return MemoryStats{Delivered: m.delivered.Load(), Queued: int(m.queued.Load()), MaxQueued: int(m.maxQueued.Load())}
}

// Close stops delivery; queued deliveries are dropped and requests
// waiting on this node stop waiting for it. It waits for a running
// handler call to return, or for ctx. Idempotent.
func (m *Memory) Close(ctx context.Context) error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(m.closing)
	for _, r := range m.bus.remove(m) {
		r.gone(m.id)
	}
	if !m.started.Load() {
		return nil
	}
	m.cancel()
	m.qmu.Lock()
	m.queued.Add(-int64(len(m.queue)))
	m.queue = nil
	m.qmu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Memory) enqueue(f func()) {
	m.qmu.Lock()
	if m.closed.Load() {
		m.qmu.Unlock()
		return
	}
	m.queue = append(m.queue, f)
	if n := m.queued.Add(1); n > m.maxQueued.Load() {
		m.maxQueued.Store(n)
	}
	m.qmu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Memory) deliverLoop() {
	defer close(m.done)
	var batch []func()
	for {
		m.qmu.Lock()
		batch, m.queue = m.queue, batch[:0]
		m.qmu.Unlock()
		for i, f := range batch {
			if m.closed.Load() {
				return
			}
			f()
			batch[i] = nil
			m.queued.Add(-1)
			m.delivered.Add(1)
		}
		if m.closed.Load() {
			return
		}
		if len(batch) == 0 {
			<-m.wake
		}
	}
}

// memoryRequest collects the replies of one Request.
type memoryRequest struct {
	kind RequestKind
	wake chan struct{}

	mu       sync.Mutex
	finished bool
	pending  []Reply
	nodes    map[string]*memoryPending
}

type memoryPending struct {
	answered bool
	acks     int // acks still expected (RequestBroadcastAck); -1 before the count
}

func (r *memoryRequest) add(from string, rep Reply) {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return
	}
	rep.From = from
	if p := r.nodes[from]; p != nil {
		switch {
		case r.kind != RequestBroadcastAck:
			if p.answered {
				r.mu.Unlock()
				return // one reply per node
			}
			p.answered = true
		case p.acks < 0:
			p.acks = rep.ClientCount
			p.answered = p.acks <= 0
		default:
			p.acks--
			p.answered = p.acks <= 0
		}
	}
	r.pending = append(r.pending, rep)
	r.mu.Unlock()
	r.signal()
}

func (r *memoryRequest) gone(id string) {
	r.mu.Lock()
	if p := r.nodes[id]; p != nil {
		p.answered = true
	}
	r.mu.Unlock()
	r.signal()
}

func (r *memoryRequest) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take returns the replies received so far and whether every node has
// answered completely.
func (r *memoryRequest) take() ([]Reply, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.pending
	r.pending = nil
	for _, p := range r.nodes {
		if !p.answered {
			return out, false
		}
	}
	return out, true
}

func (r *memoryRequest) finish() {
	r.mu.Lock()
	r.finished = true
	r.pending = nil
	r.mu.Unlock()
}
