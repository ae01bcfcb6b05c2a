package integration

// The backend bridge against the Node example backend
// (examples/backend-node: server.js answers the signed webhook,
// worker.js consumes the event and lifecycle streams in a consumer
// group), all as real processes: `ionbus serve`, node, redis-server and
// socket.io-client sockets (js/swarm.js). worker.js finds the redis
// package in integration/node_modules (NODE_PATH), so `npm ci` in
// integration/ is all it needs.
//
//	go test -race -run 'TestBridgeNode|TestBridgeLifecycle' ./integration/
//
// About 15 s for the three.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/broker/bridge"
	"github.com/ionbus/ionbus/internal/redistest"
)

// nbSecret is the HMAC key shared by server.js and the nodes.
const nbSecret = "node-backend-secret"

var nbExample = filepath.Join("..", "examples", "backend-node")

// jsonLines is the stdout of a backend process (Node, Python), one JSON
// object a line.
func jsonLines(p *proc) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.out.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// nbBackend is examples/backend-node/server.js.
type nbBackend struct {
	p    *proc
	base string
	http *http.Client
}

func (b *nbBackend) hookURL() string { return b.base + "/ionbus" }

// startNodeBackend runs server.js with extra KEY=value env and waits for
// /healthz.
func startNodeBackend(t *testing.T, env ...string) *nbBackend {
	t.Helper()
	node := requireNode(t)
	port := freePort(t)
	cmd := exec.Command(node, filepath.Join(nbExample, "server.js"))
	cmd.Env = append(os.Environ(), append([]string{"IONBUS_BACKEND_SECRET=" + nbSecret, fmt.Sprintf("PORT=%d", port),
		"USERS=alice:alice-pw:Alice:admin|editor,bob:bob-pw:Bob:viewer,carol:carol-pw:Carol:viewer"}, env...)...)
	b := &nbBackend{p: startProc(t, "server.js", cmd), base: fmt.Sprintf("http://127.0.0.1:%d", port),
		http: &http.Client{Timeout: 5 * time.Second}}
	poll(t, 10*time.Second, func() string { return "server.js /healthz\n" + b.p.out.String() }, func() bool {
		if b.p.exited() {
			t.Fatalf("server.js exited: %v\n%s", b.p.err, b.p.out.String())
		}
		resp, err := b.http.Get(b.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Cleanup(func() {
		if t.Failed() {
			out := b.p.out.String()
			if len(out) > 30000 {
				out = "...\n" + out[len(out)-30000:]
			}
			t.Logf("--- server.js ---\n%s", out)
		}
	})
	return b
}

// login opens a session through /login; it returns the Cookie header
// value the browser would send ("sid=...").
func (b *nbBackend) login(t *testing.T, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "password": password})
	resp, err := b.http.Post(b.base+"/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Session string `json:"session"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Session == "" {
		t.Fatalf("login %s: status %d, %+v, %v", user, resp.StatusCode, out, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sid" {
			if c.Value != out.Session {
				t.Fatalf("login %s: Set-Cookie sid=%q, session %q", user, c.Value, out.Session)
			}
			return "sid=" + c.Value
		}
	}
	t.Fatalf("login %s: no sid cookie set", user)
	return ""
}

// nbReceived is one event server.js recorded for a socket.
type nbReceived struct {
	Event string  `json:"event"`
	Seq   float64 `json:"seq"`
	Ack   bool    `json:"ack"`
	User  string  `json:"user"`
}

// received is GET /received?socket=sid.
func (b *nbBackend) received(t *testing.T, sid string) []nbReceived {
	t.Helper()
	resp, err := b.http.Get(b.base + "/received?socket=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Events []nbReceived `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Events
}

// lifecycle is GET /lifecycle: the webhook's events, deduplicated.
func (b *nbBackend) lifecycle(t *testing.T) []bridge.LifeEvent {
	t.Helper()
	resp, err := b.http.Get(b.base + "/lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Events []bridge.LifeEvent `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Events
}

// startNodeWorker runs worker.js (group "app") on the given streams
// ("" skips one) and waits for its ready line.
func startNodeWorker(t *testing.T, redisURL, events, life string) *proc {
	t.Helper()
	node := requireNode(t)
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(nbExample, "worker.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "REDIS_URL="+redisURL,
		"EVENTS_STREAM="+events, "LIFECYCLE_STREAM="+life, "CONSUMER=it-1")
	p := startProc(t, "worker.js", cmd)
	poll(t, 10*time.Second, func() string { return "worker.js ready\n" + p.out.String() }, func() bool {
		if p.exited() {
			t.Fatalf("worker.js exited: %v\n%s", p.err, p.out.String())
		}
		for _, l := range jsonLines(p) {
			if l["fatal"] != nil {
				t.Fatalf("worker.js: %v", l["fatal"])
			}
			if l["ready"] == true {
				return true
			}
		}
		return false
	})
	t.Cleanup(func() {
		if t.Failed() {
			out := p.out.String()
			if len(out) > 30000 {
				out = "...\n" + out[len(out)-30000:]
			}
			t.Logf("--- worker.js ---\n%s", out)
		}
	})
	return p
}

// nbYAML renders a node whose backend is server.js; redisURL "" runs
// without Redis; backend is appended to the backend block (each line
// indented two spaces).
func nbYAML(id, hookURL, redisURL, backend, namespaces string) func(port, apiPort int) string {
	return func(port, apiPort int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\nnode_id: %q\n", port, id)
		fmt.Fprintf(&b, "api: {listen: \"127.0.0.1:%d\", key: %q}\n", apiPort, clusterAPIKey)
		b.WriteString("engine: {ping_interval: 1s, ping_timeout: 1s}\nshutdown_timeout: 3s\nlog: {level: info, format: json}\n")
		b.WriteString("limits: {enabled: false}\n")
		if redisURL != "" {
			fmt.Fprintf(&b, "redis: {url: %q, key: \"socket.io\", request_timeout: 2s}\n", redisURL)
		}
		fmt.Fprintf(&b, "backend:\n  url: %q\n  timeout: 2s\n  cache_ttl: 0s\n%s", hookURL, backend)
		b.WriteString("namespaces:\n" + namespaces)
		return b.String()
	}
}

// nbOpen opens socket id on nsp with a Cookie header and returns the
// connect or connect_error line.
func nbOpen(sw *swarm, id, url, nsp, cookie string) map[string]any {
	sw.t.Helper()
	from := sw.mark()
	cmd := map[string]any{"cmd": "connect", "id": id, "url": url, "nsp": nsp}
	if cookie != "" {
		cmd["headers"] = map[string]string{"cookie": cookie}
	}
	sw.send(cmd)
	return sw.outcome(id, from)
}

// nbAdmit is nbOpen that requires a connect; it returns the socket id.
func nbAdmit(sw *swarm, id, url, nsp, cookie string) string {
	sw.t.Helper()
	m := nbOpen(sw, id, url, nsp, cookie)
	if m["ev"] != "connect" {
		sw.t.Fatalf("%s on %s: want connect, got %v\n%s", id, nsp, m, sw.transcript())
	}
	return m["sid"].(string)
}

// nbEvent waits for event on socket id after line from and returns its
// first argument and line index.
func nbEvent(sw *swarm, id, event string, from int) (map[string]any, int) {
	sw.t.Helper()
	m, at := sw.waitLine(10*time.Second, fmt.Sprintf("%q on %s", event, id), from, func(m map[string]any) bool {
		return m["ev"] == "event" && m["id"] == id && m["name"] == event
	})
	args, _ := m["args"].([]any)
	if len(args) == 0 {
		return nil, at
	}
	arg, _ := args[0].(map[string]any)
	return arg, at
}

// nbAPIEmit is POST /api/v1/emit to rooms of "/".
func nbAPIEmit(t *testing.T, n *ionbusNode, rooms []string, event string, data ...any) {
	t.Helper()
	var out json.RawMessage
	body := map[string]any{"namespace": "/", "event": event, "data": data, "rooms": rooms}
	if code := n.do(t, http.MethodPost, "/api/v1/emit", body, &out); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("emit %s to %v: %d %s", event, rooms, code, out)
	}
}

const nbSessionNamespaces = `  - name: /
    access: authenticated
    authenticate: backend
    auto_join: ["user:{user}"]
    events:
      - match: ["request_caption_status", "chat_*"]
        via: http
`

// TestBridgeNodeSessionAndEvents: an Express-style sid cookie, checked
// by server.js, makes the socket the backend's user (its rooms and
// user:{user}); a missing or unknown session is refused with the
// backend's code; request_caption_status answers by ack and by emit
// (emit first); the backend's join answer puts the socket in a room that
// an API emit then reaches, and its leave answer takes it out; forged or
// replayed hook requests get 401 from server.js.
func TestBridgeNodeSessionAndEvents(t *testing.T) {
	requireNode(t)
	be := startNodeBackend(t)
	n := startIonbusYAML(t, "nb1", nbYAML("nb1", be.hookURL(), "", "", nbSessionNamespaces), "IONBUS_BACKEND_SECRET="+nbSecret)
	sw := startSwarm(t)
	url := n.url()

	// Sessions.
	for _, c := range []struct{ id, cookie string }{{"none", ""}, {"forged", "sid=not-a-session"}} {
		m := nbOpen(sw, c.id, url, "/", c.cookie)
		data, _ := m["data"].(map[string]any)
		if m["ev"] != "connect_error" || data["code"] != "AUTH_INVALID_SESSION" {
			t.Fatalf("%s: want connect_error with data.code AUTH_INVALID_SESSION, got %v", c.id, m)
		}
	}
	alice := nbAdmit(sw, "alice", url, "/", be.login(t, "alice", "alice-pw"))
	bob := nbAdmit(sw, "bob", url, "/", "session="+strings.TrimPrefix(be.login(t, "bob", "bob-pw"), "sid="))
	if alice == bob {
		t.Fatalf("two sockets with one id %s", alice)
	}

	// Rooms of the connect answer (role:<role>) and of auto_join
	// (user:<backend user id>).
	from := sw.mark()
	nbAPIEmit(t, n, []string{"role:admin"}, "admins", "a")
	nbAPIEmit(t, n, []string{"user:bob"}, "for_bob", "b")
	nbEvent(sw, "alice", "admins", from)
	nbEvent(sw, "bob", "for_bob", from)
	if got := sw.received("bob", "admins"); len(got) != 0 {
		t.Fatalf("bob (viewer) got the admins' event: %v", got)
	}
	if got := sw.received("alice", "for_bob"); len(got) != 0 {
		t.Fatalf("alice got bob's event: %v", got)
	}

	// request_caption_status: the emit, then the ack, both from the backend.
	from = sw.mark()
	ack, _ := sw.call("alice", "request_caption_status", map[string]any{"job_id": "job-7"}).(map[string]any)
	if ack["job_id"] != "job-7" || ack["status"] != "ready" || ack["checked_by"] != "alice" {
		t.Fatalf("request_caption_status ack %v: want job-7 ready checked by alice", ack)
	}
	status, at := nbEvent(sw, "alice", "caption_status", from)
	if status["job_id"] != "job-7" {
		t.Fatalf("caption_status %v", status)
	}
	_, ackAt := sw.waitLine(time.Second, "the ack line", from, func(m map[string]any) bool { return m["ev"] == "ack" && m["id"] == "alice" })
	if at > ackAt {
		t.Fatalf("caption_status (line %d) came after the ack (line %d): the answer's emit goes first", at, ackAt)
	}
	// Without an ack the emit path alone answers.
	from = sw.mark()
	sw.send(map[string]any{"cmd": "emit", "id": "bob", "event": "request_caption_status", "args": []any{map[string]any{"job_id": "job-8"}}})
	if status, _ := nbEvent(sw, "bob", "caption_status", from); status["job_id"] != "job-8" || status["checked_by"] != "bob" {
		t.Fatalf("caption_status for bob %v", status)
	}
	// A backend error reaches the ack as the standard error payload.
	bad, _ := sw.call("alice", "request_caption_status", map[string]any{}).(map[string]any)
	if bad["error_code"] != "INVALID_JOB" || bad["retry_possible"] != false {
		t.Fatalf("ack of a refused request %v: want error_code INVALID_JOB, retry_possible false", bad)
	}

	// The backend's join answer: chat:lobby reaches alice only.
	if r, _ := sw.call("alice", "chat_join", map[string]any{"room": "lobby"}).(map[string]any); r["ok"] != true || r["room"] != "chat:lobby" {
		t.Fatalf("chat_join ack %v", r)
	}
	from = sw.mark()
	nbAPIEmit(t, n, []string{"chat:lobby"}, "lobby_news", "n1")
	if got, _ := nbEvent(sw, "alice", "lobby_news", from); got != nil {
		t.Fatalf("lobby_news args %v", got)
	}
	// ... until its leave answer; a later marker to both proves the
	// second lobby_news went nowhere.
	sw.call("alice", "chat_leave", map[string]any{"room": "lobby"})
	from = sw.mark()
	nbAPIEmit(t, n, []string{"chat:lobby"}, "lobby_news", "n2")
	nbAPIEmit(t, n, []string{"user:alice", "user:bob"}, "marker", "m")
	nbEvent(sw, "alice", "marker", from)
	nbEvent(sw, "bob", "marker", from)
	if got := sw.received("alice", "lobby_news"); len(got) != 1 || len(sw.received("bob", "lobby_news")) != 0 {
		t.Fatalf("lobby_news deliveries alice %v bob %v: want one, to alice, before chat_leave", got, sw.received("bob", "lobby_news"))
	}

	// What server.js saw of alice, in order, with her backend identity.
	got := be.received(t, alice)
	var names []string
	for _, e := range got {
		if e.User != "alice" {
			t.Fatalf("event %v: the socket's user is not alice", e)
		}
		names = append(names, e.Event)
	}
	if want := "request_caption_status request_caption_status chat_join chat_leave"; strings.Join(names, " ") != want {
		t.Fatalf("server.js received %q from alice, want %q", names, want)
	}

	// Forged and replayed hooks never reach the handlers.
	body := []byte(`{"type":"event","namespace":"/","event":"chat_message","args":[{"seq":1}],"ack":false,"socket":{"id":"intruder","user":null,"rooms":[],"data":null}}`)
	for name, sig := range map[string]string{
		"none":     "",
		"wrongkey": bridge.Sign([]byte("not-the-secret"), time.Now(), body),
		"replayed": bridge.Sign([]byte(nbSecret), time.Now().Add(-time.Hour), body),
		"garbage":  "t=1,v1=zz",
	} {
		req, _ := http.NewRequest(http.MethodPost, be.hookURL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set(bridge.SignatureHeader, sig)
		}
		resp, err := be.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s signature: status %d, want 401", name, resp.StatusCode)
		}
	}
	// The same body, signed now with the secret, is accepted.
	req, _ := http.NewRequest(http.MethodPost, be.hookURL(), bytes.NewReader(body))
	req.Header.Set(bridge.SignatureHeader, bridge.Sign([]byte(nbSecret), time.Now(), body))
	resp, err := be.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a correctly signed hook: status %d, want 200", resp.StatusCode)
	}
	if got := be.received(t, "intruder"); len(got) != 1 {
		t.Fatalf("server.js recorded %v for the test's own hooks: want only the signed one", got)
	}
	for _, l := range jsonLines(be.p) {
		if l["hook"] == "refused" && l["node"] != nil {
			t.Errorf("server.js refused a node's signature: %v", l)
		}
	}
}

// nbStreamEntry is one entry of the event stream, as ionbus writes it.
type nbStreamEntry struct {
	id     string
	event  string
	socket string
	seq    float64
	ack    bool
}

func nbParseEvent(m redis.XMessage) (nbStreamEntry, error) {
	e := nbStreamEntry{id: m.ID}
	e.event, _ = m.Values["event"].(string)
	e.ack = m.Values["ack"] == "true"
	var args []map[string]any
	var sock struct {
		ID string `json:"id"`
	}
	a, _ := m.Values["args"].(string)
	s, _ := m.Values["socket"].(string)
	if err := json.Unmarshal([]byte(a), &args); err != nil || len(args) == 0 {
		return e, fmt.Errorf("entry %s: args %q: %v", m.ID, a, err)
	}
	if err := json.Unmarshal([]byte(s), &sock); err != nil {
		return e, fmt.Errorf("entry %s: socket %q: %v", m.ID, s, err)
	}
	e.socket = sock.ID
	e.seq, _ = args[0]["seq"].(float64)
	return e, nil
}

// TestBridgeNodeOrdering: one socket emits 1,000 chat_* events routed via
// http, a third of them with an ack, as fast as it can; server.js
// receives every one, in the order sent, and each ack carries its own
// sequence number. Then 1,000 pause_*/resume_* events routed via stream:
// the socket's entries in Redis, and the entries worker.js processes
// (XREADGROUP, XACK), are in the order sent, none missing, none left
// pending.
func TestBridgeNodeOrdering(t *testing.T) {
	requireClusterTools(t)
	const total = 1000
	rs := redistest.Start(t)
	stream := "nb:events:" + keyFor(t)
	be := startNodeBackend(t, "QUIET=1")
	worker := startNodeWorker(t, rs.URL(), stream, "")
	n := startIonbusYAML(t, "nb1", nbYAML("nb1", be.hookURL(), rs.URL(),
		fmt.Sprintf("  max_inflight_per_socket: %d\n  stream: {key: %q}\n", 2*total, stream), `  - name: /
    access: authenticated
    authenticate: backend
    events:
      - match: ["chat_*"]
        via: http
      - match: ["pause_*", "resume_*"]
        via: stream
`), "IONBUS_BACKEND_SECRET="+nbSecret)
	sw := startSwarm(t)
	sid := nbAdmit(sw, "a1", n.url(), "/", be.login(t, "alice", "alice-pw"))

	// via http
	start := time.Now()
	from := sw.mark()
	var lines bytes.Buffer
	for i := 1; i <= total; i++ {
		cmd := map[string]any{"cmd": "emit", "id": "a1", "event": []string{"chat_message", "chat_typing"}[i%2],
			"args": []any{map[string]any{"seq": i}}}
		if i%3 == 0 {
			cmd["ack"], cmd["seq"] = true, 1_000_000+i
		}
		b, _ := json.Marshal(cmd)
		lines.Write(append(b, '\n'))
	}
	if _, err := sw.in.Write(lines.Bytes()); err != nil { // one write: the socket emits back to back
		t.Fatal(err)
	}
	var got []nbReceived
	poll(t, 20*time.Second, func() string {
		return fmt.Sprintf("%d of %d events at server.js\n%s", len(got), total, sw.transcript())
	}, func() bool {
		got = be.received(t, sid)
		return len(got) >= total
	})
	httpTook := time.Since(start)
	if len(got) != total {
		t.Fatalf("server.js got %d events, want %d", len(got), total)
	}
	for i, e := range got {
		if want := float64(i + 1); e.Seq != want || e.Ack != ((i+1)%3 == 0) {
			t.Fatalf("server.js event #%d: %+v, want seq %v ack %v (order or ack flag broken)", i, e, want, (i+1)%3 == 0)
		}
	}
	poll(t, 10*time.Second, func() string { return "every ack\n" + sw.transcript() }, func() bool {
		acks, _ := sw.find(func(m map[string]any) bool { return m["ev"] == "ack" && m["id"] == "a1" })
		return len(acks) >= total/3
	})
	for _, l := range sw.snapshot()[from:] {
		if l["ev"] != "ack" {
			continue
		}
		args, _ := l["args"].([]any)
		arg, _ := func() (map[string]any, bool) {
			if len(args) == 0 {
				return nil, false
			}
			m, ok := args[0].(map[string]any)
			return m, ok
		}()
		if l["error"] != nil || arg["ok"] != true || arg["seq"] != l["seq"].(float64)-1_000_000 {
			t.Fatalf("ack %v: want {ok:true, seq:<its own>}", l)
		}
	}
	t.Logf("via http: %d events in %v", total, httpTook)

	// via stream
	start = time.Now()
	lines.Reset()
	for i := 1; i <= total; i++ {
		cmd := map[string]any{"cmd": "emit", "id": "a1", "event": []string{"pause_job", "resume_job"}[i%2],
			"args": []any{map[string]any{"seq": i}}}
		if i%4 == 0 {
			cmd["ack"], cmd["seq"] = true, 2_000_000+i
		}
		b, _ := json.Marshal(cmd)
		lines.Write(append(b, '\n'))
	}
	if _, err := sw.in.Write(lines.Bytes()); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	var entries []redis.XMessage
	poll(t, 20*time.Second, func() string { return fmt.Sprintf("%d stream entries of %d", len(entries), total) }, func() bool {
		var err error
		entries, err = rdb.XRange(ctx, stream, "-", "+").Result()
		return err == nil && len(entries) >= total
	})
	t.Logf("via stream: %d entries in %v", len(entries), time.Since(start))
	if len(entries) != total {
		t.Fatalf("%d stream entries, want %d", len(entries), total)
	}
	for i, m := range entries {
		e, err := nbParseEvent(m)
		if err != nil {
			t.Fatal(err)
		}
		if e.socket != sid || e.seq != float64(i+1) || e.ack != ((i+1)%4 == 0) || e.event != []string{"pause_job", "resume_job"}[(i+1)%2] {
			t.Fatalf("stream entry #%d: %+v, want seq %d of socket %s", i, e, i+1, sid)
		}
	}
	// Each stream ack confirms its own entry.
	poll(t, 10*time.Second, func() string { return "the stream acks\n" + sw.transcript() }, func() bool {
		acks, _ := sw.find(func(m map[string]any) bool { return m["ev"] == "ack" && m["seq"].(float64) > 2_000_000 })
		return len(acks) >= total/4
	})
	ids := map[string]float64{}
	for _, m := range entries {
		e, _ := nbParseEvent(m)
		ids[m.ID] = e.seq
	}
	acks, _ := sw.find(func(m map[string]any) bool { return m["ev"] == "ack" && m["seq"].(float64) > 2_000_000 })
	for _, l := range acks {
		args, _ := l["args"].([]any)
		arg, _ := args[0].(map[string]any)
		id, _ := arg["id"].(string)
		if arg["ok"] != true || ids[id] != l["seq"].(float64)-2_000_000 {
			t.Fatalf("stream ack %v: want ok and the id of its own entry", l)
		}
	}

	// worker.js: every entry once, in order, acknowledged.
	var seqs []float64
	poll(t, 15*time.Second, func() string { return fmt.Sprintf("worker.js printed %d of %d", len(seqs), total) }, func() bool {
		seqs = seqs[:0]
		for _, l := range jsonLines(worker) {
			if l["type"] != "event" || l["stream"] != stream {
				continue
			}
			sock, _ := l["socket"].(map[string]any)
			args, _ := l["args"].([]any)
			if sock["id"] != sid || len(args) == 0 {
				t.Fatalf("worker.js line %v: not socket %s's", l, sid)
			}
			seqs = append(seqs, args[0].(map[string]any)["seq"].(float64))
		}
		return len(seqs) >= total
	})
	for i, s := range seqs {
		if s != float64(i+1) {
			t.Fatalf("worker.js entry #%d has seq %v: want %d (exactly once, in order)", i, s, i+1)
		}
	}
	poll(t, 5*time.Second, func() string { return "no pending entries in group app" }, func() bool {
		p, err := rdb.XPending(ctx, stream, "app").Result()
		return err == nil && p.Count == 0
	})
}

// nbLife reads the lifecycle stream.
func nbLife(t *testing.T, rdb *redis.Client, key string) []bridge.LifeEvent {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bridge.LifeEvent, 0, len(msgs))
	for _, m := range msgs {
		v := func(k string) string { s, _ := m.Values[k].(string); return s }
		out = append(out, bridge.LifeEvent{Type: v("type"), Namespace: v("namespace"), SID: v("sid"), User: v("user"),
			Room: v("room"), Reason: v("reason"), Node: v("node"), Time: v("time"), ID: v("id")})
	}
	return out
}

// nbCount counts the events matching pred.
func nbCount(evs []bridge.LifeEvent, pred func(e bridge.LifeEvent) bool) int {
	n := 0
	for _, e := range evs {
		if pred(e) {
			n++
		}
	}
	return n
}

// TestBridgeLifecycleNodeKilled: two nodes on one Redis write lifecycle
// events to one stream. The normal path on node B: join and leave (the
// backend's answers) are entries, a client disconnect is a disconnect
// with the client's reason plus offline for its user. Then node A is
// SIGKILLed with five sockets (three users' and two anonymous): within
// about 2×node_ttl node B's sweep writes exactly one disconnect "node
// dead" per socket of A, offline for bob (his only socket was on A) and
// none for alice (she still has a socket on B); B's own sockets get no
// disconnect. worker.js, the consumer group reader, sees the same once
// each, and server.js got the batches by webhook.
func TestBridgeLifecycleNodeKilled(t *testing.T) {
	requireClusterTools(t)
	const nodeTTL = 1500 * time.Millisecond
	rs := redistest.Start(t)
	life := "nb:life:" + keyFor(t)
	be := startNodeBackend(t)
	worker := startNodeWorker(t, rs.URL(), "", life)
	namespaces := nbSessionNamespaces + `  - name: /lobby
    access: public
`
	backend := fmt.Sprintf("  node_ttl: %s\n  lifecycle: {stream: %q, webhook: true, flush_interval: 100ms}\n", nodeTTL, life)
	var nodes []*ionbusNode
	for _, id := range []string{"nbA", "nbB"} {
		nodes = append(nodes, launchIonbus(t, id, nbYAML(id, be.hookURL(), rs.URL(), backend, namespaces), "IONBUS_BACKEND_SECRET="+nbSecret))
	}
	waitIonbus(t, nodes)
	a, b := nodes[0], nodes[1]
	sw := startSwarm(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })

	// Node A: alice twice, bob, two anonymous; node B: alice, carol, one anonymous.
	sids := map[string]string{}
	onA := []string{"a1", "a2", "b1", "x1", "x2"}
	for _, s := range []struct{ id, node, nsp, user string }{
		{"a1", "A", "/", "alice"}, {"a2", "A", "/", "alice"}, {"b1", "A", "/", "bob"},
		{"x1", "A", "/lobby", ""}, {"x2", "A", "/lobby", ""},
		{"a3", "B", "/", "alice"}, {"c1", "B", "/", "carol"}, {"y1", "B", "/lobby", ""},
	} {
		n, cookie := a, ""
		if s.node == "B" {
			n = b
		}
		if s.user != "" {
			cookie = be.login(t, s.user, s.user+"-pw")
		}
		sids[s.id] = nbAdmit(sw, s.id, n.url(), s.nsp, cookie)
	}
	var evs []bridge.LifeEvent
	poll(t, 10*time.Second, func() string { return fmt.Sprintf("a connect per socket in %v", evs) }, func() bool {
		evs = nbLife(t, rdb, life)
		for _, sid := range sids {
			if nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "connect" && e.SID == sid }) != 1 {
				return false
			}
		}
		return true
	})
	for _, user := range []string{"alice", "bob", "carol"} {
		if got := nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "online" && e.User == user }); got != 1 {
			t.Fatalf("%d online for %s, want 1 (first socket on the cluster)\n%v", got, user, evs)
		}
	}
	if got := nbCount(evs, func(e bridge.LifeEvent) bool { return (e.Type == "online" || e.Type == "offline") && e.User == "" }); got != 0 {
		t.Fatalf("anonymous sockets have no online/offline, got %d\n%v", got, evs)
	}

	// Normal path on B: join, leave, client disconnect.
	sw.call("c1", "chat_join", map[string]any{"room": "r1"})
	sw.call("c1", "chat_leave", map[string]any{"room": "r1"})
	sw.disconnect("c1")
	c1 := sids["c1"]
	poll(t, 10*time.Second, func() string { return fmt.Sprintf("c1's join, leave, disconnect, offline in %v", evs) }, func() bool {
		evs = nbLife(t, rdb, life)
		return nbCount(evs, func(e bridge.LifeEvent) bool { return e.User == "carol" && e.Type == "offline" }) == 1
	})
	var c1Seq []string
	for _, e := range evs {
		if e.SID == c1 {
			c1Seq = append(c1Seq, e.Type+"("+e.Room+e.Reason+")")
		}
	}
	// The connect answer's rooms and auto_join are joins too.
	if want := "connect() online() join(role:viewer) join(user:carol) join(chat:r1) leave(chat:r1) " +
		"disconnect(client namespace disconnect) offline(client namespace disconnect)"; strings.Join(c1Seq, " ") != want {
		t.Fatalf("c1's lifecycle %q, want %q", c1Seq, want)
	}

	// SIGKILL node A.
	killed := time.Now()
	a.p.kill()
	deadSince := func(sid string) int {
		return nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "disconnect" && e.SID == sid })
	}
	poll(t, 2*nodeTTL+3*time.Second, func() string { return fmt.Sprintf("a node-dead disconnect per socket of A in %v", evs) }, func() bool {
		evs = nbLife(t, rdb, life)
		for _, id := range onA {
			if deadSince(sids[id]) == 0 {
				return false
			}
		}
		return nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "offline" && e.User == "bob" }) == 1
	})
	took := time.Since(killed)
	t.Logf("node A's disconnects written %v after SIGKILL (node_ttl %v)", took, nodeTTL)
	if took > 2*nodeTTL+500*time.Millisecond {
		t.Errorf("node A's disconnects took %v, want about 2×node_ttl (%v) at most", took, 2*nodeTTL)
	}
	// Another sweep period or two: nothing is written twice.
	time.Sleep(nodeTTL)
	evs = nbLife(t, rdb, life)
	for _, id := range onA {
		sid := sids[id]
		dis := 0
		for _, e := range evs {
			if e.Type == "disconnect" && e.SID == sid {
				dis++
				if e.Reason != "node dead" || e.Node != "nbA" {
					t.Errorf("%s disconnect %+v: want reason \"node dead\", node nbA", id, e)
				}
			}
		}
		if dis != 1 {
			t.Errorf("%s (%s): %d disconnects, want exactly 1\n%v", id, sid, dis, evs)
		}
	}
	for _, id := range []string{"a3", "y1"} {
		if got := deadSince(sids[id]); got != 0 {
			t.Errorf("%s lives on B: %d disconnects, want 0", id, got)
		}
	}
	if got := nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "offline" && e.User == "alice" }); got != 0 {
		t.Errorf("alice still has a3 on B: %d offline, want 0", got)
	}
	if got := nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "offline" && e.User == "bob" }); got != 1 {
		t.Errorf("bob: %d offline, want 1", got)
	}
	if got := nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "offline" && e.User == "" }); got != 0 {
		t.Errorf("anonymous offline entries: %d", got)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Errorf("id %s twice in the stream: %+v", e.ID, e)
		}
		seen[e.ID] = true
	}

	// worker.js read every entry of the group, each once (no dup), and
	// acknowledged them.
	var printed []map[string]any
	poll(t, 10*time.Second, func() string { return fmt.Sprintf("worker.js printed %d of %d entries", len(printed), len(evs)) }, func() bool {
		printed = printed[:0]
		for _, l := range jsonLines(worker) {
			if l["stream"] == life {
				printed = append(printed, l)
			}
		}
		return len(printed) >= len(evs)
	})
	dead := 0
	for i, l := range printed {
		if l["id"] != evs[i].ID || l["dup"] != false {
			t.Fatalf("worker.js line %d %v: want entry %+v once", i, l, evs[i])
		}
		if l["type"] == "disconnect" && l["reason"] == "node dead" {
			dead++
		}
	}
	if dead != len(onA) {
		t.Errorf("worker.js saw %d node-dead disconnects, want %d", dead, len(onA))
	}
	poll(t, 5*time.Second, func() string { return "no pending lifecycle entries" }, func() bool {
		p, err := rdb.XPending(context.Background(), life, "app").Result()
		return err == nil && p.Count == 0
	})

	// The webhook: server.js got B's batches, the sweep's included:
	// c1's join and leave, and one node-dead disconnect per socket of A
	// (server.js dedupes on id, so a repost would not count twice; a
	// second id would).
	deadA := func(evs []bridge.LifeEvent) int {
		return nbCount(evs, func(e bridge.LifeEvent) bool { return e.Type == "disconnect" && e.Reason == "node dead" })
	}
	poll(t, 5*time.Second, func() string { return fmt.Sprintf("the webhook's events %v", be.lifecycle(t)) }, func() bool {
		hooked := be.lifecycle(t)
		return deadA(hooked) >= len(onA) && nbCount(hooked, func(e bridge.LifeEvent) bool {
			return e.SID == c1 && (e.Type == "join" || e.Type == "leave") && e.Room == "chat:r1"
		}) == 2
	})
	if hooked := be.lifecycle(t); deadA(hooked) != len(onA) {
		t.Errorf("webhook: %d node-dead disconnects, want %d", deadA(hooked), len(onA))
	}
}
