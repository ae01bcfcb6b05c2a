package node

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/ionbus/ionbus/internal/redistest"
	"github.com/ionbus/ionbus/node/metrics"
)

// apiGet sends GET path to the node's API listener, with the bearer key
// when key is not empty, and returns the status and body.
func apiGet(t *testing.T, n *Node, path, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.APIAddr().String()+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scrape GETs /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, n *Node, key string) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := apiGet(t, n, PathMetrics, key)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample is the value of the family's series whose labels include
// want (name=value pairs); ok is false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestMetrics runs a node with Redis and a backend, connects real
// websocket clients, broadcasts through the API, forwards an event to the
// backend, then scrapes /metrics: the gauges equal what is connected, the
// counters moved, every histogram observed, the runtime collectors are
// there, no label can carry an id, and the shipped dashboard and alert
// rules only name metrics the scrape has.
func TestMetrics(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(backend.Close)

	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.API = APIConfig{Listen: "127.0.0.1:0", Key: "k"}
	cfg.Redis.URL = redistest.Start(t).URL()
	cfg.Redis.Key = "metrics-test"
	cfg.Backend.URL = backend.URL
	cfg.Backend.Secret = "s"
	cfg.Namespaces = []NamespaceConfig{
		{Name: "/", Events: []EventRuleConfig{{Match: []string{"to_backend"}}}},
		{Name: "/chat", Presence: NamespacePresence{Namespace: true}},
	}
	cfg.ShutdownTimeout = Duration(5 * time.Second)
	n := startNode(t, cfg, nil)

	const clients = 3
	var conns []*wsClient
	for range clients {
		c := dialSocket(t, n, "")
		if p := c.next(); !strings.HasPrefix(p, `40{"sid":`) {
			t.Fatalf("connect answer %q", p)
		}
		conns = append(conns, c)
	}

	// A broadcast to everyone in "/" (local fan-out, then PUBLISH).
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.APIAddr().String()+"/api/v1/emit",
		strings.NewReader(`{"event":"news","data":[1]}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("emit: %d", resp.StatusCode)
	}
	for _, c := range conns {
		if p := c.next(); p != `42["news",1]` {
			t.Fatalf("broadcast received as %q", p)
		}
	}
	// A cluster request (fetch sockets) and a backend event hook.
	if status, body := apiGet(t, n, "/api/v1/sockets", "k"); status != http.StatusOK {
		t.Fatalf("sockets: %d %s", status, body)
	}
	conns[0].send(`42["to_backend","x"]`)

	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrape(t, n, "") // no key: metrics_auth is off
		hooks, _ := sample(fams, metrics.NameBackendHook, "hook", "event")
		connected, _ := sample(fams, "ionbus_adapter_connected")
		if hooks > 0 && connected == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend hook observations %v, adapter connected %v", hooks, connected)
		}
		time.Sleep(20 * time.Millisecond)
	}

	exact := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ionbus_sockets", []string{"namespace", "/", "transport", "websocket"}, clients},
		{"ionbus_sockets", []string{"namespace", "/", "transport", "polling"}, 0},
		{"ionbus_sockets", []string{"namespace", "/chat", "transport", "websocket"}, 0},
		{"ionbus_clients", nil, clients},
		{"ionbus_engine_sessions", nil, clients},
		{"ionbus_connects_total", nil, clients},
		{"ionbus_deliveries_total", nil, clients},
		{"ionbus_adapter_connected", nil, 1},
		{"ionbus_node_info", []string{"node_id", n.NodeID()}, 1},
		{"ionbus_backend_events_forwarded_total", []string{"via", "http"}, 1},
		{"ionbus_access_refused_total", []string{"code", "RATE_LIMIT_EXCEEDED"}, 0},
		{"ionbus_limits_refused_total", []string{"reason", "message_rate"}, 0},
	}
	for _, e := range exact {
		if v, ok := sample(fams, e.name, e.labels...); !ok || v != e.want {
			t.Errorf("%s%v = %v (present %v), want %v", e.name, e.labels, v, ok, e.want)
		}
	}
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"ionbus_events_received_total", nil, 1},
		{"ionbus_engine_messages_received_total", nil, 1},
		{"ionbus_engine_sessions_opened_total", nil, clients},
		{"ionbus_adapter_messages_published_total", nil, 1},
		{"ionbus_backend_requests_total", []string{"hook", "event"}, 1},
		{"ionbus_rooms", []string{"namespace", "/"}, 0},
		{"ionbus_uptime_seconds", nil, 0},
		{"ionbus_engine_queued_bytes", nil, 0},
		{"ionbus_presence_queue_length", nil, 0},
		{metrics.NameConnectDuration, []string{"result", "accepted"}, clients},
		{metrics.NameBroadcastFanout, nil, 1},
		{metrics.NameRedisPublish, nil, 1},
		{metrics.NameClusterRequest, nil, 1},
		{metrics.NameBackendHook, []string{"hook", "event"}, 1},
		{"go_goroutines", nil, 1},
		{"go_memstats_heap_alloc_bytes", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, e := range atLeast {
		if v, ok := sample(fams, e.name, e.labels...); !ok || v < e.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", e.name, e.labels, v, ok, e.min)
		}
	}
	for name, typ := range map[string]dto.MetricType{
		"ionbus_deliveries_total": dto.MetricType_COUNTER, "ionbus_sockets": dto.MetricType_GAUGE,
		metrics.NameBroadcastFanout: dto.MetricType_HISTOGRAM,
	} {
		if got := fams[name].GetType(); got != typ {
			t.Errorf("%s is a %v, want %v", name, got, typ)
		}
	}

	// Every ionbus metric is documented in Names, has a help text, and
	// only bounded labels.
	known := map[string]bool{}
	for _, name := range metrics.Names() {
		known[name] = true
	}
	bounded := map[string]bool{"namespace": true, "transport": true, "reason": true, "code": true,
		"hook": true, "kind": true, "result": true, "via": true, "node_id": true, "le": true}
	for name, mf := range fams {
		if !strings.HasPrefix(name, "ionbus_") {
			continue
		}
		if !known[name] {
			t.Errorf("%s is not in metrics.Names", name)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !bounded[lp.GetName()] {
					t.Errorf("%s has the label %q", name, lp.GetName())
				}
			}
		}
	}
	for _, name := range metrics.Names() {
		if fams[name] == nil {
			t.Errorf("%s missing from a scrape of a node with Redis, a backend and presence", name)
		}
	}

	// pprof is off: an unknown API route (401 without the key, 404 with it).
	if status, _ := apiGet(t, n, "/debug/pprof/", ""); status != http.StatusUnauthorized {
		t.Errorf("pprof off, no key: %d, want 401", status)
	}
	if status, _ := apiGet(t, n, "/debug/pprof/", "k"); status != http.StatusNotFound {
		t.Errorf("pprof off, with key: %d, want 404", status)
	}

	t.Run("deploy files name existing metrics", func(t *testing.T) { checkDeployMetrics(t, fams) })
}

// TestMetricsAuthAndPProf: with api.metrics_auth /metrics needs the key;
// with api.pprof the profiles are served, never without the key.
func TestMetricsAuthAndPProf(t *testing.T) {
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.API = APIConfig{Listen: "127.0.0.1:0", Key: "k", MetricsAuth: true, PProf: true}
	n := startNode(t, cfg, nil)

	if status, _ := apiGet(t, n, PathMetrics, ""); status != http.StatusUnauthorized {
		t.Errorf("metrics_auth, no key: %d, want 401", status)
	}
	if status, _ := apiGet(t, n, PathMetrics, "wrong"); status != http.StatusUnauthorized {
		t.Errorf("metrics_auth, wrong key: %d, want 401", status)
	}
	fams := scrape(t, n, "k")
	if v, ok := sample(fams, "ionbus_sockets", "namespace", "/", "transport", "websocket"); !ok || v != 0 {
		t.Errorf("ionbus_sockets = %v (present %v), want 0", v, ok)
	}
	if fams["ionbus_adapter_connected"] != nil {
		t.Error("ionbus_adapter_connected exported without Redis")
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		if status, _ := apiGet(t, n, path, ""); status != http.StatusUnauthorized {
			t.Errorf("%s without key: %d, want 401", path, status)
		}
		if status, body := apiGet(t, n, path, "k"); status != http.StatusOK {
			t.Errorf("%s with key: %d %.200s", path, status, body)
		}
	}
}

// TestMetricsConfigValidation: metrics_auth and pprof need a key.
func TestMetricsConfigValidation(t *testing.T) {
	c := Default()
	c.API.MetricsAuth, c.API.PProf = true, true
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "api.metrics_auth") || !strings.Contains(err.Error(), "api.pprof") {
		t.Fatalf("Validate: %v", err)
	}
	c.API.Insecure = true // metrics need no key then; pprof still does
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "api.metrics_auth") || !strings.Contains(err.Error(), "api.pprof") {
		t.Fatalf("Validate with insecure: %v", err)
	}
	c.API.Key = "k"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with a key: %v", err)
	}
	env := map[string]string{"IONBUS_API_METRICS_AUTH": "true", "IONBUS_API_PPROF": "1"}
	var got Config
	if err := ApplyEnv(&got, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if !got.API.MetricsAuth || !got.API.PProf {
		t.Fatalf("env: %+v", got.API)
	}
}

// metricName finds the metric names of a PromQL expression: identifiers
// of the families this project exports, plus Prometheus's own "up".
var metricName = regexp.MustCompile(`\b(?:ionbus|go|process)_[a-zA-Z0-9_]+\b|\bup\b`)

// checkDeployMetrics loads deploy/grafana/ionbus.json and
// deploy/prometheus/alerts.yml and checks that every metric their
// expressions name is in fams (a histogram's _bucket, _sum and _count
// series count as its family).
func checkDeployMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	data, err := os.ReadFile("../deploy/grafana/ionbus.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("deploy/grafana/ionbus.json is not valid JSON: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	dashExprs := len(exprs)
	if dashExprs < 10 {
		t.Fatalf("the dashboard has only %d expressions", dashExprs)
	}

	data, err = os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("deploy/prometheus/alerts.yml: %v", err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alert rule %+v lacks a name or an expression", r)
			}
			exprs = append(exprs, r.Expr)
			alerts++
		}
	}
	if alerts < 5 {
		t.Errorf("alerts.yml has %d rules, want at least 5", alerts)
	}

	exists := func(name string) bool {
		if name == "up" || fams[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && fams[base].GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	seen := 0
	for i, expr := range exprs {
		where := "deploy/grafana/ionbus.json"
		if i >= dashExprs {
			where = "deploy/prometheus/alerts.yml"
		}
		for _, name := range metricName.FindAllString(expr, -1) {
			seen++
			if !exists(name) {
				t.Errorf("%s uses %s, which /metrics does not export (in %q)", where, name, expr)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no metric names found in the deploy files")
	}
}
