package connection

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func BenchmarkDecodePayload(b *testing.B) {
	body := []byte("42[\"chat\",{\"text\":\"" + strings.Repeat("x", 100) + "\"}]\x1e3\x1ebAQIDBAUGBwgJCg==")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = decodePayload(body, func(packet) error { return nil })
	}
}

func BenchmarkDecodePacket(b *testing.B) {
	p := []byte("42[\"chat\",{\"text\":\"" + strings.Repeat("x", 100) + "\"}]")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = decodePacket(p)
	}
}

// BenchmarkFanOutFrame: one message framed once and queued to N sessions.
func BenchmarkFanOutFrame(b *testing.B) {
	const n = 1000
	srv := newServer(Config{}.withDefaults(), newRecorder())
	sessions := make([]*session, n)
	for i := range sessions {
		sessions[i] = &session{srv: srv, hs: &Handshake{}, wheelSlot: -1, transport: transportPolling}
	}
	data := []byte("2[\"tick\",42]")
	b.ReportAllocs()
	for b.Loop() {
		m := NewMessage(false, data)
		for _, s := range sessions {
			_ = m.wsFrame()
			if err := s.Send(m); err != nil {
				b.Fatal(err)
			}
			s.mu.Lock()
			s.dropQueueLocked()
			s.mu.Unlock()
		}
	}
}

// BenchmarkBroadcastWebsocket: one message sent to N real loopback
// websockets (the epoll path: ready queue, flusher workers, one writev per
// session); an op ends when every client has read the frame. The frame is
// built once; allocations per op must not grow with N. Clients read raw
// bytes into fixed buffers so they allocate nothing.
func BenchmarkBroadcastWebsocket(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			h := newRecorder()
			srv, err := New(Config{}, h)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
				ts.CloseClientConnections()
				ts.Close()
			}()
			data := []byte(`2["tick",42]`)
			frameLen := len(NewMessage(false, data).wsFrame())
			var received atomic.Int64
			var wg sync.WaitGroup
			conns := make([]net.Conn, 0, n)
			for range n {
				conn, br, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/?EIO=4&transport=websocket")
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, conn)
				var r io.Reader = conn
				if br != nil {
					r = br
				}
				wg.Go(func() {
					// Skip the open packet, then count broadcast frames.
					hd, err := ws.ReadHeader(r)
					if err != nil {
						return
					}
					if _, err := io.CopyN(io.Discard, r, hd.Length); err != nil {
						return
					}
					buf := make([]byte, 64<<10)
					got := 0
					for {
						k, err := r.Read(buf)
						got += k
						for got >= frameLen {
							got -= frameLen
							received.Add(1)
						}
						if err != nil {
							return
						}
					}
				})
			}
			for srv.Len() < n {
				time.Sleep(time.Millisecond)
			}
			h.mu.Lock()
			opened := append([]Conn(nil), h.opened...)
			h.mu.Unlock()
			b.ReportAllocs()
			b.ResetTimer()
			want := int64(0)
			for b.Loop() {
				// One slice for all, as broker's deliver does: a variadic
				// call through the interface would allocate per call.
				msgs := []*Message{NewMessage(false, data)}
				for _, c := range opened {
					_ = c.Send(msgs...)
				}
				want += int64(n)
				for received.Load() < want {
					runtime.Gosched()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
		})
	}
}
