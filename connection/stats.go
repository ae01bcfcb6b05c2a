package connection

import (
	"context"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of a Server's counters since New.
type Stats struct {
	SessionsOpened uint64
	// SessionsClosed counts closed sessions by CloseReason (index).
	SessionsClosed [closeReasonCount]uint64
	// HandshakeErrors counts refused requests (handshakes, and requests on
	// a session such as an overlapping GET) by Engine.IO error code (0..5);
	// index 6 counts handshakes refused during Shutdown.
	HandshakeErrors  [7]uint64
	SlowConsumers    uint64 // sessions closed because their queue overflowed
	VolatileDrops    uint64 // volatile messages dropped on congested sessions
	ParseErrors      uint64 // malformed packets, payloads or frames
	Upgrades         uint64 // completed polling -> websocket upgrades
	UpgradesFailed   uint64 // probes that never completed
	MessagesReceived uint64
	PollerAdopted    uint64 // websockets handed to the epoll loop
	PostsTooLarge    uint64 // polling POSTs refused with 413
	// PostsCut counts polling POSTs whose body could not be read: slower
	// than Config.BodyTimeout, cut by their session's close, or aborted.
	PostsCut      uint64
	HandlerPanics uint64 // recovered panics in Handler callbacks
	// PollsCompressed counts polling responses sent gzip- or
	// deflate-encoded; PollBytesSaved the body bytes that saved.
	PollsCompressed, PollBytesSaved uint64
	// FramesDeflated and FramesInflated count websocket messages sent and
	// received compressed (permessage-deflate).
	FramesDeflated, FramesInflated uint64
	// FlushWrites counts the writes (one writev each, IOV_MAX frames at
	// most) the flusher pool made to poller-owned websockets: with
	// coalescing it is below the number of frames sent.
	FlushWrites uint64
	// WritesBlocked counts flushes that found the socket full (EAGAIN) and
	// waited for EPOLLOUT with the remainder.
	WritesBlocked uint64
	Open          int // sessions open now
}

const closeReasonCount = int(CloseDoubleGet) + 1

type counters struct {
	opened, slow, volatile, parse, upgrades, upgradesFailed, received, adopted, tooLarge, panics atomic.Uint64
	slowBodies, compressed, compressedSaved, deflated, inflated                                  atomic.Uint64
	writes, writesBlocked                                                                        atomic.Uint64
	closed                                                                                       [closeReasonCount]atomic.Uint64
	handshakeErrors                                                                              [7]atomic.Uint64
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	c := &s.counters
	st := Stats{
		SessionsOpened:   c.opened.Load(),
		SlowConsumers:    c.slow.Load(),
		VolatileDrops:    c.volatile.Load(),
		ParseErrors:      c.parse.Load(),
		Upgrades:         c.upgrades.Load(),
		UpgradesFailed:   c.upgradesFailed.Load(),
		MessagesReceived: c.received.Load(),
		PollerAdopted:    c.adopted.Load(),
		PostsTooLarge:    c.tooLarge.Load(),
		PostsCut:         c.slowBodies.Load(),
		HandlerPanics:    c.panics.Load(),
		PollsCompressed:  c.compressed.Load(),
		PollBytesSaved:   c.compressedSaved.Load(),
		FramesDeflated:   c.deflated.Load(),
		FramesInflated:   c.inflated.Load(),
		FlushWrites:      c.writes.Load(),
		WritesBlocked:    c.writesBlocked.Load(),
		Open:             s.Len(),
	}
	for i := range c.closed {
		st.SessionsClosed[i] = c.closed[i].Load()
	}
	for i := range c.handshakeErrors {
		st.HandshakeErrors[i] = c.handshakeErrors[i].Load()
	}
	return st
}

// QueuedBytes is the sum over open sessions of the outbound bytes queued
// or being written (what Config.MaxQueueBytes bounds per session). It
// copies the session list under the server lock, then reads each
// session under its own lock: linear in the sessions, meant for scrape
// rate. Safe for concurrent use.
func (srv *Server) QueuedBytes() int64 {
	srv.mu.RLock()
	list := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.RUnlock()
	var total int64
	for _, s := range list {
		s.mu.Lock()
		total += int64(s.queueBytes + s.inflight)
		s.mu.Unlock()
	}
	return total
}

// tracker counts running things (goroutines, sessions awaiting OnClose) and
// lets Shutdown wait for zero under a context. Unlike sync.WaitGroup, add
// may race with wait.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil when nobody waits
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
	t.mu.Unlock()
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.zero == nil {
		t.zero = make(chan struct{})
	}
	ch := t.zero
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
