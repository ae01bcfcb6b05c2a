package integration

// The backend bridge against the Python example backend
// (examples/backend-python: app.py answers the signed webhook, worker.py
// consumes the event stream) and against hostile backends
// (py/hostile_backend.py), all as real processes: `ionbus serve`,
// python3, redis-server and socket.io-client sockets (js/swarm.js).
//
//	go test -race -run 'TestBridgePython' ./integration/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/broker/bridge"
	"github.com/ionbus/ionbus/internal/redistest"
)

// pySecret is the HMAC key shared by app.py and the nodes.
const pySecret = "python-backend-secret"

var pyExample = filepath.Join("..", "examples", "backend-python")

// pyApp is examples/backend-python/app.py.
type pyApp struct {
	p    *proc
	base string
}

func (a *pyApp) hookURL() string { return a.base + "/ionbus" }

// startPyApp runs app.py with secret and extra flags and waits for /healthz.
func startPyApp(t *testing.T, secret string, args ...string) *pyApp {
	t.Helper()
	python := requireTool(t, "python3")
	port := freePort(t)
	cmd := exec.Command(python, append([]string{filepath.Join(pyExample, "app.py"), "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	cmd.Env = append(os.Environ(), "IONBUS_BACKEND_SECRET="+secret)
	a := &pyApp{p: startProc(t, "app.py", cmd), base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(t, a.p, a.base+"/healthz")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- app.py ---\n%s", a.p.out.String())
		}
	})
	return a
}

// waitHTTP waits until url answers 200 while p runs.
func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	poll(t, 10*time.Second, func() string { return url + "\n" + p.out.String() }, func() bool {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.out.String())
		}
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// login opens a session through app.py's /login; it returns the cookie.
func (a *pyApp) login(t *testing.T, user, password string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"user": user, "password": password})
	resp, err := http.Post(a.base+"/login", "application/json", bytes.NewReader(b))
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
		if c.Name == "session" && c.Value != out.Session {
			t.Fatalf("login %s: Set-Cookie %q does not match the session %q", user, c.Value, out.Session)
		}
	}
	return "session=" + out.Session
}

// bridgeNodeYAML renders a node whose backend is url; extra is appended
// verbatim (backend keys first: it continues the backend block when it
// starts with two spaces), then the namespaces.
func bridgeNodeYAML(id, url, backendExtra, top, namespaces string) func(port, apiPort int) string {
	return func(port, apiPort int) string {
		return fmt.Sprintf(`listen: "127.0.0.1:%d"
node_id: %q
api: {listen: "127.0.0.1:%d", key: %q}
engine: {ping_interval: 1s, ping_timeout: 1s}
shutdown_timeout: 3s
log: {level: info, format: json}
backend:
  url: %q
%s%s
namespaces:
%s`, port, id, apiPort, clusterAPIKey, url, backendExtra, top, namespaces)
	}
}

// openCookie opens a websocket socket id on nsp, with a Cookie header.
func (s *swarm) openCookie(id, url, nsp, cookie string) int {
	from := s.mark()
	cmd := map[string]any{"cmd": "connect", "id": id, "url": url, "nsp": nsp}
	if cookie != "" {
		cmd["headers"] = map[string]string{"cookie": cookie}
	}
	s.send(cmd)
	return from
}

// refusedWith opens id and requires a connect_error whose data.code is code.
func (s *swarm) refusedWith(id, url, nsp, cookie, code string) map[string]any {
	s.t.Helper()
	m := s.outcome(id, s.openCookie(id, url, nsp, cookie))
	data, _ := m["data"].(map[string]any)
	if m["ev"] != "connect_error" || data["code"] != code {
		s.t.Fatalf("%s on %s: want connect_error with data.code %s, got %v", id, nsp, code, m)
	}
	return data
}

// admitted opens id and requires a connect; it returns the socket id.
func (s *swarm) admitted(id, url, nsp, cookie string) string {
	s.t.Helper()
	m := s.outcome(id, s.openCookie(id, url, nsp, cookie))
	if m["ev"] != "connect" {
		s.t.Fatalf("%s on %s: want connect, got %v", id, nsp, m)
	}
	return m["sid"].(string)
}

// emitTo is the node's POST /api/v1/emit in any namespace.
func emitTo(t *testing.T, n *ionbusNode, nsp string, rooms []string, event string, data ...any) {
	t.Helper()
	var out json.RawMessage
	body := map[string]any{"namespace": nsp, "event": event, "data": data, "rooms": rooms}
	if code := n.do(t, http.MethodPost, "/api/v1/emit", body, &out); code != http.StatusAccepted {
		t.Fatalf("emit %s to %v in %s: %d %s", event, rooms, nsp, code, out)
	}
}

// eventArg waits for event on socket id and returns its first argument.
func (s *swarm) eventArg(id, event string, from int, pred func(map[string]any) bool) map[string]any {
	s.t.Helper()
	var arg map[string]any
	s.waitLine(10*time.Second, fmt.Sprintf("%q on %s", event, id), from, func(m map[string]any) bool {
		if m["ev"] != "event" || m["id"] != id || m["name"] != event {
			return false
		}
		a, _ := m["args"].([]any)
		if len(a) == 0 {
			return false
		}
		arg, _ = a[0].(map[string]any)
		return arg != nil && (pred == nil || pred(arg))
	})
	return arg
}

// pyStack is app.py behind one node: "/" authenticated by the
// backend with forwarded events, "/staff" for role staff, "/legacy" with
// the compatibility events, one connection per user.
func pyStack(t *testing.T) (*pyApp, *ionbusNode, *swarm) {
	t.Helper()
	requireNode(t)
	app := startPyApp(t, pySecret, "--user", "carol:carol-pw:Carol:viewer", "--user", "dave:dave-pw:Dave:viewer")
	n := startIonbusYAML(t, "py1", bridgeNodeYAML("py1", app.hookURL(), "  timeout: 2s\n",
		"limits: {enabled: true, max_connections_per_user: 1}\n", `  - name: /
    access: authenticated
    authenticate: backend
    auto_join: ["user:{user}"]
    events:
      - match: ["request_caption_status"]
        via: http
  - name: /staff
    access: role:staff
    authenticate: backend
  - name: /legacy
    access: authenticated
    authenticate: backend
    compat_events: true
`), "IONBUS_BACKEND_SECRET="+pySecret)
	return app, n, startSwarm(t)
}

// TestBridgePythonSession: an opaque session cookie, checked by app.py,
// makes the socket the backend's user, with its roles, rooms, data and
// per-user connection limit; bad sessions are refused with the backend's
// code, as CONNECT_ERROR or the auth_error compatibility event.
func TestBridgePythonSession(t *testing.T) {
	app, n, sw := pyStack(t)
	url := n.url()
	alice := app.login(t, "alice", "alice-pw")
	bob := app.login(t, "bob", "bob-pw")
	dave := app.login(t, "dave", "dave-pw")

	// Rooms: user:{user} from the backend's user id, topic:captions from
	// the answer's rooms.
	sw.admitted("alice", url, "/", alice)
	from := sw.mark()
	emitTo(t, n, "/", []string{"user:bob"}, "for_bob", "x")
	emitTo(t, n, "/", []string{"topic:captions"}, "caption_news", "n1")
	emitTo(t, n, "/", []string{"user:alice"}, "for_alice", "a1")
	sw.waitLine(10*time.Second, "caption_news on alice", from, func(m map[string]any) bool {
		return m["ev"] == "event" && m["id"] == "alice" && m["name"] == "caption_news"
	})
	sw.waitLine(10*time.Second, "for_alice on alice", from, func(m map[string]any) bool {
		return m["ev"] == "event" && m["id"] == "alice" && m["name"] == "for_alice"
	})
	if got := sw.received("alice", "for_bob"); len(got) != 0 {
		t.Fatalf("alice received bob's event: %v", got)
	}

	// Roles: bob (staff) enters role:staff, dave (viewer) does not.
	sw.admitted("bob", url, "/staff", bob)
	from = sw.mark()
	emitTo(t, n, "/staff", []string{"staff"}, "staff_news", "s1")
	sw.waitLine(10*time.Second, "staff_news on bob", from, func(m map[string]any) bool {
		return m["ev"] == "event" && m["id"] == "bob" && m["name"] == "staff_news"
	})
	sw.refusedWith("dave", url, "/staff", dave, "AUTH_INSUFFICIENT_PRIVILEGES")

	// Per-user limit: carol's second session (another cookie, same user
	// for the backend) is refused while the first is connected, and
	// admitted once it is gone.
	carol1, carol2 := app.login(t, "carol", "carol-pw"), app.login(t, "carol", "carol-pw")
	sw.admitted("carol1", url, "/", carol1)
	sw.refusedWith("carol2", url, "/", carol2, "CONNECTION_LIMIT_EXCEEDED")
	sw.disconnect("carol1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := sw.outcome("carol2", sw.openCookie("carol2", url, "/", carol2))
		if m["ev"] == "connect" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("carol2 still refused after carol1 left: %v", m)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Bad sessions: the backend's code reaches the client.
	data := sw.refusedWith("forged", url, "/", "session=not-a-session", "AUTH_INVALID_SESSION")
	if data["message"] != "unknown or expired session" {
		t.Errorf("connect_error data %v: want the backend's message", data)
	}
	sw.refusedWith("nocookie", url, "/", "", "AUTH_REQUIRED")
	from = sw.openCookie("legacy", url, "/legacy", "session=not-a-session")
	if m := sw.outcome("legacy", from); m["ev"] != "connect" {
		t.Fatalf("compat namespace: want connect then auth_error, got %v", m)
	}
	ev := sw.eventArg("legacy", "auth_error", from, nil)
	if ev["error_code"] != "AUTH_INVALID_SESSION" {
		t.Fatalf("auth_error %v: want error_code AUTH_INVALID_SESSION", ev)
	}
	sw.waitLine(10*time.Second, "disconnect of legacy", from, func(m map[string]any) bool {
		return m["ev"] == "disconnect" && m["id"] == "legacy"
	})

	// app.py saw each connect, never with a bad signature.
	var refused []string
	for _, l := range jsonLines(app.p) {
		if l["status"] == float64(401) {
			t.Errorf("app.py refused a signature: %v", l)
		}
		if l["hook"] == "connect" && l["refused"] != nil {
			refused = append(refused, l["refused"].(string))
		}
	}
	sort.Strings(refused)
	if want := []string{"AUTH_INVALID_SESSION", "AUTH_INVALID_SESSION", "AUTH_REQUIRED"}; fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("app.py refusals %v, want %v", refused, want)
	}
}

// TestBridgePythonHTTPEvents: request_caption_status goes to app.py and
// comes back as the ack when the client asked for one, else as the
// caption_status_response emit; an unrouted event is acked
// EVENT_NOT_HANDLED, a backend error reaches the ack.
func TestBridgePythonHTTPEvents(t *testing.T) {
	app, n, sw := pyStack(t)
	sw.admitted("alice", n.url(), "/", app.login(t, "alice", "alice-pw"))

	ack, _ := sw.call("alice", "request_caption_status", map[string]any{"job_id": "job-7"}).(map[string]any)
	// user comes from the socket the bridge describes, plan from the data
	// the connect answer gave the socket.
	if ack["job_id"] != "job-7" || ack["status"] != "running" || ack["user"] != "alice" || ack["plan"] != "pro" {
		t.Fatalf("ack %v: want app.py's status of job-7 for alice (plan pro)", ack)
	}

	from := sw.mark()
	sw.send(map[string]any{"cmd": "emit", "id": "alice", "event": "request_caption_status", "args": []any{map[string]any{"job_id": "job-8"}}})
	got := sw.eventArg("alice", "caption_status_response", from, nil)
	if got["job_id"] != "job-8" || got["user"] != "alice" {
		t.Fatalf("caption_status_response %v: want job-8 for alice", got)
	}

	bad, _ := sw.call("alice", "request_caption_status", map[string]any{}).(map[string]any)
	if bad["error_code"] != "INVALID_PAYLOAD" {
		t.Fatalf("ack %v: want app.py's INVALID_PAYLOAD", bad)
	}
	unknown, _ := sw.call("alice", "no_such_event", 1).(map[string]any)
	if unknown["error_code"] != "EVENT_NOT_HANDLED" {
		t.Fatalf("ack of an unrouted event %v: want EVENT_NOT_HANDLED", unknown)
	}
	var acks []any
	for _, l := range jsonLines(app.p) {
		if l["hook"] == "event" {
			acks = append(acks, l["ack"])
		}
	}
	if fmt.Sprint(acks) != "[true false true]" {
		t.Errorf("app.py event hooks (ack flags) %v, want [true false true]: no_such_event must not be forwarded", acks)
	}
}

// workerProc is one run of worker.py.
type workerProc struct{ p *proc }

func startWorker(t *testing.T, env []string, args ...string) *workerProc {
	t.Helper()
	python := requireTool(t, "python3")
	cmd := exec.Command(python, append([]string{filepath.Join(pyExample, "worker.py"), "--consumer", "w1", "--block-ms", "200"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	w := &workerProc{p: startProc(t, "worker.py", cmd)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- worker.py run ---\n%s", w.p.out.String())
		}
	})
	return w
}

// handled returns the entries the run printed as handled, in order.
func (w *workerProc) handled() []map[string]any {
	var out []map[string]any
	for _, l := range jsonLines(w.p) {
		if _, ok := l["entry"]; ok && l["status"] == nil {
			out = append(out, l)
		}
	}
	return out
}

// TestBridgePythonStreamWorker: pause_* / resume_* go to a Redis Stream;
// worker.py consumes them in a consumer group, dies twice (once between
// its work and the XACK, once by SIGKILL from here at a random point) and
// is restarted; a worker of another name takes an entry and dies for good,
// and the last run claims it: every entry is handled, nothing is left
// pending, and each job's answer reaches the socket through the HTTP API.
// The lifecycle webhook reaches app.py.
func TestBridgePythonStreamWorker(t *testing.T) {
	requireNode(t)
	rs := redistest.Start(t)
	key := fmt.Sprintf("pyw%d", time.Now().UnixNano())
	stream := key + ":events"
	app := startPyApp(t, pySecret)
	n := startIonbusYAML(t, "pyw", bridgeNodeYAML("pyw", app.hookURL(),
		fmt.Sprintf("  timeout: 2s\n  stream: {key: %q}\n  lifecycle: {stream: %q, webhook: true, flush_interval: 100ms}\n", stream, key+":life"),
		fmt.Sprintf("redis: {url: %q, key: %q}\n", rs.URL(), key), `  - name: /
    access: authenticated
    authenticate: backend
    events:
      - match: ["request_caption_status"]
        via: http
      - match: ["pause_*", "resume_*"]
        via: stream
`), "IONBUS_BACKEND_SECRET="+pySecret)
	sw := startSwarm(t)
	sid := sw.admitted("alice", n.url(), "/", app.login(t, "alice", "alice-pw"))

	// Entries queued before any worker runs, and more while it runs.
	ids := map[string]string{}     // entry id -> job
	answers := map[string]string{} // job -> the event worker.py answers with
	send := func(i int) {
		ev := "pause_captions"
		if i%2 == 1 {
			ev = "resume_captions"
		}
		job := fmt.Sprintf("job-%02d", i)
		ack, _ := sw.call("alice", ev, map[string]any{"job_id": job}).(map[string]any)
		id, _ := ack["id"].(string)
		if ack["ok"] != true || id == "" {
			t.Fatalf("%s %s: ack %v, want {ok:true,id}", ev, job, ack)
		}
		ids[id] = job
		answers[job] = map[bool]string{true: "caption_generation_paused", false: "caption_generation_resumed"}[i%2 == 0]
	}
	for i := 0; i < 20; i++ {
		send(i)
	}
	env := []string{"REDIS_URL=" + rs.URL(), "IONBUS_STREAM=" + stream, "IONBUS_API_URL=" + n.apiURL(), "IONBUS_API_KEY=" + clusterAPIKey}

	// Run 1 kills itself after its 7th entry, before acking it.
	w1 := startWorker(t, env, "--crash-after", "7")
	select {
	case <-w1.p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("worker run 1 did not crash after 7 entries\n%s", w1.p.out.String())
	}
	run1 := w1.handled()
	if len(run1) != 7 {
		t.Fatalf("run 1 handled %d entries, want 7", len(run1))
	}
	crashed := run1[6]["entry"].(string)

	// Run 2 starts with the pending entry, and is SIGKILLed after a few.
	w2 := startWorker(t, env, "--delay-ms", "40")
	poll(t, 10*time.Second, func() string { return "run 2 handling 4 entries\n" + w2.p.out.String() }, func() bool { return len(w2.handled()) >= 4 })
	w2.p.kill()
	run2 := w2.handled()
	if run2[0]["entry"] != crashed || run2[0]["redelivered"] != true {
		t.Fatalf("run 2 began with %v, want the unacked %s redelivered", run2[0], crashed)
	}

	// A consumer that never comes back: it takes one entry and dies
	// before acking it.
	for i := 20; i < 23; i++ {
		send(i)
	}
	gone := startWorker(t, env, "--consumer", "gone", "--crash-after", "1")
	select {
	case <-gone.p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the other consumer did not crash after one entry\n%s", gone.p.out.String())
	}
	orphan := gone.handled()[0]["entry"].(string)

	// Run 3 finishes, claims the orphan, while more entries arrive.
	w3 := startWorker(t, env, "--claim-idle-ms", "300")
	for i := 23; i < 25; i++ {
		send(i)
	}
	all := func() map[string]int {
		seen := map[string]int{}
		for _, run := range [][]map[string]any{run1, run2, gone.handled(), w3.handled()} {
			for _, h := range run {
				seen[h["entry"].(string)]++
			}
		}
		return seen
	}
	poll(t, 15*time.Second, func() string { return fmt.Sprintf("all %d entries handled, have %v", len(ids), all()) }, func() bool {
		seen := all()
		for id := range ids {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	poll(t, 10*time.Second, func() string { return "run 3 handling the orphan " + orphan + "\n" + w3.p.out.String() }, func() bool {
		for _, h := range w3.handled() {
			if h["entry"] == orphan && h["redelivered"] == true {
				return true
			}
		}
		return false
	})
	seen := all()
	for id := range seen {
		if _, ok := ids[id]; !ok {
			t.Errorf("worker handled %s, an entry no client sent", id)
		}
	}
	for _, h := range append(append(append(append([]map[string]any{}, run1...), run2...), gone.handled()...), w3.handled()...) {
		if ids[h["entry"].(string)] != h["job_id"] || h["socket"] != sid || h["user"] != "alice" {
			t.Errorf("handled %v: want job %s from socket %s of alice", h, ids[h["entry"].(string)], sid)
		}
	}

	// Nothing left pending in the group; every job's state recorded.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var pending int64
	poll(t, 5*time.Second, func() string { return fmt.Sprintf("XPENDING 0, have %d", pending) }, func() bool {
		p, err := rdb.XPending(ctx, stream, "captions").Result()
		if err != nil {
			t.Fatal(err)
		}
		pending = p.Count
		return pending == 0
	})
	states, err := rdb.HGetAll(ctx, stream+":jobs").Result()
	if err != nil || len(states) != len(ids) {
		t.Fatalf("job states %v (%v): want %d", states, err, len(ids))
	}
	for i := 0; i < 25; i++ {
		want := map[bool]string{true: "paused", false: "running"}[i%2 == 0]
		if got := states[fmt.Sprintf("job-%02d", i)]; got != want {
			t.Errorf("job-%02d state %q, want %q", i, got, want)
		}
	}

	// The socket got each job's answer (at least once) via the HTTP API.
	for id, job := range ids {
		sw.eventArg("alice", answers[job], 0, func(a map[string]any) bool { return a["entry"] == id && a["job_id"] == job })
	}

	// The lifecycle webhook told app.py about alice's connect.
	poll(t, 10*time.Second, func() string { return "lifecycle connect of " + sid + " in app.py's log" }, func() bool {
		for _, l := range jsonLines(app.p) {
			if l["lifecycle"] == "connect" && l["sid"] == sid && l["user"] == "alice" {
				return true
			}
		}
		return false
	})
}

// TestBridgePythonBackendFailures: a backend that is down, slower than
// backend.timeout, or answers garbage (not JSON, or JSON of wrong types)
// gives BACKEND_UNAVAILABLE (retry_possible) to a connect and to a
// forwarded event's ack.
func TestBridgePythonBackendFailures(t *testing.T) {
	requireNode(t)
	python := requireTool(t, "python3")
	for _, mode := range []string{"down", "slow", "garbage", "wrongtypes"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			if mode != "down" {
				cmd := exec.Command(python, filepath.Join("py", "hostile_backend.py"), "--port", fmt.Sprint(port), "--mode", mode, "--sleep", "2")
				p := startProc(t, "hostile_backend.py", cmd)
				waitHTTP(t, p, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
			}
			n := startIonbusYAML(t, "bad-"+mode, bridgeNodeYAML("bad-"+mode, fmt.Sprintf("http://127.0.0.1:%d/ionbus", port),
				"  timeout: 300ms\n  secret: \"s\"\n", "", `  - name: /
    access: authenticated
    authenticate: backend
  - name: /open
    access: public
    events:
      - match: ["request_caption_status"]
        via: http
`))
			sw := startSwarm(t)
			start := time.Now()
			data := sw.refusedWith("c", n.url(), "/", "session=s1", "BACKEND_UNAVAILABLE")
			if data["retry_possible"] != true {
				t.Errorf("connect_error data %v: want retry_possible true", data)
			}
			if mode == "slow" && time.Since(start) > 1500*time.Millisecond {
				t.Errorf("refusal took %v: backend.timeout 300ms not applied", time.Since(start))
			}
			sw.admitted("open", n.url(), "/open", "")
			ack, _ := sw.call("open", "request_caption_status", map[string]any{"job_id": "j"}).(map[string]any)
			if ack["error_code"] != "BACKEND_UNAVAILABLE" || ack["retry_possible"] != true {
				t.Fatalf("ack %v: want BACKEND_UNAVAILABLE, retry_possible", ack)
			}
		})
	}
}

// TestBridgePythonSignature: app.py accepts a correctly signed request
// and refuses (401) a tampered body, a stale timestamp, another secret or
// no signature; a node configured with the wrong secret has its connects
// refused, the right one admits.
func TestBridgePythonSignature(t *testing.T) {
	requireNode(t)
	app := startPyApp(t, pySecret, "--session", "seeded-1=alice")
	body := []byte(`{"type":"connect","namespace":"/","sid":"x","node":"go","headers":{"cookie":"session=seeded-1"},"auth":{},"query":{}}`)
	post := func(body []byte, sig string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, app.hookURL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Ionbus-Type", "connect")
		if sig != "" {
			req.Header.Set(bridge.SignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now()
	good := bridge.Sign([]byte(pySecret), now, body)
	if code, b := post(body, good); code != http.StatusOK || !strings.Contains(b, `"id":"alice"`) {
		t.Fatalf("genuine request: %d %s, want 200 admitting alice", code, b)
	}
	tampered := bytes.Replace(body, []byte(`"namespace":"/"`), []byte(`"namespace":"/admin"`), 1)
	for name, c := range map[string]struct {
		body []byte
		sig  string
	}{
		"tampered body": {tampered, good},
		"stale":         {body, bridge.Sign([]byte(pySecret), now.Add(-10*time.Minute), body)},
		"other secret":  {body, bridge.Sign([]byte("not-the-secret"), now, body)},
		"unsigned":      {body, ""},
		"malformed":     {body, "t=abc,v1=zz"},
	} {
		if code, b := post(c.body, c.sig); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, b)
		}
	}

	nsps := "  - name: /\n    access: authenticated\n    authenticate: backend\n"
	wrongCfg := bridgeNodeYAML("wrong", app.hookURL(), "  secret: \"not-the-secret\"\n", "", nsps)
	rightCfg := bridgeNodeYAML("right", app.hookURL(), "", "", nsps)
	nodes := waitIonbus(t, []*ionbusNode{launchIonbus(t, "wrong", wrongCfg), launchIonbus(t, "right", rightCfg, "IONBUS_BACKEND_SECRET="+pySecret)})
	sw := startSwarm(t)
	sw.refusedWith("w", nodes[0].url(), "/", "session=seeded-1", "BACKEND_UNAVAILABLE")
	sw.admitted("r", nodes[1].url(), "/", "session=seeded-1")
	var mismatches int
	for _, l := range jsonLines(app.p) {
		if l["status"] == float64(401) && l["reason"] == "signature mismatch" && l["hook"] == "connect" {
			mismatches++
		}
	}
	// Two from the Go requests (tampered, other secret), one from the node.
	if mismatches < 3 {
		t.Errorf("app.py logged %d signature mismatches, want >= 3\n%s", mismatches, app.p.out.String())
	}
}
