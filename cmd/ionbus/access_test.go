package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/auth"
	"github.com/ionbus/ionbus/cmd/ionbus/bench"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func testToken(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	claims := map[string]any{"sub": sub, "name": "N-" + sub, "exp": time.Now().Add(time.Hour).Unix()}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	tok, err := auth.Sign(claims, "HS256", []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestServeAuth: namespace access levels through the real serve wiring.
func TestServeAuth(t *testing.T) {
	file := writeFile(t, `
namespaces:
  - name: /
  - name: /secure
    access: authenticated
    auto_join: ["user:{user}"]
  - name: /admin
    access: role:admin
`)
	_, public, apiURL, logs := startApp(t, []string{"--config", file}, map[string]string{
		"IONBUS_AUTH_JWT_SECRET": testSecret, "IONBUS_API_KEY": "k",
	})

	c := dialPolling(t, public, "40/secure,")
	connectError(t, c.expect("44/secure,", nil), "/secure", `{"message":"Authentication failed","data":{"code":"AUTH_REQUIRED"}}`)
	c.send(`40/secure,{"token":"not.a.jwt"}`)
	connectError(t, c.expect("44/secure,", nil), "/secure", `{"message":"Authentication failed","data":{"code":"AUTH_INVALID_SESSION"}}`)
	tok := testToken(t, "u1")
	c.send(`40/secure,{"token":"` + tok + `"}`)
	c.expect("40/secure,{", nil)
	c.send(`40/admin,{"token":"` + tok + `"}`)
	if p := c.expect("44/admin,", nil); !strings.Contains(p, "AUTH_INSUFFICIENT_PRIVILEGES") {
		t.Fatalf("no role: %q", p)
	}
	// "/" is public.
	c.send("40")
	c.expect("40{", nil)

	// auto_join put the socket in user:u1.
	if code, body := post(t, apiURL+"/api/v1/emit", `{"namespace":"/secure","event":"dm","rooms":["user:u1"],"data":[1]}`,
		"Authorization", "Bearer k"); code != 202 {
		t.Fatalf("emit: %d %s", code, body)
	}
	if p := c.expect(`42/secure,`, nil); p != `42/secure,["dm",1]` {
		t.Fatalf("dm: %q", p)
	}
	if strings.Contains(logs.String(), testSecret) || strings.Contains(logs.String(), tok) {
		t.Fatal("the secret or a token appears in the logs")
	}
}

// connectError checks a CONNECT_ERROR packet's payload as JSON (the
// broker currently writes "data" before "message").
func connectError(t *testing.T, packet, nsp, want string) {
	t.Helper()
	payload, ok := strings.CutPrefix(packet, "44"+nsp+",")
	if nsp == "/" {
		payload, ok = strings.CutPrefix(packet, "44")
	}
	var got, exp any
	if !ok || json.Unmarshal([]byte(payload), &got) != nil || json.Unmarshal([]byte(want), &exp) != nil || !within(exp, got) {
		t.Fatalf("CONNECT_ERROR %q, want payload with %s", packet, want)
	}
}

// within reports whether every field of exp is in got with the same
// value (objects may carry more fields; other values are compared whole).
func within(exp, got any) bool {
	em, ok := exp.(map[string]any)
	if !ok {
		return reflect.DeepEqual(exp, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range em {
		if !within(v, gm[k]) {
			return false
		}
	}
	return true
}

// TestServePresence: presence tracking, its client events and the API
// routes behind the API key.
func TestServePresence(t *testing.T) {
	file := writeFile(t, `
namespaces:
  - name: /
    presence: {namespace: true}
presence: {grace: 0}
`)
	_, public, apiURL, _ := startApp(t, []string{"--config", file, "--jwt-secret", testSecret}, map[string]string{"IONBUS_API_KEY": "k"})

	c := dialPolling(t, public, `40{"token":"`+testToken(t, "ann")+`"}`)
	c.expect("40{", nil)
	count := func() int {
		t.Helper()
		code, body := get(t, apiURL+"/api/v1/presence/count?namespace=/", "Authorization", "Bearer k")
		if code != 200 {
			t.Fatalf("count: %d %s", code, body)
		}
		var r struct{ Count int }
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		return r.Count
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("ann never counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get(t, apiURL+"/api/v1/presence?namespace=/", "Authorization", "Bearer k")
	if code != 200 || !strings.Contains(body, `"id":"ann"`) || !strings.Contains(body, `"name":"N-ann"`) {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}} {
		if code, body := get(t, apiURL+"/api/v1/presence/count?namespace=/", h...); code != 401 || !strings.Contains(body, "UNAUTHORIZED") {
			t.Fatalf("presence without the key: %d %s", code, body)
		}
	}
	// The socket asks itself.
	c.send(`421["presence:count",{"room":""}]`)
	if p := c.expect("431", nil); !strings.Contains(p, `"count":1`) {
		t.Fatalf("presence:count ack %q", p)
	}
}

// TestBenchProfile: join_room works for anyone, echo acks its arguments,
// the API needs no key, and limits are off.
func TestBenchProfile(t *testing.T) {
	a, public, apiURL, _ := startApp(t, []string{"--profile", "bench"}, nil)
	if a.Config().Limits.Enabled || !a.Config().API.Insecure {
		t.Fatalf("bench config %+v", a.Config())
	}
	c := dialPolling(t, public, "40")
	c.expect("40{", nil)
	c.send(`420["join_room",{"room_name":"bench-1"}]`)
	if p := c.expect("430", nil); !strings.Contains(p, `"success":true`) {
		t.Fatalf("join ack %q", p)
	}
	c.send(`421["echo",{"seq":1},"x"]`)
	if p := c.expect("431", nil); p != `431[{"seq":1},"x"]` {
		t.Fatalf("echo ack %q", p)
	}
	big := strings.Repeat("x", 20000) // over the default max_message_bytes
	c.send(`422["echo","` + big + `"]`)
	if p := c.expect("432", nil); len(p) < 20000 {
		t.Fatalf("large echo refused: %q", p[:min(len(p), 200)])
	}
	if code, body := post(t, apiURL+"/api/v1/emit", `{"event":"tick","rooms":["bench-1"]}`); code != 202 {
		t.Fatalf("keyless emit: %d %s", code, body)
	}
	if p := c.expect(`42["tick"`, nil); p != `42["tick"]` {
		t.Fatalf("tick %q", p)
	}
}

// TestBenchDeflate: `ionbus bench fanout --deflate` against a node with
// engine.per_message_deflate negotiates the extension, inflates every
// broadcast (all compressed with threshold 0) and misses none.
func TestBenchDeflate(t *testing.T) {
	a, public, apiURL, _ := startApp(t, []string{"--profile", "bench"}, map[string]string{
		"IONBUS_ENGINE_PER_MESSAGE_DEFLATE_ENABLED":   "true",
		"IONBUS_ENGINE_PER_MESSAGE_DEFLATE_THRESHOLD": "0",
	})
	var out, errs bytes.Buffer
	code := bench.Main(t.Context(), []string{"fanout", "--url", public, "--api", apiURL, "-n", "20", "--rate", "200",
		"--broadcasts", "5", "--interval", "50ms", "--drain", "3s", "--deflate", "--progress", "off",
		"--expect", "missing=0,duplicates=0,failures=0"}, &out, &errs)
	if code != 0 {
		t.Fatalf("bench exit %d\n%s\n%s", code, out.String(), errs.String())
	}
	if st := a.Server().Engine().Stats(); st.FramesDeflated < 20*5 {
		t.Fatalf("%d websocket messages sent compressed, want at least 100 (20 receivers × 5 broadcasts)", st.FramesDeflated)
	}
}
