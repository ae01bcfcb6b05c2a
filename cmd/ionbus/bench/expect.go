package bench

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// threshold is one --expect clause: metric op value.
type threshold struct {
	Expr   string  `json:"expr"`
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Value  float64 `json:"value"` // milliseconds for latency metrics
}

// ExpectResult is one evaluated threshold in the report.
type ExpectResult struct {
	Expr   string  `json:"expr"`
	Actual float64 `json:"actual"`
	OK     bool    `json:"ok"`
	Note   string  `json:"note,omitempty"`
}

var expectOps = []string{"<=", ">=", "==", "!=", "<", ">", "="} // longest first

// parseExpect parses "p99<100ms,failures=0,rate>=10000". Durations (ms, s,
// us, m) convert to milliseconds; a bare number is taken as-is (ms for
// latency metrics). A trailing % is allowed and ignored (cpu percent).
func parseExpect(s string) ([]threshold, error) {
	var out []threshold
	for _, clause := range strings.Split(s, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		var t threshold
		t.Expr = clause
		for _, op := range expectOps {
			if i := strings.Index(clause, op); i > 0 {
				t.Metric = strings.TrimSpace(clause[:i])
				t.Op = op
				if op == "=" {
					t.Op = "=="
				}
				v, err := parseExpectValue(strings.TrimSpace(clause[i+len(op):]))
				if err != nil {
					return nil, fmt.Errorf("%q: %v", clause, err)
				}
				t.Value = v
				break
			}
		}
		if t.Op == "" {
			return nil, fmt.Errorf("%q: want metric<op>value with op one of < <= > >= = !=", clause)
		}
		if strings.ContainsAny(t.Metric, "<>=! ") || t.Metric == "" {
			return nil, fmt.Errorf("%q: bad metric name", clause)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseExpectValue(v string) (float64, error) {
	if v == "" {
		return 0, fmt.Errorf("missing value")
	}
	v = strings.TrimSuffix(v, "%")
	if f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64); err == nil {
		return f, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return float64(d) / 1e6, nil
	}
	// 10k / 2.5M shorthand for counts and rates
	if n := len(v); n > 1 {
		mult := map[byte]float64{'k': 1e3, 'K': 1e3, 'M': 1e6}[v[n-1]]
		if mult != 0 {
			if f, err := strconv.ParseFloat(v[:n-1], 64); err == nil {
				return f * mult, nil
			}
		}
	}
	return 0, fmt.Errorf("value %q is neither a number nor a duration", v)
}

// modeMetrics lists the metrics each mode reports; checkMetrics rejects
// thresholds on metrics a mode never produces, before any socket is opened.
func modeMetrics(mode string) map[string]bool {
	m := map[string]bool{
		"failures": true, "connected": true, "dropped": true, "rate": true,
		"server_rss_per_socket": true, "client_rss_per_socket": true, "server_cpu_percent": true,
		"server_rss_growth": true, "client_cpu_percent": true,
	}
	addHist := func(prefix string, primary bool) {
		for _, q := range []string{"p50", "p90", "p99", "p999", "max", "mean", "min", "count"} {
			m[prefix+"."+q] = true
			if primary {
				m[q] = true
			}
		}
	}
	addHist("connect", mode == modeIdle || mode == modeChurn || mode == modeMerge)
	switch mode {
	case modeFanout, modeMerge:
		addHist("delivery", mode == modeFanout)
		addHist("all_delivered", false)
		for _, k := range []string{"receivers", "missing", "duplicates", "deliveries", "deliveries_per_sec", "burst_deliveries_per_sec", "trigger_errors", "unexpected"} {
			m[k] = true
		}
	}
	switch mode {
	case modeEcho, modeMerge:
		addHist("rtt", mode == modeEcho)
		m["acks"] = true
		m["timeouts"] = true
		m["skipped"] = true
	}
	switch mode {
	case modeChurn, modeMerge:
		addHist("cycle", false)
		m["cycles"] = true
	}
	return m
}

func checkMetrics(mode string, ts []threshold) error {
	known := modeMetrics(mode)
	for _, t := range ts {
		if !known[t.Metric] {
			var names []string
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			return fmt.Errorf("%q: mode %s has no metric %q (known: %s)", t.Expr, mode, t.Metric, strings.Join(names, " "))
		}
	}
	return nil
}

// evaluate checks thresholds against the flat metric map. A metric missing
// from the map fails its threshold (for example server_cpu_percent without --server-pid).
func evaluate(ts []threshold, metrics map[string]float64) ([]ExpectResult, bool) {
	all := true
	var out []ExpectResult
	for _, t := range ts {
		r := ExpectResult{Expr: t.Expr}
		v, ok := metrics[t.Metric]
		if !ok {
			r.Note = "metric not measured in this run"
			all = false
			out = append(out, r)
			continue
		}
		r.Actual = v
		switch t.Op {
		case "<":
			r.OK = v < t.Value
		case "<=":
			r.OK = v <= t.Value
		case ">":
			r.OK = v > t.Value
		case ">=":
			r.OK = v >= t.Value
		case "==":
			r.OK = v == t.Value
		case "!=":
			r.OK = v != t.Value
		}
		all = all && r.OK
		out = append(out, r)
	}
	return out, all
}
