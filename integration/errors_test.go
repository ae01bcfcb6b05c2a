package integration

// The client-facing error contract through the real socket.io-client and
// `ionbus serve`: one error shape with ISO 8601 timestamps, the
// rate_limit_exceeded compatibility event, per-namespace code aliases,
// rate limits that mean "at most N in any window" (memory, and across two
// nodes on Redis), and connect attempts that count refusals.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

var isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// errorsNode is the configuration of these tests: 5 messages per user in
// any 3 s, JWT authentication, a compat namespace and an aliasing one.
func errorsNode(id, redisURL string, limitsExtra string) func(port, apiPort int) string {
	return func(port, apiPort int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\nnode_id: %q\n", port, id)
		fmt.Fprintf(&b, "api: {listen: \"127.0.0.1:%d\", key: %q}\n", apiPort, clusterAPIKey)
		b.WriteString("engine: {ping_interval: 1s, ping_timeout: 1s}\nshutdown_timeout: 3s\nlog: {level: info, format: json}\n")
		if redisURL != "" {
			fmt.Fprintf(&b, "redis: {url: %q, key: errors-test}\n", redisURL)
		}
		fmt.Fprintf(&b, "auth: {jwt: {secret: %q, algorithms: [HS256]}}\n", clusterSecret)
		fmt.Fprintf(&b, "limits: {enabled: true, messages_per_user: 5, messages_window: 3s, node_ttl: 3s%s}\n", limitsExtra)
		b.WriteString(`namespaces:
  - name: /
    access: authenticated
  - name: /compat
    access: authenticated
    compat_events: true
  - name: /alias
    access: authenticated
    error_codes: {RATE_LIMIT_EXCEEDED: RATE_LIMITED, AUTH_REQUIRED: UNAUTHORIZED}
`)
		return b.String()
	}
}

// errClient drives swarm.js sockets for these tests.
type errClient struct {
	t   *testing.T
	js  *jsProc
	seq int
}

func (c *errClient) connect(id string, n *ionbusNode, nsp, tok string) map[string]any {
	c.t.Helper()
	from := c.js.mark()
	auth := map[string]any{}
	if tok != "" {
		auth["token"] = tok
	}
	c.js.send(map[string]any{"cmd": "connect", "id": id, "url": n.url(), "nsp": nsp, "auth": auth})
	m, _ := c.js.waitLine(10*time.Second, id+" connect", from, func(m map[string]any) bool {
		return m["id"] == id && (m["ev"] == "connect" || m["ev"] == "connect_error")
	})
	return m
}

// emit sends an acked event and returns the ack's first argument.
func (c *errClient) emit(id, event string) map[string]any {
	c.t.Helper()
	c.seq++
	seq := c.seq
	from := c.js.mark()
	c.js.send(map[string]any{"cmd": "emit", "id": id, "event": event, "args": []any{seq}, "ack": true, "seq": seq})
	m, _ := c.js.waitLine(10*time.Second, fmt.Sprintf("ack %d of %s", seq, id), from, func(m map[string]any) bool {
		return m["ev"] == "ack" && m["id"] == id && m["seq"] == float64(seq)
	})
	args, _ := m["args"].([]any)
	if len(args) == 0 {
		c.t.Fatalf("ack %d of %s without arguments: %v", seq, id, m)
	}
	out, _ := args[0].(map[string]any)
	return out
}

// event waits for the next event name on socket id after line from.
func (c *errClient) event(id, name string, from int) map[string]any {
	c.t.Helper()
	m, _ := c.js.waitLine(10*time.Second, id+" event "+name, from, func(m map[string]any) bool {
		return m["ev"] == "event" && m["id"] == id && m["name"] == name
	})
	args, _ := m["args"].([]any)
	p, _ := args[0].(map[string]any)
	return p
}

func refusedWith(ack map[string]any) string {
	code, _ := ack["error_code"].(string)
	return code
}

// checkErrorShape asserts the one error shape of a rate refusal.
func checkErrorShape(t *testing.T, what string, p map[string]any, code, event string, limit int) {
	t.Helper()
	details, _ := p["error_details"].(map[string]any)
	ok := p["error_code"] == code && p["code"] == code && p["error_message"] != "" && p["message"] == p["error_message"] &&
		p["retry_possible"] == true && isoTime.MatchString(fmt.Sprint(p["timestamp"])) &&
		isoTime.MatchString(fmt.Sprint(p["reset_time"])) && p["limit"] == float64(limit) && p["remaining"] == float64(0) &&
		details["original_event"] == event && details["limit"] == float64(limit) && isoTime.MatchString(fmt.Sprint(details["reset_time"]))
	if !ok {
		t.Fatalf("%s: payload %v", what, p)
	}
}

// TestErrorContract on one node (memory limits): the exact rate refusal
// payload (event and ack), the window holding after a pause, the compat
// event, and code aliases on CONNECT_ERROR and on the error event.
func TestErrorContract(t *testing.T) {
	requireNode(t)
	n := startIonbusYAML(t, "errors", errorsNode("errors", "", ""))
	c := &errClient{t: t, js: startJS(t, "swarm.js", nil)}
	c.js.waitLine(10*time.Second, "ready", 0, func(m map[string]any) bool { return m["ev"] == "ready" })

	// Aliases: the namespace's names on the wire.
	m := c.connect("anon", n, "/alias", "")
	data, _ := m["data"].(map[string]any)
	if m["ev"] != "connect_error" || m["message"] != "Authentication failed" || data["code"] != "UNAUTHORIZED" || data["error_code"] != "UNAUTHORIZED" {
		t.Fatalf("aliased refusal %v", m)
	}

	if m := c.connect("a", n, "/", token(t, "ann")); m["ev"] != "connect" {
		t.Fatalf("connect %v", m)
	}
	start := time.Now()
	for i := range 5 {
		if ack := c.emit("a", "ping"); refusedWith(ack) != "EVENT_NOT_HANDLED" {
			t.Fatalf("message %d: %v", i+1, ack)
		}
	}
	from := c.js.mark()
	ack := c.emit("a", "ping")
	checkErrorShape(t, "6th message ack", ack, "RATE_LIMIT_EXCEEDED", "ping", 5)
	if ack["success"] != false {
		t.Fatalf("ack without success:false: %v", ack)
	}
	checkErrorShape(t, "6th message error event", c.event("a", "error", from), "RATE_LIMIT_EXCEEDED", "ping", 5)

	// GCRA would have refilled a slot every 600 ms: a window does not.
	time.Sleep(1500 * time.Millisecond)
	if ack := c.emit("a", "ping"); refusedWith(ack) != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("message 7, %v after the first, within the window: %v", time.Since(start), ack)
	}
	reset, err := time.Parse(time.RFC3339Nano, fmt.Sprint(ack["reset_time"]))
	if err != nil || reset.Before(time.Now()) || reset.After(start.Add(4*time.Second)) {
		t.Fatalf("reset_time %v (first message at %v): %v", ack["reset_time"], start, err)
	}
	time.Sleep(time.Until(reset) + 100*time.Millisecond)
	if ack := c.emit("a", "ping"); refusedWith(ack) != "EVENT_NOT_HANDLED" {
		t.Fatalf("after reset_time: %v", ack)
	}

	// compat_events: the error event and rate_limit_exceeded.
	if m := c.connect("b", n, "/compat", token(t, "bea")); m["ev"] != "connect" {
		t.Fatalf("connect /compat %v", m)
	}
	for range 5 {
		c.emit("b", "ping")
	}
	from = c.js.mark()
	c.emit("b", "ping")
	checkErrorShape(t, "rate_limit_exceeded", c.event("b", "rate_limit_exceeded", from), "RATE_LIMIT_EXCEEDED", "ping", 5)
	checkErrorShape(t, "compat error event", c.event("b", "error", from), "RATE_LIMIT_EXCEEDED", "ping", 5)

	// Aliases on the error event and the ack.
	if m := c.connect("c", n, "/alias", token(t, "cid")); m["ev"] != "connect" {
		t.Fatalf("connect /alias %v", m)
	}
	for range 5 {
		c.emit("c", "ping")
	}
	from = c.js.mark()
	ack = c.emit("c", "ping")
	checkErrorShape(t, "aliased ack", ack, "RATE_LIMITED", "ping", 5)
	checkErrorShape(t, "aliased error event", c.event("c", "error", from), "RATE_LIMITED", "ping", 5)
}

// TestErrorWindowCluster: two nodes on one Redis share a user's window:
// 3 messages on A and 2 on B use it up for both, and it holds after a
// pause.
func TestErrorWindowCluster(t *testing.T) {
	requireClusterTools(t)
	url := redistest.Start(t).URL()
	a := startIonbusYAML(t, "win-a", errorsNode("win-a", url, ""))
	b := startIonbusYAML(t, "win-b", errorsNode("win-b", url, ""))
	c := &errClient{t: t, js: startJS(t, "swarm.js", nil)}
	c.js.waitLine(10*time.Second, "ready", 0, func(m map[string]any) bool { return m["ev"] == "ready" })
	tok := token(t, "dan")
	for _, s := range []struct {
		id string
		n  *ionbusNode
	}{{"on-a", a}, {"on-b", b}} {
		if m := c.connect(s.id, s.n, "/", tok); m["ev"] != "connect" {
			t.Fatalf("connect %s: %v", s.id, m)
		}
	}
	for i, id := range []string{"on-a", "on-a", "on-a", "on-b", "on-b"} {
		if ack := c.emit(id, "ping"); refusedWith(ack) != "EVENT_NOT_HANDLED" {
			t.Fatalf("message %d via %s: %v", i+1, id, ack)
		}
	}
	for _, id := range []string{"on-a", "on-b"} {
		checkErrorShape(t, "6th message via "+id, c.emit(id, "ping"), "RATE_LIMIT_EXCEEDED", "ping", 5)
	}
	time.Sleep(1500 * time.Millisecond)
	if ack := c.emit("on-b", "ping"); refusedWith(ack) != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("within the window after a pause: %v", ack)
	}
}

// TestConnectAttemptsCountRefusals: a bad-token flood from one IP is cut
// off at limits.connect_attempts_per_ip; the refusals counted.
func TestConnectAttemptsCountRefusals(t *testing.T) {
	requireNode(t)
	n := startIonbusYAML(t, "attempts", errorsNode("attempts", "", ", connect_attempts_per_ip: 5, connect_attempts_window: 1m"))
	c := &errClient{t: t, js: startJS(t, "swarm.js", nil)}
	c.js.waitLine(10*time.Second, "ready", 0, func(m map[string]any) bool { return m["ev"] == "ready" })
	for i := range 5 {
		m := c.connect(fmt.Sprintf("guess%d", i), n, "/", "not-a-token")
		data, _ := m["data"].(map[string]any)
		if m["ev"] != "connect_error" || data["code"] != "AUTH_INVALID_SESSION" {
			t.Fatalf("bad token %d: %v", i+1, m)
		}
	}
	m := c.connect("honest", n, "/", token(t, "eve"))
	data, _ := m["data"].(map[string]any)
	if m["ev"] != "connect_error" || data["code"] != "CONNECTION_LIMIT_EXCEEDED" || data["reason"] != "connect_rate" {
		t.Fatalf("6th attempt from the IP: %v", m)
	}
}
