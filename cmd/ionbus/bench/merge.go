package bench

import (
	"fmt"
	"io"
	"time"
)

// runMerge combines the reports of shards that ran at the same time
// (--shard i/n) into one: counts add up, histograms merge bucket by bucket
// (exact, not an average of percentiles), fanout rounds merge by seq (the
// all-delivered time of a round is its last receive over all shards, which
// is sound because every shard measures against the same embedded send
// time and, on one machine, the same clock), and rates add up.
func runMerge(cfg *config, stdout, stderr io.Writer) int {
	var reps []*Report
	for _, path := range cfg.mergeFiles {
		r, err := readReportFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "ionbus bench merge: %v\n", err)
			return ExitUsage
		}
		reps = append(reps, r)
	}
	out, err := mergeReports(reps)
	if err != nil {
		fmt.Fprintf(stderr, "ionbus bench merge: %v\n", err)
		return ExitUsage
	}
	if err := checkMetrics(out.Mode, cfg.expect); err != nil {
		fmt.Fprintf(stderr, "ionbus bench merge: --expect: %v\n", err)
		return ExitUsage
	}
	out.finish(cfg.expect)
	return emit(out, cfg, stdout, stderr)
}

func mergeReports(reps []*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, fmt.Errorf("no reports")
	}
	out := &Report{Version: reportVersion, Mode: reps[0].Mode, StartedAt: reps[0].StartedAt, FinishedAt: reps[0].FinishedAt}
	connect := NewHistogram()
	var delivery, trig, rtt, cycle *Histogram
	var serverGrowth int64
	for _, r := range reps {
		if r.Mode != out.Mode {
			return nil, fmt.Errorf("cannot merge %s with %s reports", out.Mode, r.Mode)
		}
		out.Shards += max(r.Shards, 1)
		if r.StartedAt.Before(out.StartedAt) {
			out.StartedAt = r.StartedAt
		}
		if r.FinishedAt.After(out.FinishedAt) {
			out.FinishedAt = r.FinishedAt
		}
		s := &out.Sockets
		s.Target += r.Sockets.Target
		s.Connected += r.Sockets.Connected
		s.Failed += r.Sockets.Failed
		s.Dropped += r.Sockets.Dropped
		s.Polling += r.Sockets.Polling
		s.PeakOpen += r.Sockets.PeakOpen
		s.Pings += r.Sockets.Pings
		s.Packets += r.Sockets.Packets
		s.ConnectRate += r.Sockets.ConnectRate
		s.RampS = max(s.RampS, r.Sockets.RampS)
		s.Failures = addCounts(s.Failures, r.Sockets.Failures)
		s.Drops = addCounts(s.Drops, r.Sockets.Drops)
		connect.Merge(histogramFromSummary(r.Connect))
		out.Client.RSSBeforeBytes += r.Client.RSSBeforeBytes
		out.Client.RSSAfterBytes += r.Client.RSSAfterBytes
		out.Client.Goroutines += r.Client.Goroutines
		out.Client.GoMemBeforeBytes += r.Client.GoMemBeforeBytes
		out.Client.GoMemAfterBytes += r.Client.GoMemAfterBytes
		out.Client.CPUPercent += r.Client.CPUPercent
		if r.Server != nil {
			// Every shard samples the same server; keep the widest view.
			if out.Server == nil {
				sv := *r.Server
				out.Server = &sv
			}
			if r.Server.RSSGrowthBytes > serverGrowth {
				serverGrowth = r.Server.RSSGrowthBytes
				out.Server.RSSBeforeBytes = r.Server.RSSBeforeBytes
				out.Server.RSSAfterBytes = r.Server.RSSAfterBytes
				out.Server.RSSGrowthBytes = r.Server.RSSGrowthBytes
			}
			if r.Server.WindowS > out.Server.WindowS {
				out.Server.WindowS, out.Server.CPUSeconds, out.Server.CPUPercent =
					r.Server.WindowS, r.Server.CPUSeconds, r.Server.CPUPercent
			}
		}
		if f := r.Fanout; f != nil {
			if out.Fanout == nil {
				out.Fanout = &FanoutStats{Broadcasts: f.Broadcasts, Rounds: make([]Round, f.Broadcasts)}
				delivery, trig = NewHistogram(), NewHistogram()
			}
			o := out.Fanout
			if f.Broadcasts != o.Broadcasts {
				return nil, fmt.Errorf("fanout reports disagree on --broadcasts (%d vs %d)", o.Broadcasts, f.Broadcasts)
			}
			o.Receivers += f.Receivers
			o.Expected += f.Expected
			o.Deliveries += f.Deliveries
			o.Missing += f.Missing
			o.Duplicates += f.Duplicates
			o.Unexpected += f.Unexpected
			o.TriggerErrors += f.TriggerErrors
			delivery.Merge(histogramFromSummary(f.Delivery))
			trig.Merge(histogramFromSummary(f.Trigger))
			for i, rd := range f.Rounds {
				if i >= len(o.Rounds) {
					break
				}
				m := &o.Rounds[i]
				m.Seq = rd.Seq
				m.Delivered += rd.Delivered
				m.Expected += rd.Expected
				if rd.SentUnixNs > 0 && (m.SentUnixNs == 0 || rd.SentUnixNs < m.SentUnixNs) {
					m.SentUnixNs = rd.SentUnixNs
				}
				m.LastRecvUnixNs = max(m.LastRecvUnixNs, rd.LastRecvUnixNs)
			}
		}
		if e := r.Echo; e != nil {
			if out.Echo == nil {
				out.Echo = &EchoStats{}
				rtt = NewHistogram()
			}
			out.Echo.Acks += e.Acks
			out.Echo.Timeouts += e.Timeouts
			out.Echo.Errors += e.Errors
			out.Echo.Skipped += e.Skipped
			out.Echo.AcksPerS += e.AcksPerS
			out.Echo.WindowS = max(out.Echo.WindowS, e.WindowS)
			rtt.Merge(histogramFromSummary(e.RTT))
		}
		if c := r.Churn; c != nil {
			if out.Churn == nil {
				out.Churn = &ChurnStats{}
				cycle = NewHistogram()
			}
			out.Churn.Cycles += c.Cycles
			out.Churn.Saturated += c.Saturated
			out.Churn.CyclesPerS += c.CyclesPerS
			out.Churn.WindowS = max(out.Churn.WindowS, c.WindowS)
			cycle.Merge(histogramFromSummary(c.Cycle))
		}
	}
	out.ElapsedS = out.FinishedAt.Sub(out.StartedAt).Seconds()
	out.Connect = connect.Summary()
	if out.Server != nil && out.Sockets.Connected > 0 {
		out.Server.RSSPerSocketBytes = float64(out.Server.RSSGrowthBytes) / float64(out.Sockets.PeakOpen)
	}
	if n := out.Sockets.PeakOpen; n > 0 && out.Client.RSSAfterBytes > 0 {
		out.Client.RSSPerSocketBytes = float64(out.Client.RSSAfterBytes-out.Client.RSSBeforeBytes) / float64(n)
	}
	if n := out.Sockets.PeakOpen; n > 0 {
		out.Client.GoMemPerSocketBytes = float64(out.Client.GoMemAfterBytes-out.Client.GoMemBeforeBytes) / float64(n)
	}
	if o := out.Fanout; o != nil {
		o.Delivery = delivery.Summary()
		o.Trigger = trig.Summary()
		all := NewHistogram()
		for i := range o.Rounds {
			rd := &o.Rounds[i]
			if rd.Delivered > 0 && rd.SentUnixNs > 0 {
				d := time.Duration(rd.LastRecvUnixNs - rd.SentUnixNs)
				rd.AllDeliveredMS = ms(d)
				all.Record(d)
			}
		}
		o.AllDelivered = all.Summary()
		o.rates()
	}
	if out.Echo != nil {
		out.Echo.RTT = rtt.Summary()
	}
	if out.Churn != nil {
		out.Churn.Cycle = cycle.Summary()
	}
	return out, nil
}

func addCounts(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[string]int64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}
