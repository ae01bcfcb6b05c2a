package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fanoutReport(t *testing.T, receivers int64, delivered []int64, sent, last []int64, lat ...time.Duration) *Report {
	t.Helper()
	h := NewHistogram()
	for _, d := range lat {
		h.Record(d)
	}
	f := &FanoutStats{Receivers: receivers, Broadcasts: len(delivered), Expected: receivers * int64(len(delivered)), Delivery: h.Summary()}
	for i := range delivered {
		f.Deliveries += delivered[i]
		f.Rounds = append(f.Rounds, Round{Seq: i, SentUnixNs: sent[i], Delivered: delivered[i], Expected: receivers, LastRecvUnixNs: last[i]})
	}
	f.Missing = f.Expected - f.Deliveries
	now := time.Unix(1700000000, 0).UTC()
	return &Report{Version: reportVersion, Mode: modeFanout, Shards: 1, StartedAt: now, FinishedAt: now.Add(time.Second),
		Sockets: SocketStats{Target: receivers, Connected: receivers, PeakOpen: receivers, Failures: map[string]int64{"timeout": 1}},
		Fanout:  f}
}

// The JSON names are a contract with CI scripts: pin them.
func TestReportJSONFields(t *testing.T) {
	r := fanoutReport(t, 2, []int64{2, 1}, []int64{1e9, 2e9}, []int64{1.01e9, 2.5e9}, time.Millisecond, 2*time.Millisecond, 3*time.Millisecond)
	r.Server = &ServerStats{PID: 7, RSSGrowthBytes: 2048, RSSPerSocketBytes: 1024, CPUPercent: 12.5}
	r.finish(nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "mode", "started_at", "finished_at", "elapsed_s", "shards", "sockets",
		"connect_latency", "fanout", "server", "client", "metrics", "passed"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	f := m["fanout"].(map[string]any)
	for _, k := range []string{"receivers", "broadcasts", "expected", "deliveries", "missing", "duplicates",
		"deliveries_per_sec", "delivery_latency", "all_delivered", "rounds"} {
		if _, ok := f[k]; !ok {
			t.Errorf("fanout lacks %q", k)
		}
	}
	lat := f["delivery_latency"].(map[string]any)
	for _, k := range []string{"count", "p50_ms", "p90_ms", "p99_ms", "max_ms", "buckets"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency lacks %q", k)
		}
	}
	metrics := m["metrics"].(map[string]any)
	if metrics["missing"].(float64) != 1 || metrics["server_rss_per_socket"].(float64) != 1024 {
		t.Errorf("metrics %v", metrics)
	}
	if metrics["p99"].(float64) < 2.9 || metrics["p99"].(float64) > 3.1 {
		t.Errorf("p99 = %v, want delivery p99 ≈ 3ms", metrics["p99"])
	}
}

func TestWriteReadReport(t *testing.T) {
	dir := t.TempDir()
	r := fanoutReport(t, 3, []int64{3}, []int64{5}, []int64{9}, time.Millisecond)
	r.finish(nil)
	path := filepath.Join(dir, "r.json")
	if err := writeReportFile(path, r, nil); err != nil {
		t.Fatal(err)
	}
	back, err := readReportFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Fanout.Deliveries != 3 || back.Connect.Count != r.Connect.Count || !back.Passed {
		t.Errorf("read back %+v", back.Fanout)
	}
	if err := os.WriteFile(path, []byte(`{"version":99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readReportFile(path); err == nil {
		t.Error("accepted a foreign version")
	}
}

func TestMergeFanoutShards(t *testing.T) {
	a := fanoutReport(t, 2, []int64{2, 2}, []int64{1000, 2000}, []int64{1500, 2600}, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond)
	// shard 1 did not trigger: it learned send times from the stamps (same values)
	b := fanoutReport(t, 3, []int64{3, 2}, []int64{1000, 2000}, []int64{1700, 2400}, 10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond)
	b.Sockets.Failures = map[string]int64{"timeout": 2, "eof": 1}
	out, err := mergeReports([]*Report{a, b})
	if err != nil {
		t.Fatal(err)
	}
	f := out.Fanout
	if f.Receivers != 5 || f.Expected != 10 || f.Deliveries != 9 || f.Missing != 1 {
		t.Errorf("merged counts %+v", f)
	}
	if f.Rounds[0].AllDeliveredMS != ms(700) || f.Rounds[1].AllDeliveredMS != ms(600) {
		t.Errorf("all-delivered per round: %v %v", f.Rounds[0].AllDeliveredMS, f.Rounds[1].AllDeliveredMS)
	}
	if f.Delivery.Count != 9 || f.Delivery.P50MS < 9.95 || f.Delivery.P50MS > 10 || f.Delivery.MinMS != 1 {
		t.Errorf("merged delivery %+v", f.Delivery)
	}
	if out.Sockets.Failures["timeout"] != 3 || out.Sockets.Failures["eof"] != 1 || out.Shards != 2 {
		t.Errorf("failures %v shards %d", out.Sockets.Failures, out.Shards)
	}
	if _, err := mergeReports([]*Report{a, {Version: reportVersion, Mode: modeIdle}}); err == nil {
		t.Error("merged fanout with idle")
	}
}

func TestMergeCLI(t *testing.T) {
	dir := t.TempDir()
	for i, r := range []*Report{
		fanoutReport(t, 1, []int64{1}, []int64{1}, []int64{2}, time.Millisecond),
		fanoutReport(t, 1, []int64{0}, []int64{1}, []int64{0}),
	} {
		r.finish(nil)
		if err := writeReportFile(filepath.Join(dir, "s"+string(rune('0'+i))+".json"), r, nil); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	code := Main(t.Context(), []string{"merge", "--expect", "missing=0", "--json", filepath.Join(dir, "m.json"),
		filepath.Join(dir, "s0.json"), filepath.Join(dir, "s1.json")}, &out, &errb)
	if code != ExitExpect {
		t.Fatalf("exit %d, want %d (one missing); stderr %s", code, ExitExpect, errb.String())
	}
	if !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "merged 2 reports") {
		t.Errorf("summary:\n%s", out.String())
	}
	m, err := readReportFile(filepath.Join(dir, "m.json"))
	if err != nil || m.Fanout.Missing != 1 || m.Passed {
		t.Errorf("merged file %v %+v", err, m)
	}
}

func TestProcParsing(t *testing.T) {
	rss, err := parseVmRSS([]byte("Name:\tnode\nVmPeak:\t  10 kB\nVmRSS:\t  2048 kB\nThreads: 7\n"))
	if err != nil || rss != 2048*1024 {
		t.Errorf("rss %d %v", rss, err)
	}
	// comm with spaces and parentheses
	stat := "1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 100 1000 200"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 325 {
		t.Errorf("cpu ticks %d %v", cpu, err)
	}
	if _, err := readProc("self"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"fanout", "--url", "a:1,b:2", "--url", "c:3", "-n", "10", "--shard", "1/3",
		"--source-ips", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4", "--api", "x:1", "--rate", "300"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 3 || c.Clients != 3 || c.TotalClients != 10 || c.Rate != 100 || c.Trigger != "none" {
		t.Errorf("config %+v", c)
	}
	if len(c.localIPs) != 1 || c.localIPs[0].String() != "127.0.0.2" {
		t.Errorf("shard ips %v", c.localIPs)
	}
	c, _ = parseConfig([]string{"fanout", "-n", "10", "--shard", "0/3", "--api", "x:1"}, nil)
	if c.Clients != 4 || c.Trigger != "api" {
		t.Errorf("shard 0: clients %d trigger %s", c.Clients, c.Trigger)
	}
	for _, bad := range [][]string{
		nil, {"nope"}, {"idle", "--rate", "0"}, {"idle", "--shard", "3/3"}, {"fanout"}, // fanout needs --api
		{"idle", "--expect", "missing=0"}, {"idle", "--polling-share", "2"}, {"idle", "extra"},
		{"idle", "--auth", "{bad"}, {"idle", "--source-ips", "nohost"}, {"fanout", "--trigger", "kafka", "--api", "x"},
	} {
		if _, err := parseConfig(bad, nil); err == nil {
			t.Errorf("parseConfig(%q) accepted", bad)
		}
	}
}

func TestMainHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"fanout", "-h"}} {
		var out, errb bytes.Buffer
		if code := Main(t.Context(), args, &out, &errb); code != ExitOK || !strings.Contains(out.String(), "usage: ionbus bench") {
			t.Errorf("%q: exit %d, stdout %d bytes", args, code, out.Len())
		}
	}
}

func TestMainUsageExit(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(t.Context(), []string{"idle", "--bogus"}, &out, &errb); code != ExitUsage {
		t.Errorf("exit %d", code)
	}
	// The error and one line of help (issue: not 70 lines of usage).
	if got := errb.String(); !strings.Contains(got, "-bogus") || !strings.Contains(got, "ionbus bench -h") || strings.Count(got, "\n") != 2 {
		t.Errorf("stderr %q, want the error and one line of help", got)
	}
	errb.Reset()
	if code := Main(t.Context(), nil, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), "usage: ionbus bench") {
		t.Errorf("no mode: exit %d, stderr %q; want the usage", code, errb.String())
	}
}

// With nothing listening every dial fails: the report says why and the run
// exits with ExitRunError (or ExitExpect is never reached).
func TestConnectionRefusedReport(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	code := Main(t.Context(), []string{"idle", "--url", "http://127.0.0.1:1", "-n", "3", "--hold", "0s",
		"--timeout", "2s", "--json", filepath.Join(dir, "r.json")}, &out, &errb)
	if code != ExitRunError {
		t.Fatalf("exit %d; %s %s", code, out.String(), errb.String())
	}
	r, err := readReportFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sockets.Failed != 3 || r.Sockets.Failures["connection refused"] != 3 {
		t.Errorf("failures %+v", r.Sockets)
	}
}
