package connection

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// needFlusher skips tests of the epoll write path where it is not used.
func needFlusher(t *testing.T, x *testServer) {
	t.Helper()
	if x.srv.flusher == nil {
		t.Skip("no epoll poller: websockets are written by flush goroutines")
	}
}

// TestFlusherCoalesces: everything a session queued before its worker ran
// leaves in one write, in order.
func TestFlusherCoalesces(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{}, h)
	needFlusher(t, x)
	c, sid := x.openWS()
	s := h.conn(sid).(*session)
	waitFor(t, "idle", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.flushing && len(s.queue) == 0
	})
	// Hold the write as if the session were waiting on the ready queue.
	s.mu.Lock()
	s.flushing = true
	s.mu.Unlock()
	const n = 50
	for i := range n {
		if err := s.Send(NewMessage(false, fmt.Appendf(nil, "m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	before := x.srv.Stats().FlushWrites
	x.srv.goroutines.add()
	x.srv.flusher.push(s)
	for i := range n {
		c.expect(fmt.Sprintf("4m%d", i))
	}
	waitFor(t, "flush done", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.flushing
	})
	if w := x.srv.Stats().FlushWrites - before; w != 1 {
		t.Fatalf("%d frames took %d writes, want 1", n, w)
	}
}

// TestFlusherEAGAINDoesNotBlockOthers: sockets whose peers stop reading
// park on EPOLLOUT (more of them than flusher workers) while a healthy
// socket keeps getting its messages at once; once the stalled peers read,
// their parked remainders and later frames arrive complete and in order.
func TestFlusherEAGAINDoesNotBlockOthers(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{MaxQueueBytes: 32 << 20, WriteTimeout: time.Minute}, h)
	needFlusher(t, x)
	const stalled, n, size = 8, 256, 32 << 10
	type peer struct {
		c *wsClient
		s *session
	}
	var peers []peer
	for range stalled {
		c, sid := x.openWS()
		peers = append(peers, peer{c, h.conn(sid).(*session)})
	}
	for _, p := range peers {
		for i := range n {
			b := make([]byte, size)
			binary.BigEndian.PutUint32(b, uint32(i))
			if err := p.s.Send(NewMessage(true, b)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
	}
	waitFor(t, "parked writes", func() bool { return x.srv.Stats().WritesBlocked >= stalled })

	healthy, sid := x.openWS()
	hs := h.conn(sid)
	for i := range 20 {
		start := time.Now()
		if err := hs.Send(NewMessage(false, fmt.Appendf(nil, "h%d", i))); err != nil {
			t.Fatal(err)
		}
		healthy.expect(fmt.Sprintf("4h%d", i))
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("healthy socket waited %v behind stalled ones", d)
		}
	}
	for _, p := range peers {
		s := p.s
		s.mu.Lock()
		bound := s.queueBytes + s.inflight
		s.mu.Unlock()
		if bound > x.srv.cfg.MaxQueueBytes {
			t.Fatalf("queued+in flight %d over the bound", bound)
		}
	}
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			for i := range n {
				op, b := p.c.read()
				if op != ws.OpBinary || len(b) != size || binary.BigEndian.Uint32([]byte(b)) != uint32(i) {
					t.Errorf("message %d: op %v len %d", i, op, len(b))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFlusherWriteTimeout: a parked write whose peer never reads ends the
// session (transport error) after WriteTimeout, and releases its queue.
func TestFlusherWriteTimeout(t *testing.T) {
	h := newRecorder()
	x := newTestServer(t, Config{MaxQueueBytes: 64 << 20, WriteTimeout: 300 * time.Millisecond}, h)
	needFlusher(t, x)
	_, sid := x.openWS()
	conn := h.conn(sid)
	for range 512 {
		if err := conn.Send(NewMessage(true, make([]byte, 64<<10))); err != nil {
			break
		}
	}
	if r := h.waitCloseSid(t, sid); r != CloseTransportError {
		t.Fatalf("reason %v", r)
	}
	s := conn.(*session)
	waitFor(t, "released", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.state == stateClosed && !s.flushing && s.queueBytes == 0 && s.inflight == 0
	})
}

// TestSlowConsumersBounded: many peers stop reading while broadcasts go
// on: each is closed as a slow consumer once its queue passes the bound
// (queued plus in flight never exceeds it), and the peers that read get
// every broadcast and stay connected.
func TestSlowConsumersBounded(t *testing.T) {
	h := newRecorder()
	const maxQueue = 256 << 10
	x := newTestServer(t, Config{MaxQueueBytes: maxQueue, WriteTimeout: 30 * time.Second}, h)
	// Loopback kernel buffers absorb ~4 MiB per stalled peer before
	// writes block, so each round sends 16 KiB (8 MiB in all).
	slowN, fastN := 100, 20
	if testing.Short() || raceEnabled {
		slowN = 30
	}
	var slow []*session
	for range slowN {
		_, sid := x.openWS()
		slow = append(slow, h.conn(sid).(*session))
	}
	type reader struct {
		got  atomic.Int64
		done chan struct{}
	}
	var fast []*session
	var readers []*reader
	const rounds, size = 500, 16 << 10
	for range fastN {
		c, sid := x.openWS()
		fast = append(fast, h.conn(sid).(*session))
		r := &reader{done: make(chan struct{})}
		readers = append(readers, r)
		go func() {
			defer close(r.done)
			for r.got.Load() < rounds {
				_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				hd, err := ws.ReadHeader(c.br)
				if err != nil {
					t.Logf("reader: %v", err)
					return
				}
				if _, err := io.CopyN(io.Discard, c.br, hd.Length); err != nil {
					t.Logf("reader: %v", err)
					return
				}
				if hd.OpCode == ws.OpBinary {
					r.got.Add(1)
				}
			}
		}()
	}
	all := append(append([]*session(nil), slow...), fast...)
	payload := make([]byte, size)
	for i := range rounds {
		// Pace on the readers (within 4 messages, well under the bound),
		// as healthy clients keep up with a broadcaster; the stalled ones
		// fall behind.
		waitFor(t, "readers", func() bool {
			for _, r := range readers {
				if r.got.Load() < int64(i-4) {
					select {
					case <-r.done:
						return true // failed; reported below
					default:
					}
					return false
				}
			}
			return true
		})
		m := NewMessage(true, payload)
		for _, s := range all {
			_ = s.Send(m)
		}
		if i%50 == 0 {
			for _, s := range slow {
				s.mu.Lock()
				q := s.queueBytes + s.inflight
				s.mu.Unlock()
				if q > maxQueue {
					t.Fatalf("slow session holds %d bytes, bound %d", q, maxQueue)
				}
			}
		}
	}
	for _, s := range slow {
		if r := h.waitClose(t, s); r != CloseSlowConsumer {
			t.Fatalf("slow session closed with %v", r)
		}
	}
	for i, r := range readers {
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("reader %d stuck at %d/%d", i, r.got.Load(), rounds)
		}
		if got := r.got.Load(); got != rounds {
			rs, _ := h.closeReason(fast[i].id)
			t.Fatalf("reader %d got %d/%d (session closed: %v)", i, got, rounds, rs)
		}
	}
	for _, s := range fast {
		if _, closed := h.closeReason(s.id); closed {
			t.Fatal("a reading peer was closed")
		}
	}
	if st := x.srv.Stats(); st.SlowConsumers != uint64(slowN) {
		t.Fatalf("SlowConsumers %d, want %d", st.SlowConsumers, slowN)
	}
}

// TestManySocketsHeartbeat: a few thousand websockets answering pings over
// several heartbeat periods while broadcasts flow: no spurious disconnect.
func TestManySocketsHeartbeat(t *testing.T) {
	n := 2000
	if testing.Short() || raceEnabled {
		n = 1000
	}
	h := newRecorder()
	interval, timeout := 400*time.Millisecond, time.Second
	x := newTestServer(t, Config{PingInterval: interval, PingTimeout: timeout}, h)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var pings atomic.Int64
	conns := make([]net.Conn, 0, n)
	addr := "ws" + strings.TrimPrefix(x.base, "http") + "?EIO=4&transport=websocket"
	for i := range n {
		conn, br, _, err := ws.Dialer{}.Dial(ctx, addr)
		if errors.Is(err, syscall.EMFILE) {
			cancel()
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
			t.Skipf("file descriptor limit reached at %d sockets", i)
		}
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if br == nil {
			br = bufio.NewReader(conn)
		}
		conns = append(conns, conn)
		wg.Go(func() {
			r := wsutil.NewClientSideReader(struct {
				io.Reader
				io.Writer
			}{br, conn})
			for {
				hd, err := r.NextFrame()
				if err != nil {
					return
				}
				b, err := io.ReadAll(r)
				if err != nil {
					return
				}
				if hd.OpCode == ws.OpText && string(b) == "2" {
					pings.Add(1)
					if wsutil.WriteClientMessage(conn, ws.OpText, []byte("3")) != nil {
						return
					}
				}
			}
		})
	}
	waitFor(t, "all open", func() bool { return x.srv.Len() == n })
	deadline := time.Now().Add(8 * interval)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		opened := append([]Conn(nil), h.opened...)
		h.mu.Unlock()
		m := NewMessage(false, []byte("tick"))
		for _, c := range opened {
			_ = c.Send(m)
		}
		time.Sleep(interval / 3)
	}
	st := x.srv.Stats()
	closed := uint64(0)
	for _, v := range st.SessionsClosed {
		closed += v
	}
	if closed != 0 || x.srv.Len() != n {
		t.Fatalf("spurious disconnects: %d closed (%v), %d open of %d", closed, st.SessionsClosed, x.srv.Len(), n)
	}
	t.Logf("%d sockets, %d pings answered", n, pings.Load())
	if p := pings.Load(); p < int64(3*n) {
		t.Fatalf("only %d pings answered for %d sockets", p, n)
	}
	cancel()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}
