package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// echoState is one sender. In the closed loop (default) the read goroutine
// answers an ack by sending the next emit, so a sender costs no extra
// goroutine; in the open loop (--echo-rate) one dispatcher emits on a
// schedule, round-robin over the senders.
type echoState struct {
	mu     sync.Mutex
	nextID int64
	sentAt map[int64]int64 // ack id → unix ns, at most --inflight entries
}

type echo struct {
	cfg      *config
	hist     *Histogram
	payload  []byte
	stop     atomic.Bool
	acks     atomic.Int64 // within the window
	errors   atomic.Int64
	skipped  atomic.Int64 // open loop: emits not sent because the socket had --inflight outstanding
	outTotal atomic.Int64
}

// send emits once unless the socket already has --inflight acks outstanding.
func (e *echo) send(s *sock, st *echoState) bool {
	st.mu.Lock()
	if len(st.sentAt) >= e.cfg.Inflight {
		st.mu.Unlock()
		return false
	}
	id := st.nextID
	st.nextID++
	st.sentAt[id] = time.Now().UnixNano()
	st.mu.Unlock()
	e.outTotal.Add(1)
	if err := s.emit(e.cfg.EchoEvent, id, e.payload); err != nil {
		e.errors.Add(1)
	}
	return true
}

func (e *echo) onPacket(s *sock, p sioPacket, now time.Time) {
	if p.Type != sioAck || p.ID < 0 {
		return
	}
	st := s.state.(*echoState)
	st.mu.Lock()
	sent, ok := st.sentAt[p.ID]
	delete(st.sentAt, p.ID)
	st.mu.Unlock()
	if !ok {
		return // not ours, or a duplicate ack
	}
	e.outTotal.Add(-1)
	e.hist.Record(time.Duration(now.UnixNano() - sent))
	if e.stop.Load() {
		return
	}
	e.acks.Add(1)
	if e.cfg.EchoRate == 0 {
		e.send(s, st)
	}
}

// openLoop emits at --echo-rate per second until stop, spreading emits
// round-robin over the senders; late ticks catch up in a batch.
func (e *echo) openLoop(ctx context.Context, senders []*sock, d time.Duration) {
	start := time.Now()
	var sent int64
	next := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= d || ctx.Err() != nil || len(senders) == 0 {
			return
		}
		due := int64(e.cfg.EchoRate*elapsed.Seconds()) - sent
		for ; due > 0; due-- {
			s := senders[next%len(senders)]
			next++
			sent++
			if !e.send(s, s.state.(*echoState)) {
				e.skipped.Add(1)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func runEcho(ctx context.Context, r *runner, probe *serverProbe, prog func(func() string) *progress) *Report {
	cfg := r.cfg
	e := &echo{cfg: cfg, hist: NewHistogram(),
		payload: []byte(`"` + strings.Repeat("x", cfg.PayloadSize) + `"`)}
	var mu sync.Mutex
	var senders []*sock
	began := time.Now()
	clientBefore := clientMem()
	p := prog(r.progressLine("echo", began, func() string {
		return fmt.Sprintf("acks %d", e.acks.Load())
	}))
	rampCtx, cancelRamp := context.WithTimeout(ctx, cfg.Duration+time.Duration(float64(cfg.Clients)/cfg.Rate*float64(time.Second))+cfg.Timeout)
	ramp := r.ramp(rampCtx, cfg.Clients, func(s *sock) {
		s.state = &echoState{sentAt: make(map[int64]int64, cfg.Inflight)}
		s.onPacket = e.onPacket
		r.start(s, true, nil)
		mu.Lock()
		senders = append(senders, s)
		mu.Unlock()
	})
	cancelRamp()
	r.windowStart(probe)
	start := time.Now()
	if cfg.EchoRate > 0 {
		e.openLoop(ctx, senders, cfg.Duration)
	} else {
		for _, s := range senders {
			for k := 0; k < cfg.Inflight; k++ {
				e.send(s, s.state.(*echoState))
			}
		}
		t := time.NewTimer(cfg.Duration)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	e.stop.Store(true)
	window := time.Since(start)
	acks := e.acks.Load()
	// Let in-flight acks land (bounded) so they are not miscounted as lost.
	for end := time.Now().Add(cfg.Timeout); time.Now().Before(end) && e.outTotal.Load() > 0; {
		time.Sleep(10 * time.Millisecond)
	}
	open := r.open.Load()
	server := r.windowEnd(probe, open)
	clientAfter := clientMem()
	routines := goroutines()
	p.close()
	r.closeAll()

	rep := r.baseReport(began, ramp)
	rep.Server = server
	rep.Client = clientStats(clientBefore, clientAfter, open, routines)
	rep.Echo = &EchoStats{
		Acks:     acks,
		Timeouts: e.outTotal.Load(),
		Errors:   e.errors.Load(),
		Skipped:  e.skipped.Load(),
		WindowS:  window.Seconds(),
		RTT:      e.hist.Summary(),
	}
	if window > 0 {
		rep.Echo.AcksPerS = float64(acks) / window.Seconds()
	}
	return rep
}

func goroutines() int { return runtime.NumGoroutine() }
