package broker

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionbus/ionbus/connection"
)

// countConn is a connection.Conn that only counts what it is sent, so a
// benchmark measures the broker's fan-out and not a recorder.
type countConn struct {
	id    string
	sent  atomic.Int64
	value any
}

func (c *countConn) ID() string         { return c.id }
func (c *countConn) RemoteAddr() string { return "127.0.0.1:5555" }
func (c *countConn) Transport() string  { return "websocket" }
func (c *countConn) SetValue(v any)     { c.value = v }
func (c *countConn) Do(fn func()) bool  { fn(); return true }
func (c *countConn) Value() any         { return c.value }
func (c *countConn) Close(connection.CloseReason) error {
	return nil
}
func (c *countConn) Send(msgs ...*connection.Message) error {
	c.sent.Add(int64(len(msgs)))
	return nil
}

// BenchmarkBroadcastFanout: one Emit to a room of N local sockets. The
// packet is encoded once and the same *connection.Message is handed to
// every socket: allocations per op must not grow with N (the only
// N-sized one is the target list).
func BenchmarkBroadcastFanout(b *testing.B) {
	for _, n := range []int{100, 1000, 19000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			nsp := srv.Of("/")
			nsp.OnConnection(func(s *Socket) { s.Join("bench") })
			req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			conns := make([]*countConn, n)
			for i := range conns {
				c := &countConn{id: fmt.Sprintf("sid%07d", i)}
				conns[i] = c
				hs := connection.NewHandshake(req, "websocket", time.Now())
				if err := (*engineHandler)(srv).OnOpen(c, hs); err != nil {
					b.Fatal(err)
				}
				(*engineHandler)(srv).OnMessage(c, connection.Message{Data: []byte("0")})
			}
			room := nsp.To("bench")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := room.Emit("tick", 42); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got := conns[n-1].sent.Load(); got < int64(b.N) {
				b.Fatalf("last socket got %d messages for %d broadcasts", got, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
		})
	}
}
