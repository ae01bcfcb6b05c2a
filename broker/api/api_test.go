package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/api"
)

const testKey = "s3cret-key"

// env is one broker served over httptest plus its API handler.
type env struct {
	srv    *broker.Server
	engine *httptest.Server
	api    http.Handler
}

func newEnv(t *testing.T, cfg api.Config, adp adapter.Adapter) *env {
	t.Helper()
	srv, err := broker.New(broker.Config{Adapter: adp})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Of("/admin")
	srv.OfPattern(regexp.MustCompile(`^/tenant-[0-9]+$`))
	// A client joins the room named in its CONNECT payload ({"room":"r"}).
	srv.Of("/").OnConnection(func(s *broker.Socket) {
		if room, _ := s.Handshake().Auth["room"].(string); room != "" {
			s.Join(room)
		}
		s.SetData(map[string]string{"user": "u-" + s.ID()[:4]})
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return &env{srv: srv, engine: ts, api: api.New(cfg, srv)}
}

// call runs one API request through the handler.
func (e *env) call(t *testing.T, method, path, key, body string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	res := rec.Result()
	data, _ := io.ReadAll(res.Body)
	return res, data
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if eb.Error.Message == "" {
		t.Errorf("error body %s has no message", body)
	}
	return eb.Error.Code
}

func TestErrors(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	big := `{"event":"x","data":["` + strings.Repeat("a", api.MaxBodyBytes) + `"]}`
	tests := []struct {
		name, method, path, key, body string
		status                        int
		code                          string
	}{
		{"no key", "POST", "/api/v1/emit", "", `{"event":"x"}`, 401, api.CodeUnauthorized},
		{"wrong key", "POST", "/api/v1/emit", "nope", `{"event":"x"}`, 401, api.CodeUnauthorized},
		{"key prefix", "GET", "/api/v1/stats", testKey[:4], ``, 401, api.CodeUnauthorized},
		{"unknown route needs key", "GET", "/api/v1/nothing", "", ``, 401, api.CodeUnauthorized},
		{"unknown route", "GET", "/api/v1/nothing", testKey, ``, 404, api.CodeNotFound},
		{"emit wrong method", "GET", "/api/v1/emit", testKey, ``, 405, api.CodeMethodNotAllowed},
		{"stats wrong method", "POST", "/api/v1/stats", testKey, ``, 405, api.CodeMethodNotAllowed},
		{"healthz wrong method", "POST", "/healthz", "", ``, 405, api.CodeMethodNotAllowed},
		{"bad json", "POST", "/api/v1/emit", testKey, `{"event":`, 400, api.CodeBadRequest},
		{"empty body", "POST", "/api/v1/emit", testKey, ``, 400, api.CodeBadRequest},
		{"unknown field", "POST", "/api/v1/emit", testKey, `{"event":"x","room":"r"}`, 400, api.CodeBadRequest},
		{"trailing data", "POST", "/api/v1/emit", testKey, `{"event":"x"} {}`, 400, api.CodeBadRequest},
		{"data not an array", "POST", "/api/v1/emit", testKey, `{"event":"x","data":{"a":1}}`, 400, api.CodeBadRequest},
		{"missing event", "POST", "/api/v1/emit", testKey, `{"data":[1]}`, 400, api.CodeBadRequest},
		{"reserved event", "POST", "/api/v1/emit", testKey, `{"event":"disconnect"}`, 400, api.CodeReservedEvent},
		{"reserved event with ack", "POST", "/api/v1/emit", testKey, `{"event":"connect","ack_timeout_ms":10}`, 400, api.CodeReservedEvent},
		{"negative ack timeout", "POST", "/api/v1/emit", testKey, `{"event":"x","ack_timeout_ms":-1}`, 400, api.CodeBadRequest},
		{"huge ack timeout", "POST", "/api/v1/emit", testKey, `{"event":"x","ack_timeout_ms":86400000}`, 400, api.CodeBadRequest},
		{"unknown namespace", "POST", "/api/v1/emit", testKey, `{"namespace":"/nope","event":"x"}`, 404, api.CodeNamespaceNotFound},
		{"body too large", "POST", "/api/v1/emit", testKey, big, 413, api.CodePayloadTooLarge},
		{"sockets unknown namespace", "GET", "/api/v1/sockets?namespace=/nope", testKey, ``, 404, api.CodeNamespaceNotFound},
		{"disconnect unknown namespace", "POST", "/api/v1/disconnect", testKey, `{"namespace":"/nope"}`, 404, api.CodeNamespaceNotFound},
		{"disconnect bad json", "POST", "/api/v1/disconnect", testKey, `[]`, 400, api.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.call(t, tc.method, tc.path, tc.key, tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %s)", res.StatusCode, tc.status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := errorCode(t, body); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if tc.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// The unknown namespace must not have been created by the lookups.
	for _, ns := range e.srv.Namespaces() {
		if ns.Name() == "/nope" {
			t.Error("an API lookup created namespace /nope")
		}
	}
}

func TestKeyConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		cfg    api.Config
		key    string
		status int
	}{
		{"empty key fails closed", api.Config{}, "", 401},
		{"empty key refuses any bearer", api.Config{}, "anything", 401},
		{"insecure needs no key", api.Config{Insecure: true}, "", 200},
		{"right key", api.Config{Key: testKey}, testKey, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg, nil)
			res, body := e.call(t, "GET", "/api/v1/stats", tc.key, "")
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
		})
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		e := newEnv(t, api.Config{Key: testKey}, nil)
		req := httptest.NewRequest("GET", "/api/v1/stats", nil)
		req.Header.Set("Authorization", "bearer "+testKey)
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

type degradedAdapter struct {
	*adapter.Memory
	reason string
}

func (d *degradedAdapter) Degraded() bool         { return true }
func (d *degradedAdapter) DegradedReason() string { return d.reason }

type healthyAdapter struct{ *adapter.Memory }

func (healthyAdapter) Degraded() bool { return false }

func TestHealthz(t *testing.T) {
	tests := []struct {
		name       string
		adp        adapter.Adapter
		wantCode   int
		wantStatus string
		wantReason string
	}{
		{"memory adapter", nil, 200, "ok", ""},
		{"healthy reporter", healthyAdapter{adapter.NewMemory()}, 200, "ok", ""},
		{"degraded with reason", &degradedAdapter{adapter.NewMemory(), "redis: connection refused"}, 503, "degraded", "redis: connection refused"},
		{"degraded without reason", &degradedAdapter{Memory: adapter.NewMemory()}, 503, "degraded", "adapter degraded: cluster delivery unavailable, local delivery continues"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, api.Config{Key: testKey}, tc.adp)
			res, body := e.call(t, "GET", "/healthz", "", "")
			if res.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.wantCode)
			}
			// A degraded node still serves its own sockets: it stays ready.
			if res, rbody := e.call(t, "GET", "/readyz", "", ""); res.StatusCode != 200 || !strings.Contains(string(rbody), `"ok"`) {
				t.Fatalf("readyz %d %s", res.StatusCode, rbody)
			}
			var h struct{ Status, Reason string }
			if err := json.Unmarshal(body, &h); err != nil {
				t.Fatal(err)
			}
			if h.Status != tc.wantStatus || h.Reason != tc.wantReason {
				t.Fatalf("got %+v, want %q %q", h, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

// httpClient bounds every request so a protocol mismatch fails the test
// instead of hanging it (a long poll returns within pingInterval, 25s).
var httpClient = &http.Client{Timeout: 30 * time.Second}

// pollClient is a minimal Engine.IO v4 long-polling client.
type pollClient struct {
	t    *testing.T
	base string
	sid  string

	mu      sync.Mutex
	pending []string
}

func dialPolling(t *testing.T, base string) *pollClient {
	t.Helper()
	c := &pollClient{t: t, base: base + "/socket.io/?EIO=4&transport=polling"}
	open := c.get(c.base)
	if len(open) != 1 || !strings.HasPrefix(open[0], "0{") {
		t.Fatalf("open packet: %q", open)
	}
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(open[0][1:]), &hs); err != nil {
		t.Fatal(err)
	}
	c.sid = hs.Sid
	return c
}

func (c *pollClient) url() string { return c.base + "&sid=" + c.sid }

func (c *pollClient) get(url string) []string {
	c.t.Helper()
	res, err := httpClient.Get(url)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %s", url, res.StatusCode, data)
	}
	return strings.Split(string(data), "\x1e")
}

func (c *pollClient) post(packets ...string) {
	c.t.Helper()
	res, err := httpClient.Post(c.url(), "text/plain;charset=UTF-8", bytes.NewBufferString(strings.Join(packets, "\x1e")))
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		c.t.Fatalf("POST: %d", res.StatusCode)
	}
}

// next returns the next Engine.IO message packet (pings are answered).
func (c *pollClient) next() string {
	c.t.Helper()
	for {
		if len(c.pending) > 0 {
			p := c.pending[0]
			c.pending = c.pending[1:]
			if p == "2" {
				c.post("3")
				continue
			}
			return p
		}
		c.pending = c.get(c.url())
	}
}

// connect joins a namespace and returns the socket id.
func (c *pollClient) connect(nsp, auth string) string {
	c.t.Helper()
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	c.post(prefix + auth)
	p := c.next()
	if !strings.HasPrefix(p, prefix+"{") {
		c.t.Fatalf("CONNECT answer %q", p)
	}
	var ok struct{ Sid string }
	if err := json.Unmarshal([]byte(p[len(prefix):]), &ok); err != nil {
		c.t.Fatal(err)
	}
	return ok.Sid
}

func TestEmit(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	a := dialPolling(t, e.engine.URL)
	a.connect("/", `{"room":"red"}`)
	b := dialPolling(t, e.engine.URL)
	b.connect("/", `{"room":"blue"}`)
	adm := dialPolling(t, e.engine.URL)
	adm.connect("/admin", "")

	tests := []struct {
		name, body  string
		toA, toB    bool
		toAdmin     bool
		wantPayload string // the Socket.IO packet each recipient gets
	}{
		{"everyone, data verbatim", `{"event":"news","data":[1,"two",{"b":1, "a":[true]},null]}`, true, true, false,
			`42["news",1,"two",{"b":1, "a":[true]},null]`},
		{"one room", `{"event":"r","rooms":["red"]}`, true, false, false, `42["r"]`},
		{"except", `{"event":"x","except":["red"]}`, false, true, false, `42["x"]`},
		// Volatile packets to a polling client with no pending GET may be
		// dropped (as in the reference), so only the path is exercised.
		{"volatile", `{"event":"v","rooms":["nobody"],"volatile":true}`, false, false, false, ``},
		{"namespace", `{"namespace":"/admin","event":"adm","data":[{"k":"v"}]}`, false, false, true, `42/admin,["adm",{"k":"v"}]`},
		{"namespace without slash", `{"namespace":"admin","event":"adm2"}`, false, false, true, `42/admin,["adm2"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.call(t, "POST", "/api/v1/emit", testKey, tc.body)
			if res.StatusCode != http.StatusAccepted || strings.TrimSpace(string(body)) != `{"ok":true}` {
				t.Fatalf("answer %d %s", res.StatusCode, body)
			}
			// A marker broadcast to everyone proves a client received
			// nothing before it.
			if _, body := e.call(t, "POST", "/api/v1/emit", testKey, `{"event":"marker"}`); !strings.Contains(string(body), "ok") {
				t.Fatal(string(body))
			}
			if _, body := e.call(t, "POST", "/api/v1/emit", testKey, `{"namespace":"/admin","event":"marker"}`); !strings.Contains(string(body), "ok") {
				t.Fatal(string(body))
			}
			for _, rc := range []struct {
				c      *pollClient
				want   bool
				marker string
			}{{a, tc.toA, `42["marker"]`}, {b, tc.toB, `42["marker"]`}, {adm, tc.toAdmin, `42/admin,["marker"]`}} {
				got := rc.c.next()
				if rc.want {
					if got != tc.wantPayload {
						t.Errorf("got %q, want %q", got, tc.wantPayload)
					}
					got = rc.c.next()
				}
				if got != rc.marker {
					t.Errorf("got %q, want the marker %q", got, rc.marker)
				}
			}
		})
	}
}

// TestDynamicNamespaceOnOtherNode: a child of a pattern namespace that has
// sockets only on another node is still addressable through this node's
// API: emit reaches them and sockets lists them, instead of 404.
func TestDynamicNamespaceOnOtherNode(t *testing.T) {
	bus := adapter.NewMemoryBus()
	a := newEnv(t, api.Config{Key: testKey}, bus.Node("a"))
	b := newEnv(t, api.Config{Key: testKey}, bus.Node("b"))
	c := dialPolling(t, b.engine.URL)
	sid := c.connect("/tenant-7", "")
	if a.srv.Lookup("/tenant-7") != nil {
		t.Fatal("node a already has /tenant-7")
	}

	res, body := a.call(t, "POST", "/api/v1/emit", testKey, `{"namespace":"/tenant-7","event":"hi","data":[1]}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("emit to a dynamic namespace living on node b: %d %s", res.StatusCode, body)
	}
	if got := c.next(); got != `42/tenant-7,["hi",1]` {
		t.Fatalf("client got %q", got)
	}
	res, body = a.call(t, "GET", "/api/v1/sockets?namespace=/tenant-7", testKey, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), sid) {
		t.Fatalf("sockets: %d %s, want %s listed", res.StatusCode, body, sid)
	}
	// A name no pattern matches is still unknown.
	if res, body := a.call(t, "POST", "/api/v1/emit", testKey, `{"namespace":"/tenant-x","event":"hi"}`); res.StatusCode != http.StatusNotFound {
		t.Fatalf("emit to an unmatched namespace: %d %s", res.StatusCode, body)
	}
}

func TestEmitWithAck(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	a := dialPolling(t, e.engine.URL)
	a.connect("/", `{"room":"acking"}`)

	done := make(chan struct{})
	go func() {
		defer close(done)
		// Answer the ack request: 42<id>["q",...] -> 43<id>["pong",n]
		for {
			p := a.next()
			if !strings.HasPrefix(p, "42") {
				continue
			}
			id := p[2:strings.Index(p, "[")]
			a.post("43" + id + `["pong",7]`)
			return
		}
	}()
	res, body := e.call(t, "POST", "/api/v1/emit", testKey, `{"event":"q","rooms":["acking"],"ack_timeout_ms":5000}`)
	<-done
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	var er api.AckResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatal(err)
	}
	if !er.OK || er.TimedOut || len(er.Responses) != 1 || len(er.Responses[0]) != 2 || er.Responses[0][0] != "pong" {
		t.Fatalf("answer %s", body)
	}

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		res, body := e.call(t, "POST", "/api/v1/emit", testKey, `{"event":"q","rooms":["acking"],"ack_timeout_ms":200}`)
		if res.StatusCode != 200 {
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
		if time.Since(start) < 150*time.Millisecond {
			t.Error("returned before the ack timeout")
		}
		var er api.AckResponse
		_ = json.Unmarshal(body, &er)
		if !er.TimedOut || len(er.Responses) != 0 {
			t.Fatalf("answer %s", body)
		}
	})
	t.Run("no recipients", func(t *testing.T) {
		res, body := e.call(t, "POST", "/api/v1/emit", testKey, `{"event":"q","rooms":["empty"],"ack_timeout_ms":2000}`)
		if res.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"ok":true,"responses":[],"timed_out":false}` {
			t.Fatalf("answer %d %s", res.StatusCode, body)
		}
	})
}

func TestSocketsAndDisconnect(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	a := dialPolling(t, e.engine.URL)
	idA := a.connect("/", `{"room":"red","token":"secret"}`)
	b := dialPolling(t, e.engine.URL)
	idB := b.connect("/", `{"room":"blue"}`)

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all", "", []string{idA, idB}},
		{"room", "?room=red", []string{idA}},
		{"rooms comma", "?namespace=/&room=red,blue", []string{idA, idB}},
		{"except", "?except=red", []string{idB}},
		{"empty room", "?room=none", nil},
		{"other namespace", "?namespace=/admin", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.call(t, "GET", "/api/v1/sockets"+tc.query, testKey, "")
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			var sr api.SocketsResponse
			if err := json.Unmarshal(body, &sr); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, s := range sr.Sockets {
				got[s.ID] = true
				if s.Node != e.srv.NodeID() || len(s.Rooms) == 0 || s.Handshake.Address == "" || string(s.Data) == "null" {
					t.Errorf("socket view %+v", s)
				}
			}
			if len(got) != len(tc.want) || sr.Count != len(tc.want) || !sr.Complete {
				t.Fatalf("got %s, want %v", body, tc.want)
			}
			for _, id := range tc.want {
				if !got[id] {
					t.Errorf("missing %s in %s", id, body)
				}
			}
			if strings.Contains(string(body), "secret") {
				t.Error("the auth payload leaked into the sockets answer")
			}
		})
	}

	res, body := e.call(t, "POST", "/api/v1/disconnect", testKey, `{"rooms":["red"]}`)
	if res.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"ok":true}` {
		t.Fatalf("disconnect: %d %s", res.StatusCode, body)
	}
	if p := a.next(); p != "41" {
		t.Fatalf("client got %q, want a DISCONNECT packet", p)
	}
	_, body = e.call(t, "GET", "/api/v1/sockets", testKey, "")
	var sr api.SocketsResponse
	_ = json.Unmarshal(body, &sr)
	if sr.Count != 1 || sr.Sockets[0].ID != idB {
		t.Fatalf("after disconnect: %s", body)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	c := dialPolling(t, e.engine.URL)
	c.connect("/", "")
	res, body := e.call(t, "GET", "/api/v1/stats", testKey, "")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	var st api.StatsResponse
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Broker.Node != e.srv.NodeID() || st.Broker.Connects != 1 || st.Engine.Open != 1 || st.Engine.SessionsOpened != 1 {
		t.Fatalf("stats %s", body)
	}
	if _, ok := st.Engine.SessionsClosed["ping_timeout"]; !ok {
		t.Errorf("sessions_closed_total lacks reasons: %s", body)
	}
	for _, key := range []string{"transport_unknown", "session_id_unknown", "bad_handshake_method", "bad_request", "forbidden", "unsupported_protocol_version", "shutdown"} {
		if _, ok := st.Engine.HandshakeErrors[key]; !ok {
			t.Errorf("handshake_errors_total lacks %s: %s", key, body)
		}
	}
	for _, key := range []string{`"posts_cut_total":0`, `"posts_too_large_total":0`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("stats lack %s: %s", key, body)
		}
	}
	// The process figures an operator needs to see a leak: the test's
	// own goroutines are more than a handful, the heap and the resident
	// set are not empty.
	if rt := st.Runtime; rt.Goroutines < 2 || rt.GOMAXPROCS < 1 || rt.HeapBytes == 0 || rt.GoMemBytes < rt.HeapBytes || rt.RSSBytes == 0 {
		t.Errorf("runtime %+v: %s", rt, body)
	}
}

func TestHealthzDraining(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		res, body := e.call(t, "GET", path, "", "")
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"draining"`) {
			t.Fatalf("%s: status %d body %s; want 503 draining so load balancers stop routing here", path, res.StatusCode, body)
		}
	}
}

func TestReadyzLifecycle(t *testing.T) {
	var serving, draining bool
	e := newEnv(t, api.Config{Key: testKey, Lifecycle: func() (bool, bool) { return serving, draining }}, nil)
	for _, step := range []struct {
		serving, draining bool
		code              int
		status            string
	}{
		{false, false, 503, "starting"},
		{true, false, 200, "ok"},
		{true, true, 503, "draining"},
	} {
		serving, draining = step.serving, step.draining
		res, body := e.call(t, "GET", "/readyz", "", "")
		if res.StatusCode != step.code || !strings.Contains(string(body), `"status":"`+step.status+`"`) {
			t.Fatalf("serving=%v draining=%v: %d %s", step.serving, step.draining, res.StatusCode, body)
		}
	}
	if res, _ := e.call(t, "POST", "/readyz", "", ""); res.StatusCode != 405 {
		t.Fatalf("POST /readyz: %d", res.StatusCode)
	}
}
