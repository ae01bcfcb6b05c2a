package node

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/bridge"
	"github.com/ionbus/ionbus/internal/redistest"
)

// hookBackend is a backend of the test: it checks every signature and
// answers connect by the forwarded session cookie, events by name.
type hookBackend struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	types  []string
}

func (h *hookBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := bridge.Verify([]byte(h.secret), r.Header.Get("X-Ionbus-Signature"), body, time.Now(), time.Minute); err != nil {
		h.t.Errorf("bad signature: %v", err)
		http.Error(w, "forged", http.StatusUnauthorized)
		return
	}
	var req struct {
		Type    string            `json:"type"`
		Event   string            `json:"event"`
		Args    []any             `json:"args"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		h.t.Errorf("request %s: %v", body, err)
	}
	h.mu.Lock()
	h.types = append(h.types, req.Type)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case req.Type == "connect" && req.Headers["cookie"] == "session=s1":
		_, _ = io.WriteString(w, `{"user":{"id":"u7","name":"Ada","roles":["staff"]},"rooms":["topic:news"]}`)
	case req.Type == "connect":
		_, _ = io.WriteString(w, `{"error":{"code":"AUTH_INVALID_SESSION","message":"unknown session"}}`)
	case req.Type == "event" && req.Event == "request_status":
		_, _ = io.WriteString(w, `{"emit":[{"event":"status","args":["busy"]}],"ack":[{"job":`+jsonString(req.Args)+`}]}`)
	default:
		_, _ = io.WriteString(w, `{}`)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// dialWithCookie is dialSocket with a Cookie header on the handshake.
func dialWithCookie(t *testing.T, n *Node, cookie string) *wsClient {
	t.Helper()
	h := http.Header{"Cookie": []string{cookie}}
	return dialSocketHeader(t, n, "", h)
}

// TestNodeBackendBridge wires backend.* from a Config: the connect hook
// authenticates a session cookie (its user gets the role namespace, the
// backend's rooms and user:<id>), a configured event is answered by the
// backend's emit and ack, an unhandled event with an ack gets
// EVENT_NOT_HANDLED, and a bad session is refused with the backend's code.
func TestNodeBackendBridge(t *testing.T) {
	const secret = "hook-secret"
	hb := &hookBackend{t: t, secret: secret}
	backend := httptest.NewServer(hb)
	t.Cleanup(backend.Close)

	cfg := clusterConfig(redistest.Start(t).URL(), "node-bridge")
	cfg.Backend.URL = backend.URL + "/ionbus"
	cfg.Backend.Secret = secret
	cfg.Namespaces = []NamespaceConfig{{
		Name: "/", Access: "role:staff", Authenticate: "backend", AutoJoin: []string{"user:{user}"},
		Events: []EventRuleConfig{{Match: []string{"request_*"}}},
	}}
	n := startNode(t, cfg, nil)

	c := dialWithCookie(t, n, "session=s1")
	if p := c.next(); !strings.HasPrefix(p, `40{"sid":`) {
		t.Fatalf("connect answer %q", p)
	}
	c.send(`421["request_status",42]`)
	if p := c.next(); p != `42["status","busy"]` {
		t.Fatalf("backend emit %q", p)
	}
	if p := c.next(); p != `431[{"job":[42]}]` {
		t.Fatalf("backend ack %q", p)
	}
	c.send(`422["nobody_handles_this"]`)
	if p := c.next(); !strings.HasPrefix(p, `432[{"error_code":"EVENT_NOT_HANDLED"`) {
		t.Fatalf("unhandled ack %q", p)
	}
	// The backend's identity is the socket's: its rooms reach it.
	for _, room := range []string{"user:u7", "topic:news"} {
		body := `{"event":"note","rooms":["` + room + `"],"data":["hi"]}`
		req, _ := http.NewRequest("POST", "http://"+n.APIAddr().String()+"/api/v1/emit", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p := c.next(); p != `42["note","hi"]` {
			t.Fatalf("emit to %s: %q", room, p)
		}
	}

	bad := dialWithCookie(t, n, "session=nope")
	if p := bad.next(); !strings.HasPrefix(p, "44") || !strings.Contains(p, "AUTH_INVALID_SESSION") {
		t.Fatalf("bad session: %q", p)
	}
}

// TestBackendConfigProblems: the backend keys are checked with the rest,
// every problem at once.
func TestBackendConfigProblems(t *testing.T) {
	c := Default()
	c.Namespaces = []NamespaceConfig{
		{Name: "/", Authenticate: "backend"},
		{Name: "/jobs", Authenticate: "sometimes", Events: []EventRuleConfig{{Match: []string{"pause_*"}, Via: "stream"}, {Via: "pigeon"}}},
	}
	c.Backend.Lifecycle.Stream = "ionbus:lifecycle"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid backend config accepted")
	}
	for _, want := range []string{
		`namespaces[/]: authenticate "backend" and events need backend.url`,
		"namespaces[/jobs].authenticate",
		"namespaces[/jobs].events[0].via: stream needs redis.url",
		"namespaces[/jobs].events[1].match",
		`namespaces[/jobs].events[1].via: "pigeon"`,
		"backend.lifecycle.stream: set backend.url too",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	c.Backend.URL = "ftp://backend"
	c.Backend.MaxInflight = 0
	err = c.Validate()
	for _, want := range []string{"backend.url: want an absolute http or https URL", "backend.max_inflight", "backend.lifecycle.stream: needs redis.url"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
