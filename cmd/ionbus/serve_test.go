package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/node"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startApp runs `serve` in-process on loopback port 0 and returns the
// public and API base URLs. The node is shut down at cleanup and must
// exit cleanly.
func startApp(t *testing.T, args []string, env map[string]string) (a *node.Node, public, apiURL string, logs *syncBuffer) {
	t.Helper()
	args = append([]string{"--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--log-level", "debug"}, args...)
	cfg, err := loadConfig(args, envMap(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	if a, err = newServeNode(cfg, stdio{out: io.Discard, err: logs, getenv: envMap(env)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s")
		}
	})
	public = "http://" + a.Addr().String()
	if addr := a.APIAddr(); addr != nil {
		apiURL = "http://" + addr.String()
	}
	return a, public, apiURL, logs
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	return request(t, "GET", url, nil, header...)
}

func post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	return request(t, "POST", url, strings.NewReader(body), header...)
}

// request sends a request with the header pairs through httpClient and
// returns the status and the body.
func request(t *testing.T, method, url string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// openPacket checks an Engine.IO v4 open packet and returns its fields.
func openPacket(t *testing.T, body string) (sid string, pingInterval, pingTimeout, maxPayload int, upgrades []string) {
	t.Helper()
	if !strings.HasPrefix(body, "0{") {
		t.Fatalf("not an open packet: %q", body)
	}
	var hs struct {
		Sid          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatal(err)
	}
	if hs.Sid == "" {
		t.Fatalf("open packet without sid: %q", body)
	}
	return hs.Sid, hs.PingInterval, hs.PingTimeout, hs.MaxPayload, hs.Upgrades
}

func TestServe(t *testing.T) {
	const key = "test-api-key-0123456789"
	_, public, apiURL, logs := startApp(t, nil, map[string]string{"IONBUS_API_KEY": key, "IONBUS_NAMESPACES": "/,/chat,/tenant-*"})

	if code, body := get(t, apiURL+"/healthz"); code != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", code, body)
	}
	code, body := get(t, public+"/socket.io/?EIO=4&transport=polling")
	if code != 200 {
		t.Fatalf("handshake: %d %s", code, body)
	}
	sid, interval, timeout, maxPayload, upgrades := openPacket(t, body)
	if interval != 25000 || timeout != 20000 || maxPayload != 1000000 || len(upgrades) != 1 || upgrades[0] != "websocket" {
		t.Fatalf("open packet %s", body)
	}
	// The configured namespaces exist: static, and a pattern child.
	poll := public + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	if code, body := post(t, poll, "40/chat,\x1e40/tenant-acme,\x1e40/nope,"); code != 200 {
		t.Fatalf("connect: %d %s", code, body)
	}
	var got []string
	for len(got) < 3 {
		_, body := get(t, poll)
		got = append(got, strings.Split(body, "\x1e")...)
	}
	if !strings.HasPrefix(got[0], "40/chat,{") || !strings.HasPrefix(got[1], "40/tenant-acme,{") ||
		got[2] != `44/nope,{"message":"Invalid namespace"}` {
		t.Fatalf("connect answers %q", got)
	}
	// The API is on its own listener, guarded by the key.
	if code, _ := post(t, apiURL+"/api/v1/emit", `{"event":"hi"}`); code != 401 {
		t.Fatalf("emit without key: %d", code)
	}
	if code, body := post(t, apiURL+"/api/v1/emit", `{"namespace":"/chat","event":"hi","data":["x"]}`, "Authorization", "Bearer "+key); code != 202 {
		t.Fatalf("emit: %d %s", code, body)
	}
	if _, body := get(t, poll); body != `42/chat,["hi","x"]` {
		t.Fatalf("client got %q", body)
	}
	if code, _ := get(t, public+"/api/v1/stats", "Authorization", "Bearer "+key); code != 404 {
		t.Fatalf("the API answers on the public listener: %d", code)
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("the API key appears in the logs")
	}
}

func TestServeAPIDisabled(t *testing.T) {
	a, public, apiURL, _ := startApp(t, []string{"--api-listen", ""}, nil)
	if a.APIAddr() != nil || apiURL != "" {
		t.Fatal("API listener started with an empty api.listen")
	}
	if code, _ := get(t, public+"/socket.io/?EIO=4&transport=polling"); code != 200 {
		t.Fatalf("handshake: %d", code)
	}
}

// TestConformanceProfile drives the handlers the official suites check.
func TestConformanceProfile(t *testing.T) {
	_, public, _, _ := startApp(t, []string{"--profile", "conformance"}, nil)

	// Socket.IO endpoint with the suite's timings.
	_, body := get(t, public+"/socket.io/?EIO=4&transport=polling")
	sid, interval, timeout, maxPayload, _ := openPacket(t, body)
	if interval != 300 || timeout != 200 || maxPayload != 1000000 {
		t.Fatalf("open packet %s", body)
	}
	poll := public + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	next := pollReader(t, poll)
	post(t, poll, `40{"token":"123"}`)
	if p := next(); !strings.HasPrefix(p, `40{"sid":`) || strings.Contains(p, "pid") {
		t.Fatalf("CONNECT answer %q", p)
	}
	if p := next(); p != `42["auth",{"token":"123"}]` {
		t.Fatalf("auth packet %q", p)
	}
	post(t, poll, `42["message",1,"2",{"3":[true]}]`)
	if p := next(); p != `42["message-back",1,"2",{"3":[true]}]` {
		t.Fatalf("message-back %q", p)
	}
	post(t, poll, `42456["message-with-ack",1,"2",{"3":[false]}]`)
	if p := next(); p != `43456[1,"2",{"3":[false]}]` {
		t.Fatalf("ack %q", p)
	}
	post(t, poll, "40/custom,")
	if p := next(); !strings.HasPrefix(p, `40/custom,{"sid":`) {
		t.Fatalf("custom CONNECT answer %q", p)
	}
	if p := next(); p != `42/custom,["auth",{}]` {
		t.Fatalf("custom auth packet %q", p)
	}

	// Bare Engine.IO echo endpoint.
	_, body = get(t, public+"/engine.io/?EIO=4&transport=polling")
	sid, interval, _, _, _ = openPacket(t, body)
	if interval != 300 {
		t.Fatalf("echo open packet %s", body)
	}
	eio := public + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	if code, body := post(t, eio, "4hello\x1ebAQIDBA=="); code != 200 || body != "ok" {
		t.Fatalf("echo POST %d %q", code, body)
	}
	if _, body := get(t, eio); body != "4hello\x1ebAQIDBA==" {
		t.Fatalf("echo answer %q", body)
	}
	// CORS: any origin is echoed back, as cors: {origin: "*"}.
	req, _ := http.NewRequest("GET", public+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "http://anywhere.example")
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if o := res.Header.Get("Access-Control-Allow-Origin"); o != "http://anywhere.example" && o != "*" {
		t.Fatalf("Access-Control-Allow-Origin %q", o)
	}
}

// pollReader returns the next non-ping packet of a polling session,
// answering pings.
func pollReader(t *testing.T, poll string) func() string {
	var pending []string
	return func() string {
		t.Helper()
		for {
			for len(pending) > 0 {
				p := pending[0]
				pending = pending[1:]
				if p == "2" {
					post(t, poll, "3")
					continue
				}
				return p
			}
			code, body := get(t, poll)
			if code != 200 {
				t.Fatalf("poll: %d %s", code, body)
			}
			pending = strings.Split(body, "\x1e")
		}
	}
}
