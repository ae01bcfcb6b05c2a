package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runChurn starts connect → hold → disconnect cycles at --rate per second
// for --duration, never with more than --concurrency sockets in flight.
func runChurn(ctx context.Context, r *runner, probe *serverProbe, prog func(func() string) *progress) *Report {
	cfg := r.cfg
	cycleHist := NewHistogram()
	var cycles, saturated atomic.Int64
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	began := time.Now()
	clientBefore := clientMem()
	p := prog(r.progressLine("churn", began, func() string {
		return fmt.Sprintf("cycles %d", cycles.Load())
	}))
	r.windowStart(probe)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	i := 0
loop:
	for ; ; i++ {
		if d := time.Until(began.Add(time.Duration(i) * interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-runCtx.Done():
				t.Stop()
				break loop
			case <-t.C:
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			saturated.Add(1)
			select {
			case sem <- struct{}{}:
			case <-runCtx.Done():
				break loop
			}
		}
		if runCtx.Err() != nil {
			<-sem
			break
		}
		idx := int(r.dialSeq.Add(1) - 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			// Dials use the parent ctx so a cycle in flight at the end completes.
			s, err := r.dial(ctx, idx)
			if err != nil {
				return
			}
			ended := make(chan struct{})
			r.start(s, false, func(*sock, error) { close(ended) })
			if cfg.Hold > 0 {
				t := time.NewTimer(cfg.Hold)
				select {
				case <-t.C:
				case <-ended:
				case <-ctx.Done():
				}
				t.Stop()
			}
			s.close()
			<-ended
			cycleHist.Record(time.Since(start))
			cycles.Add(1)
		}()
	}
	window := time.Since(began)
	wg.Wait() // each cycle is bounded by --timeout + --hold
	server := r.windowEnd(probe, r.open.Load())
	clientAfter := clientMem()
	p.close()
	r.closeAll()

	rep := r.baseReport(began, window)
	rep.Sockets.Target = int64(r.dialSeq.Load()) // cycles started
	rep.Server = server
	rep.Client = clientStats(clientBefore, clientAfter, 0, goroutines())
	rep.Churn = &ChurnStats{Cycles: cycles.Load(), Saturated: saturated.Load(), WindowS: window.Seconds(),
		Cycle: cycleHist.Summary()}
	if window > 0 {
		rep.Churn.CyclesPerS = float64(rep.Churn.Cycles) / window.Seconds()
	}
	return rep
}
