package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/access"
)

// TestConnectAdmits: the connect hook's body, signature and headers; the
// answer's identity, data and rooms applied to the socket.
func TestConnectAdmits(t *testing.T) {
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		return 200, `{"user":{"id":"u42","name":"Ada","roles":["staff","admin"],"email":"ada@example"},"data":{"plan":"pro"},"rooms":["team:7","org:1"]}`
	})
	secret := "s3cret"
	n := startNode(t, bk, nodeOptions{cfg: Config{Secret: secret, ForwardHeaders: []string{"Cookie", "X-Tenant"}},
		access: access.Rules{Access: access.Access{Level: access.RoleRequired, Roles: []string{"admin"}}, Authenticate: access.AuthBackend, AutoJoin: []string{"user:{user}"}}})
	h := cookieHeader("session=abc")
	h.Set("X-Tenant", "acme")
	h.Set("Authorization", "Bearer not-forwarded")
	c, _ := open(t, n, "/", map[string]any{"csrf": "x", "pid": "p", "offset": "o"}, h)
	if c == nil {
		t.Fatal("refused")
	}
	who := c.call("whoami")
	if string(who[0]) != `{"id":"u42","name":"Ada","roles":["staff","admin"]}` || string(who[1]) != `{"plan":"pro"}` {
		t.Fatalf("whoami %s", who)
	}
	rooms := decode[[]string](t, c.call("rooms")[0])
	for _, r := range []string{"team:7", "org:1", "user:u42"} {
		if !contains(rooms, r) {
			t.Fatalf("rooms %v lack %s", rooms, r)
		}
	}

	reqs := bk.requests(HookConnect)
	if len(reqs) != 1 {
		t.Fatalf("%d connect requests", len(reqs))
	}
	r := reqs[0]
	if err := Verify([]byte(secret), r.Header.Get(SignatureHeader), r.Raw, time.Now(), time.Minute); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if r.Header.Get("X-Ionbus-Node") != "n1" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.Header)
	}
	body := r.Body
	want := map[string]any{
		"type": "connect", "namespace": "/", "sid": c.sid, "node": "n1", "transport": "websocket", "address": "127.0.0.1",
		"headers": map[string]any{"cookie": "session=abc", "x-tenant": "acme"},
		"auth":    map[string]any{"csrf": "x"},
		"query":   map[string]any{"room": "lobby"},
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("connect body\n got %v\nwant %v", body, want)
	}
	if st := n.bridge.Stats(); st.Connect.Admitted != 1 || st.Requests[HookConnect] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestConnectRefusals: the backend's error answers, and every way of not
// answering, refuse the socket; nothing admits by accident.
func TestConnectRefusals(t *testing.T) {
	var mode atomic.Value
	mode.Store("")
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		switch m := mode.Load().(string); m {
		case "refuse":
			return 200, `{"error":{"code":"SESSION_EXPIRED","message":"log in again","data":{"login":"/login"}}}`
		case "slow":
			time.Sleep(500 * time.Millisecond)
			return 200, `{"user":{"id":"late"}}`
		case "500":
			return 500, `{"user":{"id":"u"}}`
		case "redirect":
			return 302, ``
		case "garbage":
			return 200, `<html>`
		case "trailing":
			return 200, `{"user":{"id":"u"}} {}`
		case "no-user":
			return 200, `{"data":{}}`
		case "empty-id":
			return 200, `{"user":{"id":""}}`
		case "numeric-id":
			return 200, `{"user":{"id":42}}`
		case "roles-type":
			return 200, `{"user":{"id":"u","roles":"admin"}}`
		case "bad-room":
			return 200, `{"user":{"id":"u"},"rooms":[""]}`
		case "deep":
			return 200, `{"user":{"id":"u"},"data":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
		case "big":
			return 200, `{"user":{"id":"u"},"data":"` + strings.Repeat("x", 2000) + `"}`
		case "array":
			return 200, `[]`
		case "bad-utf8":
			return 200, "{\"user\":{\"id\":\"\xff\"}}"
		}
		return 200, `{"user":{"id":"u1"}}`
	})
	n := startNode(t, bk, nodeOptions{cfg: Config{Timeout: 200 * time.Millisecond, MaxBodyBytes: 1024, DisableCache: true}})
	for _, tc := range []struct {
		mode, code string
		kind       string
	}{
		{"refuse", "SESSION_EXPIRED", ""},
		{"slow", access.CodeBackendUnavailable, kindTimeout},
		{"500", access.CodeBackendUnavailable, kindStatus},
		{"redirect", access.CodeBackendUnavailable, kindStatus},
		{"garbage", access.CodeBackendUnavailable, kindInvalid},
		{"trailing", access.CodeBackendUnavailable, kindInvalid},
		{"no-user", access.CodeBackendUnavailable, kindInvalid},
		{"empty-id", access.CodeBackendUnavailable, kindInvalid},
		{"numeric-id", access.CodeBackendUnavailable, kindInvalid},
		{"roles-type", access.CodeBackendUnavailable, kindInvalid},
		{"bad-room", access.CodeBackendUnavailable, kindInvalid},
		{"deep", access.CodeBackendUnavailable, kindInvalid},
		{"big", access.CodeBackendUnavailable, kindResponseTooLarge},
		{"array", access.CodeBackendUnavailable, kindInvalid},
		{"bad-utf8", access.CodeBackendUnavailable, kindInvalid},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			mode.Store(tc.mode)
			before := n.bridge.Stats().Failures[tc.kind]
			for _, nsp := range []string{"/", "/pub"} { // refusals stand in public namespaces too
				c, refusal := open(t, n, nsp, nil, cookieHeader("session=x"))
				if c != nil {
					t.Fatalf("%s: admitted", nsp)
				}
				ce := decode[connectError](t, json.RawMessage(refusal))
				if ce.Message != access.MessageAuthFailed || ce.Data["code"] != tc.code {
					t.Fatalf("%s: refusal %s", nsp, refusal)
				}
				if tc.code == access.CodeBackendUnavailable && ce.Data["retry_possible"] != true {
					t.Fatalf("%s: %s without retry_possible", nsp, refusal)
				}
				if tc.mode == "refuse" && (ce.Data["message"] != "log in again" || ce.Data["details"].(map[string]any)["login"] != "/login") {
					t.Fatalf("refusal details: %s", refusal)
				}
			}
			if tc.kind != "" && n.bridge.Stats().Failures[tc.kind] != before+2 {
				t.Fatalf("failures %v", n.bridge.Stats().Failures)
			}
		})
	}
	mode.Store("")
	dial(t, n, "/", nil) // and back to normal

	// Backend down: connection refused.
	bk.ts.Close()
	if c, refusal := open(t, n, "/", nil, nil); c != nil || !strings.Contains(refusal, access.CodeBackendUnavailable) {
		t.Fatalf("backend down: %v %s", c, refusal)
	}
	if n.bridge.Stats().Failures[kindUnreachable] == 0 {
		t.Fatalf("failures %v", n.bridge.Stats().Failures)
	}
}

// TestConnectCache: identical connects are answered from the cache
// (refusals too), different sessions are not, failures are never cached,
// and entries expire.
func TestConnectCache(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	var down atomic.Bool
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if down.Load() {
			return 503, ``
		}
		cookie := r.Body["headers"].(map[string]any)["cookie"]
		if cookie == "session=bad" {
			return 200, `{"error":{"code":"NOPE"}}`
		}
		return 200, fmt.Sprintf(`{"user":{"id":%q}}`, cookie)
	})
	n := startNode(t, bk, nodeOptions{cfg: Config{CacheTTL: 10 * time.Second, Now: clock}})
	who := func(cookie string) string {
		c := dial(t, n, "/", cookieHeader(cookie))
		defer c.close()
		return decode[map[string]any](t, c.call("whoami")[0])["id"].(string)
	}
	if who("session=a") != "session=a" || who("session=a") != "session=a" || who("session=b") != "session=b" {
		t.Fatal("wrong identity")
	}
	for range 2 {
		if c, _ := open(t, n, "/", nil, cookieHeader("session=bad")); c != nil {
			t.Fatal("admitted")
		}
	}
	if got := len(bk.requests(HookConnect)); got != 3 {
		t.Fatalf("%d connect requests, want 3 (a, b, bad)", got)
	}
	// Another namespace is another key.
	dial(t, n, "/pub", cookieHeader("session=a"))
	if got := len(bk.requests(HookConnect)); got != 4 {
		t.Fatalf("%d connect requests, want 4", got)
	}
	// Failures are not cached.
	down.Store(true)
	for range 2 {
		if c, _ := open(t, n, "/", nil, cookieHeader("session=c")); c != nil {
			t.Fatal("admitted while down")
		}
	}
	down.Store(false)
	if who("session=c") != "session=c" || len(bk.requests(HookConnect)) != 7 {
		t.Fatalf("after failures: %d requests", len(bk.requests(HookConnect)))
	}
	// Expiry.
	now.Add(int64(11 * time.Second))
	who("session=a")
	if got := len(bk.requests(HookConnect)); got != 8 {
		t.Fatalf("%d connect requests after expiry, want 8", got)
	}
	st := n.bridge.Stats()
	if st.Cache.Hits != 2 || st.Cache.Size == 0 {
		t.Fatalf("cache stats %+v", st.Cache)
	}
}

// TestConnectStormCoalesced: a reconnect storm of one session asks the
// backend once, even with the cache off.
func TestConnectStormCoalesced(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		calls.Add(1)
		<-release
		return 200, `{"user":{"id":"u1"}}`
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // a failing test must not leave the handlers blocked
	n := startNode(t, bk, nodeOptions{cfg: Config{DisableCache: true, Timeout: 10 * time.Second}})
	const storm = 40
	var wg sync.WaitGroup
	admitted := make(chan *client, storm)
	for range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := open(t, n, "/", nil, cookieHeader("session=same"))
			admitted <- c
		}()
	}
	waitFor(t, "every other connect waiting for the first", func() bool {
		return n.bridge.cache.waiting() == storm-1
	})
	if got := calls.Load(); got != 1 {
		t.Fatalf("backend asked %d times during the storm", got)
	}
	unblock()
	wg.Wait()
	close(admitted)
	for c := range admitted {
		if c == nil {
			t.Fatal("a coalesced connect was refused")
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("backend asked %d times", got)
	}
	if st := n.bridge.Stats(); st.Cache.Coalesced != storm-1 || st.Cache.Misses != 1 {
		t.Fatalf("cache stats %+v", st.Cache)
	}
}

// TestMaxInflight: at most MaxInflight hook requests are out at once;
// the others wait for a slot (within Timeout).
func TestMaxInflight(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	var calls atomic.Int32
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		calls.Add(1)
		<-release
		return 200, `{"user":{"id":"u"}}`
	})
	n := startNode(t, bk, nodeOptions{cfg: Config{MaxInflight: 3, DisableCache: true, Timeout: 10 * time.Second}})
	var wg sync.WaitGroup
	admitted := make(chan bool, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := open(t, n, "/", nil, cookieHeader(fmt.Sprintf("session=%d", i)))
			admitted <- c != nil
		}()
	}
	waitFor(t, "three requests in flight", func() bool { return calls.Load() == 3 && n.bridge.Stats().Inflight == 3 })
	time.Sleep(50 * time.Millisecond)
	if got := calls.Load(); got != 3 {
		t.Fatalf("%d requests in flight, want 3", got)
	}
	unblock()
	wg.Wait()
	close(admitted)
	for ok := range admitted {
		if !ok {
			t.Fatal("a connect that waited for a slot was refused")
		}
	}
	if got := calls.Load(); got != 6 {
		t.Fatalf("%d requests, want 6", got)
	}
}

// TestSaturated: a call that gets no slot within Timeout fails as
// saturated, without reaching the backend.
func TestSaturated(t *testing.T) {
	bk := newBackend(t, admitAll)
	b, err := New(Config{URL: bk.ts.URL, NodeID: "n", MaxInflight: 2, Timeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	b.hooks.sem <- struct{}{}
	b.hooks.sem <- struct{}{}
	start := time.Now()
	_, err = b.hooks.call(context.Background(), HookConnect, []byte(`{}`))
	if !errors.Is(err, ErrBackendUnavailable) || failureKind(err) != kindSaturated {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Fatalf("waited %v", d)
	}
	if len(bk.requests("")) != 0 || b.Stats().Failures[kindSaturated] != 1 {
		t.Fatalf("requests %d failures %v", len(bk.requests("")), b.Stats().Failures)
	}
}

// TestRefresh: a backend error ends the session with the error event; an
// unreachable backend keeps it; a success can change roles and data.
func TestRefresh(t *testing.T) {
	var answer atomic.Value
	answer.Store(`{"user":{"id":"u1","roles":["new"]},"data":{"v":2}}`)
	bk := newBackend(t, func(r *hookRequest) (int, string) {
		if r.Type == HookConnect {
			return 200, `{"user":{"id":"u1","roles":["old"]},"data":{"v":1}}`
		}
		a := answer.Load().(string)
		if a == "down" {
			return 502, ``
		}
		return 200, a
	})
	n := startNode(t, bk, nodeOptions{cfg: Config{RefreshInterval: 30 * time.Millisecond}})
	c := dial(t, n, "/", cookieHeader("session=r"))
	waitFor(t, "a refresh", func() bool { return len(bk.requests(HookRefresh)) > 0 })
	r := bk.requests(HookRefresh)[0].Body
	if r["sid"] != c.sid || r["namespace"] != "/" || r["user"].(map[string]any)["id"] != "u1" ||
		r["headers"].(map[string]any)["cookie"] != "session=r" {
		t.Fatalf("refresh body %v", r)
	}
	waitFor(t, "the new roles", func() bool {
		who := c.call("whoami")
		return strings.Contains(string(who[0]), `"new"`) && string(who[1]) == `{"v":2}`
	})
	answer.Store("down")
	seen := len(bk.requests(HookRefresh))
	waitFor(t, "refreshes while down", func() bool { return len(bk.requests(HookRefresh)) >= seen+3 })
	c.call("whoami") // still connected
	answer.Store(`{"error":{"code":"SESSION_REVOKED","message":"bye"}}`)
	e := decode[errorPayload](t, c.waitEvent("error"))
	if e.Code != "SESSION_REVOKED" || e.Message != "bye" {
		t.Fatalf("error event %+v", e)
	}
	c.waitDisconnected()
	if st := n.bridge.Stats(); st.Refresh.Disconnects != 1 {
		t.Fatalf("stats %+v", st.Refresh)
	}
	// No refresh for a socket that left.
	time.Sleep(100 * time.Millisecond)
	seen = len(bk.requests(HookRefresh))
	time.Sleep(100 * time.Millisecond)
	if len(bk.requests(HookRefresh)) != seen {
		t.Fatal("refreshes continue after the disconnect")
	}
}

// TestAuthenticateOnlyForwardsAllowedHeaders is covered by
// TestConnectAdmits; this one checks the cache key ignores Engine.IO's
// own query parameters (the polling cache buster changes every request).
func TestCacheKeyIgnoresEngineParams(t *testing.T) {
	b, err := New(Config{URL: "http://backend", NodeID: "n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q1 := appQuery(map[string][]string{"EIO": {"4"}, "transport": {"polling"}, "t": {"abc"}, "room": {"x"}})
	q2 := appQuery(map[string][]string{"EIO": {"4"}, "transport": {"websocket"}, "t": {"zzz"}, "sid": {"s"}, "room": {"x"}})
	k := func(q map[string]string, auth map[string]any, headers map[string]string, ns string) cacheKey {
		return b.cacheKey(&connectRequest{Namespace: ns, Headers: headers, Auth: auth, Query: q})
	}
	h := map[string]string{"cookie": "a=b"}
	base := k(q1, map[string]any{"x": 1.0}, h, "/")
	if k(q2, map[string]any{"x": 1.0}, h, "/") != base {
		t.Fatal("Engine.IO parameters change the key")
	}
	for name, other := range map[string]cacheKey{
		"query":     k(map[string]string{"room": "y"}, map[string]any{"x": 1.0}, h, "/"),
		"auth":      k(q1, map[string]any{"x": 2.0}, h, "/"),
		"header":    k(q1, map[string]any{"x": 1.0}, map[string]string{"cookie": "a=c"}, "/"),
		"no header": k(q1, map[string]any{"x": 1.0}, map[string]string{"authorization": "a=b"}, "/"),
		"namespace": k(q1, map[string]any{"x": 1.0}, h, "/x"),
	} {
		if other == base {
			t.Fatalf("%s does not change the key", name)
		}
	}
}
