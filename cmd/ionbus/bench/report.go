package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// reportVersion changes when a field changes meaning; merge refuses mixed versions.
const reportVersion = 1

// Report is the machine-readable result (--json). Latencies are in
// milliseconds, sizes in bytes, rates per second. Histograms keep their
// sparse buckets so shard reports merge exactly (ionbus bench merge).
type Report struct {
	Version    int                `json:"version"`
	Mode       string             `json:"mode"`
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt time.Time          `json:"finished_at"`
	ElapsedS   float64            `json:"elapsed_s"`
	Shards     int                `json:"shards"` // reports merged into this one
	Config     *config            `json:"config,omitempty"`
	Sockets    SocketStats        `json:"sockets"`
	Connect    LatencySummary     `json:"connect_latency"`
	Fanout     *FanoutStats       `json:"fanout,omitempty"`
	Echo       *EchoStats         `json:"echo,omitempty"`
	Churn      *ChurnStats        `json:"churn,omitempty"`
	Server     *ServerStats       `json:"server,omitempty"`
	Client     ClientStats        `json:"client"`
	Metrics    map[string]float64 `json:"metrics"`
	Expect     []ExpectResult     `json:"expect,omitempty"`
	Passed     bool               `json:"passed"`
}

// SocketStats counts connection outcomes.
type SocketStats struct {
	Target      int64            `json:"target"`
	Connected   int64            `json:"connected"`
	Failed      int64            `json:"failed"`
	Dropped     int64            `json:"dropped"` // closed by the server or network after connecting
	Polling     int64            `json:"polling"` // of Connected, on long-polling
	PeakOpen    int64            `json:"peak_open"`
	Pings       int64            `json:"pings_answered"`   // Engine.IO heartbeats answered
	Packets     int64            `json:"packets_received"` // Socket.IO packets after CONNECT (events, acks)
	ConnectRate float64          `json:"connect_rate"`     // connected / ramp seconds
	RampS       float64          `json:"ramp_s"`
	Failures    map[string]int64 `json:"failures,omitempty"`
	Drops       map[string]int64 `json:"drops,omitempty"`
}

// FanoutStats is the fanout result. Expected = receivers × broadcasts.
type FanoutStats struct {
	Receivers        int64          `json:"receivers"`
	Broadcasts       int            `json:"broadcasts"`
	Expected         int64          `json:"expected"`
	Deliveries       int64          `json:"deliveries"` // unique (receiver, seq) pairs
	Missing          int64          `json:"missing"`
	Duplicates       int64          `json:"duplicates"`
	Unexpected       int64          `json:"unexpected"` // bench events with an unknown seq or no stamp
	TriggerErrors    int64          `json:"trigger_errors"`
	DeliveriesPerSec float64        `json:"deliveries_per_sec"`       // over first send → last receive
	BurstPerSec      float64        `json:"burst_deliveries_per_sec"` // Σ delivered / Σ per-round all-delivered time
	FirstSendUnixNs  int64          `json:"first_send_unix_ns"`
	LastRecvUnixNs   int64          `json:"last_recv_unix_ns"`
	Delivery         LatencySummary `json:"delivery_latency"`
	AllDelivered     LatencySummary `json:"all_delivered"` // one sample per round
	Trigger          LatencySummary `json:"trigger_latency"`
	Rounds           []Round        `json:"rounds"`
}

// Round is one broadcast. AllDeliveredMS is the time from the trigger send
// to the last receiver getting it (only meaningful when Missing is 0).
type Round struct {
	Seq            int     `json:"seq"`
	SentUnixNs     int64   `json:"sent_unix_ns"`
	Delivered      int64   `json:"delivered"`
	Expected       int64   `json:"expected"`
	LastRecvUnixNs int64   `json:"last_recv_unix_ns"`
	AllDeliveredMS float64 `json:"all_delivered_ms"`
}

// EchoStats is the echo result.
type EchoStats struct {
	Acks     int64          `json:"acks"`
	Timeouts int64          `json:"timeouts"` // acks outstanding at the end
	Errors   int64          `json:"errors"`
	Skipped  int64          `json:"skipped"` // open loop: the socket already had --inflight outstanding
	AcksPerS float64        `json:"acks_per_sec"`
	WindowS  float64        `json:"window_s"`
	RTT      LatencySummary `json:"rtt"`
}

// ChurnStats is the churn result.
type ChurnStats struct {
	Cycles     int64          `json:"cycles"` // connect+disconnect completed
	CyclesPerS float64        `json:"cycles_per_sec"`
	Saturated  int64          `json:"saturated"` // cycles started late because --concurrency was reached
	WindowS    float64        `json:"window_s"`
	Cycle      LatencySummary `json:"cycle_latency"`
}

// ServerStats samples /proc/PID of the server (--server-pid).
type ServerStats struct {
	PID               int     `json:"pid"`
	RSSBeforeBytes    int64   `json:"rss_before_bytes"`
	RSSAfterBytes     int64   `json:"rss_after_bytes"` // all sockets still open
	RSSGrowthBytes    int64   `json:"rss_growth_bytes"`
	RSSPerSocketBytes float64 `json:"rss_per_socket_bytes"`
	CPUSeconds        float64 `json:"cpu_seconds"` // utime+stime over the window
	CPUPercent        float64 `json:"cpu_percent"` // of one core
	WindowS           float64 `json:"window_s"`    // idle: the hold; fanout: the broadcasts; echo/churn: the run
}

// ClientStats is the bench process itself (/proc/self).
type ClientStats struct {
	RSSBeforeBytes    int64   `json:"rss_before_bytes"`
	RSSAfterBytes     int64   `json:"rss_after_bytes"`
	RSSPerSocketBytes float64 `json:"rss_per_socket_bytes"`
	// Go heap + goroutine stacks in use (after a GC): the client's own cost
	// per socket without RSS noise.
	GoMemBeforeBytes    int64   `json:"go_mem_before_bytes"`
	GoMemAfterBytes     int64   `json:"go_mem_after_bytes"`
	GoMemPerSocketBytes float64 `json:"go_mem_per_socket_bytes"`
	CPUPercent          float64 `json:"cpu_percent"` // of one core, over the same window as the server's
	Goroutines          int     `json:"goroutines"`
}

// flatten derives the metric map that --expect reads.
func (r *Report) flatten() {
	m := map[string]float64{
		"failures":  float64(r.Sockets.Failed),
		"connected": float64(r.Sockets.Connected),
		"dropped":   float64(r.Sockets.Dropped),
	}
	addHist := func(prefix string, s LatencySummary, primary bool) {
		if s.Count == 0 {
			return
		}
		v := map[string]float64{"p50": s.P50MS, "p90": s.P90MS, "p99": s.P99MS, "p999": s.P999MS,
			"max": s.MaxMS, "mean": s.MeanMS, "min": s.MinMS, "count": float64(s.Count)}
		for k, x := range v {
			m[prefix+"."+k] = x
			if primary {
				m[k] = x
			}
		}
	}
	primary := r.Mode == modeIdle || r.Mode == modeChurn
	addHist("connect", r.Connect, primary)
	m["rate"] = r.Sockets.ConnectRate
	if f := r.Fanout; f != nil {
		addHist("delivery", f.Delivery, r.Mode == modeFanout)
		addHist("all_delivered", f.AllDelivered, false)
		m["receivers"] = float64(f.Receivers)
		m["missing"] = float64(f.Missing)
		m["duplicates"] = float64(f.Duplicates)
		m["unexpected"] = float64(f.Unexpected)
		m["deliveries"] = float64(f.Deliveries)
		m["deliveries_per_sec"] = f.DeliveriesPerSec
		m["burst_deliveries_per_sec"] = f.BurstPerSec
		m["trigger_errors"] = float64(f.TriggerErrors)
		m["rate"] = f.DeliveriesPerSec
	}
	if e := r.Echo; e != nil {
		addHist("rtt", e.RTT, r.Mode == modeEcho)
		m["acks"] = float64(e.Acks)
		m["timeouts"] = float64(e.Timeouts)
		m["skipped"] = float64(e.Skipped)
		m["rate"] = e.AcksPerS
	}
	if c := r.Churn; c != nil {
		addHist("cycle", c.Cycle, false)
		m["cycles"] = float64(c.Cycles)
		m["rate"] = c.CyclesPerS
	}
	if s := r.Server; s != nil {
		m["server_rss_per_socket"] = s.RSSPerSocketBytes
		m["server_rss_growth"] = float64(s.RSSGrowthBytes)
		m["server_cpu_percent"] = s.CPUPercent
	}
	m["client_cpu_percent"] = r.Client.CPUPercent
	if r.Client.RSSPerSocketBytes > 0 {
		m["client_rss_per_socket"] = r.Client.RSSPerSocketBytes
	}
	r.Metrics = m
}

// finish computes metrics and evaluates thresholds.
func (r *Report) finish(ts []threshold) {
	r.flatten()
	r.Expect, r.Passed = evaluate(ts, r.Metrics)
}

func writeReportFile(path string, r *Report, stdout io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readReportFile(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Version != reportVersion {
		return nil, fmt.Errorf("%s: report version %d, want %d", path, r.Version, reportVersion)
	}
	return &r, nil
}

func mb(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func latLine(name string, s LatencySummary) string {
	if s.Count == 0 {
		return fmt.Sprintf("  %-14s (no samples)\n", name)
	}
	return fmt.Sprintf("  %-14s p50 %s  p90 %s  p99 %s  max %s  (n=%d)\n", name,
		fmtMS(s.P50MS), fmtMS(s.P90MS), fmtMS(s.P99MS), fmtMS(s.MaxMS), s.Count)
}

func fmtMS(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	case v < 10000:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fs", v/1000)
	}
}

func sortedCounts(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || l[i].v == l[j].v && l[i].k < l[j].k })
	var b strings.Builder
	for _, e := range l {
		fmt.Fprintf(&b, "      %7d  %s\n", e.v, e.k)
	}
	return b.String()
}

// writeSummary prints the human summary.
func writeSummary(w io.Writer, r *Report) {
	var b strings.Builder
	fmt.Fprintf(&b, "ionbus bench %s", r.Mode)
	if r.Config != nil {
		fmt.Fprintf(&b, " → %s", strings.Join(r.Config.URLs, ","))
		if r.Config.ShardCount > 1 {
			fmt.Fprintf(&b, " (shard %d/%d)", r.Config.ShardIndex, r.Config.ShardCount)
		}
	}
	if r.Shards > 1 {
		fmt.Fprintf(&b, " (merged %d reports)", r.Shards)
	}
	fmt.Fprintf(&b, "  %.1fs\n", r.ElapsedS)
	s := r.Sockets
	fmt.Fprintf(&b, "  sockets        %d/%d connected (%d polling), %d failed, %d dropped, peak open %d, %.0f connects/s\n",
		s.Connected, s.Target, s.Polling, s.Failed, s.Dropped, s.PeakOpen, s.ConnectRate)
	fmt.Fprintf(&b, "  packets        %d received, %d pings answered\n", s.Packets, s.Pings)
	if len(s.Failures) > 0 {
		fmt.Fprintf(&b, "    failures:\n%s", sortedCounts(s.Failures))
	}
	if len(s.Drops) > 0 {
		fmt.Fprintf(&b, "    drops:\n%s", sortedCounts(s.Drops))
	}
	b.WriteString(latLine("connect", r.Connect))
	if f := r.Fanout; f != nil {
		fmt.Fprintf(&b, "  fanout         %d receivers × %d broadcasts: %d/%d delivered, %d missing, %d duplicates, %d unexpected, %d trigger errors\n",
			f.Receivers, f.Broadcasts, f.Deliveries, f.Expected, f.Missing, f.Duplicates, f.Unexpected, f.TriggerErrors)
		fmt.Fprintf(&b, "  throughput     %.0f deliveries/s over the run, %.0f/s within a round (burst)\n", f.DeliveriesPerSec, f.BurstPerSec)
		b.WriteString(latLine("delivery", f.Delivery))
		b.WriteString(latLine("all delivered", f.AllDelivered))
		b.WriteString(latLine("trigger", f.Trigger))
	}
	if e := r.Echo; e != nil {
		fmt.Fprintf(&b, "  echo           %d acks in %.1fs = %.0f acks/s, %d outstanding at end, %d errors, %d skipped\n",
			e.Acks, e.WindowS, e.AcksPerS, e.Timeouts, e.Errors, e.Skipped)
		b.WriteString(latLine("ack rtt", e.RTT))
	}
	if c := r.Churn; c != nil {
		fmt.Fprintf(&b, "  churn          %d cycles in %.1fs = %.1f cycles/s (%d started late: concurrency cap)\n",
			c.Cycles, c.WindowS, c.CyclesPerS, c.Saturated)
		b.WriteString(latLine("cycle", c.Cycle))
	}
	if sv := r.Server; sv != nil {
		fmt.Fprintf(&b, "  server pid %d  RSS %s → %s (+%s, %.0f B/socket), CPU %.1f%% of a core over %.1fs\n",
			sv.PID, mb(sv.RSSBeforeBytes), mb(sv.RSSAfterBytes), mb(sv.RSSGrowthBytes), sv.RSSPerSocketBytes, sv.CPUPercent, sv.WindowS)
	}
	if c := r.Client; c.RSSAfterBytes > 0 {
		fmt.Fprintf(&b, "  bench client   RSS %s → %s (%.0f B/socket; Go heap+stacks %.0f B/socket), CPU %.1f%%, %d goroutines\n",
			mb(c.RSSBeforeBytes), mb(c.RSSAfterBytes), c.RSSPerSocketBytes, c.GoMemPerSocketBytes, c.CPUPercent, c.Goroutines)
	}
	for _, e := range r.Expect {
		mark := "ok  "
		if !e.OK {
			mark = "FAIL"
		}
		note := ""
		if e.Note != "" {
			note = " (" + e.Note + ")"
		}
		fmt.Fprintf(&b, "  expect %s %-28s actual %g%s\n", mark, e.Expr, e.Actual, note)
	}
	if len(r.Expect) > 0 {
		if r.Passed {
			b.WriteString("  PASS\n")
		} else {
			b.WriteString("  FAIL\n")
		}
	}
	_, _ = io.WriteString(w, b.String())
}
