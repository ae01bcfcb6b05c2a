package bench

import (
	"strings"
	"testing"
)

func TestParseExpect(t *testing.T) {
	ts, err := parseExpect("p99<100ms, failures=0,missing==0,rate>=10000,max<=2s,dropped!=1,server_cpu_percent<80%,deliveries>=10k,p50<1.5")
	if err != nil {
		t.Fatal(err)
	}
	want := []threshold{
		{Metric: "p99", Op: "<", Value: 100},
		{Metric: "failures", Op: "==", Value: 0},
		{Metric: "missing", Op: "==", Value: 0},
		{Metric: "rate", Op: ">=", Value: 10000},
		{Metric: "max", Op: "<=", Value: 2000},
		{Metric: "dropped", Op: "!=", Value: 1},
		{Metric: "server_cpu_percent", Op: "<", Value: 80},
		{Metric: "deliveries", Op: ">=", Value: 10000},
		{Metric: "p50", Op: "<", Value: 1.5},
	}
	if len(ts) != len(want) {
		t.Fatalf("got %d thresholds", len(ts))
	}
	for i, w := range want {
		g := ts[i]
		if g.Metric != w.Metric || g.Op != w.Op || g.Value != w.Value {
			t.Errorf("clause %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestParseExpectErrors(t *testing.T) {
	for _, in := range []string{"p99", "p99<", "<5", "p99<fast", "p 99<5", "p99<<5"} {
		if _, err := parseExpect(in); err == nil {
			t.Errorf("parseExpect(%q): no error", in)
		}
	}
	if ts, err := parseExpect(" , "); err != nil || len(ts) != 0 {
		t.Errorf("empty clauses: %v %v", ts, err)
	}
}

func TestCheckMetrics(t *testing.T) {
	ok := map[string]string{
		modeIdle:   "p99<1s,connect.p50<1ms,failures=0,server_rss_per_socket<8192",
		modeFanout: "p99<1s,missing=0,duplicates=0,all_delivered.max<2s,rate>=1000",
		modeEcho:   "rtt.p99<5ms,acks>0,timeouts=0",
		modeChurn:  "cycles>=100,rate>=10,cycle.p99<1s",
	}
	for mode, expr := range ok {
		ts, _ := parseExpect(expr)
		if err := checkMetrics(mode, ts); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
	}
	ts, _ := parseExpect("missing=0")
	if err := checkMetrics(modeIdle, ts); err == nil || !strings.Contains(err.Error(), "no metric") {
		t.Errorf("idle accepted missing: %v", err)
	}
}

func TestEvaluate(t *testing.T) {
	ts, _ := parseExpect("p99<100ms,failures=0,rate>=10,server_cpu_percent<50")
	res, ok := evaluate(ts, map[string]float64{"p99": 99.9, "failures": 0, "rate": 9.99})
	if ok {
		t.Fatal("passed with rate and cpu failing")
	}
	wantOK := []bool{true, true, false, false}
	for i, r := range res {
		if r.OK != wantOK[i] {
			t.Errorf("%s: ok=%v", r.Expr, r.OK)
		}
	}
	if res[3].Note == "" {
		t.Error("missing metric has no note")
	}
	if _, ok := evaluate(ts[:2], map[string]float64{"p99": 1, "failures": 0}); !ok {
		t.Error("should pass")
	}
}
