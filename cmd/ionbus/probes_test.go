package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeProbes: /healthz and /readyz answer on both listeners of a
// real node, and during shutdown_delay both say 503 draining while the
// node still serves.
func TestServeProbes(t *testing.T) {
	cfg, err := loadConfig([]string{"--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"},
		envMap(map[string]string{"IONBUS_SHUTDOWN_DELAY": "2s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n, err := newServeNode(cfg, stdio{out: io.Discard, err: io.Discard, getenv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Listen(); err != nil {
		t.Fatal(err)
	}
	public, apiURL := "http://"+n.Addr().String(), "http://"+n.APIAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	for _, base := range []string{public, apiURL} {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := pollStatus(t, base+path, 200)
			if strings.TrimSpace(body) != `{"status":"ok"}` {
				t.Fatalf("%s%s: %d %s", base, path, code, body)
			}
		}
	}
	if code, _ := request(t, "POST", public+"/readyz", nil); code != 405 {
		t.Fatalf("POST /readyz: %d", code)
	}

	start := time.Now()
	cancel()
	for _, base := range []string{public, apiURL} {
		for _, path := range []string{"/readyz", "/healthz"} {
			code, body := pollStatus(t, base+path, 503)
			if !strings.Contains(body, `"status":"draining"`) {
				t.Fatalf("%s%s while draining: %d %s", base, path, code, body)
			}
		}
	}
	// Still serving sockets during the delay.
	if code, body := get(t, public+"/socket.io/?EIO=4&transport=polling"); code != 200 {
		t.Fatalf("handshake while draining: %d %s", code, body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("stopped after %v, before shutdown_delay", d)
	}
	if _, err := net.DialTimeout("tcp", n.Addr().String(), time.Second); err == nil {
		t.Fatal("public listener still open after shutdown")
	}
}

// TestServeHealthDegradedPublic: a node that cannot reach Redis answers
// 503 degraded on the public health path (a load balancer moves clients
// away), yet stays ready; an empty health_path serves nothing there.
func TestServeHealthDegradedPublic(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + l.Addr().String()
	l.Close()
	_, public, apiURL, _ := startApp(t, []string{"--redis-url", dead}, map[string]string{"IONBUS_SHUTDOWN_TIMEOUT": "3s", "IONBUS_READY_PATH": "/ready", "IONBUS_API_KEY": "k"})
	code, body := pollStatus(t, public+"/healthz", 503)
	if !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, `"reason":"`) {
		t.Fatalf("healthz %d %s", code, body)
	}
	// The adapter's counters in the stats, snake_case too.
	if _, stats := get(t, apiURL+"/api/v1/stats", "Authorization", "Bearer k"); !strings.Contains(stats, `"adapter":{"received_total":`) {
		t.Fatalf("stats %s", stats)
	}
	if code, body := get(t, public+"/ready"); code != 200 {
		t.Fatalf("ready_path: %d %s", code, body)
	}
	if code, _ := get(t, public+"/readyz"); code != 404 {
		t.Fatalf("/readyz after ready_path moved: %d", code)
	}

	// Empty variables are ignored: the file turns them off.
	_, public, _, _ = startApp(t, []string{"--config", writeFile(t, "health_path: \"\"\nready_path: \"\"\n")}, nil)
	if code, _ := get(t, public+"/healthz"); code != 404 {
		t.Fatalf("health_path empty: %d", code)
	}
}

// pollStatus GETs url until it answers want (10 s at most) and returns
// the last answer.
func pollStatus(t *testing.T, url string, want int) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, url)
		if code == want || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeStatsKeys: /api/v1/stats of a real node names everything in
// snake_case (error codes keep their upper-case names), never by an enum
// number or a Go field name.
func TestServeStatsKeys(t *testing.T) {
	const key = "stats-key-0123456789"
	_, public, apiURL, _ := startApp(t, nil, map[string]string{"IONBUS_API_KEY": key})
	// A refused handshake and a refused room event fill two maps.
	if code, _ := get(t, public+"/socket.io/?EIO=4&transport=carrier-pigeon"); code != 400 {
		t.Fatalf("bad transport: %d", code)
	}
	_, body := get(t, public+"/socket.io/?EIO=4&transport=polling")
	sid, _, _, _, _ := openPacket(t, body)
	poll := public + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	post(t, poll, "40")
	if _, body := get(t, poll); !strings.HasPrefix(body, "40{") {
		t.Fatalf("connect: %q", body)
	}
	post(t, poll, `421["join_room","lobby"]`)
	var got string
	for !strings.Contains(got, "431[") {
		_, body := get(t, poll)
		got += body
	}
	if !strings.Contains(got, `"error_code":"ROOM_NOT_ALLOWED"`) {
		t.Fatalf("join_room answers %q", got)
	}

	code, body := get(t, apiURL+"/api/v1/stats", "Authorization", "Bearer "+key)
	if code != 200 {
		t.Fatalf("stats %d %s", code, body)
	}
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	snake, errorCode := regexp.MustCompile(`^[a-z][a-z0-9_]*$`), regexp.MustCompile(`^[A-Z][A-Z_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !snake.MatchString(k) && !(strings.HasSuffix(path, ".refused") && errorCode.MatchString(k)) {
					t.Errorf("stats key %s.%q is not snake_case", path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		}
	}
	walk("", doc)
	for _, want := range []string{`"transport_unknown":1`, `"ROOM_NOT_ALLOWED":1`, `"ping_timeout":0`, `"message_rate":0`, `"backend_errors_total":0`} {
		if !strings.Contains(body, want) {
			t.Errorf("stats lack %s: %s", want, body)
		}
	}
}
