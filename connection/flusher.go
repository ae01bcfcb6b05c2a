package connection

import (
	"runtime"
	"sync"
)

// flusher is the write side of the epoll path: a FIFO of sessions that have
// something to write (the ready queue) drained by a small fixed pool of
// workers (GOMAXPROCS of them). A session is on the queue at most once:
// session.flushing is set when it is pushed and stays set while a worker
// writes it or while it waits for EPOLLOUT, so each websocket still has
// exactly one writer. A worker coalesces everything the session has queued
// into one non-blocking writev; on EAGAIN the remainder stays with the
// session, EPOLLOUT is armed, and the writable event pushes the session
// back (poller_linux.go). No worker ever blocks on one socket, and a
// broadcast to N idle websockets costs N pushes, not N goroutines.
//
// The portable and TLS paths (no pollConn) keep a flush goroutine with a
// blocking write bounded by Config.WriteTimeout (session.flush).
type flusher struct {
	mu      sync.Mutex
	cond    sync.Cond
	ready   []*session // FIFO from head
	head    int
	waiting int // workers parked in cond.Wait
	stopped bool

	goroutines tracker
}

// flusherBatch is how many sessions a worker takes per lock acquisition: it
// amortises the lock while letting the other workers share a long queue.
const flusherBatch = 32

// maxReadyKept is the largest ready-queue array kept between bursts
// (512 KiB): a broadcast to tens of thousands of sockets then reuses it
// instead of regrowing it each time.
const maxReadyKept = 1 << 16

func newFlusher(workers int) *flusher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	f := &flusher{}
	f.cond.L = &f.mu
	for range workers {
		f.goroutines.add()
		go func() { defer f.goroutines.done(); f.worker() }()
	}
	return f
}

// push appends s to the ready queue. The caller owns s's writes (it set
// s.flushing, or resumes a parked write). Never blocks on I/O; safe for
// concurrent use. After stop the flush runs on a goroutine of its own (the
// fds are closed by then, so it ends at once; the caller may hold a
// close in progress).
func (f *flusher) push(s *session) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		go s.flushStep(nil)
		return
	}
	f.ready = append(f.ready, s)
	if f.waiting > 0 {
		f.cond.Signal()
	}
	f.mu.Unlock()
}

// queued is the number of sessions waiting for a worker.
func (f *flusher) queued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ready) - f.head
}

func (f *flusher) worker() {
	var batch [flusherBatch]*session
	var w flushScratch
	for {
		f.mu.Lock()
		for f.head == len(f.ready) && !f.stopped {
			f.waiting++
			f.cond.Wait()
			f.waiting--
		}
		if f.head == len(f.ready) { // stopped and drained
			f.mu.Unlock()
			return
		}
		n := copy(batch[:], f.ready[f.head:])
		clear(f.ready[f.head : f.head+n])
		f.head += n
		if f.head == len(f.ready) {
			if cap(f.ready) > maxReadyKept {
				f.ready = nil // an outsized burst's array is not kept forever
			} else {
				f.ready = f.ready[:0]
			}
			f.head = 0
		} else if f.waiting > 0 {
			f.cond.Signal() // more work: wake a sibling
		}
		f.mu.Unlock()
		for i := range n {
			batch[i].flushStep(&w)
			batch[i] = nil
		}
	}
}

// stop lets the workers exit once the queue is empty. Pushes after stop
// run inline.
func (f *flusher) stop() {
	f.mu.Lock()
	f.stopped = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// flushScratch is a worker's reusable iovec list, so a flush allocates
// nothing unless the socket pushes back (EAGAIN).
type flushScratch struct {
	frames [][]byte
}
