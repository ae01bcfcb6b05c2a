package bench

import (
	"context"
	"time"
)

// runIdle opens the sockets, holds them and reports what holding cost.
func runIdle(ctx context.Context, r *runner, probe *serverProbe, prog func(func() string) *progress) *Report {
	cfg := r.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	began := time.Now()
	clientBefore := clientMem()
	p := prog(r.progressLine("idle", began, nil))
	ramp := r.ramp(ctx, cfg.Clients, func(s *sock) { r.start(s, true, nil) })
	r.windowStart(probe)
	hold := time.NewTimer(cfg.Hold)
	select {
	case <-ctx.Done():
	case <-hold.C:
	}
	hold.Stop()
	open := r.open.Load()
	server := r.windowEnd(probe, open)
	clientAfter := clientMem()
	routines := goroutines()
	p.close()
	r.closeAll()

	rep := r.baseReport(began, ramp)
	rep.Server = server
	rep.Client = clientStats(clientBefore, clientAfter, open, routines)
	return rep
}

func clientStats(before, after memSample, sockets int64, routines int) ClientStats {
	c := ClientStats{RSSBeforeBytes: before.rss, RSSAfterBytes: after.rss, Goroutines: routines,
		GoMemBeforeBytes: before.goMem, GoMemAfterBytes: after.goMem}
	if sockets > 0 {
		if after.rss > 0 {
			c.RSSPerSocketBytes = float64(after.rss-before.rss) / float64(sockets)
		}
		c.GoMemPerSocketBytes = float64(after.goMem-before.goMem) / float64(sockets)
	}
	return c
}
